//! Random-access reading of a file on the card, for the boot loader
//! (reading `/BOOT.BIN`'s partitions) and for validating a new boot image
//! before it replaces the old one.

use crate::block::{BlockDevice, BLOCK_SIZE};
use crate::error::CardError;
use crate::fat::{Next, Volume};

/// Most blocks one [`ChainReader::read_at`] reads with one device read
/// (1 MiB). The data goes into the caller's buffer, so this bounds the
/// time of one call, not memory; the SD driver splits longer reads anyway.
pub const READ_RUN_BLOCKS: u32 = 2048;

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

    /// Reads up to `buf.len()` bytes at `offset`. Whole blocks go straight
    /// into `buf`, as many as lie in consecutive clusters (up to
    /// [`READ_RUN_BLOCKS`]), with one device read (a multi-block command on
    /// a card); a block only partly wanted (the head or tail of a range, the
    /// file's last block) is read through a block on the stack.
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, CardError> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let cb = self.vol.geometry().cluster_bytes();
        let index = offset / cb;
        let c = self.cluster_at(index)?;
        let in_cluster = offset % cb;
        let lba = self.vol.geometry().cluster_lba(c) + in_cluster / BLOCK_SIZE as u32;
        let in_block = (in_cluster as usize) % BLOCK_SIZE;
        let want = buf.len().min((self.len - offset) as usize);
        if in_block == 0 && want >= BLOCK_SIZE {
            let blocks = (want / BLOCK_SIZE).min(READ_RUN_BLOCKS as usize) as u32;
            let n = self.run_blocks(index, c, in_cluster, blocks)?;
            let bytes = n as usize * BLOCK_SIZE;
            self.vol.read_blocks(lba, &mut buf[..bytes])?;
            return Ok(bytes);
        }
        let n = want.min(BLOCK_SIZE - in_block);
        let mut b = [0u8; BLOCK_SIZE];
        self.vol.read_block(lba, &mut b)?;
        buf[..n].copy_from_slice(&b[in_block..in_block + n]);
        Ok(n)
    }
}

impl<D: BlockDevice> ChainReader<'_, D> {
    /// How many of `blocks` blocks from byte `in_cluster` of cluster `c`
    /// (the chain's `index`th) are consecutive on the card: the rest of `c`,
    /// then whole clusters while the chain goes on to the next cluster
    /// number. Leaves the reader at the last cluster it looked at.
    fn run_blocks(&mut self, index: u32, c: u32, in_cluster: u32, blocks: u32) -> Result<u32, CardError> {
        let spc = self.vol.geometry().sectors_per_cluster;
        let mut n = spc - in_cluster / BLOCK_SIZE as u32;
        let (mut i, mut last) = (index, c);
        while n < blocks {
            let next = self.cluster_at(i + 1)?;
            if next != last + 1 {
                break;
            }
            (i, last) = (i + 1, next);
            n += spc;
        }
        Ok(n.min(blocks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::Card;
    use crate::format::format_fat32;
    use crate::mem::{CommandLog, Logged, MemDevice};
    use alloc::vec::Vec;

    /// A card (512-byte clusters) whose `/BIG.BIN` chain is fragmented:
    /// it fills 2-cluster holes left by removed values first. Returns the
    /// card, the file's content and the card's command log.
    fn card() -> (Card<Logged<MemDevice>>, Vec<u8>, CommandLog) {
        let mut d = MemDevice::new(40 * 2048);
        format_fat32(&mut d, 1).unwrap();
        let (d, log) = Logged::new(d);
        let mut c = Card::mount(d).unwrap();
        for k in 0..6 {
            c.config_write(&alloc::format!("k{k}"), &[0xF0; 1000]).unwrap();
        }
        for k in (0..6).step_by(2) {
            c.config_remove(&alloc::format!("k{k}")).unwrap();
        }
        let data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2654435761) >> 7) as u8).collect();
        c.config_write("big", &data).unwrap();
        (c, data, log)
    }

    #[test]
    fn whole_blocks_come_in_runs_and_match_single_block_reads() {
        let (mut c, data, _) = card();
        let mut r = c.open("/CONFIG/BIG.BIN").unwrap();
        // Every alignment of start and end against blocks and the holes.
        for (off, len) in [(0, 300_000), (1, 5000), (511, 2), (512, 1536), (700, 100_000), (299_000, 1000)] {
            let mut got = alloc::vec![0u8; len];
            r.read_exact_at(off, &mut got).unwrap();
            assert!(got == data[off as usize..off as usize + len], "{off}+{len}");
        }
        // Past the end: nothing.
        assert_eq!(r.read_at(300_000, &mut [0; 10]), Ok(0));
    }

    #[test]
    fn a_run_stops_at_a_jump_in_the_chain_and_at_the_bound() {
        let (mut c, data, log) = card();
        log.take();
        let mut r = c.open("/CONFIG/BIG.BIN").unwrap();
        let mut got = alloc::vec![0u8; 300_000];
        let n = r.read_at(0, &mut got).unwrap();
        // The first hole is 2 clusters: the first read stops there.
        assert_eq!(n, 1024);
        let data_reads: Vec<u32> = log.reads().iter().map(|&(_, b)| b).filter(|&b| b > 1).collect();
        assert_eq!(data_reads, [2]);
        let mut r = c.open("/CONFIG/BIG.BIN").unwrap();
        r.read_exact_at(0, &mut got).unwrap();
        assert!(got == data);
        // 300 000 bytes = 585 whole blocks and a tail: one run per
        // fragment (the 2-cluster holes, then the rest), the tail block
        // alone (and single-block FAT reads).
        let runs: Vec<u32> = log.reads().iter().map(|&(_, b)| b).filter(|&b| b > 1).skip(1).collect();
        assert_eq!(runs.iter().sum::<u32>(), 585, "{runs:?}");
        let (last, holes) = runs.split_last().unwrap();
        assert!(holes.len() >= 3 && holes.iter().all(|&b| b == 2), "{runs:?}");
        assert!(*last > 2 && *last <= READ_RUN_BLOCKS);
    }
}
