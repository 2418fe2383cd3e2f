//! The Zynq-7000 boot image (BOOT.BIN): parse, validate and write it.
//!
//! One crate for three users: the firmware validates a flashed image on the
//! SD card before it replaces `/BOOT.BIN`, the boot loader finds the
//! bitstream and the application in it, and the host tool (`satctl image`)
//! builds and inspects images. Parsing is `no_std`, allocation-free and
//! reads through [`ReadAt`] with small fixed buffers, so an image of tens of
//! MiB is validated without holding it in memory. Writing needs `alloc`.
//!
//! The format (UG585 ch. 6.3, UG821) and the byte-level choices (layout,
//! image names, bitstream byte swap and padding) follow what Xilinx
//! `bootgen -arch zynq` writes; the tests use `bootgen` as their oracle.
//! See [`writer`] for where this crate's images differ from bootgen's.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod bitfile;
pub mod error;
pub mod layout;
pub mod parse;
pub mod reader;

#[cfg(any(feature = "alloc", test))]
pub mod elf;
#[cfg(any(feature = "alloc", test))]
pub mod testgen;
#[cfg(any(feature = "alloc", test))]
pub mod writer;

pub use error::{Error, Region};
pub use layout::Destination;
pub use parse::{BootHeader, BootImage, Image, Partition, MAX_IMAGES, MAX_NAME_LEN, MAX_PARTITIONS};
#[cfg(feature = "std")]
pub use reader::FileReader;
pub use reader::{OutOfRange, ReadAt};
