//! Hands the firmware a string argument that lies outside the kernel CPU's
//! memory: `dma_record_start` with a name at 0x4000_0000 (the PL window,
//! where a read by CPU0 could fault or hang it). CPU1 passes the range on
//! without reading it; CPU0 must refuse to read it and answer with an
//! error, which the runtime raises as a ValueError the master receives.
//! One event (1) marks that the kernel got that far.

#![no_std]

use satman_test_kernels::*;

pub const TTL15: i32 = 0x0100_0F00;

/// In the PL window: neither CPU1's memory nor RAM.
pub const WILD: usize = 0x4000_0000;

#[no_mangle]
pub extern "C" fn __modinit__() {
    // SAFETY: imports from the kernel ABI, called with plain values; the
    // name deliberately points outside the kernel's memory: the firmware
    // must refuse it without reading it.
    unsafe {
        break_realtime();
        rtio_output(TTL15, 1);
        dma_record_start(Str { ptr: core::hint::black_box(WILD) as *const u8, len: 16 });
        rtio_output(TTL15, 2);
    }
}
