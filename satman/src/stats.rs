//! The satellite's counters ([`Stats`]), for the state dump and tests.

/// Counters for the state dump and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub packets_in: u64,
    pub packets_out: u64,
    pub decode_errors: u64,
    pub link_errors: u64,
    pub unexpected_packets: u64,
    pub dropped_packets: u64,
    pub kernels_finished: u64,
    pub kernels_failed: u64,
    /// Reports of `drtiosat.protocol_error` (each may carry several kinds).
    pub link_protocol_errors: u64,
    /// Of those, the ones with a write underflow.
    pub underflows: u64,
    /// Reports of a repeater's `protocol_error`.
    pub repeater_protocol_errors: u64,
    /// Fatal CPU exceptions CPU1 took (each ended its kernel, if any).
    pub kernel_cpu_faults: u64,
    /// Subkernel message slices dropped (and so not acknowledged).
    pub messages_dropped: u64,
    /// The previous run ended in a CPU0 panic: how many in a row (0: it
    /// did not; the crash's log lines are in the log).
    pub cpu0_crashes: u64,
}
