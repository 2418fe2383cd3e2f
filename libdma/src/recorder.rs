//! Appends RTIO output events to a trace being recorded.
//!
//! The recorder runs on the kernel CPU inside `rtio_output`, so it is the hot
//! path of `core_dma.record`: it writes each record straight into memory lent
//! by the store (a [`Lease`](crate::Lease)) with a handful of stores and one
//! bounds check, and asks its caller for more room when the lease is full.

use crate::record::{HEADER_LEN, MAX_WORDS};

/// The lease is full; the caller must obtain a bigger one and
/// [`Recorder::rebase`] before retrying the same event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderFull {
    /// Bytes the event needs beyond what is recorded so far.
    pub needed: usize,
}

/// Writes records into a lease: `room` bytes are free at `pos`, and the
/// recording so far is `base .. pos`.
///
/// Keeping the free room itself (rather than a capacity and a length) makes
/// the hot path one compare against a field, one load of `pos`, the stores
/// and two updates; an inactive recorder is all zero, so it has no room.
#[derive(Debug)]
pub struct Recorder {
    pos: *mut u8,
    room: usize,
    base: *mut u8,
}

// SAFETY: the recorder is the only writer of its lease until it stops; it
// holds no reference to anything else.
unsafe impl Send for Recorder {}

impl Recorder {
    pub const fn new() -> Self {
        Recorder { pos: core::ptr::null_mut(), room: 0, base: core::ptr::null_mut() }
    }

    /// Starts recording into `cap` bytes at `ptr`.
    ///
    /// # Safety
    /// The memory is valid, writable and used by nobody else until
    /// [`Recorder::stop`] or the next `start`/`rebase`.
    pub unsafe fn start(&mut self, ptr: *mut u8, cap: usize) {
        self.base = ptr;
        self.pos = ptr;
        self.room = cap;
    }

    /// Continues in a bigger lease that already holds the bytes recorded so far.
    ///
    /// # Safety
    /// As for [`Recorder::start`]; `cap >= len()`.
    pub unsafe fn rebase(&mut self, ptr: *mut u8, cap: usize) {
        let len = self.len();
        debug_assert!(cap >= len);
        self.base = ptr;
        // SAFETY: `len <= cap`, so `ptr + len` is inside (or one past) the lease.
        self.pos = unsafe { ptr.add(len) };
        self.room = cap.saturating_sub(len);
    }

    pub fn is_active(&self) -> bool {
        !self.base.is_null()
    }

    /// Bytes recorded so far.
    pub fn len(&self) -> usize {
        self.pos as usize - self.base as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends the recording and returns the recorded length; the lease goes
    /// back to its owner.
    pub fn stop(&mut self) -> usize {
        let len = self.len();
        *self = Recorder::new();
        len
    }

    /// Records a one-word output event (the common `rtio_output` case).
    ///
    /// An inactive recorder has no room, so this fails with
    /// [`RecorderFull`] when nothing is being recorded: the kernel's
    /// `rtio_output` relies on that to test "recording, and room for the
    /// event" with this one bounds check, and asks
    /// [`is_active`](Self::is_active) only on failure.
    #[inline(always)]
    pub fn output(&mut self, target: u32, timestamp: i64, data: u32) -> Result<(), RecorderFull> {
        const LEN: usize = HEADER_LEN + 4;
        if self.room < LEN {
            return Err(RecorderFull { needed: LEN });
        }
        // SAFETY: `room >= LEN` bytes at `pos` belong to the lease, which
        // only this recorder writes (see `start`).
        unsafe { write_one(self.pos, target, timestamp, data) };
        // SAFETY: as above; `pos + LEN` stays inside (or one past) the lease.
        self.pos = unsafe { self.pos.add(LEN) };
        self.room -= LEN;
        Ok(())
    }

    /// Records an event with up to 16 data words (least significant first).
    /// More than 16 words are truncated to 16, as the gateware would.
    pub fn output_wide(&mut self, target: u32, timestamp: i64, words: &[u32]) -> Result<(), RecorderFull> {
        let words = &words[..words.len().min(MAX_WORDS)];
        let len = HEADER_LEN + 4 * words.len();
        if self.room < len {
            return Err(RecorderFull { needed: len });
        }
        // SAFETY: `room >= len` bytes at `pos` belong to the lease.
        let rec = unsafe { core::slice::from_raw_parts_mut(self.pos, len) };
        crate::record::encode(rec, target, timestamp, words);
        // SAFETY: as above.
        self.pos = unsafe { self.pos.add(len) };
        self.room -= len;
        Ok(())
    }
}

/// Writes one 17-byte record (one data word) at `p`, in the layout of
/// [`crate::record`].
///
/// # Safety
/// `p .. p + 17` is writable.
#[cfg(not(target_arch = "arm"))]
#[inline(always)]
unsafe fn write_one(p: *mut u8, target: u32, timestamp: i64, data: u32) {
    const LEN: u8 = (HEADER_LEN + 4) as u8;
    // SAFETY: the caller's; every write is within `p .. p + 17`.
    unsafe {
        // The three channel bytes are the target's upper 24 bits: the
        // target as one LE word, then the length over its low byte.
        p.cast::<[u8; 4]>().write_unaligned(target.to_le_bytes());
        p.write(LEN);
        p.add(4).cast::<[u8; 8]>().write_unaligned(timestamp.to_le_bytes());
        p.add(12).write(target as u8);
        p.add(13).cast::<[u8; 4]>().write_unaligned(data.to_le_bytes());
    }
}

/// [`write_one`] on the Cortex-A9: five stores, four of them unaligned
/// words. The firmware is built with `+strict-align`, so the compiler turns
/// every unaligned write into byte stores (17 `strb` and their shifts,
/// about 30 instructions); the CPUs run with SCTLR.A clear (its reset
/// value, which the firmware never sets), where ARMv7 `str` to Normal
/// memory (the DDMA arena) may be unaligned. `strd`/`stm` may not: none
/// here.
///
/// # Safety
/// `p .. p + 17` is writable Normal memory, and SCTLR.A is clear.
#[cfg(target_arch = "arm")]
#[inline(always)]
unsafe fn write_one(p: *mut u8, target: u32, timestamp: i64, data: u32) {
    const LEN: u32 = (HEADER_LEN + 4) as u32;
    // SAFETY: the caller's; every store is within `p .. p + 17`, plain
    // `str`/`strb` (no doubleword or multiple store).
    unsafe {
        core::arch::asm!(
            "str {w0}, [{p}]",
            "str {lo}, [{p}, #4]",
            "str {hi}, [{p}, #8]",
            "strb {t}, [{p}, #12]",
            "str {d}, [{p}, #13]",
            p = in(reg) p,
            // The length over the target's low byte: the channel bytes stay.
            w0 = in(reg) (target & !0xff) | LEN,
            lo = in(reg) timestamp as u32,
            hi = in(reg) (timestamp >> 32) as u32,
            t = in(reg) target,
            d = in(reg) data,
            options(nostack, preserves_flags),
        );
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Records;

    #[test]
    fn records_events_and_reports_full() {
        let mut buf = [0u8; 40];
        let mut r = Recorder::new();
        assert!(!r.is_active());
        // SAFETY: `buf` outlives the recording and is not touched until `stop`.
        unsafe { r.start(buf.as_mut_ptr(), buf.len()) };
        r.output(0x0100_0F00, 5, 1).unwrap();
        r.output_wide(0x0100_0F01, 7, &[2, 3]).unwrap();
        assert_eq!(r.len(), 17 + 21);
        assert_eq!(r.output(0x0100_0F00, 9, 0), Err(RecorderFull { needed: 17 }));
        let len = r.stop();
        let recs: std::vec::Vec<_> = Records::new(&buf[..len]).map(Result::unwrap).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[0].target, recs[0].timestamp, recs[0].word(0)), (0x0100_0F00, 5, 1));
        assert_eq!(recs[1].words().collect::<std::vec::Vec<_>>(), [2, 3]);
    }

    #[test]
    fn inactive_recorder_has_no_room() {
        let mut r = Recorder::new();
        assert_eq!(r.output(0x0100_0F00, 1, 1), Err(RecorderFull { needed: 17 }));
        assert_eq!(r.output_wide(0x0100_0F00, 1, &[]), Err(RecorderFull { needed: 13 }));
        let mut buf = [0u8; 17];
        // SAFETY: `buf` outlives the recording and is not touched until `stop`.
        unsafe { r.start(buf.as_mut_ptr(), buf.len()) };
        r.output(0x0100_0F00, 1, 1).unwrap();
        r.stop();
        assert_eq!(r.output(0x0100_0F00, 2, 2), Err(RecorderFull { needed: 17 }));
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn rebase_continues_in_bigger_lease() {
        let mut small = [0u8; 20];
        let mut big = [0u8; 64];
        let mut r = Recorder::new();
        // SAFETY: `small` is not touched until the rebase below.
        unsafe { r.start(small.as_mut_ptr(), small.len()) };
        r.output(0x100, 1, 1).unwrap();
        assert!(r.output(0x100, 2, 2).is_err());
        big[..17].copy_from_slice(&small[..17]);
        // SAFETY: `big` holds the 17 bytes recorded so far and is not touched until `stop`.
        unsafe { r.rebase(big.as_mut_ptr(), big.len()) };
        r.output(0x100, 2, 2).unwrap();
        assert_eq!(crate::record::validate(&big[..r.stop()]), Ok(2));
    }
}
