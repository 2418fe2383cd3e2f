//! [`Frame`]: an owned, fixed-size frame for queues.
//!
//! A [`Packet`] borrows its payload, so it cannot wait in a queue after
//! the buffer it came from is reused (a gateware RX slot, say). A `Frame`
//! holds the encoded bytes inline, needs no allocation, and is decoded
//! again when it is taken from the queue.

use core::fmt;

use crate::error::{DecodeError, EncodeError};
use crate::packet::{Packet, MAX_PACKET};

/// One encoded frame of at most [`MAX_PACKET`] bytes.
#[derive(Clone)]
pub struct Frame {
    buf: [u8; MAX_PACKET],
    len: usize,
}

impl Frame {
    /// Encodes `packet`.
    pub fn encode(packet: &Packet<'_>) -> Result<Frame, EncodeError> {
        let mut frame = Frame {
            buf: [0; MAX_PACKET],
            len: 0,
        };
        frame.len = packet.encode(&mut frame.buf)?;
        Ok(frame)
    }

    /// Copies raw bytes, unchecked, for relaying a frame as received.
    ///
    /// To relay exactly one frame out of a longer RX slot, pass the slot
    /// cut to the length [`Packet::decode`] returned. Fails only if
    /// `bytes` is longer than [`MAX_PACKET`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Frame, EncodeError> {
        let mut frame = Frame {
            buf: [0; MAX_PACKET],
            len: bytes.len(),
        };
        let dst = frame
            .buf
            .get_mut(..bytes.len())
            .ok_or(EncodeError::BufferTooSmall {
                needed: bytes.len(),
                available: MAX_PACKET,
            })?;
        dst.copy_from_slice(bytes);
        Ok(frame)
    }

    /// The frame's bytes, CRC included.
    pub fn as_bytes(&self) -> &[u8] {
        // `len` is at most MAX_PACKET by construction.
        &self.buf[..self.len]
    }

    /// Length of the frame in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty frame, which only [`from_bytes`](Self::from_bytes)
    /// can make.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decodes the frame; the packet borrows from it.
    pub fn decode(&self) -> Result<Packet<'_>, DecodeError> {
        Packet::decode(self.as_bytes()).map(|(packet, _)| packet)
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Frame {}

impl fmt::Debug for Frame {
    /// Shows the decoded packet when there is one, the length otherwise;
    /// a thousand bytes of hex would drown a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decode() {
            Ok(packet) => f.debug_tuple("Frame").field(&packet).finish(),
            Err(err) => f
                .debug_struct("Frame")
                .field("len", &self.len)
                .field("error", &err)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PayloadStatus;

    #[test]
    fn encode_then_decode() {
        let data = [1, 2, 3];
        let packet = Packet::SubkernelMessage {
            source: 1,
            destination: 2,
            id: 3,
            status: PayloadStatus::FirstAndLast,
            data: &data,
        };
        let frame = Frame::encode(&packet).unwrap();
        assert_eq!(frame.len(), packet.encoded_len());
        assert_eq!(frame.decode(), Ok(packet));
    }

    #[test]
    fn from_bytes_copies_and_bounds() {
        let frame = Frame::encode(&Packet::EchoRequest).unwrap();
        let copy = Frame::from_bytes(frame.as_bytes()).unwrap();
        assert_eq!(copy, frame);
        // A whole RX slot with trailing garbage still decodes.
        let mut slot = [0xa5u8; MAX_PACKET];
        slot[..8].copy_from_slice(frame.as_bytes());
        assert_eq!(
            Frame::from_bytes(&slot).unwrap().decode(),
            Ok(Packet::EchoRequest)
        );
        assert!(Frame::from_bytes(&[0; MAX_PACKET + 1]).is_err());
        assert!(Frame::from_bytes(&[]).unwrap().is_empty());
    }

    #[test]
    fn oversized_payload_is_refused() {
        let data = [0u8; 1011];
        let packet = Packet::SubkernelException {
            destination: 0,
            last: true,
            data: &data,
        };
        assert_eq!(
            Frame::encode(&packet),
            Err(EncodeError::PayloadTooLarge {
                id: 0xca,
                len: 1011,
                max: 1010
            })
        );
    }
}
