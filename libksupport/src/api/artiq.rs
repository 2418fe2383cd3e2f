//! Address tables of the ARTIQ runtime entry points.
//!
//! Every name of [`names::ARTIQ`] is served by an entry point in
//! [`crate::abi`]; the names of [`names::ARTIQ_UNSUPPORTED`] (host RPC, I2C,
//! CoaXPress) resolve to a stub that ends the subkernel with an explicit
//! error, so kernels that merely reference them still load. Signatures and
//! calling conventions are in `shared/reference/kernel-abi.md` section 2.

use super::{names, names_within, same_names, Symbol};
use crate::abi;

macro_rules! sym {
    ($name:ident) => {
        Symbol::new(stringify!($name), abi::$name as *const ())
    };
}

/// The naked entry points exist only on ARM; host builds of the table
/// (used by tests) point them at a placeholder.
#[cfg(target_arch = "arm")]
macro_rules! naked {
    ($name:ident) => {
        Symbol::new(stringify!($name), abi::$name as *const ())
    };
}
#[cfg(not(target_arch = "arm"))]
macro_rules! naked {
    ($name:ident) => {
        Symbol::new(stringify!($name), abi::unsupported as *const ())
    };
}

/// An API function that can raise: on ARM, entered through its trampoline
/// (which records the kernel's registers so that the unwinder can hand the
/// exception to the kernel); elsewhere the function itself.
#[cfg(target_arch = "arm")]
macro_rules! raising {
    ($name:ident) => {
        Symbol::new(stringify!($name), crate::eh::target::entry::$name as *const ())
    };
}
#[cfg(not(target_arch = "arm"))]
macro_rules! raising {
    ($name:ident) => {
        sym!($name)
    };
}
/// As `raising!`, for a naked entry point (a placeholder on the host).
#[cfg(target_arch = "arm")]
macro_rules! raising_naked {
    ($name:ident) => {
        raising!($name)
    };
}
#[cfg(not(target_arch = "arm"))]
macro_rules! raising_naked {
    ($name:ident) => {
        naked!($name)
    };
}

/// Entry points the satellite services, in the order of [`names::ARTIQ`].
pub const SUPPORTED: &[Symbol] = &[
    sym!(now_mu),
    sym!(at_mu),
    sym!(delay_mu),
    raising!(rtio_init),
    sym!(rtio_get_counter),
    raising!(rtio_get_destination_status),
    raising!(rtio_output),
    raising!(rtio_output_wide),
    raising!(rtio_input_timestamp),
    raising!(rtio_input_data),
    raising_naked!(rtio_input_timestamped_data),
    sym!(rtio_batch_start),
    sym!(rtio_batch_end),
    naked!(rtio_log),
    raising!(dma_record_start),
    raising!(dma_record_stop),
    raising!(dma_erase),
    raising!(dma_retrieve),
    raising!(dma_playback),
    raising!(subkernel_load_run),
    raising!(subkernel_await_finish),
    raising!(subkernel_send_message),
    raising!(subkernel_await_message),
    raising!(rpc_recv),
    sym!(__artiq_raise),
    sym!(__artiq_resume),
    sym!(__artiq_end_catch),
    sym!(__artiq_personality),
    sym!(_Unwind_Resume),
    sym!(test_exception_id_sync),
    naked!(core_log),
    sym!(cache_get),
    raising!(cache_put),
];

#[cfg(target_arch = "arm")]
macro_rules! stub {
    ($name:literal) => {
        Symbol::new($name, crate::eh::target::entry::unsupported as *const ())
    };
}
#[cfg(not(target_arch = "arm"))]
macro_rules! stub {
    ($name:literal) => {
        Symbol::new($name, abi::unsupported as *const ())
    };
}

/// Stubs for entry points a satellite does not service.
pub const UNSUPPORTED: &[Symbol] = &[
    stub!("rpc_send"),
    stub!("rpc_send_async"),
    stub!("i2c_start"),
    stub!("i2c_restart"),
    stub!("i2c_stop"),
    stub!("i2c_write"),
    stub!("i2c_read"),
    stub!("i2c_switch_select"),
    stub!("cxp_download_xml_file"),
    stub!("cxp_read32"),
    stub!("cxp_write32"),
    stub!("cxp_start_roi_viewer"),
    stub!("cxp_download_roi_viewer_frame"),
];

const _: () = assert!(same_names(SUPPORTED, names::ARTIQ), "artiq::SUPPORTED must list names::ARTIQ in order");
const _: () = assert!(
    names_within(UNSUPPORTED, names::ARTIQ_UNSUPPORTED) && UNSUPPORTED.len() == names::ARTIQ_UNSUPPORTED.len(),
    "artiq::UNSUPPORTED must cover names::ARTIQ_UNSUPPORTED"
);
