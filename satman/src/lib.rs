//! satman core: the platform-independent satellite manager.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod logbuf;
