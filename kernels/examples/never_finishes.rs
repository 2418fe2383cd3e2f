//! Never returns: advances the timeline and reads the RTIO counter forever,
//! for tests that stop a running kernel.

#![no_std]

use satman_test_kernels::*;

#[no_mangle]
pub extern "C" fn __modinit__() {
    loop {
        unsafe {
            delay_mu(1000);
            core::hint::black_box(rtio_get_counter());
        }
    }
}
