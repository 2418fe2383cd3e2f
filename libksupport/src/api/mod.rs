//! The symbols the firmware offers kernels, by name.
//!
//! A kernel image imports everything it does not define (ARTIQ runtime entry
//! points, libm, the ARM run-time ABI helpers, a few libc functions); the
//! loader asks [`resolve`] for each name. The table is a list of groups
//! searched in order:
//!
//! | group | names | provided by |
//! |---|---|---|
//! | ARTIQ runtime | [`names::ARTIQ`] | the kernel-side runtime, listed in [`artiq::SUPPORTED`] |
//! | unsupported ARTIQ | [`names::ARTIQ_UNSUPPORTED`] | stubs that end the subkernel, listed in [`artiq::UNSUPPORTED`] |
//! | libm | [`names::LIBM`] | `extern "C"` (AAPCS-VFP) wrappers over the `libm` crate, except `__powidf2` from compiler-builtins |
//! | RTABI | [`names::RTABI`] | compiler-builtins' `__aeabi_*` (base AAPCS, doubles in core registers) |
//! | libc | [`names::LIBC`] | compiler-builtins' mem functions; `strlen` written here |
//!
//! The name lists are plain data available on every architecture (host tests
//! and CPU0 check images against [`NAMES`]); the address tables exist only
//! when building for ARM. On ARM, compile-time assertions keep each address
//! table in step with its name list.

pub mod artiq;
#[cfg(target_arch = "arm")]
mod math;
pub mod names;
#[cfg(target_arch = "arm")]
mod rtabi;

pub use names::{position, position_hashed, NAMES};

/// One entry of an address table: a name and the address of what it names.
#[derive(Clone, Copy, Debug)]
pub struct Symbol {
    pub name: &'static str,
    pub addr: *const (),
}

// SAFETY: `addr` is only ever read as a number (to patch a kernel image);
// nothing is accessed through it by way of a `Symbol`.
unsafe impl Sync for Symbol {}
// SAFETY: as for `Sync`: moving a number between threads is harmless.
unsafe impl Send for Symbol {}

impl Symbol {
    /// `Symbol::new("now_mu", now_mu as *const ())`.
    pub const fn new(name: &'static str, addr: *const ()) -> Self {
        Symbol { name, addr }
    }
}

/// The address of [`NAMES`]`[index]` in `tables` (which list the names in
/// the order of [`NAMES`], as the compile-time checks keep them), as a
/// 32-bit number, which is what it is on the target.
pub fn address_at(tables: &[&[Symbol]], mut index: usize) -> Option<u32> {
    for table in tables {
        match table.get(index) {
            Some(sym) => return Some(sym.addr as usize as u32),
            None => index -= table.len(),
        }
    }
    None
}

/// Looks `name` up in `tables`, in order, by exact match. The address is
/// returned as a 32-bit number, which is what it is on the target.
pub fn lookup(tables: &[&[Symbol]], name: &[u8]) -> Option<u32> {
    tables
        .iter()
        .flat_map(|table| table.iter())
        .find(|sym| sym.name.as_bytes() == name)
        .map(|sym| sym.addr as usize as u32)
}

/// Every address table the firmware offers, in lookup order.
#[cfg(target_arch = "arm")]
pub static TABLES: &[&[Symbol]] = &[
    artiq::SUPPORTED,
    artiq::UNSUPPORTED,
    math::SYMBOLS,
    rtabi::RTABI_SYMBOLS,
    rtabi::LIBC_SYMBOLS,
];

/// The resolver to hand to [`Kernel::load`](crate::loader::Kernel::load):
/// the name's index in [`NAMES`] (hashed), then its entry in [`TABLES`]
/// (same order: each table lists its group of [`NAMES`]; `UNSUPPORTED`
/// only as a set, but all its entries are the same stub).
#[cfg(target_arch = "arm")]
pub fn resolve(name: &[u8]) -> Option<u32> {
    address_at(TABLES, position(name)?)
}

/// [`resolve`] as a [`Resolve`](crate::loader::Resolve)r, for
/// [`Kernel::load_with`](crate::loader::Kernel::load_with): it takes the
/// hash the loader computed while reading the name instead of hashing it
/// again (the same hash indexes [`NAMES`]).
#[cfg(target_arch = "arm")]
pub struct Resolver;

#[cfg(target_arch = "arm")]
impl crate::loader::Resolve for Resolver {
    fn resolve(&self, name: &[u8], gnu_hash: u32) -> Option<u32> {
        address_at(TABLES, position_hashed(name, gnu_hash)?)
    }
}

/// Whether the entries of `table` carry exactly the names of `names`, in the
/// same order (for the compile-time assertions of the address tables).
pub(crate) const fn same_names(table: &[Symbol], names: &[&str]) -> bool {
    if table.len() != names.len() {
        return false;
    }
    let mut i = 0;
    while i < table.len() {
        if !names::str_eq(table[i].name, names[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether every entry of `table` has a name from `names`.
pub(crate) const fn names_within(table: &[Symbol], names: &[&str]) -> bool {
    let mut i = 0;
    while i < table.len() {
        let mut found = false;
        let mut j = 0;
        while j < names.len() {
            if names::str_eq(table[i].name, names[j]) {
                found = true;
            }
            j += 1;
        }
        if !found {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests;
