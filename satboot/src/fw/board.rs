//! Per-board constants and early set-up. Exactly one board feature
//! (`qemu` or `kasli_soc`) is on.

use libsdcard::sdhci::Config;

#[cfg(feature = "qemu")]
pub const NAME: &str = "qemu xilinx-zynq-a9";
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const NAME: &str = "Kasli-SoC";

/// Console: UART1 (0xE000_1000) on both boards, like satman (QEMU's
/// second `-serial`; on the Kasli-SoC MIO 48/49, `satboot::pins`).
pub const UART_BASE: usize = 0xE000_1000;

/// Global timer rate. QEMU: 100 MHz. Kasli-SoC: CPU_3x2x = 1 GHz / 2 once
/// `kasli::early` has set the clocks (`satboot::clocks`; satman assumes the
/// same). Before that only poll counts bound the waits.
#[cfg(feature = "qemu")]
pub const GLOBAL_TIMER_HZ: u64 = 100_000_000;
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const GLOBAL_TIMER_HZ: u64 = 500_000_000;

#[cfg(feature = "qemu")]
pub const SD_CONFIG: Config = Config::QEMU;
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const SD_CONFIG: Config = Config::KASLI_SOC;

/// Whether the PCAP can be used: not in QEMU, whose devcfg disables itself
/// at reset (`devcfg.rs`).
pub const PCAP_AVAILABLE: bool = cfg!(not(feature = "qemu"));

/// Whether CPU1 may be running the loader's park loop (QEMU's `-kernel`
/// starts both CPUs at the entry; on silicon the BootROM holds CPU1).
pub const CPU1_IN_LOADER: bool = cfg!(feature = "qemu");

/// DDR the PS partition may be loaded into: from satman's link address up
/// to the loader's heap.
pub const PS_RAM: satboot::load::Ram = satboot::load::Ram {
    start: 0x0010_0000,
    end: HEAP_START as u32,
};
/// The loader's heap (FAT buffers, the PCAP chunk buffer), in DDR on both
/// boards (QEMU: 512 MiB, Kasli-SoC: 1 GiB).
pub const HEAP_START: usize = 0x0800_0000;
pub const HEAP_END: usize = 0x0900_0000;

/// Clocks, DDR and pins the BootROM does not set up: [`early`] before the
/// console (clocks and pins), [`late`] after it (DDR, logged). QEMU needs
/// none of it.
#[cfg(feature = "qemu")]
pub struct Early;

#[cfg(feature = "qemu")]
pub fn early() -> Early {
    Early
}

#[cfg(feature = "qemu")]
impl Early {
    /// (CD, BDIV) for 115200 baud from QEMU's nominal 100 MHz reference.
    pub fn uart_divisors(&self) -> Option<(u32, u32)> {
        Some((124, 6))
    }
}

#[cfg(feature = "qemu")]
pub fn late(_: Early) -> Result<(), core::convert::Infallible> {
    Ok(())
}

#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub use super::kasli::{early, late};
