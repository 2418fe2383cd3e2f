//! [`Reassembler`]: joins the chunks of a payload sent over several packets
//! (subkernel images, DMA traces, messages, config writes, firmware).
//!
//! It is stricter than the reference firmware in two ways, both so that a
//! lost or misordered packet becomes a reported error rather than a
//! silently corrupt image:
//!
//! - A middle or last chunk with no upload in progress is an
//!   [`OrphanChunk`](ReassemblyError::OrphanChunk). The reference appends
//!   it to whatever is in the buffer, so a lost first chunk yields a
//!   payload missing its head, which then fails somewhere far from the
//!   cause (an ELF loader, a DMA engine).
//! - The size is capped and memory is reserved fallibly, so a runaway or
//!   hostile upload costs an error, not the heap.

use alloc::collections::TryReserveError;
use alloc::vec::Vec;
use core::fmt;

use crate::status::PayloadStatus;

/// What [`Reassembler::push`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Progress {
    /// More chunks are expected.
    Incomplete,
    /// The payload is complete; [`Reassembler::take`] returns it.
    Complete,
}

/// Why a chunk was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReassemblyError {
    /// A chunk not flagged first arrived while no upload was in progress
    /// (nothing started, or the last upload completed or failed). The chunk
    /// is dropped; a completed payload not yet taken is kept.
    OrphanChunk,
    /// The payload would grow to `size` bytes, above the `max` given to
    /// [`Reassembler::new`]. The partial payload is discarded.
    TooLarge { size: usize, max: usize },
    /// The allocator could not provide room for the chunk. The partial
    /// payload is discarded and its memory freed.
    OutOfMemory,
}

impl fmt::Display for ReassemblyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ReassemblyError::OrphanChunk => f.write_str("chunk without a first chunk"),
            ReassemblyError::TooLarge { size, max } => {
                write!(f, "payload of {size} bytes above maximum {max}")
            }
            ReassemblyError::OutOfMemory => f.write_str("out of memory for payload"),
        }
    }
}

impl core::error::Error for ReassemblyError {}

impl From<TryReserveError> for ReassemblyError {
    fn from(_: TryReserveError) -> Self {
        ReassemblyError::OutOfMemory
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No upload; only a first chunk is accepted.
    Idle,
    /// A first chunk was accepted, the last one not yet.
    InProgress,
    /// The last chunk was accepted; the payload waits for `take`.
    Complete,
}

/// Accumulates the chunks of one payload at a time, up to a maximum size.
#[derive(Debug, Clone)]
pub struct Reassembler {
    buf: Vec<u8>,
    max_size: usize,
    state: State,
}

impl Reassembler {
    /// An idle reassembler for payloads of at most `max_size` bytes.
    /// Nothing is allocated until the first chunk.
    pub const fn new(max_size: usize) -> Self {
        Reassembler {
            buf: Vec::new(),
            max_size,
            state: State::Idle,
        }
    }

    /// Adds a chunk.
    ///
    /// A chunk flagged first starts a new payload, dropping any previous
    /// one, complete or not (the sender restarted the upload). Any other
    /// chunk must continue an upload in progress.
    pub fn push(
        &mut self,
        status: PayloadStatus,
        chunk: &[u8],
    ) -> Result<Progress, ReassemblyError> {
        if status.is_first() {
            self.buf.clear();
            self.state = State::InProgress;
        } else if self.state != State::InProgress {
            return Err(ReassemblyError::OrphanChunk);
        }

        let size = self.buf.len().saturating_add(chunk.len());
        if size > self.max_size {
            self.reset();
            return Err(ReassemblyError::TooLarge {
                size,
                max: self.max_size,
            });
        }
        if let Err(err) = self.reserve(size) {
            self.reset();
            return Err(err);
        }
        self.buf.extend_from_slice(chunk);

        if status.is_last() {
            self.state = State::Complete;
            Ok(Progress::Complete)
        } else {
            Ok(Progress::Incomplete)
        }
    }

    /// Makes room for `size` bytes in total. Grows geometrically, as `Vec`
    /// does, so that many small chunks stay cheap, but never beyond
    /// `max_size`, so a capped payload never holds more memory than its cap.
    fn reserve(&mut self, size: usize) -> Result<(), ReassemblyError> {
        if size <= self.buf.capacity() {
            return Ok(());
        }
        // `size <= max_size` here, so the target is at least `size`.
        let target = self
            .buf
            .capacity()
            .saturating_mul(2)
            .max(size)
            .min(self.max_size);
        self.buf.try_reserve_exact(target - self.buf.len())?;
        Ok(())
    }

    /// Bytes of memory held now.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes of memory a push of a `chunk_len`-byte chunk (not first)
    /// would add at most: what [`Reassembler::push`] would reserve. A
    /// caller with a memory budget asks for this much before pushing.
    pub fn growth_for(&self, first: bool, chunk_len: usize) -> usize {
        let len = if first { 0 } else { self.buf.len() };
        let size = len.saturating_add(chunk_len);
        let cap = self.buf.capacity();
        if size <= cap || size > self.max_size {
            return 0;
        }
        cap.saturating_mul(2).max(size).min(self.max_size) - cap
    }

    /// The completed payload, leaving the reassembler idle; `None` if no
    /// payload is complete.
    pub fn take(&mut self) -> Option<Vec<u8>> {
        if self.state != State::Complete {
            return None;
        }
        self.state = State::Idle;
        Some(core::mem::take(&mut self.buf))
    }

    /// Drops any payload, complete or partial, and frees its memory.
    pub fn reset(&mut self) {
        self.buf = Vec::new();
        self.state = State::Idle;
    }

    /// Bytes accumulated so far (of the completed payload, once complete).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True if no bytes are held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// True once the last chunk was accepted, until `take` or `reset`.
    pub fn is_complete(&self) -> bool {
        self.state == State::Complete
    }

    /// True between a first chunk and the last one.
    pub fn in_progress(&self) -> bool {
        self.state == State::InProgress
    }

    /// The size cap given to [`new`](Self::new).
    pub fn max_size(&self) -> usize {
        self.max_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PayloadStatus::*;

    #[test]
    fn single_chunk() {
        let mut r = Reassembler::new(16);
        assert_eq!(r.push(FirstAndLast, b"abc"), Ok(Progress::Complete));
        assert!(r.is_complete());
        assert_eq!(r.len(), 3);
        assert_eq!(r.take().as_deref(), Some(&b"abc"[..]));
        assert!(!r.is_complete());
        assert!(r.is_empty());
        assert_eq!(r.take(), None);
    }

    #[test]
    fn several_chunks() {
        let mut r = Reassembler::new(16);
        assert_eq!(r.push(First, b"ab"), Ok(Progress::Incomplete));
        assert!(r.in_progress());
        assert_eq!(r.take(), None);
        assert_eq!(r.push(Middle, b""), Ok(Progress::Incomplete));
        assert_eq!(r.push(Middle, b"cd"), Ok(Progress::Incomplete));
        assert_eq!(r.push(Last, b"e"), Ok(Progress::Complete));
        assert_eq!(r.take().as_deref(), Some(&b"abcde"[..]));
    }

    #[test]
    fn first_chunk_restarts() {
        let mut r = Reassembler::new(16);
        r.push(First, b"old").unwrap();
        assert_eq!(r.push(First, b"new"), Ok(Progress::Incomplete));
        assert_eq!(r.push(Last, b"!"), Ok(Progress::Complete));
        // A first chunk also replaces a completed payload nobody took.
        assert_eq!(r.push(FirstAndLast, b"x"), Ok(Progress::Complete));
        assert_eq!(r.take().as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn orphan_chunks_are_refused() {
        let mut r = Reassembler::new(16);
        assert_eq!(r.push(Middle, b"a"), Err(ReassemblyError::OrphanChunk));
        assert_eq!(r.push(Last, b"a"), Err(ReassemblyError::OrphanChunk));
        assert!(r.is_empty());

        // After completion the payload survives a stray chunk.
        r.push(FirstAndLast, b"done").unwrap();
        assert_eq!(r.push(Last, b"more"), Err(ReassemblyError::OrphanChunk));
        assert_eq!(r.take().as_deref(), Some(&b"done"[..]));

        // After take the reassembler is idle again.
        assert_eq!(r.push(Middle, b"a"), Err(ReassemblyError::OrphanChunk));
    }

    #[test]
    fn too_large_discards() {
        let mut r = Reassembler::new(4);
        r.push(First, b"abc").unwrap();
        assert_eq!(
            r.push(Last, b"de"),
            Err(ReassemblyError::TooLarge { size: 5, max: 4 })
        );
        assert!(r.is_empty());
        assert!(!r.in_progress());
        // The rest of the failed upload is orphaned.
        assert_eq!(r.push(Last, b""), Err(ReassemblyError::OrphanChunk));
        // Exactly max is fine.
        assert_eq!(r.push(FirstAndLast, b"abcd"), Ok(Progress::Complete));
        assert_eq!(
            Reassembler::new(0).push(FirstAndLast, b"a"),
            Err(ReassemblyError::TooLarge { size: 1, max: 0 })
        );
    }

    #[test]
    fn capacity_never_exceeds_max() {
        let mut r = Reassembler::new(1000);
        r.push(First, &[0; 10]).unwrap();
        for _ in 0..98 {
            r.push(Middle, &[0; 10]).unwrap();
            assert!(r.buf.capacity() <= 1000);
        }
        assert_eq!(r.push(Last, &[0; 10]), Ok(Progress::Complete));
        assert_eq!(r.buf.capacity(), 1000);
    }

    #[test]
    fn growth_for_is_what_a_push_reserves() {
        let mut r = Reassembler::new(1000);
        assert_eq!(r.growth_for(true, 10), 10);
        r.push(First, &[0; 10]).unwrap();
        for _ in 0..50 {
            let before = r.capacity();
            let growth = r.growth_for(false, 10);
            r.push(Middle, &[0; 10]).unwrap();
            assert_eq!(r.capacity() - before, growth);
        }
        // Over the maximum: the push is refused, nothing is reserved.
        assert_eq!(r.growth_for(false, 1000), 0);
        // A first chunk reuses the buffer.
        assert_eq!(r.growth_for(true, 10), 0);
    }

    #[test]
    fn out_of_memory_is_an_error() {
        // No allocator can provide more than isize::MAX bytes, so this
        // exercises the fallible path without exhausting the test's heap.
        let mut r = Reassembler::new(usize::MAX);
        r.push(First, b"ab").unwrap();
        assert_eq!(
            r.reserve(isize::MAX as usize + 1),
            Err(ReassemblyError::OutOfMemory)
        );
        // The buffer is untouched by the failed reservation.
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn reset_drops_everything() {
        let mut r = Reassembler::new(16);
        r.push(First, b"abc").unwrap();
        r.reset();
        assert!(r.is_empty());
        assert_eq!(r.buf.capacity(), 0);
        assert_eq!(r.push(Last, b"x"), Err(ReassemblyError::OrphanChunk));
        assert_eq!(r.max_size(), 16);
    }
}
