//! `try: raise ValueError(...) except IndexError: ...`: the only handler
//! does not match, so the ValueError (id 18) stays uncaught and ends the
//! subkernel. `eh_catch_index_error` (kernels/src/eh_cases.S) raises it;
//! before that the kernel outputs 1 on 0x0100_0F00, so the test can tell it
//! ran. Message `"value {0} not handled"`, params 18, 10, −1, file
//! `catch_mismatch.py`, line 21, column 4, function `_Z14catch_mismatchv`.

#![no_std]

use satman_test_kernels::eh::{eh_catch_index_error, TTL15};
use satman_test_kernels::*;

satman_test_kernels::eh_cases!();

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe { rtio_output(TTL15, 1) };
    let template = Exception {
        id: exception_id::VALUE_ERROR,
        file: Str::new("catch_mismatch.py"),
        line: 21,
        column: 4,
        function: Str::new("_Z14catch_mismatchv"),
        message: Str::new("value {0} not handled"),
        param: [18, 10, -1],
    };
    // SAFETY: a function of this kernel's C object, given a live template exception whose strings
    // are 'static.
    let r = unsafe { eh_catch_index_error(&template) };
    // Not reached: the exception is uncaught.
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe { rtio_output(TTL15, r) };
}
