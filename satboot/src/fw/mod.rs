//! The target side of the loader: start-up, console, timer, PCAP, heap and
//! the boot flow itself ([`main`]).

// First: `log!` is visible only to the modules declared after it.
#[macro_use]
pub mod uart;
pub mod board;
pub mod devcfg;
pub mod heap;
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub mod kasli;
pub mod mmio;
pub mod start;
pub mod timer;

use core::fmt;
use libbootimage::{BootImage, Destination};
use libsdcard::sdhci::{Mmio, Sdhci, SD0_BASE};
use libsdcard::{BlockDevice, Card, CardError, ChainReader};
use satboot::load::{self, LoadError};
use satboot::size::Size;

extern crate alloc;

#[global_allocator]
static HEAP: heap::Bump = heap::Bump::new(board::HEAP_START, board::HEAP_END);

/// Where the BootROM (silicon) and the loader's park loop (QEMU) take
/// CPU1's start address from.
const CPU1_START_ADDR: usize = 0xFFFF_FFF0;
/// Bytes per SD read when copying the PS partition, and the PCAP chunk.
const STEP: usize = 64 * 1024;

/// Logs why the loader stops and halts. A watchdog (not armed yet) or a
/// power cycle resets the board.
pub fn halt(why: fmt::Arguments) -> ! {
    log!("satboot: error: {why}; halted");
    loop {
        aarch32_wfi();
    }
}

fn aarch32_wfi() {
    // SAFETY: WFI only waits; IRQs are masked so it never enters a handler.
    unsafe { core::arch::asm!("wfi") }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    halt(format_args!("panic: {info}"))
}

/// The PL part of the summary line: (bytes, note) or no PL partition.
struct PlLine(Option<(u32, &'static str)>);

impl fmt::Display for PlLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((n, what)) => write!(f, "PL {} {what}", Size(n)),
            None => write!(f, "no PL partition"),
        }
    }
}

/// `/BOOT.BIN` on the card as libbootimage's reader.
struct BootBin<'a, D>(ChainReader<'a, D>);

impl<D: BlockDevice> libbootimage::ReadAt for BootBin<'_, D> {
    type Error = CardError;
    fn len(&self) -> u32 {
        libsdcard::ReadAt::len(&self.0)
    }
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), CardError> {
        libsdcard::ReadAt::read_exact_at(&mut self.0, offset, buf)
    }
}

/// Lets CPU1 (QEMU) look at its start word once it is cleared.
fn open_cpu1_gate() {
    if !board::CPU1_IN_LOADER {
        return;
    }
    mmio::write(CPU1_START_ADDR, 0);
    // SAFETY: a plain word CPU1 only reads; written once, by CPU0.
    unsafe { (&raw mut start::CPU1_GATE).write_volatile(start::GATE_OPEN) };
    // SAFETY: barrier only.
    unsafe { core::arch::asm!("dsb") };
}

#[unsafe(no_mangle)]
extern "C" fn __satboot_main() -> ! {
    start::mmu_on();
    timer::init();
    let early = board::early();
    uart::init(early.uart_divisors());
    log!("satboot {} ({})", env!("CARGO_PKG_VERSION"), board::NAME);
    if let Err(e) = board::late(early) {
        halt(format_args!("{e}"));
    }
    open_cpu1_gate();
    let entry = run();
    // SAFETY: `run` copied the PS partition to its load address and checked
    // that `entry` is inside it; nothing of the loader is used afterwards.
    unsafe { start::__satboot_jump(entry) }
}

/// SD card → FAT → /BOOT.BIN → PL → PS; returns the PS entry point.
fn run() -> u32 {
    let t0 = timer::now_us();
    // SAFETY: SD0's register window; the loader is its only user.
    let regs = unsafe { Mmio::new(SD0_BASE, timer::delay_us) };
    let mut sd = Sdhci::new(regs, board::SD_CONFIG);
    let info = sd
        .init()
        .unwrap_or_else(|e| halt(format_args!("SD card: {:?} failed: {:?}", e.step, e.cause)));
    log!(
        "satboot: SD card: {} {} ({} ms)",
        Size(info.blocks.saturating_mul(512)),
        if info.high_capacity { "SDHC/SDXC" } else { "SDSC" },
        (timer::now_us() - t0) / 1000
    );
    let mut card = Card::mount(sd).unwrap_or_else(|e| halt(format_args!("SD card: FAT partition 1: {e}")));
    let file = card
        .open("/BOOT.BIN")
        .unwrap_or_else(|e| halt(format_args!("/BOOT.BIN: {e}")));
    let mut r = BootBin(file);
    let img = BootImage::parse(&mut r).unwrap_or_else(|e| halt(format_args!("/BOOT.BIN: {}", LoadError::Image(e))));
    let Some(ps) = img.first_ps_after_bootloader().copied() else {
        halt(format_args!("/BOOT.BIN: {}", LoadError::<CardError>::NoPsPartition));
    };
    if let Err(e) = load::check_ps::<CardError>(&ps, board::PS_RAM) {
        halt(format_args!("/BOOT.BIN: {e}"));
    }

    let t1 = timer::now_us();
    let mut chunk = alloc::vec![0u8; STEP];
    let pl = match img.bitstream() {
        Some(pl) => {
            let done = if board::PCAP_AVAILABLE {
                load::program_pl(&mut r, pl, &mut devcfg::Devcfg, &mut chunk)
            } else {
                load::program_pl(&mut r, pl, &mut devcfg::Discard, &mut chunk)
            };
            match done {
                Ok(true) => Some((pl.len, "programmed")),
                Ok(false) => Some((pl.len, "read, not programmed (QEMU's devcfg is unusable)")),
                Err(e) => halt(format_args!("/BOOT.BIN: PL partition: {e}")),
            }
        }
        None => None,
    };

    let t2 = timer::now_us();
    // The application: every PS partition of the image (file) the first PS
    // partition belongs to (bootgen writes one per ELF segment).
    let app = img.image_of(&ps);
    let parts = img
        .partitions()
        .iter()
        .filter(|p| p.image == ps.image && p.destination == Destination::Ps);
    let mut loaded = 0u32;
    for p in parts {
        if let Err(e) = load::check_placement::<CardError>(p, board::PS_RAM) {
            halt(format_args!("/BOOT.BIN: {}: {e}", app.name()));
        }
        // SAFETY: check_placement put load..load+len inside PS_RAM (DDR
        // between 1 MiB and the heap), which holds none of the loader's
        // code, stack or data.
        let dest = unsafe { core::slice::from_raw_parts_mut(p.load as *mut u8, p.len as usize) };
        if let Err(e) = load::copy_ps(&mut r, p, dest, STEP) {
            halt(format_args!("/BOOT.BIN: {}: {e}", app.name()));
        }
        loaded += p.len;
    }
    let t3 = timer::now_us();
    log!(
        "satboot: times: SD+FAT+parse {} ms, PL {} ms, PS {} ms",
        (t1 - t0) / 1000,
        (t2 - t1) / 1000,
        (t3 - t2) / 1000
    );
    let ms = (t3 - t0) / 1000;
    log!(
        "satboot: /BOOT.BIN: {} partitions; {}; PS {:#010x} ({}, {}) in {} ms -> jumping to {:#010x}",
        img.partitions().len(),
        PlLine(pl),
        ps.load,
        app.name(),
        Size(loaded),
        ms,
        ps.exec
    );
    // Let the last line leave the UART before the firmware resets it.
    timer::delay_us(2_000);
    ps.exec
}
