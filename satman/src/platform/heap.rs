//! The global allocator: two independent talc heaps, `heap0` for CPU0 and
//! `heap1` for CPU1 (regions from linker/satman.ld).
//!
//! * `alloc` uses the calling CPU's heap (MPIDR).
//! * `dealloc` finds the heap by address. Each CPU only ever touches its
//!   own heap: a free of the other CPU's memory is not performed (it would
//!   need the other CPU's heap, and CPU1 can be stopped in the middle of
//!   using it); the block is leaked and counted in
//!   [`HeapStats::foreign_frees`]. By design (docs/architecture.md) data
//!   crossing CPUs is copied, so this counter should stay 0.
//! * No spin lock: a heap is only used by its own CPU, so masking IRQs on
//!   that CPU gives exclusive access. A busy flag catches re-entry (an
//!   allocation from a panic inside the allocator) and fails it instead of
//!   deadlocking.
//! * Usage counters (talc `counters` feature) are mirrored after every
//!   operation into atomics, so [`stats`] on CPU0 reads CPU1's numbers
//!   without touching CPU1's heap. Peak usage is tracked here.
//! * Allocation failure is logged (size, alignment, CPU, heap usage) before
//!   returning null; `alloc` then calls `handle_alloc_error`, which panics
//!   into our panic handler (logged, reported; see [`super::panic`]).
//!   Fallible users (`try_reserve`) just get the error.

use super::boot::{regions, Region};
use super::cpu::{self, Cpu};
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use talc::base::binning::DefaultBinning;
use talc::base::Talc;
use talc::source::Manual;

type Heap = Talc<Manual, DefaultBinning>;

/// One CPU's heap plus its mirrored counters.
struct CpuHeap {
    talc: UnsafeCell<Heap>,
    busy: AtomicBool,
    /// Start/end of the claimed region (0/0 until initialised).
    start: AtomicUsize,
    end: AtomicUsize,
    allocated_bytes: AtomicUsize,
    allocation_count: AtomicUsize,
    peak_bytes: AtomicUsize,
    total_allocations: AtomicU32,
    failed_allocations: AtomicU32,
    capacity: AtomicUsize,
}

// SAFETY: `talc` is only accessed by the owning CPU with IRQs masked and
// `busy` held (or by CPU0 in `reset_heap1` while CPU1 is stopped).
unsafe impl Sync for CpuHeap {}

impl CpuHeap {
    const fn new() -> CpuHeap {
        CpuHeap {
            talc: UnsafeCell::new(Talc::new(Manual)),
            busy: AtomicBool::new(false),
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            allocated_bytes: AtomicUsize::new(0),
            allocation_count: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
            total_allocations: AtomicU32::new(0),
            failed_allocations: AtomicU32::new(0),
            capacity: AtomicUsize::new(0),
        }
    }

    fn contains(&self, addr: usize) -> bool {
        addr >= self.start.load(Ordering::Relaxed) && addr < self.end.load(Ordering::Relaxed)
    }

    /// (Re)creates the heap over `region`.
    ///
    /// # Safety
    /// Nobody else uses this heap meanwhile: no other CPU or context is inside its allocator, and
    /// no block of it is used afterwards.
    unsafe fn init(&self, region: Region) {
        // SAFETY: the caller guarantees nobody else uses this heap, so this
        // is the only reference to the allocator state.
        let talc = unsafe { &mut *self.talc.get() };
        *talc = Talc::new(Manual);
        // Claiming fails only for a region too small for talc's metadata.
        // SAFETY: the region is the linker script's reservation for this
        // heap, used by nothing else, and the old allocator state was dropped.
        let ok = unsafe { talc.claim(region.start as *mut u8, region.len()) }.is_some();
        self.start.store(region.start, Ordering::Relaxed);
        self.end.store(
            if ok { region.end } else { region.start },
            Ordering::Relaxed,
        );
        self.peak_bytes.store(0, Ordering::Relaxed);
        self.total_allocations.store(0, Ordering::Relaxed);
        self.failed_allocations.store(0, Ordering::Relaxed);
        self.mirror(talc);
        self.busy.store(false, Ordering::Release);
    }

    fn mirror(&self, talc: &Heap) {
        let c = talc.counters();
        self.allocated_bytes
            .store(c.allocated_bytes, Ordering::Relaxed);
        self.allocation_count
            .store(c.allocation_count, Ordering::Relaxed);
        self.capacity
            .store(c.available_bytes + c.allocated_bytes, Ordering::Relaxed);
        if c.allocated_bytes > self.peak_bytes.load(Ordering::Relaxed) {
            self.peak_bytes.store(c.allocated_bytes, Ordering::Relaxed);
        }
    }

    /// Runs `f` on the heap with IRQs masked, or returns `None` if the heap
    /// is already in use on this CPU (re-entry).
    fn with<R>(&self, f: impl FnOnce(&mut Heap) -> R) -> Option<R> {
        cpu::irq_free(|| {
            if self.busy.swap(true, Ordering::Acquire) {
                return None;
            }
            // SAFETY: `busy` is held and IRQs are masked on this (the owning)
            // CPU, so no other reference to the allocator state exists (see
            // the `Sync` impl).
            let talc = unsafe { &mut *self.talc.get() };
            let r = f(talc);
            self.mirror(talc);
            self.busy.store(false, Ordering::Release);
            Some(r)
        })
    }

    fn usage(&self) -> HeapUsage {
        HeapUsage {
            start: self.start.load(Ordering::Relaxed),
            capacity: self.capacity.load(Ordering::Relaxed),
            allocated_bytes: self.allocated_bytes.load(Ordering::Relaxed),
            allocation_count: self.allocation_count.load(Ordering::Relaxed),
            peak_bytes: self.peak_bytes.load(Ordering::Relaxed),
            total_allocations: self.total_allocations.load(Ordering::Relaxed),
            failed_allocations: self.failed_allocations.load(Ordering::Relaxed),
        }
    }
}

static HEAP0: CpuHeap = CpuHeap::new();
/// CPU1 writes its heap's state: in the pages CPU1 may write (linker/satman.ld).
#[unsafe(link_section = ".cpu1")]
static HEAP1: CpuHeap = CpuHeap::new();
#[unsafe(link_section = ".cpu1")]
static FOREIGN_FREES: AtomicU32 = AtomicU32::new(0);

fn heap_of(cpu: usize) -> &'static CpuHeap {
    if cpu == 0 { &HEAP0 } else { &HEAP1 }
}

/// Usage of one heap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapUsage {
    /// Base address of the heap region.
    pub start: usize,
    /// Bytes usable for allocations (region minus talc's metadata).
    pub capacity: usize,
    /// Bytes currently allocated (sum of layout sizes).
    pub allocated_bytes: usize,
    /// Live allocations.
    pub allocation_count: usize,
    /// Highest `allocated_bytes` since the heap was (re)initialised.
    pub peak_bytes: usize,
    /// Successful allocations since (re)initialisation.
    pub total_allocations: u32,
    /// Failed allocations since (re)initialisation.
    pub failed_allocations: u32,
}

/// Both heaps' usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    pub heap0: HeapUsage,
    pub heap1: HeapUsage,
    /// Frees of the other CPU's memory, leaked instead (should stay 0).
    pub foreign_frees: u32,
}

/// Current usage of both heaps. Any CPU; reads mirrored atomics only.
pub fn stats() -> HeapStats {
    HeapStats {
        heap0: HEAP0.usage(),
        heap1: HEAP1.usage(),
        foreign_frees: FOREIGN_FREES.load(Ordering::Relaxed),
    }
}

/// Initialises both heaps over their regions.
///
/// # Safety
/// CPU0, once, before CPU1 is released and before the first allocation:
/// nothing may hold a block of either heap or be inside the allocator.
pub unsafe fn init() {
    // SAFETY: the caller's contract: no allocation exists and no other
    // context uses either heap.
    unsafe {
        HEAP0.init(regions::heap0());
        HEAP1.init(regions::heap1());
    }
}

/// Re-initialises heap1, forgetting every CPU1 allocation (kernel images,
/// kernel heap). Only legal while CPU1 is stopped (after a successful
/// [`super::cpu1::stop`], before [`super::cpu1::resume`]) or dead: this
/// overwrites CPU1's heap state, including its busy flag if CPU1 was
/// stopped inside the allocator. Checks that CPU1 is parked (or was never
/// released) and otherwise refuses, returning `false`, so that a call at the
/// wrong time cannot pull the heap from under a running CPU1.
pub fn reset_heap1() -> bool {
    if !super::cpu1::is_parked() {
        log::error!("heap1 not reset: CPU1 is not parked");
        return false;
    }
    // SAFETY: CPU1 is parked in `run_or_park` (or never ran) and touches
    // neither its heap nor its blocks until `resume`; CPU0 never allocates
    // from heap1 (`heap_of` picks the heap by CPU) and holds no heap1 block
    // it would use afterwards (kernel images belong to the stopped run).
    unsafe { HEAP1.init(regions::heap1()) };
    true
}

struct DualHeap;

// SAFETY: each CPU allocates from its own heap, which `with` serialises;
// blocks are aligned by talc to the layout, and a free goes back to the heap
// that holds the address (foreign frees are counted and leaked, never passed
// to the wrong heap).
unsafe impl GlobalAlloc for DualHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let cpu = cpu::id();
        let heap = heap_of(cpu);
        // SAFETY: `GlobalAlloc::alloc`'s caller gives a non-zero-sized layout.
        let r = heap.with(|t| unsafe { t.allocate(layout) });
        match r {
            Some(Some(p)) => {
                heap.total_allocations.fetch_add(1, Ordering::Relaxed);
                p.as_ptr()
            }
            other => {
                heap.failed_allocations.fetch_add(1, Ordering::Relaxed);
                let usage = heap.usage();
                log::warn!(
                    "heap{}: allocation of {} bytes (align {}) failed{}; {} of {} bytes in use in {} allocations",
                    cpu,
                    layout.size(),
                    layout.align(),
                    if other.is_none() { " (allocator re-entered)" } else { "" },
                    usage.allocated_bytes,
                    usage.capacity,
                    usage.allocation_count
                );
                null_mut()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let addr = ptr as usize;
        let cpu = cpu::id();
        let heap = heap_of(cpu);
        if !heap.contains(addr) {
            FOREIGN_FREES.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // A re-entered free (only possible from a panic inside the
        // allocator) leaks the block rather than deadlock.
        // SAFETY: `ptr` lies in this heap and came from `alloc` with `layout`
        // (the caller's contract), so it is one of this talc's live blocks.
        let _ = heap.with(|t| unsafe { t.deallocate(ptr, layout) });
    }
}

#[global_allocator]
static ALLOCATOR: DualHeap = DualHeap;

/// Which CPU's heap holds `addr`, if any.
pub fn owner_of(addr: usize) -> Option<Cpu> {
    if HEAP0.contains(addr) {
        Some(Cpu::Cpu0)
    } else if HEAP1.contains(addr) {
        Some(Cpu::Cpu1)
    } else {
        None
    }
}
