//! Ten rounds of: await an int32 from the master as named message PING,
//! send back int + 1 as named message PONG.
//!
//! Message ids (the compiler's ids for named messages, chosen here):
//! PING = 200 (master → subkernel), PONG = 201 (subkernel → master,
//! destination 0). Each wait times out after 10 s.

#![no_std]

use core::ffi::c_void;

use satman_test_kernels::*;

pub const PING: i32 = 200;
pub const PONG: i32 = 201;
pub const ROUNDS: u32 = 10;
const TIMEOUT_MS: i64 = 10_000;

#[no_mangle]
pub extern "C" fn __modinit__() {
    let mut scratch = RecvScratch::<8>::new();
    for _ in 0..ROUNDS {
        let mut value = 0i32;
        // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and
        // pointers to live locals or 'static strings, as their declared signatures take; the
        // firmware validates every argument. `value` is a live `i32`, the type of the tag `i`.
        unsafe {
            subkernel_await_message(PING, TIMEOUT_MS, &Str::new("i"), 1, 1);
            scratch.recv(&mut value as *mut i32 as *mut c_void);
            send_one(PONG, false, 0, &Str::new("i:"), &value.wrapping_add(1));
        }
    }
}
