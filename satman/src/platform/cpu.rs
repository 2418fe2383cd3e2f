//! Per-CPU helpers: which CPU am I, IRQ masking, and the CP15 bits that
//! are not caches or MMU.
//!
//! System registers go through `aarch32-cpu`. IRQ masking is written here
//! because `aarch32_cpu::interrupt::free` (0.4.0) restores the wrong state:
//! it re-enables IRQs when CPSR.I was *set* before (CPSR.I is a mask bit),
//! which would unmask IRQs inside nested critical sections.

use aarch32_cpu::register::{Actlr, Mpidr};
use core::sync::atomic::{compiler_fence, Ordering};

/// The two Cortex-A9 cores of the Zynq-7000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpu {
    Cpu0 = 0,
    Cpu1 = 1,
}

/// The CPU executing this code (MPIDR.Aff0).
#[inline]
pub fn current() -> Cpu {
    if Mpidr::read().0 & 0x3 == 0 {
        Cpu::Cpu0
    } else {
        Cpu::Cpu1
    }
}

/// Index of the executing CPU, 0 or 1.
#[inline]
pub fn id() -> usize {
    current() as usize
}

/// CPSR.I: 1 = IRQs masked.
const CPSR_I: u32 = 1 << 7;

#[inline]
fn cpsr() -> u32 {
    let v: u32;
    // SAFETY: reading CPSR has no side effect.
    unsafe {
        core::arch::asm!("mrs {}, cpsr", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// True if IRQs are masked on this CPU.
#[inline]
pub fn irqs_masked() -> bool {
    cpsr() & CPSR_I != 0
}

/// Masks IRQs on this CPU.
#[inline]
pub fn mask_irqs() {
    // SAFETY: masking IRQs cannot break memory safety; the fence keeps the compiler from moving
    // accesses out of the masked section.
    unsafe { core::arch::asm!("cpsid i", options(nomem, nostack, preserves_flags)) };
    compiler_fence(Ordering::SeqCst);
}

/// Unmasks IRQs on this CPU.
///
/// # Safety
/// Must not be called inside an [`irq_free`] section or an IRQ handler.
#[inline]
pub unsafe fn unmask_irqs() {
    compiler_fence(Ordering::SeqCst);
    // SAFETY: the caller's contract (not inside a masked section or a handler).
    unsafe { core::arch::asm!("cpsie i", options(nomem, nostack, preserves_flags)) };
}

/// Runs `f` with IRQs masked on this CPU and restores the previous mask
/// state afterwards (nesting is fine). Touches nothing on the other CPU.
#[inline]
pub fn irq_free<T>(f: impl FnOnce() -> T) -> T {
    let was_masked = irqs_masked();
    mask_irqs();
    let r = f();
    if !was_masked {
        // SAFETY: IRQs were unmasked on entry, so this is neither a handler (they run masked) nor
        // a nested `irq_free`: restoring the state this section found is what the caller had.
        unsafe { unmask_irqs() };
    }
    r
}

/// ACTLR.SMP (bit 6): this core takes part in SCU coherency. Must be set
/// before the D-cache is enabled (Cortex-A9 TRM, 4.3.10).
const ACTLR_SMP: u32 = 1 << 6;
/// ACTLR.FW (bit 0): broadcast cache and TLB maintenance to the other core.
const ACTLR_FW: u32 = 1 << 0;

/// Joins this core to the coherency domain (SMP + FW bits).
pub fn enable_smp() {
    let a = Actlr::read();
    // SAFETY: setting SMP/FW before the D-cache and MMU come on is what the Cortex-A9 TRM asks
    // for; it changes coherency participation, never memory contents.
    unsafe { Actlr::write(Actlr(a.0 | ACTLR_SMP | ACTLR_FW)) };
    aarch32_cpu::asm::isb();
}

/// FPEXC (VFP exception register; no wrapper in aarch32-cpu).
pub fn fpexc() -> u32 {
    let v: u32;
    // SAFETY: reading FPEXC has no side effect.
    unsafe {
        core::arch::asm!("vmrs {}, fpexc", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// True if VFP/NEON is enabled with all 32 double registers usable
/// (FPEXC.EN and CPACR cp10/cp11 full access, ASEDIS = D32DIS = 0).
pub fn vfp_d32_neon_enabled() -> bool {
    let cpacr = aarch32_cpu::register::Cpacr::read().0;
    fpexc() & (1 << 30) != 0 && (cpacr >> 20) & 0xF == 0xF && cpacr & (0x3 << 30) == 0
}

/// Waits for an interrupt (low power; an SGI or any pending IRQ ends it,
/// whether or not IRQs are masked in CPSR). Never WFE: under QEMU a WFE
/// loop spins a host core.
#[inline]
pub fn wfi() {
    aarch32_cpu::asm::dsb();
    aarch32_cpu::asm::wfi();
}
