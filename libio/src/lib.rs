//! Byte readers and writers for wire formats.
//!
//! Every multi-byte value on the DRTIO aux link, in DMA traces and in
//! subkernel messages is little-endian, so the helpers here are
//! little-endian only. Readers never panic on short input: they return
//! [`Error::UnexpectedEnd`] and leave the cursor where it was, which lets a
//! decoder report a truncated packet instead of reading stale bytes.
#![no_std]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod cursor;
mod error;
mod read;
mod write;

pub use cursor::{Cursor, SliceReader, SliceWriter};
pub use error::Error;
pub use read::Read;
pub use write::Write;
