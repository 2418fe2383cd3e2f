//! Streaming a new `/BOOT.BIN` onto the card, crash-consistently.
//!
//! [`Card::begin_boot_image`] makes sure the spare `/BOOT.NEW` has a chain
//! of at least the image's length beside `/BOOT.BIN` (in the same
//! directory block); [`Card::boot_write`] streams the image into that chain
//! through a run buffer of [`WRITE_RUN_BYTES`] in [`BootWriter`] (no other
//! memory grows with the image); [`Card::boot_commit`] writes the last run
//! (its last block padded with zeros), hands the new image to the caller's
//! validation (read back from the card), and only then swaps the two
//! entries in one block write. Until that write `/BOOT.BIN` is the old
//! image; after it, the new one.
//!
//! # Runs
//!
//! A card programs a single-block write (CMD24) as a whole programming
//! cycle, often 0.5–3 ms; a 20 MB image would be 40 000 of them. The
//! writer instead collects consecutive blocks of the spare chain and writes
//! them with one device write (CMD25 on a card) when the buffer is full,
//! when the next block is not the one after the run on the card (the chain
//! jumps to a cluster that does not follow), and at the commit. 32 KiB is
//! 64 blocks: the per-command cost is spread over 64 blocks, the run
//! covers a whole cluster on cards with 32 KiB clusters and at least the
//! 16 KiB page or recording unit most cards program at once, and it is
//! 0.05% of CPU0's 64 MiB heap (allocated at `begin_boot_image`, freed
//! when the writer goes). Crash consistency is unchanged: the runs go
//! into the spare chain only, whose content does not matter until the
//! commit's directory block write, so a run torn by a power cut (a card
//! can lose power in the middle of a CMD25) leaves `/BOOT.BIN` as it was.

use alloc::vec;
use alloc::vec::Vec;

use crate::block::{BlockDevice, BLOCK_SIZE};
use crate::card::Card;
use crate::error::CardError;
use crate::fat::dir::Dir;
use crate::fat::Next;
use crate::readat::{ChainReader, ReadAt};
use crate::spare::Pinned;

pub const BOOT_BIN: &str = "BOOT.BIN";
pub const BOOT_SPARE: &str = "BOOT.NEW";

/// Bytes of consecutive blocks a [`BootWriter`] collects before one device
/// write (see the module docs for the choice).
pub const WRITE_RUN_BYTES: usize = 32 * 1024;

/// A boot image being written (see the module docs). Holds no borrow of the
/// card, so it can live across the packets of a flash.
#[derive(Debug)]
pub struct BootWriter {
    len: u32,
    written: u32,
    target: Pinned,
    spare: Pinned,
    spare_clusters: u32,
    /// Where the next new block goes: `cluster` of the spare chain, block
    /// `block_in_cluster` in it (may equal the cluster's size: the chain is
    /// followed when that block starts).
    cluster: u32,
    block_in_cluster: u32,
    /// The run: blocks for consecutive LBAs from `run_lba`, the last one
    /// possibly partial; `fill` bytes used. Empty after the commit.
    buf: Vec<u8>,
    fill: usize,
    run_lba: u32,
}

impl BootWriter {
    /// Bytes announced.
    pub fn len(&self) -> u32 {
        self.len
    }
    /// Bytes received so far.
    pub fn written(&self) -> u32 {
        self.written
    }
    /// Whether nothing was announced (never: `begin_boot_image` refuses 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Heap bytes the writer holds (its run buffer).
    pub fn buffer_bytes(&self) -> usize {
        self.buf.capacity()
    }
}

/// Why a commit did not replace `/BOOT.BIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitError<E> {
    /// The card failed (the old image is still in place, see `crate::card`).
    Card(CardError),
    /// The caller's validation refused the image; nothing was replaced.
    Invalid(E),
}

impl<E> From<CardError> for CommitError<E> {
    fn from(e: CardError) -> Self {
        CommitError::Card(e)
    }
}

impl<D: BlockDevice> Card<D> {
    /// Prepares to write a boot image of `len` bytes. May create or grow the
    /// spare `/BOOT.NEW` (allocation windows documented in `crate::card`);
    /// `/BOOT.BIN` is not touched.
    pub fn begin_boot_image(&mut self, len: u32) -> Result<BootWriter, CardError> {
        if len == 0 {
            return Err(CardError::ImageIncomplete);
        }
        let need = self.clusters_for(len);
        if need > self.vol.geometry().cluster_count {
            return Err(CardError::ImageTooLarge);
        }
        let target = self.ensure_file(Dir::Root, BOOT_BIN)?;
        // Chain lengths from the directory entries' sizes, not by walking
        // the chains: a 32 MiB spare is tens of thousands of FAT entries,
        // and the master waits 200 ms for the reply to the flash request.
        // A chain shorter than its size says (a damaged card) only ends the
        // write early, with `ImageTooLarge` (see `boot_flush_block`).
        let current = self.clusters_for(target.size);
        let spare = match self.vol.find(Dir::Root, BOOT_SPARE)? {
            Some(s) if !s.is_dir() && s.slot.lba == target.slot.lba && s.start != 0 && self.clusters_for(s.size) >= need => s,
            // New or resized spare: as large as the current image too, so
            // that alternating images of similar sizes keep it.
            _ => self
                .ensure_spare(Dir::Root, &target, BOOT_SPARE, need.max(current), true)
                .map_err(|e| match e {
                    CardError::Full => CardError::ImageTooLarge,
                    e => e,
                })?,
        };
        let spare_clusters = self.clusters_for(spare.size);
        Ok(BootWriter {
            len,
            written: 0,
            target: Pinned::from(&target),
            spare: Pinned::from(&spare),
            spare_clusters,
            cluster: spare.start,
            block_in_cluster: 0,
            buf: vec![0; WRITE_RUN_BYTES],
            fill: 0,
            run_lba: 0,
        })
    }

    /// Writes the run (whole blocks; a partial last block only at the
    /// commit, zero-padded there) with one device write, and empties it.
    fn boot_flush_run(&mut self, w: &mut BootWriter) -> Result<(), CardError> {
        if w.fill > 0 {
            debug_assert!(w.fill.is_multiple_of(BLOCK_SIZE));
            self.vol.write_blocks(w.run_lba, &w.buf[..w.fill])?;
            w.fill = 0;
        }
        Ok(())
    }

    /// Places the next block of the image: follows the chain at a cluster
    /// boundary, and writes the run first if the block does not extend it
    /// (the chain jumps).
    fn boot_start_block(&mut self, w: &mut BootWriter) -> Result<(), CardError> {
        let spc = self.vol.geometry().sectors_per_cluster;
        if w.block_in_cluster == spc {
            w.cluster = match self.vol.next(w.cluster)? {
                Next::Cluster(c) => c,
                Next::End => return Err(CardError::ImageTooLarge),
            };
            w.block_in_cluster = 0;
        }
        let lba = self.vol.geometry().cluster_lba(w.cluster) + w.block_in_cluster;
        let in_run = (w.fill / BLOCK_SIZE) as u32;
        if w.fill > 0 && w.run_lba + in_run != lba {
            self.boot_flush_run(w)?;
        }
        if w.fill == 0 {
            w.run_lba = lba;
        }
        w.block_in_cluster += 1;
        Ok(())
    }

    /// Appends `data` (any chunk size) to the image. It reaches the card a
    /// run at a time (see the module docs); all of it by the commit.
    pub fn boot_write(&mut self, w: &mut BootWriter, mut data: &[u8]) -> Result<(), CardError> {
        if data.len() as u64 + w.written as u64 > w.len as u64 {
            return Err(CardError::ImageTooLarge);
        }
        while !data.is_empty() {
            if w.fill.is_multiple_of(BLOCK_SIZE) {
                self.boot_start_block(w)?;
            }
            let n = data.len().min(BLOCK_SIZE - w.fill % BLOCK_SIZE);
            w.buf[w.fill..w.fill + n].copy_from_slice(&data[..n]);
            w.fill += n;
            w.written += n as u32;
            data = &data[n..];
            if w.fill == w.buf.len() {
                self.boot_flush_run(w)?;
            }
        }
        Ok(())
    }

    /// Finishes the image, lets `validate` read it back from the card, and
    /// if it accepts, makes it `/BOOT.BIN` (one block write). The file's
    /// size becomes the image length, or the spare chain's length less one
    /// cluster plus one byte if that is more (FAT requires a file's size to
    /// match its chain; the bytes past the image are whatever the spare held
    /// before, and are not written).
    pub fn boot_commit<E>(
        &mut self,
        mut w: BootWriter,
        validate: impl FnOnce(&mut dyn ReadAt) -> Result<(), E>,
    ) -> Result<(), CommitError<E>> {
        if w.written != w.len {
            return Err(CardError::ImageIncomplete.into());
        }
        let cb = self.vol.geometry().cluster_bytes();
        let new_size = w.len.max((w.spare_clusters - 1) * cb + 1);
        let padded = w.fill.next_multiple_of(BLOCK_SIZE);
        w.buf[w.fill..padded].fill(0);
        w.fill = padded;
        self.boot_flush_run(&mut w)?;
        // The validation reads into buffers of its own: give the run's
        // memory back first, so the flash's peak is one buffer, not two.
        w.buf = Vec::new();
        // The rest of the chain up to `new_size` is not written: it keeps
        // what the spare held (an older image's tail). The boot ROM and the
        // loaders read by the partition headers, and zeroing tens of MiB at
        // every flash would cost minutes on a card.
        let mut r = ChainReader::new(&mut self.vol, w.spare.start, w.len);
        validate(&mut r).map_err(CommitError::Invalid)?;
        self.swap(w.target, w.spare, new_size)?;
        if w.target.start == 0 {
            // First image on this card: the spare got the empty old entry.
            // Give it a chain now so the next flash needs no allocation; the
            // flash itself has succeeded, so a full card is not an error.
            match self.reserve_boot_spare(new_size) {
                Ok(()) | Err(CardError::Full) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Makes sure the spare `/BOOT.NEW` can take an image of `bytes` bytes
    /// without being grown at flash time (`satctl sdcard make` reserves it).
    pub fn reserve_boot_spare(&mut self, bytes: u32) -> Result<(), CardError> {
        let target = self.ensure_file(Dir::Root, BOOT_BIN)?;
        let need = self.clusters_for(bytes);
        self.ensure_spare(Dir::Root, &target, BOOT_SPARE, need, true)?;
        Ok(())
    }

    /// Drops an image being written; the card is left as it was (the
    /// spare's content does not matter).
    pub fn boot_abort(&mut self, w: BootWriter) {
        let _ = w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::format_fat32;
    use crate::mem::{CommandLog, Logged, MemDevice};

    type Dev = Logged<MemDevice>;

    fn image(n: usize) -> Vec<u8> {
        (0..n as u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()
    }

    /// A 40 MiB card (512-byte clusters) with `/BOOT.BIN`; with `holes`, the
    /// spare reserved next is fragmented: it fills 3-cluster gaps left by
    /// removed values before it reaches the free space after them.
    fn card(holes: bool) -> (Card<Dev>, CommandLog) {
        let mut d = MemDevice::new(40 * 2048);
        format_fat32(&mut d, 1).unwrap();
        let (d, log) = Logged::new(d);
        let mut c = Card::mount(d).unwrap();
        let mut w = c.begin_boot_image(100).unwrap();
        c.boot_write(&mut w, &[1; 100]).unwrap();
        c.boot_commit(w, |_: &mut dyn ReadAt| Ok::<(), ()>(())).unwrap();
        if holes {
            for k in 0..8 {
                c.config_write(&alloc::format!("k{k}"), &[0xF0; 1500]).unwrap();
            }
            for k in (0..8).step_by(2) {
                c.config_remove(&alloc::format!("k{k}")).unwrap();
            }
        }
        c.reserve_boot_spare(200_000).unwrap();
        log.take();
        (c, log)
    }

    fn flash(c: &mut Card<Dev>, img: &[u8], chunk: usize) {
        let mut w = c.begin_boot_image(img.len() as u32).unwrap();
        for part in img.chunks(chunk) {
            c.boot_write(&mut w, part).unwrap();
        }
        c.boot_commit(w, |r: &mut dyn ReadAt| {
            let mut back = alloc::vec![0; img.len()];
            r.read_exact_at(0, &mut back).map_err(|_| "read")?;
            if back == img { Ok(()) } else { Err("differs") }
        })
        .unwrap();
    }

    #[test]
    fn a_contiguous_chain_is_written_in_full_runs() {
        let (mut c, log) = card(false);
        let img = image(150_001);
        flash(&mut c, &img, 1010);
        let log = log.writes();
        // 150 001 bytes = 293 blocks: 4 runs of 64, the last 37 at the
        // commit, then the directory block of the swap.
        let runs: Vec<u32> = log.iter().map(|&(_, n)| n).collect();
        assert_eq!(runs, [64, 64, 64, 64, 37, 1]);
        for w in log[..5].windows(2) {
            assert_eq!(w[0].0 + w[0].1, w[1].0, "runs follow each other");
        }
        let mut back = Vec::new();
        c.read_file("/BOOT.BIN", &mut back).unwrap();
        assert_eq!(&back[..img.len()], &img[..]);
    }

    #[test]
    fn a_fragmented_chain_breaks_runs_where_it_jumps() {
        let (mut c, log) = card(true);
        let img = image(150_001);
        flash(&mut c, &img, 7);
        let log = log.writes();
        let (data, swap) = log.split_at(log.len() - 1);
        assert_eq!(swap[0].1, 1);
        // The holes (3 clusters each, and one left by the first BOOT.BIN's
        // spare) come first, each its own write.
        assert_eq!(data.iter().filter(|&&(_, n)| n == 3).count(), 4, "{log:?}");
        assert!(data.iter().all(|&(_, n)| n <= 64));
        assert_eq!(data.iter().map(|&(_, n)| n).sum::<u32>(), 293);
        // A run ends early only where the next block is elsewhere.
        for w in data.windows(2) {
            assert!(w[0].1 == 64 || w[0].0 + w[0].1 != w[1].0, "{w:?}");
        }
        let mut back = Vec::new();
        c.read_file("/BOOT.BIN", &mut back).unwrap();
        assert_eq!(&back[..img.len()], &img[..]);
    }

    #[test]
    fn the_run_buffer_is_freed_before_the_read_back() {
        let (mut c, log) = card(false);
        let mut w = c.begin_boot_image(1000).unwrap();
        assert_eq!(w.buffer_bytes(), WRITE_RUN_BYTES);
        c.boot_write(&mut w, &[5; 1000]).unwrap();
        assert!(log.writes().is_empty(), "nothing written before a run is full");
        c.boot_commit(w, |_: &mut dyn ReadAt| Ok::<(), ()>(())).unwrap();
        assert_eq!(log.writes().iter().map(|&(_, n)| n).collect::<Vec<_>>(), [2, 1]);
    }
}
