//! An ARM ELF executable flattened into one PS partition.
//!
//! The image is the ALLOC, non-NOBITS sections laid out from the lowest
//! section address, gaps zero-filled: what upstream's `mkbootimage` puts in
//! BOOT.BIN and what a loader that copies "the first PS partition" raw to
//! its load address expects. `.bss`, stacks and heaps (NOBITS) cost nothing.
//! An ELF without section headers falls back to its PT_LOAD segments' file
//! contents at their physical addresses.
//!
//! Xilinx `bootgen` differs for an ELF of several PT_LOAD segments: it makes
//! one partition per segment. For one segment both give the same bytes.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// The largest span (lowest to highest loadable byte) flattened: larger
/// means sections far apart (e.g. OCM and DDR) that a flat copy cannot serve.
pub const MAX_SPAN: u32 = 64 << 20;

const EM_ARM: u16 = 40;
const ET_EXEC: u16 = 2;
const SHT_NOBITS: u32 = 8;
const SHF_ALLOC: u32 = 2;
const PT_LOAD: u32 = 1;

/// Why an ELF cannot go in a boot image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// No ELF magic, or cut short before the ELF header ends.
    NotElf,
    /// Not 32-bit little-endian.
    NotElf32Le,
    /// Not ET_EXEC (`e_type` given).
    NotExecutable(u16),
    /// Not ARM (`e_machine` given).
    NotArm(u16),
    /// A header table or a section's contents lies outside the file.
    Truncated,
    /// Nothing to load.
    Empty,
    /// Loadable bytes spread over more than [`MAX_SPAN`] (`low`..`high`).
    SpanTooLarge { low: u32, high: u64 },
    /// Two loadable sections claim the same addresses.
    Overlap { a: u32, b: u32 },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf => write!(f, "not an ELF file"),
            ElfError::NotElf32Le => write!(f, "not a 32-bit little-endian ELF"),
            ElfError::NotExecutable(t) => write!(f, "ELF type {t} is not an executable (ET_EXEC)"),
            ElfError::NotArm(m) => write!(f, "ELF machine {m} is not ARM"),
            ElfError::Truncated => write!(f, "ELF truncated: a table or section lies outside the file"),
            ElfError::Empty => write!(f, "the ELF has nothing to load"),
            ElfError::SpanTooLarge { low, high } => {
                write!(f, "loadable bytes span {low:#x}..{high:#x}, over {} MiB", MAX_SPAN >> 20)
            }
            ElfError::Overlap { a, b } => write!(f, "loadable sections at {a:#x} and {b:#x} overlap"),
        }
    }
}

/// A flattened ELF: `data` goes at `load`, execution starts at `entry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatElf {
    pub load: u32,
    pub entry: u32,
    pub data: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, ElfError> {
    let s = b.get(at..at + 2).ok_or(ElfError::Truncated)?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, ElfError> {
    let s = b.get(at..at + 4).ok_or(ElfError::Truncated)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// A loadable piece: file bytes `[offset, offset + size)` at `addr`.
#[derive(Clone, Copy)]
struct Piece {
    addr: u32,
    offset: u32,
    size: u32,
}

/// The table at `off`, `num` entries of `entsize` bytes, inside `elf`.
fn table(elf: &[u8], off: u32, num: u16, entsize: u16, min: usize) -> Result<impl Iterator<Item = usize>, ElfError> {
    let (off, num, entsize) = (off as usize, num as usize, entsize as usize);
    if num > 0 && (entsize < min || off.checked_add(num * entsize).is_none_or(|end| end > elf.len())) {
        return Err(ElfError::Truncated);
    }
    Ok((0..num).map(move |i| off + i * entsize))
}

/// Flattens `elf` (see the module docs).
pub fn flatten(elf: &[u8]) -> Result<FlatElf, ElfError> {
    if elf.len() < 52 || elf[..4] != [0x7F, b'E', b'L', b'F'] {
        return Err(ElfError::NotElf);
    }
    if elf[4] != 1 || elf[5] != 1 {
        return Err(ElfError::NotElf32Le);
    }
    let e_type = u16_at(elf, 16)?;
    if e_type != ET_EXEC {
        return Err(ElfError::NotExecutable(e_type));
    }
    let machine = u16_at(elf, 18)?;
    if machine != EM_ARM {
        return Err(ElfError::NotArm(machine));
    }
    let entry = u32_at(elf, 24)?;
    let (phoff, shoff) = (u32_at(elf, 28)?, u32_at(elf, 32)?);
    let (phentsize, phnum) = (u16_at(elf, 42)?, u16_at(elf, 44)?);
    let (shentsize, shnum) = (u16_at(elf, 46)?, u16_at(elf, 48)?);

    let mut pieces = Vec::new();
    if shnum > 0 && shoff != 0 {
        for at in table(elf, shoff, shnum, shentsize, 40)? {
            let (kind, flags) = (u32_at(elf, at + 4)?, u32_at(elf, at + 8)?);
            let (addr, offset, size) = (u32_at(elf, at + 12)?, u32_at(elf, at + 16)?, u32_at(elf, at + 20)?);
            if flags & SHF_ALLOC != 0 && kind != SHT_NOBITS && size != 0 {
                pieces.push(Piece { addr, offset, size });
            }
        }
    } else {
        for at in table(elf, phoff, phnum, phentsize, 32)? {
            let (kind, offset, paddr, filesz) =
                (u32_at(elf, at)?, u32_at(elf, at + 4)?, u32_at(elf, at + 12)?, u32_at(elf, at + 16)?);
            if kind == PT_LOAD && filesz != 0 {
                pieces.push(Piece { addr: paddr, offset, size: filesz });
            }
        }
    }
    if pieces.is_empty() {
        return Err(ElfError::Empty);
    }
    for p in &pieces {
        if (p.offset as u64 + p.size as u64) > elf.len() as u64 {
            return Err(ElfError::Truncated);
        }
    }
    pieces.sort_by_key(|p| p.addr);
    for w in pieces.windows(2) {
        if (w[0].addr as u64 + w[0].size as u64) > w[1].addr as u64 {
            return Err(ElfError::Overlap { a: w[0].addr, b: w[1].addr });
        }
    }
    let low = pieces[0].addr;
    let high = pieces.iter().map(|p| p.addr as u64 + p.size as u64).max().unwrap_or(low as u64);
    if high - low as u64 > MAX_SPAN as u64 {
        return Err(ElfError::SpanTooLarge { low, high });
    }
    let mut data = vec![0u8; (high - low as u64) as usize];
    for p in &pieces {
        let at = (p.addr - low) as usize;
        let src = &elf[p.offset as usize..(p.offset + p.size) as usize];
        data[at..at + src.len()].copy_from_slice(src);
    }
    Ok(FlatElf { load: low, entry, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testgen::{arm_elf, ElfSection};

    #[test]
    fn flattens_sections_and_skips_nobits() {
        let elf = arm_elf(
            0x10_0004,
            &[
                ElfSection::progbits(".text", 0x10_0000, &[1, 2, 3, 4, 5, 6, 7, 8], true),
                ElfSection::progbits(".data", 0x10_0010, &[9, 9], false),
                ElfSection::nobits(".bss", 0x10_0020, 0x1000),
            ],
        );
        let f = flatten(&elf).unwrap();
        assert_eq!(f.load, 0x10_0000);
        assert_eq!(f.entry, 0x10_0004);
        assert_eq!(f.data, [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9]);
    }

    #[test]
    fn refuses_what_is_not_an_arm_executable() {
        let good = arm_elf(0, &[ElfSection::progbits(".text", 0, &[0; 4], true)]);
        assert_eq!(flatten(&good[..10]), Err(ElfError::NotElf));
        let mut bad = good.clone();
        bad[18] = 3; // x86
        assert_eq!(flatten(&bad), Err(ElfError::NotArm(3)));
        let mut bad = good.clone();
        bad[16] = 3; // ET_DYN
        assert_eq!(flatten(&bad), Err(ElfError::NotExecutable(3)));
        let mut bad = good.clone();
        bad[4] = 2;
        assert_eq!(flatten(&bad), Err(ElfError::NotElf32Le));
        assert_eq!(flatten(&good[..good.len() - 8]), Err(ElfError::Truncated));
        let only_bss = arm_elf(0, &[ElfSection::nobits(".bss", 0, 16)]);
        assert_eq!(flatten(&only_bss), Err(ElfError::Empty));
    }

    #[test]
    fn refuses_far_apart_and_overlapping_sections() {
        let far = arm_elf(
            0,
            &[ElfSection::progbits(".a", 0, &[0; 4], true), ElfSection::progbits(".b", 0xFFFF_0000, &[0; 4], false)],
        );
        assert!(matches!(flatten(&far), Err(ElfError::SpanTooLarge { .. })));
        let overlap =
            arm_elf(0, &[ElfSection::progbits(".a", 0, &[0; 8], true), ElfSection::progbits(".b", 4, &[0; 4], false)]);
        assert_eq!(flatten(&overlap), Err(ElfError::Overlap { a: 0, b: 4 }));
    }

    #[test]
    fn no_section_headers_uses_pt_load() {
        let mut elf = arm_elf(0x40, &[ElfSection::progbits(".text", 0x40, &[7; 12], true)]);
        // Drop the section header table: e_shoff = 0, e_shnum = 0.
        elf[32..36].fill(0);
        elf[48..50].fill(0);
        let f = flatten(&elf).unwrap();
        assert_eq!((f.load, f.entry, f.data.len()), (0x40, 0x40, 12));
    }
}
