//! Start-up: the vector table, the reset entry of both CPUs, the flat MMU
//! map, and the hand-over to the loaded application.
//!
//! # CPU0
//! SVC mode, IRQ/FIQ masked, MMU/caches/branch prediction off, stack at the
//! top of the image, `.bss` zeroed, then [`super::main`]. The MMU is then
//! turned on with a flat map and no caches: with the MMU off every access is
//! strongly ordered, which faults on the unaligned loads compiled Rust may
//! emit. Caches stay off, so nothing needs cleaning before the hand-over.
//!
//! # CPU1 (QEMU only)
//! QEMU's `-kernel` starts both CPUs at the ELF entry. CPU1 must end up
//! where satman's release expects it, i.e. behaving like the BootROM: wait
//! (WFI, woken by an SGI) for a non-zero address at 0xFFFF_FFF0 and jump
//! there with the MMU off. The word at 0xFFFF_FFF0 survives QEMU's system
//! reset (OCM is not reloaded), so it still holds the *previous* firmware's
//! CPU1 entry after a reboot: CPU1 only looks at it once CPU0 has cleared it
//! and opened [`CPU1_GATE`]. The gate lives in `.data`, which QEMU rewrites
//! from the ELF at every reset, so it is closed again after a reboot. CPU1
//! runs only this stack-less loop, inside the loader's own image (OCM),
//! which satman never writes.
//!
//! On silicon the BootROM keeps CPU1 in its own loop and never runs this.

use core::arch::global_asm;

/// [`CPU1_GATE`] values.
pub const GATE_CLOSED: u32 = 0xC105_ED00;
pub const GATE_OPEN: u32 = 0x0BE7_0BE7;

/// Opened by CPU0 once 0xFFFF_FFF0 is cleared (see the module docs).
#[unsafe(no_mangle)]
#[used]
pub static mut CPU1_GATE: u32 = GATE_CLOSED;

global_asm!(
    r#"
    .section .text.vectors, "ax"
    .arm
    .balign 32
    .global __satboot_vectors
__satboot_vectors:
    b       _start                  @ reset
    b       1f                      @ undefined instruction
    b       2f                      @ supervisor call
    b       3f                      @ prefetch abort
    b       4f                      @ data abort
    b       .                       @ reserved
    b       .                       @ IRQ (never enabled)
    b       .                       @ FIQ (never enabled)
1:  mov     r0, #1
    b       __satboot_trap
2:  mov     r0, #2
    b       __satboot_trap
3:  mov     r0, #3
    b       __satboot_trap
4:  mov     r0, #4
    b       __satboot_trap

    .section .text.boot, "ax"
    .arm
    .global _start
    .type _start, %function
_start:
    cpsid   if
    msr     cpsr_c, #0xD3           @ SVC, IRQ and FIQ masked
    mrc     p15, 0, r0, c1, c0, 0   @ SCTLR
    bic     r0, r0, #0x1            @ M: MMU off
    bic     r0, r0, #0x4            @ C: data cache off
    bic     r0, r0, #0x800          @ Z: branch prediction off
    bic     r0, r0, #0x1000         @ I: instruction cache off
    bic     r0, r0, #0x2000         @ V: low vectors, VBAR applies
    mcr     p15, 0, r0, c1, c0, 0
    isb
    mov     r0, #0
    mcr     p15, 0, r0, c8, c7, 0   @ TLBIALL
    mcr     p15, 0, r0, c7, c5, 0   @ ICIALLU
    mcr     p15, 0, r0, c7, c5, 6   @ BPIALL
    ldr     r0, =__satboot_vectors
    mcr     p15, 0, r0, c12, c0, 0  @ VBAR
    dsb
    isb
    mrc     p15, 0, r0, c0, c0, 5   @ MPIDR
    ands    r0, r0, #3
    bne     __satboot_cpu1_park
    ldr     sp, =__stack_end
    ldr     r0, =__bss_start
    ldr     r1, =__bss_end
    mov     r2, #0
5:  cmp     r0, r1
    strlo   r2, [r0], #4
    blo     5b
    bl      __satboot_main
    b       .

@ CPU1 (QEMU): BootROM-style wait, gated (module docs). No stack, no RAM writes.
    .type __satboot_cpu1_park, %function
__satboot_cpu1_park:
    ldr     r4, =0xF8F00100         @ GIC CPU interface (banked)
    ldr     r5, =0xF8F01000         @ GIC distributor
    movw    r0, #0xFFFF
    str     r0, [r5, #0x100]        @ ICDISER0: SGIs on (banked)
    mov     r0, #0xF0
    str     r0, [r4, #0x4]          @ ICCPMR
    mov     r0, #1
    str     r0, [r4, #0x0]          @ ICCICR: interface on, so an SGI ends WFI
    ldr     r6, =0xFFFFFFF0
    ldr     r7, =CPU1_GATE
    ldr     r8, ={gate_open}
    movw    r9, #1023               @ spurious id
6:  wfi
    ldr     r1, [r4, #0xC]          @ ICCIAR
    ubfx    r2, r1, #0, #10
    cmp     r2, r9
    strne   r1, [r4, #0x10]         @ ICCEOIR
    dsb
    ldr     r0, [r7]
    cmp     r0, r8
    bne     6b
    ldr     r0, [r6]
    cmp     r0, #0
    beq     6b
    bx      r0

@ r0 = entry. MMU off (flat map: execution continues), I-cache and branch
@ predictor invalidated, then the jump. Caches were never on.
    .global __satboot_jump
    .type __satboot_jump, %function
__satboot_jump:
    dsb
    mrc     p15, 0, r1, c1, c0, 0
    bic     r1, r1, #0x1
    mcr     p15, 0, r1, c1, c0, 0
    isb
    mov     r1, #0
    mcr     p15, 0, r1, c8, c7, 0   @ TLBIALL
    mcr     p15, 0, r1, c7, c5, 0   @ ICIALLU
    mcr     p15, 0, r1, c7, c5, 6   @ BPIALL
    dsb
    isb
    bx      r0
"#,
    gate_open = const GATE_OPEN,
);

unsafe extern "C" {
    /// Turns the MMU off and jumps to `entry` (never returns).
    pub fn __satboot_jump(entry: u32) -> !;
}

/// Fault entry from the vectors: log and halt.
#[unsafe(no_mangle)]
extern "C" fn __satboot_trap(kind: u32) -> ! {
    let what = match kind {
        1 => "undefined instruction",
        2 => "supervisor call",
        3 => "prefetch abort",
        _ => "data abort",
    };
    super::halt(format_args!("CPU exception: {what}"))
}

/// Flat first-level table: 4096 1-MiB sections.
#[repr(C, align(16384))]
struct Table([u32; 4096]);

static mut TABLE: Table = Table([0; 4096]);

/// Section attributes: AP = full access, domain 0.
const SECTION: u32 = 0b10 | (0b11 << 10);
/// Normal memory, not cacheable (TEX=001, C=0, B=0), shareable.
const NORMAL_NC: u32 = SECTION | (1 << 12) | (1 << 16);
/// Shareable device, execute-never.
const DEVICE: u32 = SECTION | (1 << 2) | (1 << 4);

/// Turns the MMU on with a flat map: DDR (first GiB) and the high OCM
/// section normal non-cacheable, everything else device memory.
pub fn mmu_on() {
    // SAFETY: CPU0 only, once, before anything else uses TABLE; the MMU
    // does not walk it until TTBR0 is set below.
    let table = unsafe { &mut *(&raw mut TABLE) };
    for (i, e) in table.0.iter_mut().enumerate() {
        let normal = i < 0x400 || i == 0xFFF;
        *e = ((i as u32) << 20) | if normal { NORMAL_NC } else { DEVICE };
    }
    let base = table.0.as_ptr() as u32;
    // SAFETY: the table maps every address to itself, so the code, stack
    // and data in use stay where they are when translation starts; walks
    // are non-cacheable (TTBR0 attribute bits 0), matching the caches off.
    unsafe {
        core::arch::asm!(
            "dsb",
            "mcr p15, 0, {z}, c2, c0, 2",   // TTBCR = 0: TTBR0 for all addresses
            "mcr p15, 0, {base}, c2, c0, 0", // TTBR0
            "mcr p15, 0, {dacr}, c3, c0, 0", // DACR: domain 0 client
            "mcr p15, 0, {z}, c8, c7, 0",   // TLBIALL
            "dsb",
            "isb",
            "mrc p15, 0, {t}, c1, c0, 0",
            "bic {t}, {t}, #0x2",             // A: no alignment faults
            "orr {t}, {t}, #0x1",             // M: MMU on
            "mcr p15, 0, {t}, c1, c0, 0",
            "isb",
            z = in(reg) 0u32,
            base = in(reg) base,
            dacr = in(reg) 1u32,
            t = out(reg) _,
        );
    }
}
