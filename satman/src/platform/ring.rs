//! Lock-free single-producer single-consumer byte ring, used for CPU1's log
//! lines towards CPU0.
//!
//! The producer publishes whole records only: [`ByteRing::push_all`]
//! either queues all of its bytes or none, and advances `head` once at the
//! end. So a producer stopped at any instruction (CPU1 restarted by SGI)
//! leaves at worst an unpublished partial record, which simply never
//! appears. Neither side ever waits.
//!
//! All-zero is a valid empty ring, so it can live in the `.shared` region
//! (zeroed by CPU0 at boot, see linker/satman.ld).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

pub struct ByteRing<const N: usize> {
    /// Total bytes ever published (producer only writes).
    head: AtomicUsize,
    /// Total bytes ever consumed (consumer only writes).
    tail: AtomicUsize,
    buf: UnsafeCell<[u8; N]>,
}

// SAFETY: bytes are written only by the producer in the free part of the
// ring before `head` is published (Release), and read only by the consumer
// after observing `head` (Acquire) and before publishing `tail`.
unsafe impl<const N: usize> Sync for ByteRing<N> {}

impl<const N: usize> ByteRing<N> {
    pub const fn new() -> Self {
        ByteRing {
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            buf: UnsafeCell::new([0; N]),
        }
    }

    /// Producer: queues all of `data`, or nothing if it does not fit.
    ///
    /// # Safety
    /// No other `push_all` on this ring runs meanwhile (one producer: one
    /// CPU, with IRQs masked or from one context only).
    pub unsafe fn push_all(&self, data: &[u8]) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        let used = head.wrapping_sub(tail);
        if data.len() > N - used {
            return false;
        }
        let buf = self.buf.get() as *mut u8;
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: `i < data.len() <= N - used`, so the index lies in the
            // free part of the ring, which the consumer does not read until
            // `head` is published below, and the caller is the one producer.
            unsafe { buf.add(head.wrapping_add(i) % N).write(b) };
        }
        self.head
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
        let head = self.head.load(Ordering::Acquire);
        let len = head.wrapping_sub(tail);
        if len == 0 {
            return 0;
        }
        let start = tail % N;
        let first = len.min(N - start);
        let buf = self.buf.get() as *const u8;
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
        self.head
            .load(Ordering::Acquire)
            .wrapping_sub(self.tail.load(Ordering::Acquire))
    }
}

impl<const N: usize> Default for ByteRing<N> {
    fn default() -> Self {
        Self::new()
    }
}
