//! Lock-free single-producer single-consumer byte ring, used for CPU1's log
//! lines towards CPU0.
//!
//! The producer publishes whole records only: [`ByteRing::push_all`]
//! either queues all of its bytes or none, and advances `head` once at the
//! end. So a producer stopped at any instruction (CPU1 restarted by SGI)
//! leaves at worst an unpublished partial record, which simply never
//! appears. Neither side ever waits.
//!
//! The ring is two statics: [`RingData`] (the bytes and the write index,
//! written by the producer) and the read index (an `AtomicUsize`, written
//! by the consumer), so that the read index can live in a page the producer
//! cannot write (`.shared.cpu0` for CPU1's log ring, `mmu.rs`). All-zero is
//! valid for both, so they can live in the `.shared` region (zeroed by CPU0
//! at boot, see linker/satman.ld); [`ByteRing`], which refers to them, must
//! not (a reference is not valid all-zero).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The producer's half: the bytes and the write index.
pub struct RingData<const N: usize> {
    /// Total bytes ever published (producer only writes).
    head: AtomicUsize,
    buf: UnsafeCell<[u8; N]>,
}

// SAFETY: bytes are written only by the producer in the free part of the
// ring before `head` is published (Release), and read only by the consumer
// after observing `head` (Acquire) and before publishing the read index
// (`ByteRing`'s methods, whose contracts make one producer and one
// consumer).
unsafe impl<const N: usize> Sync for RingData<N> {}

impl<const N: usize> RingData<N> {
    pub const fn new() -> Self {
        RingData { head: AtomicUsize::new(0), buf: UnsafeCell::new([0; N]) }
    }
}

/// A ring: its data and its read index (total bytes ever consumed, only
/// the consumer writes it).
pub struct ByteRing<const N: usize> {
    data: &'static RingData<N>,
    tail: &'static AtomicUsize,
}

impl<const N: usize> ByteRing<N> {
    /// The ring made of `data` and `tail` (both zero, and this ring's only).
    pub const fn new(data: &'static RingData<N>, tail: &'static AtomicUsize) -> Self {
        ByteRing { data, tail }
    }

    /// Producer: queues all of `data`, or nothing if it does not fit.
    ///
    /// # Safety
    /// No other `push_all` on this ring runs meanwhile (one producer: one
    /// CPU, with IRQs masked or from one context only).
    pub unsafe fn push_all(&self, data: &[u8]) -> bool {
        let head = self.data.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        let used = head.wrapping_sub(tail);
        if data.len() > N - used {
            return false;
        }
        let buf = self.data.buf.get() as *mut u8;
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: `i < data.len() <= N - used`, so the index lies in the
            // free part of the ring, which the consumer does not read until
            // `head` is published below, and the caller is the one producer.
            unsafe { buf.add(head.wrapping_add(i) % N).write(b) };
        }
        self.data.head
            .store(head.wrapping_add(data.len()), Ordering::Release);
        true
    }

    /// Consumer: hands the published bytes to `f` in at most two contiguous
    /// slices, then frees them. Returns the number of bytes consumed.
    ///
    /// # Safety
    /// No other `drain` on this ring runs meanwhile (one consumer).
    pub unsafe fn drain(&self, mut f: impl FnMut(&[u8])) -> usize {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.data.head.load(Ordering::Acquire);
        let len = head.wrapping_sub(tail);
        if len == 0 {
            return 0;
        }
        let start = tail % N;
        let first = len.min(N - start);
        let buf = self.data.buf.get() as *const u8;
        // SAFETY: `start + first <= N` and `len - first <= start`; the bytes
        // `tail..head` were published by the producer (Acquire on `head`),
        // which does not overwrite them before `tail` moves past them below,
        // and the caller is the one consumer.
        unsafe {
            f(core::slice::from_raw_parts(buf.add(start), first));
            if first < len {
                f(core::slice::from_raw_parts(buf, len - first));
            }
        }
        self.tail.store(head, Ordering::Release);
        len
    }

    /// Bytes waiting (a snapshot).
    pub fn len(&self) -> usize {
        self.data.head
            .load(Ordering::Acquire)
            .wrapping_sub(self.tail.load(Ordering::Acquire))
    }
}

