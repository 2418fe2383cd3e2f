//! Recurses with a 4 KiB frame it writes until the stack runs into the
//! guard below CPU1's stack: a stack overflow (data abort in the guard).

#![no_std]

// Its panic handler and the ABI declarations.
use satman_test_kernels as _;

fn recurse(depth: u32) -> u32 {
    let mut frame = [0u8; 4096];
    frame[(depth as usize) % 4096] = depth as u8;
    let frame = core::hint::black_box(frame);
    // Never true: keeps the recursion from being a tail call or a loop.
    if core::hint::black_box(depth) == u32::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(frame[0] as u32)
}

#[no_mangle]
pub extern "C" fn __modinit__() {
    core::hint::black_box(recurse(0));
}
