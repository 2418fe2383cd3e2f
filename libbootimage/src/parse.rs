//! Parsing and validating a boot image through [`ReadAt`].
//!
//! The parser reads the boot header, the image header table, each image
//! header and each partition header (a few hundred bytes in all, through a
//! 64-byte buffer) and checks every checksum, pointer, length and bound, and
//! that no two regions overlap. It never reads partition data: a 20 MB image
//! on the SD card validates in a handful of small reads. What it returns is a
//! fixed-size value (no allocation) with the partitions the loader needs.

use crate::error::{Error, Region};
use crate::layout::{self, attr, off, Destination};
use crate::reader::{self, ReadAt};

/// Most images (image headers) an image may hold.
pub const MAX_IMAGES: usize = 16;
/// Most partitions an image may hold.
pub const MAX_PARTITIONS: usize = 16;
/// Bytes of an image name kept (longer names are cut, not refused).
pub const MAX_NAME_LEN: usize = 48;
/// An image name must end within this many bytes.
const NAME_BOUND: u32 = 256;

/// The boot header's fields (bytes, from UG585 table 6-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BootHeader {
    pub header_version: u32,
    /// Byte offset of the boot loader (0x30).
    pub source_offset: u32,
    /// Boot loader length in bytes (0x34).
    pub loader_len: u32,
    /// Boot loader load address (0x38).
    pub loader_load: u32,
    /// Boot loader start of execution (0x3C).
    pub loader_exec: u32,
    /// Boot loader total length in bytes (0x40).
    pub loader_total_len: u32,
    pub qspi_config: u32,
    pub checksum: u32,
    /// Byte offset of the image header table (0x98).
    pub iht_offset: u32,
    /// Byte offset of the partition header table (0x9C).
    pub pht_offset: u32,
    /// Register-init entries before the 0xFFFFFFFF end mark.
    pub register_init_count: u32,
}

/// One image (a file of the .bif) and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image {
    /// Byte offset of its image header.
    pub header_offset: u32,
    /// Index of its first partition.
    pub first_partition: u8,
    /// Partitions it holds.
    pub partition_count: u8,
    name: [u8; MAX_NAME_LEN],
    name_len: u8,
}

impl Image {
    const EMPTY: Image =
        Image { header_offset: 0, first_partition: 0, partition_count: 0, name: [0; MAX_NAME_LEN], name_len: 0 };

    /// Its name as stored (cut at [`MAX_NAME_LEN`] bytes).
    pub fn name_bytes(&self) -> &[u8] {
        &self.name[..self.name_len as usize]
    }

    /// Its name, or `"?"` if it is not UTF-8.
    pub fn name(&self) -> &str {
        core::str::from_utf8(self.name_bytes()).unwrap_or("?")
    }
}

/// One partition: where its data is in the image and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// Its index in the partition header table (0 = the boot loader).
    pub index: u8,
    /// Index of the image (name) it belongs to.
    pub image: u8,
    pub destination: Destination,
    /// Byte offset of its data in the image.
    pub offset: u32,
    /// Data length in bytes (the unencrypted length, a multiple of 4).
    pub len: u32,
    pub load: u32,
    pub exec: u32,
    /// The raw attribute word.
    pub attributes: u32,
    pub section_count: u32,
    /// Byte offset of its partition header.
    pub header_offset: u32,
}

impl Partition {
    const EMPTY: Partition = Partition {
        index: 0,
        image: 0,
        destination: Destination::None,
        offset: 0,
        len: 0,
        load: 0,
        exec: 0,
        attributes: 0,
        section_count: 0,
        header_offset: 0,
    };

    /// Bytes of zero padding at the end of the data (bootgen's attribute
    /// bits 1:0; only meaningful in images bootgen or this crate made).
    pub fn tail_pad(&self) -> u32 {
        self.attributes & attr::TAIL_PAD_MASK
    }

    /// The end of its data in the image (exclusive).
    pub fn end(&self) -> u32 {
        // Cannot overflow: checked against the image length when parsed.
        self.offset + self.len
    }
}

/// A validated boot image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootImage {
    pub header: BootHeader,
    /// Image length in bytes.
    pub len: u32,
    images: [Image; MAX_IMAGES],
    image_count: u8,
    partitions: [Partition; MAX_PARTITIONS],
    partition_count: u8,
}

/// A byte range of the image, for the overlap check.
#[derive(Clone, Copy)]
struct Span {
    region: Region,
    start: u32,
    end: u32,
}

/// Regions: boot header, IHT, PHT, the image headers and the partitions.
const MAX_SPANS: usize = 3 + MAX_IMAGES + MAX_PARTITIONS;

impl BootImage {
    /// Parses and validates the image `r` holds.
    pub fn parse<R: ReadAt + ?Sized>(r: &mut R) -> Result<BootImage, Error<R::Error>> {
        let len = r.len();
        Parser { r, len }.parse()
    }

    /// [`parse`](Self::parse) of an image in memory.
    pub fn parse_slice(data: &[u8]) -> Result<BootImage, Error<crate::reader::OutOfRange>> {
        let mut r = data;
        BootImage::parse(&mut r)
    }

    /// Every partition, in table order.
    pub fn partitions(&self) -> &[Partition] {
        &self.partitions[..self.partition_count as usize]
    }

    /// Every image (name), in table order.
    pub fn images(&self) -> &[Image] {
        &self.images[..self.image_count as usize]
    }

    /// The image `p` belongs to.
    pub fn image_of(&self, p: &Partition) -> &Image {
        &self.images[p.image as usize]
    }

    /// The partitions of image `i` (empty if there is no such image).
    pub fn image_partitions(&self, i: usize) -> &[Partition] {
        match self.images().get(i) {
            Some(im) => {
                let first = im.first_partition as usize;
                &self.partitions[first..first + im.partition_count as usize]
            }
            None => &[],
        }
    }

    /// The boot loader (partition 0, the one the BootROM runs).
    pub fn bootloader(&self) -> &Partition {
        &self.partitions[0]
    }

    /// The PL partitions (bitstreams), in table order.
    pub fn bitstreams(&self) -> impl Iterator<Item = &Partition> + '_ {
        self.partitions().iter().filter(|p| p.destination == Destination::Pl)
    }

    /// The first PL partition.
    pub fn bitstream(&self) -> Option<&Partition> {
        self.bitstreams().next()
    }

    /// The first PS partition after the boot loader: the application a
    /// second-stage loader copies to its load address and jumps to.
    pub fn first_ps_after_bootloader(&self) -> Option<&Partition> {
        self.partitions()[1..].iter().find(|p| p.destination == Destination::Ps)
    }

    /// Register-init entry `i` (address, value), if `i` is below
    /// [`BootHeader::register_init_count`].
    pub fn register_init<R: ReadAt + ?Sized>(&self, r: &mut R, i: u32) -> Result<Option<(u32, u32)>, Error<R::Error>> {
        if i >= self.header.register_init_count {
            return Ok(None);
        }
        let at = off::REGISTER_INIT + 8 * i;
        let [a, v] = read_words::<R, 2>(r, at)?;
        Ok(Some((a, v)))
    }
}

fn read_words<R: ReadAt + ?Sized, const N: usize>(r: &mut R, offset: u32) -> Result<[u32; N], Error<R::Error>> {
    reader::words::<R, N>(r, offset).map_err(|error| Error::Read { offset, len: 4 * N as u32, error })
}

struct Parser<'a, R: ReadAt + ?Sized> {
    r: &'a mut R,
    len: u32,
}

impl<R: ReadAt + ?Sized> Parser<'_, R> {
    /// Whether `[offset, offset + n)` is inside the image and `offset` word-aligned.
    fn fits(&self, offset: u32, n: u32) -> bool {
        offset.is_multiple_of(4) && offset.checked_add(n).is_some_and(|end| end <= self.len)
    }

    fn parse(mut self) -> Result<BootImage, Error<R::Error>> {
        if self.len < off::HEADER_END {
            return Err(Error::TooShort { len: self.len });
        }
        let header = self.boot_header()?;

        // Image header table.
        let iht = header.iht_offset;
        if iht < off::REGISTER_INIT_END || !self.fits(iht, layout::IHT_LEN) {
            return Err(Error::IhtPointer(iht));
        }
        let [version, iht_count, iht_pht, first_ih, _auth] = read_words::<R, 5>(self.r, iht)?;
        if version != layout::IHT_VERSION && version != layout::IHT_VERSION_OLD {
            return Err(Error::IhtVersion(version));
        }
        let pht = header.pht_offset;
        if pht < off::REGISTER_INIT_END || !self.fits(pht, layout::PARTITION_HEADER_LEN) {
            return Err(Error::PhtPointer(pht));
        }
        if iht_pht.checked_mul(4) != Some(pht) {
            return Err(Error::PhtMismatch { boot_header: pht, image_header_table: iht_pht });
        }

        let mut spans = [Span { region: Region::BootHeader, start: 0, end: 0 }; MAX_SPANS];
        let mut n_spans = 0;
        let mut push = |s: Span| {
            spans[n_spans] = s;
            n_spans += 1;
        };
        push(Span { region: Region::BootHeader, start: 0, end: off::REGISTER_INIT_END });
        push(Span { region: Region::ImageHeaderTable, start: iht, end: iht + layout::IHT_LEN });

        // Image headers: a chain ending with a zero link.
        let mut images = [Image::EMPTY; MAX_IMAGES];
        let mut partition_total: u32 = 0;
        let mut next = first_ih;
        let mut i = 0usize;
        while next != 0 {
            if i == MAX_IMAGES {
                return Err(Error::ImageChain { index: i as u8 });
            }
            let index = i as u8;
            let at = next
                .checked_mul(4)
                .filter(|&o| o >= off::REGISTER_INIT_END && self.fits(o, layout::IMAGE_HEADER_FIXED_LEN));
            let at = at.ok_or(Error::ImageHeaderPointer { index, offset: next.wrapping_mul(4) })?;
            let [next_ih, part_ptr, _reserved, count] = read_words::<R, 4>(self.r, at)?;
            let (name, name_len, name_bytes) = self.name(at + layout::IMAGE_HEADER_FIXED_LEN, index)?;
            if count == 0 {
                return Err(Error::ImagePartitionCount { index, count });
            }
            // The partition count is checked against MAX_PARTITIONS before
            // any of it is used as an index.
            partition_total = partition_total.saturating_add(count);
            if partition_total as usize > MAX_PARTITIONS {
                return Err(Error::PartitionCount(partition_total));
            }
            let first = partition_total - count;
            let expected = iht_pht + 16 * first;
            if part_ptr != expected {
                return Err(Error::ImagePartitions { index, pointer: part_ptr, expected });
            }
            images[i] =
                Image { header_offset: at, first_partition: first as u8, partition_count: count as u8, name, name_len };
            push(Span {
                region: Region::ImageHeader(index),
                start: at,
                end: at + layout::IMAGE_HEADER_FIXED_LEN + name_bytes,
            });
            // Links only go forward: no loops.
            if next_ih != 0 && next_ih <= next {
                return Err(Error::ImageChain { index });
            }
            next = next_ih;
            i += 1;
        }
        let image_count = i as u32;
        // bootgen counts partitions there, mkbootimage images (one partition each).
        if image_count == 0 || (iht_count != image_count && iht_count != partition_total) {
            return Err(Error::ImageCount(iht_count));
        }

        // Partition headers.
        let n = partition_total;
        let pht_len = n * layout::PARTITION_HEADER_LEN;
        push(Span { region: Region::PartitionHeaderTable, start: pht, end: pht.saturating_add(pht_len) });
        let mut partitions = [Partition::EMPTY; MAX_PARTITIONS];
        let mut image = 0usize;
        #[allow(clippy::needless_range_loop)] // `i` is also the partition's index and header slot
        for i in 0..n as usize {
            let index = i as u8;
            while i >= (images[image].first_partition + images[image].partition_count) as usize {
                image += 1;
            }
            let at = pht + i as u32 * layout::PARTITION_HEADER_LEN;
            if !self.fits(at, layout::PARTITION_HEADER_LEN) {
                return Err(Error::PartitionHeaderOutOfImage { index });
            }
            let w = read_words::<R, 16>(self.r, at)?;
            let computed = layout::checksum(w[..15].iter().copied());
            if w[15] != computed {
                return Err(Error::PartitionChecksum { index, stored: w[15], computed });
            }
            let p = self.partition(index, image as u8, at, &w, images[image].header_offset)?;
            push(Span { region: Region::Partition(index), start: p.offset, end: p.end() });
            partitions[i] = p;
        }

        check_overlaps(&spans[..n_spans])?;

        // The boot loader is the first partition, the one the header points to.
        let loader = &partitions[0];
        if loader.offset != header.source_offset {
            return Err(Error::BootloaderMismatch {
                source_offset: header.source_offset,
                partition_offset: loader.offset,
            });
        }
        if header.loader_len > loader.len {
            return Err(Error::BootloaderLength { length: header.loader_len, partition_len: loader.len });
        }
        if loader.destination != Destination::Ps {
            return Err(Error::BootloaderDestination);
        }

        Ok(BootImage {
            header,
            len: self.len,
            images,
            image_count: image_count as u8,
            partitions,
            partition_count: n as u8,
        })
    }

    fn boot_header(&mut self) -> Result<BootHeader, Error<R::Error>> {
        // Words 0x20..=0x48 (checksummed range plus the checksum).
        let w = read_words::<R, 11>(self.r, off::WIDTH_DETECTION)?;
        let field = |o: u32| w[((o - off::WIDTH_DETECTION) / 4) as usize];
        if field(off::WIDTH_DETECTION) != layout::WIDTH_DETECTION {
            return Err(Error::WidthDetection(field(off::WIDTH_DETECTION)));
        }
        if field(off::IMAGE_ID) != layout::IMAGE_ID {
            return Err(Error::ImageId(field(off::IMAGE_ID)));
        }
        let computed = layout::checksum(w[..10].iter().copied());
        let stored = field(off::HEADER_CHECKSUM);
        if stored != computed {
            return Err(Error::HeaderChecksum { stored, computed });
        }
        if field(off::ENCRYPTION) != 0 {
            return Err(Error::Encrypted(field(off::ENCRYPTION)));
        }
        let [iht_offset, pht_offset] = read_words::<R, 2>(self.r, off::IHT_POINTER)?;
        let header = BootHeader {
            header_version: field(off::HEADER_VERSION),
            source_offset: field(off::SOURCE_OFFSET),
            loader_len: field(off::LOADER_LENGTH),
            loader_load: field(off::LOADER_LOAD),
            loader_exec: field(off::LOADER_EXEC),
            loader_total_len: field(off::LOADER_TOTAL_LENGTH),
            qspi_config: field(off::QSPI_CONFIG),
            checksum: stored,
            iht_offset,
            pht_offset,
            register_init_count: self.register_init_count()?,
        };
        if header.source_offset < off::REGISTER_INIT_END || !header.source_offset.is_multiple_of(4) {
            return Err(Error::LoaderOffset(header.source_offset));
        }
        if header.loader_len == 0 || header.loader_len > layout::MAX_LOADER_LEN {
            return Err(Error::LoaderLength(header.loader_len));
        }
        if header.loader_total_len < header.loader_len {
            return Err(Error::LoaderTotalLength { length: header.loader_len, total: header.loader_total_len });
        }
        Ok(header)
    }

    fn register_init_count(&mut self) -> Result<u32, Error<R::Error>> {
        // Eight entries per read.
        for chunk in 0..layout::REGISTER_INIT_ENTRIES / 8 {
            let at = off::REGISTER_INIT + 64 * chunk;
            let w = read_words::<R, 16>(self.r, at)?;
            if let Some(k) = (0..8).find(|&k| w[2 * k] == layout::REGISTER_INIT_END_MARK) {
                return Ok(chunk * 8 + k as u32);
            }
        }
        Ok(layout::REGISTER_INIT_ENTRIES)
    }

    /// The NUL-terminated name at `at`: four characters a word, the first
    /// in the word's most significant byte. Returns the kept bytes, their
    /// count and the bytes the name occupies (terminator word included).
    fn name(&mut self, at: u32, index: u8) -> Result<([u8; MAX_NAME_LEN], u8, u32), Error<R::Error>> {
        let mut name = [0u8; MAX_NAME_LEN];
        let mut kept = 0usize;
        let mut used = 0u32;
        while used < NAME_BOUND {
            if !self.fits(at + used, 4) {
                return Err(Error::ImageName { index });
            }
            let w = read_words::<R, 1>(self.r, at + used)?[0];
            used += 4;
            for b in w.to_be_bytes() {
                if b == 0 {
                    return Ok((name, kept as u8, used));
                }
                if kept < MAX_NAME_LEN {
                    name[kept] = b;
                    kept += 1;
                }
            }
        }
        Err(Error::ImageName { index })
    }

    fn partition(
        &self,
        index: u8,
        image: u8,
        at: u32,
        w: &[u32; 16],
        ih_offset: u32,
    ) -> Result<Partition, Error<R::Error>> {
        let (encrypted, unencrypted, total) = (w[0], w[1], w[2]);
        if encrypted != unencrypted || total < unencrypted {
            return Err(Error::PartitionLengths { index, encrypted, unencrypted, total });
        }
        if unencrypted == 0 {
            return Err(Error::PartitionEmpty { index });
        }
        let attributes = w[6];
        let destination = Destination::from_code((attributes & attr::DEST_MASK) >> attr::DEST_SHIFT);
        let owner = (attributes & attr::OWNER_MASK) >> attr::OWNER_SHIFT;
        let destination = match destination {
            Some(d) if attributes & attr::RSA == 0 && owner <= 1 => d,
            _ => return Err(Error::PartitionAttributes { index, attributes }),
        };
        if w[9] != ih_offset / 4 {
            return Err(Error::PartitionImageHeader { index, pointer: w[9], expected: ih_offset / 4 });
        }
        let offset = w[5].wrapping_mul(4);
        let total_bytes = total.checked_mul(4);
        let fits = w[5] < (1 << 30) && total_bytes.is_some_and(|n| self.fits(offset, n));
        if !fits {
            return Err(Error::PartitionOutOfImage { index, offset, len: total.wrapping_mul(4), image_len: self.len });
        }
        Ok(Partition {
            index,
            image,
            destination,
            offset,
            len: unencrypted * 4,
            load: w[3],
            exec: w[4],
            attributes,
            section_count: w[7],
            header_offset: at,
        })
    }
}

fn check_overlaps<E>(spans: &[Span]) -> Result<(), Error<E>> {
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.start < b.end && b.start < a.end {
                return Err(Error::Overlap { a: a.region, b: b.region });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testgen::{dummy_bitstream, firmware_elf, loader_elf};
    use crate::writer::{build, Input};
    use alloc::vec::Vec;

    fn image() -> Vec<u8> {
        let (l, b, f) = (loader_elf(), dummy_bitstream(32), firmware_elf(9));
        build(Input::new("loader.elf", &l), Some(Input::new("top.bit", &b)), Input::new("fw.elf", &f)).unwrap()
    }

    fn get(img: &[u8], at: u32) -> u32 {
        u32::from_le_bytes(img[at as usize..at as usize + 4].try_into().unwrap())
    }

    fn set(img: &mut [u8], at: u32, v: u32) {
        img[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Recomputes the boot header checksum.
    fn fix_header(img: &mut [u8]) {
        let sum = layout::checksum((0..10).map(|k| get(img, 0x20 + 4 * k)));
        set(img, off::HEADER_CHECKSUM, sum);
    }

    /// Sets word `k` of partition header `i` and recomputes its checksum.
    fn set_ph(img: &mut [u8], i: u32, k: u32, v: u32) {
        let at = get(img, off::PHT_POINTER) + 64 * i;
        set(img, at + 4 * k, v);
        let sum = layout::checksum((0..15).map(|j| get(img, at + 4 * j)));
        set(img, at + 60, sum);
    }

    fn err(img: &[u8]) -> Error<crate::reader::OutOfRange> {
        BootImage::parse_slice(img).unwrap_err()
    }

    #[test]
    fn accepts_and_describes_a_good_image() {
        let img = image();
        let p = BootImage::parse_slice(&img).unwrap();
        assert_eq!(p.partitions().len(), 3);
        assert_eq!(p.images().len(), 3);
        assert_eq!(p.bitstreams().count(), 1);
        assert_eq!(p.image_partitions(2), &p.partitions()[2..3]);
        assert!(p.image_partitions(3).is_empty());
        assert_eq!(p.len as usize, img.len());
        let mut r = &img[..];
        assert_eq!(p.register_init(&mut r, 0).unwrap(), None);
    }

    #[test]
    fn boot_header_errors() {
        let good = image();
        let mut img = good.clone();
        img[0x20] = 0;
        assert_eq!(err(&img), Error::WidthDetection(0xAA99_5500));
        let mut img = good.clone();
        img[0x24] = b'Y';
        assert!(matches!(err(&img), Error::ImageId(_)));
        let mut img = good.clone();
        img[0x30] ^= 4;
        assert!(matches!(err(&img), Error::HeaderChecksum { .. }));
        let mut img = good.clone();
        set(&mut img, off::ENCRYPTION, 0xA5C3_C5A3);
        fix_header(&mut img);
        assert_eq!(err(&img), Error::Encrypted(0xA5C3_C5A3));
        let mut img = good.clone();
        set(&mut img, off::LOADER_LENGTH, 0);
        fix_header(&mut img);
        assert_eq!(err(&img), Error::LoaderLength(0));
        let mut img = good.clone();
        set(&mut img, off::LOADER_TOTAL_LENGTH, 4);
        fix_header(&mut img);
        assert!(matches!(err(&img), Error::LoaderTotalLength { total: 4, .. }));
        let mut img = good.clone();
        set(&mut img, off::SOURCE_OFFSET, 0x100);
        fix_header(&mut img);
        assert_eq!(err(&img), Error::LoaderOffset(0x100));
        assert_eq!(err(&good[..0x800]), Error::TooShort { len: 0x800 });
        assert!(matches!(err(&[0u8; 0x1000]), Error::WidthDetection(0)));
    }

    #[test]
    fn table_errors() {
        let good = image();
        let mut img = good.clone();
        set(&mut img, off::IHT_POINTER, 0x7FFF_FFF0);
        assert_eq!(err(&img), Error::IhtPointer(0x7FFF_FFF0));
        let mut img = good.clone();
        set(&mut img, off::PHT_POINTER, 0xCC0);
        assert!(matches!(err(&img), Error::PhtMismatch { boot_header: 0xCC0, .. }));
        let mut img = good.clone();
        set(&mut img, 0x8C0, 0x0300_0000);
        assert_eq!(err(&img), Error::IhtVersion(0x0300_0000));
        let mut img = good.clone();
        set(&mut img, 0x8C4, 7);
        assert_eq!(err(&img), Error::ImageCount(7));
        // The last image header links back to the first: a loop.
        let mut img = good.clone();
        set(&mut img, 0x980, 0x900 / 4);
        assert!(matches!(err(&img), Error::ImageChain { .. }));
        let mut img = good.clone();
        set(&mut img, 0x980, 0x7FFF_FFFF);
        assert!(matches!(err(&img), Error::ImageHeaderPointer { index: 3, .. }));
        // The last name without a NUL, followed by 0xFF padding.
        let mut img = good.clone();
        img[0x990..0x99C].fill(b'x');
        assert_eq!(err(&img), Error::ImageName { index: 2 });
        let mut img = good.clone();
        set(&mut img, 0x94C, 0);
        assert_eq!(err(&img), Error::ImagePartitionCount { index: 1, count: 0 });
        let mut img = good.clone();
        set(&mut img, 0x94C, 200);
        assert_eq!(err(&img), Error::PartitionCount(201));
        let mut img = good.clone();
        set(&mut img, 0x944, 0xC80 / 4);
        assert!(matches!(err(&img), Error::ImagePartitions { index: 1, .. }));
    }

    #[test]
    fn partition_errors() {
        let good = image();
        let mut img = good.clone();
        img[0xCC0] ^= 1;
        assert!(matches!(err(&img), Error::PartitionChecksum { index: 1, .. }));
        let mut img = good.clone();
        set_ph(&mut img, 1, 0, 5);
        assert!(matches!(err(&img), Error::PartitionLengths { index: 1, encrypted: 5, .. }));
        let mut img = good.clone();
        set_ph(&mut img, 2, 0, 0);
        set_ph(&mut img, 2, 1, 0);
        set_ph(&mut img, 2, 2, 0);
        assert_eq!(err(&img), Error::PartitionEmpty { index: 2 });
        let mut img = good.clone();
        set_ph(&mut img, 1, 6, 0x50);
        assert_eq!(err(&img), Error::PartitionAttributes { index: 1, attributes: 0x50 });
        let mut img = good.clone();
        set_ph(&mut img, 1, 6, 0x8020);
        assert!(matches!(err(&img), Error::PartitionAttributes { .. }));
        let mut img = good.clone();
        set_ph(&mut img, 2, 9, 0x900 / 4);
        assert!(matches!(err(&img), Error::PartitionImageHeader { index: 2, .. }));
        let mut img = good.clone();
        set_ph(&mut img, 2, 5, 0x3FFF_FFFF);
        assert!(matches!(err(&img), Error::PartitionOutOfImage { index: 2, .. }));
        assert!(matches!(err(&good[..good.len() - 4]), Error::PartitionOutOfImage { index: 2, .. }));
        // Partition 2's data moved onto partition 1's.
        let mut img = good.clone();
        let p1 = get(&img, 0xCC0 + 20);
        set_ph(&mut img, 2, 5, p1);
        assert_eq!(err(&img), Error::Overlap { a: Region::Partition(1), b: Region::Partition(2) });
        // ... onto the partition header table.
        let mut img = good.clone();
        set_ph(&mut img, 2, 5, 0xC80 / 4);
        assert_eq!(err(&img), Error::Overlap { a: Region::PartitionHeaderTable, b: Region::Partition(2) });
        // The boot header points at the firmware, not the first partition.
        let mut img = good.clone();
        let fw = get(&img, 0xD00 + 20) * 4;
        set(&mut img, off::SOURCE_OFFSET, fw);
        fix_header(&mut img);
        assert!(matches!(err(&img), Error::BootloaderMismatch { .. }));
        let mut img = good.clone();
        set(&mut img, off::LOADER_LENGTH, 0x1000);
        set(&mut img, off::LOADER_TOTAL_LENGTH, 0x1000);
        fix_header(&mut img);
        assert!(matches!(err(&img), Error::BootloaderLength { length: 0x1000, .. }));
        let mut img = good.clone();
        set_ph(&mut img, 0, 6, 0x20);
        assert_eq!(err(&img), Error::BootloaderDestination);
    }

    #[test]
    fn mkbootimage_style_tables_parse() {
        // mkbootimage: no null partition header, the image count (not the
        // partition count) in the image header table, no tail-pad bits.
        let mut img = image();
        img[0xD40..0xD80].fill(0xFF);
        set(&mut img, 0x8C4, 3);
        let p = BootImage::parse_slice(&img).unwrap();
        assert_eq!(p.partitions().len(), 3);
    }

    #[test]
    fn truncations_and_byte_flips_never_panic() {
        let good = image();
        for n in (0..good.len()).step_by(7) {
            assert!(BootImage::parse_slice(&good[..n]).is_err(), "accepted {n} bytes");
        }
        // Every byte of the headers and tables, flipped.
        let mut img = good.clone();
        for i in 0..0x1700 {
            img[i] ^= 0xFF;
            let _ = BootImage::parse_slice(&img);
            img[i] ^= 0xFF;
        }
    }

    /// A reader that records what it was asked.
    struct Spy<'a> {
        data: &'a [u8],
        reads: usize,
        max_buf: usize,
        max_end: u32,
        fail_at: Option<u32>,
    }

    impl ReadAt for Spy<'_> {
        type Error = &'static str;
        fn len(&self) -> u32 {
            self.data.len() as u32
        }
        fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), &'static str> {
            if self.fail_at.is_some_and(|f| offset <= f && f < offset + buf.len() as u32) {
                return Err("card error");
            }
            self.reads += 1;
            self.max_buf = self.max_buf.max(buf.len());
            self.max_end = self.max_end.max(offset + buf.len() as u32);
            let mut s = self.data;
            s.read_at(offset, buf).map_err(|_| "past the end")
        }
    }

    #[test]
    fn reads_are_few_small_and_skip_the_data() {
        let img = image();
        let mut spy = Spy { data: &img, reads: 0, max_buf: 0, max_end: 0, fail_at: None };
        let p = BootImage::parse(&mut spy).unwrap();
        assert!(spy.max_buf <= 64, "buffer of {}", spy.max_buf);
        assert!(spy.reads < 64, "{} reads", spy.reads);
        assert!(spy.max_end <= p.bootloader().offset, "read data up to {:#x}", spy.max_end);
        let mut spy = Spy { data: &img, reads: 0, max_buf: 0, max_end: 0, fail_at: Some(0xCC4) };
        assert_eq!(BootImage::parse(&mut spy), Err(Error::Read { offset: 0xCC0, len: 64, error: "card error" }));
    }
}
