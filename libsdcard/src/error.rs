//! Everything that can go wrong between a request and the card.

use core::fmt;

use crate::block::BlockError;

/// Why a card operation did not happen (or did not finish).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardError {
    /// No card in the slot, or it did not identify.
    NoCard,
    /// A block read or write failed (the card state is still one of the
    /// crash-consistent states: see `crate::card`).
    Io(BlockError),
    /// Block 0 holds no MBR with a FAT partition 1.
    NoPartition,
    /// Partition 1 does not hold a FAT file system.
    NotFat,
    /// FAT12, or sectors other than 512 bytes.
    UnsupportedFat,
    /// The file system contradicts itself (bad cluster number, loop, ...).
    Corrupt(&'static str),
    /// No such file, directory or configuration key.
    NotFound,
    /// A path component names a file, or the path names a directory.
    NotAFile,
    /// No free cluster left.
    Full,
    /// No free directory entry left (FAT16 root) or none where an atomic
    /// swap needs it (the spare must share a directory block with its file).
    DirFull,
    /// The boot image does not fit (more than announced, or than the card).
    ImageTooLarge,
    /// Fewer bytes were written than announced at `begin_boot_image`.
    ImageIncomplete,
    /// The writer does not belong to this card's current state.
    StaleWriter,
    /// Empty key, or a character not allowed in a key or file name.
    BadKey,
    /// The card is too small to format (FAT32 needs 65525 clusters).
    TooSmall,
}

impl From<BlockError> for CardError {
    fn from(e: BlockError) -> Self {
        match e {
            BlockError::NoCard => CardError::NoCard,
            e => CardError::Io(e),
        }
    }
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardError::NoCard => write!(f, "no SD card"),
            CardError::Io(e) => write!(f, "SD card I/O error: {e:?}"),
            CardError::NoPartition => write!(f, "no FAT partition 1 in the MBR"),
            CardError::NotFat => write!(f, "partition 1 is not FAT"),
            CardError::UnsupportedFat => write!(f, "unsupported FAT variant (FAT12 or non-512-byte sectors)"),
            CardError::Corrupt(why) => write!(f, "corrupt file system: {why}"),
            CardError::NotFound => write!(f, "not found"),
            CardError::NotAFile => write!(f, "not a file"),
            CardError::Full => write!(f, "card full"),
            CardError::DirFull => write!(f, "directory full"),
            CardError::ImageTooLarge => write!(f, "image too large"),
            CardError::ImageIncomplete => write!(f, "image incomplete"),
            CardError::StaleWriter => write!(f, "stale boot image writer"),
            CardError::BadKey => write!(f, "invalid key"),
            CardError::TooSmall => write!(f, "card too small for FAT32"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CardError {}
