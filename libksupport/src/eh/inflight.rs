//! Exceptions in flight: raised and not yet ended.
//!
//! A kernel's exception object lives in the frame that raised it, which
//! unwinding destroys, so each raise is copied into a [`Slot`] of a fixed
//! pool (no allocation; slots never move, since landing pads hold pointers
//! to them). The slots form a stack, newest on top:
//!
//! * a raise pushes a slot; raising an in-flight slot's own object (a
//!   bare `raise` in a handler) first ends that slot and those above it;
//! * entering a landing pad marks the slot [`State::Caught`] (handler) or
//!   [`State::InCleanup`] (cleanup pad), and ends every other slot whose
//!   pad ran in a frame the new landing unwound (a handler left by raising);
//! * `__artiq_end_catch` ends the newest caught slot (and anything above);
//! * `__artiq_resume` continues the newest slot in a cleanup pad.
//!
//! When all slots are taken, the oldest caught one is given up (a handler
//! the kernel left without `__artiq_end_catch`); if none is caught, the
//! raise fails.

use crate::exception::{CSlice, Exception};

use super::MAX_BACKTRACE;

/// Slots (the reference keeps at most 10 exceptions in flight).
pub const MAX_IN_FLIGHT: usize = 10;

/// Bytes of text (message, file, function) copied with a firmware-raised
/// exception.
pub const TEXT_MAX: usize = 512;

/// What landing pads get in r0: an opaque block identifying the slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ucb {
    pub class: [u8; 8],
    pub slot: u32,
    pub reserved: u32,
}

/// `Ucb::class`.
pub const CLASS: [u8; 8] = *b"SATMAN\0\0";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Free,
    /// Raised; being searched for or unwound.
    Unwinding,
    /// In a cleanup pad (until `__artiq_resume`).
    InCleanup,
    /// In a handler (until `__artiq_end_catch`).
    Caught,
}

#[repr(C)]
pub struct Slot {
    pub ucb: Ucb,
    /// The copy landing pads get in r1.
    pub exn: Exception,
    pub state: State,
    /// Phase 1 found no handler: at the end of phase 2 it is reported.
    pub uncaught: bool,
    /// The sp of the frame whose landing pad last ran for it (0: none).
    pub frame_sp: u32,
    /// Kernel frames seen by phase 1: (pc − image base, sp), innermost first.
    pub backtrace: [(u32, u32); MAX_BACKTRACE],
    pub backtrace_len: usize,
    text: [u8; TEXT_MAX],
}

const PLACEHOLDER: Exception = Exception::firmware(0, "", [0; 3]);

impl Slot {
    const fn new(index: u32) -> Slot {
        Slot {
            ucb: Ucb { class: CLASS, slot: index, reserved: 0 },
            exn: PLACEHOLDER,
            state: State::Free,
            uncaught: false,
            frame_sp: 0,
            backtrace: [(0, 0); MAX_BACKTRACE],
            backtrace_len: 0,
            text: [0; TEXT_MAX],
        }
    }

    pub fn backtrace(&self) -> &[(u32, u32)] {
        &self.backtrace[..self.backtrace_len.min(MAX_BACKTRACE)]
    }

    /// Appends a frame to the backtrace (dropped past [`MAX_BACKTRACE`]).
    pub fn record(&mut self, ip: u32, sp: u32) {
        if self.backtrace_len < MAX_BACKTRACE {
            self.backtrace[self.backtrace_len] = (ip, sp);
            self.backtrace_len += 1;
        }
    }
}

/// The raise failed: every slot is taken and none is caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// The pool and the stack order.
pub struct InFlight {
    slots: [Slot; MAX_IN_FLIGHT],
    /// Slot indices, oldest first.
    order: [u8; MAX_IN_FLIGHT],
    len: usize,
}

impl Default for InFlight {
    fn default() -> Self {
        Self::new()
    }
}

impl InFlight {
    pub const fn new() -> InFlight {
        let mut slots = [const { Slot::new(0) }; MAX_IN_FLIGHT];
        let mut i = 0;
        while i < MAX_IN_FLIGHT {
            slots[i].ucb.slot = i as u32;
            i += 1;
        }
        InFlight { slots, order: [0; MAX_IN_FLIGHT], len: 0 }
    }

    /// Forgets every exception (a new kernel).
    pub fn reset(&mut self) {
        for s in self.slots.iter_mut() {
            s.state = State::Free;
        }
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn slot(&self, i: usize) -> &Slot {
        &self.slots[i]
    }

    pub fn slot_mut(&mut self, i: usize) -> &mut Slot {
        &mut self.slots[i]
    }

    /// Slot indices, oldest first.
    pub fn order(&self) -> &[u8] {
        &self.order[..self.len]
    }

    /// The slot whose exception copy is at `ptr`, if in flight.
    pub fn find_exception(&self, ptr: *const Exception) -> Option<usize> {
        self.order().iter().map(|&i| i as usize).find(|&i| core::ptr::eq(&self.slots[i].exn, ptr))
    }

    /// The slot whose control block is at `ptr`, if in flight.
    pub fn find_ucb(&self, ptr: *const Ucb) -> Option<usize> {
        self.order().iter().map(|&i| i as usize).find(|&i| core::ptr::eq(&self.slots[i].ucb, ptr))
    }

    /// Ends the slot at stack position `pos` and every newer one.
    fn truncate(&mut self, pos: usize) {
        for &i in &self.order[pos..self.len] {
            self.slots[i as usize].state = State::Free;
        }
        self.len = pos.min(self.len);
    }

    /// Ends one slot, wherever it is in the stack.
    pub fn remove(&mut self, slot: usize) {
        if let Some(pos) = self.order().iter().position(|&i| i as usize == slot) {
            self.order.copy_within(pos + 1..self.len, pos);
            self.len -= 1;
            self.slots[slot].state = State::Free;
        }
    }

    /// Takes a slot for a new raise of `exn`, whose object is at `origin`
    /// (for re-raise detection). With `copy_text`, the message, file and
    /// function are copied into the slot (at most [`TEXT_MAX`] bytes in all,
    /// each cut to fit): firmware exceptions keep their text in a buffer the
    /// next raise reuses.
    ///
    /// # Safety
    /// With `copy_text`, the strings (other than host keys) must be readable.
    pub unsafe fn raise(&mut self, exn: Exception, origin: *const Exception, copy_text: bool) -> Result<usize, Full> {
        if let Some(slot) = self.find_exception(origin) {
            let pos = self.order().iter().position(|&i| i as usize == slot).unwrap_or(self.len);
            self.truncate(pos);
        }
        if self.len == MAX_IN_FLIGHT {
            // Give up the oldest handler the kernel never ended.
            let caught = self.order().iter().map(|&i| i as usize).find(|&i| self.slots[i].state == State::Caught);
            match caught {
                Some(slot) => self.remove(slot),
                None => return Err(Full),
            }
        }
        let slot = (0..MAX_IN_FLIGHT).find(|&i| self.slots[i].state == State::Free).ok_or(Full)?;
        let s = &mut self.slots[slot];
        s.exn = exn;
        s.state = State::Unwinding;
        s.uncaught = false;
        s.frame_sp = 0;
        s.backtrace_len = 0;
        if copy_text {
            let mut used = 0;
            for field in [&mut s.exn.message, &mut s.exn.file, &mut s.exn.function] {
                if field.is_host_key() {
                    continue;
                }
                // SAFETY: not a host key (skipped above), and with `copy_text` the caller
                // guarantees the strings are readable.
                let text = unsafe { field.as_bytes() };
                let n = text.len().min(TEXT_MAX - used);
                s.text[used..used + n].copy_from_slice(&text[..n]);
                *field = CSlice::from_bytes(&s.text[used..used + n]);
                used += n;
            }
        }
        self.order[self.len] = slot as u8;
        self.len += 1;
        Ok(slot)
    }

    /// A landing pad is about to run for `slot` in the frame at `sp`.
    pub fn landed(&mut self, slot: usize, sp: u32, handler: bool) {
        let s = &mut self.slots[slot];
        s.state = if handler { State::Caught } else { State::InCleanup };
        s.frame_sp = sp;
        // Pads of older exceptions that ran in frames this landing unwound
        // are over.
        let mut k = 0;
        while k < self.len {
            let i = self.order[k] as usize;
            let f = self.slots[i].frame_sp;
            if i != slot && f != 0 && f < sp {
                self.remove(i);
            } else {
                k += 1;
            }
        }
    }

    /// `__artiq_end_catch`: ends the newest caught slot (and any newer).
    pub fn end_catch(&mut self) {
        if let Some(pos) = self.order().iter().rposition(|&i| self.slots[i as usize].state == State::Caught) {
            self.truncate(pos);
        }
    }

    /// The slot `__artiq_resume` continues: the newest in a cleanup pad
    /// (newer ones are ended), else the newest.
    pub fn resume(&mut self) -> Option<usize> {
        if let Some(pos) = self.order().iter().rposition(|&i| self.slots[i as usize].state == State::InCleanup) {
            self.truncate(pos + 1);
        }
        let top = *self.order().last()? as usize;
        self.slots[top].state = State::Unwinding;
        Some(top)
    }
}
