//! Heap accounting for tests: a global allocator that attributes every
//! allocation to a *tracker*, so a test can assert that the satellite (its
//! CPU0 thread and its simulated kernel CPU) returns to its baseline even
//! while other tests run in the same process.
//!
//! Each allocation carries a 16-byte header holding the tracker slot it was
//! charged to and its size, so a block is credited back to the right tracker
//! whichever thread frees it. Threads not attached to a tracker (slot 0) are
//! not counted.
//!
//! Test binaries opt in with:
//! ```ignore
//! #[global_allocator]
//! static ALLOC: satman_systest::heap::TrackingAlloc = satman_systest::heap::TrackingAlloc;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};

const SLOTS: usize = 64;
const HEADER: usize = 16;

static BYTES: [AtomicIsize; SLOTS] = [const { AtomicIsize::new(0) }; SLOTS];
static PEAK: [AtomicIsize; SLOTS] = [const { AtomicIsize::new(0) }; SLOTS];
static BLOCKS: [AtomicIsize; SLOTS] = [const { AtomicIsize::new(0) }; SLOTS];
/// Bit n set = slot n in use (slot 0 is "untracked" and always taken).
static USED: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static SLOT: Cell<u8> = const { Cell::new(0) };
}

fn current_slot() -> u8 {
    SLOT.try_with(|s| s.get()).unwrap_or(0)
}

pub struct TrackingAlloc;

fn outer(layout: Layout) -> Option<(Layout, usize)> {
    let off = layout.align().max(HEADER);
    let l = Layout::from_size_align(layout.size().checked_add(off)?, layout.align().max(HEADER)).ok()?;
    Some((l, off))
}

// SAFETY: every block is the system allocator's, `off` bytes into an outer
// block of layout `l` whose alignment is the caller's (or more), so the user
// pointer keeps the requested alignment and size; `dealloc` recomputes the
// same `(l, off)` from the same layout and frees exactly that outer block.
unsafe impl GlobalAlloc for TrackingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((l, off)) = outer(layout) else { return std::ptr::null_mut() };
        // SAFETY: `l` is at least `off + size` > 0 bytes.
        let base = unsafe { System.alloc(l) };
        if base.is_null() {
            return base;
        }
        // SAFETY: `off < l.size()`, inside the fresh block.
        let user = unsafe { base.add(off) };
        let slot = current_slot();
        // SAFETY: `off >= HEADER` and `off` is a multiple of the outer
        // alignment (>= 8), so the header word lies inside the block, aligned.
        unsafe { user.sub(HEADER).cast::<u64>().write(slot as u64) };
        if slot != 0 {
            let s = slot as usize;
            let now = BYTES[s].fetch_add(layout.size() as isize, Ordering::Relaxed) + layout.size() as isize;
            PEAK[s].fetch_max(now, Ordering::Relaxed);
            BLOCKS[s].fetch_add(1, Ordering::Relaxed);
        }
        user
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((l, off)) = outer(layout) else { return };
        // SAFETY: `ptr` came from `alloc` with this layout, which wrote the
        // header word just below it.
        let slot = unsafe { ptr.sub(HEADER).cast::<u64>().read() } as usize;
        if slot != 0 && slot < SLOTS {
            BYTES[slot].fetch_sub(layout.size() as isize, Ordering::Relaxed);
            BLOCKS[slot].fetch_sub(1, Ordering::Relaxed);
        }
        // SAFETY: `ptr - off` is the outer block `alloc` got from the system
        // allocator with layout `l` (recomputed from the same layout).
        unsafe { System.dealloc(ptr.sub(off), l) };
    }
}

/// A heap account. Dropping it frees the slot.
pub struct Tracker {
    slot: u8,
}

impl Tracker {
    /// A new, zeroed account, attached to the calling thread.
    pub fn new() -> Tracker {
        loop {
            let used = USED.load(Ordering::Acquire);
            let free = (!used).trailing_zeros() as usize;
            assert!(free < SLOTS, "too many heap trackers");
            if USED.compare_exchange(used, used | 1 << free, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                BYTES[free].store(0, Ordering::Relaxed);
                PEAK[free].store(0, Ordering::Relaxed);
                BLOCKS[free].store(0, Ordering::Relaxed);
                let t = Tracker { slot: free as u8 };
                t.attach();
                return t;
            }
        }
    }

    pub fn slot(&self) -> u8 {
        self.slot
    }

    /// Charges the calling thread's allocations to this account.
    pub fn attach(&self) {
        attach_slot(self.slot);
    }

    /// Bytes currently allocated on this account.
    pub fn bytes(&self) -> isize {
        BYTES[self.slot as usize].load(Ordering::Relaxed)
    }

    pub fn blocks(&self) -> isize {
        BLOCKS[self.slot as usize].load(Ordering::Relaxed)
    }

    pub fn peak(&self) -> isize {
        PEAK[self.slot as usize].load(Ordering::Relaxed)
    }

    pub fn reset_peak(&self) {
        PEAK[self.slot as usize].store(self.bytes(), Ordering::Relaxed);
    }
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if current_slot() == self.slot {
            attach_slot(0);
        }
        USED.fetch_and(!(1 << self.slot), Ordering::AcqRel);
    }
}

/// Bytes currently allocated on the account of `slot` (0: untracked,
/// always 0), for holders of a slot number rather than its [`Tracker`].
pub fn slot_bytes(slot: u8) -> isize {
    match slot as usize {
        0 => 0,
        s if s < SLOTS => BYTES[s].load(Ordering::Relaxed),
        _ => 0,
    }
}

/// Charges the calling thread's allocations to `slot` (0 = untracked).
pub fn attach_slot(slot: u8) {
    let _ = SLOT.try_with(|s| s.set(slot));
}

/// The calling thread's current slot, to hand to a thread it spawns.
pub fn current() -> u8 {
    current_slot()
}
