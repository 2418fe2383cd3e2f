//! Calls a function at 0x3000_0000, which no board maps: a prefetch abort
//! (translation fault) with PC and address 0x3000_0000.

#![no_std]

// Its panic handler and the ABI declarations.
use satman_test_kernels as _;

#[no_mangle]
pub extern "C" fn __modinit__() {
    // SAFETY: deliberately faulting: this test kernel exists to check that satman ends a kernel
    // which does this; nothing after the fault runs.
    let f: extern "C" fn() = unsafe { core::mem::transmute(core::hint::black_box(0x3000_0000usize)) };
    f();
}
