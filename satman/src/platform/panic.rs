//! Panics and fatal CPU exceptions.
//!
//! * CPU0: the message and location go to UART1 and the log buffer
//!   ([`super::logger::panic_write`], which never waits unboundedly); the
//!   log's tail goes to the crash region and the system resets through the
//!   SLCR ([`super::crash`]); the next boot serves those lines. Only a crash
//!   loop halts (QEMU: exits with [`PANIC_EXIT_CODE`] through semihosting).
//!   Tests see a panic as the reboot, the crash lines in the next boot's
//!   log, and the "C0 PANIC" line on UART1.
//! * CPU1: the line goes through CPU1's lock-free log ring, a fault record
//!   (`FirmwarePanic`) is published for CPU0 ([`super::cpu1::take_fault`]),
//!   the shared state becomes `Panicked` and CPU1 sleeps with IRQs enabled,
//!   so CPU0 ends the kernel through its teardown, which restarts CPU1 with
//!   SGI 0.
//! * A panic while already panicking on the same CPU skips straight to the
//!   end (halt / exit / park) with a short raw message.
//! * Data/prefetch aborts, undefined instructions, unexpected SVCs and FIQs
//!   arrive in [`__satman_exception`] (from `boot.rs`). On CPU0 they become
//!   panics with the fault registers in the message. On CPU1 (a kernel's
//!   fault, or its firmware's) they are classified
//!   ([`satman::fault::CpuFault::classify`]: alignment, stack overflow into
//!   the guard below CPU1's stack, ...), published as a fault record, logged,
//!   and CPU1 parks like after a panic: the master gets the fault as the
//!   kernel's exception (issue 9 item 1).

use super::cpu::{self, Cpu};
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

/// QEMU exit status after a panic on CPU0.
pub const PANIC_EXIT_CODE: u32 = 101;

static CPU0_PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    cpu::mask_irqs();
    let cpu = cpu::current();
    let nested = match cpu {
        Cpu::Cpu0 => CPU0_PANICKING.swap(true, Ordering::Relaxed),
        Cpu::Cpu1 => super::cpu1::cpu1_panicking(),
    };
    if cpu == Cpu::Cpu1 && !nested {
        super::cpu1::record_fault(satman::fault::CpuFault::classify(
            satman::fault::Vector::Panic,
            0,
            0,
            0,
            0..0,
        ));
    }
    if nested {
        if cpu == Cpu::Cpu0 {
            super::uart::emergency_write_console(b"\nsatman: panic while panicking\n", 1000);
        }
        final_stop(cpu, false)
    }
    match info.location() {
        Some(l) => super::logger::panic_write(
            cpu,
            format_args!(
                "{} at {}:{}:{}",
                info.message(),
                l.file(),
                l.line(),
                l.column()
            ),
        ),
        None => super::logger::panic_write(cpu, format_args!("{}", info.message())),
    }
    final_stop(cpu, true)
}

fn final_stop(cpu: Cpu, may_exit: bool) -> ! {
    match cpu {
        Cpu::Cpu1 => super::cpu1::panic_park(),
        Cpu::Cpu0 => {
            super::crash::save_and_reset();
            // A crash loop: stop.
            if cfg!(feature = "qemu") && may_exit {
                super::semihosting::exit(PANIC_EXIT_CODE)
            }
            super::logger::panic_write(Cpu::Cpu0, format_args!("CPU0 halted"));
            halt()
        }
    }
}

/// Stops the calling CPU for good: IRQs masked, WFI forever (a pending
/// interrupt only ends one WFI). Callers log why before coming here.
pub fn halt() -> ! {
    cpu::mask_irqs();
    loop {
        cpu::wfi();
    }
}

/// CPU1's fatal exception: classify, publish for CPU0, log, park.
fn cpu1_fault(kind: u32, pc: u32, (dfsr, dfar, ifsr, ifar): (u32, u32, u32, u32), spsr: u32) -> ! {
    use satman::fault::{CpuFault, Vector};
    if super::cpu1::cpu1_enter_fault() {
        // Faulted while handling a fault or a panic: publish nothing more.
        super::cpu1::panic_park()
    }
    let guard = super::mmu::cpu1_stack_guard();
    let fault = match kind {
        1 => CpuFault::classify(Vector::UndefinedInstruction, pc, 0, 0, guard),
        3 => CpuFault::classify(Vector::PrefetchAbort, pc, ifar, ifsr, guard),
        4 => CpuFault::classify(Vector::DataAbort, pc, dfar, dfsr, guard),
        _ => CpuFault::classify(Vector::Unexpected, pc, 0, 0, guard),
    };
    super::cpu1::record_fault(fault);
    super::logger::panic_write(
        Cpu::Cpu1,
        format_args!("{} at pc={:#010x}: DFAR={:#010x}, DFSR={:#x}, IFSR={:#x}, spsr={:#x}", kind_name(kind), pc, dfar, dfsr, ifsr, spsr),
    );
    super::cpu1::panic_park()
}

/// Exception kinds as numbered by the stubs in `boot.rs`.
fn kind_name(kind: u32) -> &'static str {
    match kind {
        1 => "undefined instruction",
        2 => "unexpected SVC",
        3 => "prefetch abort",
        4 => "data abort",
        5 => "FIQ",
        _ => "unknown exception",
    }
}

fn read_fault_regs() -> (u32, u32, u32, u32) {
    let (dfsr, dfar, ifsr, ifar): (u32, u32, u32, u32);
    // SAFETY: reading the fault status and address registers has no side effect.
    unsafe {
        core::arch::asm!(
            "mrc p15, 0, {0}, c5, c0, 0", // DFSR
            "mrc p15, 0, {1}, c6, c0, 0", // DFAR
            "mrc p15, 0, {2}, c5, c0, 1", // IFSR
            "mrc p15, 0, {3}, c6, c0, 2", // IFAR
            out(reg) dfsr, out(reg) dfar, out(reg) ifsr, out(reg) ifar,
            options(nomem, nostack, preserves_flags)
        );
    }
    (dfsr, dfar, ifsr, ifar)
}

/// Rust half of the exception stubs: `regs` points at the saved r0-r12 and
/// the faulting instruction's address.
#[unsafe(no_mangle)]
extern "C" fn __satman_exception(kind: u32, regs: *const [u32; 14], spsr: u32) -> ! {
    // SAFETY: the stub passes its own stack frame of 14 saved words, alive
    // until this function (which never returns) is done with it.
    let regs = unsafe { &*regs };
    let pc = regs[13];
    let (dfsr, dfar, ifsr, ifar) = read_fault_regs();
    if cpu::current() == Cpu::Cpu1 {
        cpu1_fault(kind, pc, (dfsr, dfar, ifsr, ifar), spsr)
    }
    match kind {
        4 => panic!(
            "{} at pc={:#010x}: address {:#010x}, DFSR={:#x}, spsr={:#x}, r0-r3={:x?}",
            kind_name(kind),
            pc,
            dfar,
            dfsr,
            spsr,
            &regs[..4]
        ),
        3 => panic!(
            "{} at pc={:#010x}: IFAR={:#010x}, IFSR={:#x}, spsr={:#x}",
            kind_name(kind),
            pc,
            ifar,
            ifsr,
            spsr
        ),
        _ => panic!("{} at pc={:#010x}, spsr={:#x}", kind_name(kind), pc, spsr),
    }
}
