//! Seconds-based delays, as the ARTIQ compiler lowers `delay(t)`:
//! `delay_mu(__aeabi_d2lz(round(t / ref_period)))`, plus a little more
//! libm/RTABI use (`floor` and `round` through a table of function pointers,
//! which the linker turns into `R_ARM_ABS32` relocations; `__powidf2`; an
//! i64 division, which is `__aeabi_ldivmod`).

#![no_std]

use satman_test_kernels::*;

pub const TTL: i32 = 0x0100_0F00;
/// Kasli-SoC reference period: 1 ns.
const REF_PERIOD: f64 = 1e-9;

/// Imported functions stored as data: each entry is an ABS32 relocation.
static ROUNDING: [unsafe extern "C" fn(f64) -> f64; 2] = [round, floor];

#[inline(always)]
fn delay(seconds: f64) {
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe { delay_mu(__aeabi_d2lz(round(seconds / REF_PERIOD))) }
}

#[no_mangle]
pub extern "C" fn __modinit__() {
    break_realtime();
    // SAFETY: a compiler-rt helper the firmware exports, called with plain values.
    let micro = unsafe { __powidf2(10.0, -6) };
    for i in 1..=10 {
        // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and
        // pointers to live locals or 'static strings, as their declared signatures take; the
        // firmware validates every argument.
        unsafe { rtio_output(TTL, 1) };
        delay(1.5 * micro * f64::from(i));
        // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and
        // pointers to live locals or 'static strings, as their declared signatures take; the
        // firmware validates every argument.
        unsafe { rtio_output(TTL, 0) };
        delay(2.5e-6);
    }
    // Round the timeline up to a multiple of 3 µs (3000 mu): an i64 division.
    let rounding = core::hint::black_box(&ROUNDING);
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    let now = unsafe { now_mu() };
    let step = core::hint::black_box(3000i64);
    // SAFETY: libm rounding functions the firmware exports, called with plain values.
    let periods = unsafe { rounding[1](now as f64 / step as f64) } as i64;
    let next = (now / step + 1).max(periods + 1) * step;
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe { at_mu(next) };
    // SAFETY: libm rounding functions the firmware exports, called with plain values.
    delay(unsafe { rounding[0](0.4) } * 1e-6);
}
