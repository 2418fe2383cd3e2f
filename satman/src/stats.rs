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
    /// CPU1's heap (bytes) right after the last kernel was loaded, before
    /// it ran: its image and what the loader keeps
    /// ([`crate::hal::KernelCpu::heap_in_use`]; `None` before the first
    /// load or without an account).
    pub heap1_loaded: Option<u64>,
    /// CPU1's heap (bytes) when the last kernel that ran ended by itself
    /// (finished, raised, crashed), before the teardown recreated it; `None`
    /// while it runs and when CPU0 stopped it (replaced, reset, link loss,
    /// deadline: CPU1 was not waiting, so the figure would mean nothing).
    /// A run that freed everything it allocated leaves `heap1_loaded`.
    pub heap1_ended: Option<u64>,
}
