//! The configuration store and boot image on the SD card: the boards'
//! [`ConfigStore`], over any [`BlockDevice`] (the Zynq SD controller on the
//! boards, a memory card in the host tests).
//!
//! The card is mounted once at boot. Without a usable card (none in the
//! slot, no FAT partition 1, a damaged file system) the satellite still
//! boots and serves with default settings: reads find nothing, and every
//! write, removal, erase and flash fails with the cause logged. Every `Ok`
//! here means the change is on the card (libsdcard writes through, with no
//! cache, in a crash-consistent order).

use alloc::vec::Vec;

use libsdcard::{BlockDevice, BootWriter, Card, CardError, CommitError, ReadAt};
use log::{info, warn};

use crate::hal::{ConfigError, ConfigStore, ImageReader};

pub struct CardStore<D> {
    card: Result<Card<D>, CardError>,
    writer: Option<BootWriter>,
}

fn config_error(e: CardError) -> ConfigError {
    match e {
        CardError::NoCard => ConfigError::NoCard,
        CardError::Io(_) => ConfigError::Io,
        CardError::NoPartition
        | CardError::NotFat
        | CardError::UnsupportedFat
        | CardError::Corrupt(_)
        | CardError::NotAFile => ConfigError::Unreadable,
        CardError::NotFound => ConfigError::NotFound,
        CardError::Full | CardError::DirFull => ConfigError::Full,
        CardError::ImageTooLarge | CardError::TooSmall => ConfigError::TooLarge,
        CardError::ImageIncomplete => ConfigError::BadImage,
        CardError::StaleWriter => ConfigError::NoTransfer,
        CardError::BadKey => ConfigError::InvalidKey,
    }
}

/// Logs a card failure with its precise cause; returns the store's error.
fn failed(what: &str, e: CardError) -> ConfigError {
    if e != CardError::NotFound {
        warn!("SD card: {} failed: {}", what, e);
    }
    config_error(e)
}

impl<D: BlockDevice> CardStore<D> {
    /// Mounts the card (`dev` is `Err` when the controller found no card).
    pub fn mount(dev: Result<D, CardError>) -> CardStore<D> {
        let card = dev.and_then(Card::mount);
        match &card {
            Ok(c) => {
                let i = c.info();
                info!(
                    "SD card: FAT{} on partition 1 (LBA {}), {} clusters of {} bytes",
                    if i.fat32 { 32 } else { 16 },
                    i.partition_lba,
                    i.clusters,
                    i.cluster_bytes
                );
            }
            Err(e) => warn!("SD card: {}; running with default settings, config writes and flashes will fail", e),
        }
        CardStore { card, writer: None }
    }

    /// The mounted card, if any.
    pub fn card(&mut self) -> Option<&mut Card<D>> {
        self.card.as_mut().ok()
    }

    fn card_or(&mut self, what: &str) -> Result<&mut Card<D>, ConfigError> {
        match &mut self.card {
            Ok(c) => Ok(c),
            Err(e) => {
                warn!("SD card: {} impossible: {}", what, e);
                Err(config_error(*e))
            }
        }
    }
}

/// [`ImageReader`] over the card's [`ReadAt`].
struct Reader<'a>(&'a mut dyn ReadAt);

impl ImageReader for Reader<'_> {
    fn len(&self) -> u32 {
        self.0.len()
    }
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), ConfigError> {
        self.0.read_exact_at(offset, buf).map_err(|e| failed("reading the new boot image back", e))
    }
}

impl<D: BlockDevice> ConfigStore for CardStore<D> {
    fn read(&mut self, key: &str, out: &mut Vec<u8>) -> Result<(), ConfigError> {
        match &mut self.card {
            // Without a card every key has its default.
            Err(_) => Err(ConfigError::NotFound),
            Ok(c) => c.config_read(key, out).map_err(|e| failed("config read", e)),
        }
    }

    fn write(&mut self, key: &str, value: &[u8]) -> Result<(), ConfigError> {
        self.card_or("config write")?.config_write(key, value).map_err(|e| failed("config write", e))
    }

    fn remove(&mut self, key: &str) -> Result<(), ConfigError> {
        match self.card_or("config remove")?.config_remove(key) {
            Ok(()) | Err(CardError::NotFound) => Ok(()),
            Err(e) => Err(failed("config remove", e)),
        }
    }

    fn erase(&mut self) -> Result<(), ConfigError> {
        self.card_or("config erase")?.config_erase().map_err(|e| failed("config erase", e))
    }

    fn boot_begin(&mut self, len: u32) -> Result<(), ConfigError> {
        self.writer = None;
        let w = self.card_or("flash")?.begin_boot_image(len).map_err(|e| failed("preparing the boot image", e))?;
        self.writer = Some(w);
        Ok(())
    }

    fn boot_write(&mut self, data: &[u8]) -> Result<(), ConfigError> {
        let Some(w) = self.writer.as_mut() else { return Err(ConfigError::NoTransfer) };
        let Ok(card) = &mut self.card else { return Err(ConfigError::NoCard) };
        card.boot_write(w, data).map_err(|e| failed("writing the boot image", e))
    }

    fn boot_commit(
        &mut self,
        check: &mut dyn FnMut(&mut dyn ImageReader) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        let w = self.writer.take().ok_or(ConfigError::NoTransfer)?;
        let Ok(card) = &mut self.card else { return Err(ConfigError::NoCard) };
        match card.boot_commit(w, |r: &mut dyn ReadAt| check(&mut Reader(r))) {
            Ok(()) => Ok(()),
            Err(CommitError::Invalid(e)) => Err(e),
            Err(CommitError::Card(e)) => Err(failed("replacing BOOT.BIN", e)),
        }
    }

    fn boot_buffer_bytes(&self) -> usize {
        libsdcard::boot::WRITE_RUN_BYTES
    }

    fn boot_abort(&mut self) {
        if let (Some(w), Ok(card)) = (self.writer.take(), &mut self.card) {
            card.boot_abort(w);
        }
    }
}
