//! The frame trailer: zero padding to a word boundary, then a CRC-32.
//!
//! After the id and fields (the "body", `n` bytes) the sender pads with
//! zeros until the offset is 4 mod 8 and appends the CRC as a little-endian
//! u32, so every frame is a multiple of 8 bytes, at least 8. There is no
//! length field: the receiver learns `n` by decoding the fields.
//!
//! The CRC is the common IEEE one (zlib, Ethernet: reflected polynomial
//! 0xEDB88320, initial value and final xor 0xFFFFFFFF) over body and padding.

use ::crc::{Crc, CRC_32_ISO_HDLC};

/// Bytes of the CRC at the end of every frame.
pub const CRC_LEN: usize = 4;

/// Bytes of the smallest frame (an id, padding and the CRC).
pub const MIN_FRAME: usize = 8;

const IEEE: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// CRC-32 (IEEE/zlib) of `data`.
///
/// Besides framing, this is the checksum that `artiq_coremgmt flash`
/// appends to a firmware image.
pub fn checksum(data: &[u8]) -> u32 {
    IEEE.checksum(data)
}

/// Zero bytes that follow a body of `body_len` bytes: enough to reach an
/// offset of 4 mod 8, where the CRC starts.
pub const fn padding_len(body_len: usize) -> usize {
    (12 - body_len % 8) % 8
}

/// Offset of the CRC in the frame of a body of `body_len` bytes.
pub const fn crc_offset(body_len: usize) -> usize {
    body_len + padding_len(body_len)
}

/// Total frame length for a body of `body_len` bytes.
pub const fn frame_len(body_len: usize) -> usize {
    crc_offset(body_len) + CRC_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // The catalogue check value of CRC-32/ISO-HDLC.
        assert_eq!(checksum(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn frames_are_multiples_of_eight() {
        for n in 1..=1020 {
            let len = frame_len(n);
            assert_eq!(len % 8, 0);
            assert!(len >= MIN_FRAME);
            assert!(len - n >= CRC_LEN && len - n < CRC_LEN + 8);
        }
        assert_eq!(frame_len(1), 8);
        assert_eq!(frame_len(4), 8);
        assert_eq!(frame_len(5), 16);
        assert_eq!(frame_len(1020), 1024);
    }
}
