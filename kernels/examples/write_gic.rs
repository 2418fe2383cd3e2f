//! Writes 0 to the GIC distributor's control register (0xF8F0_1000), which
//! would stop every interrupt of both CPUs. CPU1 sets up its banked
//! distributor registers before its MMU is on; its translation table then
//! has no entry for the distributor's page: a translation fault at that
//! address, and the distributor untouched.

#![no_std]

use satman_test_kernels::*;

/// RTIO target: channel 0x00_0F with destination 1 in bits 16-23, address 0.
pub const TTL15: i32 = 0x0100_0F00;

/// GICD_CTLR.
pub const GIC_DISTRIBUTOR: usize = 0xF8F0_1000;

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    // SAFETY: deliberately faulting: this test kernel exists to check that satman ends a kernel
    // which does this; nothing after the fault runs.
    unsafe {
        rtio_output(TTL15, 1);
        core::ptr::write_volatile(core::hint::black_box(GIC_DISTRIBUTOR) as *mut u32, 0);
        rtio_output(TTL15, 2);
    }
}
