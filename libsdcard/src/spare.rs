//! The building blocks of crash-consistent replacement (see `crate::card`):
//! making entries, keeping a spare with a cluster chain beside a file in
//! the same directory block, and the one-block swap that commits.

use alloc::vec::Vec;
use core::ops::ControlFlow;

use crate::block::{BlockDevice, BLOCK_SIZE};
use crate::card::Card;
use crate::error::CardError;
use crate::fat::dir::{entry_fields, lfn_entries, set_entry_fields, short_entry, Dir, Entry, Slot, ATTR_DIR};
use crate::fat::name::{exact_short, long_name_ok, short_alias};

/// A directory entry as the swap expects to find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pinned {
    pub slot: Slot,
    pub start: u32,
    pub size: u32,
}

impl From<&Entry> for Pinned {
    fn from(e: &Entry) -> Self {
        Pinned {
            slot: e.slot,
            start: e.start,
            size: e.size,
        }
    }
}

const ATTR_ARCHIVE: u8 = 0x20;

impl<D: BlockDevice> Card<D> {
    /// Short name (and long-name entries if needed) for a new entry `name`.
    fn names_for(&mut self, dir: Dir, name: &str) -> Result<([u8; 11], Vec<[u8; 32]>), CardError> {
        if let Some(sfn) = exact_short(name) {
            return Ok((sfn, Vec::new()));
        }
        if !long_name_ok(name) {
            return Err(CardError::BadKey);
        }
        let used: Vec<[u8; 11]> = self.vol.list(dir)?.into_iter().map(|e| e.sfn).collect();
        let sfn = (1..1_000_000)
            .map(|n| short_alias(name, n))
            .find(|s| !used.contains(s))
            .ok_or(CardError::DirFull)?;
        Ok((sfn, lfn_entries(name, &sfn)))
    }

    /// Appends a zeroed cluster to a subdirectory (not a FAT16 root).
    ///
    /// Crash window: the new cluster is written (zeroed) first, then marked
    /// used (lost cluster until the next FAT write links it).
    fn grow_dir(&mut self, dir: Dir) -> Result<(), CardError> {
        let last = self.vol.dir_last_cluster(dir)?.ok_or(CardError::DirFull)?;
        let new = self.vol.find_free()?;
        let lba = self.vol.geometry().cluster_lba(new);
        for i in 0..self.vol.geometry().sectors_per_cluster {
            self.vol.write_block(lba + i, &[0; BLOCK_SIZE])?;
        }
        self.vol.extend_chain(last, new)
    }

    /// Free slots for `n` entries; `room` extra slots in the same block when
    /// `one_block` (room for a spare). Grows subdirectories when full.
    fn slots_for(&mut self, dir: Dir, n: usize, one_block: bool) -> Result<Vec<Slot>, CardError> {
        for _ in 0..2 {
            if let Some(s) = self.vol.free_run(dir, n, None, one_block)? {
                return Ok(s);
            }
            self.grow_dir(dir)?;
        }
        Err(CardError::DirFull)
    }

    /// Writes a new entry `name` (one block write when its long-name parts
    /// and short entry share a block, which is preferred).
    pub(crate) fn create_entry(
        &mut self,
        dir: Dir,
        name: &str,
        attr: u8,
        start: u32,
        size: u32,
        room: usize,
    ) -> Result<Entry, CardError> {
        let (sfn, mut raws) = self.names_for(dir, name)?;
        let n = raws.len() + 1;
        let slots = match self.vol.free_run(dir, n + room, None, true)? {
            Some(s) => s,
            None => self.slots_for(dir, n, false)?,
        };
        let slots = &slots[..n];
        raws.push(short_entry(&sfn, attr, start, size));
        self.vol.write_slots(slots, &raws)?;
        self.vol
            .find(dir, name)?
            .ok_or(CardError::Corrupt("entry vanished after writing it"))
    }

    /// The entry of file `name` in `dir`, made empty (size 0, no chain: a
    /// valid FAT file) if missing, with room for a spare in its block.
    pub(crate) fn ensure_file(&mut self, dir: Dir, name: &str) -> Result<Entry, CardError> {
        match self.vol.find(dir, name)? {
            Some(e) if e.is_dir() => Err(CardError::NotAFile),
            Some(e) => Ok(e),
            None => self.create_entry(dir, name, ATTR_ARCHIVE, 0, 0, 1),
        }
    }

    /// The subdirectory `name` of the root, made if missing.
    ///
    /// Crash window: its cluster is written ("." and ".."), marked used, then
    /// the entry is written: lost cluster in between.
    pub(crate) fn ensure_dir(&mut self, name: &str) -> Result<Dir, CardError> {
        if let Some(e) = self.vol.find(Dir::Root, name)? {
            return if e.is_dir() && e.start != 0 {
                Ok(Dir::Cluster(e.start))
            } else {
                Err(CardError::NotAFile)
            };
        }
        let c = self.vol.find_free()?;
        let lba = self.vol.geometry().cluster_lba(c);
        let mut b = [0u8; BLOCK_SIZE];
        b[..32].copy_from_slice(&short_entry(b".          ", ATTR_DIR, c, 0));
        b[32..64].copy_from_slice(&short_entry(b"..         ", ATTR_DIR, 0, 0));
        self.vol.write_block(lba, &b)?;
        for i in 1..self.vol.geometry().sectors_per_cluster {
            self.vol.write_block(lba + i, &[0; BLOCK_SIZE])?;
        }
        let end = if self.info().fat32 { 0x0FFF_FFFF } else { 0xFFFF };
        self.vol.fat_set(&[(c, end)])?;
        self.create_entry(Dir::Root, name, ATTR_DIR, c, 0, 0)?;
        Ok(Dir::Cluster(c))
    }

    /// Clusters a file of `size` bytes occupies.
    pub(crate) fn clusters_for(&self, size: u32) -> u32 {
        size.div_ceil(self.vol.geometry().cluster_bytes())
    }

    /// Sets one entry's (start, size) with one block write.
    pub(crate) fn set_fields(&mut self, slot: Slot, start: u32, size: u32) -> Result<(), CardError> {
        let mut b = [0u8; BLOCK_SIZE];
        self.vol.read_block(slot.lba, &mut b)?;
        let o = slot.idx as usize * 32;
        set_entry_fields(&mut b[o..o + 32], start, size);
        self.vol.write_block(slot.lba, &b)
    }

    /// Free clusters for `n` clusters of data (not marked used yet).
    pub(crate) fn pick_free(&mut self, n: u32) -> Result<Vec<u32>, CardError> {
        let mut v = Vec::new();
        let mut c = 2;
        let top = self.vol.geometry().cluster_count + 2;
        while (v.len() as u32) < n {
            if c >= top {
                return Err(CardError::Full);
            }
            if self.vol.fat_get(c)? == 0 {
                v.push(c);
            }
            c += 1;
        }
        Ok(v)
    }

    /// Writes `data` into clusters `cs` (zero-padding the last block), then
    /// links them into a chain in the FAT. Returns the first cluster.
    ///
    /// Crash window: from the first FAT write until the caller's directory
    /// write the chain is lost clusters to fsck (readers see the old state).
    pub(crate) fn write_new_chain(&mut self, data: &[u8]) -> Result<u32, CardError> {
        let n = self.clusters_for(data.len() as u32).max(1);
        let cs = self.pick_free(n)?;
        let cb = self.vol.geometry().cluster_bytes() as usize;
        for (i, &c) in cs.iter().enumerate() {
            let part = data.get(i * cb..data.len().min((i + 1) * cb)).unwrap_or(&[]);
            let lba = self.vol.geometry().cluster_lba(c);
            for (j, blk) in part.chunks(BLOCK_SIZE).enumerate() {
                let mut b = [0u8; BLOCK_SIZE];
                b[..blk.len()].copy_from_slice(blk);
                self.vol.write_block(lba + j as u32, &b)?;
            }
        }
        let end = if self.info().fat32 { 0x0FFF_FFFF } else { 0xFFFF };
        let links: Vec<(u32, u32)> = cs
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, cs.get(i + 1).copied().unwrap_or(end)))
            .collect();
        self.vol.fat_set(&links)?;
        Ok(cs[0])
    }

    /// A spare `spare_name` beside `target` (same directory block) whose
    /// chain has exactly `clusters` clusters (`at_least`: or more).
    ///
    /// Resizing the spare: its entry is emptied (one block write), its old
    /// chain freed, a new chain allocated, its entry pointed at it (one block
    /// write). Crash windows: lost clusters between those writes; `target`
    /// is never touched.
    pub(crate) fn ensure_spare(
        &mut self,
        dir: Dir,
        target: &Entry,
        spare_name: &str,
        clusters: u32,
        at_least: bool,
    ) -> Result<Entry, CardError> {
        let cb = self.vol.geometry().cluster_bytes();
        let mut spare = self.vol.find(dir, spare_name)?;
        if let Some(s) = &spare {
            if s.is_dir() {
                return Err(CardError::NotAFile);
            }
            let have = self.vol.chain_len(s.start)?;
            let fits = if at_least { have >= clusters } else { have == clusters };
            if s.slot.lba == target.slot.lba && fits {
                return Ok(s.clone());
            }
            // Empty it (one block), then free its chain.
            self.set_fields(s.slot, 0, 0)?;
            self.vol.free_chain(s.start)?;
            if s.slot.lba != target.slot.lba {
                self.vol.delete_slots(&[s.slot])?;
                spare = None;
            }
        }
        let slot = match spare {
            Some(s) => s.slot,
            None => {
                let slots = self
                    .vol
                    .free_run(dir, 1, Some(target.slot.lba), true)?
                    .ok_or(CardError::DirFull)?;
                let sfn = exact_short(spare_name).ok_or(CardError::BadKey)?;
                self.vol.write_slots(&slots, &[short_entry(&sfn, ATTR_ARCHIVE, 0, 0)])?;
                slots[0]
            }
        };
        if clusters > 0 {
            let start = self.write_new_chain_len(clusters)?;
            self.set_fields(slot, start, clusters * cb)?;
        }
        self.vol
            .find(dir, spare_name)?
            .ok_or(CardError::Corrupt("spare vanished after writing it"))
    }

    /// A chain of `n` clusters with undefined content.
    fn write_new_chain_len(&mut self, n: u32) -> Result<u32, CardError> {
        self.vol.alloc_chain(n)
    }

    /// The commit: `target` takes the spare's chain with `new_size`, the
    /// spare takes the target's old (start, size). ONE block write. Both
    /// entries are checked to be as the caller last saw them.
    pub(crate) fn swap(&mut self, target: Pinned, spare: Pinned, new_size: u32) -> Result<(), CardError> {
        if target.slot.lba != spare.slot.lba {
            return Err(CardError::StaleWriter);
        }
        let mut b = [0u8; BLOCK_SIZE];
        self.vol.read_block(target.slot.lba, &mut b)?;
        let (t, s) = (target.slot.idx as usize * 32, spare.slot.idx as usize * 32);
        if entry_fields(&b[t..t + 32]) != (target.start, target.size)
            || entry_fields(&b[s..s + 32]) != (spare.start, spare.size)
        {
            return Err(CardError::StaleWriter);
        }
        set_entry_fields(&mut b[t..t + 32], spare.start, new_size);
        set_entry_fields(&mut b[s..s + 32], target.start, target.size);
        self.vol.write_block(target.slot.lba, &b)
    }

    /// Deletes a file: entries marked deleted (long-name parts first, the
    /// short entry last: that write is the one that removes the file), then
    /// its chain freed (lost clusters in between).
    pub(crate) fn delete_file(&mut self, e: &Entry) -> Result<(), CardError> {
        let mut slots = e.lfn_slots.clone();
        slots.push(e.slot);
        self.vol.delete_slots(&slots)?;
        self.vol.free_chain(e.start)
    }

    /// Every file entry of `dir` whose name ends with `suffix` (any case).
    pub(crate) fn files_with_suffix(&mut self, dir: Dir, suffix: &str) -> Result<Vec<Entry>, CardError> {
        let mut v = Vec::new();
        let suffix = suffix.to_ascii_lowercase();
        self.vol.for_each_entry(dir, |e| {
            if !e.is_dir() && e.name().to_ascii_lowercase().ends_with(&suffix) {
                v.push(e);
            }
            ControlFlow::Continue(())
        })?;
        Ok(v)
    }
}
