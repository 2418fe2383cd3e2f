//! Loader for ARTIQ 9 kernel images.
//!
//! A kernel is an ELF32 little-endian `ET_DYN` shared object for `EM_ARM`
//! (EABI 5, hard float), linked at address 0 by lld with the layout of
//! `linker/kernel.ld`: file offset = virtual address, a few `PT_LOAD`
//! segments, `PT_DYNAMIC`, `PT_ARM_EXIDX`. Loading it means copying the
//! `PT_LOAD` bytes to some base address, zeroing the rest, and applying the
//! dynamic relocations; the firmware then calls the exported `__modinit__`.
//!
//! Use is in two steps:
//!
//! 1. [`Kernel::parse`] validates the whole file (headers, segments, dynamic
//!    section, symbol and hash tables, every relocation's type, place and
//!    symbol index, the exported symbols) and reports the memory the image
//!    needs ([`Kernel::size`], [`Kernel::align`], [`Kernel::layout`]). It
//!    neither allocates nor writes anything.
//! 2. [`Kernel::load`] writes the image into a caller-provided buffer,
//!    computing every address as if the buffer started at `load_addr`, and
//!    resolves imports through the caller's resolver. On the target the buffer
//!    *is* at `load_addr`; in host tests it is not, which is what lets a
//!    64-bit host check a 32-bit load.
//!
//! Any input is handled without panicking: all reads are bounds-checked and
//! all address arithmetic is checked or explicitly wrapping (32-bit address
//! arithmetic is modular by definition). A failed load leaves the caller's
//! buffer in an unspecified state and has no other effect.
//!
//! # Relocations
//!
//! lld emits REL (not RELA) relocations for ARM, so addends live in the
//! relocated word itself. Implemented, with S = symbol address, A = addend,
//! B = load address, P = address of the relocated word:
//!
//! | type | value | addend |
//! |---|---|---|
//! | `R_ARM_NONE` (0) | nothing | – |
//! | `R_ARM_ABS32` (2) | S + A | in place (REL) or `r_addend` (RELA) |
//! | `R_ARM_GLOB_DAT` (21) | S | in-place word ignored; `r_addend` added for RELA |
//! | `R_ARM_JUMP_SLOT` (22) | S | in-place word ignored (lld stores PLT0 there for lazy binding); `r_addend` for RELA |
//! | `R_ARM_RELATIVE` (23) | B + A | in place or `r_addend` |
//! | `R_ARM_PREL31` (42) | S + A − P into bits 0–30, bit 31 kept | sign-extended bits 0–30 in place, or `r_addend` |
//!
//! The ARTIQ reference loader writes plain S for `R_ARM_ABS32`. That is only
//! right when the addend is 0: for REL output lld writes the addend into the
//! word (a `.word sym + 8` becomes an ABS32 against `sym` with 8 in place), as
//! the ARM ELF ABI and every dynamic linker (S + A) expect, so this loader adds
//! it. `R_ARM_GLOB_DAT`/`R_ARM_JUMP_SLOT` words are never addends in lld
//! output (a GOT slot is always `sym + 0`; a `.got.plt` slot holds PLT0), so
//! they are overwritten with S. Anything else fails with its type and offset.
//!
//! # Symbols
//!
//! A relocation against a symbol the image defines uses that definition. An
//! undefined symbol is looked up first among the image's own defined global
//! symbols by exact name (through `DT_GNU_HASH` if present, else `DT_HASH`,
//! else a linear scan of `.dynsym`), then passed to the caller's resolver; if
//! both fail the load fails naming the symbol. Names compare exactly (the
//! reference loader's prefix comparison would bind `rtio_output` to
//! `rtio_output_wide`). The number of dynamic symbols comes from `DT_HASH`'s
//! `nchain`, else from walking `DT_GNU_HASH`, else from the `SHT_DYNSYM`
//! section header.
//!
//! # Cache maintenance
//!
//! The loader only writes memory, through the data side. Before jumping to
//! [`Loaded::entry`] on the target the caller must clean the D-cache over
//! `load_addr .. load_addr + size` (L1, and the L2C-310 as the reference
//! firmware does), invalidate the I-cache and branch predictor, and issue
//! DSB + ISB. The ELF bytes are not needed after [`Kernel::load`]: nothing in
//! [`Loaded`] borrows them.

#![forbid(unsafe_code)]

#[cfg(test)]
mod built_kernels;
mod error;
mod hash;
#[cfg(test)]
mod testelf;
#[cfg(test)]
mod tests;

use core::alloc::Layout;
use core::fmt;
use core::ops::Range;

use alloc::vec::Vec;
use elf::abi;
use elf::endian::LittleEndian;
use elf::ElfBytes;

use hash::{GnuHash, Lookup, Sym, Symbols, SysVHash};

pub use error::{LoadError, SymbolName, SYMBOL_NAME_MAX};

// Why `elf` 0.8 (default features off) rather than `object`: it is no_std and
// zero-alloc, forbids `unsafe`, parses lazily straight from the byte slice,
// and already has bounds-checked SysV and GNU hash lookups, which is all this
// loader needs from a parser; `object`'s read API is much larger than the
// handful of structures used here. Everything ARM-specific (relocations,
// EXIDX, the ABI flags) is written here.

/// Largest memory image accepted. Kernels are tens of KiB; the bound keeps all
/// size arithmetic far from `u32` overflow and refuses images no heap could
/// hold.
pub const MAX_IMAGE_SIZE: u32 = 0x1000_0000;

/// Largest segment alignment accepted (lld uses 64 KiB, its max page size).
pub const MAX_ALIGN: u32 = 0x10_0000;

/// Largest number of non-empty `PT_LOAD` segments (ARTIQ kernels have 3).
pub const MAX_LOAD_SEGMENTS: usize = 8;

/// ARM relocation types this loader implements.
pub mod reloc {
    pub const R_ARM_NONE: u8 = 0;
    pub const R_ARM_ABS32: u8 = 2;
    pub const R_ARM_GLOB_DAT: u8 = 21;
    pub const R_ARM_JUMP_SLOT: u8 = 22;
    pub const R_ARM_RELATIVE: u8 = 23;
    pub const R_ARM_PREL31: u8 = 42;

    /// The ABI name of a relocation type, for logs.
    pub fn name(rtype: u8) -> &'static str {
        match rtype {
            R_ARM_NONE => "R_ARM_NONE",
            R_ARM_ABS32 => "R_ARM_ABS32",
            R_ARM_GLOB_DAT => "R_ARM_GLOB_DAT",
            R_ARM_JUMP_SLOT => "R_ARM_JUMP_SLOT",
            R_ARM_RELATIVE => "R_ARM_RELATIVE",
            R_ARM_PREL31 => "R_ARM_PREL31",
            _ => "unsupported",
        }
    }
}
use reloc::*;

const ELF_MAGIC: [u8; 4] = *b"\x7fELF";
const EHDR_SIZE: u64 = 52;
const PHDR_SIZE: u64 = 32;
const SHDR_SIZE: u64 = 40;
const SYM_SIZE: u32 = 16;
const REL_SIZE: usize = 8;
const RELA_SIZE: usize = 12;
/// `EF_ARM_EABIMASK` and `EF_ARM_ABI_FLOAT_SOFT`.
const EF_ARM_EABIMASK: u32 = 0xff00_0000;
const EF_ARM_EABI_VER5: u32 = 0x0500_0000;
const EF_ARM_ABI_FLOAT_SOFT: u32 = 0x200;
/// `DT_PLTREL` values.
const DT_REL: u32 = abi::DT_REL as u32;
const DT_RELA: u32 = abi::DT_RELA as u32;
const BAD_NAME: LoadError = LoadError::BadSymbolTable("symbol name outside DT_STRTAB or not NUL-terminated");

/// How [`Kernel::load`] finds the address of a symbol the image imports.
///
/// Every `Fn(&[u8]) -> Option<u32>` is one (it ignores the hash). A
/// resolver whose own index uses the same hash (the firmware's,
/// [`crate::api::Resolver`]) takes it instead of hashing the name again.
pub trait Resolve {
    /// The address of `name`; `gnu_hash` is its `DT_GNU_HASH` hash
    /// (h * 33 + c from 5381), computed while the loader read the name.
    fn resolve(&self, name: &[u8], gnu_hash: u32) -> Option<u32>;
}

impl<F: Fn(&[u8]) -> Option<u32> + ?Sized> Resolve for F {
    fn resolve(&self, name: &[u8], _gnu_hash: u32) -> Option<u32> {
        self(name)
    }
}

/// `name`'s `DT_GNU_HASH` hash, as given to [`Resolve::resolve`].
pub fn gnu_hash(name: &[u8]) -> u32 {
    hash::gnu_hash(name)
}

/// Where a successfully loaded kernel is. All addresses are absolute (based
/// at the `load_addr` given to [`Kernel::load`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// Address of the image's first byte (link address 0).
    pub load_addr: u32,
    /// Bytes of memory the image occupies from `load_addr`.
    pub size: u32,
    /// Address of `__modinit__`, the kernel's `void(void)` entry point.
    pub entry: u32,
    /// `__bss_start .. _end` (already zeroed); empty if not exported.
    pub bss: Range<u32>,
    /// The `.ARM.exidx` table for the unwinder; empty if the image has none.
    pub exidx: Range<u32>,
    /// `_sstack_guard` if exported (unused on Zynq).
    pub sstack_guard: Option<u32>,
}

/// One dynamic relocation, as reported by [`Kernel::relocations`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relocation<'a> {
    /// Link-time address of the relocated word.
    pub offset: u32,
    /// ARM relocation type (see [`reloc`]).
    pub rtype: u8,
    /// Name of the symbol (empty for none or an unnamed one).
    pub symbol: &'a [u8],
    /// Whether the image itself defines the symbol.
    pub defined: bool,
    /// Explicit addend (RELA tables only).
    pub addend: Option<i32>,
}

#[derive(Clone, Copy, Debug, Default)]
struct LoadSegment {
    offset: u32,
    vaddr: u32,
    filesz: u32,
    memsz: u32,
}

#[derive(Clone, Copy)]
struct RawReloc {
    offset: u32,
    rtype: u8,
    sym: u32,
    addend: Option<i32>,
}

/// A validated kernel image, borrowing the ELF bytes.
pub struct Kernel<'a> {
    elf: &'a [u8],
    segments: [LoadSegment; MAX_LOAD_SEGMENTS],
    nsegments: usize,
    /// Indices into `segments` by increasing `vaddr`.
    order: [u8; MAX_LOAD_SEGMENTS],
    size: u32,
    align: u32,
    syms: Symbols<'a>,
    lookup: Lookup<'a>,
    rel: &'a [u8],
    rela: &'a [u8],
    jmprel: &'a [u8],
    jmprel_is_rela: bool,
    entry: u32,
    bss: Range<u32>,
    exidx: Range<u32>,
    sstack_guard: Option<u32>,
}

impl fmt::Debug for Kernel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernel")
            .field("size", &self.size)
            .field("align", &self.align)
            .field("segments", &self.segments())
            .field("nsyms", &self.syms.nsyms)
            .field("entry", &self.entry)
            .field("bss", &self.bss)
            .field("exidx", &self.exidx)
            .finish_non_exhaustive()
    }
}

/// Little-endian u32 at `at`, if the slice holds it.
fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(word.try_into().ok()?))
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    let half = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(half.try_into().ok()?))
}

/// ELF32 fields arrive from `elf` widened to u64; they always fit back.
fn narrow(x: u64) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

/// Checks the fixed part of the header ourselves so that the common failures
/// get precise errors, and that the tables it points to are inside the file.
fn check_header(elf: &[u8]) -> Result<(), LoadError> {
    let file_len = elf.len();
    let truncated = |what, start: u64, end: u64| LoadError::Truncated {
        what,
        start,
        end,
        file_len,
    };
    match elf.get(..4) {
        Some(magic) if magic == ELF_MAGIC => {}
        Some(_) => return Err(LoadError::NotElf),
        None if ELF_MAGIC.starts_with(elf) => return Err(truncated("ELF identification", 0, 16)),
        None => return Err(LoadError::NotElf),
    }
    let ident = elf
        .get(..16)
        .ok_or(truncated("ELF identification", 0, 16))?;
    let byte = |i: usize| ident.get(i).copied().unwrap_or(0);
    if byte(4) != 1 {
        return Err(LoadError::WrongClass(byte(4)));
    }
    if byte(5) != 1 {
        return Err(LoadError::WrongEndianness(byte(5)));
    }
    if byte(6) != 1 {
        return Err(LoadError::BadHeader("EI_VERSION is not 1"));
    }
    if (file_len as u64) < EHDR_SIZE {
        return Err(truncated("ELF header", 0, EHDR_SIZE));
    }
    let h16 = |at| le16(elf, at).unwrap_or(0);
    let h32 = |at| le32(elf, at).unwrap_or(0);
    let e_type = h16(16);
    if e_type != abi::ET_DYN {
        return Err(LoadError::WrongType(e_type));
    }
    let e_machine = h16(18);
    if e_machine != abi::EM_ARM {
        return Err(LoadError::WrongMachine(e_machine));
    }
    if h32(20) != 1 {
        return Err(LoadError::BadHeader("e_version is not 1"));
    }
    let e_flags = h32(36);
    if e_flags & EF_ARM_EABIMASK != EF_ARM_EABI_VER5 || e_flags & EF_ARM_ABI_FLOAT_SOFT != 0 {
        return Err(LoadError::WrongAbi(e_flags));
    }

    let (phoff, phentsize, phnum) = (u64::from(h32(28)), u64::from(h16(42)), u64::from(h16(44)));
    if phoff == 0 || phnum == 0 {
        return Err(LoadError::BadHeader("no program headers"));
    }
    if phentsize != PHDR_SIZE {
        return Err(LoadError::BadHeader("e_phentsize is not 32"));
    }
    if phnum == u64::from(abi::PN_XNUM) {
        return Err(LoadError::BadHeader(
            "extended program header count (PN_XNUM)",
        ));
    }
    let phend = phoff + phnum * PHDR_SIZE;
    if phend > file_len as u64 {
        return Err(truncated("program header table", phoff, phend));
    }

    let (shoff, shentsize, shnum) = (u64::from(h32(32)), u64::from(h16(46)), u64::from(h16(48)));
    if shoff != 0 {
        if shentsize != SHDR_SIZE {
            return Err(LoadError::BadHeader("e_shentsize is not 40"));
        }
        // shnum 0 with a table means "count in section 0": read at least it.
        let shend = shoff + shnum.max(1) * SHDR_SIZE;
        if shend > file_len as u64 {
            return Err(truncated("section header table", shoff, shend));
        }
    }
    Ok(())
}

/// The first section header of type `sh_type`, `None` if there is none
/// (or no section header table: `parse` has checked that one given by
/// the header is readable).
fn section(elf: &[u8], sh_type: u32) -> Option<elf::section::SectionHeader> {
    ElfBytes::<LittleEndian>::minimal_parse(elf)
        .ok()?
        .section_headers()?
        .iter()
        .find(|sh| sh.sh_type == sh_type)
}

/// Counts the dynamic symbols covered by a GNU hash table: one past the last
/// entry of the longest-numbered chain, or `symoffset` if all buckets are
/// empty. `None` if the table is inconsistent or runs off `data`.
fn gnu_symbol_count(data: &[u8]) -> Option<u32> {
    let nbucket = le32(data, 0)? as usize;
    let symoffset = le32(data, 4)?;
    let bloom_words = le32(data, 8)? as usize;
    let buckets = 16usize.checked_add(bloom_words.checked_mul(4)?)?;
    let chains = buckets.checked_add(nbucket.checked_mul(4)?)?;
    let mut last = 0;
    for i in 0..nbucket {
        last = last.max(le32(data, buckets + 4 * i)?);
    }
    if last == 0 {
        return Some(symoffset);
    }
    if last < symoffset {
        return None;
    }
    let mut index = last;
    loop {
        let at = chains.checked_add(((index - symoffset) as usize).checked_mul(4)?)?;
        let hash = le32(data, at)?;
        index = index.checked_add(1)?;
        if hash & 1 != 0 {
            return Some(index);
        }
    }
}

#[derive(Default)]
struct Dynamic {
    rel: Option<u32>,
    relsz: Option<u32>,
    relent: Option<u32>,
    rela: Option<u32>,
    relasz: Option<u32>,
    relaent: Option<u32>,
    jmprel: Option<u32>,
    pltrelsz: Option<u32>,
    pltrel: Option<u32>,
    symtab: Option<u32>,
    syment: Option<u32>,
    strtab: Option<u32>,
    strsz: Option<u32>,
    hash: Option<u32>,
    gnu_hash: Option<u32>,
}

impl Dynamic {
    fn parse(table: &[u8]) -> Result<Self, LoadError> {
        let mut d = Dynamic::default();
        let mut terminated = false;
        for entry in table.chunks_exact(8) {
            let (Some(tag), Some(val)) = (le32(entry, 0), le32(entry, 4)) else {
                break;
            };
            let tag = i64::from(tag as i32);
            match tag {
                abi::DT_NULL => {
                    terminated = true;
                    break;
                }
                abi::DT_REL => d.rel = Some(val),
                abi::DT_RELSZ => d.relsz = Some(val),
                abi::DT_RELENT => d.relent = Some(val),
                abi::DT_RELA => d.rela = Some(val),
                abi::DT_RELASZ => d.relasz = Some(val),
                abi::DT_RELAENT => d.relaent = Some(val),
                abi::DT_JMPREL => d.jmprel = Some(val),
                abi::DT_PLTRELSZ => d.pltrelsz = Some(val),
                abi::DT_PLTREL => d.pltrel = Some(val),
                abi::DT_SYMTAB => d.symtab = Some(val),
                abi::DT_SYMENT => d.syment = Some(val),
                abi::DT_STRTAB => d.strtab = Some(val),
                abi::DT_STRSZ => d.strsz = Some(val),
                abi::DT_HASH => d.hash = Some(val),
                abi::DT_GNU_HASH => d.gnu_hash = Some(val),
                // Initialisers would silently not run: refuse rather than
                // start a kernel whose statics are not what it expects.
                abi::DT_INIT | abi::DT_PREINIT_ARRAYSZ | abi::DT_INIT_ARRAYSZ if val != 0 => {
                    return Err(LoadError::BadDynamic(
                        "initialisers (DT_INIT*) are not supported",
                    ))
                }
                // PLTGOT, RELCOUNT, FLAGS, TEXTREL, NEEDED, SONAME, ... carry
                // nothing this loader needs.
                _ => {}
            }
        }
        if !terminated {
            return Err(LoadError::BadDynamic("no DT_NULL terminator"));
        }
        if d.syment.is_some_and(|e| e != SYM_SIZE) {
            return Err(LoadError::BadDynamic("DT_SYMENT is not 16"));
        }
        if d.relent.is_some_and(|e| e as usize != REL_SIZE) {
            return Err(LoadError::BadDynamic("DT_RELENT is not 8"));
        }
        if d.relaent.is_some_and(|e| e as usize != RELA_SIZE) {
            return Err(LoadError::BadDynamic("DT_RELAENT is not 12"));
        }
        Ok(d)
    }
}

/// What the program headers say.
struct ProgramHeaders {
    segments: [LoadSegment; MAX_LOAD_SEGMENTS],
    nsegments: usize,
    /// Indices into `segments` by increasing `vaddr`.
    order: [u8; MAX_LOAD_SEGMENTS],
    size: u32,
    align: u32,
    /// `(p_offset, p_vaddr, p_filesz)` of `PT_DYNAMIC`.
    dynamic: Option<(u32, u32, u32)>,
    /// `(p_vaddr, p_memsz)` of `PT_ARM_EXIDX`.
    exidx: Option<(u32, u32)>,
}

impl ProgramHeaders {
    /// Reads the program header table straight from the bytes: its place
    /// and size were checked by `check_header` (non-empty, entries of 32
    /// bytes, inside the file).
    fn read(elf: &[u8], file_len: usize) -> Result<Self, LoadError> {
        let phoff = le32(elf, 28).unwrap_or(0) as usize;
        let phnum = usize::from(le16(elf, 44).unwrap_or(0));
        let table = phoff
            .checked_add(phnum * PHDR_SIZE as usize)
            .and_then(|end| elf.get(phoff..end))
            .filter(|t| !t.is_empty())
            .ok_or(LoadError::BadHeader("no program headers"))?;
        let mut ph = ProgramHeaders {
            segments: [LoadSegment::default(); MAX_LOAD_SEGMENTS],
            nsegments: 0,
            order: [0; MAX_LOAD_SEGMENTS],
            size: 0,
            align: 8,
            dynamic: None,
            exidx: None,
        };
        for (index, h) in table.chunks_exact(PHDR_SIZE as usize).enumerate() {
            let index = u16::try_from(index).unwrap_or(u16::MAX);
            let field = |at: usize| le32(h, at).unwrap_or(0);
            let p_type = field(0);
            let (offset, vaddr) = (field(4), field(8));
            let (filesz, memsz) = (field(16), field(20));
            let in_file = u64::from(offset) + u64::from(filesz) <= file_len as u64;
            match p_type {
                abi::PT_LOAD => {
                    if filesz > memsz {
                        return Err(LoadError::SegmentFileLargerThanMemory {
                            index,
                            filesz,
                            memsz,
                        });
                    }
                    if !in_file {
                        return Err(LoadError::SegmentOutsideFile {
                            index,
                            offset,
                            size: filesz,
                            file_len,
                        });
                    }
                    if vaddr.checked_add(memsz).is_none() {
                        return Err(LoadError::SegmentOutsideLayout {
                            what: "PT_LOAD",
                            vaddr,
                            size: memsz,
                        });
                    }
                    let p_align = field(28);
                    if p_align > 1 {
                        if !p_align.is_power_of_two() {
                            return Err(LoadError::BadHeader(
                                "PT_LOAD p_align is not a power of two",
                            ));
                        }
                        if p_align > MAX_ALIGN {
                            return Err(LoadError::BadHeader(
                                "PT_LOAD p_align is larger than 1 MiB",
                            ));
                        }
                        // Loading at a multiple of p_align keeps every
                        // address congruent to its file offset, as linked.
                        let skew = vaddr.wrapping_sub(offset);
                        if skew % p_align != 0 {
                            let what = "PT_LOAD p_vaddr - p_offset";
                            return Err(LoadError::Misaligned {
                                what,
                                value: skew,
                                align: p_align,
                            });
                        }
                        ph.align = ph.align.max(p_align);
                    }
                    if memsz == 0 {
                        continue;
                    }
                    let slot = ph
                        .segments
                        .get_mut(ph.nsegments)
                        .ok_or(LoadError::BadHeader("too many PT_LOAD segments"))?;
                    *slot = LoadSegment {
                        offset,
                        vaddr,
                        filesz,
                        memsz,
                    };
                    ph.nsegments += 1;
                }
                abi::PT_DYNAMIC => {
                    if ph.dynamic.is_some() {
                        return Err(LoadError::BadDynamic("more than one PT_DYNAMIC"));
                    }
                    if !in_file {
                        return Err(LoadError::SegmentOutsideFile {
                            index,
                            offset,
                            size: filesz,
                            file_len,
                        });
                    }
                    ph.dynamic = Some((offset, vaddr, filesz));
                }
                abi::PT_ARM_EXIDX => ph.exidx = Some((vaddr, memsz)),
                abi::PT_TLS => {
                    return Err(LoadError::UnsupportedSegment { index, p_type })
                }
                _ => {}
            }
        }

        let loads = ph.segments.get(..ph.nsegments).unwrap_or(&[]);
        if loads.is_empty() {
            return Err(LoadError::BadHeader("no non-empty PT_LOAD segment"));
        }
        for (i, a) in loads.iter().enumerate() {
            for b in loads.iter().skip(i + 1) {
                // No overflow: vaddr + memsz was checked above.
                if a.vaddr < b.vaddr + b.memsz && b.vaddr < a.vaddr + a.memsz {
                    return Err(LoadError::OverlappingSegments {
                        first: a.vaddr,
                        second: b.vaddr,
                    });
                }
            }
        }
        let size = loads
            .iter()
            .map(|s| u64::from(s.vaddr) + u64::from(s.memsz))
            .max()
            .unwrap_or(0);
        if size > u64::from(MAX_IMAGE_SIZE) {
            return Err(LoadError::ImageTooLarge {
                size,
                max: MAX_IMAGE_SIZE,
            });
        }
        ph.size = size as u32;
        // Insertion sort of at most MAX_LOAD_SEGMENTS indices (lld's are
        // already in order): `load` zeroes the gaps between them.
        for i in 0..ph.nsegments {
            let mut j = i;
            while j > 0 && ph.segments[usize::from(ph.order[j - 1])].vaddr > ph.segments[i].vaddr {
                ph.order[j] = ph.order[j - 1];
                j -= 1;
            }
            ph.order[j] = i as u8;
        }
        Ok(ph)
    }
}

impl<'a> Kernel<'a> {
    /// Validates a kernel image and works out its memory layout.
    pub fn parse(elf: &'a [u8]) -> Result<Self, LoadError> {
        check_header(elf)?;
        let file_len = elf.len();
        // `check_header` checked everything `minimal_parse` does except a
        // section count kept in section 0 (e_shoff set, e_shnum 0): only
        // then is it run here. The section headers are otherwise read
        // only in the fallbacks that need them (`section`).
        if le32(elf, 32) != Some(0) && le16(elf, 48) == Some(0) {
            ElfBytes::<LittleEndian>::minimal_parse(elf)
                .map_err(|e| error::from_parse("ELF header tables", file_len, e))?;
        }
        let ph = ProgramHeaders::read(elf, file_len)?;
        let size = ph.size;
        let mut kernel = Kernel {
            elf,
            segments: ph.segments,
            nsegments: ph.nsegments,
            order: ph.order,
            size,
            align: ph.align,
            syms: Symbols::EMPTY,
            lookup: Lookup::Linear,
            rel: &[],
            rela: &[],
            jmprel: &[],
            jmprel_is_rela: false,
            entry: 0,
            bss: size..size,
            exidx: 0..0,
            sstack_guard: None,
        };

        // The dynamic section is read from the file, but must be mapped too.
        let (offset, vaddr, len) = ph
            .dynamic
            .ok_or(LoadError::BadDynamic("no PT_DYNAMIC segment"))?;
        if !kernel.in_memory(vaddr, len) {
            return Err(LoadError::SegmentOutsideLayout {
                what: "PT_DYNAMIC",
                vaddr,
                size: len,
            });
        }
        let outside = LoadError::SegmentOutsideFile {
            index: 0,
            offset,
            size: len,
            file_len,
        };
        let bytes = elf
            .get(offset as usize..(offset as usize).saturating_add(len as usize))
            .ok_or(outside)?;
        let dynamic = Dynamic::parse(bytes)?;
        kernel.read_relocation_tables(&dynamic)?;
        kernel.read_symbol_tables(&dynamic)?;
        kernel.read_exports()?;

        // Exception index: PT_ARM_EXIDX, else the SHT_ARM_EXIDX section.
        let exidx = ph.exidx.or_else(|| {
            section(elf, abi::SHT_ARM_EXIDX).map(|sh| (narrow(sh.sh_addr), narrow(sh.sh_size)))
        });
        if let Some((vaddr, len)) = exidx {
            if !kernel.in_memory(vaddr, len) {
                return Err(LoadError::SegmentOutsideLayout {
                    what: ".ARM.exidx",
                    vaddr,
                    size: len,
                });
            }
            if vaddr % 4 != 0 {
                return Err(LoadError::Misaligned {
                    what: ".ARM.exidx address",
                    value: vaddr,
                    align: 4,
                });
            }
            if len % 8 != 0 {
                return Err(LoadError::Misaligned {
                    what: ".ARM.exidx size",
                    value: len,
                    align: 8,
                });
            }
            kernel.exidx = vaddr..vaddr + len;
        }

        // Validate every relocation now, so that `load` can only fail on
        // what needs the resolver or the destination.
        kernel.each_reloc(|r| kernel.check_reloc(r))?;
        Ok(kernel)
    }

    /// `__modinit__` (required), `__bss_start`/`_end`, `_sstack_guard`.
    fn read_exports(&mut self) -> Result<(), LoadError> {
        let entry = self
            .export_hashed(b"__modinit__", const { hash::gnu_hash_const(b"__modinit__") })?
            .ok_or(LoadError::MissingEntry)?;
        if entry & !1 >= self.size {
            return Err(LoadError::BadExport {
                name: "__modinit__",
                value: entry,
            });
        }
        self.entry = entry;
        if let (Some(start), Some(end)) = (self.export_hashed(b"__bss_start", const { hash::gnu_hash_const(b"__bss_start") })?, self.export_hashed(b"_end", const { hash::gnu_hash_const(b"_end") })?) {
            if start > end {
                return Err(LoadError::BadExport {
                    name: "__bss_start",
                    value: start,
                });
            }
            if end > self.size {
                return Err(LoadError::BadExport {
                    name: "_end",
                    value: end,
                });
            }
            self.bss = start..end;
        }
        self.sstack_guard = self.export_hashed(b"_sstack_guard", const { hash::gnu_hash_const(b"_sstack_guard") })?;
        Ok(())
    }

    /// Bytes of memory the image needs.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Required alignment of the load address: the largest `p_align` (64 KiB
    /// for lld output), at least 8.
    pub fn align(&self) -> u32 {
        self.align
    }

    /// [`size`](Self::size) and [`align`](Self::align) as an allocation
    /// layout.
    pub fn layout(&self) -> Layout {
        // Both bounded far below isize::MAX, align a power of two.
        Layout::from_size_align(self.size as usize, self.align as usize)
            .unwrap_or(Layout::new::<u64>())
    }

    /// Link-time address of `__modinit__`.
    pub fn entry_offset(&self) -> u32 {
        self.entry
    }

    fn segments(&self) -> &[LoadSegment] {
        self.segments.get(..self.nsegments).unwrap_or(&[])
    }

    /// Whether `vaddr .. vaddr + len` lies inside one `PT_LOAD`'s memory.
    fn in_memory(&self, vaddr: u32, len: u32) -> bool {
        let end = u64::from(vaddr) + u64::from(len);
        self.segments()
            .iter()
            .any(|s| vaddr >= s.vaddr && end <= u64::from(s.vaddr) + u64::from(s.memsz))
    }

    /// The file bytes backing `vaddr .. vaddr + len` (up to the end of the
    /// containing segment's file bytes if `len` is `None`).
    fn file_bytes(
        &self,
        table: &'static str,
        vaddr: u32,
        len: Option<u32>,
    ) -> Result<&'a [u8], LoadError> {
        let outside = LoadError::TableOutsideImage {
            table,
            vaddr,
            size: len.unwrap_or(0),
        };
        let seg = self
            .segments()
            .iter()
            .find(|s| vaddr >= s.vaddr && vaddr - s.vaddr <= s.filesz)
            .ok_or(outside)?;
        let start = vaddr - seg.vaddr;
        let len = len.unwrap_or(seg.filesz - start);
        if u64::from(start) + u64::from(len) > u64::from(seg.filesz) {
            return Err(outside);
        }
        let from = seg.offset as usize + start as usize;
        self.elf.get(from..from + len as usize).ok_or(outside)
    }

    fn read_relocation_tables(&mut self, d: &Dynamic) -> Result<(), LoadError> {
        let table = |addr: Option<u32>, size: Option<u32>, name, stride: usize| match (addr, size) {
            (None, _) => Ok(&[][..]),
            (Some(_), None) => Err(LoadError::BadDynamic("relocation table without a size")),
            (Some(addr), Some(size)) => {
                let bytes = self.file_bytes(name, addr, Some(size))?;
                match bytes.chunks_exact(stride).remainder() {
                    [] => Ok(bytes),
                    _ => Err(LoadError::BadDynamic(
                        "relocation table size is not a multiple of its entry size",
                    )),
                }
            }
        };
        let rel = table(d.rel, d.relsz, "DT_REL table", REL_SIZE)?;
        let rela = table(d.rela, d.relasz, "DT_RELA table", RELA_SIZE)?;
        let jmprel_is_rela = match (d.jmprel, d.pltrel) {
            (None, _) => false,
            (Some(_), Some(DT_REL)) => false,
            (Some(_), Some(DT_RELA)) => true,
            (Some(_), _) => {
                return Err(LoadError::BadDynamic(
                    "DT_PLTREL is neither DT_REL nor DT_RELA",
                ))
            }
        };
        let stride = if jmprel_is_rela { RELA_SIZE } else { REL_SIZE };
        let jmprel = table(d.jmprel, d.pltrelsz, "DT_JMPREL table", stride)?;
        self.rel = rel;
        self.rela = rela;
        self.jmprel = jmprel;
        self.jmprel_is_rela = jmprel_is_rela;
        Ok(())
    }

    fn read_symbol_tables(&mut self, d: &Dynamic) -> Result<(), LoadError> {
        let symtab = d.symtab.ok_or(LoadError::BadDynamic("no DT_SYMTAB"))?;
        let strtab = d.strtab.ok_or(LoadError::BadDynamic("no DT_STRTAB"))?;
        let strsz = d.strsz.ok_or(LoadError::BadDynamic("no DT_STRSZ"))?;
        self.syms.set_strtab(self.file_bytes("DT_STRTAB", strtab, Some(strsz))?);

        let mut nsyms = None;
        if let Some(gnu) = d.gnu_hash {
            let data = self.file_bytes("DT_GNU_HASH", gnu, None)?;
            let table = GnuHash::new(data)
                .ok_or(LoadError::BadSymbolTable("DT_GNU_HASH runs past its segment"))?;
            nsyms = Some(
                gnu_symbol_count(data)
                    .ok_or(LoadError::BadSymbolTable("inconsistent DT_GNU_HASH chains"))?,
            );
            self.lookup = Lookup::Gnu(table);
        }
        if let Some(hash) = d.hash {
            let data = self.file_bytes("DT_HASH", hash, None)?;
            let table = SysVHash::new(data)
                .ok_or(LoadError::BadSymbolTable("DT_HASH runs past its segment"))?;
            // nchain is the symbol count by definition: prefer it.
            nsyms = le32(data, 4);
            if matches!(self.lookup, Lookup::Linear) {
                self.lookup = Lookup::SysV(table);
            }
        }
        let nsyms = match nsyms {
            Some(n) => n,
            None => {
                let dynsym = section(self.elf, abi::SHT_DYNSYM).ok_or(LoadError::BadSymbolTable(
                        "cannot size .dynsym: no DT_HASH, DT_GNU_HASH or SHT_DYNSYM section",
                    ))?;
                narrow(dynsym.sh_size / u64::from(SYM_SIZE))
            }
        };
        if nsyms == 0 {
            return Err(LoadError::BadSymbolTable(".dynsym is empty"));
        }
        let bytes = nsyms
            .checked_mul(SYM_SIZE)
            .ok_or(LoadError::BadSymbolTable("symbol count overflows"))?;
        self.syms.table = self.file_bytes("DT_SYMTAB", symtab, Some(bytes))?;
        self.syms.nsyms = nsyms;
        Ok(())
    }

    #[inline]
    fn symbol(&self, index: u32, offset: u32) -> Result<Sym, LoadError> {
        self.syms
            .get(index)
            .ok_or(LoadError::BadSymbolIndex { index, offset })
    }

    fn name(&self, sym: &Sym) -> Result<&'a [u8], LoadError> {
        self.syms.name(sym).ok_or(BAD_NAME)
    }

    /// The link-time value of a symbol the image defines, `None` if undefined;
    /// the flag marks `SHN_ABS` values, to which the load base is not added.
    /// Not range-checked: `_sstack_guard` legitimately lies past the image.
    fn defined_value(sym: &Sym) -> Option<(u32, bool)> {
        match sym.st_shndx {
            abi::SHN_UNDEF => None,
            abi::SHN_ABS => Some((sym.st_value, true)),
            _ => Some((sym.st_value, false)),
        }
    }

    /// Like [`defined_value`](Self::defined_value), for a symbol a relocation
    /// uses: an address computed from it must point into the image.
    #[inline]
    fn relocation_value(&self, sym: &Sym) -> Result<Option<(u32, bool)>, LoadError> {
        match Self::defined_value(sym) {
            Some((value, false)) if value & !1 > self.size => Err(self.outside_image(sym, value)),
            v => Ok(v),
        }
    }

    #[cold]
    #[inline(never)]
    fn outside_image(&self, sym: &Sym, value: u32) -> LoadError {
        let name = SymbolName::new(self.name(sym).unwrap_or(b"?"));
        LoadError::SymbolOutsideImage { name, value }
    }

    /// The image's own defined global (or weak) symbol called `name`.
    fn find_own(&self, name: &[u8]) -> Result<Option<Sym>, LoadError> {
        self.find_own_hashed(name, hash::gnu_hash(name))
    }

    /// [`find_own`](Self::find_own) given the name's GNU hash. The GNU
    /// bloom filter's "no" is inlined here (see [`GnuHash::may_contain`]);
    /// everything else is in [`find_own_lookup`](Self::find_own_lookup).
    #[inline(always)]
    fn find_own_hashed(&self, name: &[u8], gnu_hash: u32) -> Result<Option<Sym>, LoadError> {
        if let Lookup::Gnu(table) = &self.lookup {
            if !table.may_contain(gnu_hash) {
                return Ok(None);
            }
        }
        self.find_own_lookup(name, gnu_hash)
    }

    #[inline(never)]
    fn find_own_lookup(&self, name: &[u8], gnu_hash: u32) -> Result<Option<Sym>, LoadError> {
        let found = match &self.lookup {
            Lookup::Gnu(table) => table
                .find_hashed(name, gnu_hash, &self.syms)
                .map_err(|_| LoadError::BadSymbolTable("broken DT_GNU_HASH chain"))?
                .map(|(_, sym)| sym),
            Lookup::SysV(table) => table
                .find(name, &self.syms)
                .map_err(|_| LoadError::BadSymbolTable("broken DT_HASH chain"))?
                .map(|(_, sym)| sym),
            Lookup::Linear => {
                let mut found = None;
                for index in 1..self.syms.nsyms {
                    let sym = self.symbol(index, 0)?;
                    if sym.st_shndx != abi::SHN_UNDEF && self.syms.name_eq(&sym, name).ok_or(BAD_NAME)? {
                        found = Some(sym);
                        break;
                    }
                }
                found
            }
        };
        Ok(found.filter(|s| {
            s.st_shndx != abi::SHN_UNDEF && matches!(s.st_bind(), abi::STB_GLOBAL | abi::STB_WEAK)
        }))
    }

    /// Link-time value of an exported symbol (base not added for `SHN_ABS`;
    /// exports are never absolute in lld output, so this is an offset),
    /// given the name's GNU hash (computed at compile time for the fixed
    /// names of `read_exports`).
    fn export_hashed(&self, name: &[u8], gnu_hash: u32) -> Result<Option<u32>, LoadError> {
        Ok(self
            .find_own_hashed(name, gnu_hash)?
            .as_ref()
            .and_then(Self::defined_value)
            .map(|(v, _)| v))
    }

    /// All dynamic relocations: `DT_REL`, then `DT_RELA`, then `DT_JMPREL`.
    fn relocs(&self) -> impl Iterator<Item = RawReloc> + 'a {
        fn decode(entry: &[u8], rela: bool) -> Option<RawReloc> {
            let offset = le32(entry, 0)?;
            let info = le32(entry, 4)?;
            let addend = if rela {
                Some(le32(entry, 8)? as i32)
            } else {
                None
            };
            Some(RawReloc {
                offset,
                rtype: (info & 0xff) as u8,
                sym: info >> 8,
                addend,
            })
        }
        let (rel, rela, jmprel): (&'a [u8], &'a [u8], &'a [u8]) =
            (self.rel, self.rela, self.jmprel);
        let jmprel_is_rela = self.jmprel_is_rela;
        let jmp_stride = if jmprel_is_rela { RELA_SIZE } else { REL_SIZE };
        rel.chunks_exact(REL_SIZE)
            .filter_map(|e| decode(e, false))
            .chain(rela.chunks_exact(RELA_SIZE).filter_map(|e| decode(e, true)))
            .chain(
                jmprel
                    .chunks_exact(jmp_stride)
                    .filter_map(move |e| decode(e, jmprel_is_rela)),
            )
    }

    /// Calls `f` with every dynamic relocation, in the order of
    /// [`relocs`](Self::relocs), stopping at the first error: plain loops
    /// over the three tables, for the load path.
    fn each_reloc(&self, mut f: impl FnMut(RawReloc) -> Result<(), LoadError>) -> Result<(), LoadError> {
        #[inline(always)]
        fn rel(e: &[u8], addend: Option<i32>) -> RawReloc {
            let info = le32(e, 4).unwrap_or(0);
            RawReloc { offset: le32(e, 0).unwrap_or(0), rtype: (info & 0xff) as u8, sym: info >> 8, addend }
        }
        for e in self.rel.chunks_exact(REL_SIZE) {
            f(rel(e, None))?;
        }
        for e in self.rela.chunks_exact(RELA_SIZE) {
            f(rel(e, le32(e, 8).map(|a| a as i32)))?;
        }
        if self.jmprel_is_rela {
            for e in self.jmprel.chunks_exact(RELA_SIZE) {
                f(rel(e, le32(e, 8).map(|a| a as i32)))?;
            }
        } else {
            for e in self.jmprel.chunks_exact(REL_SIZE) {
                f(rel(e, None))?;
            }
        }
        Ok(())
    }

    /// Everything about a relocation that can be checked before loading.
    fn check_reloc(&self, r: RawReloc) -> Result<(), LoadError> {
        match r.rtype {
            R_ARM_NONE => return Ok(()),
            R_ARM_ABS32 | R_ARM_GLOB_DAT | R_ARM_JUMP_SLOT | R_ARM_RELATIVE | R_ARM_PREL31 => {}
            rtype => {
                return Err(LoadError::UnknownRelocation {
                    rtype,
                    offset: r.offset,
                })
            }
        }
        if r.offset.checked_add(4).is_none_or(|end| end > self.size) {
            return Err(LoadError::RelocationOutsideImage {
                rtype: r.rtype,
                offset: r.offset,
            });
        }
        if r.sym != 0 && r.rtype != R_ARM_RELATIVE {
            let sym = self.symbol(r.sym, r.offset)?;
            if !self.syms.name_ok(&sym) {
                return Err(BAD_NAME);
            }
            self.relocation_value(&sym)?;
        }
        Ok(())
    }

    /// Address S of relocation symbol `index` for an image based at `base`.
    fn resolve_symbol(
        &self,
        index: u32,
        offset: u32,
        base: u32,
        resolve: &(impl Resolve + ?Sized),
    ) -> Result<u32, LoadError> {
        if index == 0 {
            return Ok(0);
        }
        let sym = self.symbol(index, offset)?;
        let relocate = |(value, absolute): (u32, bool)| {
            if absolute {
                value
            } else {
                base.wrapping_add(value)
            }
        };
        if let Some(v) = self.relocation_value(&sym)? {
            return Ok(relocate(v));
        }
        // An import: its name and GNU hash in one pass (the hash is what
        // the image's own lookup needs first).
        let (name, hash) = self.syms.name_and_hash(&sym).ok_or(BAD_NAME)?;
        if let Some(own) = self.find_own_hashed(name, hash)? {
            if let Some(v) = self.relocation_value(&own)? {
                return Ok(relocate(v));
            }
        }
        // `ok_or_else`: the error's copy of the name is made only on failure.
        resolve.resolve(name, hash).ok_or_else(|| LoadError::UnresolvedSymbol {
            name: SymbolName::new(name),
        })
    }

    /// Copies the image into `dest`, relocated for execution at `load_addr`.
    ///
    /// `dest` must hold at least [`size`](Self::size) bytes; only that prefix
    /// is written. `load_addr` must be a multiple of [`align`](Self::align).
    /// `resolve` maps an imported symbol name to its address (see
    /// [`crate::api::resolve`] on the target).
    ///
    /// This only writes memory. Before running the kernel the caller must
    /// clean the D-cache and invalidate the I-cache and branch predictor over
    /// the image (see the module documentation). On error `dest` holds
    /// garbage and nothing else has changed.
    pub fn load(
        &self,
        dest: &mut [u8],
        load_addr: u32,
        resolve: &dyn Fn(&[u8]) -> Option<u32>,
    ) -> Result<Loaded, LoadError> {
        self.load_with(dest, load_addr, resolve)
    }

    /// [`load`](Self::load) with any [`Resolve`]r: the firmware's
    /// [`crate::api::Resolver`] takes the name's hash the loader computed
    /// rather than hashing the name again.
    pub fn load_with<R: Resolve + ?Sized>(
        &self,
        dest: &mut [u8],
        load_addr: u32,
        resolve: &R,
    ) -> Result<Loaded, LoadError> {
        let size = self.size;
        let available = dest.len();
        let image = dest
            .get_mut(..size as usize)
            .ok_or(LoadError::DestinationTooSmall {
                needed: size,
                available,
            })?;
        // `align` is a power of two.
        if load_addr & (self.align - 1) != 0 || load_addr.checked_add(size).is_none() {
            return Err(LoadError::BadLoadAddress {
                addr: load_addr,
                align: self.align,
                size,
            });
        }

        // The segments by address, each gap zeroed: before the first,
        // between them (with each one's memsz - filesz tail) and after the
        // last. They do not overlap (checked in `parse`), so every byte of
        // the image is written exactly once.
        let mut zeroed_to = 0usize;
        for &i in self.order.get(..self.nsegments).unwrap_or(&[]) {
            let Some(seg) = self.segments.get(usize::from(i)) else { continue };
            let outside = LoadError::SegmentOutsideLayout {
                what: "PT_LOAD",
                vaddr: seg.vaddr,
                size: seg.memsz,
            };
            let from = seg.offset as usize;
            let src = self
                .elf
                .get(from..from + seg.filesz as usize)
                .ok_or(outside)?;
            let to = seg.vaddr as usize;
            image.get_mut(zeroed_to..to).ok_or(outside)?.fill(0);
            let dst = image.get_mut(to..to + seg.filesz as usize).ok_or(outside)?;
            dst.copy_from_slice(src);
            zeroed_to = to + seg.filesz as usize;
        }
        if let Some(tail) = image.get_mut(zeroed_to..) {
            tail.fill(0);
        }
        if let Some(bss) = image.get_mut(self.bss.start as usize..self.bss.end as usize) {
            bss.fill(0);
        }

        // Every relocation passed `check_reloc` in `parse`, on these same
        // (borrowed, immutable) bytes: its type is known, its word inside
        // the image, its symbol index, name and value valid. What is left
        // to fail here needs the resolver or the load address.
        self.each_reloc(|r| {
            if r.rtype == R_ARM_NONE {
                return Ok(());
            }
            let at = r.offset as usize;
            let outside = LoadError::RelocationOutsideImage {
                rtype: r.rtype,
                offset: r.offset,
            };
            let word = le32(image, at).ok_or(outside)?;
            let value = match r.rtype {
                R_ARM_RELATIVE => load_addr.wrapping_add(r.addend.map_or(word, |a| a as u32)),
                R_ARM_GLOB_DAT | R_ARM_JUMP_SLOT => {
                    let s = self.resolve_symbol(r.sym, r.offset, load_addr, resolve)?;
                    s.wrapping_add(r.addend.unwrap_or(0) as u32)
                }
                R_ARM_ABS32 => {
                    let s = self.resolve_symbol(r.sym, r.offset, load_addr, resolve)?;
                    s.wrapping_add(r.addend.map_or(word, |a| a as u32))
                }
                R_ARM_PREL31 => {
                    let s = self.resolve_symbol(r.sym, r.offset, load_addr, resolve)?;
                    // In-place addend: bits 0-30, sign-extended from bit 30.
                    let a = r.addend.unwrap_or(((word << 1) as i32) >> 1);
                    let p = load_addr.wrapping_add(r.offset);
                    let v = i64::from(s) + i64::from(a) - i64::from(p);
                    // The field is a signed 31-bit offset; with 32-bit
                    // addresses, a difference that wraps is still exact.
                    let v = v as i32;
                    if !(-(1 << 30)..(1 << 30)).contains(&v) {
                        return Err(LoadError::RelocationOverflow {
                            rtype: r.rtype,
                            offset: r.offset,
                        });
                    }
                    (word & 0x8000_0000) | (v as u32 & 0x7fff_ffff)
                }
                rtype => {
                    return Err(LoadError::UnknownRelocation {
                        rtype,
                        offset: r.offset,
                    })
                }
            };
            image
                .get_mut(at..at + 4)
                .ok_or(outside)?
                .copy_from_slice(&value.to_le_bytes());
            Ok(())
        })?;

        Ok(Loaded {
            load_addr,
            size,
            // In range: load_addr + size does not wrap (checked above).
            entry: load_addr.wrapping_add(self.entry),
            bss: load_addr.wrapping_add(self.bss.start)..load_addr.wrapping_add(self.bss.end),
            exidx: load_addr.wrapping_add(self.exidx.start)..load_addr.wrapping_add(self.exidx.end),
            sstack_guard: self.sstack_guard.map(|g| load_addr.wrapping_add(g)),
        })
    }

    /// The names of the symbols the image imports: those its relocations use
    /// that it does not define itself, each once, in relocation order.
    pub fn imports(&self) -> Result<Vec<&'a [u8]>, LoadError> {
        let mut names: Vec<&'a [u8]> = Vec::new();
        for r in self.relocs() {
            if r.sym == 0 || r.rtype == R_ARM_RELATIVE || r.rtype == R_ARM_NONE {
                continue;
            }
            let sym = self.symbol(r.sym, r.offset)?;
            if Self::defined_value(&sym).is_some() {
                continue;
            }
            let name = self.name(&sym)?;
            if self.find_own(name)?.is_none() && !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Every dynamic relocation, for diagnostics.
    pub fn relocations(&self) -> Result<Vec<Relocation<'a>>, LoadError> {
        let mut out = Vec::new();
        for r in self.relocs() {
            let (symbol, defined) = if r.sym == 0 {
                (&b""[..], false)
            } else {
                let sym = self.symbol(r.sym, r.offset)?;
                (self.name(&sym)?, sym.st_shndx != abi::SHN_UNDEF)
            };
            out.push(Relocation {
                offset: r.offset,
                rtype: r.rtype,
                symbol,
                defined,
                addend: r.addend,
            });
        }
        Ok(out)
    }
}
