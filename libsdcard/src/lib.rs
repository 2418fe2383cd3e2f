//! SD card storage for satman and its boot loader: the block device trait,
//! the SD host controller driver, and the FAT-backed store of the card's
//! files (`/BOOT.BIN`, `/CONFIG.TXT`, `/CONFIG/<KEY>.BIN`).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "std")]
extern crate std;

pub mod block;
pub mod sdhci;

pub use block::{BlockDevice, BlockError, BLOCK_SIZE};
