//! Caches: L1 maintenance, the Snoop Control Unit, and the PL310 L2 cache.
//!
//! L1 set/way and by-address operations come from `aarch32-cpu`; the SCU
//! and the PL310 through the `zynq7000` PAC. Every wait on a PL310
//! background operation is bounded by an iteration count (the global timer
//! may not be running yet when the L2 is enabled); a timeout leaves the L2
//! disabled and is reported by [`l2_state`].
//!
//! Coherency model: both cores set ACTLR.SMP and all DDR is mapped
//! shareable, so the SCU keeps the two L1 data caches coherent and the
//! `shared` region needs no maintenance. Maintenance is only needed towards
//! non-coherent bus masters (the gateware DMA engine): use the `*_range`
//! functions, which act on L1 and L2 down to the point of coherency.

use super::board;
use core::sync::atomic::{AtomicU8, Ordering};
use zynq7000::l2_cache;
use zynq7000::mpcore::ScuRegisters;

/// Cortex-A9 L1 D-cache on the Zynq: 32 KiB, 4-way, 32-byte lines, 256 sets.
const L1_WAYS_LOG2: usize = 2;
const L1_LINE_LOG2: usize = 5;
const L1_SETS_LOG2: usize = 8;
/// Cache line size (L1 and PL310 alike).
pub const LINE: usize = 32;

/// Invalidates this core's L1 D-cache by set/way (discarding contents).
/// Only valid while the D-cache is off, at boot.
pub fn invalidate_l1_dcache() {
    aarch32_cpu::cache::invalidate_l1_data_cache::<L1_WAYS_LOG2, L1_LINE_LOG2, L1_SETS_LOG2>();
    aarch32_cpu::asm::dsb();
}

/// SCU registers at 0xF8F0_0000 (Cortex-A9 MPCore TRM, 2.2).
fn scu() -> zynq7000::mpcore::MmioScuRegisters<'static> {
    // SAFETY: the SCU block's fixed address (Cortex-A9 MPCore TRM); its registers are only written
    // at start-up by CPU0, and every other access is a read.
    unsafe { ScuRegisters::new_mmio_at(zynq7000::mpcore::SCU_BASE_ADDR) }
}

/// Invalidates the SCU duplicate tags of all cores and enables the SCU.
/// CPU0 only, before any core enables its D-cache (invalidating the tags
/// later would make the SCU forget lines another core holds).
pub fn enable_scu() {
    let mut scu = scu();
    // SCU Invalidate All Registers in Secure State: all ways of CPU0..3.
    scu.write_invalidate_all_regs_in_secure_state(0xFFFF);
    // SCU Control bit 0: enable.
    let c = scu.read_control();
    scu.write_control(c | 1);
    aarch32_cpu::asm::dsb();
}

/// Invalidates CPU1's SCU duplicate tags (its four ways), for CPU1 held in
/// reset: its L1 is gone, the SCU must not snoop it.
pub fn invalidate_scu_tags_of_cpu1() {
    scu().write_invalidate_all_regs_in_secure_state(0x00F0);
    aarch32_cpu::asm::dsb();
}

/// True if the SCU is enabled.
pub fn scu_enabled() -> bool {
    scu().read_control() & 1 != 0
}

/// Outcome of the L2 initialisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L2State {
    NotInitialised = 0,
    Enabled = 1,
    /// The invalidate-by-way did not finish within its bound; L2 left off.
    InvalidateTimeout = 2,
}

static L2_STATE: AtomicU8 = AtomicU8::new(L2State::NotInitialised as u8);

/// What [`enable_l2`] achieved.
pub fn l2_state() -> L2State {
    match L2_STATE.load(Ordering::Relaxed) {
        1 => L2State::Enabled,
        2 => L2State::InvalidateTimeout,
        _ => L2State::NotInitialised,
    }
}

fn l2() -> l2_cache::MmioRegisters<'static> {
    // SAFETY: the L2C-310's fixed address, mapped as device memory; CPU0 alone drives it (start-up
    // and maintenance by address), as this module's docs say.
    unsafe { l2_cache::Registers::new_mmio_at(l2_cache::L2C_BASE_ADDR) }
}

/// Upper bound on polls of a PL310 background operation. Invalidating all
/// 8 ways of 512 KiB takes a few thousand L2 clock cycles on silicon and is
/// instantaneous in QEMU; 1_000_000 polls is far above either and still
/// only milliseconds.
const L2_POLL_LIMIT: u32 = 1_000_000;

/// Initialises and enables the PL310 L2 cache at 0xF8F0_2000. CPU0 only,
/// once, after the MMU and L1 are on (the L2 is transparent to them until
/// enabled).
///
/// Settings per the Zynq-7000 TRM (UG585, "L2 cache"): tag RAM latency
/// 1-1-1 (0x111), data RAM latency 1-2-1 (0x121), 8 ways of 64 KiB,
/// instruction and data prefetch and early BRESP on; on silicon also the
/// SLCR L2C RAM control word (see [`board::SLCR_L2C_RAM_SETUP`]).
pub fn enable_l2() -> L2State {
    let mut l2 = l2();
    if l2.read_control().enabled() {
        // `_start` turns off an L2 a loader left on (boot.rs); if it is on
        // anyway, keep it: reprogramming aux control requires it off.
        L2_STATE.store(L2State::Enabled as u8, Ordering::Relaxed);
        return L2State::Enabled;
    }
    if board::SLCR_L2C_RAM_SETUP {
        slcr_l2c_ram_setup();
    }
    l2.modify_aux_control(|a| {
        a.with_early_bresp_enable(true)
            .with_isntruction_prefetch_enable(true)
            .with_data_prefetch_enable(true)
            .with_way_size(l2_cache::WaySize::_64kB)
            .with_associativity(l2_cache::Associativity::_8Way)
    });
    l2.write_tag_ram_latency(
        l2_cache::LatencyConfig::builder()
            .with_write_access_latency(arbitrary_int::u3::new(1))
            .with_read_access_latency(arbitrary_int::u3::new(1))
            .with_setup_latency(arbitrary_int::u3::new(1))
            .build(),
    );
    l2.write_data_ram_latency(
        l2_cache::LatencyConfig::builder()
            .with_write_access_latency(arbitrary_int::u3::new(1))
            .with_read_access_latency(arbitrary_int::u3::new(2))
            .with_setup_latency(arbitrary_int::u3::new(1))
            .build(),
    );
    // Invalidate all 8 ways; the bits clear when done.
    l2.write_invalidate_by_way(0xFF);
    if !poll_until(|| l2.read_invalidate_by_way() & 0xFF == 0) {
        L2_STATE.store(L2State::InvalidateTimeout as u8, Ordering::Relaxed);
        return L2State::InvalidateTimeout;
    }
    l2_sync(&mut l2);
    // The PL310's interrupts stay masked (interrupt mask reset value 0), so
    // its interrupt clear register (0x220) is left alone; QEMU's model does
    // not implement it and would log the write as a guest error.
    l2.write_control(l2_cache::Control::new_enabled());
    aarch32_cpu::asm::dsb();
    L2_STATE.store(L2State::Enabled as u8, Ordering::Relaxed);
    L2State::Enabled
}

/// SLCR L2C_RAM (0xF800_0A1C): the Zynq TRM requires 0x0002_0202 before
/// the L2 is enabled. Not in the PAC's SLCR block: written by hand, with the
/// SLCR unlock/lock keys (SLCR_UNLOCK 0xF800_0008 = 0xDF0D, SLCR_LOCK
/// 0xF800_0004 = 0x767B).
fn slcr_l2c_ram_setup() {
    const SLCR_L2C_RAM: *mut u32 = 0xF800_0A1C as *mut u32;
    // SAFETY: L2C_RAM is an SLCR word (Zynq TRM), written with the SLCR unlocked and IRQs masked
    // by `with_unlocked`, before the L2 is enabled.
    super::slcr::with_unlocked(|| unsafe { SLCR_L2C_RAM.write_volatile(0x0002_0202) });
}

fn poll_until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..L2_POLL_LIMIT {
        if done() {
            return true;
        }
    }
    false
}

/// PL310 cache sync: drains its buffers. Bounded.
fn l2_sync(l2: &mut l2_cache::MmioRegisters<'static>) -> bool {
    l2.write_cache_sync(l2_cache::CacheSync::new_with_raw_value(0));
    poll_until(|| !l2.read_cache_sync().busy())
}

fn l2_on() -> bool {
    l2_state() == L2State::Enabled
}

fn lines(addr: usize, len: usize) -> impl Iterator<Item = usize> {
    let start = addr & !(LINE - 1);
    let end = addr.saturating_add(len);
    (start..end).step_by(LINE)
}

/// Cleans `addr..addr+len` from L1 and L2 to DDR, so that a non-coherent
/// bus master (the gateware DMA engine) reads what the CPU wrote.
pub fn clean_range(addr: usize, len: usize) {
    for a in lines(addr, len) {
        aarch32_cpu::cache::clean_data_cache_line_to_poc(a as u32);
    }
    aarch32_cpu::asm::dsb();
    if l2_on() {
        let mut l2 = l2();
        for a in lines(addr, len) {
            l2.write_clean_by_pa(a as u32);
        }
        l2_sync(&mut l2);
    }
}

/// Cleans and invalidates `addr..addr+len` in L1 and L2, for a buffer a
/// non-coherent master is about to write (or has written). L1 is done again
/// after L2 because a speculative refill may have brought a line back into
/// L1 from L2 in between.
pub fn clean_invalidate_range(addr: usize, len: usize) {
    for a in lines(addr, len) {
        aarch32_cpu::cache::clean_and_invalidate_data_cache_line_to_poc(a as u32);
    }
    aarch32_cpu::asm::dsb();
    if l2_on() {
        let mut l2 = l2();
        for a in lines(addr, len) {
            l2.write_clean_invalidate_by_pa(a as u32);
        }
        l2_sync(&mut l2);
    }
    for a in lines(addr, len) {
        aarch32_cpu::cache::clean_and_invalidate_data_cache_line_to_poc(a as u32);
    }
    aarch32_cpu::asm::dsb();
}

/// Makes code just written to `addr..addr+len` executable by this CPU: the
/// data lines are cleaned to the point of unification (where instruction
/// fetches look), then the instruction cache and branch predictor are
/// invalidated. For a kernel image loaded by the CPU that will run it.
pub fn sync_instructions(addr: usize, len: usize) {
    for a in lines(addr, len) {
        // DCCMVAU: clean data cache line by MVA to PoU (ARMv7-A ARM B4.2.1).
        // SAFETY: DCCMVAU is cache maintenance by address: it changes no memory contents and needs
        // no mapping of its own, so any address is harmless.
        unsafe { core::arch::asm!("mcr p15, 0, {0}, c7, c11, 1", in(reg) a as u32, options(nostack, preserves_flags)) };
    }
    aarch32_cpu::asm::dsb();
    // ICIALLU and BPIALL (the register value is ignored).
    // SAFETY: ICIALLU and BPIALL only invalidate instruction-side caches; memory is unchanged.
    unsafe {
        core::arch::asm!(
            "mcr p15, 0, {0}, c7, c5, 0",
            "mcr p15, 0, {0}, c7, c5, 6",
            in(reg) 0u32,
            options(nostack, preserves_flags)
        )
    };
    aarch32_cpu::asm::dsb();
    aarch32_cpu::asm::isb();
}
