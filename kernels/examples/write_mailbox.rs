//! Writes into the CPU0 side of the CPU0/CPU1 mailboxes: the first word of
//! satman's `shared` region (0x1130_0000 in linker/satman.ld), which starts
//! with `.shared.cpu0`, the pages only CPU0 writes (the ToKernel mailbox's
//! slots and write index first). CPU1's translation table maps them
//! read-only: a permission fault at that address, and CPU0's mailbox intact.

#![no_std]

use satman_test_kernels::*;

/// RTIO target: channel 0x00_0F with destination 1 in bits 16-23, address 0.
pub const TTL15: i32 = 0x0100_0F00;

/// `__shared_start`, the first page of `.shared.cpu0`.
pub const SHARED_CPU0: usize = 0x1130_0000;

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    // SAFETY: deliberately faulting: this test kernel exists to check that satman ends a kernel
    // which does this; nothing after the fault runs.
    unsafe {
        rtio_output(TTL15, 1);
        core::ptr::write_volatile(core::hint::black_box(SHARED_CPU0) as *mut u32, 0xDEAD_BEEF);
        rtio_output(TTL15, 2);
    }
}
