//! Raises an uncaught `ValueError` (id 18) with a formatted message and
//! three parameters, as `raise ValueError("...")` compiles: the 64-byte
//! exception object is filled on the stack and passed to `__artiq_raise`.

#![no_std]

use satman_test_kernels::*;

#[no_mangle]
pub extern "C" fn __modinit__() {
    let exception = Exception {
        id: exception_id::VALUE_ERROR,
        file: Str::new("raise_exception.py"),
        line: 42,
        column: 8,
        function: Str::new("_Z15raise_exceptionv"),
        message: Str::new("value {0} outside [{1}, {2}]"),
        param: [7, -1, 5],
    };
    // SAFETY: `exception` is a live local whose strings are 'static; `__artiq_raise` does not
    // return.
    unsafe { __artiq_raise(&exception) }
}
