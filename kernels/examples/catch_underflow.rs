//! `try: ttl.on() (in the past) except RTIOUnderflow: ...`: an exception the
//! firmware raises inside a kernel API call, caught by the kernel.
//! `at_mu(0)`, then `eh_catch_underflow` (kernels/src/eh_cases.S) calls
//! `rtio_output(0x0100_0F00, 5)` inside a try region; the firmware raises
//! RTIOUnderflow (id 0); the handler checks the registers, ends the catch
//! and returns 43; the kernel then does `break_realtime` and outputs the
//! returned value (43, or 1000 + a failed check's code).

#![no_std]

use satman_test_kernels::*;

core::arch::global_asm!(include_str!("../src/eh_cases.S"), options(raw));

extern "C" {
    fn eh_catch_underflow() -> i32;
}

const TTL15: i32 = 0x0100_0F00;

#[no_mangle]
pub extern "C" fn __modinit__() {
    unsafe { at_mu(0) };
    let r = unsafe { eh_catch_underflow() };
    break_realtime();
    unsafe { rtio_output(TTL15, r) };
}
