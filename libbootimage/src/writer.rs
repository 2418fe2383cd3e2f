//! Building a boot image: boot loader, optional bitstream, firmware.
//!
//! The layout is `bootgen`'s (2022.2, `-arch zynq`) so the two tools' images
//! can be compared field by field: vector words and boot header, 256 empty
//! register-init pairs, the image header table at 0x8C0, image headers from
//! 0x900 (64-byte aligned, 0xFF-padded), the partition header table at 0xC80
//! ending with a null header, partition data from 0x1700, each partition
//! 64-byte aligned with 0xFF between them, and the file ending with the last
//! partition. Tables that outgrow a slot move up, 64-byte aligned.
//!
//! ```
//! # use libbootimage::{testgen, writer::{build, Input}, BootImage};
//! let loader = testgen::loader_elf();
//! let bit = testgen::dummy_bitstream(64);
//! let fw = testgen::firmware_elf(1);
//! let image = build(
//!     Input::new("szl.elf", &loader),
//!     Some(Input::new("top.bit", &bit)),
//!     Input::new("satman.elf", &fw),
//! )
//! .unwrap();
//! let parsed = BootImage::parse_slice(&image).unwrap();
//! assert_eq!(parsed.first_ps_after_bootloader().unwrap().load, 0x0010_0000);
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::bitfile::{self, BitError, BitFile};
use crate::elf::{self, ElfError};
use crate::layout::{self, off, Destination};
use crate::{MAX_IMAGES, MAX_PARTITIONS};

/// Longest image name written (the parser wants its NUL within 256 bytes).
pub const MAX_NAME: usize = 240;
/// The boot loader must fit in the first 192 KiB of OCM.
pub const OCM_LOADER_END: u32 = 0x3_0000;

/// Why an image could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// An ELF input was refused.
    Elf(ElfError),
    /// A `.bit` input was refused.
    Bit(BitError),
    /// No boot loader was given.
    NoBootloader,
    /// The boot loader was given after another image, or twice.
    BootloaderPosition,
    /// The boot loader does not fit OCM's first 192 KiB (`load`, `len` in bytes).
    LoaderNotInOcm { load: u32, len: u32 },
    /// An image name is empty, holds a NUL, or is over [`MAX_NAME`] bytes.
    BadName,
    /// More images or partitions than the parser takes.
    TooMany,
    /// A partition holds no data.
    EmptyPartition,
    /// The image would reach 4 GiB.
    TooLarge,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Elf(e) => write!(f, "{e}"),
            WriteError::Bit(e) => write!(f, "{e}"),
            WriteError::NoBootloader => write!(f, "no boot loader"),
            WriteError::BootloaderPosition => write!(f, "the boot loader must be the first image, and only one"),
            WriteError::LoaderNotInOcm { load, len } => {
                write!(f, "boot loader of {len} bytes at {load:#x} does not fit OCM 0..{OCM_LOADER_END:#x} (192 KiB)")
            }
            WriteError::BadName => write!(f, "image name empty, with a NUL, or over {MAX_NAME} bytes"),
            WriteError::TooMany => {
                write!(f, "more than {MAX_IMAGES} images or {MAX_PARTITIONS} partitions")
            }
            WriteError::EmptyPartition => write!(f, "empty partition"),
            WriteError::TooLarge => write!(f, "image of 4 GiB or more"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WriteError {}

impl From<ElfError> for WriteError {
    fn from(e: ElfError) -> Self {
        WriteError::Elf(e)
    }
}

impl From<BitError> for WriteError {
    fn from(e: BitError) -> Self {
        WriteError::Bit(e)
    }
}

/// A named input file.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The image name stored in the image header (bootgen: the file name).
    pub name: &'a str,
    pub data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(name: &'a str, data: &'a [u8]) -> Input<'a> {
        Input { name, data }
    }
}

/// One partition to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    pub destination: Destination,
    pub load: u32,
    pub exec: u32,
    /// The bytes; padded with zeros to a word when written.
    pub data: Vec<u8>,
}

/// One image (name and its partitions) to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: String,
    pub partitions: Vec<PartitionSpec>,
}

/// Builds a boot image from images added in order, the boot loader first.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    images: Vec<ImageSpec>,
    has_bootloader: bool,
}

/// A boot loader, an optional bitstream and a firmware ELF, as
/// `the_ROM_image: { [bootloader]L.elf  top.bit  fw.elf }` would.
pub fn build(loader: Input, bitstream: Option<Input>, firmware: Input) -> Result<Vec<u8>, WriteError> {
    let mut w = Writer::new();
    w.bootloader_elf(loader)?;
    if let Some(b) = bitstream {
        w.bitstream(b)?;
    }
    w.elf(firmware)?;
    w.finish()
}

fn elf_image(input: Input) -> Result<ImageSpec, WriteError> {
    let f = elf::flatten(input.data)?;
    Ok(ImageSpec {
        name: input.name.into(),
        partitions: alloc::vec![PartitionSpec {
            destination: Destination::Ps,
            load: f.load,
            exec: f.entry,
            data: f.data
        }],
    })
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// The boot loader: an ARM ELF linked in OCM (e.g. szl or an FSBL).
    pub fn bootloader_elf(&mut self, input: Input) -> Result<&mut Writer, WriteError> {
        if !self.images.is_empty() {
            return Err(WriteError::BootloaderPosition);
        }
        let image = elf_image(input)?;
        let p = &image.partitions[0];
        let len = u32::try_from(p.data.len()).map_err(|_| WriteError::TooLarge)?;
        if p.load.checked_add(len).is_none_or(|end| end > OCM_LOADER_END) {
            return Err(WriteError::LoaderNotInOcm { load: p.load, len });
        }
        self.has_bootloader = true;
        self.push(image)
    }

    /// A `.bit` file, as a PL partition (words byte-swapped, NOOP-padded).
    pub fn bitstream(&mut self, input: Input) -> Result<&mut Writer, WriteError> {
        let bit = BitFile::parse(input.data)?;
        self.push(ImageSpec {
            name: input.name.into(),
            partitions: alloc::vec![PartitionSpec {
                destination: Destination::Pl,
                load: 0,
                exec: 0,
                data: bitfile::pl_partition_data(bit.data),
            }],
        })
    }

    /// An ARM ELF executable, flattened into one PS partition.
    pub fn elf(&mut self, input: Input) -> Result<&mut Writer, WriteError> {
        let image = elf_image(input)?;
        self.push(image)
    }

    /// Any image, as given.
    pub fn image(&mut self, spec: ImageSpec) -> Result<&mut Writer, WriteError> {
        if self.images.is_empty() {
            // The first image is what the BootROM runs: only bootloader_elf checks it.
            return Err(WriteError::BootloaderPosition);
        }
        self.push(spec)
    }

    fn push(&mut self, spec: ImageSpec) -> Result<&mut Writer, WriteError> {
        let name = spec.name.as_bytes();
        if name.is_empty() || name.len() > MAX_NAME || name.contains(&0) {
            return Err(WriteError::BadName);
        }
        if spec.partitions.is_empty() || spec.partitions.iter().any(|p| p.data.is_empty()) {
            return Err(WriteError::EmptyPartition);
        }
        let parts: usize = self.images.iter().map(|i| i.partitions.len()).sum::<usize>() + spec.partitions.len();
        if self.images.len() + 1 > MAX_IMAGES || parts > MAX_PARTITIONS {
            return Err(WriteError::TooMany);
        }
        self.images.push(spec);
        Ok(self)
    }

    /// The image.
    pub fn finish(&self) -> Result<Vec<u8>, WriteError> {
        if !self.has_bootloader {
            return Err(WriteError::NoBootloader);
        }
        let too_large = |_| WriteError::TooLarge;
        let align = |x: u64| (x + layout::ALIGN as u64 - 1) & !(layout::ALIGN as u64 - 1);

        // Image headers: 4 words, the name (4 characters a word), zero words.
        let mut ih_at = Vec::new();
        let mut at = layout::BOOTGEN_IH_OFFSET as u64;
        for im in &self.images {
            ih_at.push(at);
            at = align(at + ih_len(&im.name) as u64);
        }
        let pht = at.max(layout::BOOTGEN_PHT_OFFSET as u64);
        let n_parts: usize = self.images.iter().map(|i| i.partitions.len()).sum();
        let pht_end = pht + layout::PARTITION_HEADER_LEN as u64 * (n_parts as u64 + 1);
        let mut data_at = Vec::new();
        let mut at = align(pht_end).max(layout::BOOTGEN_DATA_OFFSET as u64);
        for p in self.images.iter().flat_map(|i| &i.partitions) {
            at = align(at);
            data_at.push(at);
            at += p.data.len().div_ceil(4) as u64 * 4;
        }
        let total = u32::try_from(at).map_err(too_large)?;

        let mut out = alloc::vec![0xFFu8; total as usize];
        let put =
            |out: &mut Vec<u8>, at: u64, v: u32| out[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());

        // Image header table (bootgen counts partitions, not images, there).
        let iht = layout::BOOTGEN_IHT_OFFSET as u64;
        for (k, v) in
            [layout::IHT_VERSION, n_parts as u32, (pht / 4) as u32, (ih_at[0] / 4) as u32, 0].into_iter().enumerate()
        {
            put(&mut out, iht + 4 * k as u64, v);
        }

        // Image headers and partition headers.
        let mut part = 0usize;
        for (i, im) in self.images.iter().enumerate() {
            let at = ih_at[i];
            let next = ih_at.get(i + 1).map_or(0, |&n| (n / 4) as u32);
            let first_ph = pht + layout::PARTITION_HEADER_LEN as u64 * part as u64;
            for (k, v) in [next, (first_ph / 4) as u32, 0, im.partitions.len() as u32].into_iter().enumerate() {
                put(&mut out, at + 4 * k as u64, v);
            }
            let name = im.name.as_bytes();
            let name_words = ih_name_words(name.len());
            for k in 0..name_words {
                let mut w = [0u8; 4];
                for (j, b) in w.iter_mut().enumerate() {
                    *b = name.get(4 * k + j).copied().unwrap_or(0);
                }
                put(&mut out, at + 16 + 4 * k as u64, u32::from_be_bytes(w));
            }
            for p in &im.partitions {
                let words = p.data.len().div_ceil(4) as u32;
                let tail_pad = words * 4 - p.data.len() as u32;
                let attributes = (p.destination.code() << layout::attr::DEST_SHIFT) | tail_pad;
                let mut h = [
                    words,
                    words,
                    words,
                    p.load,
                    p.exec,
                    (data_at[part] / 4) as u32,
                    attributes,
                    1,
                    0,
                    (at / 4) as u32,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ];
                h[15] = layout::checksum(h[..15].iter().copied());
                let ph = pht + layout::PARTITION_HEADER_LEN as u64 * part as u64;
                for (k, v) in h.into_iter().enumerate() {
                    put(&mut out, ph + 4 * k as u64, v);
                }
                let d = data_at[part] as usize;
                out[d..d + p.data.len()].copy_from_slice(&p.data);
                out[d + p.data.len()..d + words as usize * 4].fill(0);
                part += 1;
            }
        }
        // The null partition header that ends bootgen's table.
        let null = pht + layout::PARTITION_HEADER_LEN as u64 * part as u64;
        out[null as usize..null as usize + 60].fill(0);
        put(&mut out, null + 60, layout::checksum([0u32; 15]));

        // Vector words, boot header, register-init table.
        for k in 0..8 {
            put(&mut out, 4 * k, layout::VECTOR_WORD);
        }
        let loader = &self.images[0].partitions[0];
        let loader_len = loader.data.len() as u32;
        let header = [
            layout::WIDTH_DETECTION,
            layout::IMAGE_ID,
            0,
            layout::HEADER_VERSION,
            data_at[0] as u32,
            loader_len,
            loader.load,
            loader.exec,
            loader_len,
            layout::QSPI_CONFIG,
        ];
        for (k, v) in header.into_iter().enumerate() {
            put(&mut out, off::WIDTH_DETECTION as u64 + 4 * k as u64, v);
        }
        put(&mut out, off::HEADER_CHECKSUM as u64, layout::checksum(header));
        out[off::HEADER_CHECKSUM as usize + 4..off::IHT_POINTER as usize].fill(0);
        put(&mut out, off::IHT_POINTER as u64, iht as u32);
        put(&mut out, off::PHT_POINTER as u64, pht as u32);
        for k in 0..layout::REGISTER_INIT_ENTRIES as u64 {
            put(&mut out, off::REGISTER_INIT as u64 + 8 * k, layout::REGISTER_INIT_END_MARK);
            put(&mut out, off::REGISTER_INIT as u64 + 8 * k + 4, 0);
        }
        Ok(out)
    }
}

/// Words bootgen writes for a name of `len` bytes: the name and its NUL,
/// zero-padded to a word, then one more zero word.
fn ih_name_words(len: usize) -> usize {
    len / 4 + 2
}

/// Bytes of an image header with `name` (before 64-byte padding).
fn ih_len(name: &str) -> u32 {
    layout::IMAGE_HEADER_FIXED_LEN + 4 * ih_name_words(name.len()) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testgen::{dummy_bitstream, firmware_elf, loader_elf};
    use crate::BootImage;

    #[test]
    fn bootgen_layout_and_round_trip() {
        let (l, b, f) = (loader_elf(), dummy_bitstream(16), firmware_elf(7));
        let img =
            build(Input::new("loader.elf", &l), Some(Input::new("top.bit", &b)), Input::new("fw.elf", &f)).unwrap();
        let p = BootImage::parse_slice(&img).unwrap();
        assert_eq!(p.header.iht_offset, 0x8C0);
        assert_eq!(p.header.pht_offset, 0xC80);
        assert_eq!(p.header.source_offset, 0x1700);
        assert_eq!(p.header.register_init_count, 0);
        let names: Vec<&str> = p.images().iter().map(|i| i.name()).collect();
        assert_eq!(names, ["loader.elf", "top.bit", "fw.elf"]);
        let loader = p.bootloader();
        assert_eq!((loader.load, loader.exec, loader.destination), (0, 0, Destination::Ps));
        let bit = p.bitstream().unwrap();
        assert_eq!((bit.destination, bit.len % 32), (Destination::Pl, 0));
        // The sync word reads little-endian in the image.
        assert_eq!(&img[bit.offset as usize + 48..bit.offset as usize + 52], &[0x66, 0x55, 0x99, 0xAA]);
        let fw = p.first_ps_after_bootloader().unwrap();
        assert_eq!((fw.load, fw.exec, fw.offset % 64), (0x0010_0000, 0x0010_0020, 0));
        let flat = elf::flatten(&f).unwrap();
        assert_eq!(&img[fw.offset as usize..fw.offset as usize + flat.data.len()], &flat.data[..]);
        assert_eq!(fw.tail_pad(), fw.len - flat.data.len() as u32);
        assert_eq!(img.len() as u32, fw.end());
    }

    #[test]
    fn without_bitstream() {
        let (l, f) = (loader_elf(), firmware_elf(1));
        let img = build(Input::new("l", &l), None, Input::new("f", &f)).unwrap();
        let p = BootImage::parse_slice(&img).unwrap();
        assert_eq!(p.partitions().len(), 2);
        assert!(p.bitstream().is_none());
        assert_eq!(p.first_ps_after_bootloader().unwrap().index, 1);
    }

    #[test]
    fn refusals() {
        let (l, f) = (loader_elf(), firmware_elf(1));
        // The firmware in the boot loader slot: not in OCM.
        assert!(matches!(
            build(Input::new("f", &f), None, Input::new("f", &f)),
            Err(WriteError::LoaderNotInOcm { load: 0x0010_0000, .. })
        ));
        assert_eq!(build(Input::new("", &l), None, Input::new("f", &f)), Err(WriteError::BadName));
        assert_eq!(
            build(Input::new("l", &l), Some(Input::new("b", b"junk")), Input::new("f", &f)),
            Err(WriteError::Bit(BitError::NotBitFile))
        );
        assert_eq!(Writer::new().finish(), Err(WriteError::NoBootloader));
        let mut w = Writer::new();
        w.bootloader_elf(Input::new("l", &l)).unwrap();
        assert_eq!(w.bootloader_elf(Input::new("l", &l)).err(), Some(WriteError::BootloaderPosition));
        for _ in 1..MAX_PARTITIONS {
            w.elf(Input::new("f", &f)).unwrap();
        }
        assert_eq!(w.elf(Input::new("f", &f)).err(), Some(WriteError::TooMany));
        assert!(BootImage::parse_slice(&w.finish().unwrap()).is_ok());
    }

    #[test]
    fn long_names_move_the_tables() {
        let (l, f) = (loader_elf(), firmware_elf(1));
        let long = "n".repeat(MAX_NAME);
        let mut w = Writer::new();
        w.bootloader_elf(Input::new(&long, &l)).unwrap();
        for _ in 0..5 {
            w.elf(Input::new(&long, &f)).unwrap();
        }
        let img = w.finish().unwrap();
        let p = BootImage::parse_slice(&img).unwrap();
        assert!(p.header.pht_offset > 0xC80);
        assert_eq!(p.images()[5].name_bytes(), &long.as_bytes()[..crate::MAX_NAME_LEN]);
    }
}
