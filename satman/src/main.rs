//! The satman firmware binary for the Kasli-SoC (Zynq-7000, `armv7a-none-eabihf`).
//!
//! The platform (start-up, MMU/caches, GIC, time, UARTs, logging, heaps,
//! CPU1 control) lives in [`platform`]; the satellite logic lives in the
//! satman lib. Build with exactly one board feature (`qemu` or
//! `kasli_soc`); with `qemu` + `selftest`, main() runs the platform
//! self-test and exits QEMU with 0 (pass) or 1 (fail).
//!
//! On a non-ARM host this file compiles to an empty program, so that
//! `cargo build --all-features` on the host does not break.

#![cfg_attr(target_arch = "arm", no_std)]
#![cfg_attr(target_arch = "arm", no_main)]

#[cfg(target_arch = "arm")]
extern crate alloc;

#[cfg(target_arch = "arm")]
mod platform;

#[cfg(not(target_arch = "arm"))]
fn main() {}

#[cfg(target_arch = "arm")]
use core::time::Duration;
#[cfg(target_arch = "arm")]
#[allow(unused_imports)]
use platform::{cpu1, uart::Uart, Instant};

/// How long CPU1 gets to come up after its release.
#[cfg(target_arch = "arm")]
#[allow(dead_code)]
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
        if let Err(e) = cpu1::start(cpu1_main, Instant::after(CPU1_BOOT_TIMEOUT)) {
            log::error!("cpu1: did not start: {e:?}");
        }
        let mut aux = platform::uart::take_aux().expect("UART0 taken once, here");
        log::info!("satman: ready");
        loop {
            run(&mut aux);
            platform::poll();
        }
    }
}

/// Placeholder main-loop step (the satman core replaces it): echoes what
/// arrives on UART0 back to it. Never waits.
#[cfg(target_arch = "arm")]
#[allow(dead_code)]
fn run(aux: &mut Uart) {
    let mut buf = [0u8; 64];
    let n = aux.read(&mut buf);
    if n > 0 {
        // Whatever does not fit in the TX ring right now is dropped: an
        // echo has nothing better to do with it.
        let _ = aux.write(&buf[..n]);
    }
    aux.poll();
}

/// Placeholder CPU1 main (the kernel loop replaces it): announces itself
/// and sleeps. Runs with IRQs enabled, so a stop from CPU0 always lands.
#[cfg(target_arch = "arm")]
#[allow(dead_code)]
fn cpu1_main() -> ! {
    log::info!("cpu1: idle (entry {})", cpu1::counters().entries);
    loop {
        cpu1::wait_for_event();
    }
}
