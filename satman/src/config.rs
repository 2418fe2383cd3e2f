//! The satellite's limits and timeouts ([`Config`]), handed to the parts
//! that enforce them.

use alloc::vec::Vec;

use crate::hal::ConfigStore;

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
    /// How long a kernel may run before it is stopped as a runaway (`None`:
    /// no limit, as ARTIQ's; experiments may run for hours). Config key
    /// [`RUN_LIMIT_KEY`] (milliseconds, decimal), read at boot.
    pub kernel_run_limit_us: Option<u64>,
    /// CPU0's memory budget: what the wire can make CPU0 hold, in bytes
    /// ([`crate::budget`]).
    pub memory_budget: usize,
}

/// Config store key of [`Config::kernel_run_limit_us`], in milliseconds.
pub const RUN_LIMIT_KEY: &str = "kernel_run_limit_ms";

impl Default for Config {
    fn default() -> Self {
        Config {
            max_kernel_size: 1 << 20,
            max_message_size: 1 << 20,
            max_queued_messages: 64,
            load_timeout_us: 2_000_000,
            peer_timeout_us: 10_000_000,
            playback_timeout_us: 60_000_000,
            kernel_run_limit_us: None,
            memory_budget: crate::budget::DEFAULT_LIMIT,
        }
    }
}

impl Config {
    /// Applies the settings kept in the config store (an unset or
    /// unreadable key keeps the default; a malformed value is logged).
    pub fn apply_store(&mut self, store: &mut dyn ConfigStore) {
        let mut value = Vec::new();
        if store.read(RUN_LIMIT_KEY, &mut value).is_err() {
            return;
        }
        match parse_ms(&value) {
            Some(0) => self.kernel_run_limit_us = None,
            Some(ms) => self.kernel_run_limit_us = Some(ms.saturating_mul(1000)),
            None => log::warn!("config: {} is not a number of milliseconds, ignored", RUN_LIMIT_KEY),
        }
    }
}

/// A decimal number of milliseconds (surrounding whitespace allowed).
fn parse_ms(value: &[u8]) -> Option<u64> {
    core::str::from_utf8(value).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgmt::RamConfig;

    #[test]
    fn the_run_limit_comes_from_the_store() {
        let mut c = Config::default();
        let mut store = RamConfig::default();
        c.apply_store(&mut store);
        assert_eq!(c.kernel_run_limit_us, None);
        store.write(RUN_LIMIT_KEY, b"1500\n").unwrap();
        c.apply_store(&mut store);
        assert_eq!(c.kernel_run_limit_us, Some(1_500_000));
        store.write(RUN_LIMIT_KEY, b"soon").unwrap();
        c.apply_store(&mut store);
        assert_eq!(c.kernel_run_limit_us, Some(1_500_000), "a malformed value changes nothing");
        store.write(RUN_LIMIT_KEY, b"0").unwrap();
        c.apply_store(&mut store);
        assert_eq!(c.kernel_run_limit_us, None);
    }
}
