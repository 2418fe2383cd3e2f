//! Reads a word from 0x3000_0000, which no board maps (beyond QEMU's
//! 512 MiB of DDR; beyond the regions CPU1 may see on the Kasli-SoC): a
//! data abort (translation fault) at that address.

#![no_std]

use satman_test_kernels::*;

#[no_mangle]
pub extern "C" fn __modinit__() {
    // SAFETY: deliberately faulting: this test kernel exists to check that satman ends a kernel
    // which does this; nothing after the fault runs.
    unsafe {
        let v = core::ptr::read_volatile(0x3000_0000 as *const u32);
        core::hint::black_box(v);
    }
}
