//! The exception-handling cases of `src/eh_cases.S`, for the `catch_*` and
//! `finally_*` kernels.
//!
//! A kernel that calls them assembles the file into itself with
//! [`eh_cases!`](crate::eh_cases) at its top level. The library does not
//! include it: every kernel links the library, and only these few should
//! carry the cases and their EHABI tables.

use crate::Exception;

/// Where the cases and the kernels around them output: TTL channel 15 of
/// destination 1.
pub const TTL15: i32 = 0x0100_0F00;

// Each raises a copy of `template` (or has the firmware raise) and returns
// what its handler returns; a landing pad whose checks fail returns 1000 + a
// check code instead. See eh_cases.S for each case.
extern "C" {
    /// `try: raise ValueError except ValueError`: the handler outputs 42 on
    /// [`TTL15`] and returns 42.
    pub fn eh_catch_value_error(template: *const Exception) -> i32;
    /// `try: raise ValueError except IndexError`: the exception stays
    /// uncaught; never returns.
    pub fn eh_catch_index_error(template: *const Exception) -> i32;
    /// Calls [`eh_finally_inner`] in a try region catching ValueError: the
    /// handler outputs 2 on [`TTL15`] and returns 2.
    pub fn eh_finally_outer(template: *const Exception) -> i32;
    /// `try: raise ValueError finally: ...`: the cleanup pad outputs 1 on
    /// [`TTL15`], delays 1000 mu and resumes the unwinding.
    pub fn eh_finally_inner(template: *const Exception) -> i32;
    /// `try: rtio_output(TTL15, 5) except RTIOUnderflow`, at the caller's
    /// `now`: returns 43 once caught (1000 + 30 if nothing was raised).
    pub fn eh_catch_underflow() -> i32;
}

/// Assembles `src/eh_cases.S` into the kernel that invokes it (once, at its
/// top level), defining the functions declared in [`eh`](crate::eh).
#[macro_export]
macro_rules! eh_cases {
    () => {
        core::arch::global_asm!(
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/eh_cases.S")),
            options(raw)
        );
    };
}
