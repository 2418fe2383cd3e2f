//! satboot, the boot loader of the satman firmware: the platform-independent
//! half, which runs (and is tested) on the host too.
//!
//! The loader reads `/BOOT.BIN` from FAT partition 1 of the SD card, feeds
//! its PL partition (the bitstream) to the PCAP, copies its first PS
//! partition after the boot loader (satman) to its load address and jumps
//! to its entry. [`load`] holds those steps over two small traits (the
//! image reader and the PCAP); the target binary (`src/main.rs`, with
//! `--features qemu` or `kasli_soc`) supplies the hardware behind them.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(test)]
extern crate std;

pub mod clocks;
pub mod ddr;
pub mod load;
pub mod memcheck;
pub mod pins;
pub mod size;
