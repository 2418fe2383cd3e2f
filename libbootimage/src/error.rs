//! Why an image was refused.

use core::fmt;

/// A region of the image, named in overlap errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Vector words, boot header and register-init table (0..0x8A0).
    BootHeader,
    /// The image header table.
    ImageHeaderTable,
    /// Image header `n`.
    ImageHeader(u8),
    /// The partition header table.
    PartitionHeaderTable,
    /// Partition `n`'s data.
    Partition(u8),
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Region::BootHeader => write!(f, "the boot header"),
            Region::ImageHeaderTable => write!(f, "the image header table"),
            Region::ImageHeader(i) => write!(f, "image header {i}"),
            Region::PartitionHeaderTable => write!(f, "the partition header table"),
            Region::Partition(i) => write!(f, "partition {i}"),
        }
    }
}

/// A parse or validation failure; `E` is the medium's read error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error<E> {
    /// The medium failed to read `len` bytes at `offset`.
    Read { offset: u32, len: u32, error: E },
    /// Shorter than a boot header and its tables.
    TooShort { len: u32 },
    /// Word 0x20 is not 0xAA995566: not a Zynq boot image.
    WidthDetection(u32),
    /// Word 0x24 is not "XNLX".
    ImageId(u32),
    /// The boot header says the image is encrypted (key source word).
    Encrypted(u32),
    /// The boot header checksum (0x48) does not match words 0x20..=0x44.
    HeaderChecksum { stored: u32, computed: u32 },
    /// The boot loader's source offset (0x30) is unaligned or inside the header.
    LoaderOffset(u32),
    /// The boot loader's length (0x34) is 0 or over the BootROM's 192 KiB.
    LoaderLength(u32),
    /// The total length (0x40) is shorter than the length (0x34).
    LoaderTotalLength { length: u32, total: u32 },
    /// The image header table pointer (0x98) is unaligned or out of the image.
    IhtPointer(u32),
    /// The partition header table pointer (0x9C) is unaligned or out of the image.
    PhtPointer(u32),
    /// The image header table has a version this parser does not know.
    IhtVersion(u32),
    /// The image header table's count (bootgen: partitions; mkbootimage:
    /// images) matches neither the image headers nor their partitions.
    ImageCount(u32),
    /// The image header table's partition header pointer (words) differs from 0x9C's.
    PhtMismatch { boot_header: u32, image_header_table: u32 },
    /// Image header `index` is at an unaligned or out-of-image offset (bytes).
    ImageHeaderPointer { index: u8, offset: u32 },
    /// The chain of image headers links backwards or goes on past
    /// [`MAX_IMAGES`](crate::MAX_IMAGES).
    ImageChain { index: u8 },
    /// Image header `index`'s name has no NUL within its bound.
    ImageName { index: u8 },
    /// Image header `index` holds no partition.
    ImagePartitionCount { index: u8, count: u32 },
    /// The images hold more than [`MAX_PARTITIONS`](crate::MAX_PARTITIONS) partitions.
    PartitionCount(u32),
    /// Image header `index` points (words) elsewhere than its first partition header.
    ImagePartitions { index: u8, pointer: u32, expected: u32 },
    /// Partition header `index` lies past the end of the image.
    PartitionHeaderOutOfImage { index: u8 },
    /// Partition header `index`'s checksum (word 15) is wrong.
    PartitionChecksum { index: u8, stored: u32, computed: u32 },
    /// Partition `index` points (words) elsewhere than its image's header.
    PartitionImageHeader { index: u8, pointer: u32, expected: u32 },
    /// Partition `index` is encrypted or its lengths (words) disagree.
    PartitionLengths { index: u8, encrypted: u32, unencrypted: u32, total: u32 },
    /// Partition `index` holds no data.
    PartitionEmpty { index: u8 },
    /// Partition `index` has an unknown destination, an RSA certificate or an unknown owner.
    PartitionAttributes { index: u8, attributes: u32 },
    /// Partition `index`'s data ([offset, offset + len) in bytes) is not inside the image.
    PartitionOutOfImage { index: u8, offset: u32, len: u32, image_len: u32 },
    /// Two regions of the image overlap.
    Overlap { a: Region, b: Region },
    /// The first partition is not the boot loader the boot header points to.
    BootloaderMismatch { source_offset: u32, partition_offset: u32 },
    /// The boot loader partition is shorter than the boot header's length.
    BootloaderLength { length: u32, partition_len: u32 },
    /// The boot loader partition is not for the PS.
    BootloaderDestination,
}

impl<E> Error<E> {
    /// The same error with the read error mapped.
    pub fn map_read<F>(self, f: impl FnOnce(E) -> F) -> Error<F> {
        use Error::*;
        match self {
            Read { offset, len, error } => Read { offset, len, error: f(error) },
            TooShort { len } => TooShort { len },
            WidthDetection(w) => WidthDetection(w),
            ImageId(w) => ImageId(w),
            Encrypted(w) => Encrypted(w),
            HeaderChecksum { stored, computed } => HeaderChecksum { stored, computed },
            LoaderOffset(w) => LoaderOffset(w),
            LoaderLength(w) => LoaderLength(w),
            LoaderTotalLength { length, total } => LoaderTotalLength { length, total },
            IhtPointer(w) => IhtPointer(w),
            PhtPointer(w) => PhtPointer(w),
            IhtVersion(w) => IhtVersion(w),
            ImageCount(w) => ImageCount(w),
            PhtMismatch { boot_header, image_header_table } => PhtMismatch { boot_header, image_header_table },
            ImageHeaderPointer { index, offset } => ImageHeaderPointer { index, offset },
            ImageChain { index } => ImageChain { index },
            ImageName { index } => ImageName { index },
            ImagePartitionCount { index, count } => ImagePartitionCount { index, count },
            PartitionCount(n) => PartitionCount(n),
            ImagePartitions { index, pointer, expected } => ImagePartitions { index, pointer, expected },
            PartitionHeaderOutOfImage { index } => PartitionHeaderOutOfImage { index },
            PartitionChecksum { index, stored, computed } => PartitionChecksum { index, stored, computed },
            PartitionImageHeader { index, pointer, expected } => PartitionImageHeader { index, pointer, expected },
            PartitionLengths { index, encrypted, unencrypted, total } => {
                PartitionLengths { index, encrypted, unencrypted, total }
            }
            PartitionEmpty { index } => PartitionEmpty { index },
            PartitionAttributes { index, attributes } => PartitionAttributes { index, attributes },
            PartitionOutOfImage { index, offset, len, image_len } => {
                PartitionOutOfImage { index, offset, len, image_len }
            }
            Overlap { a, b } => Overlap { a, b },
            BootloaderMismatch { source_offset, partition_offset } => {
                BootloaderMismatch { source_offset, partition_offset }
            }
            BootloaderLength { length, partition_len } => BootloaderLength { length, partition_len },
            BootloaderDestination => BootloaderDestination,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            Read { offset, len, error } => write!(f, "reading {len} bytes at {offset:#x}: {error}"),
            TooShort { len } => write!(f, "{len} bytes: too short for a boot image"),
            WidthDetection(w) => write!(f, "width detection word {w:#010x} (not 0xaa995566): not a Zynq boot image"),
            ImageId(w) => write!(f, "image identification {w:#010x} is not \"XNLX\""),
            Encrypted(w) => write!(f, "encrypted image (key source {w:#010x}): not supported"),
            HeaderChecksum { stored, computed } => {
                write!(f, "boot header checksum {stored:#010x}, computed {computed:#010x}")
            }
            LoaderOffset(o) => write!(f, "boot loader source offset {o:#x} is unaligned or inside the header"),
            LoaderLength(n) => write!(f, "boot loader length {n} is 0 or over 192 KiB"),
            LoaderTotalLength { length, total } => write!(f, "boot loader total length {total} < length {length}"),
            IhtPointer(o) => write!(f, "image header table pointer {o:#x} is unaligned or out of the image"),
            PhtPointer(o) => write!(f, "partition header table pointer {o:#x} is unaligned or out of the image"),
            IhtVersion(v) => write!(f, "unknown image header table version {v:#010x}"),
            ImageCount(n) => write!(f, "image header table count {n} matches neither the images nor the partitions"),
            PhtMismatch { boot_header, image_header_table } => write!(
                f,
                "partition header table at {boot_header:#x} in the boot header, word {image_header_table:#x} in the image header table"
            ),
            ImageHeaderPointer { index, offset } => write!(f, "image header {index} at {offset:#x}: unaligned or out of the image"),
            ImageChain { index } => write!(f, "the chain of image headers links backwards or goes on at image {index}"),
            ImageName { index } => write!(f, "image header {index}: unterminated name"),
            ImagePartitionCount { index, count } => write!(f, "image {index} counts {count} partitions"),
            PartitionCount(n) => write!(f, "{n} partitions: more than this parser takes"),
            ImagePartitions { index, pointer, expected } => {
                write!(f, "image {index} points to partition header word {pointer:#x}, expected {expected:#x}")
            }
            PartitionHeaderOutOfImage { index } => write!(f, "partition header {index} is past the end of the image"),
            PartitionChecksum { index, stored, computed } => {
                write!(f, "partition header {index} checksum {stored:#010x}, computed {computed:#010x}")
            }
            PartitionImageHeader { index, pointer, expected } => {
                write!(f, "partition {index} points to image header word {pointer:#x}, expected {expected:#x}")
            }
            PartitionLengths { index, encrypted, unencrypted, total } => write!(
                f,
                "partition {index}: lengths (words) encrypted {encrypted}, unencrypted {unencrypted}, total {total}: encrypted or inconsistent"
            ),
            PartitionEmpty { index } => write!(f, "partition {index} is empty"),
            PartitionAttributes { index, attributes } => {
                write!(f, "partition {index}: unsupported attributes {attributes:#x}")
            }
            PartitionOutOfImage { index, offset, len, image_len } => write!(
                f,
                "partition {index}: {len} bytes at {offset:#x} do not fit in the {image_len}-byte image"
            ),
            Overlap { a, b } => write!(f, "{a} overlaps {b}"),
            BootloaderMismatch { source_offset, partition_offset } => write!(
                f,
                "the boot header's loader is at {source_offset:#x} but the first partition at {partition_offset:#x}"
            ),
            BootloaderLength { length, partition_len } => {
                write!(f, "boot loader length {length} exceeds its partition's {partition_len} bytes")
            }
            BootloaderDestination => write!(f, "the boot loader partition is not for the PS"),
        }
    }
}

#[cfg(feature = "std")]
impl<E: fmt::Debug + fmt::Display> std::error::Error for Error<E> {}
