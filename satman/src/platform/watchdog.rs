//! The system watchdog (SWDT) on boards that have it working
//! ([`board::WATCHDOG_TIMEOUT_US`]): armed once CPU0 enters its main loop,
//! kicked by every pass ([`super::poll`]); a CPU0 that stops passing
//! (hung with IRQs masked, stuck on a bus access with a deadline bug) is
//! reset through the BootROM. The register values come from
//! [`satman::watchdog`], tested on the host. QEMU models no resetting
//! watchdog, so there it stays off.
//!
//! Clock: the SWDT counts CPU_1x (SLCR WDT_CLK_SEL = 0, its reset value),
//! CPU_6x4x / 6 in the 6:2:1 ratio (CLK_621_TRUE bit 0 set), else / 4.

use core::sync::atomic::{AtomicBool, Ordering};

use super::board;

const SWDT: usize = 0xF800_5000;
const CLK_621_TRUE: usize = 0xF800_01C4;

static ARMED: AtomicBool = AtomicBool::new(false);

fn write(offset: usize, value: u32) {
    // SAFETY: an SWDT register (device memory, mapped for CPU0); every
    // write carries its key, CPU0 is the only user.
    unsafe { ((SWDT + offset) as *mut u32).write_volatile(value) }
}

/// CPU_1x, from the timer's rate (CPU_3x2x = CPU_6x4x / 2).
fn cpu_1x_hz() -> u64 {
    // SAFETY: an SLCR register read, no side effect.
    let ratio_621 = unsafe { (CLK_621_TRUE as *const u32).read_volatile() } & 1 != 0;
    let cpu = super::time::hz() * 2;
    if ratio_621 { cpu / 6 } else { cpu / 4 }
}

/// Arms the watchdog if the board has one; its actual timeout (µs).
pub fn start() -> Option<u64> {
    let timeout_us = board::WATCHDOG_TIMEOUT_US?;
    let Some((control, actual_us)) = satman::watchdog::control_for(timeout_us, cpu_1x_hz()) else {
        log::error!("watchdog: no setting for {} µs; left off", timeout_us);
        return None;
    };
    write(satman::watchdog::MODE, satman::watchdog::MODE_OFF);
    write(satman::watchdog::CONTROL, control);
    write(satman::watchdog::RESTART, satman::watchdog::RESTART_KEY);
    write(satman::watchdog::MODE, satman::watchdog::MODE_ENABLE_RESET);
    ARMED.store(true, Ordering::Relaxed);
    log::info!("watchdog: SWDT armed, {} ms", actual_us / 1000);
    Some(actual_us)
}

/// Restarts the count; every main-loop pass.
pub fn kick() {
    if ARMED.load(Ordering::Relaxed) {
        write(satman::watchdog::RESTART, satman::watchdog::RESTART_KEY);
    }
}
