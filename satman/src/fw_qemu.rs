//! The QEMU board (`--features qemu`): the satellite core's hardware traits
//! over UART0 (aux link, docs/qemu-link.md) and the software RTIO model, plus
//! the board's share of the main loop (RTIO event reports, host control).

use libksupport::runtime::{RtioInput, RtioStatus};
use satman::hal::{Hardware, NoI2c, Platform};
use satman::qemu::{op, ByteStream, Control, QemuAnalyzer, QemuAux, QemuDma, QemuMoninj, QemuRtio, RtioEvent, RtioModel, Submit};
use satman::{KernelState, Satellite};
use core::sync::atomic::{AtomicI64, AtomicU8, Ordering};

pub use crate::fw_common::store;
use crate::fw_common::{sd_card, FwClock, FwSystem, SdStore};
use crate::kernel_cpu::Cpu1Link;
use crate::platform::{self, heap, logger, semihosting, time, uart};

/// The RTIO model both CPUs use.
#[unsafe(link_section = ".shared")]
static MODEL: RtioModel = RtioModel::new();

pub struct UartStream(uart::Uart);

impl ByteStream for UartStream {
    fn read(&mut self, buf: &mut [u8]) -> usize {
        self.0.read(buf)
    }

    fn tx_space(&self) -> usize {
        uart::AUX_TX_RING.saturating_sub(self.0.tx_queued())
    }

    fn write(&mut self, data: &[u8]) -> usize {
        self.0.write(data)
    }
}

pub struct Board;

impl Platform for Board {
    type Link = QemuAux<UartStream>;
    type Cpu = Cpu1Link;
    type Rtio = QemuRtio;
    type Dma = QemuDma;
    type Analyzer = QemuAnalyzer;
    type Clock = FwClock;
    type Config = SdStore;
    type System = FwSystem;
    type Moninj = QemuMoninj;
    /// QEMU has no I2C controller: the master's I2C requests fail.
    type I2c = NoI2c;
}

/// How many times slower than wall time the model's RTIO clock runs
/// (`SATMAN_QEMU_RTIO_SLOWDOWN` when the firmware is built, 1 to 1000;
/// default 1000: one mu per µs of wall time).
///
/// The global timer follows the host's wall clock, but QEMU's Cortex-A9s
/// run kernel code and the CPU1 → CPU0 → CPU1 round trips (`dma_retrieve`,
/// `dma_playback`) 10-50 times slower than silicon, and a loaded host
/// deschedules them: on a 2-core machine at load 10, 20-60 ms between a
/// kernel's `break_realtime` and its `dma_playback` were seen. At wall
/// speed the 125 000 mu of `break_realtime` would be a fraction of what
/// they are on silicon; at 1/1000 they are 125 ms, so a kernel that keeps
/// its slack on hardware keeps it here, and what underflows by its timeline
/// (a timestamp behind the counter, a lane that is full) underflows or
/// waits exactly as on hardware. A kernel that would underflow on silicon
/// only because it computes too long between outputs needs a factor near
/// the CPUs' (~20) to underflow here too. Where the guest would only wait
/// for the counter (a full lane, an input timeout) the counter jumps
/// forward instead ([`warp_to`]), so the slowdown costs no wall time.
/// Reported in `STATS` (docs/qemu-link.md), so the host converts.
pub const RTIO_SLOWDOWN: u64 = slowdown(option_env!("SATMAN_QEMU_RTIO_SLOWDOWN"));

const fn slowdown(v: Option<&str>) -> u64 {
    let Some(v) = v else { return 1000 };
    let b = v.as_bytes();
    let mut n = 0u64;
    let mut i = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "SATMAN_QEMU_RTIO_SLOWDOWN: a whole number");
        n = n * 10 + (b[i] - b'0') as u64;
        i += 1;
    }
    assert!(n >= 1 && n <= 1000, "SATMAN_QEMU_RTIO_SLOWDOWN: 1 to 1000");
    n
}

/// How far [`warp_to`] has moved the counter ahead of the timer (mu).
#[unsafe(link_section = ".shared")]
static WARP: AtomicI64 = AtomicI64::new(0);

/// Nanoseconds per global timer tick: QEMU's timer runs at a fixed rate.
const NS_PER_TICK: u64 = match platform::board::TIMER_CLOCK {
    platform::board::TimerClock::Fixed(hz) if 1_000_000_000 % hz == 0 => 1_000_000_000 / hz,
    _ => panic!("the QEMU board's global timer ticks a whole number of ns"),
};

fn timer_mu() -> i64 {
    (time::ticks() * NS_PER_TICK / RTIO_SLOWDOWN) as i64
}

/// The RTIO counter: machine units of 1 ns of RTIO time, at
/// 1/[`RTIO_SLOWDOWN`] of the global timer's rate, plus the warps
/// (docs/qemu-link.md). Monotonic on both CPUs.
pub fn rtio_counter() -> i64 {
    timer_mu() + WARP.load(Ordering::Acquire)
}

/// Moves the counter forward to at least `t`: what an initiator that only
/// waits for the counter does instead of waiting (a full lane, an input
/// timeout), as QEMU's `-icount` warps its clock over idle time. Both CPUs
/// may warp at once: each moves the counter to its own target or beyond.
pub fn warp_to(t: i64) {
    loop {
        let w = WARP.load(Ordering::Acquire);
        let now = timer_mu() + w;
        if t <= now || WARP.compare_exchange(w, w + (t - now), Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return;
        }
    }
}

/// CPU1's kernel initiator. Holds the CPU as the gateware does: until the
/// event's lane has room (the counter warps to the moment the model names)
/// or until CPU0 has drained the event reports (a wait with IRQs enabled,
/// so CPU0 can stop it).
pub fn kernel_output(timestamp: i64, target: u32, data: &[u32]) -> RtioStatus {
    loop {
        // IRQs masked: CPU1 is never stopped holding the model's lock.
        let submit = platform::cpu::irq_free(|| MODEL.kernel_output(rtio_counter(), timestamp, target, data));
        match submit {
            Submit::Done(status) => return status,
            Submit::Wait { until } => warp_to(until),
            Submit::Busy => core::hint::spin_loop(),
        }
    }
}

/// CPU1, as the kernel asks for a DMA playback: on the reference firmware
/// the kernel CPU starts the engine itself, so the model's engine starts at
/// this moment rather than when CPU0 gets to the request.
pub fn kernel_dma_requested() {
    MODEL.note_kernel_dma_request(rtio_counter());
}

/// No inputs are modelled: every input wait times out, at its timeout (a
/// machine-unit timestamp, reached by a warp) as on the gateware, or at
/// once for "forever".
pub fn kernel_input(_channel: u32, timeout: i64) -> RtioInput {
    if timeout != i64::MAX {
        warp_to(timeout);
    }
    RtioInput::Timeout
}

/// CPU1's warm-up at boot (`kernel_cpu::warm_up`): [`warm_up::PENDING`],
/// then `RUNNING` (CPU1 took it), `DONE`, or `SKIPPED` (CPU0 stopped
/// waiting before CPU1 took it).
#[unsafe(link_section = ".shared")]
static WARM_UP: AtomicU8 = AtomicU8::new(warm_up::PENDING);

mod warm_up {
    pub const PENDING: u8 = 0;
    pub const RUNNING: u8 = 1;
    pub const DONE: u8 = 2;
    pub const SKIPPED: u8 = 3;
}

/// How long CPU0 waits for CPU1's warm-up at boot.
const WARM_UP_TIMEOUT: core::time::Duration = core::time::Duration::from_millis(500);

/// CPU1, at its first start: whether it should run its warm-up, which
/// QEMU needs and silicon does not. QEMU translates guest code the first
/// time a CPU runs it; without a warm-up the first kernel's first output
/// pays that (~250 µs of wall time) out of its `break_realtime` slack. When
/// this returns true the kernel initiator owns the model until CPU0 takes
/// it back in [`hardware`]; CPU1 outputs far in the future, which CPU0's
/// RTIO reset then discards.
pub fn warm_up_begin() -> bool {
    let took = WARM_UP.compare_exchange(warm_up::PENDING, warm_up::RUNNING, Ordering::AcqRel, Ordering::Acquire).is_ok();
    if took {
        use satman::hal::Rtio as _;
        QemuRtio { model: &MODEL }.select(satman::hal::Initiator::Kernel);
    }
    took
}

/// CPU1: the warm-up is over.
pub fn warm_up_done() {
    WARM_UP.store(warm_up::DONE, Ordering::Release);
}

/// CPU0: waits (bounded) for CPU1's warm-up, then leaves the model as a
/// fresh boot has it: DRTIO selected, reset, no reports, analyzer empty.
fn warm_up_end() {
    let t0 = platform::Instant::now();
    let deadline = t0 + WARM_UP_TIMEOUT;
    while WARM_UP.load(Ordering::Acquire) != warm_up::DONE && !deadline.has_passed() {
        core::hint::spin_loop();
    }
    match WARM_UP.compare_exchange(warm_up::PENDING, warm_up::SKIPPED, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => log::warn!("rtio: CPU1 did not warm up within {:?}", WARM_UP_TIMEOUT),
        Err(warm_up::DONE) => log::info!("rtio: CPU1 warmed up the kernel API in {} µs", t0.elapsed().as_micros()),
        Err(_) => log::warn!("rtio: CPU1's warm-up did not end within {:?}", WARM_UP_TIMEOUT),
    }
    use satman::hal::Rtio as _;
    let mut rtio = QemuRtio { model: &MODEL };
    rtio.select(satman::hal::Initiator::Drtio);
    rtio.reset();
    // SAFETY: CPU0's main loop is the kernel events' one consumer (`report_events`); CPU1 is
    // warmed up and idle.
    let mut events = unsafe { MODEL.kernel_events().consumer() };
    while events.try_recv().is_some() {}
    while !MODEL.analyzer_arm() {}
}

pub fn hardware() -> Hardware<Board> {
    let uart = uart::take_aux().expect("UART0 is taken once, here");
    warm_up_end();
    Hardware {
        uplink: QemuAux::new(UartStream(uart)),
        repeaters: alloc::vec::Vec::new(),
        cpu: Cpu1Link::new(),
        rtio: QemuRtio { model: &MODEL },
        dma: QemuDma::new(&MODEL, rtio_counter).with_warp(warp_to),
        analyzer: QemuAnalyzer { model: &MODEL, counter: rtio_counter },
        clock: FwClock,
        config: sd_card(libsdcard::sdhci::Config::QEMU),
        system: FwSystem,
        moninj: QemuMoninj::new(rtio_counter),
        i2c: NoI2c,
    }
}


/// Board state carried across main-loop passes.
pub struct Service {
    boot_us: u64,
    next_ready_us: u64,
    pub events_reported: u64,
    pending: heapless::Vec<RtioEvent, 60>,
    /// A kernel ran at the last pass (its RTIO slack is logged at its end).
    kernel_ran: bool,
}

impl Service {
    pub fn new() -> Service {
        Service { boot_us: time::now_us(), next_ready_us: 0, events_reported: 0, pending: heapless::Vec::new(), kernel_ran: false }
    }

    /// The board's share of a main-loop pass.
    pub fn poll(&mut self, sat: &mut Satellite<Board>) {
        let now = time::now_us();
        let aux = &mut sat.hw.uplink;
        if !aux.heard_host && now >= self.next_ready_us {
            // boot_us, cpu1_up, then the build id (length byte + bytes).
            let id = satman::build_id::get();
            let mut p = heapless::Vec::<u8, { 10 + satman::build_id::MAX_LEN }>::new();
            let _ = p.extend_from_slice(&self.boot_us.to_le_bytes());
            let _ = p.push((crate::platform::cpu1::state() == crate::platform::Cpu1State::Running) as u8);
            let _ = p.push(id.len() as u8);
            let _ = p.extend_from_slice(id.as_bytes());
            aux.send_control(op::READY, &p);
            self.next_ready_us = now + 1_000_000;
        }
        self.report_events(sat);
        self.log_kernel_slack(sat);
        while let Some(c) = sat.hw.uplink.take_control() {
            match c {
                Control::Stats => self.send_stats(sat),
                Control::Panic => panic!("panic requested by the host (test trigger)"),
                Control::Exit(code) => {
                    log::info!("exit requested by the host: {}", code);
                    let _ = logger::flush(platform::Instant::after(core::time::Duration::from_millis(100)));
                    semihosting::exit(code)
                }
            }
        }
        sat.hw.uplink.stream.0.poll();
    }

    /// Moves RTIO events from the kernel CPU and the DMA model to the host.
    fn report_events(&mut self, sat: &mut Satellite<Board>) {
        // SAFETY: CPU0's main loop is the kernel events' one consumer, and this handle lives
        // for this call only.
        let mut kernel_events = unsafe { MODEL.kernel_events().consumer() };
        loop {
            while !self.pending.is_full() {
                let ev = match kernel_events.try_recv() {
                    Some(e) => e,
                    None => match sat.hw.dma.events.pop_front() {
                        Some(e) => e,
                        None => break,
                    },
                };
                // Moninj watches every event the RTIO core accepted.
                sat.hw.moninj.observe(&ev);
                let _ = self.pending.push(ev);
            }
            if self.pending.is_empty() {
                return;
            }
            let sent = sat.hw.uplink.send_events(&self.pending);
            if sent == 0 {
                return;
            }
            self.events_reported += sent as u64;
            let rest: heapless::Vec<RtioEvent, 60> = self.pending[sent..].iter().copied().collect();
            self.pending = rest;
        }
    }

    /// At the end of each kernel: how close its outputs came to the counter.
    fn log_kernel_slack(&mut self, sat: &Satellite<Board>) {
        let running = matches!(sat.kernel_state(), KernelState::Running(_));
        if self.kernel_ran && !running {
            let s = MODEL.stats();
            match MODEL.kernel_slack() {
                Some((slack, n)) => log::info!(
                    "rtio: since the last RTIO reset {} kernel events, smallest slack {} mu; model totals: {} underflows, {} sequence errors, {} lane waits",
                    n,
                    slack,
                    s.underflows,
                    s.sequence_errors,
                    s.waits
                ),
                None => log::debug!("rtio: the kernel output no events since the last RTIO reset"),
            }
        }
        self.kernel_ran = running;
    }

    fn send_stats(&mut self, sat: &mut Satellite<Board>) {
        let h = heap::stats();
        let a = sat.store().arena_stats();
        let (state, id) = match sat.kernel_state() {
            KernelState::Idle => (0u8, 0u32),
            KernelState::Loading(i) => (1, i),
            KernelState::Loaded(i) => (2, i),
            KernelState::Running(i) => (3, i),
            KernelState::Dead => (4, 0),
        };
        let s = sat.stats;
        let mut p = heapless::Vec::<u8, 128>::new();
        let _ = p.extend_from_slice(&(h.heap0.allocated_bytes as u64).to_le_bytes());
        let _ = p.extend_from_slice(&(h.heap1.allocated_bytes as u64).to_le_bytes());
        let _ = p.extend_from_slice(&(a.in_use as u64).to_le_bytes());
        let _ = p.extend_from_slice(&(sat.store().len() as u32).to_le_bytes());
        let _ = p.push(state);
        let _ = p.extend_from_slice(&id.to_le_bytes());
        for v in [s.kernels_finished, s.kernels_failed, s.packets_in, s.packets_out, s.decode_errors, self.events_reported, time::now_us()] {
            let _ = p.extend_from_slice(&v.to_le_bytes());
        }
        // docs/qemu-link.md: the RTIO counter and its slowdown, appended.
        let _ = p.extend_from_slice(&rtio_counter().to_le_bytes());
        let _ = p.extend_from_slice(&(RTIO_SLOWDOWN as u32).to_le_bytes());
        // Then heap1 after the last load and at the end of the last run
        // (u64::MAX: not measured).
        for v in [s.heap1_loaded, s.heap1_ended] {
            let _ = p.extend_from_slice(&v.unwrap_or(u64::MAX).to_le_bytes());
        }
        sat.hw.uplink.send_control(op::STATS, &p);
    }
}
