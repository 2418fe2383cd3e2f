//! A [`BlockDevice`] backed by a file (a card image on the host, or a raw
//! block device such as `/dev/sdb`), for satctl and host benchmarks.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::block::{BlockDevice, BlockError, BLOCK_SIZE};

/// A card image file; writes go straight to the file (no buffering of our
/// own), so a write has reached the OS when it returns.
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    blocks: u32,
}

impl FileDevice {
    /// Opens an existing image for reading and writing.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Self::from_file(file)
    }

    /// Creates (or truncates) an image of `blocks` zero blocks.
    pub fn create(path: &Path, blocks: u32) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(blocks as u64 * BLOCK_SIZE as u64)?;
        Self::from_file(file)
    }

    /// Wraps an open file; its length is rounded down to whole blocks.
    pub fn from_file(file: File) -> io::Result<Self> {
        let blocks = file.metadata()?.len() / BLOCK_SIZE as u64;
        let blocks = u32::try_from(blocks).map_err(|_| io::Error::other("image larger than 2 TiB"))?;
        Ok(FileDevice { file, blocks })
    }

    /// Flushes the file to stable storage.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn check(&self, lba: u32, len: usize) -> Result<u64, BlockError> {
        if len == 0 || !len.is_multiple_of(BLOCK_SIZE) {
            return Err(BlockError::OutOfRange);
        }
        let n = (len / BLOCK_SIZE) as u64;
        if lba as u64 + n > self.blocks as u64 {
            return Err(BlockError::OutOfRange);
        }
        Ok(lba as u64 * BLOCK_SIZE as u64)
    }
}

impl BlockDevice for FileDevice {
    fn block_count(&mut self) -> Result<u32, BlockError> {
        Ok(self.blocks)
    }
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), BlockError> {
        let off = self.check(lba, buf.len())?;
        self.file.read_exact_at(buf, off).map_err(|_| BlockError::Device)
    }
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), BlockError> {
        let off = self.check(lba, buf.len())?;
        self.file.write_all_at(buf, off).map_err(|_| BlockError::Device)
    }
}
