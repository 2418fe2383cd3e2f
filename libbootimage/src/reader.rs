//! Offset-based reads of an image that need not be in memory.
//!
//! The firmware validates a BOOT.BIN of tens of MiB that lives in a file on
//! the SD card, and the boot loader reads partitions straight from the card:
//! the parser only ever asks for a few bytes at an offset.

/// Random-access reads of an image of known length.
pub trait ReadAt {
    /// The medium's error.
    type Error;

    /// The image length in bytes.
    fn len(&self) -> u32;

    /// Whether the image is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` from `offset`. The parser never asks past [`len`](Self::len).
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error>;
}

/// A read past the end of an in-memory image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange {
    pub offset: u32,
    pub len: usize,
}

impl core::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "read of {} bytes at {:#x} past the end of the image", self.len, self.offset)
    }
}

impl ReadAt for &[u8] {
    type Error = OutOfRange;

    fn len(&self) -> u32 {
        // Longer images are cut at 4 GiB, beyond what a 32-bit header can address.
        u32::try_from(<[u8]>::len(self)).unwrap_or(u32::MAX)
    }

    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), OutOfRange> {
        let err = OutOfRange { offset, len: buf.len() };
        let start = offset as usize;
        let end = start.checked_add(buf.len()).ok_or(err)?;
        buf.copy_from_slice(self.get(start..end).ok_or(err)?);
        Ok(())
    }
}

impl<R: ReadAt + ?Sized> ReadAt for &mut R {
    type Error = R::Error;

    fn len(&self) -> u32 {
        (**self).len()
    }

    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), R::Error> {
        (**self).read_at(offset, buf)
    }
}

/// A file on the host, read with positioned reads.
#[cfg(feature = "std")]
pub struct FileReader {
    file: std::fs::File,
    len: u32,
}

#[cfg(feature = "std")]
impl FileReader {
    /// Opens `file`; fails if it is 4 GiB or more.
    pub fn new(file: std::fs::File) -> std::io::Result<FileReader> {
        let len = file.metadata()?.len();
        let len = u32::try_from(len)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "image of 4 GiB or more"))?;
        Ok(FileReader { file, len })
    }
}

#[cfg(feature = "std")]
impl ReadAt for FileReader {
    type Error = std::io::Error;

    fn len(&self) -> u32 {
        self.len
    }

    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.read_exact_at(buf, offset as u64)
    }
}

/// Reads `N` little-endian words from `offset`.
pub(crate) fn words<R: ReadAt + ?Sized, const N: usize>(r: &mut R, offset: u32) -> Result<[u32; N], R::Error> {
    let mut out = [0u32; N];
    // Chunks of 16 words keep the buffer small whatever N is.
    let mut b = [0u8; 64];
    let mut i = 0;
    while i < N {
        let n = (N - i).min(16);
        r.read_at(offset.wrapping_add(4 * i as u32), &mut b[..4 * n])?;
        for j in 0..n {
            out[i + j] = u32::from_le_bytes([b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]]);
        }
        i += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_reads_and_bounds() {
        let data: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8];
        let mut r = data;
        assert_eq!(ReadAt::len(&r), 8);
        let w: [u32; 2] = words(&mut r, 0).unwrap();
        assert_eq!(w, [0x0403_0201, 0x0807_0605]);
        assert_eq!(words::<_, 1>(&mut r, 5), Err(OutOfRange { offset: 5, len: 4 }));
        assert!(words::<_, 1>(&mut r, u32::MAX).is_err());
    }
}
