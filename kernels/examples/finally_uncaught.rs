//! `try: raise ValueError finally: ttl.on()` with no handler anywhere:
//! `eh_finally_inner` (kernels/src/eh_cases.S), called straight from
//! `__modinit__`, raises a ValueError (id 18); its cleanup pad still runs
//! (outputs 1 on 0x0100_0F00, `delay_mu(1000)`, `__artiq_resume`), then the
//! exception reaches the master uncaught: message `"uncaught after a
//! finally"`, params 4, 5, 6, file `finally_uncaught.py`, line 9, column 2,
//! function `_Z16finally_uncaughtv`.

#![no_std]

use satman_test_kernels::eh::{eh_finally_inner, TTL15};
use satman_test_kernels::*;

satman_test_kernels::eh_cases!();

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    let template = Exception {
        id: exception_id::VALUE_ERROR,
        file: Str::new("finally_uncaught.py"),
        line: 9,
        column: 2,
        function: Str::new("_Z16finally_uncaughtv"),
        message: Str::new("uncaught after a finally"),
        param: [4, 5, 6],
    };
    // SAFETY: a function of this kernel's C object, given a live template exception whose strings
    // are 'static.
    let r = unsafe { eh_finally_inner(&template) };
    // Not reached.
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe { rtio_output(TTL15, 2000 + r) };
}
