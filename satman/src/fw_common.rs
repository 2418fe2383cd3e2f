//! What both boards' firmware shares: the clock, the board services core
//! management uses, the SD card store, and the DDMA store over its
//! linker-script region.

use core::time::Duration;

use libdma::{Arena, Store};
use libsdcard::sdhci::{self, Mmio, Sdhci};
use satman::hal::{Clock, HeapSummary, System};

use crate::platform::{self, boot, heap, logger, time};

/// The SD card in SD0 as the configuration and boot image store.
pub type SdStore = satman::mgmt::CardStore<Sdhci<Mmio>>;

fn delay_us(us: u32) {
    let end = platform::Instant::after(Duration::from_micros(us as u64));
    while !end.has_passed() {
        core::hint::spin_loop();
    }
}

/// Identifies the card in SD0 and mounts its FAT partition 1. Never fails:
/// without a usable card the store refuses writes (see `CardStore`).
pub fn sd_card(config: sdhci::Config) -> SdStore {
    // SAFETY: SD0's register window lies in the PS I/O range the MMU maps
    // as device memory, and nothing else in the firmware drives SD0.
    let regs = unsafe { Mmio::new(sdhci::SD0_BASE, delay_us) };
    let mut sd = Sdhci::new(regs, config);
    let t = platform::Instant::now();
    let dev = match sd.init() {
        Ok(info) => {
            log::info!("SD card: {:?}, identified in {} ms", info, t.elapsed().as_millis());
            Ok(sd)
        }
        Err(e) => {
            log::warn!("SD card: identification failed at {:?}: {:?}", e.step, e.cause);
            Err(libsdcard::CardError::from(e.cause))
        }
    };
    satman::mgmt::CardStore::mount(dev)
}

pub struct FwClock;

impl Clock for FwClock {
    fn now_us(&self) -> u64 {
        time::now_us()
    }
}

pub struct FwSystem;

impl System for FwSystem {
    fn log_snapshot(&mut self, clear: bool) -> Option<alloc::vec::Vec<u8>> {
        logger::with_log_buffer(|b| b.snapshot(clear)).flatten()
    }

    fn log_clear(&mut self) {
        logger::with_log_buffer(|b| b.clear());
    }

    fn set_uart_log_level(&mut self, level: log::LevelFilter) {
        logger::set_level(level);
    }

    fn reboot(&mut self) {
        log::info!("rebooting");
        let _ = logger::flush(platform::Instant::after(Duration::from_millis(50)));
        platform::slcr::soft_reset()
    }

    fn heap_summary(&mut self) -> HeapSummary {
        let s = heap::stats();
        HeapSummary {
            cpu0_used: s.heap0.allocated_bytes,
            cpu0_capacity: s.heap0.capacity,
            cpu1_used: s.heap1.allocated_bytes,
            cpu1_capacity: s.heap1.capacity,
        }
    }
}

/// The DDMA store over the `ddma` region of the linker script. The region
/// can have one owner: a second call panics rather than hand out an aliasing
/// arena (main calls it once, at start-up).
pub fn store() -> Store {
    static TAKEN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    assert!(!TAKEN.swap(true, core::sync::atomic::Ordering::AcqRel), "the ddma region has an owner already");
    let r = boot::regions::ddma();
    // SAFETY: the linker script reserves the region for DDMA traces, nothing
    // else uses it, and `TAKEN` makes this store its only owner for the
    // firmware's life (CPU1 writes it only through leases the store hands out).
    Store::new(unsafe { Arena::from_region(r.start as *mut u8, r.len()) })
}
