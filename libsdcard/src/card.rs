//! The card as satman and the boot loader see it: partition 1's FAT volume
//! holding `/BOOT.BIN`, `/CONFIG.TXT` and `/CONFIG/<KEY>.BIN`
//! (artiq-zynq's layout), mounted, read, and written crash-consistently.
//!
//! # Crash consistency
//!
//! Files that are replaced whole (`/BOOT.BIN`, `/CONFIG.TXT`) each have a
//! spare next to them (`/BOOT.NEW`, `/CONFIG.NEW`) that owns a cluster
//! chain. A replacement writes the new content into the spare's chain (data
//! blocks only: no FAT or directory block changes, so the file system is
//! consistent after every one of those writes), then commits by swapping
//! the (start cluster, size) of the two directory entries, which share one
//! directory block: **one** block write. Each entry stays consistent with
//! its own chain, so fsck is clean before and after it, and the file is
//! either all old or all new. A boot image shorter than the spare's chain
//! is followed, in the file, by whatever the spare held there before (an
//! older image's tail; the boot ROM and loaders follow the partition
//! headers, and the file's size must match its chain); `/CONFIG.TXT` is
//! never padded: its new content must
//! need exactly as many clusters as the spare has (any length within one
//! cluster, which covers every real configuration on cards with 4 KiB
//! clusters).
//!
//! Steps that allocate or free clusters (making a missing spare, resizing
//! one, a `/CONFIG/<KEY>.BIN` value, removing one) cannot be made atomic
//! with FAT's separate FAT and directory blocks. They are ordered so that
//! the old or the new value is always what a reader gets, and the only
//! state fsck can object to is clusters that are marked used but belong to
//! no file ("lost clusters": wasted space, no data at risk), in the window
//! between the FAT writes and the directory write (or the reverse when
//! freeing). These windows are documented at each step.

use alloc::string::String;
use alloc::vec::Vec;

use crate::block::BlockDevice;
use crate::error::CardError;
use crate::fat::dir::{Dir, Entry};
use crate::fat::{FatType, Volume};
use crate::readat::{ChainReader, ReadAt};

/// A mounted card.
#[derive(Debug)]
pub struct Card<D> {
    pub(crate) vol: Volume<D>,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Long name if there is one, else `NAME.EXT`.
    pub name: String,
    pub size: u32,
    pub is_dir: bool,
}

/// Facts about the mounted volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeInfo {
    pub fat32: bool,
    pub cluster_bytes: u32,
    pub clusters: u32,
    pub partition_lba: u32,
}

impl<D: BlockDevice> Card<D> {
    /// Reads the MBR and partition 1's FAT boot sector. Nothing is written.
    pub fn mount(dev: D) -> Result<Self, CardError> {
        Ok(Card {
            vol: Volume::mount(dev)?,
        })
    }

    /// Gives the block device back.
    pub fn unmount(self) -> D {
        self.vol.into_device()
    }

    /// The block device (e.g. to flush a file-backed one).
    pub fn device(&mut self) -> &mut D {
        self.vol.device()
    }

    pub fn info(&self) -> VolumeInfo {
        let g = self.vol.geometry();
        VolumeInfo {
            fat32: g.fat_type == FatType::Fat32,
            cluster_bytes: g.cluster_bytes(),
            clusters: g.cluster_count,
            partition_lba: g.part_lba,
        }
    }

    /// The directory and entry `path` names (`/A/B`, `A/B`; case-insensitive).
    pub(crate) fn lookup(&mut self, path: &str) -> Result<(Dir, Entry), CardError> {
        let mut parts = path.split('/').filter(|p| !p.is_empty()).peekable();
        let mut dir = Dir::Root;
        while let Some(p) = parts.next() {
            let e = self.vol.find(dir, p)?.ok_or(CardError::NotFound)?;
            if parts.peek().is_none() {
                return Ok((dir, e));
            }
            if !e.is_dir() {
                return Err(CardError::NotAFile);
            }
            dir = if e.start == 0 { Dir::Root } else { Dir::Cluster(e.start) };
        }
        Err(CardError::NotAFile)
    }

    /// The directory `path` names (`/` or empty: the root).
    pub(crate) fn lookup_dir(&mut self, path: &str) -> Result<Dir, CardError> {
        if path.split('/').all(|p| p.is_empty()) {
            return Ok(Dir::Root);
        }
        let (_, e) = self.lookup(path)?;
        if !e.is_dir() {
            return Err(CardError::NotAFile);
        }
        Ok(if e.start == 0 { Dir::Root } else { Dir::Cluster(e.start) })
    }

    /// Opens a file for random-access reading (e.g. `/BOOT.BIN`).
    pub fn open(&mut self, path: &str) -> Result<ChainReader<'_, D>, CardError> {
        let (_, e) = self.lookup(path)?;
        if e.is_dir() {
            return Err(CardError::NotAFile);
        }
        self.check_chain(&e)?;
        Ok(ChainReader::new(&mut self.vol, e.start, e.size))
    }

    /// Checks that a file's chain can hold its size.
    fn check_chain(&mut self, e: &Entry) -> Result<(), CardError> {
        if e.size > 0 && !self.vol.geometry().valid_cluster(e.start) {
            return Err(CardError::Corrupt("file starts outside the volume"));
        }
        Ok(())
    }

    /// Appends a whole file to `out`.
    pub fn read_file(&mut self, path: &str, out: &mut Vec<u8>) -> Result<(), CardError> {
        let mut r = self.open(path)?;
        let base = out.len();
        out.resize(base + r.len() as usize, 0);
        r.read_exact_at(0, &mut out[base..])
    }

    /// Lists a directory (`/` for the root).
    pub fn list(&mut self, path: &str) -> Result<Vec<FileInfo>, CardError> {
        let dir = self.lookup_dir(path)?;
        Ok(self
            .vol
            .list(dir)?
            .into_iter()
            .map(|e| FileInfo {
                name: e.name(),
                size: e.size,
                is_dir: e.is_dir(),
            })
            .collect())
    }
}
