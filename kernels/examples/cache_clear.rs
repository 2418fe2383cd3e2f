//! Removes `cache_loop`'s entry: `cache_put("calibration", [])` (an empty
//! list removes the key). Outputs 1 once done.

#![no_std]

use satman_test_kernels::*;

pub const TTL: i32 = 0x0100_0F00;
const KEY: Str = Str::new("calibration");

#[no_mangle]
pub extern "C" fn __modinit__() {
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and a
    // 'static string; an empty list is never read.
    unsafe {
        break_realtime();
        cache_put(KEY, &List { ptr: core::ptr::NonNull::dangling().as_ptr(), len: 0 });
        rtio_output(TTL, 1);
    }
}
