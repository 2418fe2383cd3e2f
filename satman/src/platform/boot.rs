//! Start-up of both CPUs: the vector table, the reset entry, CPU1's park and
//! entry, per-mode stacks, and the assembly halves of the IRQ and exception
//! handlers.
//!
//! Written by hand rather than taken from `zynq7000-rt`/`aarch32-rt`: those
//! crates bring their own linker script and stack layout (per-mode stacks in
//! one `STACKS` region), park CPU1 in WFE, and have no way to re-enter CPU1's
//! main function on a fresh stack from an interrupt, all of which satman
//! needs differently (docs/architecture.md).
//!
//! # Boot flow
//!
//! QEMU (with `-kernel`) starts both CPUs at the ELF entry `_start`; on
//! silicon only CPU0 arrives there (from the FSBL) while CPU1 waits in the
//! BootROM's loop for an address at 0xFFFF_FFF0.
//!
//! * CPU0: SVC mode, IRQ/FIQ masked; an L1 D-cache or PL310 L2 the loader
//!   left on is cleaned, invalidated and (L2) disabled
//!   (`__satman_loader_caches_off`), then MMU and caches off, VBAR, VFP/NEON on,
//!   stacks in `stack0`, `.bss` and the used part of `.shared` zeroed, then
//!   [`super::cpu0_start`].
//! * CPU1 arriving at `_start` (QEMU only): parks in WFI with its GIC CPU
//!   interface enabled so that an SGI wakes it; after each wake it
//!   acknowledges the interrupt and re-reads 0xFFFF_FFF0. A non-zero value is
//!   an address to jump to, exactly like the BootROM does on silicon, so
//!   CPU0's release (write, DSB, SEV, SGI) works on both.
//! * `__satman_cpu1_entry` (the address CPU0 publishes): same CPU set-up as
//!   CPU0 on `stack1`, then [`super::cpu1::cpu1_start`].
//!
//! # Stacks
//!
//! Each CPU's region (`__stackN_start..__stackN_end`) holds, from the top:
//! IRQ 16 KiB, abort 16 KiB, undefined 16 KiB, then the SVC stack (the rest).
//! Exception handlers run Rust (they format a panic message), hence the
//! generous abort/undefined stacks. FIQ is never unmasked; its SP is set to
//! the top of the SVC stack only so that it is not left pointing anywhere.
//!
//! # IRQ entry
//!
//! The IRQ stub saves r0-r3, r12, lr, FPSCR and d0-d7 (the caller-saved
//! registers our Rust code, compiled for VFPv3-D16, can clobber; d16-d31 are
//! never touched by our code, so a kernel's NEON/D32 state survives an
//! interrupt without saving them). It calls `__satman_irq_rust`, which returns
//! non-zero only on CPU1 for a stop request: the stub then abandons the
//! interrupted context, re-creates every stack and calls
//! `__satman_cpu1_restarted` (see [`super::cpu1`]).

use core::arch::global_asm;

/// Size of the IRQ, abort and undefined-instruction stacks of each CPU.
pub const EXCEPTION_STACK_SIZE: usize = 16 * 1024;

global_asm!(
    r#"
    .section .text.vectors, "ax"
    .arm
    .balign 32
    .global __satman_vectors
__satman_vectors:
    b       _start                  @ reset
    b       __satman_und            @ undefined instruction
    b       __satman_svc            @ supervisor call
    b       __satman_pabt           @ prefetch abort
    b       __satman_dabt           @ data abort
    b       .                       @ reserved
    b       __satman_irq            @ IRQ
    b       __satman_fiq            @ FIQ

    .section .text.boot, "ax"
    .arm

    .global _start
    .type _start, %function
_start:
    cpsid   if
    msr     cpsr_c, #0xD3           @ SVC mode, IRQ and FIQ masked
    mrc     p15, 0, r0, c0, c0, 5   @ MPIDR
    ands    r0, r0, #3              @ CPU id
    bne     __satman_cpu1_park
    bl      __satman_loader_caches_off
    bl      __satman_cpu_early
    ldr     r0, =__stack0_end
    bl      __satman_set_stacks
    ldr     r0, =__bss_start
    ldr     r1, =__bss_end
    bl      __satman_zero
    ldr     r0, =__shared_start
    ldr     r1, =__shared_used_end
    bl      __satman_zero
    bl      __satman_cpu0_rust
    b       .

@ CPU set-up shared by both CPUs, before any Rust runs. Uses no stack.
@ MMU, caches and branch prediction off (the FSBL may leave them on),
@ TLB/I-cache/predictor invalidated, VBAR set, VFP and NEON with all 32
@ double registers enabled (CPACR cp10/cp11 full access, ASEDIS=0, D32DIS=0;
@ FPEXC.EN=1): ARTIQ kernels on CPU1 use NEON and d16-d31.
    .type __satman_cpu_early, %function
__satman_cpu_early:
    mrc     p15, 0, r0, c1, c0, 0   @ SCTLR
    bic     r0, r0, #0x1            @ M: MMU off
    bic     r0, r0, #0x4            @ C: data cache off
    bic     r0, r0, #0x800          @ Z: branch prediction off
    bic     r0, r0, #0x1000         @ I: instruction cache off
    bic     r0, r0, #0x2000         @ V: low vectors, so VBAR applies
    mcr     p15, 0, r0, c1, c0, 0
    isb
    mov     r0, #0
    mcr     p15, 0, r0, c8, c7, 0   @ TLBIALL
    mcr     p15, 0, r0, c7, c5, 0   @ ICIALLU
    mcr     p15, 0, r0, c7, c5, 6   @ BPIALL
    ldr     r0, =__satman_vectors
    mcr     p15, 0, r0, c12, c0, 0  @ VBAR
    mrc     p15, 0, r0, c1, c0, 2   @ CPACR
    orr     r0, r0, #0x00F00000     @ cp10, cp11: full access
    bic     r0, r0, #0xC0000000     @ ASEDIS=0 (NEON on), D32DIS=0 (d16-d31 on)
    mcr     p15, 0, r0, c1, c0, 2
    isb
    mov     r0, #0x40000000         @ FPEXC.EN
    vmsr    fpexc, r0
    dsb
    isb
    bx      lr

@ CPU0, before the MMU and caches go off: a loader may leave the L1
@ D-cache and the PL310 L2 on with dirty lines (our image, its data). L1
@ is cleaned and invalidated by set/way (4 ways x 256 sets of 32 bytes),
@ then an enabled L2 is cleaned and invalidated by way (all 8), synced and
@ disabled (PL310 TRM: control 0x100, cache sync 0x730, clean+invalidate by
@ way 0x7FC). The background operation's wait is bounded. No stack, no RAM
@ writes; clobbers r0-r3.
    .type __satman_loader_caches_off, %function
__satman_loader_caches_off:
    mrc     p15, 0, r0, c1, c0, 0   @ SCTLR
    tst     r0, #0x4                @ C: D-cache on?
    beq     3f
    mov     r1, #0                  @ way
1:  mov     r2, #0                  @ set
2:  lsl     r3, r1, #30
    orr     r3, r3, r2, lsl #5
    mcr     p15, 0, r3, c7, c14, 2  @ DCCISW
    add     r2, r2, #1
    cmp     r2, #256
    blo     2b
    add     r1, r1, #1
    cmp     r1, #4
    blo     1b
    dsb
3:  ldr     r0, =0xF8F02000         @ PL310
    ldr     r1, [r0, #0x100]        @ control
    tst     r1, #1
    beq     6f
    mov     r1, #0xFF
    str     r1, [r0, #0x7FC]        @ clean and invalidate ways 0-7
    ldr     r2, =1000000
4:  ldr     r1, [r0, #0x7FC]
    tst     r1, #0xFF
    beq     5f
    subs    r2, r2, #1
    bne     4b
5:  mov     r1, #0
    str     r1, [r0, #0x730]        @ cache sync
    dsb
    str     r1, [r0, #0x100]        @ L2 off
    dsb
6:  bx      lr

@ r0 = top of this CPU's stack region. Must be called in SVC mode (lr is
@ banked). Leaves SVC mode with IRQ/FIQ masked. Clobbers r0.
    .type __satman_set_stacks, %function
__satman_set_stacks:
    msr     cpsr_c, #0xD2           @ IRQ
    mov     sp, r0
    sub     r0, r0, #{exc_stack}
    msr     cpsr_c, #0xD7           @ abort
    mov     sp, r0
    sub     r0, r0, #{exc_stack}
    msr     cpsr_c, #0xDB           @ undefined
    mov     sp, r0
    sub     r0, r0, #{exc_stack}
    msr     cpsr_c, #0xD1           @ FIQ (never unmasked)
    mov     sp, r0
    msr     cpsr_c, #0xD3           @ SVC
    mov     sp, r0
    bx      lr

@ Zero [r0, r1), both word aligned. Clobbers r0-r2. Plain stores only: this
@ runs with the MMU off, where exclusives and unaligned accesses are not safe.
    .type __satman_zero, %function
__satman_zero:
    mov     r2, #0
1:  cmp     r0, r1
    strlo   r2, [r0], #4
    blo     1b
    bx      lr

@ CPU1 under QEMU: wait for the BootROM-style release. No stack, no RAM
@ writes. The GIC CPU interface must be on for an SGI to end WFI; every
@ interrupt that wakes us is acknowledged here (IRQs stay masked), else WFI
@ would return at once forever. Gated: 0xFFFF_FFF0 survives a soft reset
@ (OCM is not reloaded) and still holds the previous run's entry, so CPU1
@ looks at it only once CPU0 has opened __satman_cpu1_gate (in .data,
@ which QEMU reloads from the ELF at every reset: closed again after one).
    .type __satman_cpu1_park, %function
__satman_cpu1_park:
    bl      __satman_cpu_early
    ldr     r4, =0xF8F00100         @ GIC CPU interface (banked per CPU)
    ldr     r5, =0xF8F01000         @ GIC distributor
    movw    r0, #0xFFFF
    str     r0, [r5, #0x100]        @ ICDISER0: SGIs 0-15 on (banked per CPU)
    mov     r0, #0xF0
    str     r0, [r4, #0x4]          @ ICCPMR: let priorities < 0xF0 through
    mov     r0, #1
    str     r0, [r4, #0x0]          @ ICCICR: interface on
    ldr     r6, =0xFFFFFFF0         @ BootROM CPU1 start address word
    movw    r7, #1023               @ spurious interrupt id
    ldr     r8, =__satman_cpu1_gate
    ldr     r9, ={gate_open}
1:  dsb
    ldr     r0, [r8]
    cmp     r0, r9
    bne     2f
    ldr     r0, [r6]
    cmp     r0, #0
    bxne    r0
2:  wfi
    ldr     r1, [r4, #0xC]          @ ICCIAR: acknowledge
    ubfx    r2, r1, #0, #10
    cmp     r2, r7
    strne   r1, [r4, #0x10]         @ ICCEOIR
    b       1b

@ CPU1's entry point, published at 0xFFFF_FFF0 by CPU0. Reached from the
@ park above (QEMU) or from the BootROM (silicon), MMU off either way.
    .global __satman_cpu1_entry
    .type __satman_cpu1_entry, %function
__satman_cpu1_entry:
    cpsid   if
    msr     cpsr_c, #0xD3
    bl      __satman_cpu_early
    ldr     r0, =__stack1_end
    bl      __satman_set_stacks
    bl      __satman_cpu1_rust
    b       .

@ IRQ: save what Rust may clobber (see module docs), dispatch, return or,
@ on CPU1's stop request, abandon the interrupted context.
    .type __satman_irq, %function
__satman_irq:
    sub     lr, lr, #4
    push    {{r0-r3, r12, lr}}      @ 24 bytes
    vmrs    r0, fpscr
    push    {{r0, r1}}              @ 8 bytes (r1: padding, keeps 8-byte alignment)
    vpush   {{d0-d7}}               @ 64 bytes
    bl      __satman_irq_rust
    cmp     r0, #0
    bne     __satman_cpu1_abandon
    vpop    {{d0-d7}}
    pop     {{r0, r1}}
    vmsr    fpscr, r0
    ldm     sp!, {{r0-r3, r12, pc}}^

@ CPU1 stop request accepted (already EOI'd): drop everything the interrupted
@ code had, rebuild all stacks and restart in Rust. IRQs stay masked.
    .type __satman_cpu1_abandon, %function
__satman_cpu1_abandon:
    msr     cpsr_c, #0xD3
    ldr     r0, =__stack1_end
    bl      __satman_set_stacks
    clrex                           @ no exclusive reservation survives
    bl      __satman_cpu1_restarted
    b       .

@ Synchronous exceptions and FIQ: save r0-r12 and the faulting address
@ (56 bytes, keeps 8-byte alignment) and report through Rust, which panics.
    .macro satman_exception name, kind, adjust
    .type \name, %function
\name:
    sub     lr, lr, #\adjust
    push    {{r0-r12, lr}}
    mov     r0, #\kind
    mov     r1, sp
    mrs     r2, spsr
    bl      __satman_exception
    b       .
    .endm

    satman_exception __satman_und,  1, 4
    satman_exception __satman_svc,  2, 0
    satman_exception __satman_pabt, 3, 4
    satman_exception __satman_dabt, 4, 8
    satman_exception __satman_fiq,  5, 4
"#,
    exc_stack = const EXCEPTION_STACK_SIZE,
    gate_open = const CPU1_GATE_OPEN,
);

/// [`__satman_cpu1_gate`] values.
pub const CPU1_GATE_CLOSED: u32 = 0xC105_ED00;
pub const CPU1_GATE_OPEN: u32 = 0x0BE7_0BE7;

/// Opened by CPU0 when it releases CPU1 (after publishing the entry at
/// 0xFFFF_FFF0): until then our QEMU park ignores that word, which may be
/// stale (see the park in the assembly above). In `.data` so that a reset
/// of a `-kernel` boot reloads it closed.
#[unsafe(no_mangle)]
#[used]
#[allow(non_upper_case_globals)]
pub static mut __satman_cpu1_gate: u32 = CPU1_GATE_CLOSED;

unsafe extern "C" {
    /// CPU1's entry point (above); its address is what CPU0 publishes at
    /// 0xFFFF_FFF0.
    pub fn __satman_cpu1_entry() -> !;
}

/// CPU0's first Rust code; MMU and caches are still off.
#[unsafe(no_mangle)]
extern "C" fn __satman_cpu0_rust() -> ! {
    super::cpu0_start()
}

/// Address range of a linker-defined region, `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: usize,
    pub end: usize,
}

impl Region {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn contains(&self, addr: usize) -> bool {
        addr >= self.start && addr < self.end
    }
}

macro_rules! region_fn {
    ($(#[$doc:meta])* $name:ident, $start:ident, $end:ident) => {
        $(#[$doc])*
        pub fn $name() -> Region {
            unsafe extern "C" {
                static $start: u8;
                static $end: u8;
            }
            Region {
                start: (&raw const $start) as usize,
                end: (&raw const $end) as usize,
            }
        }
    };
}

/// The linker-defined regions of docs/architecture.md.
pub mod regions {
    use super::Region;
    region_fn!(
        /// CPU0 stack (and its IRQ/abort/undefined stacks).
        stack0, __stack0_start, __stack0_end
    );
    region_fn!(
        /// CPU1 stack; kernels run on it.
        stack1, __stack1_start, __stack1_end
    );
    region_fn!(
        /// CPU0 heap.
        heap0, __heap0_start, __heap0_end
    );
    region_fn!(
        /// DDMA trace arena (owned by CPU0, see libdma).
        ddma, __ddma_start, __ddma_end
    );
    region_fn!(
        /// CPU1 heap and kernel images.
        heap1, __heap1_start, __heap1_end
    );
    region_fn!(
        /// CPU0/CPU1 shared state.
        shared, __shared_start, __shared_end
    );
    region_fn!(
        /// The part of `shared` only CPU0 writes (`.shared.cpu0`, whole
        /// pages; read-only for CPU1).
        shared_cpu0, __shared_cpu0_start, __shared_cpu0_end
    );
    region_fn!(
        /// The firmware image and its .bss.
        image, __text_start, __bss_end
    );
    region_fn!(
        /// The image's code and read-only data (up to `.data`).
        code, __text_start, __data_start
    );
    region_fn!(
        /// CPU0's crash log, kept across a soft reset.
        crashlog, __crashlog_start, __crashlog_end
    );
    region_fn!(
        /// The statics CPU1 writes (`.cpu1`, whole pages).
        cpu1_data, __cpu1_start, __cpu1_end
    );
}
