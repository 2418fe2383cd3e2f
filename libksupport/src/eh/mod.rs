//! Catching ARTIQ exceptions inside kernels: an ARM EHABI unwinder for the
//! kernel image, with ARTIQ's LSDA interpreted directly.
//!
//! The host-testable core (everything but [`target`]) works on a
//! [`Memory`] with checked reads and a virtual register set ([`Regs`]):
//!
//! * [`exidx`]: lookup of the `.ARM.exidx` entry covering an address
//!   (binary search over PREL31 entries; CANTUNWIND; inline compact
//!   entries; pointers into `.ARM.extab`) and decoding of the entry's
//!   personality (compact model 0/1/2, or the generic model with its LSDA);
//! * [`opcodes`]: the interpreter of the EHABI frame-unwinding instructions
//!   (ARM IHI 0038, §10.3), which moves a [`Regs`] from a frame to its caller;
//! * [`lsda`]: the GCC-style LSDA the ARTIQ compiler puts after the unwind
//!   opcodes of every function with a landing pad, and the match of an
//!   exception id against a call site's action chain;
//! * [`walk`]: the frame walk behind both phases (search: the first frame
//!   with a matching `except`; cleanup: the first frame with a matching
//!   `except` or a `finally`);
//! * [`inflight`]: the bookkeeping of exceptions in flight (raised and not
//!   yet ended), with their copies and backtraces.
//!
//! [`target`] (ARM only) connects them to the kernel ABI: `__artiq_raise`,
//! `__artiq_resume`, `__artiq_end_catch`, and the capture of the kernel's
//! registers at every raising API call.
//!
//! # The personality
//!
//! Every generic-model entry of a kernel image is taken to be ARTIQ's: the
//! only personality a kernel can import is `__artiq_personality` (the
//! firmware offers no other, so an image referring to another does not
//! load), and the ARTIQ compiler defines none itself. Its LSDA is
//! interpreted here, the way the reference's personality does it (a catch
//! clause matches when the u32 its type-table entry points at equals the
//! exception id; a null entry catches everything), so the firmware never
//! calls `__artiq_personality`, which stays a stub. Compact-model entries
//! (personalities 0, 1, 2) only unwind: ARTIQ code never has handlers there.
//!
//! # Robustness
//!
//! Tables come from the kernel image and registers from its stack: all of it
//! is untrusted. Every read goes through [`Memory`] (which bounds it), every
//! loop is bounded, all address arithmetic is checked or explicitly
//! wrapping, and a malformed table ends the walk with an [`Error`], never a
//! panic.

pub mod exidx;
pub mod inflight;
pub mod lsda;
pub mod opcodes;
#[cfg(target_arch = "arm")]
pub mod target;

#[cfg(test)]
mod tests;

use core::fmt;
use core::ops::Range;

pub use exidx::{lookup, Lookup, Personality, UnwindEntry};
pub use lsda::FrameAction;
pub use opcodes::Opcodes;

/// Most frames a walk visits before giving up (a corrupt stack could
/// otherwise loop; ARTIQ kernels are far shallower).
pub const MAX_FRAMES: usize = 4096;

/// Most `(ip, sp)` pairs reported with an uncaught exception, as the
/// reference does.
pub const MAX_BACKTRACE: usize = 128;

/// Read access to the memory the unwinder inspects. Implementations bound
/// every read (`None` = not readable), so tables and stacks from a kernel
/// can point anywhere.
pub trait Memory {
    fn read_u8(&self, addr: u32) -> Option<u8>;

    /// A little-endian word at any alignment.
    fn read_u32(&self, addr: u32) -> Option<u32> {
        let mut b = [0u8; 4];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = self.read_u8(addr.checked_add(i as u32)?)?;
        }
        Some(u32::from_le_bytes(b))
    }
}

/// Why unwinding stopped short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A read the [`Memory`] refused.
    BadRead(u32),
    /// A malformed table or value: what, and where.
    Malformed(&'static str, u32),
    /// A pointer or value encoding the unwinder does not implement.
    Unsupported(&'static str, u32),
    /// A spare, reserved or unsupported unwind opcode (iWMMXt, PAC).
    BadOpcode(u8),
    /// The "refuse to unwind" opcode.
    RefuseToUnwind,
    /// The stack pointer went down, or a frame repeated itself.
    NoProgress { pc: u32, sp: u32 },
    /// More than [`MAX_FRAMES`] frames.
    TooManyFrames,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BadRead(a) => write!(f, "unreadable address {:#x}", a),
            Error::Malformed(what, a) => write!(f, "malformed {} at {:#x}", what, a),
            Error::Unsupported(what, v) => write!(f, "unsupported {} {:#x}", what, v),
            Error::BadOpcode(op) => write!(f, "unsupported unwind opcode {:#04x}", op),
            Error::RefuseToUnwind => write!(f, "frame refuses to unwind"),
            Error::NoProgress { pc, sp } => write!(f, "stack does not unwind at pc {:#x} sp {:#x}", pc, sp),
            Error::TooManyFrames => write!(f, "more than {} frames", MAX_FRAMES),
        }
    }
}

pub(crate) fn read8<M: Memory + ?Sized>(mem: &M, addr: u32) -> Result<u8, Error> {
    mem.read_u8(addr).ok_or(Error::BadRead(addr))
}

pub(crate) fn read32<M: Memory + ?Sized>(mem: &M, addr: u32) -> Result<u32, Error> {
    mem.read_u32(addr).ok_or(Error::BadRead(addr))
}

/// The virtual register set: core registers r0–r15 and VFP d0–d31.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub r: [u32; 16],
    pub d: [u64; 32],
}

pub const SP: usize = 13;
pub const LR: usize = 14;
pub const PC: usize = 15;

impl Regs {
    /// The state of a frame at its call to a function that has not touched
    /// the callee-saved registers yet: `r4_r11`, the caller's `sp` and the
    /// return address `lr` (which becomes the frame's pc), `d8_d15`.
    pub fn at_call(r4_r11: [u32; 8], sp: u32, lr: u32, d8_d15: [u64; 8]) -> Regs {
        let mut regs = Regs::default();
        regs.r[4..12].copy_from_slice(&r4_r11);
        regs.r[SP] = sp;
        regs.r[LR] = lr;
        regs.r[PC] = lr;
        regs.d[8..16].copy_from_slice(&d8_d15);
        regs
    }

    /// The address looked up for this frame: one before the return address
    /// (a call that ends a function returns past its end; bit 0 is the
    /// Thumb bit).
    pub fn ip(&self) -> u32 {
        (self.r[PC] & !1).wrapping_sub(1)
    }
}

/// Where a kernel image is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The image's memory (`base .. base + size`): frames whose pc lies
    /// outside are not kernel frames and end the walk.
    pub code: Range<u32>,
    /// Its `.ARM.exidx` table.
    pub exidx: Range<u32>,
}

/// Which landing pads a walk stops at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Phase 1: only a matching `except` (or catch-all).
    Search,
    /// Phase 2: a matching `except` or a cleanup (`finally`).
    Cleanup,
}

/// What kind of landing pad a walk found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadKind {
    Handler,
    Cleanup,
}

/// A landing pad to enter: its address and the registers of its frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Landing {
    pub pad: u32,
    pub kind: PadKind,
    /// The frame's registers (sp, r4–r11, d8–d15 as the frame expects them).
    pub regs: Regs,
    /// How many frames were unwound to get there (0: the raising frame).
    pub depth: usize,
}

/// Walks the kernel's frames from `start` (the frame that raised, as
/// [`Regs::at_call`] describes it) to the first frame with a landing pad of
/// the kind `phase` stops at for exception `exn_id`. Calls `visit` for every
/// kernel frame looked at, innermost first (that is the backtrace).
///
/// `Ok(None)`: the end of the kernel's stack (a CANTUNWIND entry, a frame
/// whose pc is outside the image or has no entry, or a null return
/// address).
pub fn walk<M: Memory + ?Sized>(
    mem: &M,
    image: &Image,
    start: &Regs,
    exn_id: u32,
    phase: Phase,
    visit: &mut dyn FnMut(&Regs),
) -> Result<Option<Landing>, Error> {
    let mut regs = *start;
    for depth in 0..MAX_FRAMES {
        let ip = regs.ip();
        if !image.code.contains(&ip) {
            return Ok(None);
        }
        let entry = match lookup(mem, &image.exidx, ip)? {
            Lookup::Found(e) => e,
            Lookup::NotFound | Lookup::CantUnwind => {
                visit(&regs);
                return Ok(None);
            }
        };
        visit(&regs);
        if let Personality::Generic { lsda, .. } = entry.personality {
            let action = lsda::frame_action(mem, lsda, entry.fn_start, ip, exn_id)?;
            let found = match (action, phase) {
                (FrameAction::Catch(pad), _) => Some((pad, PadKind::Handler)),
                (FrameAction::Cleanup(pad), Phase::Cleanup) => Some((pad, PadKind::Cleanup)),
                _ => None,
            };
            if let Some((pad, kind)) = found {
                return Ok(Some(Landing { pad, kind, regs, depth }));
            }
        }
        let before = regs;
        let mut ops = entry.opcodes;
        opcodes::execute(mem, &mut ops, &mut regs)?;
        if regs.r[PC] == 0 {
            return Ok(None);
        }
        let (sp0, sp1) = (before.r[SP], regs.r[SP]);
        if sp1 < sp0 || (sp1 == sp0 && regs.r[PC] == before.r[PC]) {
            return Err(Error::NoProgress { pc: regs.r[PC], sp: sp1 });
        }
    }
    Err(Error::TooManyFrames)
}
