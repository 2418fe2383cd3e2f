//! `try: raise ValueError(...) except ValueError: ...` compiled as ARTIQ
//! does: `eh_catch_value_error` (kernels/src/eh_cases.S) raises a ValueError
//! (id 18) inside a try region whose landing pad catches ValueError; the
//! handler checks the exception and the restored registers, calls
//! `__artiq_end_catch`, outputs 42 on 0x0100_0F00 and returns normally.
//! A failed check shows as an event with data 1000 + check code instead.

#![no_std]

use satman_test_kernels::eh::{eh_catch_value_error, TTL15};
use satman_test_kernels::*;

satman_test_kernels::eh_cases!();

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    let template = Exception {
        id: exception_id::VALUE_ERROR,
        file: Str::new("catch_exception.py"),
        line: 7,
        column: 8,
        function: Str::new("_Z15catch_exceptionv"),
        message: Str::new("caught {0}"),
        param: [1, 2, 3],
    };
    // SAFETY: a function of this kernel's C object, given a live template exception whose strings
    // are 'static.
    let r = unsafe { eh_catch_value_error(&template) };
    if r != 42 {
        // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and
        // pointers to live locals or 'static strings, as their declared signatures take; the
        // firmware validates every argument.
        unsafe { rtio_output(TTL15, r) };
    }
}
