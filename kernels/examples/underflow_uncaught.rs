//! `ttl.on()` 10 µs in the past, with no `try` around it: the firmware
//! raises RTIOUnderflow (id 0, params channel, timestamp, slack) and nothing
//! catches it, so it reaches the master. Two edges go out first
//! (`break_realtime`, 1 then 0 after 1000 mu), then `at_mu(rtio_get_counter()
//! - 10000)` and the late output.

#![no_std]

use satman_test_kernels::*;

/// RTIO target: channel 0x00_0F with destination 1 in bits 16-23, address 0.
pub const TTL: i32 = 0x0100_0F00;

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe {
        rtio_output(TTL, 1);
        delay_mu(1000);
        rtio_output(TTL, 0);
        at_mu(rtio_get_counter() - 10_000);
        rtio_output(TTL, 1);
    }
}
