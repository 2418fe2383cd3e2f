//! Flat (identity) MMU map in 1 MiB sections, shared by both CPUs.
//!
//! | range | attributes |
//! |---|---|
//! | 0 .. DDR size | normal, inner+outer write-back write-allocate, shareable, executable |
//! | DDR size .. 0x4000_0000 | fault (no memory there) |
//! | 0x4000_0000 .. 0xC000_0000 | PL (gateware CSRs): shareable device, execute-never |
//! | 0xE000_0000 .. 0xF000_0000 | PS I/O peripherals, SMC: shareable device, XN |
//! | 0xF800_0000 .. 0xF900_0000 | SLCR, PS system, CPU-private (SCU, GIC, timers, L2C): shareable device, XN |
//! | 0xFC00_0000 .. 0xFE00_0000 | QSPI linear window: normal non-cacheable, read-only |
//! | 0xFFF0_0000 .. 0x1_0000_0000 | high OCM: normal non-cacheable, shareable |
//! | everything else | fault |
//!
//! High OCM is normal but not cacheable: the word at 0xFFFF_FFF0 that
//! releases CPU1 is read by the BootROM (silicon) or our park loop (QEMU)
//! with the MMU off, so CPU0's write must not linger in a cache.
//!
//! The table is built by CPU0 while its caches are still off (so it is in
//! DDR as soon as it is written); CPU1 enables its MMU on the same table.
//! Descriptors are built with `aarch32_cpu::mmu`.

use super::board;
use super::cache;
use aarch32_cpu::mmu::{AccessPermissions, L1Section, MemoryRegionAttributes, SectionAttributes};
use aarch32_cpu::register::{Dacr, Sctlr, Ttbr0};
use arbitrary_int::u4;
use core::cell::UnsafeCell;

const ENTRIES: usize = 4096;
const MIB: usize = 1 << 20;

/// The translation table; TTBR0 needs 16 KiB alignment.
#[repr(C, align(16384))]
struct Table(UnsafeCell<[u32; ENTRIES]>);

// Safety: written once by CPU0 before either MMU is on and before CPU1 is
// released; read-only afterwards (hardware table walks only).
unsafe impl Sync for Table {}

static TABLE: Table = Table(UnsafeCell::new([0; ENTRIES]));

const fn attrs(
    mem: MemoryRegionAttributes,
    shareable: bool,
    access: AccessPermissions,
    xn: bool,
) -> SectionAttributes {
    SectionAttributes {
        non_global: false,
        p_bit: false,
        shareable,
        access,
        memory_attrs: mem.as_raw(),
        domain: u4::new(0),
        execute_never: xn,
    }
}

const DDR: SectionAttributes = attrs(
    MemoryRegionAttributes::OuterAndInnerWriteBackWriteAlloc,
    true,
    AccessPermissions::FullAccess,
    false,
);
/// Device memory: shareable device (TEX=000 C=0 B=1); the S bit is ignored
/// for device memory but set for clarity.
const DEVICE: SectionAttributes = attrs(
    MemoryRegionAttributes::ShareableDevice,
    true,
    AccessPermissions::FullAccess,
    true,
);
const OCM: SectionAttributes = attrs(
    MemoryRegionAttributes::OuterAndInnerNonCacheable,
    true,
    AccessPermissions::FullAccess,
    false,
);
const QSPI: SectionAttributes = attrs(
    MemoryRegionAttributes::OuterAndInnerNonCacheable,
    true,
    AccessPermissions::PrivilegedReadOnly,
    false,
);

/// Attributes for the 1 MiB section at `addr`, `None` for a fault entry.
fn section_attrs(addr: usize) -> Option<SectionAttributes> {
    match addr {
        a if a < board::DDR_SIZE => Some(DDR),
        0x4000_0000..=0xBFFF_FFFF => Some(DEVICE),
        0xE000_0000..=0xEFFF_FFFF => Some(DEVICE),
        0xF800_0000..=0xF8FF_FFFF => Some(DEVICE),
        0xFC00_0000..=0xFDFF_FFFF => Some(QSPI),
        0xFFF0_0000..=0xFFFF_FFFF => Some(OCM),
        _ => None,
    }
}

/// Fills the table. CPU0 only, MMU and D-cache off.
pub fn build_table() {
    let table = TABLE.0.get() as *mut u32;
    for i in 0..ENTRIES {
        let addr = i * MIB;
        let entry = match section_attrs(addr) {
            Some(a) => L1Section::new_with_addr_and_attrs(addr as u32, a).raw_value(),
            None => 0, // fault
        };
        // Volatile: the MMU reads these, the compiler must not elide them.
        unsafe { table.add(i).write_volatile(entry) };
    }
    aarch32_cpu::asm::dsb();
}

/// TTBR0 value: table base, walks inner/outer write-back write-allocate
/// cacheable and shareable (coherent with the other core through the SCU).
fn ttbr0() -> Ttbr0 {
    Ttbr0::new_with_raw_value(0)
        .with_address(TABLE.0.get() as usize)
        .with_irgn(true) // with c=0: inner write-back write-allocate
        .with_c(false)
        .with_s(true)
        .with_nos(false)
        .with_rgn(aarch32_cpu::register::ttbr0::Region::WriteBackWriteAllocCacheable)
}

/// Enables the MMU, L1 caches and branch prediction on the calling CPU.
///
/// Order (Cortex-A9 TRM and ARMv7-A ARM): invalidate this core's L1
/// D-cache, TLBs, I-cache and predictor; join SMP (ACTLR.SMP|FW) before the
/// D-cache is on; set TTBR0/TTBCR/DACR; then SCTLR.M|C|I|Z in one write.
///
/// # Safety
/// MMU must be off; [`build_table`] must have run (CPU0) before either CPU
/// calls this.
pub unsafe fn enable() {
    cache::invalidate_l1_dcache();
    aarch32_cpu::register::TlbIAll::write();
    aarch32_cpu::register::BpIAll::write();
    aarch32_cpu::register::Iciallu::write();
    aarch32_cpu::asm::dsb();
    super::cpu::enable_smp();
    unsafe {
        Ttbr0::write(ttbr0());
        // TTBCR = 0: TTBR0 translates the whole 4 GiB.
        core::arch::asm!("mcr p15, 0, {}, c2, c0, 2", in(reg) 0u32, options(nostack, preserves_flags));
    }
    // Domain 0 is "client": the AP bits of each section are checked.
    Dacr::write(Dacr::new_with_raw_value(0b01));
    aarch32_cpu::asm::isb();
    Sctlr::modify(|s| {
        *s = s
            .with_m(true) // MMU
            .with_c(true) // data/unified cache
            .with_i(true) // instruction cache
            .with_z(true) // branch prediction
            .with_a(false); // unaligned accesses allowed on normal memory
    });
    aarch32_cpu::asm::dsb();
    aarch32_cpu::asm::isb();
}

/// True if the MMU and L1 caches are on for the calling CPU.
pub fn enabled() -> bool {
    let s = Sctlr::read();
    s.m() && s.c() && s.i()
}
