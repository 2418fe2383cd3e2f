//! Single-producer, single-consumer mailbox between CPU0 and CPU1.
//!
//! Both directions of the CPU0/CPU1 channel are one of these, placed in memory
//! both cores see coherently (the SCU keeps the L1 caches in step). Neither
//! side ever waits inside the mailbox: `try_send` fails when the ring is full
//! and `try_recv` returns `None` when it is empty, so each caller decides how
//! long it is willing to wait and what to do after.
//!
//! Messages are `Copy`: a mailbox can be reset while it still holds messages
//! without running destructors. Anything a message points to stays owned by
//! the side that sent it until the receiver replies.
//!
//! Reset protocol: [`Mailbox::reset`] may only run while the other side is
//! known not to touch this mailbox (CPU1 resets both directions while CPU0
//! waits for its restart acknowledgement).
//!
//! One producer and one consumer: each mailbox has exactly one sending
//! context and one receiving context (a CPU's main loop, never an interrupt
//! handler). The methods are safe fns on `&self`, so that rule is kept by
//! the callers, not by the types; issue 9 item 8 asks for producer and
//! consumer handles that would make it a type-level fact.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering};

pub struct Mailbox<T: Copy, const N: usize> {
    /// Total messages ever written; only the producer stores it.
    head: AtomicUsize,
    /// Total messages ever read; only the consumer stores it.
    tail: AtomicUsize,
    slots: [UnsafeCell<MaybeUninit<T>>; N],
}

// SAFETY: a slot is written only by the producer before it publishes `head`
// (Release) and read only by the consumer after it observes `head` (Acquire);
// the slot is not reused until the consumer publishes `tail`.
unsafe impl<T: Copy + Send, const N: usize> Sync for Mailbox<T, N> {}

impl<T: Copy, const N: usize> Mailbox<T, N> {
    pub const fn new() -> Self {
        Mailbox {
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            slots: [const { UnsafeCell::new(MaybeUninit::uninit()) }; N],
        }
    }

    /// Producer side: queue `msg`, or hand it back if the ring is full.
    pub fn try_send(&self, msg: T) -> Result<(), T> {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        if head.wrapping_sub(tail) >= N {
            return Err(msg);
        }
        // SAFETY: the slot at `head` is free (fewer than N messages are
        // queued and the consumer published `tail` past it, Acquire above);
        // the consumer reads it only after `head` moves past it below, and
        // there is one producer (module docs).
        unsafe { (*self.slots[head % N].get()).write(msg) };
        self.head.store(head.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Consumer side: take the oldest message, if any.
    pub fn try_recv(&self) -> Option<T> {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        // SAFETY: `tail != head`, so the producer wrote this slot and
        // published it (Acquire on `head` above); it does not write it again
        // until `tail` moves past it below, and there is one consumer (module
        // docs). `T: Copy`: reading it out leaves nothing to drop twice.
        let msg = unsafe { (*self.slots[tail % N].get()).assume_init_read() };
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        Some(msg)
    }

    /// Number of messages waiting (a snapshot; either side may call it).
    pub fn len(&self) -> usize {
        let tail = self.tail.load(Ordering::Acquire);
        self.head.load(Ordering::Acquire).wrapping_sub(tail)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every queued message. See the module docs for when this is allowed.
    pub fn reset(&self) {
        self.tail.store(self.head.load(Ordering::Acquire), Ordering::Release);
    }
}

impl<T: Copy, const N: usize> Default for Mailbox<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_and_capacity() {
        let mb: Mailbox<u32, 4> = Mailbox::new();
        assert_eq!(mb.try_recv(), None);
        for i in 0..4 {
            mb.try_send(i).unwrap();
        }
        assert_eq!(mb.try_send(9), Err(9));
        assert_eq!(mb.len(), 4);
        for i in 0..4 {
            assert_eq!(mb.try_recv(), Some(i));
        }
        assert!(mb.is_empty());
    }

    #[test]
    fn wraps_around_many_times() {
        let mb: Mailbox<u64, 3> = Mailbox::new();
        for i in 0..1000u64 {
            mb.try_send(i).unwrap();
            mb.try_send(i + 1).unwrap();
            assert_eq!(mb.try_recv(), Some(i));
            assert_eq!(mb.try_recv(), Some(i + 1));
        }
    }

    #[test]
    fn reset_discards_pending() {
        let mb: Mailbox<u8, 2> = Mailbox::new();
        mb.try_send(1).unwrap();
        mb.try_send(2).unwrap();
        mb.reset();
        assert_eq!(mb.try_recv(), None);
        mb.try_send(3).unwrap();
        assert_eq!(mb.try_recv(), Some(3));
    }

    #[test]
    fn two_threads_lose_nothing() {
        extern crate std;
        use std::sync::Arc;
        let mb: Arc<Mailbox<u32, 8>> = Arc::new(Mailbox::new());
        let tx = mb.clone();
        let producer = std::thread::spawn(move || {
            for i in 0..100_000u32 {
                while tx.try_send(i).is_err() {
                    std::hint::spin_loop();
                }
            }
        });
        let mut next = 0u32;
        while next < 100_000 {
            if let Some(v) = mb.try_recv() {
                assert_eq!(v, next);
                next += 1;
            }
        }
        producer.join().unwrap();
    }
}
