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
}
