//! 100 pulses on TTL target 0x0100_0F00 (destination 1, channel 15): 500 000
//! mu high, 500 000 mu low, starting `break_realtime` ahead of the counter.

#![no_std]

use satman_test_kernels::*;

/// RTIO target: channel 0x00_0F with destination 1 in bits 16-23, address 0.
pub const TTL: i32 = 0x0100_0F00;

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    for _ in 0..100 {
        // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and
        // pointers to live locals or 'static strings, as their declared signatures take; the
        // firmware validates every argument.
        unsafe {
            rtio_output(TTL, 1);
            delay_mu(500_000);
            rtio_output(TTL, 0);
            delay_mu(500_000);
        }
    }
}
