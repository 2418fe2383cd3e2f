//! The Zynq-7000 platform under the satman firmware: start-up of both
//! CPUs, MMU and caches, GIC, time, UARTs, logging, the dual-heap allocator,
//! CPU1 control, panics, and (with `qemu` + `selftest`) a self-test.
//!
//! Bring-up order on CPU0 ([`cpu0_start`], called from `boot.rs` with the
//! MMU off): translation table, SCU, MMU + L1 + branch prediction + SMP,
//! PL310 L2, global timer, GIC distributor and CPU0 interface, heaps,
//! logger (UART1), IRQs on, then the firmware's `main`. CPU1 is released
//! later by [`cpu1::start`].
//!
//! Crates used: `zynq7000` (PAC) for every peripheral register block,
//! `aarch32-cpu` for CP15 registers, barriers, MMU descriptors and L1
//! maintenance, `talc` for the heaps, `spin` for CPU0's logger lock, `log`.
//! Written by hand (the crates lack them or do them differently, see each
//! module): the start-up assembly and vectors, IRQ masking with proper
//! restore, FPEXC access, the SLCR L2C RAM word, the CPU1 release word, the
//! semihosting call, the SPSC byte ring.

// The platform API is wider than what the placeholder main() uses; the
// satman core will call the rest (stop/resume, heap stats, cache ranges...).
#![allow(dead_code)]

pub mod board;
pub mod boot;
pub mod cache;
pub mod cpu;
pub mod cpu1;
pub mod crash;
pub mod gic;
pub mod heap;
pub mod logger;
pub mod mmu;
pub mod panic;
pub mod ring;
#[cfg(all(feature = "qemu", feature = "selftest"))]
pub mod selftest;
pub mod semihosting;
pub mod slcr;
pub mod stats;
pub mod time;
pub mod uart;
pub mod watchdog;

// The names the satman core uses most, re-exported for it.
#[allow(unused_imports)]
pub use cpu1::{Cpu1Error, Cpu1State};
#[allow(unused_imports)]
pub use heap::{HeapStats, HeapUsage};
#[allow(unused_imports)]
pub use time::{Deadline, Instant};

/// Log level at boot.
const BOOT_LOG_LEVEL: log::LevelFilter = log::LevelFilter::Info;

/// CPU0's platform bring-up, then the firmware's main. MMU off on entry.
pub(crate) fn cpu0_start() -> ! {
    mmu::build_table();
    cache::enable_scu();
    // SAFETY: the table just built maps this image, its stacks and every
    // region the firmware touches identically, so execution continues.
    unsafe { mmu::enable() };
    let l2 = cache::enable_l2();
    time::init();
    gic::init_distributor();
    gic::init_cpu_interface();
    // SAFETY: once, on CPU0, before CPU1 is released and before the first
    // allocation (the logger below is the first user).
    unsafe { heap::init() };
    logger::init(BOOT_LOG_LEVEL);
    crash::take_previous();
    let img = boot::regions::image();
    log::info!(
        "satman on {}: image {:#x}..{:#x}, MMU {}, SCU {}, L2 {:?}, VFP/NEON d32 {}",
        board::NAME,
        img.start,
        img.end,
        mmu::enabled(),
        cache::scu_enabled(),
        l2,
        cpu::vfp_d32_neon_enabled(),
    );
    log::info!(
        "clocks: global timer {} Hz{}, CPU {}",
        time::hz(),
        if time::rate_is_a_guess() { " (GUESS: the SLCR's clock words make no sense)" } else { "" },
        match time::cpu_hz() {
            Some(hz) => alloc::format!("{hz} Hz (SLCR)"),
            None => alloc::string::String::from("not read (fixed timer rate)"),
        }
    );
    let r = boot::regions::shared();
    log::info!(
        "regions: stack0 {:#x} stack1 {:#x} heap0 {:#x} ddma {:#x} heap1 {:#x} shared {:#x}..{:#x}",
        boot::regions::stack0().start,
        boot::regions::stack1().start,
        boot::regions::heap0().start,
        boot::regions::ddma().start,
        boot::regions::heap1().start,
        r.start,
        r.end
    );
    // SAFETY: not in an `irq_free` section nor an IRQ handler: this is the
    // boot path, with the GIC and the handlers set up above.
    unsafe { cpu::unmask_irqs() };
    crate::firmware_main()
}

/// CPU0 main-loop hook for the platform: drains CPU1's log lines and feeds
/// UART1. Call it every iteration; it never waits more than ~1 ms.
pub fn poll() {
    watchdog::kick();
    logger::poll();
}
