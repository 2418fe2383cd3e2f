//! A kernel that outputs far faster than the counter advances: from
//! `break_realtime`, 500 pulses on TTL15 (1000 mu high, 1000 mu low: 1000
//! events over 1 ms). They all land on one SED lane, whose FIFO (128 events)
//! fills, so the kernel CPU waits for room as on the gateware. At the end it
//! outputs its remaining slack, `now_mu() - rtio_get_counter()`, as data on
//! TTL16 (target 0x0100_1000) at `now_mu()`: with back-pressure it is at
//! most about 128 events' worth (128 000 mu), without it over 1 ms.

#![no_std]

use satman_test_kernels::*;

pub const TTL15: i32 = 0x0100_0F00;
pub const TTL16: i32 = 0x0100_1000;

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe {
        for _ in 0..500 {
            rtio_output(TTL15, 1);
            delay_mu(1000);
            rtio_output(TTL15, 0);
            delay_mu(1000);
        }
        let slack = now_mu() - rtio_get_counter();
        rtio_output(TTL16, slack.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
    }
}
