//! Address tables of the ARTIQ runtime entry points.
//!
//! The kernel-side runtime (timeline, RTIO, DMA, subkernel messages,
//! exceptions, logging, cache) fills these in as it implements each entry,
//! e.g. `Symbol::new("now_mu", crate::rtio::now_mu as *const ())`. Names must
//! come from [`names::ARTIQ`] and [`names::ARTIQ_UNSUPPORTED`] respectively
//! (checked at compile time); signatures and calling conventions are in
//! `shared/reference/kernel-abi.md` section 2. Until an entry is listed, a
//! kernel importing it fails to load with `UnresolvedSymbol`.

use super::{names, names_within, Symbol};

/// Entry points the satellite services.
pub const SUPPORTED: &[Symbol] = &[];

/// Stubs for entry points a satellite does not service (they end the
/// subkernel with an error when called).
pub const UNSUPPORTED: &[Symbol] = &[];

const _: () = assert!(
    names_within(SUPPORTED, names::ARTIQ),
    "artiq::SUPPORTED has a name not in names::ARTIQ"
);
const _: () = assert!(
    names_within(UNSUPPORTED, names::ARTIQ_UNSUPPORTED),
    "artiq::UNSUPPORTED has a name not in names::ARTIQ_UNSUPPORTED"
);
