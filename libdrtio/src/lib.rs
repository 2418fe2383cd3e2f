//! DRTIO aux-channel packets (work in progress).
#![no_std]
extern crate alloc;
