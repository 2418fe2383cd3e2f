//! Kernels: the kernel CPU's state machine and its one teardown
//! ([`subkernel`]), everything one running kernel owns ([`session`]), the
//! requests CPU1 makes and the packets that answer them ([`requests`]),
//! and a kernel's own DMA playbacks ([`playback`]).
//!
//! [`Kernels`] owns its state and sees the rest of the satellite only
//! through [`Ctx`]: CPU1, the RTIO core, the DDMA store (recordings), the
//! DMA engine as an [`Engine`] the satellite lends it, a [`Wire`] to send
//! packets, the limits and the counters.

mod playback;
mod requests;
pub mod session;
mod subkernel;

use libdma::{Key, Store, StoreError};
use libksupport::msg::PlaybackStatus;

use crate::config::Config;
use crate::hal::{Clock, KernelCpu, Rtio};
use crate::stats::Stats;
use crate::wire::Wire;

pub use subkernel::{End, KernelState, Kernels};

/// What the kernels may touch during one call.
pub struct Ctx<'a> {
    pub cpu: &'a mut dyn KernelCpu,
    pub rtio: &'a mut dyn Rtio,
    pub clock: &'a dyn Clock,
    pub store: &'a mut Store,
    pub engine: &'a mut dyn Engine,
    pub wire: &'a mut dyn Wire,
    pub config: &'a Config,
    pub stats: &'a mut Stats,
}

impl Ctx<'_> {
    fn now(&self) -> u64 {
        self.clock.now_us()
    }
}

/// The DMA engine as a kernel's playback uses it. The satellite implements
/// it over the DDMA part, which owns the engine's bookkeeping (a master's
/// playback, an abandoned trace still being read).
pub trait Engine {
    /// A playback runs, or an abandoned one is still draining.
    fn busy(&self, store: &Store) -> bool;
    /// Starts playing the kernel's trace `key`; the DMA engine drives the
    /// RTIO until [`Engine::finish`] or [`Engine::abandon`].
    fn start(&mut self, rtio: &mut dyn Rtio, store: &mut Store, key: Key, timestamp: u64) -> Result<(), StoreError>;
    /// `None` while playing; the outcome once the engine has stopped.
    fn poll(&mut self) -> Option<PlaybackStatus>;
    /// The playback ended: releases the trace; the kernel drives the RTIO.
    fn finish(&mut self, rtio: &mut dyn Rtio, store: &mut Store);
    /// Stops the engine; the trace is released once the engine is idle.
    fn abandon(&mut self, store: &mut Store);
}
