//! Never returns: advances the timeline and reads the RTIO counter forever,
//! for tests that stop a running kernel.

#![no_std]

use satman_test_kernels::*;

#[no_mangle]
pub extern "C" fn __modinit__() {
    loop {
        // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and
        // pointers to live locals or 'static strings, as their declared signatures take; the
        // firmware validates every argument.
        unsafe {
            delay_mu(1000);
            core::hint::black_box(rtio_get_counter());
        }
    }
}
