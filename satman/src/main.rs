//! The satman firmware binary for the Kasli-SoC (Zynq-7000, `armv7a-none-eabihf`).
//!
//! The platform (start-up, MMU/caches, GIC, time, UARTs, logging, heaps,
//! CPU1 control) lives in [`platform`]; the satellite logic lives in the
//! satman lib; [`board`] is the chosen board's implementation of the
//! satellite's hardware traits; [`kernel_cpu`] runs kernels on CPU1. Build
//! with exactly one board feature (`qemu` or `kasli_soc`); with `qemu` +
//! `selftest`, main() runs the platform self-test and exits QEMU with 0
//! (pass) or 1 (fail).
//!
//! On a non-ARM host this file compiles to an empty program, so that
//! `cargo build --all-features` on the host does not break.

#![cfg_attr(target_arch = "arm", no_std)]
#![cfg_attr(target_arch = "arm", no_main)]

#[cfg(target_arch = "arm")]
extern crate alloc;

#[cfg(target_arch = "arm")]
mod platform;

#[cfg(all(target_arch = "arm", feature = "qemu"))]
#[path = "fw_qemu.rs"]
mod board;
#[cfg(all(target_arch = "arm", feature = "kasli_soc", not(feature = "qemu")))]
#[path = "fw_kasli_soc.rs"]
mod board;

#[cfg(target_arch = "arm")]
mod fw_common;
#[cfg(target_arch = "arm")]
mod kernel_cpu;

#[cfg(not(target_arch = "arm"))]
fn main() {}

#[cfg(target_arch = "arm")]
use core::time::Duration;
#[cfg(target_arch = "arm")]
use platform::{cpu1, Instant};

/// How long CPU1 gets to come up after its release.
#[cfg(target_arch = "arm")]
const CPU1_BOOT_TIMEOUT: Duration = Duration::from_millis(500);

/// The firmware's main, entered on CPU0 once the platform is up (MMU,
/// caches, GIC, timer, heaps, logger, IRQs on).
#[cfg(target_arch = "arm")]
pub(crate) fn firmware_main() -> ! {
    #[cfg(all(feature = "qemu", feature = "selftest"))]
    {
        log::info!("satman: ready");
        platform::selftest::run()
    }
    #[cfg(not(all(feature = "qemu", feature = "selftest")))]
    {
        if let Err(e) = cpu1::start(kernel_cpu::cpu1_main, Instant::after(CPU1_BOOT_TIMEOUT)) {
            // The satellite still serves the link; kernel loads fail explicitly.
            log::error!("cpu1: did not start: {e:?}");
        }
        let mut hw = board::hardware();
        let mut config = satman::Config::default();
        config.apply_store(&mut hw.config);
        let mut sat = satman::Satellite::new(hw, board::store(), config);
        sat.apply_log_config();
        sat.stats.cpu0_crashes = platform::crash::previous() as u64;
        let mut service = board::Service::new();
        platform::watchdog::start();
        log::info!("satman: ready ({}, build {})", platform::board::NAME, satman::build_id::get());
        loop {
            sat.poll();
            service.poll(&mut sat);
            platform::poll();
        }
    }
}
