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
//! # Two halves, two handles
//!
//! A mailbox is made of what only its producer writes, the [`Ring`] (the
//! slots and the write index), and what only its consumer writes, the
//! [`ReadIndex`]. They are separate values so that a firmware can place them
//! in different memory pages: satman puts the halves CPU0 writes where CPU1's
//! translation table lets it read but not write (`platform/mmu.rs`).
//! [`Mailbox`] names the two halves of one mailbox.
//!
//! Each side works through its handle: a [`Producer`] can only send, a
//! [`Consumer`] can only receive. Handles are `Send` (a CPU or thread takes
//! its own), neither `Sync` nor `Clone`, and taking one is `unsafe`: the
//! caller promises that, for each side, one handle at a time is in use, from
//! one context (a CPU's main loop or one thread, never an interrupt handler
//! as well). That is what keeps the ring sound; the types keep a side from
//! doing the other side's operations.
//!
//! # Reset
//!
//! [`Mailbox::reset`] drops every queued message. It may only run while no
//! handle of the mailbox is in the middle of an operation and the other side
//! will not touch the mailbox until it takes a fresh handle: satman's CPU0
//! resets both directions while CPU1 is stopped, and CPU1, which restarts its
//! main function from the top, then takes its handles again
//! ([`Mailbox::producer`], [`Mailbox::consumer`]); CPU0 keeps its own.

use core::cell::{Cell, UnsafeCell};
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The producer's half of a mailbox: the slots and the write index. Only
/// the producer writes it. All-zero is a valid empty ring.
pub struct Ring<T: Copy, const N: usize> {
    /// Total messages ever written; only the producer stores it.
    head: AtomicUsize,
    slots: [UnsafeCell<MaybeUninit<T>>; N],
}

// SAFETY: a slot is written only by the producer before it publishes `head`
// (Release) and read only by the consumer after it observes `head` (Acquire);
// the slot is not reused until the consumer publishes its read index. One
// producer and one consumer: the contract of taking a handle.
unsafe impl<T: Copy + Send, const N: usize> Sync for Ring<T, N> {}

impl<T: Copy, const N: usize> Ring<T, N> {
    pub const fn new() -> Self {
        Ring { head: AtomicUsize::new(0), slots: [const { UnsafeCell::new(MaybeUninit::uninit()) }; N] }
    }
}

impl<T: Copy, const N: usize> Default for Ring<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The consumer's half of a mailbox: the read index (total messages ever
/// read). Only the consumer writes it. All-zero is valid.
#[derive(Default)]
pub struct ReadIndex {
    tail: AtomicUsize,
}

impl ReadIndex {
    pub const fn new() -> Self {
        ReadIndex { tail: AtomicUsize::new(0) }
    }
}

/// The two halves of one mailbox (a pair of references, `Copy`).
pub struct Mailbox<'a, T: Copy, const N: usize> {
    ring: &'a Ring<T, N>,
    read: &'a ReadIndex,
}

impl<T: Copy, const N: usize> Clone for Mailbox<'_, T, N> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Copy, const N: usize> Copy for Mailbox<'_, T, N> {}

impl<'a, T: Copy, const N: usize> Mailbox<'a, T, N> {
    /// The mailbox made of `ring` and `read`. Each half must belong to this
    /// mailbox only.
    pub const fn new(ring: &'a Ring<T, N>, read: &'a ReadIndex) -> Self {
        Mailbox { ring, read }
    }

    /// The producer's handle.
    ///
    /// # Safety
    /// At most one `Producer` of this mailbox is in use at a time, from one
    /// context: take it once, or again only when the previous one is never
    /// used again (dropped, or abandoned by a CPU that was stopped and
    /// restarts from the top; see the module docs on reset).
    pub unsafe fn producer(self) -> Producer<'a, T, N> {
        Producer { ring: self.ring, read: self.read, _not_sync: PhantomData }
    }

    /// The consumer's handle.
    ///
    /// # Safety
    /// As for [`Mailbox::producer`], for `Consumer`s.
    pub unsafe fn consumer(self) -> Consumer<'a, T, N> {
        Consumer { ring: self.ring, read: self.read, _not_sync: PhantomData }
    }

    /// Both handles.
    ///
    /// # Safety
    /// Called once per mailbox, or again only when the handles of the
    /// previous call are never used again (the contracts of
    /// [`Mailbox::producer`] and [`Mailbox::consumer`] together).
    pub unsafe fn split(self) -> (Producer<'a, T, N>, Consumer<'a, T, N>) {
        // SAFETY: the caller's contract is both of theirs.
        unsafe { (self.producer(), self.consumer()) }
    }

    /// Drops every queued message.
    ///
    /// # Safety
    /// No handle of this mailbox is in the middle of an operation, and the
    /// side that is not the caller's does not use the mailbox until it takes
    /// a fresh handle (CPU1 stopped; see the module docs).
    pub unsafe fn reset(self) {
        self.read.tail.store(self.ring.head.load(Ordering::Acquire), Ordering::Release);
    }

    /// Number of messages waiting (a snapshot; either side may ask).
    pub fn len(self) -> usize {
        let tail = self.read.tail.load(Ordering::Acquire);
        self.ring.head.load(Ordering::Acquire).wrapping_sub(tail)
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// The sending side of a mailbox ([`Mailbox::producer`]). Writes the
/// [`Ring`] only; reads the [`ReadIndex`].
///
/// Not `Sync`, not `Clone`:
///
/// ```compile_fail
/// fn sync<X: Sync>() {}
/// sync::<libksupport::mailbox::Producer<'static, u32, 4>>();
/// ```
///
/// ```compile_fail
/// fn clone<X: Clone>() {}
/// clone::<libksupport::mailbox::Producer<'static, u32, 4>>();
/// ```
pub struct Producer<'a, T: Copy, const N: usize> {
    ring: &'a Ring<T, N>,
    read: &'a ReadIndex,
    /// `Send` but not `Sync`: one context uses a handle.
    _not_sync: PhantomData<Cell<()>>,
}

impl<T: Copy, const N: usize> Producer<'_, T, N> {
    /// Queues `msg`, or hands it back if the ring is full.
    pub fn try_send(&mut self, msg: T) -> Result<(), T> {
        let head = self.ring.head.load(Ordering::Relaxed);
        let tail = self.read.tail.load(Ordering::Acquire);
        if head.wrapping_sub(tail) >= N {
            return Err(msg);
        }
        // SAFETY: the slot at `head` is free (fewer than N messages are
        // queued and the consumer published its index past it, Acquire
        // above); the consumer reads it only after `head` moves past it
        // below, and this is the one producer (`Mailbox::producer`'s
        // contract; `&mut self` and `!Sync` keep this handle to one caller).
        unsafe { (*self.ring.slots[head % N].get()).write(msg) };
        self.ring.head.store(head.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Number of messages waiting (a snapshot).
    pub fn len(&self) -> usize {
        Mailbox { ring: self.ring, read: self.read }.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The receiving side of a mailbox ([`Mailbox::consumer`]). Writes the
/// [`ReadIndex`] only; reads the [`Ring`].
///
/// Not `Sync`, not `Clone`:
///
/// ```compile_fail
/// fn sync<X: Sync>() {}
/// sync::<libksupport::mailbox::Consumer<'static, u32, 4>>();
/// ```
///
/// ```compile_fail
/// fn clone<X: Clone>() {}
/// clone::<libksupport::mailbox::Consumer<'static, u32, 4>>();
/// ```
pub struct Consumer<'a, T: Copy, const N: usize> {
    ring: &'a Ring<T, N>,
    read: &'a ReadIndex,
    /// `Send` but not `Sync`: one context uses a handle.
    _not_sync: PhantomData<Cell<()>>,
}

impl<T: Copy, const N: usize> Consumer<'_, T, N> {
    /// Takes the oldest message, if any.
    pub fn try_recv(&mut self) -> Option<T> {
        let tail = self.read.tail.load(Ordering::Relaxed);
        let head = self.ring.head.load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        // SAFETY: `tail != head`, so the producer wrote this slot and
        // published it (Acquire on `head` above); it does not write it again
        // until the read index moves past it below, and this is the one
        // consumer (`Mailbox::consumer`'s contract). `T: Copy`: reading it
        // out leaves nothing to drop twice.
        let msg = unsafe { (*self.ring.slots[tail % N].get()).assume_init_read() };
        self.read.tail.store(tail.wrapping_add(1), Ordering::Release);
        Some(msg)
    }

    /// Number of messages waiting (a snapshot).
    pub fn len(&self) -> usize {
        Mailbox { ring: self.ring, read: self.read }.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;

    /// A fresh mailbox's halves, leaked (`'static`, as in the firmware).
    fn leaked<T: Copy + 'static, const N: usize>() -> Mailbox<'static, T, N> {
        let ring = std::boxed::Box::leak(std::boxed::Box::new(Ring::new()));
        let read = std::boxed::Box::leak(std::boxed::Box::new(ReadIndex::new()));
        Mailbox::new(ring, read)
    }

    #[test]
    fn fifo_order_and_capacity() {
        let (ring, read) = (Ring::<u32, 4>::new(), ReadIndex::new());
        let mb = Mailbox::new(&ring, &read);
        // SAFETY: the test's only handles of `mb`.
        let (mut tx, mut rx) = unsafe { mb.split() };
        assert_eq!(rx.try_recv(), None);
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(tx.try_send(9), Err(9));
        assert_eq!((mb.len(), tx.len(), rx.len()), (4, 4, 4));
        for i in 0..4 {
            assert_eq!(rx.try_recv(), Some(i));
        }
        assert!(mb.is_empty() && tx.is_empty() && rx.is_empty());
    }

    #[test]
    fn wraps_around_many_times() {
        let mb = leaked::<u64, 3>();
        // SAFETY: the test's only handles of `mb`.
        let (mut tx, mut rx) = unsafe { mb.split() };
        for i in 0..1000u64 {
            tx.try_send(i).unwrap();
            tx.try_send(i + 1).unwrap();
            assert_eq!(rx.try_recv(), Some(i));
            assert_eq!(rx.try_recv(), Some(i + 1));
        }
    }

    #[test]
    fn reset_discards_pending() {
        let mb = leaked::<u8, 2>();
        // SAFETY: the test's only handles of `mb`.
        let (mut tx, mut rx) = unsafe { mb.split() };
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        // SAFETY: neither handle is in use (one thread).
        unsafe { mb.reset() };
        assert_eq!(rx.try_recv(), None);
        tx.try_send(3).unwrap();
        assert_eq!(rx.try_recv(), Some(3));
    }

    /// The restart pattern: one side keeps its handle, the other side's is
    /// abandoned and taken afresh after a reset; nothing queued before the
    /// reset reaches the new handle.
    #[test]
    fn consumer_taken_again_after_reset() {
        let mb = leaked::<u32, 4>();
        // SAFETY: the test's only producer of `mb`, kept throughout.
        let mut tx = unsafe { mb.producer() };
        {
            // SAFETY: the first consumer, never used after this block ("CPU1 stopped").
            let mut rx = unsafe { mb.consumer() };
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
            assert_eq!(rx.try_recv(), Some(1));
        }
        // SAFETY: the abandoned consumer is never used again, no handle is
        // in the middle of an operation.
        unsafe { mb.reset() };
        // SAFETY: the previous consumer is gone.
        let mut rx = unsafe { mb.consumer() };
        assert_eq!(rx.try_recv(), None);
        for i in 10..14 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(tx.try_send(99), Err(99));
        for i in 10..14 {
            assert_eq!(rx.try_recv(), Some(i));
        }
    }

    /// The halves can live apart (as the firmware places them in different
    /// pages): the producer writes only the ring, the consumer only the
    /// read index.
    #[test]
    fn halves_written_only_by_their_side() {
        let (ring, read) = (Ring::<u32, 2>::new(), ReadIndex::new());
        let mb = Mailbox::new(&ring, &read);
        // SAFETY: the test's only handles of `mb`.
        let (mut tx, mut rx) = unsafe { mb.split() };
        tx.try_send(7).unwrap();
        assert_eq!((ring.head.load(Ordering::Relaxed), read.tail.load(Ordering::Relaxed)), (1, 0));
        assert_eq!(rx.try_recv(), Some(7));
        assert_eq!((ring.head.load(Ordering::Relaxed), read.tail.load(Ordering::Relaxed)), (1, 1));
    }

    #[test]
    fn handles_are_send_not_sync() {
        fn send<X: Send>() {}
        send::<Producer<'static, u32, 4>>();
        send::<Consumer<'static, u32, 4>>();
        // Neither `Sync` nor `Clone`: the `compile_fail` doctests of
        // `Producer` and `Consumer`.
    }

    #[test]
    fn two_threads_lose_nothing() {
        let mb = leaked::<u32, 8>();
        // SAFETY: one producer (moved to the thread) and one consumer.
        let (mut tx, mut rx) = unsafe { mb.split() };
        let producer = std::thread::spawn(move || {
            for i in 0..100_000u32 {
                while tx.try_send(i).is_err() {
                    std::hint::spin_loop();
                }
            }
        });
        let mut next = 0u32;
        while next < 100_000 {
            if let Some(v) = rx.try_recv() {
                assert_eq!(v, next);
                next += 1;
            }
        }
        producer.join().unwrap();
    }
}
