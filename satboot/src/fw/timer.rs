//! Time from the Cortex-A9 global timer (0xF8F0_0200), for bounded waits.

use super::board;
use super::mmio;

const COUNTER_LO: usize = 0xF8F0_0200;
const COUNTER_HI: usize = 0xF8F0_0204;
const CONTROL: usize = 0xF8F0_0208;

/// Starts the counter (prescaler 0).
pub fn init() {
    mmio::write(CONTROL, 1);
}

/// Ticks since [`init`].
pub fn ticks() -> u64 {
    // Re-read until the high word is stable across the low word's read.
    for _ in 0..4 {
        let hi = mmio::read(COUNTER_HI);
        let lo = mmio::read(COUNTER_LO);
        if mmio::read(COUNTER_HI) == hi {
            return ((hi as u64) << 32) | lo as u64;
        }
    }
    0
}

/// Microseconds since [`init`].
pub fn now_us() -> u64 {
    ticks() / (board::GLOBAL_TIMER_HZ / 1_000_000)
}

/// Waits about `us` microseconds. Bounded by a loop count as well, so a
/// timer that does not run cannot hang the loader.
pub fn delay_us(us: u32) {
    let end = ticks() + us as u64 * (board::GLOBAL_TIMER_HZ / 1_000_000);
    for _ in 0..(us as u64 * 1_000).max(1_000) {
        if ticks() >= end {
            return;
        }
    }
}
