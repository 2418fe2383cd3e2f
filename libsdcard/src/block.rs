//! The one thing the file system layer knows about storage: numbered
//! 512-byte blocks that can be read and written.
//!
//! The SD card driver (SDHCI on the Zynq), a file or memory image on the
//! host, and the fault-injecting devices of the crash tests all implement
//! [`BlockDevice`]; nothing above this trait sees a register or a file.

/// Size of one block in bytes (SD cards in SDHC/SDXC mode address 512-byte
/// blocks; SDSC cards are driven with a 512-byte block length).
pub const BLOCK_SIZE: usize = 512;

/// Why a block operation did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// No card in the slot, or it did not answer its identification.
    NoCard,
    /// The card or controller did not finish within its deadline.
    Timeout,
    /// A CRC error on the command or data lines.
    Crc,
    /// The card or controller reported another error.
    Device,
    /// The access reaches past the end of the device, or the buffer is not
    /// a whole number of blocks.
    OutOfRange,
    /// The card is write-protected.
    WriteProtected,
    /// (Tests) the simulated power was cut: nothing more reaches the card.
    PowerCut,
}

/// A device of [`BLOCK_SIZE`]-byte blocks.
///
/// `buf.len()` must be a non-zero multiple of [`BLOCK_SIZE`]; a write has
/// reached the medium when it returns `Ok` (no write-back cache above this
/// trait), which the crash-consistency arguments rely on.
pub trait BlockDevice {
    /// Number of blocks on the device.
    fn block_count(&mut self) -> Result<u32, BlockError>;
    /// Reads `buf.len() / BLOCK_SIZE` blocks starting at `lba`.
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Writes `buf.len() / BLOCK_SIZE` blocks starting at `lba`.
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), BlockError>;
}

impl<T: BlockDevice + ?Sized> BlockDevice for &mut T {
    fn block_count(&mut self) -> Result<u32, BlockError> {
        (**self).block_count()
    }
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), BlockError> {
        (**self).read(lba, buf)
    }
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), BlockError> {
        (**self).write(lba, buf)
    }
}
