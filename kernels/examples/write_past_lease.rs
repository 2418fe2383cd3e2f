//! Writes just past its DMA recording's lease. Starts recording
//! "lease_probe", records one output with a distinctive timestamp, finds
//! the lease in satman's `ddma` region (0x0530_0000..0x0930_0000 in
//! linker/satman.ld; CPU1 may read it all) by that first record at a page
//! start (leases are whole 4 KiB pages, `libdma::LEASE_ALIGNMENT`), writes
//! the lease's last word (CPU1's to write), then the word just past it: a
//! permission fault at `lease + 16 KiB` (`libdma::INITIAL_LEASE`). A lease
//! not found raises a RuntimeError (id 15) "lease not found" instead.

#![no_std]

use satman_test_kernels::*;

/// RTIO target: channel 0x00_0F with destination 1 in bits 16-23, address 0.
pub const TTL15: i32 = 0x0100_0F00;

pub const DDMA_START: usize = 0x0530_0000;
pub const DDMA_END: usize = 0x0930_0000;
/// The first lease of a recording (`libdma::INITIAL_LEASE`).
pub const LEASE: usize = 16 * 1024;
pub const PAGE: usize = 4096;
/// The probe record's timestamp (mu).
pub const STAMP: i64 = 0x0123_4567_5EA5_E001;
const TRACE: Str = Str::new("lease_probe");

/// The page-aligned start of a record of 17 bytes (one data word) with
/// timestamp [`STAMP`]: bytes 0 (length), 4..12 (timestamp, little-endian).
fn is_probe(page: usize) -> bool {
    // SAFETY: `page` lies in `ddma`, which CPU1's table maps readable; aligned word reads.
    unsafe {
        let w = |off: usize| core::ptr::read_volatile((page + off) as *const u32);
        w(0) & 0xFF == 17 && w(4) == STAMP as u32 && w(8) == (STAMP >> 32) as u32
    }
}

#[no_mangle]
pub extern "C" fn __modinit__() {
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and 'static
    // strings, as their declared signatures take.
    unsafe {
        dma_record_start(TRACE);
        at_mu(STAMP);
        rtio_output(TTL15, 1);
    }
    let Some(lease) = (DDMA_START..DDMA_END).step_by(PAGE).find(|&p| is_probe(p)) else {
        raise(exception_id::RUNTIME_ERROR, "lease not found", [0; 3], "write_past_lease")
    };
    // SAFETY: the lease's last word is the recorder's to write while the recording is open (it
    // garbles a recording that never completes); the store just past it deliberately faults:
    // this test kernel exists to check that satman ends a kernel which does this.
    unsafe {
        core::ptr::write_volatile(core::hint::black_box(lease + LEASE - 4) as *mut u32, 0x1EA5_E000);
        core::ptr::write_volatile(core::hint::black_box(lease + LEASE) as *mut u32, 0xDEAD_BEEF);
    }
    raise(exception_id::RUNTIME_ERROR, "wrote past the lease", [lease as i64, 0, 0], "write_past_lease")
}
