//! `try: ttl.on() (in the past) except RTIOUnderflow: ...`: an exception the
//! firmware raises inside a kernel API call, caught by the kernel.
//! `at_mu(0)`, then `eh_catch_underflow` (kernels/src/eh_cases.S) calls
//! `rtio_output(0x0100_0F00, 5)` inside a try region; the firmware raises
//! RTIOUnderflow (id 0); the handler checks the registers, ends the catch
//! and returns 43; the kernel then does `break_realtime` and outputs the
//! returned value (43, or 1000 + a failed check's code).

#![no_std]

use satman_test_kernels::eh::{eh_catch_underflow, TTL15};
use satman_test_kernels::*;

satman_test_kernels::eh_cases!();

#[no_mangle]
pub extern "C" fn __modinit__() {
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe { at_mu(0) };
    // SAFETY: a function of this kernel's C object with no arguments.
    let r = unsafe { eh_catch_underflow() };
    break_realtime();
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe { rtio_output(TTL15, r) };
}
