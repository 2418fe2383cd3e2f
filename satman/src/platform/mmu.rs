//! Flat (identity) MMU maps: CPU0's, in 1 MiB sections, and CPU1's own,
//! in which kernels cannot write satman's memory (issue 9 item 2).
//!
//! # CPU0's table
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
//! # CPU1's table
//!
//! Kernels run privileged on CPU1 like CPU1's firmware, so what protects
//! satman from a kernel is what CPU1 as a whole may touch. Everything is
//! execute-never except the firmware's code and heap1 (kernel images):
//!
//! | range | CPU1 |
//! |---|---|
//! | firmware image, code and read-only data | read-only, executable (4 KiB pages) |
//! | firmware image, `.data`/`.bss` | read-only, except the `.cpu1` pages (the statics CPU1 writes) |
//! | `stack0`, `heap0` | read-only (CPU0 lends CPU1 images and messages from heap0) |
//! | first MiB of `stack1` | no access: the guard a kernel's stack overflows into |
//! | rest of `stack1`, `heap1` | read-write |
//! | `shared`: `.shared.cpu0` pages (what only CPU0 writes) | read-only (4 KiB pages) |
//! | `shared`: the rest (what CPU1 writes) | read-write (4 KiB pages) |
//! | `ddma` | read-only, except the current recording lease ([`map_lease`]), whole 4 KiB pages |
//! | 0xF8F0_0000..0xF8F0_0FFF: SCU, GIC CPU interface, global timer, private timer and watchdog | device, read-write |
//! | 0xF8F0_1000..0xF8F0_1FFF: GIC distributor | no access (CPU1 sets up its banked registers before its MMU is on) |
//! | the board's kernel RTIO initiator ([`board::CPU1_PERIPHERALS`], 4 KiB pages) | device, read-write |
//! | everything else: other DDR, PL, PS peripherals, L2C, OCM, QSPI | no access |
//!
//! `.shared.cpu0` holds the halves of the mailboxes CPU0 writes (the
//! ToKernel ring with its write index, the FromKernel read index; the same
//! for the self-test's), CPU0's control words of `cpu1.rs` (stop and run
//! generations, CPU1 main's address, CPU0's verdict on CPU1), the
//! `Start` time stamp and the read index of CPU1's log ring
//! (linker/satman.ld). A kernel can still garble what CPU1 writes in the
//! rest of `shared`, which is CPU1's own: what CPU0 reads from there it
//! checks or bounds (messages and their lent ranges, log lines, CPU1's
//! state and fault record).
//!
//! What stays writable for CPU1 that is not its own:
//!
//! * the SCU, the global timer and the other CPU-private registers of the
//!   first private page: the GIC CPU interface, which CPU1 needs
//!   (acknowledge, end of interrupt), shares its 4 KiB page with them;
//! * in the QEMU build, the software RTIO model in `shared` (it stands in
//!   for the gateware's kernel initiator CSRs, which CPU1 writes on
//!   silicon) and the QEMU warm-up and timeline-warp words next to it;
//! * on the Kasli-SoC, the `drtioaux2` CSR bank: CSR banks are 2 KiB
//!   (0x800) apart, and in the reference gateware's map
//!   (`kasli-soc-satellite-csr`) the kernel initiator `rtio` (bank 11,
//!   0x8000_5800) is the second half of the page 0x8000_5000, whose first
//!   half is `drtioaux2` (bank 10: the third DRTIO aux channel's
//!   `aux_tx_length`, `aux_tx`, `aux_rx_present`, `aux_rx_error`,
//!   `aux_read_pointer` strobes; its packet buffers, `drtioaux2_mem`, are
//!   elsewhere and not mapped). A kernel could send or drop that channel's
//!   aux packets. Not separable with 4 KiB pages; only the gateware can
//!   move `rtio` to a page of its own (e.g. by aligning it to 4 KiB).
//!   `rtio_dma` (bank 12, 0x8000_6000) starts the next page and is not
//!   mapped. What `rtio` itself reaches (the kernel initiator's `target`,
//!   `now`, `o_data`, ...) is the kernel's by design.
//!
//! CPU1's table is written only by CPU0 (it lives in CPU0's `.bss`, which
//! CPU1 cannot write); lease windows change while CPU1 waits for CPU0's
//! reply, followed by a broadcast TLB invalidation (TLBIALLIS, which the
//! SCU delivers to CPU1).
//!
//! Both tables are built by CPU0 while its caches are still off (so they are
//! in DDR as soon as they are written). Sections are built with
//! `aarch32_cpu::mmu`; coarse page tables and small pages (which it does not
//! build) by hand, ARMv7-A ARM B3.5.1.

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

// SAFETY: written once by CPU0 before either MMU is on and before CPU1 is
// released; read-only afterwards (hardware table walks only).
unsafe impl Sync for Table {}

static TABLE: Table = Table(UnsafeCell::new([0; ENTRIES]));
/// CPU1's table (see the module docs).
static TABLE1: Table = Table(UnsafeCell::new([0; ENTRIES]));

/// Entries of a coarse (second-level) page table: 256 pages of 4 KiB.
const PAGES: usize = 256;
const PAGE: usize = 4096;

/// A coarse page table; L1 descriptors need 1 KiB alignment.
#[repr(C, align(1024))]
struct PageTable(UnsafeCell<[u32; PAGES]>);

// SAFETY: written by CPU0 only (at boot with caches off, later for lease
// windows while CPU1 waits for CPU0's reply); read by table walks.
unsafe impl Sync for PageTable {}

impl PageTable {
    const fn new() -> PageTable {
        PageTable(UnsafeCell::new([0; PAGES]))
    }
}

/// CPU1's pages of the firmware image's MiB.
static IMAGE_PAGES: PageTable = PageTable::new();
/// CPU1's pages of the CPU-private MiB (0xF8F0_0000).
static PRIVATE_PAGES: PageTable = PageTable::new();
/// CPU1's pages of the `shared` MiB.
static SHARED_PAGES: PageTable = PageTable::new();
/// CPU1's pages of the MiB holding the board's kernel RTIO CSRs.
static PL_PAGES: PageTable = PageTable::new();
/// CPU1's pages of the lease window's first and last MiB.
static LEASE_PAGES: [PageTable; 2] = [PageTable::new(), PageTable::new()];

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

const DDR_RW_XN: SectionAttributes = attrs(
    MemoryRegionAttributes::OuterAndInnerWriteBackWriteAlloc,
    true,
    AccessPermissions::FullAccess,
    true,
);
const DDR_RO_XN: SectionAttributes = attrs(
    MemoryRegionAttributes::OuterAndInnerWriteBackWriteAlloc,
    true,
    AccessPermissions::PrivilegedReadOnly,
    true,
);

/// What CPU1 may do with a 4 KiB page (small page descriptors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Page {
    Fault,
    /// Normal write-back memory, read-only, executable.
    CodeRo,
    /// Normal write-back memory, read-only, execute-never.
    DataRo,
    /// Normal write-back memory, read-write, execute-never.
    DataRw,
    /// Shareable device, read-write, execute-never.
    Device,
}

/// A small page descriptor (ARMv7-A ARM B3.5.1, short-descriptor format):
/// bit 0 XN, bit 1 = 1 (small page), B bit 2, C bit 3, AP[1:0] bits 5:4,
/// TEX bits 8:6, AP[2] bit 9, S bit 10.
fn small_page(addr: usize, p: Page) -> u32 {
    const XN: u32 = 1;
    const SMALL: u32 = 1 << 1;
    // Normal, inner and outer write-back write-allocate: TEX=001 C=1 B=1.
    const WBWA: u32 = (0b001 << 6) | (1 << 3) | (1 << 2);
    // Shareable device: TEX=000 C=0 B=1.
    const DEVICE: u32 = 1 << 2;
    const S: u32 = 1 << 10;
    const RW: u32 = 0b11 << 4;
    // AP[2]=1, AP[1:0]=01: privileged read-only.
    const RO: u32 = (1 << 9) | (0b01 << 4);
    let bits = match p {
        Page::Fault => return 0,
        Page::CodeRo => WBWA | S | RO,
        Page::DataRo => WBWA | S | RO | XN,
        Page::DataRw => WBWA | S | RW | XN,
        Page::Device => DEVICE | S | RW | XN,
    };
    (addr as u32 & !0xFFF) | SMALL | bits
}

/// An L1 descriptor pointing at a coarse page table (domain 0).
fn coarse(table: &PageTable) -> u32 {
    (table.0.get() as u32 & !0x3FF) | 0b01
}

fn fill_pages(table: &PageTable, mib: usize, page: impl Fn(usize) -> Page) {
    let t = table.0.get() as *mut u32;
    for i in 0..PAGES {
        let addr = mib + i * PAGE;
        // SAFETY: `t` is this page table's own storage, `i` < PAGES; written
        // by CPU0 only (see `PageTable`), volatile because walks read it.
        unsafe { t.add(i).write_volatile(small_page(addr, page(addr))) };
    }
}

fn section(addr: usize, a: SectionAttributes) -> u32 {
    L1Section::new_with_addr_and_attrs(addr as u32, a).raw_value()
}

/// The range `r` overlaps the page or section `[addr, addr + size)`.
fn overlaps(r: &super::boot::Region, addr: usize, size: usize) -> bool {
    r.start < addr + size && addr < r.end
}

/// CPU1's L1 entry for the MiB at `addr` (page tables filled on the way).
fn cpu1_entry(addr: usize) -> u32 {
    use super::boot::regions;
    let image = regions::image();
    let code = regions::code();
    let writable = regions::cpu1_data();
    if addr == image.start & !(MIB - 1) {
        fill_pages(&IMAGE_PAGES, addr, |a| {
            if overlaps(&writable, a, PAGE) {
                Page::DataRw
            } else if overlaps(&code, a, PAGE) {
                Page::CodeRo
            } else {
                Page::DataRo
            }
        });
        return coarse(&IMAGE_PAGES);
    }
    if addr == PRIVATE {
        fill_pages(&PRIVATE_PAGES, addr, |a| if a < GIC_DISTRIBUTOR { Page::Device } else { Page::Fault });
        return coarse(&PRIVATE_PAGES);
    }
    let shared = regions::shared();
    if addr == shared.start {
        let cpu0 = regions::shared_cpu0();
        fill_pages(&SHARED_PAGES, addr, |a| if overlaps(&cpu0, a, PAGE) { Page::DataRo } else { Page::DataRw });
        return coarse(&SHARED_PAGES);
    }
    if let Some(&(base, _)) = board::CPU1_PERIPHERALS.first() {
        if addr == base & !(MIB - 1) {
            fill_pages(&PL_PAGES, addr, |a| {
                let hit = board::CPU1_PERIPHERALS.iter().any(|&(b, len)| a < b + len && b < a + PAGE);
                if hit { Page::Device } else { Page::Fault }
            });
            return coarse(&PL_PAGES);
        }
    }
    let stack1 = regions::stack1();
    let in_region = |r: super::boot::Region| r.contains(addr);
    if addr == stack1.start {
        0 // the guard
    } else if in_region(stack1) || in_region(regions::heap1()) {
        if in_region(regions::heap1()) {
            section(addr, DDR) // kernel images execute from heap1
        } else {
            section(addr, DDR_RW_XN)
        }
    } else if in_region(regions::stack0()) || in_region(regions::heap0()) || in_region(regions::ddma()) {
        section(addr, DDR_RO_XN)
    } else {
        0
    }
}

/// The CPU-private MiB: SCU, GIC CPU interfaces, global timer, private
/// timers and watchdogs in its first 4 KiB page, the GIC distributor in the
/// second (Zynq TRM, "Application Processing Unit" register map).
const PRIVATE: usize = 0xF8F0_0000;
/// The GIC distributor: no access for CPU1.
pub const GIC_DISTRIBUTOR: usize = 0xF8F0_1000;

/// The range CPU1 cannot touch below its stack (a kernel's stack overflow
/// faults there).
pub fn cpu1_stack_guard() -> core::ops::Range<u32> {
    let s = super::boot::regions::stack1();
    s.start as u32..(s.start + MIB) as u32
}

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

/// Fills both tables. CPU0 only, MMU and D-cache off.
pub fn build_table() {
    let table = TABLE.0.get() as *mut u32;
    let table1 = TABLE1.0.get() as *mut u32;
    for i in 0..ENTRIES {
        let addr = i * MIB;
        let entry = match section_attrs(addr) {
            Some(a) => section(addr, a),
            None => 0, // fault
        };
        // SAFETY: both tables are this module's statics, `i` < ENTRIES;
        // nothing walks them yet (MMUs off). Volatile: the MMU reads these,
        // the compiler must not elide them.
        unsafe {
            table.add(i).write_volatile(entry);
            table1.add(i).write_volatile(cpu1_entry(addr));
        }
    }
    aarch32_cpu::asm::dsb();
}

/// The lease window CPU1 may write now: `(start, end)`, whole 4 KiB pages,
/// or `None`.
static LEASE: spin::Mutex<Option<(usize, usize)>> = spin::Mutex::new(None);

/// Rewrites CPU1's entries for the `ddma` MiBs `[from, to)`, with the
/// lease window `lease` (page-rounded) writable.
fn map_ddma(from: usize, to: usize, lease: Option<(usize, usize)>) {
    let table1 = TABLE1.0.get() as *mut u32;
    let mut edge = 0;
    let mut mib = from;
    while mib < to {
        let entry = match lease {
            Some((s, e)) if s <= mib && mib + MIB <= e => section(mib, DDR_RW_XN),
            Some((s, e)) if s < mib + MIB && mib < e && edge < LEASE_PAGES.len() => {
                let t = &LEASE_PAGES[edge];
                edge += 1;
                fill_pages(t, mib, |a| if s <= a && a < e { Page::DataRw } else { Page::DataRo });
                super::cache::clean_range(t.0.get() as usize, PAGES * 4);
                coarse(t)
            }
            _ => section(mib, DDR_RO_XN),
        };
        // SAFETY: TABLE1 is ours, `mib / MIB` < ENTRIES (a ddma MiB); CPU0
        // is its only writer.
        unsafe { table1.add(mib / MIB).write_volatile(entry) };
        mib += MIB;
    }
    super::cache::clean_range(table1 as usize + from / MIB * 4, (to - from) / MIB * 4);
    // TLBIALLIS: every TLB in the inner shareable domain (both CPUs).
    // SAFETY: a TLB invalidation; the register value is ignored.
    unsafe { core::arch::asm!("dsb", "mcr p15, 0, {0}, c8, c3, 0", "dsb", "isb", in(reg) 0u32, options(nostack, preserves_flags)) };
}

fn mib_span(start: usize, end: usize) -> (usize, usize) {
    (start & !(MIB - 1), (end + MIB - 1) & !(MIB - 1))
}

/// Lets CPU1 write the recording lease `[ptr, ptr + len)` (in `ddma`),
/// instead of the previous one. CPU0, while CPU1 waits for the lease.
///
/// The store's leases are whole pages (`libdma::LEASE_ALIGNMENT`), so
/// nothing else shares a page with them. A lease that is not would be
/// rounded *in*: CPU1 never gets a neighbour's bytes (a recorder writing
/// its partial edge pages would fault). A lease outside `ddma` is refused
/// (CPU1 keeps no write access).
pub fn map_lease(ptr: usize, len: usize) {
    const _: () = assert!(libdma::LEASE_ALIGNMENT.is_multiple_of(PAGE));
    let ddma = super::boot::regions::ddma();
    unmap_lease();
    let (s, e) = ((ptr.saturating_add(PAGE - 1)) & !(PAGE - 1), ptr.saturating_add(len) & !(PAGE - 1));
    if s >= e || s < ddma.start || e > ddma.end {
        return;
    }
    // At most two partial MiBs (the edges): the page tables there.
    let (from, to) = mib_span(s, e);
    map_ddma(from, to, Some((s, e)));
    *LEASE.lock() = Some((s, e));
}

/// Takes CPU1's write access to the lease window back. CPU0, while CPU1
/// waits (it sent `DmaRecordStop`) or is stopped.
pub fn unmap_lease() {
    let Some((s, e)) = LEASE.lock().take() else { return };
    let (from, to) = mib_span(s, e);
    map_ddma(from, to, None);
}

/// TTBR0 value for the calling CPU's table: walks inner/outer write-back
/// write-allocate cacheable and shareable (coherent with the other core
/// through the SCU).
fn ttbr0() -> Ttbr0 {
    let table = if super::cpu::id() == 0 { &TABLE } else { &TABLE1 };
    Ttbr0::new_with_raw_value(0)
        .with_address(table.0.get() as usize)
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
/// CPU0 gets CPU0's table, CPU1 its own.
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
    // SAFETY: `enable`'s contract: MMU off and the table built; the caches were just invalidated
    // and SMP joined, so the new translation starts from clean state and maps the code running now
    // identically.
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
