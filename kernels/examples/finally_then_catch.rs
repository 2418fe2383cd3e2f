//! `try: (try: raise ValueError finally: ttl.on()) except ValueError:
//! ttl.off()`, across two frames: `eh_finally_inner` (kernels/src/eh_cases.S)
//! raises ValueError; its cleanup pad outputs 1 on 0x0100_0F00, delays 1000
//! mu and calls `__artiq_resume`; the handler of its caller
//! `eh_finally_outer` catches it, calls `__artiq_end_catch` and outputs 2.
//! Failed checks show as data 1000 + check code.

#![no_std]

use satman_test_kernels::eh::{eh_finally_outer, TTL15};
use satman_test_kernels::*;

satman_test_kernels::eh_cases!();

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    let template = Exception {
        id: exception_id::VALUE_ERROR,
        file: Str::new("finally_then_catch.py"),
        line: 3,
        column: 12,
        function: Str::new("_Z18finally_then_catchv"),
        message: Str::new("through a finally"),
        param: [0; 3],
    };
    // SAFETY: a function of this kernel's C object, given a live template exception whose strings
    // are 'static.
    let r = unsafe { eh_finally_outer(&template) };
    if r != 2 {
        // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and
        // pointers to live locals or 'static strings, as their declared signatures take; the
        // firmware validates every argument.
        unsafe {
            delay_mu(1000);
            rtio_output(TTL15, r)
        };
    }
}
