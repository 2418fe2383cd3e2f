//! A small FAT16/FAT32 layer of our own, on top of [`BlockDevice`].
//!
//! Why not a crate: every crash-consistency argument of `crate::card`
//! depends on knowing exactly which block each step writes and in which
//! order (data blocks first, FAT copies, then one directory block).
//! `embedded-sdmmc` 0.10 (the maintained no_std candidate) decides that
//! itself (it rewrites the FAT, FSInfo and directory entries as it goes,
//! through its own block cache) and creates only 8.3 names; `fatfs` needs
//! `core_io` for no_std. So the card is read and written here, and the
//! tests check every card we write with `embedded-sdmmc`, `mtools` and
//! `fsck.fat` as independent readers.
//!
//! The layer never caches written data: the only cache is one FAT block
//! for reads, updated by every FAT write.

pub mod dir;
pub mod geometry;
pub mod name;

use alloc::vec::Vec;

use crate::block::{BlockDevice, BLOCK_SIZE};
use crate::error::CardError;
pub use geometry::{FatType, Geometry, Root};

/// The first data cluster number.
const FIRST_CLUSTER: u32 = 2;

/// A mounted FAT volume.
#[derive(Debug)]
pub struct Volume<D> {
    dev: D,
    geo: Geometry,
    fat_cache: Option<(u32, [u8; BLOCK_SIZE])>,
    fsinfo_cleared: bool,
    /// Every cluster below this one is in use: where the search for a free
    /// cluster starts. Kept in memory only (FSInfo's hint is marked
    /// unknown, see `clear_fsinfo`), lowered whenever an entry is freed or
    /// the FAT is written behind the volume's back.
    free_hint: u32,
}

/// What a FAT entry says about the cluster after this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Cluster(u32),
    End,
}

impl<D: BlockDevice> Volume<D> {
    /// Reads the MBR and the boot sector of partition 1.
    pub fn mount(mut dev: D) -> Result<Self, CardError> {
        let blocks = dev.block_count()?;
        let mut b = [0u8; BLOCK_SIZE];
        dev.read(0, &mut b)?;
        let (start, len) = geometry::partition1(&b)?;
        if start as u64 + len as u64 > blocks as u64 {
            return Err(CardError::Corrupt("partition 1 beyond the end of the card"));
        }
        dev.read(start, &mut b)?;
        let geo = Geometry::parse(&b, start, len)?;
        Ok(Volume {
            dev,
            geo,
            fat_cache: None,
            fsinfo_cleared: false,
            free_hint: FIRST_CLUSTER,
        })
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }

    pub fn device(&mut self) -> &mut D {
        self.fat_cache = None;
        self.free_hint = FIRST_CLUSTER;
        &mut self.dev
    }

    pub fn into_device(self) -> D {
        self.dev
    }

    pub fn read_block(&mut self, lba: u32, buf: &mut [u8; BLOCK_SIZE]) -> Result<(), CardError> {
        Ok(self.dev.read(lba, buf)?)
    }

    pub fn write_block(&mut self, lba: u32, buf: &[u8; BLOCK_SIZE]) -> Result<(), CardError> {
        self.write_blocks(lba, buf)
    }

    /// Reads consecutive blocks from `lba` (one device read: a multi-block
    /// command on a card). `buf` is a whole number of blocks.
    pub fn read_blocks(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), CardError> {
        Ok(self.dev.read(lba, buf)?)
    }

    /// Writes consecutive blocks from `lba` in one device write (a
    /// multi-block command on a card, which a power cut may leave partly
    /// applied). `buf` is a whole number of blocks.
    pub fn write_blocks(&mut self, lba: u32, buf: &[u8]) -> Result<(), CardError> {
        let n = (buf.len() / BLOCK_SIZE) as u32;
        let fat_end = self.geo.fat_lba + self.geo.fat_sectors;
        if lba < fat_end && lba.saturating_add(n) > self.geo.fat_lba {
            // A FAT block written whole may free anything in it.
            self.free_hint = FIRST_CLUSTER;
        }
        if let Some((c, cached)) = &mut self.fat_cache {
            if *c >= lba && *c - lba < n {
                let at = (*c - lba) as usize * BLOCK_SIZE;
                cached.copy_from_slice(&buf[at..at + BLOCK_SIZE]);
            }
        }
        Ok(self.dev.write(lba, buf)?)
    }

    fn fat_block(&mut self, lba: u32) -> Result<&[u8; BLOCK_SIZE], CardError> {
        if self.fat_cache.map(|(c, _)| c) != Some(lba) {
            let mut b = [0u8; BLOCK_SIZE];
            self.dev.read(lba, &mut b)?;
            self.fat_cache = Some((lba, b));
        }
        Ok(&self.fat_cache.as_ref().expect("just filled").1)
    }

    /// The raw FAT entry of cluster `c` (first FAT).
    pub fn fat_get(&mut self, c: u32) -> Result<u32, CardError> {
        let (lba, off) = self.geo.fat_entry_pos(c);
        let t = self.geo.fat_type;
        let b = self.fat_block(lba)?;
        Ok(match t {
            FatType::Fat32 => u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]) & 0x0FFF_FFFF,
            FatType::Fat16 => u16::from_le_bytes([b[off], b[off + 1]]) as u32,
        })
    }

    /// The cluster after `c` in its chain; a free, reserved or out-of-range
    /// entry is corruption (chains never point there).
    pub fn next(&mut self, c: u32) -> Result<Next, CardError> {
        if !self.geo.valid_cluster(c) {
            return Err(CardError::Corrupt("cluster number out of range"));
        }
        let v = self.fat_get(c)?;
        let end = match self.geo.fat_type {
            FatType::Fat32 => 0x0FFF_FFF8,
            FatType::Fat16 => 0xFFF8,
        };
        if v >= end {
            Ok(Next::End)
        } else if self.geo.valid_cluster(v) {
            Ok(Next::Cluster(v))
        } else {
            Err(CardError::Corrupt("bad link in a cluster chain"))
        }
    }

    /// Number of clusters in the chain starting at `start` (0 for no chain).
    pub fn chain_len(&mut self, start: u32) -> Result<u32, CardError> {
        if start == 0 {
            return Ok(0);
        }
        let mut n = 1;
        let mut c = start;
        while let Next::Cluster(d) = self.next(c)? {
            c = d;
            n += 1;
            if n > self.geo.cluster_count {
                return Err(CardError::Corrupt("cluster chain loops"));
            }
        }
        Ok(n)
    }

    /// Sets FAT entries, in every FAT copy: all blocks of the first FAT,
    /// then the same blocks of each mirror. `entries` is (cluster, value).
    pub fn fat_set(&mut self, entries: &[(u32, u32)]) -> Result<(), CardError> {
        self.clear_fsinfo()?;
        if let Some(&(c, _)) = entries.iter().filter(|(_, v)| *v == 0).min_by_key(|(c, _)| *c) {
            self.free_hint = self.free_hint.min(c.max(FIRST_CLUSTER));
        }
        let mut blocks: Vec<u32> = entries.iter().map(|&(c, _)| self.geo.fat_entry_pos(c).0).collect();
        blocks.sort_unstable();
        blocks.dedup();
        for copy in 0..self.geo.num_fats {
            for &lba in &blocks {
                let mut b = *self.fat_block(lba)?;
                for &(c, v) in entries {
                    let (l, off) = self.geo.fat_entry_pos(c);
                    if l != lba {
                        continue;
                    }
                    match self.geo.fat_type {
                        FatType::Fat32 => {
                            let old = u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]);
                            let v = (old & 0xF000_0000) | (v & 0x0FFF_FFFF);
                            b[off..off + 4].copy_from_slice(&v.to_le_bytes());
                        }
                        FatType::Fat16 => b[off..off + 2].copy_from_slice(&(v as u16).to_le_bytes()),
                    }
                }
                let target = lba + copy * self.geo.fat_sectors;
                if copy == 0 {
                    self.write_block(target, &b)?;
                } else {
                    self.dev.write(target, &b)?;
                }
            }
        }
        Ok(())
    }

    /// Marks the FSInfo free-cluster count and hint "unknown" (a value
    /// fsck accepts) before the first allocation or release, so the FSInfo
    /// block never disagrees with the FAT.
    fn clear_fsinfo(&mut self) -> Result<(), CardError> {
        let Some(lba) = self.geo.fsinfo_lba else { return Ok(()) };
        if self.fsinfo_cleared {
            return Ok(());
        }
        let mut b = [0u8; BLOCK_SIZE];
        self.dev.read(lba, &mut b)?;
        if &b[0..4] == b"RRaA" && &b[484..488] == b"rrAa" && b[488..496] != [0xFF; 8] {
            b[488..496].fill(0xFF);
            self.dev.write(lba, &b)?;
        }
        self.fsinfo_cleared = true;
        Ok(())
    }

    fn end_mark(&self) -> u32 {
        match self.geo.fat_type {
            FatType::Fat32 => 0x0FFF_FFFF,
            FatType::Fat16 => 0xFFFF,
        }
    }

    /// Allocates a chain of `n` (> 0) free clusters and writes it into the
    /// FAT; returns its first cluster. The clusters' data is not touched.
    /// Memory stays bounded (one FAT block of pending entries), whatever `n`.
    ///
    /// Crash window: between the first FAT write and the directory write
    /// that references the chain, the chain is "lost clusters" to fsck.
    pub fn alloc_chain(&mut self, n: u32) -> Result<u32, CardError> {
        let top = self.geo.cluster_count + 2;
        // Count first, so a full card fails before anything is written.
        let mut free = 0;
        for c in self.free_hint..top {
            if free >= n {
                break;
            }
            if self.fat_get(c)? == 0 {
                free += 1;
            }
        }
        if free < n || n == 0 {
            return Err(CardError::Full);
        }
        let mut batch = Batch::default();
        let (mut first, mut prev, mut got) = (0, 0, 0);
        let mut c = self.free_hint;
        while got < n {
            if self.fat_get(c)? == 0 {
                if prev == 0 {
                    first = c;
                } else {
                    batch.push(self, prev, c)?;
                }
                prev = c;
                got += 1;
            }
            c += 1;
        }
        let end = self.end_mark();
        batch.push(self, prev, end)?;
        batch.flush(self)?;
        // Every cluster up to the chain's last was used or is now.
        self.free_hint = self.free_hint.max(prev + 1);
        Ok(first)
    }

    /// Appends one cluster to the chain ending at `last`; returns it. The
    /// caller has already written the new cluster's content.
    pub fn extend_chain(&mut self, last: u32, new: u32) -> Result<(), CardError> {
        let end = self.end_mark();
        // New cluster's end mark first, then the link: a crash between the
        // two leaves one lost cluster, never a chain into a free cluster.
        self.fat_set(&[(new, end)])?;
        self.fat_set(&[(last, new)])
    }

    /// A free cluster (not yet marked used).
    pub fn find_free(&mut self) -> Result<u32, CardError> {
        for c in self.free_hint..self.geo.cluster_count + 2 {
            if self.fat_get(c)? == 0 {
                // Not marked yet: the caller's `extend_chain` does that.
                self.free_hint = c;
                return Ok(c);
            }
        }
        Err(CardError::Full)
    }

    /// Frees the chain starting at `start` (nothing for 0), one FAT block
    /// of entries at a time.
    pub fn free_chain(&mut self, start: u32) -> Result<(), CardError> {
        if start == 0 {
            return Ok(());
        }
        let mut batch = Batch::default();
        let mut c = start;
        for _ in 0..self.geo.cluster_count {
            let next = self.next(c)?;
            batch.push(self, c, 0)?;
            match next {
                Next::Cluster(d) => c = d,
                Next::End => return batch.flush(self),
            }
        }
        Err(CardError::Corrupt("cluster chain loops"))
    }

    /// Writes `data` into the chain starting at `start` from its beginning,
    /// zero-filling the last block. The chain must be long enough.
    pub fn write_chain(&mut self, start: u32, data: &[u8]) -> Result<(), CardError> {
        let spc = self.geo.sectors_per_cluster as usize;
        let mut c = start;
        for (i, chunk) in data.chunks(BLOCK_SIZE).enumerate() {
            if i > 0 && i % spc == 0 {
                c = match self.next(c)? {
                    Next::Cluster(d) => d,
                    Next::End => return Err(CardError::Corrupt("chain shorter than its file")),
                };
            }
            let mut b = [0u8; BLOCK_SIZE];
            b[..chunk.len()].copy_from_slice(chunk);
            let lba = self.geo.cluster_lba(c) + (i % spc) as u32;
            self.write_block(lba, &b)?;
        }
        Ok(())
    }
}

/// FAT entries waiting to be written, all in one FAT block.
#[derive(Default)]
struct Batch {
    entries: Vec<(u32, u32)>,
    block: u32,
}

impl Batch {
    fn push<D: BlockDevice>(&mut self, vol: &mut Volume<D>, c: u32, v: u32) -> Result<(), CardError> {
        let block = vol.geo.fat_entry_pos(c).0;
        if !self.entries.is_empty() && block != self.block {
            self.flush(vol)?;
        }
        self.block = block;
        self.entries.push((c, v));
        Ok(())
    }

    fn flush<D: BlockDevice>(&mut self, vol: &mut Volume<D>) -> Result<(), CardError> {
        if !self.entries.is_empty() {
            vol.fat_set(&self.entries)?;
            self.entries.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::format_fat32;
    use crate::mem::{CommandLog, Logged, MemDevice};

    fn volume() -> (Volume<Logged<MemDevice>>, CommandLog) {
        let mut dev = MemDevice::new(128 * 1024); // 64 MiB
        format_fat32(&mut dev, 1).unwrap();
        // The log is read beside the volume: `Volume::device` would drop
        // its caches and hint.
        let (dev, log) = Logged::new(dev);
        (Volume::mount(dev).unwrap(), log)
    }

    #[test]
    fn allocation_starts_after_the_clusters_known_used_and_reuses_freed_ones() {
        let (mut v, log) = volume();
        let per_block = (BLOCK_SIZE / 4) as u32;
        // A chain spanning several FAT blocks.
        let big = v.alloc_chain(10 * per_block).unwrap();
        log.take();
        // The next allocation does not scan the FAT from its start again.
        let next = v.alloc_chain(1).unwrap();
        assert!(next > big + 10 * per_block - 1);
        let reads = log.reads().len();
        assert!(reads <= 2, "{reads} reads");
        let free = v.find_free().unwrap();
        assert_eq!(free, next + 1);
        // Freed clusters below the hint are found again, first.
        v.free_chain(big).unwrap();
        assert_eq!(v.find_free().unwrap(), big);
        assert_eq!(v.alloc_chain(2).unwrap(), big);
        assert_eq!(v.next(big).unwrap(), Next::Cluster(big + 1));
        assert_eq!(v.next(big + 1).unwrap(), Next::End);
    }

    #[test]
    fn a_fat_block_written_behind_the_volume_forgets_the_hint() {
        let (mut v, _) = volume();
        let first = v.alloc_chain(300).unwrap();
        let lba = v.geometry().fat_lba;
        let mut b = [0u8; BLOCK_SIZE];
        v.read_block(lba, &mut b).unwrap();
        // Free the chain's first clusters by hand (entries 0 and 1 stay).
        for c in first..first + 4 {
            let off = c as usize * 4;
            b[off..off + 4].fill(0);
        }
        v.write_block(lba, &b).unwrap();
        assert_eq!(v.find_free().unwrap(), first);
    }
}
