//! Drivers for the Kasli-SoC satellite gateware.
//!
//! | driver | hardware | implements |
//! |---|---|---|
//! | [`GatewareAux`] | `drtioauxN` + its buffers, `drtiosat`/`drtiorepN` `rx_up` | [`hal::AuxLink`](crate::hal::AuxLink) |
//! | [`GatewareRtio`] | `drtiosat` (reset, errors, TSC, protocol errors), `cri_con`, `routing_table`, `drtiorepN` (TSC sync, reset, errors: [`repeater`]) | [`hal::Rtio`](crate::hal::Rtio) |
//! | [`GatewareDma`] | `rtio_dma` | [`hal::DmaEngine`](crate::hal::DmaEngine) |
//! | [`GatewareMoninj`] | `rtio_moninj` | [`hal::Moninj`](crate::hal::Moninj) |
//! | [`board_i2c::BoardI2cBus`] | the board's bit-banged I2C bus (PS side, shared with the start-up) | [`hal::I2cBus`](crate::hal::I2cBus) |
//! | [`GatewareAnalyzer`] | `rtio_analyzer` + its DMA ring in DDR | [`hal::RtioAnalyzer`](crate::hal::RtioAnalyzer) |
//! | [`GatewareKernelRtio`] | `rtio` (the CSR kernel initiator, driven by CPU1) | what `libksupport::runtime::KernelHost`'s `rtio_*` methods need |
//!
//! Every driver is generic over a [`Bus`]: the firmware passes
//! `bus::Mmio` (ARM builds only), the tests a fake that records each access. Every address
//! comes from [`csr`], which is generated from the gateware's CSR map at
//! build time; no driver holds a number of its own.
//!
//! # Which drivers exist
//!
//! `build.rs` checks the map against what each driver touches (the table
//! in the `csrgen` crate) and sets `gateware_driver = "<name>"` for each one the
//! map can feed. A map from another variant leaves the drivers it cannot
//! feed out of a host build, with a warning; a `kasli_soc` build fails
//! instead, naming what is missing.
//!
//! # Time
//!
//! Nothing here waits without a bound. The few waits there are (the RTIO
//! reset pulse, an output the gateware holds back, an input request) are
//! bounded by [`wait_while`], on a microsecond clock the caller provides
//! and a spin count that ends the wait even if that clock stops.

pub mod board_i2c;
pub mod bus;
pub mod csr;

#[cfg(gateware_driver = "analyzer")]
mod analyzer;
#[cfg(gateware_driver = "aux")]
mod aux;
#[cfg(gateware_driver = "dma")]
mod dma;
#[cfg(gateware_driver = "kernel_rtio")]
mod kernel_rtio;
#[cfg(gateware_driver = "repeaters")]
pub mod repeater;
#[cfg(gateware_driver = "moninj")]
mod moninj;
#[cfg(gateware_driver = "rtio")]
mod rtio;
pub mod uplink;

#[cfg(test)]
mod fake;

#[cfg(gateware_driver = "analyzer")]
pub use analyzer::GatewareAnalyzer;
#[cfg(gateware_driver = "aux")]
pub use aux::GatewareAux;
pub use bus::Bus;
#[cfg(gateware_driver = "dma")]
pub use dma::{GatewareDma, TRACE_ALIGN};
#[cfg(gateware_driver = "kernel_rtio")]
pub use kernel_rtio::{GatewareKernelRtio, KernelRtioStats, Limits};
#[cfg(gateware_driver = "moninj")]
pub use moninj::GatewareMoninj;
#[cfg(gateware_driver = "rtio")]
pub use rtio::{GatewareRtio, RESET_PULSE_US};

/// Iterations a bounded wait may make per microsecond of its limit. Each
/// iteration reads the clock and usually a register, which takes far more
/// than a nanosecond, so this only ends a wait whose clock has stopped.
pub const SPINS_PER_US: u64 = 1000;

/// Calls `busy` until it returns `false` or `limit_us` microseconds have
/// passed on `clock` (or `limit_us * SPINS_PER_US` calls were made).
/// Returns `true` if `busy` returned `false`, `false` on the bound.
pub fn wait_while<C: Fn() -> u64 + ?Sized>(clock: &C, limit_us: u64, mut busy: impl FnMut() -> bool) -> bool {
    let start = clock();
    let max_spins = limit_us.saturating_mul(SPINS_PER_US).max(1);
    let mut spins = 0u64;
    loop {
        if !busy() {
            return true;
        }
        spins += 1;
        if spins >= max_spins || clock().saturating_sub(start) >= limit_us {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    #[test]
    fn wait_while_ends_on_the_condition_the_clock_or_the_spin_cap() {
        let now = Cell::new(0u64);
        let tick = || {
            now.set(now.get() + 1);
            now.get()
        };
        let mut calls = 0;
        assert!(wait_while(&tick, 100, || {
            calls += 1;
            calls < 5
        }));
        assert_eq!(calls, 5);

        let start = now.get();
        assert!(!wait_while(&tick, 100, || true));
        assert!(now.get() - start >= 100);

        // A stopped clock: the spin cap still ends the wait.
        let stopped = || 7u64;
        let mut calls = 0u64;
        assert!(!wait_while(&stopped, 3, || {
            calls += 1;
            true
        }));
        assert_eq!(calls, 3 * SPINS_PER_US);
    }
}
