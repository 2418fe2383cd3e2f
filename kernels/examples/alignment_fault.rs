//! `LDRD` from an address that is not word aligned: an alignment fault
//! (the A9 requires word alignment for LDRD even with SCTLR.A clear).

#![no_std]

// Its panic handler and the ABI declarations.
use satman_test_kernels as _;

#[no_mangle]
pub extern "C" fn __modinit__() {
    let buf = [0u32; 4];
    let unaligned = core::hint::black_box(buf.as_ptr() as usize + 1);
    // SAFETY: deliberately faulting: this test kernel exists to check that satman ends a kernel
    // which does this; nothing after the fault runs.
    unsafe {
        core::arch::asm!(
            "ldrd r0, r1, [{p}]",
            p = in(reg) unaligned,
            out("r0") _,
            out("r1") _,
            options(nostack, readonly)
        );
    }
}
