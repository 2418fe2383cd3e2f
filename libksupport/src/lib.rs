//! Kernel support: everything needed to run ARTIQ kernels on CPU1.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod abi;
pub mod api;
pub mod eh;
pub mod exception;
pub mod loader;
pub mod mailbox;
pub mod msg;
pub mod rpc;
pub mod runtime;
