//! Executes an undefined instruction (`udf #0`) after one event: CPU1 takes
//! the undefined-instruction exception; the master must get the fault, its
//! PC inside this image, and the satellite must run the next kernel.

#![no_std]

use satman_test_kernels::*;

/// RTIO target: channel 0x00_0F with destination 1 in bits 16-23, address 0.
pub const TTL15: i32 = 0x0100_0F00;

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    // SAFETY: deliberately faulting: this test kernel exists to check that satman ends a kernel
    // which does this; nothing after the fault runs.
    unsafe {
        rtio_output(TTL15, 1);
        core::arch::asm!("udf #0", options(nomem, nostack));
    }
}
