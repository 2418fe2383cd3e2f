//! Faults of the kernel CPU: what CPU1 reports when a kernel (or CPU1's own
//! firmware) takes a fatal CPU exception, how it is classified, and the text
//! the master gets.
//!
//! The firmware's exception vectors on CPU1 capture the raw facts (which
//! vector, the faulting PC, the fault address and status registers) into a
//! [`CpuFault`] with [`CpuFault::classify`] and park CPU1; CPU0 finds the
//! record through `KernelCpu::fault` and ends the kernel through the one
//! teardown (`End::Crashed`). The host simulation builds the same records,
//! so both report exactly the same exception.
//!
//! Classification follows the ARMv7-A short-descriptor fault status
//! encoding (ARM ARM B4.1.51/52: FS = FSR[10]:FSR[3:0], WnR = DFSR[11]).

use alloc::format;
use alloc::string::String;
use core::fmt;
use core::ops::Range;

/// Which vector CPU1 took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vector {
    UndefinedInstruction,
    PrefetchAbort,
    DataAbort,
    /// A Rust panic in CPU1's firmware (the runtime, the loader...).
    Panic,
    /// An SVC or FIQ nobody expects.
    Unexpected,
}

/// What went wrong, as the master is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    UndefinedInstruction,
    /// Instruction fetch from memory the kernel may not execute.
    PrefetchAbort,
    /// Load or store to memory that is not mapped, or not writable by
    /// kernels (satman's own memory).
    DataAbort,
    /// Unaligned `LDRD`/`STRD`/`LDM`/`STM`/exclusive access.
    Alignment,
    /// The kernel's stack ran into the guard below CPU1's stack.
    StackOverflow,
    /// CPU1's firmware panicked while serving the kernel.
    FirmwarePanic,
    /// An SVC or FIQ.
    UnexpectedException,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::UndefinedInstruction => "undefined instruction",
            FaultKind::PrefetchAbort => "prefetch abort",
            FaultKind::DataAbort => "data abort",
            FaultKind::Alignment => "alignment fault",
            FaultKind::StackOverflow => "stack overflow",
            FaultKind::FirmwarePanic => "firmware panic",
            FaultKind::UnexpectedException => "unexpected exception",
        }
    }

    /// Stable code for the shared fault record (0 = no fault).
    pub fn code(self) -> u32 {
        match self {
            FaultKind::UndefinedInstruction => 1,
            FaultKind::PrefetchAbort => 2,
            FaultKind::DataAbort => 3,
            FaultKind::Alignment => 4,
            FaultKind::StackOverflow => 5,
            FaultKind::FirmwarePanic => 6,
            FaultKind::UnexpectedException => 7,
        }
    }

    pub fn from_code(code: u32) -> Option<FaultKind> {
        Some(match code {
            1 => FaultKind::UndefinedInstruction,
            2 => FaultKind::PrefetchAbort,
            3 => FaultKind::DataAbort,
            4 => FaultKind::Alignment,
            5 => FaultKind::StackOverflow,
            6 => FaultKind::FirmwarePanic,
            7 => FaultKind::UnexpectedException,
            _ => return None,
        })
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fatal exception on the kernel CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuFault {
    pub kind: FaultKind,
    /// Address of the faulting instruction.
    pub pc: u32,
    /// The data address (data aborts, alignment, stack overflow), the
    /// instruction address (prefetch aborts), else 0.
    pub address: u32,
    /// DFSR or IFSR (0 where there is none).
    pub status: u32,
    /// Load address of the running kernel's image (0 if none was running),
    /// so the PC can be given relative to it.
    pub image_base: u32,
    /// Size of that image.
    pub image_size: u32,
}

/// Fault status (FS = FSR[10]:FSR[3:0]) of an alignment fault.
const FS_ALIGNMENT: u32 = 0b00001;

fn fault_status(fsr: u32) -> u32 {
    ((fsr >> 6) & 0x10) | (fsr & 0xF)
}

/// Name of a short-descriptor fault status, for the message.
fn status_name(fsr: u32) -> &'static str {
    match fault_status(fsr) {
        0b00001 => "alignment",
        0b00101 | 0b00111 => "translation (not mapped)",
        0b01101 | 0b01111 => "permission (not accessible to kernels)",
        0b00011 | 0b00110 => "access flag",
        0b01001 | 0b01011 => "domain",
        0b01000 => "synchronous external abort",
        0b10110 => "asynchronous external abort",
        0b00010 => "debug event",
        _ => "other",
    }
}

impl CpuFault {
    /// Classifies what a CPU1 exception vector saw. `far`/`fsr` are DFAR/DFSR
    /// for data aborts and IFAR/IFSR for prefetch aborts; `guard` is the
    /// unmapped range below CPU1's stack.
    pub fn classify(vector: Vector, pc: u32, far: u32, fsr: u32, guard: Range<u32>) -> CpuFault {
        let (kind, address, status) = match vector {
            Vector::UndefinedInstruction => (FaultKind::UndefinedInstruction, 0, 0),
            Vector::PrefetchAbort => (FaultKind::PrefetchAbort, far, fsr),
            Vector::DataAbort if fault_status(fsr) == FS_ALIGNMENT => (FaultKind::Alignment, far, fsr),
            Vector::DataAbort if guard.contains(&far) => (FaultKind::StackOverflow, far, fsr),
            Vector::DataAbort => (FaultKind::DataAbort, far, fsr),
            Vector::Panic => (FaultKind::FirmwarePanic, 0, 0),
            Vector::Unexpected => (FaultKind::UnexpectedException, 0, 0),
        };
        CpuFault { kind, pc, address, status, image_base: 0, image_size: 0 }
    }

    /// The PC relative to the kernel image, if it is inside it.
    pub fn image_offset(&self) -> Option<u32> {
        let off = self.pc.checked_sub(self.image_base)?;
        (self.image_size != 0 && off < self.image_size).then_some(off)
    }

    /// The exception message the master gets. No `{`/`}`: ARTIQ formats
    /// messages with the parameters.
    pub fn message(&self) -> String {
        let place = match self.image_offset() {
            Some(off) => format!("PC {:#010x} (kernel image + {:#x})", self.pc, off),
            None => format!("PC {:#010x} (not in the kernel image)", self.pc),
        };
        match self.kind {
            FaultKind::FirmwarePanic => {
                String::from("kernel CPU fault: firmware panic while serving the kernel (the satellite log has the cause)")
            }
            FaultKind::UndefinedInstruction | FaultKind::UnexpectedException => {
                format!("kernel CPU fault: {} at {}", self.kind, place)
            }
            FaultKind::PrefetchAbort => format!(
                "kernel CPU fault: prefetch abort at {}, address {:#010x}: {}",
                place,
                self.address,
                status_name(self.status)
            ),
            _ => {
                let access = if self.status & (1 << 11) != 0 { "write" } else { "read" };
                format!(
                    "kernel CPU fault: {} at {}, {} of address {:#010x}: {}",
                    self.kind,
                    place,
                    access,
                    self.address,
                    status_name(self.status)
                )
            }
        }
    }

    /// The exception's parameters: PC, address, fault status.
    pub fn params(&self) -> [i64; 3] {
        [self.pc as i64, self.address as i64, self.status as i64]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUARD: Range<u32> = 0x0020_0000..0x0030_0000;

    #[test]
    fn data_aborts_are_told_apart_by_status_and_address() {
        // DFSR 0x80d: write, permission fault (section).
        let f = CpuFault::classify(Vector::DataAbort, 0x1000, 0x0500_0000, 0x80D, GUARD);
        assert_eq!(f.kind, FaultKind::DataAbort);
        // Alignment fault, even inside the guard.
        let f = CpuFault::classify(Vector::DataAbort, 0x1000, 0x0020_0001, 0x001, GUARD);
        assert_eq!(f.kind, FaultKind::Alignment);
        // Translation fault in the guard: a stack overflow.
        let f = CpuFault::classify(Vector::DataAbort, 0x1000, 0x002F_FFF8, 0x805, GUARD);
        assert_eq!(f.kind, FaultKind::StackOverflow);
        let f = CpuFault::classify(Vector::PrefetchAbort, 0x3000_0000, 0x3000_0000, 0x005, GUARD);
        assert_eq!((f.kind, f.address), (FaultKind::PrefetchAbort, 0x3000_0000));
        let f = CpuFault::classify(Vector::UndefinedInstruction, 0x1234, 0xdead, 0xbeef, GUARD);
        assert_eq!((f.kind, f.address, f.status), (FaultKind::UndefinedInstruction, 0, 0));
    }

    #[test]
    fn the_message_names_the_fault_pc_and_address() {
        let mut f = CpuFault::classify(Vector::DataAbort, 0x0a00_0124, 0x0400_0010, 0x80D, GUARD);
        f.image_base = 0x0a00_0000;
        f.image_size = 0x1000;
        assert_eq!(
            f.message(),
            "kernel CPU fault: data abort at PC 0x0a000124 (kernel image + 0x124), write of address 0x04000010: \
             permission (not accessible to kernels)"
        );
        assert_eq!(f.params(), [0x0a00_0124, 0x0400_0010, 0x80D]);
        f.pc = 0x0010_0000;
        assert!(f.message().contains("(not in the kernel image)"));
        assert!(!f.message().contains('{'));
    }

    #[test]
    fn kinds_survive_the_shared_record_code() {
        for code in 1..=7 {
            assert_eq!(FaultKind::from_code(code).unwrap().code(), code);
        }
        assert_eq!(FaultKind::from_code(0), None);
        assert_eq!(FaultKind::from_code(8), None);
    }
}
