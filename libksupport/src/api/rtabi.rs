//! ARM run-time ABI helpers and the libc memory functions, as compiler-builtins
//! provides them to the firmware.
//!
//! Nothing here is reimplemented: the firmware links compiler-builtins anyway
//! (its `mem` feature is forced on for `*-none-*` targets, so memcpy & co. are
//! there without `-Zbuild-std-features=compiler-builtins-mem`), and its
//! `__aeabi_*` entries already use the base AAPCS the RTABI requires (floats
//! and doubles in core registers, not VFP registers). The declarations below
//! only document those conventions: the firmware never calls them, it takes
//! their addresses. The divmod helpers return two values (quotient in r0 or
//! r0:r1, remainder in r1 or r2:r3) and cannot be expressed as Rust
//! signatures; they are declared without any.
//!
//! Every name here exists in a plain `-Zbuild-std=core,alloc` build for
//! `armv7a-none-eabihf` (checked by linking a firmware-like binary that
//! references the whole table), including `__aeabi_memclr*`, `__aeabi_d2f`,
//! `__aeabi_uidivmod` and `__powidf2`. `strlen` is nevertheless written here:
//! compiler-builtins only exports its `strlen` as part of the `mem` feature,
//! and a two-line loop is cheaper than depending on that detail.

use super::{names, same_names, Symbol};

extern "aapcs" {
    fn __aeabi_dadd(a: f64, b: f64) -> f64;
    fn __aeabi_ddiv(a: f64, b: f64) -> f64;
    fn __aeabi_dmul(a: f64, b: f64) -> f64;
    fn __aeabi_dsub(a: f64, b: f64) -> f64;
    fn __aeabi_dcmpeq(a: f64, b: f64) -> i32;
    fn __aeabi_dcmplt(a: f64, b: f64) -> i32;
    fn __aeabi_dcmple(a: f64, b: f64) -> i32;
    fn __aeabi_dcmpge(a: f64, b: f64) -> i32;
    fn __aeabi_dcmpgt(a: f64, b: f64) -> i32;
    fn __aeabi_dcmpun(a: f64, b: f64) -> i32;
    fn __aeabi_fadd(a: f32, b: f32) -> f32;
    fn __aeabi_fdiv(a: f32, b: f32) -> f32;
    fn __aeabi_fmul(a: f32, b: f32) -> f32;
    fn __aeabi_fsub(a: f32, b: f32) -> f32;
    fn __aeabi_fcmpeq(a: f32, b: f32) -> i32;
    fn __aeabi_fcmplt(a: f32, b: f32) -> i32;
    fn __aeabi_fcmple(a: f32, b: f32) -> i32;
    fn __aeabi_fcmpge(a: f32, b: f32) -> i32;
    fn __aeabi_fcmpgt(a: f32, b: f32) -> i32;
    fn __aeabi_fcmpun(a: f32, b: f32) -> i32;
    fn __aeabi_d2iz(a: f64) -> i32;
    fn __aeabi_d2uiz(a: f64) -> u32;
    fn __aeabi_d2lz(a: f64) -> i64;
    fn __aeabi_d2ulz(a: f64) -> u64;
    fn __aeabi_f2iz(a: f32) -> i32;
    fn __aeabi_f2uiz(a: f32) -> u32;
    fn __aeabi_f2lz(a: f32) -> i64;
    fn __aeabi_f2ulz(a: f32) -> u64;
    fn __aeabi_f2d(a: f32) -> f64;
    fn __aeabi_d2f(a: f64) -> f32;
    fn __aeabi_i2d(a: i32) -> f64;
    fn __aeabi_ui2d(a: u32) -> f64;
    fn __aeabi_l2d(a: i64) -> f64;
    fn __aeabi_ul2d(a: u64) -> f64;
    fn __aeabi_i2f(a: i32) -> f32;
    fn __aeabi_ui2f(a: u32) -> f32;
    fn __aeabi_l2f(a: i64) -> f32;
    fn __aeabi_ul2f(a: u64) -> f32;
    fn __aeabi_lmul(a: i64, b: i64) -> i64;
    fn __aeabi_llsl(a: u64, shift: i32) -> u64;
    fn __aeabi_llsr(a: u64, shift: i32) -> u64;
    fn __aeabi_lasr(a: i64, shift: i32) -> i64;
    fn __aeabi_idiv(a: i32, b: i32) -> i32;
    fn __aeabi_uidiv(a: u32, b: u32) -> u32;
    fn __aeabi_idivmod();
    fn __aeabi_uidivmod();
    fn __aeabi_ldivmod();
    fn __aeabi_uldivmod();
    fn __aeabi_memcpy(dst: *mut u8, src: *const u8, n: usize);
    fn __aeabi_memcpy4(dst: *mut u8, src: *const u8, n: usize);
    fn __aeabi_memcpy8(dst: *mut u8, src: *const u8, n: usize);
    fn __aeabi_memmove(dst: *mut u8, src: *const u8, n: usize);
    fn __aeabi_memmove4(dst: *mut u8, src: *const u8, n: usize);
    fn __aeabi_memmove8(dst: *mut u8, src: *const u8, n: usize);
    fn __aeabi_memset(dst: *mut u8, n: usize, c: i32);
    fn __aeabi_memset4(dst: *mut u8, n: usize, c: i32);
    fn __aeabi_memset8(dst: *mut u8, n: usize, c: i32);
    fn __aeabi_memclr(dst: *mut u8, n: usize);
    fn __aeabi_memclr4(dst: *mut u8, n: usize);
    fn __aeabi_memclr8(dst: *mut u8, n: usize);
}

extern "C" {
    fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
    fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
    fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8;
    fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32;
    fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32;
}

/// C `strlen`.
///
/// # Safety
/// `s` points to a NUL-terminated string.
unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: every byte up to and including the NUL is readable (the
    // caller's contract), and the loop stops at the NUL.
    while unsafe { *s.add(n) } != 0 {
        n += 1;
    }
    n
}

macro_rules! table {
    ($( $name:ident ),* $(,)?) => {
        &[ $( Symbol::new(stringify!($name), $name as *const ()), )* ]
    };
}

// Same order as `names::RTABI` (checked below).
const RTABI: &[Symbol] = table![
    __aeabi_dadd,
    __aeabi_ddiv,
    __aeabi_dmul,
    __aeabi_dsub,
    __aeabi_dcmpeq,
    __aeabi_dcmplt,
    __aeabi_dcmple,
    __aeabi_dcmpge,
    __aeabi_dcmpgt,
    __aeabi_dcmpun,
    __aeabi_fadd,
    __aeabi_fdiv,
    __aeabi_fmul,
    __aeabi_fsub,
    __aeabi_fcmpeq,
    __aeabi_fcmplt,
    __aeabi_fcmple,
    __aeabi_fcmpge,
    __aeabi_fcmpgt,
    __aeabi_fcmpun,
    __aeabi_d2iz,
    __aeabi_d2uiz,
    __aeabi_d2lz,
    __aeabi_d2ulz,
    __aeabi_f2iz,
    __aeabi_f2uiz,
    __aeabi_f2lz,
    __aeabi_f2ulz,
    __aeabi_f2d,
    __aeabi_d2f,
    __aeabi_i2d,
    __aeabi_ui2d,
    __aeabi_l2d,
    __aeabi_ul2d,
    __aeabi_i2f,
    __aeabi_ui2f,
    __aeabi_l2f,
    __aeabi_ul2f,
    __aeabi_lmul,
    __aeabi_llsl,
    __aeabi_llsr,
    __aeabi_lasr,
    __aeabi_idiv,
    __aeabi_idivmod,
    __aeabi_uidiv,
    __aeabi_uidivmod,
    __aeabi_ldivmod,
    __aeabi_uldivmod,
    __aeabi_memcpy,
    __aeabi_memcpy4,
    __aeabi_memcpy8,
    __aeabi_memmove,
    __aeabi_memmove4,
    __aeabi_memmove8,
    __aeabi_memset,
    __aeabi_memset4,
    __aeabi_memset8,
    __aeabi_memclr,
    __aeabi_memclr4,
    __aeabi_memclr8,
];

const LIBC: &[Symbol] = table![memcpy, memmove, memset, memcmp, bcmp, strlen];

pub static RTABI_SYMBOLS: &[Symbol] = RTABI;
pub static LIBC_SYMBOLS: &[Symbol] = LIBC;

const _: () = assert!(
    same_names(RTABI, names::RTABI),
    "api::rtabi table out of step with names::RTABI"
);
const _: () = assert!(
    same_names(LIBC, names::LIBC),
    "api::rtabi libc table out of step with names::LIBC"
);
