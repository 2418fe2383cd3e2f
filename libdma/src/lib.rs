//! DDMA trace store (work in progress).
#![no_std]
extern crate alloc;
