//! The allocator for the FAT layer's few small buffers: a bump allocator in
//! DDR that never frees. The loader runs once and hands over the whole
//! machine, so nothing needs to be given back.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

/// Bump allocator over `start..end`.
pub struct Bump {
    next: UnsafeCell<usize>,
    end: usize,
}

// SAFETY: the loader runs on CPU0 only, without interrupts: no two
// allocations ever overlap in time.
unsafe impl Sync for Bump {}

impl Bump {
    pub const fn new(start: usize, end: usize) -> Bump {
        Bump {
            next: UnsafeCell::new(start),
            end,
        }
    }
}

// SAFETY: every block returned is inside start..end, aligned as asked and
// never handed out twice (the pointer only moves up).
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded (see the Sync impl).
        let next = unsafe { &mut *self.next.get() };
        let start = (*next + layout.align() - 1) & !(layout.align() - 1);
        match start.checked_add(layout.size()) {
            Some(end) if end <= self.end => {
                *next = end;
                start as *mut u8
            }
            _ => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}
