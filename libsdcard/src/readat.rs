//! Random-access reading of a file on the card, for the boot loader
//! (reading `/BOOT.BIN`'s partitions) and for validating a new boot image
//! before it replaces the old one.

use crate::block::{BlockDevice, BLOCK_SIZE};
use crate::error::CardError;
use crate::fat::{Next, Volume};

/// Something that can be read at any offset.
pub trait ReadAt {
    /// Length in bytes.
    fn len(&self) -> u32;
    /// Whether the length is zero.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads up to `buf.len()` bytes at `offset`; returns how many (0 at or
    /// past the end).
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, CardError>;
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), CardError> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(offset + done as u32, &mut buf[done..])?;
            if n == 0 {
                return Err(CardError::Corrupt("read past the end of a file"));
            }
            done += n;
        }
        Ok(())
    }
}

/// A file's cluster chain, `len` bytes of it, read through the volume.
/// Remembers its last position so sequential reads follow the chain once.
pub struct ChainReader<'a, D> {
    vol: &'a mut Volume<D>,
    start: u32,
    len: u32,
    /// (index of the cluster in the chain, cluster number)
    at: (u32, u32),
}

impl<'a, D: BlockDevice> ChainReader<'a, D> {
    pub(crate) fn new(vol: &'a mut Volume<D>, start: u32, len: u32) -> Self {
        ChainReader {
            vol,
            start,
            len,
            at: (0, start),
        }
    }

    fn cluster_at(&mut self, index: u32) -> Result<u32, CardError> {
        if index < self.at.0 {
            self.at = (0, self.start);
        }
        while self.at.0 < index {
            match self.vol.next(self.at.1)? {
                Next::Cluster(c) => self.at = (self.at.0 + 1, c),
                Next::End => return Err(CardError::Corrupt("chain shorter than its file")),
            }
        }
        Ok(self.at.1)
    }
}

impl<D: BlockDevice> ReadAt for ChainReader<'_, D> {
    fn len(&self) -> u32 {
        self.len
    }

    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, CardError> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let cb = self.vol.geometry().cluster_bytes();
        let c = self.cluster_at(offset / cb)?;
        let in_cluster = offset % cb;
        let lba = self.vol.geometry().cluster_lba(c) + in_cluster / BLOCK_SIZE as u32;
        let in_block = (in_cluster as usize) % BLOCK_SIZE;
        let n = buf.len().min(BLOCK_SIZE - in_block).min((self.len - offset) as usize);
        let mut b = [0u8; BLOCK_SIZE];
        self.vol.read_block(lba, &mut b)?;
        buf[..n].copy_from_slice(&b[in_block..in_block + n]);
        Ok(n)
    }
}
