//! Writes through a wild pointer into satman's heap0 (CPU0's heap, at
//! 0x0130_0000..0x0530_0000 in linker/satman.ld): CPU1's translation table
//! keeps heap0 read-only, so the store takes a permission fault at
//! 0x0330_0000 and satman's heap is untouched.

#![no_std]

use satman_test_kernels::*;

/// RTIO target: channel 0x00_0F with destination 1 in bits 16-23, address 0.
pub const TTL15: i32 = 0x0100_0F00;

/// In heap0 (its middle).
pub const HEAP0_TARGET: usize = 0x0330_0000;

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    // SAFETY: deliberately faulting: this test kernel exists to check that satman ends a kernel
    // which does this; nothing after the fault runs.
    unsafe {
        rtio_output(TTL15, 1);
        core::ptr::write_volatile(core::hint::black_box(HEAP0_TARGET) as *mut u32, 0xDEAD_BEEF);
        rtio_output(TTL15, 2);
    }
}
