//! The DRTIO aux channel of ARTIQ 9, as a satellite sees it.
//!
//! - [`Packet`]: every aux packet (80 of them), decoded from and encoded to
//!   frames that are byte-for-byte what the ARTIQ 9 master sends and expects.
//! - [`Frame`]: an owned, fixed-size encoded frame, for queues.
//! - [`Reassembler`]: joins chunked payloads (subkernel images, DMA traces,
//!   messages, config values, firmware).
//! - [`RoutingTable`] and [`Route`]: which way each destination lies.
//!
//! # Framing
//!
//! ```text
//! | id | fields, packed, little-endian | zero padding | CRC-32 (LE) |
//!   1                                    to offset ≡ 4 (mod 8)   4
//! ```
//!
//! bool fields are one byte (written 0/1, any non-zero reads as true);
//! variable-length payloads are a u16 length and the bytes. There is no
//! frame length field: the receiver decodes the fields to find the CRC, so
//! frames are multiples of 8 bytes, at least 8 and at most
//! [`MAX_PACKET`]. The CRC is the IEEE/zlib CRC-32 ([`checksum`]) over
//! everything before it, padding included.
//!
//! # Hostile input
//!
//! [`Packet::decode`] never panics, whatever the bytes, and reports a
//! damaged frame as such: see [`DecodeError`] for the order of checks.
//! The reference firmware panics on a bad payload status or an oversized
//! length field; here both are errors.
//!
//! # Example
//!
//! ```
//! use libdrtio::{Frame, Packet, MAX_PACKET};
//!
//! // An RX slot holding an EchoRequest followed by stale bytes.
//! let mut slot = [0xa5u8; MAX_PACKET];
//! slot[..8].copy_from_slice(&[0x00, 0x00, 0x00, 0x00, 0x1c, 0xdf, 0x44, 0x21]);
//! let (request, len) = Packet::decode(&slot)?;
//! assert_eq!((request, len), (Packet::EchoRequest, 8));
//!
//! let reply = Frame::encode(&Packet::EchoReply)?;
//! assert_eq!(reply.as_bytes().len(), 8);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
#![no_std]

extern crate alloc;

mod crc;
mod decode;
mod encode;
mod error;
mod frame;
mod packet;
mod reassembly;
mod routing;
mod status;

pub use crate::crc::{checksum, frame_len, padding_len, CRC_LEN, MIN_FRAME};
pub use crate::error::{DecodeError, EncodeError};
pub use crate::frame::Frame;
pub use crate::packet::{
    Packet, CXP_PAYLOAD_MAX_SIZE, CXP_PAYLOAD_MAX_SIZE_U64, MASTER_PAYLOAD_MAX_SIZE, MAX_PACKET,
    SAT_PAYLOAD_MAX_SIZE,
};
pub use crate::reassembly::{Progress, Reassembler, ReassemblyError};
pub use crate::routing::{Route, RoutingTable, DESTINATIONS, INVALID_HOP, MAX_HOPS, TABLE_BYTES};
pub use crate::status::{InvalidStatus, PayloadStatus};
