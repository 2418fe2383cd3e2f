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

/// Entry points the satellite services, in the order of [`names::ARTIQ`].
pub const SUPPORTED: &[Symbol] = &[
    sym!(now_mu),
    sym!(at_mu),
    sym!(delay_mu),
    sym!(rtio_init),
    sym!(rtio_get_counter),
    sym!(rtio_get_destination_status),
    sym!(rtio_output),
    sym!(rtio_output_wide),
    sym!(rtio_input_timestamp),
    sym!(rtio_input_data),
    naked!(rtio_input_timestamped_data),
    sym!(rtio_batch_start),
    sym!(rtio_batch_end),
    naked!(rtio_log),
    sym!(dma_record_start),
    sym!(dma_record_stop),
    sym!(dma_erase),
    sym!(dma_retrieve),
    sym!(dma_playback),
    sym!(subkernel_load_run),
    sym!(subkernel_await_finish),
    sym!(subkernel_send_message),
    sym!(subkernel_await_message),
    sym!(rpc_recv),
    sym!(__artiq_raise),
    sym!(__artiq_resume),
    sym!(__artiq_end_catch),
    sym!(__artiq_personality),
    sym!(_Unwind_Resume),
    sym!(test_exception_id_sync),
    naked!(core_log),
    sym!(cache_get),
    sym!(cache_put),
];

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
