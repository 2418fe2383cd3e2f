//! Why a frame could not be decoded or a packet could not be encoded.
//!
//! [`DecodeError`] is exhaustive on purpose: the satellite logs every
//! rejected frame and drops it, and a `match` without a wildcard makes a new
//! failure mode a compile error in that logging code rather than a silent
//! "other".

use core::fmt;

/// A received frame that is not a valid aux packet.
///
/// [`Packet::decode`](crate::Packet::decode) checks in this order, and
/// reports the first failure:
///
/// 1. the id byte: [`Truncated`](Self::Truncated) if the frame is empty,
///    [`UnknownPacket`](Self::UnknownPacket) if it names no packet;
/// 2. the fields, which give the frame layout:
///    [`Truncated`](Self::Truncated) if they run past the end of the input,
///    [`LengthTooLarge`](Self::LengthTooLarge) if a length field exceeds the
///    packet's maximum (the CRC would then lie beyond any legal frame, so it
///    cannot be checked);
/// 3. the trailer: [`Truncated`](Self::Truncated) if padding and CRC do not
///    fit, [`CrcMismatch`](Self::CrcMismatch) if the CRC is wrong;
/// 4. field values, only once the CRC has vouched for the bytes:
///    [`InvalidPayloadStatus`](Self::InvalidPayloadStatus).
///
/// So a frame damaged in transit is reported as corrupted, not as carrying
/// a strange value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The input ended before the id, a field, the padding or the CRC was
    /// complete. `needed` is how many bytes the decoder knew it needed when
    /// it stopped (a lower bound when a field was cut short); `available` is
    /// the length of the input.
    Truncated { needed: usize, available: usize },
    /// Byte 0 is not the id of any ARTIQ 9 aux packet. Ids freed by
    /// protocol revisions (for example 0x91) are unknown too.
    UnknownPacket { id: u8 },
    /// The CRC-32 stored in the frame (`expected`) differs from the one
    /// computed over the id, fields and padding (`computed`).
    CrcMismatch { expected: u32, computed: u32 },
    /// A `PayloadStatus` byte above 3, in a frame whose CRC is correct.
    /// The reference firmware panics on this; we report it.
    InvalidPayloadStatus { id: u8, status: u8 },
    /// A length field above the packet's maximum. `len` and `max` are in
    /// the field's unit: bytes, or 64-bit words for
    /// `CXPROIViewerPixelDataReply`.
    LengthTooLarge { id: u8, len: u16, max: u16 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated { needed, available } => write!(
                f,
                "truncated aux frame: need {needed} bytes, have {available}"
            ),
            DecodeError::UnknownPacket { id } => write!(f, "unknown aux packet id {id:#04x}"),
            DecodeError::CrcMismatch { expected, computed } => write!(
                f,
                "aux frame CRC mismatch: frame says {expected:#010x}, computed {computed:#010x}"
            ),
            DecodeError::InvalidPayloadStatus { id, status } => {
                write!(f, "aux packet {id:#04x}: invalid payload status {status}")
            }
            DecodeError::LengthTooLarge { id, len, max } => {
                write!(f, "aux packet {id:#04x}: length {len} above maximum {max}")
            }
        }
    }
}

impl core::error::Error for DecodeError {}

/// A packet that cannot be put on the wire as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// The variable-length payload (in bytes) is longer than the packet
    /// allows, so the frame would exceed [`MAX_PACKET`](crate::MAX_PACKET).
    PayloadTooLarge { id: u8, len: usize, max: usize },
    /// `CXPROIViewerPixelDataReply` carries whole 64-bit words; its payload
    /// length in bytes must be a multiple of 8.
    UnalignedPayload { id: u8, len: usize },
    /// The output buffer is shorter than the frame.
    BufferTooSmall { needed: usize, available: usize },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::PayloadTooLarge { id, len, max } => write!(
                f,
                "aux packet {id:#04x}: payload of {len} bytes above maximum {max}"
            ),
            EncodeError::UnalignedPayload { id, len } => write!(
                f,
                "aux packet {id:#04x}: payload of {len} bytes is not whole 64-bit words"
            ),
            EncodeError::BufferTooSmall { needed, available } => {
                write!(f, "aux frame needs {needed} bytes, buffer has {available}")
            }
        }
    }
}

impl core::error::Error for EncodeError {}
