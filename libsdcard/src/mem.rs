//! A [`BlockDevice`] held in memory: host tests, and building card images
//! before they are written out; and [`Logged`], a device wrapper that
//! records every command, for the tests that count what a card would see.

use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

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

/// One device command a [`Logged`] device saw: a read or a write of
/// `blocks` blocks from `lba` (on a card, CMD17/24 for one block, CMD18/25
/// for more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    pub write: bool,
    pub lba: u32,
    pub blocks: u32,
}

/// The commands a [`Logged`] device has seen, shared with whoever made it:
/// readable while the device is inside a volume or card (whose `device()`
/// accessors drop caches).
#[derive(Clone, Debug, Default)]
pub struct CommandLog(Rc<RefCell<Vec<Command>>>);

impl CommandLog {
    /// Takes the commands seen so far, leaving the log empty.
    pub fn take(&self) -> Vec<Command> {
        core::mem::take(&mut *self.0.borrow_mut())
    }

    /// The reads seen so far, as (lba, blocks).
    pub fn reads(&self) -> Vec<(u32, u32)> {
        self.0.borrow().iter().filter(|c| !c.write).map(|c| (c.lba, c.blocks)).collect()
    }

    /// The writes seen so far, as (lba, blocks).
    pub fn writes(&self) -> Vec<(u32, u32)> {
        self.0.borrow().iter().filter(|c| c.write).map(|c| (c.lba, c.blocks)).collect()
    }
}

/// A device that records every read and write it passes on to `D`.
#[derive(Debug)]
pub struct Logged<D> {
    inner: D,
    log: CommandLog,
}

impl<D: BlockDevice> Logged<D> {
    /// Wraps `inner`; the returned log sees every command from now on.
    pub fn new(inner: D) -> (Self, CommandLog) {
        let log = CommandLog::default();
        (Logged { inner, log: log.clone() }, log)
    }

    fn record(&self, write: bool, lba: u32, len: usize) {
        self.log.0.borrow_mut().push(Command { write, lba, blocks: (len / BLOCK_SIZE) as u32 });
    }
}

impl<D: BlockDevice> BlockDevice for Logged<D> {
    fn block_count(&mut self) -> Result<u32, BlockError> {
        self.inner.block_count()
    }
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), BlockError> {
        self.record(false, lba, buf.len());
        self.inner.read(lba, buf)
    }
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), BlockError> {
        self.record(true, lba, buf.len());
        self.inner.write(lba, buf)
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
