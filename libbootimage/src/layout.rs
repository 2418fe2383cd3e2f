//! Byte offsets, magic words and field encodings of the Zynq-7000 boot image
//! (UG585 ch. 6.3 for the boot header; UG821 for the image header table and
//! partition headers), checked against what Xilinx `bootgen -arch zynq`
//! writes and reads back.
//!
//! Every multi-byte field is a little-endian 32-bit word. Offsets and lengths
//! in the image header table, image headers and partition headers count
//! 32-bit words; those in the boot header count bytes.

/// Word at 0x20: lets the BootROM detect the flash width.
pub const WIDTH_DETECTION: u32 = 0xAA99_5566;
/// Word at 0x24: the ASCII bytes `XNLX`.
pub const IMAGE_ID: u32 = 0x584C_4E58;
/// What bootgen writes in the eight vector words at 0x00: `b .` (ARM).
pub const VECTOR_WORD: u32 = 0xEAFF_FFFE;
/// bootgen's header version word at 0x2C.
pub const HEADER_VERSION: u32 = 0x0101_0000;
/// bootgen's "QSPI configuration" word at 0x44.
pub const QSPI_CONFIG: u32 = 0x0000_0001;
/// Image header table version bootgen writes.
pub const IHT_VERSION: u32 = 0x0102_0000;
/// Older tools wrote this image header table version.
pub const IHT_VERSION_OLD: u32 = 0x0101_0000;

/// Boot header field offsets (bytes from the start of the image).
pub mod off {
    pub const WIDTH_DETECTION: u32 = 0x20;
    pub const IMAGE_ID: u32 = 0x24;
    pub const ENCRYPTION: u32 = 0x28;
    pub const HEADER_VERSION: u32 = 0x2C;
    /// Byte offset of the boot loader's data.
    pub const SOURCE_OFFSET: u32 = 0x30;
    /// Boot loader length in bytes (not padded to a word).
    pub const LOADER_LENGTH: u32 = 0x34;
    pub const LOADER_LOAD: u32 = 0x38;
    pub const LOADER_EXEC: u32 = 0x3C;
    /// Total boot loader length in bytes (= length when not encrypted).
    pub const LOADER_TOTAL_LENGTH: u32 = 0x40;
    pub const QSPI_CONFIG: u32 = 0x44;
    /// NOT of the sum of the words 0x20..=0x44.
    pub const HEADER_CHECKSUM: u32 = 0x48;
    /// Byte offset of the image header table.
    pub const IHT_POINTER: u32 = 0x98;
    /// Byte offset of the partition header table.
    pub const PHT_POINTER: u32 = 0x9C;
    /// 256 (address, value) pairs; address 0xFFFF_FFFF ends the list.
    pub const REGISTER_INIT: u32 = 0xA0;
    /// End of the register init table (exclusive).
    pub const REGISTER_INIT_END: u32 = 0x8A0;
    /// End of the boot header (bytes 0x8A0..0x8C0 are user words, 0xFF).
    pub const HEADER_END: u32 = 0x8C0;
}

/// Register-init table entries.
pub const REGISTER_INIT_ENTRIES: u32 = 256;
/// Address that ends the register-init list.
pub const REGISTER_INIT_END_MARK: u32 = 0xFFFF_FFFF;

/// A partition header: 16 words.
pub const PARTITION_HEADER_LEN: u32 = 64;
/// Image header table: version, image count, first partition header
/// (words), first image header (words), header authentication (words).
pub const IHT_LEN: u32 = 20;
/// Fixed words of an image header before its name: next image header
/// (words, 0 = last), first partition header (words), reserved,
/// partition count.
pub const IMAGE_HEADER_FIXED_LEN: u32 = 16;

/// Where bootgen puts the tables and the first partition (and so do we).
pub const BOOTGEN_IHT_OFFSET: u32 = 0x8C0;
pub const BOOTGEN_IH_OFFSET: u32 = 0x900;
pub const BOOTGEN_PHT_OFFSET: u32 = 0xC80;
pub const BOOTGEN_DATA_OFFSET: u32 = 0x1700;
/// Partitions and image headers start on 64-byte boundaries.
pub const ALIGN: u32 = 64;

/// The BootROM copies at most 192 KiB of boot loader into OCM.
pub const MAX_LOADER_LEN: u32 = 192 * 1024;

/// Partition header attribute fields.
pub mod attr {
    /// Bits 1:0: bytes of zero padding after the data to the next word
    /// (bootgen; mkbootimage leaves 0 or 1 there).
    pub const TAIL_PAD_MASK: u32 = 0x3;
    /// Bits 7:4: destination device.
    pub const DEST_SHIFT: u32 = 4;
    pub const DEST_MASK: u32 = 0xF << DEST_SHIFT;
    /// Bits 14:12: checksum type (0 none, 1 MD5).
    pub const CHECKSUM_SHIFT: u32 = 12;
    pub const CHECKSUM_MASK: u32 = 0x7 << CHECKSUM_SHIFT;
    /// Bit 15: RSA authentication certificate present.
    pub const RSA: u32 = 1 << 15;
    /// Bits 17:16: owner (0 FSBL, 1 U-Boot).
    pub const OWNER_SHIFT: u32 = 16;
    pub const OWNER_MASK: u32 = 0x3 << OWNER_SHIFT;
}

/// Where a partition goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    /// No destination (data for software to pick up).
    None,
    /// The processing system: copied to its load address.
    Ps,
    /// The programmable logic: a bitstream for PCAP.
    Pl,
    /// Internal (not used on Zynq-7000 images).
    Int,
}

impl Destination {
    /// From the attribute bits 7:4; `None` for a code Zynq does not define.
    pub fn from_code(code: u32) -> Option<Destination> {
        Some(match code {
            0 => Destination::None,
            1 => Destination::Ps,
            2 => Destination::Pl,
            3 => Destination::Int,
            _ => return None,
        })
    }

    pub fn code(self) -> u32 {
        match self {
            Destination::None => 0,
            Destination::Ps => 1,
            Destination::Pl => 2,
            Destination::Int => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Destination::None => "none",
            Destination::Ps => "PS",
            Destination::Pl => "PL",
            Destination::Int => "int",
        }
    }
}

/// The Zynq header checksum: bitwise NOT of the wrapping sum of the words.
pub fn checksum(words: impl IntoIterator<Item = u32>) -> u32 {
    !words.into_iter().fold(0u32, |a, w| a.wrapping_add(w))
}

/// Rounds `x` up to a multiple of `align` (a power of two); `None` on overflow.
pub fn align_up(x: u32, align: u32) -> Option<u32> {
    Some(x.checked_add(align - 1)? & !(align - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_bootgen_partition_header() {
        // The boot loader's partition header of a bootgen image (16 words,
        // the last one the checksum).
        let w = [0x14, 0x14, 0x14, 0, 0, 0x5c0, 0x10, 1, 0, 0x240, 0, 0, 0, 0, 0];
        assert_eq!(checksum(w), 0xFFFF_F7B2);
        // The null header that ends bootgen's table.
        assert_eq!(checksum([0u32; 15]), 0xFFFF_FFFF);
    }

    #[test]
    fn destinations_round_trip() {
        for c in 0..16 {
            match Destination::from_code(c) {
                Some(d) => assert_eq!(d.code(), c),
                None => assert!(c > 3),
            }
        }
    }

    #[test]
    fn align() {
        assert_eq!(align_up(0x1750, ALIGN), Some(0x1780));
        assert_eq!(align_up(0x1780, ALIGN), Some(0x1780));
        assert_eq!(align_up(u32::MAX, ALIGN), None);
    }
}
