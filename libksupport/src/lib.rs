//! Kernel support: everything needed to run ARTIQ kernels on CPU1.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod mailbox;
