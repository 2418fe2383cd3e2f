//! The two asynchronous RTIO errors a satellite reports to the master's
//! `DestinationStatusRequest`, neither of which the kernel sees:
//!
//! - a collision: from `break_realtime`, TTL15 address 0 and address 1 in
//!   the same coarse cycle (`rtio_output(0x0100_0F00, 1)`,
//!   `rtio_output(0x0100_0F01, 1)`);
//! - a sequence error: `delay_mu(10000)`, then nine outputs on TTL15, each
//!   8 mu (one coarse cycle) before the previous: each goes to the next of
//!   the 8 SED lanes, and the ninth finds its lane already past it.
//!
//! Finishes normally.

#![no_std]

use satman_test_kernels::*;

pub const TTL15: i32 = 0x0100_0F00;

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe {
        rtio_output(TTL15, 1);
        rtio_output(TTL15 | 1, 1);
        delay_mu(10_000);
        for _ in 0..9 {
            rtio_output(TTL15, 0);
            delay_mu(-8);
        }
    }
}
