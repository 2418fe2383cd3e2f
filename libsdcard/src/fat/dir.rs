//! Directories: walking their blocks, decoding entries (with long names),
//! finding free slots, and writing entries back one block at a time.

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::ControlFlow;

use super::name::{lfn_checksum, short_display};
use super::{Next, Root, Volume};
use crate::block::{BlockDevice, BLOCK_SIZE};
use crate::error::CardError;

pub const ATTR_DIR: u8 = 0x10;
const ATTR_VOLUME: u8 = 0x08;
const ATTR_LFN: u8 = 0x0F;
const SLOTS: usize = BLOCK_SIZE / 32;

/// Which directory: the root, or a subdirectory's first cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Root,
    Cluster(u32),
}

/// Position of one 32-byte entry: its block and index in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub lba: u32,
    pub idx: u8,
}

/// A file or directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub sfn: [u8; 11],
    pub attr: u8,
    pub start: u32,
    pub size: u32,
    /// The short entry.
    pub slot: Slot,
    /// The long name, if a valid one precedes the short entry.
    pub long: Option<String>,
    /// Slots of the long-name entries (in directory order).
    pub lfn_slots: Vec<Slot>,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.attr & ATTR_DIR != 0
    }

    /// The name to show: the long name, else `NAME.EXT`.
    pub fn name(&self) -> String {
        self.long.clone().unwrap_or_else(|| short_display(&self.sfn))
    }

    /// FAT's name comparison: either name, ignoring ASCII case.
    pub fn matches(&self, name: &str) -> bool {
        self.long.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(name))
            || short_display(&self.sfn).eq_ignore_ascii_case(name)
    }
}

fn le16(b: &[u8], o: usize) -> u32 {
    u16::from_le_bytes([b[o], b[o + 1]]) as u32
}

/// Decodes a short entry's start cluster and size.
pub fn entry_fields(raw: &[u8]) -> (u32, u32) {
    let start = (le16(raw, 20) << 16) | le16(raw, 26);
    let size = u32::from_le_bytes([raw[28], raw[29], raw[30], raw[31]]);
    (start, size)
}

/// Sets a short entry's start cluster and size.
pub fn set_entry_fields(raw: &mut [u8], start: u32, size: u32) {
    raw[20..22].copy_from_slice(&((start >> 16) as u16).to_le_bytes());
    raw[26..28].copy_from_slice(&(start as u16).to_le_bytes());
    raw[28..32].copy_from_slice(&size.to_le_bytes());
}

/// A new short entry (timestamps: 1980-01-01, as there is no clock).
pub fn short_entry(sfn: &[u8; 11], attr: u8, start: u32, size: u32) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(sfn);
    e[11] = attr;
    for o in [16, 18, 24] {
        e[o..o + 2].copy_from_slice(&0x0021u16.to_le_bytes());
    }
    set_entry_fields(&mut e, start, size);
    e
}

/// Long-name entries for `name`, in directory order (last part first).
pub fn lfn_entries(name: &str, sfn: &[u8; 11]) -> Vec<[u8; 32]> {
    let units: Vec<u16> = name.encode_utf16().collect();
    let parts = units.len().div_ceil(13);
    let sum = lfn_checksum(sfn);
    let mut out = Vec::with_capacity(parts);
    for p in (0..parts).rev() {
        let mut e = [0u8; 32];
        e[0] = (p as u8 + 1) | if p + 1 == parts { 0x40 } else { 0 };
        e[11] = ATTR_LFN;
        e[13] = sum;
        let offs = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        for (k, &o) in offs.iter().enumerate() {
            let i = p * 13 + k;
            let u = match i.cmp(&units.len()) {
                core::cmp::Ordering::Less => units[i],
                core::cmp::Ordering::Equal => 0,
                core::cmp::Ordering::Greater => 0xFFFF,
            };
            e[o..o + 2].copy_from_slice(&u.to_le_bytes());
        }
        out.push(e);
    }
    out
}

/// Long-name pieces being collected before their short entry.
struct LfnAcc {
    units: [u16; 260],
    sum: u8,
    expect: u8,
    total: u8,
    slots: Vec<Slot>,
}

impl LfnAcc {
    fn reset(&mut self) {
        self.expect = 0;
        self.total = 0;
        self.slots.clear();
    }

    fn push(&mut self, raw: &[u8], slot: Slot) {
        let seq = raw[0] & 0x1F;
        if raw[0] & 0x40 != 0 {
            self.reset();
            if seq == 0 || seq > 20 {
                return;
            }
            self.total = seq;
            self.expect = seq;
            self.sum = raw[13];
            self.units = [0xFFFF; 260];
        } else if self.expect == 0 || seq != self.expect || raw[13] != self.sum {
            self.reset();
            return;
        }
        let base = (seq as usize - 1) * 13;
        let offs = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        for (k, &o) in offs.iter().enumerate() {
            self.units[base + k] = le16(raw, o) as u16;
        }
        self.slots.push(slot);
        // The next part must be number seq - 1; 0 means complete.
        self.expect = seq - 1;
    }

    /// The long name for a short entry that follows, if complete and valid.
    fn take(&mut self, sfn: &[u8; 11]) -> Option<(String, Vec<Slot>)> {
        let ok = self.total > 0 && self.expect == 0 && self.sum == lfn_checksum(sfn);
        let r = if ok {
            let n = self.total as usize * 13;
            let end = self.units[..n].iter().position(|&u| u == 0).unwrap_or(n);
            String::from_utf16(&self.units[..end])
                .ok()
                .map(|s| (s, core::mem::take(&mut self.slots)))
        } else {
            None
        };
        self.reset();
        r
    }
}

impl<D: BlockDevice> Volume<D> {
    /// Calls `f` with each block of directory `dir`, in order, until it
    /// breaks. Bounded by the cluster count (a looping chain is corruption).
    pub fn dir_blocks(
        &mut self,
        dir: Dir,
        mut f: impl FnMut(&mut Self, u32) -> Result<ControlFlow<()>, CardError>,
    ) -> Result<(), CardError> {
        let start = match (dir, self.geometry().root) {
            (Dir::Root, Root::Fixed { lba, sectors }) => {
                for l in lba..lba + sectors {
                    if f(self, l)?.is_break() {
                        break;
                    }
                }
                return Ok(());
            }
            (Dir::Root, Root::Chain(c)) => c,
            (Dir::Cluster(c), _) => c,
        };
        let spc = self.geometry().sectors_per_cluster;
        let limit = self.geometry().cluster_count;
        let mut c = start;
        for _ in 0..limit {
            let first = {
                if !self.geometry().valid_cluster(c) {
                    return Err(CardError::Corrupt("directory cluster out of range"));
                }
                self.geometry().cluster_lba(c)
            };
            for l in first..first + spc {
                if f(self, l)?.is_break() {
                    return Ok(());
                }
            }
            match self.next(c)? {
                Next::Cluster(d) => c = d,
                Next::End => return Ok(()),
            }
        }
        Err(CardError::Corrupt("directory chain loops"))
    }

    /// Last cluster of a subdirectory's chain (None for a fixed root).
    pub fn dir_last_cluster(&mut self, dir: Dir) -> Result<Option<u32>, CardError> {
        let mut c = match (dir, self.geometry().root) {
            (Dir::Root, Root::Fixed { .. }) => return Ok(None),
            (Dir::Root, Root::Chain(c)) | (Dir::Cluster(c), _) => c,
        };
        for _ in 0..self.geometry().cluster_count {
            match self.next(c)? {
                Next::Cluster(d) => c = d,
                Next::End => return Ok(Some(c)),
            }
        }
        Err(CardError::Corrupt("directory chain loops"))
    }

    /// Calls `f` with each live entry (not deleted, not a volume label, not
    /// a long-name part) of `dir`.
    pub fn for_each_entry(&mut self, dir: Dir, mut f: impl FnMut(Entry) -> ControlFlow<()>) -> Result<(), CardError> {
        let mut acc = LfnAcc {
            units: [0; 260],
            sum: 0,
            expect: 0,
            total: 0,
            slots: Vec::new(),
        };
        let mut b = [0u8; BLOCK_SIZE];
        self.dir_blocks(dir, |v, lba| {
            v.read_block(lba, &mut b)?;
            for i in 0..SLOTS {
                let raw = &b[i * 32..i * 32 + 32];
                let slot = Slot { lba, idx: i as u8 };
                match raw[0] {
                    0x00 => return Ok(ControlFlow::Break(())),
                    0xE5 => acc.reset(),
                    _ if raw[11] & 0x3F == ATTR_LFN => acc.push(raw, slot),
                    _ if raw[11] & ATTR_VOLUME != 0 => acc.reset(),
                    _ => {
                        let mut sfn = [0u8; 11];
                        sfn.copy_from_slice(&raw[..11]);
                        let (long, lfn_slots) = acc.take(&sfn).map_or((None, Vec::new()), |(s, v)| (Some(s), v));
                        let (start, size) = entry_fields(raw);
                        let e = Entry {
                            sfn,
                            attr: raw[11],
                            start,
                            size,
                            slot,
                            long,
                            lfn_slots,
                        };
                        if f(e).is_break() {
                            return Ok(ControlFlow::Break(()));
                        }
                    }
                }
            }
            Ok(ControlFlow::Continue(()))
        })
    }

    /// The entry of `dir` named `name` (either name, case-insensitive).
    pub fn find(&mut self, dir: Dir, name: &str) -> Result<Option<Entry>, CardError> {
        let mut found = None;
        self.for_each_entry(dir, |e| {
            if e.matches(name) && !e.sfn.starts_with(b".") {
                found = Some(e);
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(found)
    }

    /// Every live entry of `dir` (without "." and "..").
    pub fn list(&mut self, dir: Dir) -> Result<Vec<Entry>, CardError> {
        let mut v = Vec::new();
        self.for_each_entry(dir, |e| {
            if !e.sfn.starts_with(b".") {
                v.push(e);
            }
            ControlFlow::Continue(())
        })?;
        Ok(v)
    }

    /// `n` consecutive free slots of `dir` (deleted entries or the free tail),
    /// all in block `within` if given, all in one block if `one_block`.
    pub fn free_run(
        &mut self,
        dir: Dir,
        n: usize,
        within: Option<u32>,
        one_block: bool,
    ) -> Result<Option<Vec<Slot>>, CardError> {
        let mut run: Vec<Slot> = Vec::new();
        let mut found = None;
        let mut b = [0u8; BLOCK_SIZE];
        self.dir_blocks(dir, |v, lba| {
            if within.is_some_and(|w| w != lba) {
                run.clear();
                return Ok(ControlFlow::Continue(()));
            }
            v.read_block(lba, &mut b)?;
            if one_block {
                run.clear();
            }
            for i in 0..SLOTS {
                let free = b[i * 32] == 0x00 || b[i * 32] == 0xE5;
                if free {
                    run.push(Slot { lba, idx: i as u8 });
                    if run.len() == n {
                        found = Some(core::mem::take(&mut run));
                        return Ok(ControlFlow::Break(()));
                    }
                } else {
                    run.clear();
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(found)
    }

    /// Writes entries into slots, one read-modify-write per block, in slot
    /// order (long-name parts before their short entry).
    pub fn write_slots(&mut self, slots: &[Slot], raws: &[[u8; 32]]) -> Result<(), CardError> {
        let mut i = 0;
        while i < slots.len() {
            let lba = slots[i].lba;
            let mut b = [0u8; BLOCK_SIZE];
            self.read_block(lba, &mut b)?;
            while i < slots.len() && slots[i].lba == lba {
                let o = slots[i].idx as usize * 32;
                b[o..o + 32].copy_from_slice(&raws[i]);
                i += 1;
            }
            self.write_block(lba, &b)?;
        }
        Ok(())
    }

    /// Marks slots deleted (0xE5), one write per block, in slot order.
    pub fn delete_slots(&mut self, slots: &[Slot]) -> Result<(), CardError> {
        let mut i = 0;
        while i < slots.len() {
            let lba = slots[i].lba;
            let mut b = [0u8; BLOCK_SIZE];
            self.read_block(lba, &mut b)?;
            while i < slots.len() && slots[i].lba == lba {
                b[slots[i].idx as usize * 32] = 0xE5;
                i += 1;
            }
            self.write_block(lba, &b)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfn_round_trip() {
        let sfn = *b"DEVICE~1BIN";
        let es = lfn_entries("device_map.bin", &sfn);
        assert_eq!(es.len(), 2);
        assert_eq!(es[0][0], 0x42);
        assert_eq!(es[1][0], 0x01);
        let mut acc = LfnAcc {
            units: [0; 260],
            sum: 0,
            expect: 0,
            total: 0,
            slots: Vec::new(),
        };
        for (i, e) in es.iter().enumerate() {
            acc.push(e, Slot { lba: 0, idx: i as u8 });
        }
        let (name, slots) = acc.take(&sfn).unwrap();
        assert_eq!(name, "device_map.bin");
        assert_eq!(slots.len(), 2);
        // A wrong checksum (orphaned long name) is ignored.
        for (i, e) in es.iter().enumerate() {
            acc.push(e, Slot { lba: 0, idx: i as u8 });
        }
        assert!(acc.take(b"OTHER   BIN").is_none());
    }

    #[test]
    fn entry_fields_round_trip() {
        let e = short_entry(b"BOOT    BIN", 0x20, 0x12345, 777);
        assert_eq!(entry_fields(&e), (0x12345, 777));
    }
}
