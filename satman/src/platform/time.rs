//! Monotonic time from the Cortex-A9 global timer (0xF8F0_0200).
//!
//! The global timer is a 64-bit up-counter shared by both CPUs, clocked at
//! CPU_3x2x (CPU/2 on silicon, read from the SLCR at boot, see
//! [`board::TIMER_CLOCK`]; 100 MHz in QEMU) with the prescaler at 0. It is enabled once by CPU0 and never reset, so readings
//! are comparable across CPUs. At 500 MHz it wraps after 1170 years.
//!
//! The only waiting helper, [`wait_until`], takes a deadline.

use super::board::{self, TimerClock};
use core::ops::{Add, Sub};
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use zynq7000::gtc;

/// Used when the SLCR's words make no sense (a zero divider): the rate of a
/// 667 MHz Zynq, logged as a guess.
const FALLBACK_HZ: u64 = 333_333_333;

/// The timer's rate, and microseconds per tick as a 32.32 fixed-point
/// factor. Set by CPU0 in [`init`], before CPU1 is released; read-only
/// afterwards.
static HZ: AtomicU64 = AtomicU64::new(FALLBACK_HZ);
static US_PER_TICK_32: AtomicU64 = AtomicU64::new((1_000_000u64 << 32) / FALLBACK_HZ);

/// The global timer's rate.
pub fn hz() -> u64 {
    HZ.load(Ordering::Relaxed)
}

/// Microseconds in `t` ticks.
pub fn ticks_to_us(t: u64) -> u64 {
    ((t as u128 * US_PER_TICK_32.load(Ordering::Relaxed) as u128) >> 32) as u64
}

/// The SLCR's clock words (reads need no unlock).
fn slcr_clocks() -> satman::clocks::SlcrClocks {
    let read = |offset: usize| {
        // SAFETY: an aligned read of an SLCR register (0xF800_0000 block,
        // mapped as device memory), which has no side effect.
        unsafe { ((0xF800_0000 + offset) as *const u32).read_volatile() }
    };
    satman::clocks::SlcrClocks {
        arm_pll_ctrl: read(0x100),
        ddr_pll_ctrl: read(0x104),
        io_pll_ctrl: read(0x108),
        arm_clk_ctrl: read(0x120),
    }
}

/// The rate [`init`] chose and whether it came from a guess.
fn rate() -> (u64, bool) {
    match board::TIMER_CLOCK {
        TimerClock::Fixed(hz) => (hz, false),
        TimerClock::FromSlcr { ps_clk_hz } => match slcr_clocks().global_timer_hz(ps_clk_hz) {
            Some(hz) if hz >= 1_000_000 => (hz, false),
            _ => (FALLBACK_HZ, true),
        },
    }
}

/// The CPU clock as the SLCR says (for the boot banner), if it can tell.
pub fn cpu_hz() -> Option<u64> {
    match board::TIMER_CLOCK {
        TimerClock::Fixed(_) => None,
        TimerClock::FromSlcr { ps_clk_hz } => slcr_clocks().cpu_hz(ps_clk_hz),
    }
}

/// True if the timer rate is [`FALLBACK_HZ`] because the SLCR made no sense.
pub fn rate_is_a_guess() -> bool {
    rate().1
}

fn regs() -> gtc::MmioRegisters<'static> {
    // SAFETY: the global timer's fixed address; every CPU only reads the counter, and CPU0 alone
    // configures it at start-up.
    unsafe { gtc::Registers::new_mmio_fixed() }
}

/// Starts the global timer if it is not running (prescaler 0, comparator
/// and its interrupt off). CPU0, once, at boot.
pub fn init() {
    let (hz, _) = rate();
    HZ.store(hz, Ordering::Relaxed);
    US_PER_TICK_32.store((1_000_000u64 << 32) / hz, Ordering::Relaxed);
    let mut t = regs();
    let c = t.read_control();
    if !c.enable() || c.prescaler() != 0 {
        t.write_control(
            gtc::Control::new_with_raw_value(0)
                .with_prescaler(0)
                .with_enable(true),
        );
    }
}

/// Current counter value. The two halves are read upper, lower, upper;
/// a carry between the reads shows as a changed upper half and is retried.
/// A carry happens every 2^32 ticks, so one retry always suffices; the loop
/// is bounded anyway.
pub fn ticks() -> u64 {
    let t = regs();
    let mut hi = t.read_count_upper();
    let mut lo = t.read_count_lower();
    for _ in 0..3 {
        let hi2 = t.read_count_upper();
        if hi2 == hi {
            break;
        }
        hi = hi2;
        lo = t.read_count_lower();
    }
    ((hi as u64) << 32) | lo as u64
}

/// Microseconds since the global timer started (boot).
pub fn now_us() -> u64 {
    ticks_to_us(ticks())
}

/// A point in time on the global timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    ticks: u64,
}

/// A deadline is just the instant after which one stops waiting.
pub type Deadline = Instant;

impl Instant {
    pub fn now() -> Instant {
        Instant { ticks: ticks() }
    }

    /// The instant `d` from now: the usual way to make a deadline.
    pub fn after(d: Duration) -> Instant {
        Instant::now() + d
    }

    pub fn from_ticks(ticks: u64) -> Instant {
        Instant { ticks }
    }

    pub fn ticks(self) -> u64 {
        self.ticks
    }

    pub fn as_micros(self) -> u64 {
        ticks_to_us(self.ticks)
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        ticks_to_duration(self.ticks.saturating_sub(earlier.ticks))
    }

    pub fn elapsed(self) -> Duration {
        Instant::now().saturating_duration_since(self)
    }

    /// True once the timer has reached this instant.
    pub fn has_passed(self) -> bool {
        ticks() >= self.ticks
    }
}

fn duration_to_ticks(d: Duration) -> u64 {
    let ticks = d.as_nanos().saturating_mul(hz() as u128) / 1_000_000_000;
    ticks.min(u64::MAX as u128) as u64
}

fn ticks_to_duration(t: u64) -> Duration {
    Duration::from_nanos(((t as u128 * 1_000_000_000) / hz() as u128) as u64)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant {
            ticks: self.ticks.saturating_add(duration_to_ticks(d)),
        }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Returned when a deadline passed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut;

/// Polls `done` until it returns true or `deadline` passes. `done` is
/// always evaluated at least once, and once more after the deadline is
/// seen, so a condition met just at the deadline is not lost.
pub fn wait_until(deadline: Deadline, mut done: impl FnMut() -> bool) -> Result<(), TimedOut> {
    loop {
        if done() {
            return Ok(());
        }
        if deadline.has_passed() {
            return if done() { Ok(()) } else { Err(TimedOut) };
        }
        core::hint::spin_loop();
    }
}
