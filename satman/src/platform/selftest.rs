//! Platform self-test (features `qemu` + `selftest`): exercises CPU0
//! bring-up, time, the heaps, CPU1 release and mailbox traffic, CPU1
//! restart with IRQs enabled, and the masked-IRQ restart failure path.
//! Every result is logged as `selftest: <name>: ok|FAIL`; the run ends with
//! `selftest: N passed, M failed` and a semihosting exit (0 = all passed).
//!
//! The masked-IRQ case leaves CPU1 unrecoverable in QEMU (no SLCR reset),
//! so it runs last.
//!
//! The message types here are a stand-in for the real `ToKernel` /
//! `FromKernel` messages the satman core will define.

use super::cpu1::{self, Cpu1Error, Cpu1State};
use super::heap;
use super::time::{self, Instant};
use super::{cache, cpu, logger, mmu};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::time::Duration;
use libksupport::mailbox::{Mailbox, ReadIndex, Ring};

/// CPU0 → CPU1 test requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToCpu1 {
    Ping(u32),
    /// Allocate this many bytes on heap1 and report.
    Alloc(u32),
    /// Spin forever with IRQs enabled (a stoppable "kernel").
    SpinIrqsOn,
    /// Spin forever with IRQs masked (an unstoppable one).
    SpinIrqsOff,
    /// Read an unmapped address: data abort, panic on CPU1.
    Fault,
}

/// CPU1 → CPU0 test replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FromCpu1 {
    Hello {
        entries: u32,
        mmu: bool,
        vfp_d32: bool,
        d16_works: bool,
    },
    Pong(u32),
    Allocated {
        bytes: u32,
        ok: bool,
    },
    Spinning,
}

const DEPTH: usize = 8;

// What CPU0 writes in `.shared.cpu0` (read-only for CPU1), as kernel_cpu.rs.
#[unsafe(link_section = ".shared.cpu0")]
static TO_CPU1_RING: Ring<ToCpu1, DEPTH> = Ring::new();
#[unsafe(link_section = ".shared")]
static TO_CPU1_READ: ReadIndex = ReadIndex::new();
#[unsafe(link_section = ".shared")]
static FROM_CPU1_RING: Ring<FromCpu1, DEPTH> = Ring::new();
#[unsafe(link_section = ".shared.cpu0")]
static FROM_CPU1_READ: ReadIndex = ReadIndex::new();

// The self-test takes a handle for each operation: CPU0's side runs only in
// `run`, CPU1's only in `cpu1_test_main` (each one context), so at most one
// handle per side is in use at a time.
static TO_CPU1: Mailbox<'static, ToCpu1, DEPTH> = Mailbox::new(&TO_CPU1_RING, &TO_CPU1_READ);
static FROM_CPU1: Mailbox<'static, FromCpu1, DEPTH> = Mailbox::new(&FROM_CPU1_RING, &FROM_CPU1_READ);

/// Per-reply deadline for CPU1 (generous: QEMU schedules the two vCPUs on
/// host threads that may be descheduled).
const REPLY_TIMEOUT: Duration = Duration::from_millis(500);
const STOP_TIMEOUT: Duration = Duration::from_millis(100);

struct Results {
    passed: u32,
    failed: u32,
}

impl Results {
    fn check(&mut self, name: &str, ok: bool) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        log::info!(target: "selftest", "selftest: {}: {}", name, if ok { "ok" } else { "FAIL" });
    }
}

fn send(msg: ToCpu1) -> bool {
    // SAFETY: CPU0's one producer context (see `TO_CPU1`), for this call.
    let ok = unsafe { TO_CPU1.producer() }.try_send(msg).is_ok();
    cpu1::notify();
    ok
}

fn recv(timeout: Duration) -> Option<FromCpu1> {
    let mut got = None;
    let _ = time::wait_until(Instant::after(timeout), || {
        super::poll();
        // SAFETY: CPU0's one consumer context (see `TO_CPU1`), for this call.
        got = unsafe { FROM_CPU1.consumer() }.try_recv();
        got.is_some()
    });
    got
}

/// Copies d0 into d16 and back (encoded by hand: the Rust target is
/// VFPv3-D16, so the assembler would refuse d16). Undefined instruction if
/// d16-d31 are disabled.
fn d16_roundtrip() -> bool {
    let pattern: u64 = 0x0123_4567_89AB_CDEF;
    let (lo, hi): (u32, u32);
    // SAFETY: the block uses only d0/d16 and the two scratch registers it declares; d16 exists
    // when the test expects it to (a missing d16 is the undefined instruction this self-test
    // detects).
    unsafe {
        core::arch::asm!(
            "vmov d0, {plo}, {phi}",
            ".inst 0xEEF00B40", // vmov.f64 d16, d0
            "vmov d0, {z}, {z}",
            ".inst 0xEEB00B60", // vmov.f64 d0, d16
            "vmov {lo}, {hi}, d0",
            plo = in(reg) pattern as u32,
            phi = in(reg) (pattern >> 32) as u32,
            z = in(reg) 0u32,
            lo = out(reg) lo,
            hi = out(reg) hi,
            out("d0") _,
            options(nomem, nostack)
        );
    }
    ((hi as u64) << 32 | lo as u64) == pattern
}

/// CPU1 main for the test: says hello, then serves test requests.
fn cpu1_test_main() -> ! {
    let entries = cpu1::counters().entries;
    log::info!("cpu1: hello, entry {}", entries);
    reply(FromCpu1::Hello {
        entries,
        mmu: mmu::enabled(),
        vfp_d32: cpu::vfp_d32_neon_enabled(),
        d16_works: d16_roundtrip(),
    });
    loop {
        // SAFETY: CPU1's one consumer context (see `TO_CPU1`), for this call.
        let next = unsafe { TO_CPU1.consumer() }.try_recv();
        match next {
            Some(ToCpu1::Ping(n)) => reply(FromCpu1::Pong(n)),
            Some(ToCpu1::Alloc(n)) => {
                let mut v: Vec<u8> = Vec::new();
                let ok = v.try_reserve_exact(n as usize).is_ok();
                v.resize(if ok { n as usize } else { 0 }, 0xA5);
                let ok = ok && v.iter().all(|&b| b == 0xA5);
                // Kept alive on purpose: the restart test checks that
                // resetting heap1 forgets it.
                core::mem::forget(v);
                reply(FromCpu1::Allocated { bytes: n, ok });
            }
            Some(ToCpu1::SpinIrqsOn) => {
                reply(FromCpu1::Spinning);
                loop {
                    core::hint::spin_loop();
                }
            }
            Some(ToCpu1::Fault) => {
                // 0xC000_0000 is a fault entry in the MMU table (mmu.rs).
                // SAFETY: a deliberate fault for the self-test: the MMU maps 0xC000_0000 as a
                // fault entry, so the read traps into the abort handler instead of reaching
                // memory.
                let v = unsafe { (0xC000_0000 as *const u32).read_volatile() };
                reply(FromCpu1::Pong(v)); // not reached
            }
            Some(ToCpu1::SpinIrqsOff) => {
                cpu::mask_irqs();
                reply(FromCpu1::Spinning);
                loop {
                    core::hint::spin_loop();
                }
            }
            None => cpu1::wait_for_event(),
        }
    }
}

/// CPU1 may wait for room: CPU0 can always stop it.
fn reply(msg: FromCpu1) {
    let mut m = msg;
    // SAFETY: CPU1's one producer context (see `TO_CPU1`), for this call.
    let mut tx = unsafe { FROM_CPU1.producer() };
    while let Err(back) = tx.try_send(m) {
        m = back;
        core::hint::spin_loop();
    }
}

fn log_contains(needle: &[u8]) -> bool {
    logger::poll();
    logger::with_log_buffer(|b| {
        let (a, c) = b.as_slices();
        contains(a, needle) || contains(c, needle)
    })
    .unwrap_or(false)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Runs all checks and exits QEMU.
pub fn run() -> ! {
    let mut r = Results {
        passed: 0,
        failed: 0,
    };

    r.check(
        "cpu0 up (MMU, SCU, L2, VFP/NEON d32)",
        mmu::enabled()
            && cache::scu_enabled()
            && cache::l2_state() == cache::L2State::Enabled
            && cpu::vfp_d32_neon_enabled()
            && d16_roundtrip(),
    );

    // Timer: monotonic, and a 2 ms deadline takes at least 2 ms.
    let t0 = time::now_us();
    let mut last = time::ticks();
    let mut monotonic = true;
    for _ in 0..1000 {
        let t = time::ticks();
        monotonic &= t >= last;
        last = t;
    }
    let timed_out = time::wait_until(Instant::after(Duration::from_millis(2)), || false).is_err();
    let t1 = time::now_us();
    log::info!("global timer: {} us for 1000 reads + 2 ms wait", t1 - t0);
    r.check(
        "global timer advances",
        monotonic && timed_out && t1 - t0 >= 2000 && t1 - t0 < 1_000_000,
    );

    // Heap0: counters return to baseline after frees.
    let base = heap::stats().heap0;
    {
        let big: Vec<u8> = alloc::vec![1u8; 1 << 20];
        let boxed = Box::new([7u32; 64]);
        let small: Vec<Box<u64>> = (0..100).map(Box::new).collect();
        let during = heap::stats().heap0;
        log::info!(
            "heap0: baseline {} B/{} allocs, during {} B/{} allocs, peak {} B",
            base.allocated_bytes,
            base.allocation_count,
            during.allocated_bytes,
            during.allocation_count,
            during.peak_bytes
        );
        let grew = during.allocated_bytes >= base.allocated_bytes + (1 << 20) + 256 + 800
            && during.allocation_count >= base.allocation_count + 103
            && during.peak_bytes >= during.allocated_bytes;
        let intact = big.iter().all(|&b| b == 1) && boxed[63] == 7 && *small[99] == 99;
        drop((big, boxed, small));
        let after = heap::stats().heap0;
        r.check(
            "heap0 alloc/free, counters back to baseline",
            grew && intact
                && after.allocated_bytes == base.allocated_bytes
                && after.allocation_count == base.allocation_count,
        );
    }
    let failed_before = heap::stats().heap0.failed_allocations;
    let mut huge: Vec<u8> = Vec::new();
    let refused = huge.try_reserve_exact(1 << 30).is_err();
    r.check(
        "heap0 out-of-memory reported, not fatal",
        refused && heap::stats().heap0.failed_allocations == failed_before + 1,
    );

    // CPU1 release and first report.
    let started = cpu1::start(cpu1_test_main, Instant::after(REPLY_TIMEOUT));
    let hello = recv(REPLY_TIMEOUT);
    log::info!("cpu1: start {:?}, first message {:?}", started, hello);
    r.check(
        "cpu1 released, reports through mailbox",
        started.is_ok()
            && matches!(
                hello,
                Some(FromCpu1::Hello {
                    entries: 1,
                    mmu: true,
                    ..
                })
            ),
    );
    r.check(
        "cpu1 VFP/NEON d32 enabled and d16 usable",
        matches!(
            hello,
            Some(FromCpu1::Hello {
                vfp_d32: true,
                d16_works: true,
                ..
            })
        ),
    );
    let _ = logger::flush(Instant::after(Duration::from_millis(100)));
    r.check(
        "cpu1 log lines reach UART1 and the log buffer",
        log_contains(b"C1 INFO  satman::platform::selftest: cpu1: hello, entry 1"),
    );

    // Heap1 from CPU1.
    let ok = send(ToCpu1::Alloc(64 * 1024));
    let reply1 = recv(REPLY_TIMEOUT);
    let h1 = heap::stats().heap1;
    r.check(
        "cpu1 allocates from heap1",
        ok && reply1
            == Some(FromCpu1::Allocated {
                bytes: 64 * 1024,
                ok: true,
            })
            && h1.allocated_bytes >= 64 * 1024
            && heap::stats().heap0.allocated_bytes == base.allocated_bytes,
    );

    // 1000 ping-pongs.
    let t = Instant::now();
    let mut pp_ok = true;
    for i in 0..1000u32 {
        if !send(ToCpu1::Ping(i)) || recv(REPLY_TIMEOUT) != Some(FromCpu1::Pong(i)) {
            log::error!("ping-pong failed at {}", i);
            pp_ok = false;
            break;
        }
    }
    let us = t.elapsed().as_micros();
    log::info!(
        "mailbox: 1000 ping-pongs in {} us ({} us per round trip)",
        us,
        us / 1000
    );
    r.check("1000 mailbox ping-pongs", pp_ok);

    // Restart while CPU1 spins with IRQs enabled; reset heap1 and the
    // mailboxes while it is stopped.
    let entries = cpu1::counters().entries;
    let spinning = send(ToCpu1::SpinIrqsOn) && recv(REPLY_TIMEOUT) == Some(FromCpu1::Spinning);
    let t = Instant::now();
    let stopped = cpu1::stop(Instant::after(STOP_TIMEOUT));
    let stop_us = t.elapsed().as_micros();
    let parked = cpu1::state() == Cpu1State::Stopped;
    heap::reset_heap1();
    let h1_reset = heap::stats().heap1;
    // SAFETY: CPU1 is stopped, and CPU0 holds no handle now.
    unsafe {
        TO_CPU1.reset();
        FROM_CPU1.reset();
    }
    let resumed = cpu1::resume();
    let hello2 = recv(REPLY_TIMEOUT);
    log::info!(
        "cpu1 restart: stop {:?} in {} us, state after stop {}, heap1 after reset {} B, resume {:?}, then {:?}",
        stopped,
        stop_us,
        if parked { "Stopped" } else { "?" },
        h1_reset.allocated_bytes,
        resumed,
        hello2
    );
    r.check(
        "cpu1 restart while spinning with IRQs enabled",
        spinning
            && stopped.is_ok()
            && parked
            && h1_reset.allocated_bytes == 0
            && resumed.is_ok()
            && matches!(hello2, Some(FromCpu1::Hello { entries: e, .. }) if e == entries + 1)
            && cpu1::state() == Cpu1State::Running,
    );
    let alive = send(ToCpu1::Ping(4242)) && recv(REPLY_TIMEOUT) == Some(FromCpu1::Pong(4242));
    r.check("cpu1 serves requests after restart", alive);

    // A data abort on CPU1: panic reported through CPU1's log ring, state
    // Panicked, and CPU1 still restartable (the stop lands in its panic park,
    // taken from abort mode).
    let panics = cpu1::counters().panics;
    let sent = send(ToCpu1::Fault);
    let panicked = time::wait_until(Instant::after(REPLY_TIMEOUT), || {
        super::poll();
        cpu1::state() == Cpu1State::Panicked
    })
    .is_ok();
    let _ = logger::flush(Instant::after(Duration::from_millis(100)));
    let logged = log_contains(b"C1 PANIC satman: data abort at pc=");
    let entries = cpu1::counters().entries;
    let restarted = cpu1::restart(Instant::after(STOP_TIMEOUT));
    let hello3 = recv(REPLY_TIMEOUT);
    r.check(
        "cpu1 data abort reported, cpu1 restartable after it",
        sent && panicked
            && logged
            && cpu1::counters().panics == panics + 1
            && restarted.is_ok()
            && matches!(hello3, Some(FromCpu1::Hello { entries: e, .. }) if e == entries + 1),
    );

    // Restart while CPU1 spins with IRQs masked: must time out, be reported,
    // and leave CPU0 running. Last: CPU1 is lost for good in QEMU.
    let spinning = send(ToCpu1::SpinIrqsOff) && recv(REPLY_TIMEOUT) == Some(FromCpu1::Spinning);
    let t = Instant::now();
    let res = cpu1::restart(Instant::after(STOP_TIMEOUT));
    let waited = t.elapsed();
    log::info!(
        "cpu1 restart with IRQs masked: {:?} after {} us, state {:?}",
        res,
        waited.as_micros(),
        cpu1::state()
    );
    r.check(
        "cpu1 restart with IRQs masked times out as Unresponsive",
        spinning
            && res == Err(Cpu1Error::Unresponsive)
            && waited >= STOP_TIMEOUT
            && waited < STOP_TIMEOUT * 3
            && cpu1::state() == Cpu1State::Dead
            && cpu1::restart(Instant::after(STOP_TIMEOUT)) == Err(Cpu1Error::Dead),
    );
    let t0 = time::now_us();
    let v: Vec<u32> = (0..1000).collect();
    let _ = time::wait_until(Instant::after(Duration::from_millis(1)), || false);
    r.check(
        "cpu0 keeps running after losing cpu1",
        time::now_us() > t0 && v[999] == 999,
    );

    let hs = heap::stats();
    let ps = super::stats::snapshot();
    log::info!("heap0: {:?}", hs.heap0);
    log::info!("heap1: {:?}", hs.heap1);
    log::info!("platform stats: {:?}", ps);
    r.check(
        "no foreign frees, no dropped log lines, no unhandled IRQs",
        hs.foreign_frees == 0 && ps == super::stats::PlatformStats::default(),
    );

    log::info!(target: "selftest", "selftest: {} passed, {} failed", r.passed, r.failed);
    super::semihosting::exit(if r.failed == 0 { 0 } else { 1 })
}
