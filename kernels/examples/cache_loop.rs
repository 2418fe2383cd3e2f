//! The satellite-local cache in a loop, as a long-running kernel uses it:
//! `cache_put("calibration", [3, 5, 7])`, then 1000 `cache_get`s of it and
//! one of a missing key. Outputs the sum of `len + value[2]` over the
//! gets (10 000) and the missing key's length (0). A run must leave CPU1's
//! heap as its load left it: the list headers `cache_get` returns are
//! reused per key, not allocated per call.

#![no_std]

use satman_test_kernels::*;

pub const TTL: i32 = 0x0100_0F00;
const KEY: Str = Str::new("calibration");
const MISSING: Str = Str::new("not there");

#[no_mangle]
pub extern "C" fn __modinit__() {
    let value = [3i32, 5, 7];
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings; the headers `cache_get` returns stay valid until the
    // kernel ends, and the stored list has 3 elements (checked through its length).
    unsafe {
        break_realtime();
        cache_put(KEY, &List { ptr: value.as_ptr(), len: 3 });
        let mut sum = 0i32;
        for _ in 0..1000 {
            let l = &*cache_get(KEY);
            if l.len == 3 {
                sum += l.len as i32 + *l.ptr.add(2);
            }
        }
        rtio_output(TTL, sum);
        delay_mu(1000);
        rtio_output(TTL, (*cache_get(MISSING)).len as i32);
    }
}
