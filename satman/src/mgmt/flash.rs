//! Receiving a boot image over DRTIO (`artiq_coremgmt flash`).
//!
//! The master sends BOOT.BIN followed by its CRC-32 (IEEE, little-endian)
//! in 1010-byte slices; `payload_length` is only a capacity hint. The
//! image is streamed to the store as it arrives, so a 20 MB image needs no
//! more memory than one slice: the last four bytes seen are held back (they
//! are the CRC once the last slice has arrived) and the CRC of everything
//! before them is computed on the way.

use crc::{Crc, Digest, CRC_32_ISO_HDLC};

use crate::hal::{ConfigError, ConfigStore};

static IEEE: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Why a flash was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashError {
    /// Data arrived without a `CoreMgmtFlashRequest`, or after a failure.
    NotStarted,
    /// Less than a CRC arrived.
    TooShort,
    /// More than the announced capacity arrived.
    TooLong,
    /// The CRC does not match the image.
    Crc { expected: u32, actual: u32 },
    Store(ConfigError),
}

/// One boot image being received.
pub struct FlashStream {
    digest: Digest<'static, u32>,
    /// The last (up to) four bytes received, not yet written.
    tail: [u8; 4],
    tail_len: usize,
    /// Bytes received, CRC included.
    received: u64,
    capacity: u64,
}

impl FlashStream {
    /// Starts a stream of at most `payload_length` bytes (image + CRC).
    pub fn begin(store: &mut dyn ConfigStore, payload_length: u32) -> Result<FlashStream, FlashError> {
        if payload_length < 4 {
            return Err(FlashError::TooShort);
        }
        store.boot_begin(payload_length - 4).map_err(FlashError::Store)?;
        Ok(FlashStream { digest: IEEE.digest(), tail: [0; 4], tail_len: 0, received: 0, capacity: payload_length as u64 })
    }

    /// Takes one slice: everything but the newest four bytes goes to the
    /// store.
    pub fn push(&mut self, store: &mut dyn ConfigStore, data: &[u8]) -> Result<(), FlashError> {
        self.received += data.len() as u64;
        if self.received > self.capacity {
            return Err(FlashError::TooLong);
        }
        // Bytes that leave the 4-byte window: the old tail first, then data.
        let total = self.tail_len + data.len();
        let keep = total.min(4);
        let release = total - keep;
        let from_tail = release.min(self.tail_len);
        if from_tail > 0 {
            let old = self.tail;
            self.digest.update(&old[..from_tail]);
            store.boot_write(&old[..from_tail]).map_err(FlashError::Store)?;
            self.tail.copy_within(from_tail..self.tail_len, 0);
            self.tail_len -= from_tail;
        }
        let from_data = release - from_tail;
        if from_data > 0 {
            self.digest.update(&data[..from_data]);
            store.boot_write(&data[..from_data]).map_err(FlashError::Store)?;
        }
        let rest = &data[from_data..];
        self.tail[self.tail_len..self.tail_len + rest.len()].copy_from_slice(rest);
        self.tail_len += rest.len();
        Ok(())
    }

    /// Ends the stream: the CRC of the image must match the last four bytes.
    /// Returns the image's length and CRC.
    pub fn finish(self) -> Result<(u32, u32), FlashError> {
        if self.tail_len < 4 {
            return Err(FlashError::TooShort);
        }
        let expected = u32::from_le_bytes(self.tail);
        let actual = self.digest.finalize();
        if expected != actual {
            return Err(FlashError::Crc { expected, actual });
        }
        Ok(((self.received - 4) as u32, actual))
    }
}

/// Bytes per read of [`crc_of`]: a card store reads whole blocks of
/// consecutive clusters with one multi-block command, so the read-back of
/// a 20 MB image is ~600 commands instead of 40 000 single-block ones. The
/// card store frees its 32 KiB write buffer before the read-back, so this
/// one takes its place within what the flash was admitted for.
const CRC_READ_BYTES: usize = 32 * 1024;

/// CRC-32 of `len` bytes read back through `reader`.
pub fn crc_of(reader: &mut dyn crate::hal::ImageReader) -> Result<u32, ConfigError> {
    let mut d = IEEE.digest();
    let mut buf = alloc::vec![0u8; CRC_READ_BYTES.min(reader.len() as usize)];
    let len = reader.len();
    let mut off = 0u32;
    while off < len {
        let n = (len - off).min(buf.len() as u32) as usize;
        reader.read_at(off, &mut buf[..n])?;
        d.update(&buf[..n]);
        off += n as u32;
    }
    Ok(d.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgmt::RamConfig;

    fn stream(image: &[u8], slices: usize) -> (RamConfig, Result<(u32, u32), FlashError>) {
        let mut payload = image.to_vec();
        payload.extend_from_slice(&IEEE.checksum(image).to_le_bytes());
        let mut store = RamConfig::default();
        let mut s = FlashStream::begin(&mut store, payload.len() as u32).unwrap();
        for c in payload.chunks(slices.max(1)) {
            s.push(&mut store, c).unwrap();
        }
        let r = s.finish();
        (store, r)
    }

    #[test]
    fn the_crc_is_held_back_whatever_the_slice_size() {
        let image: alloc::vec::Vec<u8> = (0..3001u32).map(|i| (i * 13) as u8).collect();
        for size in [1, 2, 3, 4, 5, 7, 1010, 4000] {
            let (store, r) = stream(&image, size);
            assert_eq!(r, Ok((3001, IEEE.checksum(&image))), "slice {size}");
            assert_eq!(store.pending_image(), Some(&image[..]), "slice {size}");
        }
    }

    #[test]
    fn a_bad_crc_or_a_short_stream_is_refused() {
        let mut store = RamConfig::default();
        let mut s = FlashStream::begin(&mut store, 8).unwrap();
        s.push(&mut store, &[1, 2, 3, 4, 0, 0, 0, 0]).unwrap();
        assert!(matches!(s.finish(), Err(FlashError::Crc { .. })));
        let mut s = FlashStream::begin(&mut store, 8).unwrap();
        s.push(&mut store, &[1, 2]).unwrap();
        assert_eq!(s.finish(), Err(FlashError::TooShort));
        assert!(matches!(FlashStream::begin(&mut store, 3), Err(FlashError::TooShort)));
    }

    #[test]
    fn more_than_announced_is_refused() {
        let mut store = RamConfig::default();
        let mut s = FlashStream::begin(&mut store, 10).unwrap();
        s.push(&mut store, &[0; 8]).unwrap();
        assert_eq!(s.push(&mut store, &[0; 3]), Err(FlashError::TooLong));
    }
}
