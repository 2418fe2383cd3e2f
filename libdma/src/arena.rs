//! A region of memory reserved for DMA traces, with its own allocator.
//!
//! Keeping traces out of the general heap gives the store a hard byte budget
//! (the region's size), guarantees the 128-byte alignment the DMA engine
//! needs, and lets a recording grow in place at the end of the region instead
//! of being copied on every reallocation. The allocator is talc, used through
//! its raw interface with a manually claimed region.

use core::alloc::Layout;
use core::ptr::NonNull;

use talc::base::Talc;
use talc::source::Manual;
use talc::DefaultBinning;

use crate::TRACE_ALIGNMENT;

/// One allocation in the arena. It is freed only through [`Arena::free`];
/// the store owns every block and frees each exactly once.
#[derive(Debug)]
pub struct Block {
    ptr: NonNull<u8>,
    cap: usize,
    /// The start's alignment and the capacity's granule: [`TRACE_ALIGNMENT`],
    /// or more for a block allocated with [`Arena::alloc_aligned`] (until
    /// [`Block::relax`]).
    align: usize,
}

impl Block {
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The first `len` bytes of the block.
    ///
    /// # Safety
    /// `len <= capacity()`, and nobody else writes the block meanwhile.
    pub unsafe fn bytes(&self, len: usize) -> &[u8] {
        debug_assert!(len <= self.cap);
        // SAFETY: the block owns `cap` bytes of the arena's region (it came
        // from `Arena::alloc`), `len <= cap` and nobody writes them meanwhile
        // (the caller's contract).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), len) }
    }

    /// # Safety
    /// As for [`Block::bytes`].
    pub unsafe fn bytes_mut(&mut self, len: usize) -> &mut [u8] {
        debug_assert!(len <= self.cap);
        // SAFETY: as in `bytes`; `&mut self` makes this the only view through
        // the block, and the caller promises no other writer.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), len) }
    }

    /// The block's alignment granule (see [`Arena::alloc_aligned`]).
    pub fn align(&self) -> usize {
        self.align
    }

    /// From now on the block grows and shrinks by [`TRACE_ALIGNMENT`] only
    /// (its start stays where it is). For a lease that ended: its neighbours
    /// may then share its first and last pages.
    pub fn relax(&mut self) {
        self.align = TRACE_ALIGNMENT;
    }

    fn layout(&self) -> Layout {
        layout(self.cap, self.align)
    }
}

fn layout(size: usize, align: usize) -> Layout {
    // Sizes are checked against the region before this is called, the
    // region fits in an isize and alignments are powers of two, so this
    // cannot fail. (Talc frees, grows and shrinks by the size alone.)
    Layout::from_size_align(size, align).unwrap_or(Layout::new::<u8>())
}

/// Rounds up to a multiple of `align` (a power of two).
fn round_up_to(n: usize, align: usize) -> Option<usize> {
    n.checked_add(align - 1).map(|n| n & !(align - 1))
}

/// Usage figures of an [`Arena`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArenaStats {
    /// Size of the region (the budget).
    pub capacity: usize,
    /// Bytes in live blocks.
    pub in_use: usize,
    /// Highest `in_use` since creation or the last [`Arena::reset_peak`].
    pub peak: usize,
    /// Live blocks.
    pub blocks: usize,
}

pub struct Arena {
    talc: Talc<Manual, DefaultBinning>,
    capacity: usize,
    in_use: usize,
    peak: usize,
    blocks: usize,
    /// Set when the arena allocated its own region from the global heap.
    owned: Option<(NonNull<u8>, Layout)>,
    /// The region, `base..end`: a block outside it is not this arena's, and
    /// handing it to talc would corrupt the allocator, so it is refused.
    base: usize,
    end: usize,
}

// SAFETY: the arena exclusively owns its region; the raw pointers inside the
// allocator never alias anything outside it.
unsafe impl Send for Arena {}

impl Arena {
    /// An arena over a region the caller reserves for it (on the firmware, a
    /// linker-script region).
    ///
    /// # Safety
    /// `base..base + size` is valid, writable memory that nothing else uses
    /// for the lifetime of the arena.
    pub unsafe fn from_region(base: *mut u8, size: usize) -> Arena {
        let mut talc = Talc::new(Manual);
        // A region too small for talc's metadata leaves an arena that refuses
        // every allocation, which the store reports as an over-budget error.
        // SAFETY: the caller hands over `base..base + size` for the arena's
        // lifetime, which is what `claim` needs.
        let _ = unsafe { talc.claim(base, size) };
        let base = base as usize;
        Arena { talc, capacity: size, in_use: 0, peak: 0, blocks: 0, owned: None, base, end: base.saturating_add(size) }
    }

    /// An arena over `size` bytes taken once from the global heap (hosts and
    /// tests), or `None` if they cannot be allocated.
    pub fn with_capacity(size: usize) -> Option<Arena> {
        let layout = Layout::from_size_align(size.max(1), 4096).ok()?;
        // SAFETY: `layout` has a non-zero size.
        let base = NonNull::new(unsafe { alloc::alloc::alloc(layout) })?;
        // SAFETY: the allocation is `size` bytes (or more), writable, and
        // owned by the arena until its `Drop` frees it.
        let mut arena = unsafe { Arena::from_region(base.as_ptr(), size) };
        arena.owned = Some((base, layout));
        Some(arena)
    }

    pub fn stats(&self) -> ArenaStats {
        ArenaStats { capacity: self.capacity, in_use: self.in_use, peak: self.peak, blocks: self.blocks }
    }

    pub fn reset_peak(&mut self) {
        self.peak = self.in_use;
    }

    /// Bytes that could still be handed out, ignoring fragmentation.
    pub fn available(&self) -> usize {
        self.capacity.saturating_sub(self.in_use)
    }

    /// Whether `block` lies in this arena's region. `Block`s are made only
    /// by `alloc` and consumed by `free`, so one inside the region is a live
    /// block of this arena (two arenas never share a region: `from_region`'s
    /// contract). This keeps the safe methods below sound even if a caller
    /// mixed up arenas: such a block is refused, never handed to talc.
    fn owns(&self, block: &Block) -> bool {
        let start = block.as_ptr() as usize;
        let owned = start >= self.base && start.checked_add(block.cap).is_some_and(|end| end <= self.end);
        owned
    }

    fn account(&mut self, grow: usize, shrink: usize) {
        self.in_use = self.in_use + grow - shrink;
        self.peak = self.peak.max(self.in_use);
    }

    /// A new block of at least `size` bytes (rounded up to 128), or `None`
    /// when the arena has no room.
    pub fn alloc(&mut self, size: usize) -> Option<Block> {
        self.alloc_aligned(size, TRACE_ALIGNMENT)
    }

    /// A new block of at least `size` bytes starting on a multiple of
    /// `align` and of a capacity that is a multiple of `align` (also when it
    /// grows or shrinks, until [`Block::relax`]), or `None` when the arena
    /// has no room. `align` is a power of two, at least [`TRACE_ALIGNMENT`]
    /// (smaller values are raised to it). With the 4 KiB of an MMU page, the
    /// block shares no page with anything else: what its holder may write
    /// can be mapped page by page.
    pub fn alloc_aligned(&mut self, size: usize, align: usize) -> Option<Block> {
        let align = align.max(TRACE_ALIGNMENT);
        if !align.is_power_of_two() {
            return None;
        }
        let cap = round_up_to(size.max(1), align)?;
        if cap > self.capacity {
            return None;
        }
        // SAFETY: `cap` is at least 1, so the layout is not zero-sized.
        let ptr = unsafe { self.talc.try_allocate(layout(cap, align))? };
        self.blocks += 1;
        self.account(cap, 0);
        Some(Block { ptr, cap, align })
    }

    /// Grows `block` to at least `size` bytes without moving it.
    pub fn grow_in_place(&mut self, block: &mut Block, size: usize) -> bool {
        let Some(cap) = round_up_to(size, block.align) else { return false };
        if cap <= block.cap {
            return true;
        }
        if cap > self.capacity || !self.owns(block) {
            return false;
        }
        // SAFETY: `block` is a live allocation of this arena (`owns`: its
        // fields are private, only `alloc` makes them and `free` consumes
        // them) with the layout it was allocated or last resized with, and
        // `cap` is larger than its size.
        if unsafe { self.talc.try_grow_in_place(block.as_ptr(), block.layout(), cap) } {
            self.account(cap - block.cap, 0);
            block.cap = cap;
            true
        } else {
            false
        }
    }

    /// Grows `block` to at least `size` bytes, moving it (and its first
    /// `keep` bytes) if it cannot grow in place. On failure the block is left
    /// as it was.
    pub fn grow(&mut self, block: &mut Block, size: usize, keep: usize) -> bool {
        if !self.owns(block) {
            return false;
        }
        if self.grow_in_place(block, size) {
            return true;
        }
        let Some(mut new) = self.alloc_aligned(size, block.align) else { return false };
        let keep = keep.min(block.cap);
        // SAFETY: both blocks are live and distinct allocations, `keep` is at
        // most the old block's capacity and the new one is at least as large
        // (`size` > the old capacity, or it would have grown in place).
        unsafe { core::ptr::copy_nonoverlapping(block.as_ptr(), new.as_ptr(), keep) };
        core::mem::swap(block, &mut new);
        self.free(new);
        true
    }

    /// Returns the tail of `block` beyond `size` bytes (rounded up to the
    /// block's granule, 128 unless aligned).
    pub fn shrink(&mut self, block: &mut Block, size: usize) {
        let Some(cap) = round_up_to(size.max(1), block.align) else { return };
        if cap >= block.cap || !self.owns(block) {
            return;
        }
        // SAFETY: a live block of this arena with its current layout (see
        // `grow_in_place`), and `0 < cap < block.cap`.
        unsafe { self.talc.shrink(block.as_ptr(), block.layout(), cap) };
        self.account(0, block.cap - cap);
        block.cap = cap;
    }

    pub fn free(&mut self, block: Block) {
        if !self.owns(&block) {
            return;
        }
        // SAFETY: a live block of this arena with its current layout (see
        // `grow_in_place`); taking it by value ends its only handle.
        unsafe { self.talc.deallocate(block.as_ptr(), block.layout()) };
        self.blocks -= 1;
        self.account(0, block.cap);
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        if let Some((base, layout)) = self.owned {
            // SAFETY: allocated in `with_capacity` with this layout; the
            // allocator inside dies with the arena.
            unsafe { alloc::alloc::dealloc(base.as_ptr(), layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_burst_aligned_and_accounted() {
        let mut a = Arena::with_capacity(64 * 1024).unwrap();
        let b1 = a.alloc(1).unwrap();
        let b2 = a.alloc(200).unwrap();
        assert_eq!(b1.as_ptr() as usize % TRACE_ALIGNMENT, 0);
        assert_eq!(b2.as_ptr() as usize % TRACE_ALIGNMENT, 0);
        assert_eq!((b1.capacity(), b2.capacity()), (128, 256));
        assert_eq!(a.stats().in_use, 384);
        assert_eq!(a.stats().blocks, 2);
        a.free(b1);
        a.free(b2);
        assert_eq!(a.stats().in_use, 0);
        assert_eq!(a.stats().peak, 384);
    }

    #[test]
    fn last_block_grows_in_place_and_shrinks() {
        let mut a = Arena::with_capacity(1 << 20).unwrap();
        let mut b = a.alloc(4096).unwrap();
        let p = b.as_ptr();
        assert!(a.grow_in_place(&mut b, 100_000));
        assert_eq!(b.as_ptr(), p);
        assert_eq!(b.capacity(), 100_096);
        a.shrink(&mut b, 300);
        assert_eq!(b.capacity(), 384);
        assert_eq!(a.stats().in_use, 384);
        a.free(b);
    }

    #[test]
    fn grow_moves_when_blocked_and_keeps_contents() {
        let mut a = Arena::with_capacity(1 << 20).unwrap();
        let mut b = a.alloc(128).unwrap();
        // SAFETY: 3 bytes of a 128-byte block nobody else uses.
        unsafe { b.bytes_mut(3).copy_from_slice(b"abc") };
        let blocker = a.alloc(128).unwrap();
        assert!(a.grow(&mut b, 10_000, 3));
        // SAFETY: as above.
        assert_eq!(unsafe { b.bytes(3) }, b"abc");
        assert!(b.capacity() >= 10_000);
        a.free(blocker);
        a.free(b);
        assert_eq!(a.stats().in_use, 0);
        assert_eq!(a.stats().blocks, 0);
    }

    #[test]
    fn blocks_of_another_arena_are_refused() {
        let mut a = Arena::with_capacity(16 * 1024).unwrap();
        let mut b = Arena::with_capacity(16 * 1024).unwrap();
        let mut x = b.alloc(128).unwrap();
        assert!(!a.grow(&mut x, 4096, 0));
        assert!(!a.grow_in_place(&mut x, 4096));
        a.shrink(&mut x, 1);
        assert_eq!(x.capacity(), 128);
        let y = b.alloc(128).unwrap();
        a.free(y);
        assert_eq!((a.stats().blocks, b.stats().blocks), (0, 2));
        b.free(x);
    }

    #[test]
    fn aligned_blocks_keep_whole_pages_until_relaxed() {
        const PAGE: usize = 4096;
        let mut a = Arena::with_capacity(1 << 20).unwrap();
        let small = a.alloc(200).unwrap(); // something before it
        let mut b = a.alloc_aligned(16 * 1024, PAGE).unwrap();
        let page_aligned = |b: &Block| (b.as_ptr() as usize).is_multiple_of(PAGE) && b.capacity().is_multiple_of(PAGE);
        assert!(page_aligned(&b));
        assert_eq!(b.capacity(), 16 * 1024);
        assert!(a.grow_in_place(&mut b, 16 * 1024 + 1));
        assert!(page_aligned(&b));
        assert_eq!(b.capacity(), 20 * 1024);
        // Blocked: it moves, and stays page-aligned.
        let blocker = a.alloc(128).unwrap();
        assert!(a.grow(&mut b, 100_000, 10));
        assert!(page_aligned(&b));
        a.shrink(&mut b, 5000);
        assert_eq!(b.capacity(), 2 * PAGE);
        b.relax();
        a.shrink(&mut b, 300);
        assert_eq!(b.capacity(), 384);
        assert_eq!(a.stats().in_use, 256 + 384 + 128);
        for x in [small, b, blocker] {
            a.free(x);
        }
        assert_eq!((a.stats().in_use, a.stats().blocks), (0, 0));
        assert!(a.alloc_aligned(128, 3000).is_none(), "not a power of two");
    }

    #[test]
    fn refuses_beyond_budget() {
        let mut a = Arena::with_capacity(16 * 1024).unwrap();
        assert!(a.alloc(32 * 1024).is_none());
        let mut b = a.alloc(1024).unwrap();
        assert!(!a.grow(&mut b, 1 << 20, 0));
        assert_eq!(b.capacity(), 1024);
        a.free(b);
    }
}
