//! A subkernel `def add(a: TInt32, b: TInt32) -> TInt32: return a + b`,
//! compiled the way ARTIQ does (section 4): arguments arrive as one message
//! decoded by `rpc_recv`, the result leaves as the return message.

#![no_std]

use core::ffi::c_void;

use satman_test_kernels::*;

#[no_mangle]
pub extern "C" fn __modinit__() {
    let mut scratch = RecvScratch::<8>::new();
    let (mut a, mut b) = (0i32, 0i32);
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe {
        // -1: this subkernel's own id; 10 s; two required arguments, no optional ones.
        let count = subkernel_await_message(-1, 10_000, &Str::new("ii"), 2, 2);
        if count != 2 {
            raise(
                exception_id::VALUE_ERROR,
                "expected 2 arguments, got {0}",
                [count as i64, 0, 0],
                "args_return",
            );
        }
        scratch.recv(&mut a as *mut i32 as *mut c_void);
        scratch.recv(&mut b as *mut i32 as *mut c_void);
    }
    let sum = a.wrapping_add(b);
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument. `send_one`'s tag `i:` describes the `i32` it sends.
    unsafe {
        core_log(c"args_return: %d + %d = %d\n".as_ptr().cast(), a, b, sum);
        // Return value: id 0, is_return, destination 0 (whoever started us).
        send_one(0, true, 0, &Str::new("i:"), &sum);
    }
}
