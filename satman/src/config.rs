//! The satellite's limits and timeouts ([`Config`]), handed to the parts
//! that enforce them.

/// Limits and timeouts; the defaults suit the Kasli-SoC.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Largest kernel image accepted (the master itself accepts 1 MiB).
    pub max_kernel_size: usize,
    /// Largest subkernel message accepted.
    pub max_message_size: usize,
    /// Messages queued for a kernel before new ones are refused.
    pub max_queued_messages: usize,
    /// How long CPU1 may take to load a kernel.
    pub load_timeout_us: u64,
    /// How long a peer may take to acknowledge one message or trace slice,
    /// or to answer a subkernel request.
    pub peer_timeout_us: u64,
    /// How long a DMA playback may run before it is aborted.
    pub playback_timeout_us: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_kernel_size: 1 << 20,
            max_message_size: 1 << 20,
            max_queued_messages: 64,
            load_timeout_us: 2_000_000,
            peer_timeout_us: 10_000_000,
            playback_timeout_us: 60_000_000,
        }
    }
}
