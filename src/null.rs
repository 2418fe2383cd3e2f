//! Null hardware: parts of a [`satman::hal::Platform`] that do nothing, for
//! hosting a `satman::Satellite` without the host simulation's CPU1 thread
//! and link queues. The benchmarks (`benches/perf.rs`) and the `satellite`
//! fuzz target (`fuzz/bodies/satellite.rs`) build their boards from them.
//!
//! | part | behaviour |
//! |---|---|
//! | [`NullCpu`] | CPU1 that accepts every message and never answers |
//! | [`NullRtio`] | no errors, no TSC load |
//! | [`NullDma`] | playbacks never report, the engine is always idle |
//! | [`TickClock`] | one microsecond per reading |
//! | [`NullSystem`] | no log, no heap summary; reboot does nothing |
//! | [`NullMoninj`] | every probe reads 0, every injection is accepted |

use std::cell::Cell;

use libksupport::msg::{Bytes, FromKernel, PlaybackStatus, ToKernel};
use satman::hal::{Clock, CpuError, DmaEngine, HeapSummary, Initiator, KernelCpu, LentError, Rtio, RtioError, System};

pub struct NullCpu;

impl KernelCpu for NullCpu {
    fn restart(&mut self) -> Result<(), CpuError> {
        Ok(())
    }
    fn send(&mut self, _: ToKernel) -> Result<(), CpuError> {
        Ok(())
    }
    fn receive(&mut self) -> Option<FromKernel> {
        None
    }
    fn lent(&self, _: Bytes) -> Result<&[u8], LentError> {
        Err(LentError::NotLent)
    }
    fn fault(&mut self) -> Option<satman::fault::CpuFault> {
        None
    }
}

pub struct NullRtio;

impl Rtio for NullRtio {
    fn select(&mut self, _: Initiator) {}
    fn reset(&mut self) {}
    fn hold_reset(&mut self, _: bool) {}
    fn take_error(&mut self) -> Option<RtioError> {
        None
    }
    fn set_route(&mut self, _: u8, _: u8) {}
    fn take_tsc_loaded(&mut self) -> bool {
        false
    }
}

pub struct NullDma;

impl DmaEngine for NullDma {
    fn start(&mut self, _: &libdma::PlaybackTrace, _: u64) {}
    fn poll(&mut self) -> Option<PlaybackStatus> {
        None
    }
    fn stop(&mut self) {}
    fn idle(&mut self) -> bool {
        true
    }
}

/// A clock that advances one microsecond per reading (the firmware reads a
/// timer register).
pub struct TickClock(Cell<u64>);

impl TickClock {
    /// A clock at 0 µs.
    pub fn new() -> TickClock {
        TickClock(Cell::new(0))
    }
}

impl Default for TickClock {
    fn default() -> Self {
        TickClock::new()
    }
}

impl Clock for TickClock {
    fn now_us(&self) -> u64 {
        let t = self.0.get() + 1;
        self.0.set(t);
        t
    }
}

pub struct NullSystem;

impl System for NullSystem {
    fn log_snapshot(&mut self, _: bool) -> Option<Vec<u8>> {
        None
    }
    fn log_clear(&mut self) {}
    fn set_uart_log_level(&mut self, _: log::LevelFilter) {}
    fn reboot(&mut self) {}
    fn heap_summary(&mut self) -> HeapSummary {
        HeapSummary::default()
    }
}

pub struct NullMoninj;

impl satman::hal::Moninj for NullMoninj {
    fn monitor(&mut self, _: u16, _: u8) -> Result<u64, satman::hal::MoninjError> {
        Ok(0)
    }
    fn inject(&mut self, _: u16, _: u8, _: u8) -> Result<(), satman::hal::MoninjError> {
        Ok(())
    }
    fn injection_status(&mut self, _: u16, _: u8) -> Result<u8, satman::hal::MoninjError> {
        Ok(0)
    }
}

