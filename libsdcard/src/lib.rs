//! SD card storage for satman and its boot loader: the block device trait,
//! the SD host controller driver, and the FAT-backed store of the card's
//! files (`/BOOT.BIN`, `/CONFIG.TXT`, `/CONFIG/<KEY>.BIN`).
//!
//! - [`block`]: the [`BlockDevice`] trait; [`mem`], [`fault`] (and `file`
//!   with feature `std`): host devices and the power-cut wrapper.
//! - [`fat`]: the FAT16/FAT32 layer (why our own: see its docs).
//! - [`card`]: [`Card`]: mount, read files, the configuration store and the
//!   crash-consistent boot image writer.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod block;
pub mod boot;
pub mod card;
pub mod config;
pub mod error;
pub mod fat;
pub mod fault;
#[cfg(feature = "std")]
pub mod file;
pub mod format;
pub mod mem;
pub mod readat;
pub mod sdhci;
mod spare;
pub mod store;

pub use block::{BlockDevice, BlockError, BLOCK_SIZE};
pub use boot::{BootWriter, CommitError};
pub use card::{Card, FileInfo, VolumeInfo};
pub use error::CardError;
pub use fault::PowerCut;
#[cfg(feature = "std")]
pub use file::FileDevice;
pub use mem::{Logged, MemDevice};
pub use readat::{ChainReader, ReadAt};
