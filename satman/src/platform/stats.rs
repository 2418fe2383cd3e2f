//! Platform event counters, readable from anywhere (plain atomics, no
//! locks), for the master's diagnostics and for tests.

use core::sync::atomic::AtomicU32;

/// Peripheral interrupts taken with no handler registered.
#[unsafe(link_section = ".cpu1")]
pub static UNHANDLED_IRQS: AtomicU32 = AtomicU32::new(0);
/// CPU0 log lines dropped because the logger was busy (re-entered from a
/// panic inside the logger) or the UART stayed full past its bound.
pub static LOG_LINES_DROPPED: AtomicU32 = AtomicU32::new(0);
/// CPU1 log lines dropped because its ring to CPU0 was full.
#[unsafe(link_section = ".cpu1")]
pub static CPU1_LOG_LINES_DROPPED: AtomicU32 = AtomicU32::new(0);

/// Snapshot of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlatformStats {
    pub unhandled_irqs: u32,
    pub log_lines_dropped: u32,
    pub cpu1_log_lines_dropped: u32,
}

pub fn snapshot() -> PlatformStats {
    use core::sync::atomic::Ordering::Relaxed;
    PlatformStats {
        unhandled_irqs: UNHANDLED_IRQS.load(Relaxed),
        log_lines_dropped: LOG_LINES_DROPPED.load(Relaxed),
        cpu1_log_lines_dropped: CPU1_LOG_LINES_DROPPED.load(Relaxed),
    }
}
