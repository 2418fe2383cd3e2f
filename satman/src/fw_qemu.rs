//! The QEMU board (`--features qemu`): the satellite core's hardware traits
//! over UART0 (aux link, docs/qemu-link.md) and the software RTIO model, plus
//! the board's share of the main loop (RTIO event reports, host control).

use libksupport::runtime::{RtioInput, RtioStatus};
use satman::hal::{Hardware, NoI2c, Platform};
use satman::qemu::{op, ByteStream, Control, QemuAux, QemuDma, QemuMoninj, QemuRtio, RtioEvent, RtioModel};
use satman::{KernelState, Satellite};

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
    type Clock = FwClock;
    type Config = SdStore;
    type System = FwSystem;
    type Moninj = QemuMoninj;
    /// QEMU has no I2C controller: the master's I2C requests fail.
    type I2c = NoI2c;
}

/// The model's counter: one machine unit per microsecond (docs/qemu-link.md).
pub fn rtio_counter() -> i64 {
    time::now_us() as i64
}

/// CPU1's kernel initiator. Waits (on CPU1) while CPU0 catches up with the
/// reports.
pub fn kernel_output(timestamp: i64, target: u32, data: &[u32]) -> RtioStatus {
    let word = data.first().copied().unwrap_or(0);
    loop {
        match MODEL.kernel_output(rtio_counter(), timestamp, target, word) {
            Ok(status) => return status,
            Err(_) => core::hint::spin_loop(),
        }
    }
}

/// No inputs are modelled: every input wait times out.
pub fn kernel_input(_channel: u32, _timeout: i64) -> RtioInput {
    RtioInput::Timeout
}

pub fn hardware() -> Hardware<Board> {
    let uart = uart::take_aux().expect("UART0 is taken once, here");
    Hardware {
        uplink: QemuAux::new(UartStream(uart)),
        repeaters: alloc::vec::Vec::new(),
        cpu: Cpu1Link,
        rtio: QemuRtio { model: &MODEL },
        dma: QemuDma::new(&MODEL, rtio_counter),
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
}

impl Service {
    pub fn new() -> Service {
        Service { boot_us: time::now_us(), next_ready_us: 0, events_reported: 0, pending: heapless::Vec::new() }
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
        loop {
            while !self.pending.is_full() {
                let ev = match MODEL.kernel_events.try_recv() {
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
        let mut p = heapless::Vec::<u8, 96>::new();
        let _ = p.extend_from_slice(&(h.heap0.allocated_bytes as u64).to_le_bytes());
        let _ = p.extend_from_slice(&(h.heap1.allocated_bytes as u64).to_le_bytes());
        let _ = p.extend_from_slice(&(a.in_use as u64).to_le_bytes());
        let _ = p.extend_from_slice(&(sat.store().len() as u32).to_le_bytes());
        let _ = p.push(state);
        let _ = p.extend_from_slice(&id.to_le_bytes());
        for v in [s.kernels_finished, s.kernels_failed, s.packets_in, s.packets_out, s.decode_errors, self.events_reported, time::now_us()] {
            let _ = p.extend_from_slice(&v.to_le_bytes());
        }
        sat.hw.uplink.send_control(op::STATS, &p);
    }
}
