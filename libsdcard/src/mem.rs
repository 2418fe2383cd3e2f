//! A [`BlockDevice`] held in memory: host tests, and building card images
//! before they are written out.

use alloc::vec;
use alloc::vec::Vec;

use crate::block::{BlockDevice, BlockError, BLOCK_SIZE};

/// A card image in a `Vec`, `blocks * 512` bytes long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemDevice {
    data: Vec<u8>,
}

impl MemDevice {
    /// A zero-filled device of `blocks` blocks.
    pub fn new(blocks: u32) -> Self {
        MemDevice {
            data: vec![0; blocks as usize * BLOCK_SIZE],
        }
    }

    /// Wraps an image; its length is rounded down to whole blocks.
    pub fn from_bytes(mut data: Vec<u8>) -> Self {
        data.truncate(data.len() / BLOCK_SIZE * BLOCK_SIZE);
        MemDevice { data }
    }

    /// The whole image.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Gives the image back.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    fn range(&self, lba: u32, len: usize) -> Result<core::ops::Range<usize>, BlockError> {
        if len == 0 || !len.is_multiple_of(BLOCK_SIZE) {
            return Err(BlockError::OutOfRange);
        }
        let start = lba as usize * BLOCK_SIZE;
        let end = start.checked_add(len).ok_or(BlockError::OutOfRange)?;
        if end > self.data.len() {
            return Err(BlockError::OutOfRange);
        }
        Ok(start..end)
    }
}

impl BlockDevice for MemDevice {
    fn block_count(&mut self) -> Result<u32, BlockError> {
        Ok((self.data.len() / BLOCK_SIZE) as u32)
    }
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), BlockError> {
        let r = self.range(lba, buf.len())?;
        buf.copy_from_slice(&self.data[r]);
        Ok(())
    }
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), BlockError> {
        let r = self.range(lba, buf.len())?;
        self.data[r].copy_from_slice(buf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_round_trip() {
        let mut d = MemDevice::new(4);
        assert_eq!(d.block_count(), Ok(4));
        d.write(3, &[7; 512]).unwrap();
        let mut b = [0; 512];
        d.read(3, &mut b).unwrap();
        assert_eq!(b, [7; 512]);
        assert_eq!(d.write(4, &[0; 512]), Err(BlockError::OutOfRange));
        assert_eq!(d.read(3, &mut [0; 1024]), Err(BlockError::OutOfRange));
        assert_eq!(d.read(0, &mut [0; 100]), Err(BlockError::OutOfRange));
    }
}
