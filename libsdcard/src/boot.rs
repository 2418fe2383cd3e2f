//! Streaming a new `/BOOT.BIN` onto the card, crash-consistently.
//!
//! [`Card::begin_boot_image`] makes sure the spare `/BOOT.NEW` has a chain
//! of at least the image's length beside `/BOOT.BIN` (in the same
//! directory block); [`Card::boot_write`] streams the image into that chain
//! holding one block in [`BootWriter`] (no other memory grows with the
//! image); [`Card::boot_commit`] pads the rest of the chain's used part
//! with zeros, hands the new image to the caller's validation (read back
//! from the card), and only then swaps the two entries in one block write.
//! Until that write `/BOOT.BIN` is the old image; after it, the new one.

use crate::block::{BlockDevice, BLOCK_SIZE};
use crate::card::Card;
use crate::error::CardError;
use crate::fat::dir::Dir;
use crate::fat::Next;
use crate::readat::{ChainReader, ReadAt};
use crate::spare::Pinned;

pub const BOOT_BIN: &str = "BOOT.BIN";
pub const BOOT_SPARE: &str = "BOOT.NEW";

/// A boot image being written (see the module docs). Holds no borrow of the
/// card, so it can live across the packets of a flash.
#[derive(Debug)]
pub struct BootWriter {
    len: u32,
    written: u32,
    target: Pinned,
    spare: Pinned,
    spare_clusters: u32,
    cluster: u32,
    block_in_cluster: u32,
    buf: [u8; BLOCK_SIZE],
    fill: usize,
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
            buf: [0; BLOCK_SIZE],
            fill: 0,
        })
    }

    fn boot_flush_block(&mut self, w: &mut BootWriter) -> Result<(), CardError> {
        let spc = self.vol.geometry().sectors_per_cluster;
        if w.block_in_cluster == spc {
            w.cluster = match self.vol.next(w.cluster)? {
                Next::Cluster(c) => c,
                Next::End => return Err(CardError::ImageTooLarge),
            };
            w.block_in_cluster = 0;
        }
        let lba = self.vol.geometry().cluster_lba(w.cluster) + w.block_in_cluster;
        self.vol.write_block(lba, &w.buf)?;
        w.block_in_cluster += 1;
        w.buf = [0; BLOCK_SIZE];
        w.fill = 0;
        Ok(())
    }

    /// Appends `data` (any chunk size) to the image.
    pub fn boot_write(&mut self, w: &mut BootWriter, mut data: &[u8]) -> Result<(), CardError> {
        if data.len() as u64 + w.written as u64 > w.len as u64 {
            return Err(CardError::ImageTooLarge);
        }
        while !data.is_empty() {
            let n = data.len().min(BLOCK_SIZE - w.fill);
            w.buf[w.fill..w.fill + n].copy_from_slice(&data[..n]);
            w.fill += n;
            w.written += n as u32;
            data = &data[n..];
            if w.fill == BLOCK_SIZE {
                self.boot_flush_block(w)?;
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
        if w.fill > 0 {
            self.boot_flush_block(&mut w)?;
        }
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
