//! libm for kernels: AAPCS-VFP (`extern "C"` on `armv7a-none-eabihf`)
//! wrappers over the `libm` crate, arguments in d0/d1 (integers in r0),
//! result in d0, as the ARTIQ compiler calls them.
//!
//! The wrappers keep mangled Rust names: compiler-builtins already exports
//! weak C-named `sin`, `round`, ... on bare-metal targets, and only the
//! addresses matter here. `__powidf2` (LLVM's `powi` libcall, hard-float
//! convention like the rest of this group) is compiler-builtins' own.

use super::{names, same_names, Symbol};

extern "C" {
    fn __powidf2(a: f64, b: i32) -> f64;
}

macro_rules! libm_table {
    (wrap { $( $name:ident ( $( $arg:ident : $ty:ty ),* ) ),* $(,)? } extern { $( $ext:ident ),* $(,)? }) => {
        $(
            extern "C" fn $name($( $arg: $ty ),*) -> f64 {
                libm::$name($( $arg ),*)
            }
        )*
        const TABLE: &[Symbol] = &[
            $( Symbol::new(stringify!($name), $name as *const ()), )*
            $( Symbol::new(stringify!($ext), $ext as *const ()), )*
        ];
    };
}

// Same order as `names::LIBM` (checked below).
libm_table! {
    wrap {
        acos(x: f64), acosh(x: f64), asin(x: f64), asinh(x: f64), atan(x: f64), atanh(x: f64),
        cbrt(x: f64), ceil(x: f64), cos(x: f64), cosh(x: f64), erf(x: f64), erfc(x: f64),
        exp(x: f64), exp2(x: f64), exp10(x: f64), expm1(x: f64), fabs(x: f64), floor(x: f64),
        j0(x: f64), j1(x: f64), lgamma(x: f64), log(x: f64), log2(x: f64), log10(x: f64),
        rint(x: f64), round(x: f64), sin(x: f64), sinh(x: f64), sqrt(x: f64), tan(x: f64),
        tanh(x: f64), tgamma(x: f64), trunc(x: f64), y0(x: f64), y1(x: f64),
        atan2(y: f64, x: f64), copysign(x: f64, y: f64), fmax(x: f64, y: f64), fmin(x: f64, y: f64),
        fmod(x: f64, y: f64), hypot(x: f64, y: f64), nextafter(x: f64, y: f64), pow(x: f64, y: f64),
        ldexp(x: f64, n: i32), fma(x: f64, y: f64, z: f64), jn(n: i32, x: f64), yn(n: i32, x: f64),
    }
    extern { __powidf2 }
}

pub static SYMBOLS: &[Symbol] = TABLE;

const _: () = assert!(
    same_names(TABLE, names::LIBM),
    "api::math table out of step with names::LIBM"
);
