//! A [`BlockDevice`] wrapper that "loses power" after a number of block
//! writes: the crash-consistency sweeps run an operation once per possible
//! cut point and check what is left on the card.
//!
//! Blocks are counted one by one, so a multi-block write can be torn: with
//! `tear` set, the blocks of the write before the cut point reach the
//! medium and the rest do not (what a card does when power drops in the
//! middle of a multi-block transfer). Without `tear`, a write that would
//! cross the cut point is refused whole.

use alloc::vec::Vec;

use crate::block::{BlockDevice, BlockError, BLOCK_SIZE};

/// Passes reads through; lets `budget` block writes through, then fails
/// every later write with [`BlockError::PowerCut`] without applying it.
#[derive(Debug)]
pub struct PowerCut<D> {
    inner: D,
    budget: Option<u64>,
    tear: bool,
    written: u64,
    cut: bool,
    log: Option<Vec<u32>>,
}

impl<D: BlockDevice> PowerCut<D> {
    /// Cuts power after `budget` block writes (`None`: never).
    pub fn new(inner: D, budget: Option<u64>) -> Self {
        PowerCut {
            inner,
            budget,
            tear: false,
            written: 0,
            cut: false,
            log: None,
        }
    }

    /// Applies the blocks of a multi-block write that precede the cut point.
    pub fn tearing(mut self) -> Self {
        self.tear = true;
        self
    }

    /// Records the LBA of every block that reaches the medium.
    pub fn logging(mut self) -> Self {
        self.log = Some(Vec::new());
        self
    }

    /// Blocks written so far (those that reached the medium).
    pub fn blocks_written(&self) -> u64 {
        self.written
    }

    /// Whether a write was refused because the power was cut.
    pub fn was_cut(&self) -> bool {
        self.cut
    }

    /// LBAs of the blocks that reached the medium, in order (with `logging`).
    pub fn log(&self) -> &[u32] {
        self.log.as_deref().unwrap_or(&[])
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Gives the wrapped device back.
    pub fn into_inner(self) -> D {
        self.inner
    }
}

impl<D: BlockDevice> BlockDevice for PowerCut<D> {
    fn block_count(&mut self) -> Result<u32, BlockError> {
        self.inner.block_count()
    }
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), BlockError> {
        self.inner.read(lba, buf)
    }
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), BlockError> {
        if buf.is_empty() || !buf.len().is_multiple_of(BLOCK_SIZE) {
            return Err(BlockError::OutOfRange);
        }
        let n = (buf.len() / BLOCK_SIZE) as u64;
        let left = match self.budget {
            None => n,
            Some(b) => b.saturating_sub(self.written),
        };
        if self.cut || left == 0 {
            self.cut = true;
            return Err(BlockError::PowerCut);
        }
        if left >= n {
            self.inner.write(lba, buf)?;
            self.note(lba, n);
            return Ok(());
        }
        self.cut = true;
        if self.tear {
            let k = left as usize * BLOCK_SIZE;
            self.inner.write(lba, &buf[..k])?;
            self.note(lba, left);
        }
        Err(BlockError::PowerCut)
    }
}

impl<D> PowerCut<D> {
    fn note(&mut self, lba: u32, n: u64) {
        self.written += n;
        if let Some(log) = &mut self.log {
            log.extend((0..n as u32).map(|i| lba + i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemDevice;

    #[test]
    fn cuts_after_budget() {
        let mut d = PowerCut::new(MemDevice::new(8), Some(2)).logging();
        d.write(0, &[1; 512]).unwrap();
        d.write(1, &[1; 512]).unwrap();
        assert_eq!(d.write(2, &[1; 512]), Err(BlockError::PowerCut));
        assert!(d.was_cut());
        assert_eq!(d.log(), &[0, 1]);
        assert_eq!(d.inner().as_bytes()[2 * 512], 0);
    }

    #[test]
    fn multi_block_write_refused_whole_or_torn() {
        let mut d = PowerCut::new(MemDevice::new(8), Some(2));
        assert_eq!(d.write(0, &[1; 2048]), Err(BlockError::PowerCut));
        assert_eq!(d.blocks_written(), 0);
        let mut d = PowerCut::new(MemDevice::new(8), Some(2)).tearing();
        assert_eq!(d.write(0, &[1; 2048]), Err(BlockError::PowerCut));
        assert_eq!(d.blocks_written(), 2);
        let img = d.into_inner().into_bytes();
        assert_eq!((img[1023], img[1024]), (1, 0));
    }
}
