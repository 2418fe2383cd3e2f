//! The satboot binary for the Zynq-7000 (`armv7a-none-eabihf`): build with
//! exactly one board feature (`qemu` or `kasli_soc`). The flow is in
//! [`fw`]; the host-tested steps are in the satboot lib.
//!
//! On a non-ARM host this compiles to an empty program, so that a host
//! `cargo build --all-features` does not break.

#![cfg_attr(target_arch = "arm", no_std)]
#![cfg_attr(target_arch = "arm", no_main)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(target_arch = "arm")]
mod fw;

#[cfg(not(target_arch = "arm"))]
fn main() {}
