//! Why a kernel image was refused.

use core::fmt;

/// Longest symbol name kept in an error. ARTIQ API names are far shorter;
/// anything longer is cut and marked as such.
pub const SYMBOL_NAME_MAX: usize = 64;

/// A symbol name carried by value inside an error, bounded so that building an
/// error never allocates (a failed load may be the consequence of an
/// exhausted heap).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SymbolName {
    bytes: [u8; SYMBOL_NAME_MAX],
    len: u8,
    truncated: bool,
}

impl SymbolName {
    /// Keeps the first [`SYMBOL_NAME_MAX`] bytes of `name`.
    pub fn new(name: &[u8]) -> Self {
        let len = name.len().min(SYMBOL_NAME_MAX);
        let mut bytes = [0; SYMBOL_NAME_MAX];
        if let (Some(dst), Some(src)) = (bytes.get_mut(..len), name.get(..len)) {
            dst.copy_from_slice(src);
        }
        SymbolName {
            bytes,
            len: len as u8,
            truncated: name.len() > SYMBOL_NAME_MAX,
        }
    }

    /// The kept bytes (not necessarily UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Whether the original name was longer than what is kept.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Display for SymbolName {
    /// Valid UTF-8 is shown as is, other bytes as `\xNN`; a cut name ends in `…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.as_bytes().utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if self.truncated {
            f.write_str("…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SymbolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Every reason [`Kernel::parse`](super::Kernel::parse) or
/// [`Kernel::load`](super::Kernel::load) can refuse an image. Offsets are file
/// offsets, addresses are link-time virtual addresses (the image is linked at
/// 0, so they are also offsets into the loaded image).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The file does not start with the ELF magic.
    NotElf,
    /// A structure the header points to ends past the end of the file.
    Truncated {
        what: &'static str,
        start: u64,
        end: u64,
        file_len: usize,
    },
    /// `EI_CLASS` is not ELFCLASS32.
    WrongClass(u8),
    /// `EI_DATA` is not little-endian.
    WrongEndianness(u8),
    /// `e_type` is not `ET_DYN`.
    WrongType(u16),
    /// `e_machine` is not `EM_ARM`.
    WrongMachine(u16),
    /// `e_flags` is not EABI version 5 with the hard-float calling convention.
    WrongAbi(u32),
    /// Any other malformed header field.
    BadHeader(&'static str),
    /// A segment type this loader cannot honour (e.g. `PT_TLS`).
    UnsupportedSegment { index: u16, p_type: u32 },
    /// A segment's file bytes lie outside the file.
    SegmentOutsideFile {
        index: u16,
        offset: u32,
        size: u32,
        file_len: usize,
    },
    /// A segment lies outside the memory layout (wraps around the address
    /// space, or is not covered by a `PT_LOAD`).
    SegmentOutsideLayout {
        what: &'static str,
        vaddr: u32,
        size: u32,
    },
    /// `p_filesz > p_memsz`.
    SegmentFileLargerThanMemory { index: u16, filesz: u32, memsz: u32 },
    /// Two `PT_LOAD` segments share memory.
    OverlappingSegments { first: u32, second: u32 },
    /// A value that must be a multiple of `align` is not (or `align` itself is
    /// not a usable power of two).
    Misaligned {
        what: &'static str,
        value: u32,
        align: u32,
    },
    /// The memory image is larger than [`MAX_IMAGE_SIZE`](super::MAX_IMAGE_SIZE).
    ImageTooLarge { size: u64, max: u32 },
    /// The dynamic section is missing something or contradicts itself.
    BadDynamic(&'static str),
    /// A table the dynamic section points to is not inside the file-backed
    /// part of a `PT_LOAD` segment.
    TableOutsideImage {
        table: &'static str,
        vaddr: u32,
        size: u32,
    },
    /// The dynamic symbol, string or hash tables cannot be read.
    BadSymbolTable(&'static str),
    /// A relocation names a symbol index past the end of `.dynsym`.
    BadSymbolIndex { index: u32, offset: u32 },
    /// A defined symbol's value is outside the image.
    SymbolOutsideImage { name: SymbolName, value: u32 },
    /// A relocation type this loader does not implement.
    UnknownRelocation { rtype: u8, offset: u32 },
    /// A relocation would write outside the image.
    RelocationOutsideImage { rtype: u8, offset: u32 },
    /// A relocated value does not fit its field (`R_ARM_PREL31`: ±1 GiB).
    RelocationOverflow { rtype: u8, offset: u32 },
    /// Neither the image nor the firmware defines this symbol.
    UnresolvedSymbol { name: SymbolName },
    /// The image does not export `__modinit__`.
    MissingEntry,
    /// `__modinit__`, `__bss_start` or `_end` has an impossible value.
    BadExport { name: &'static str, value: u32 },
    /// The caller's buffer is shorter than the image.
    DestinationTooSmall { needed: u32, available: usize },
    /// The caller's load address is misaligned, or the image would wrap
    /// around the address space there.
    BadLoadAddress { addr: u32, align: u32, size: u32 },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LoadError::*;
        match *self {
            NotElf => f.write_str("not an ELF file (bad magic)"),
            Truncated { what, start, end, file_len } => write!(
                f,
                "truncated ELF: {what} spans file bytes {start:#x}..{end:#x} but the file is {file_len:#x} bytes"
            ),
            WrongClass(c) => write!(f, "ELF class {c}, expected 1 (32-bit)"),
            WrongEndianness(d) => write!(f, "ELF data encoding {d}, expected 1 (little-endian)"),
            WrongType(t) => write!(f, "ELF type {t}, expected 3 (ET_DYN shared object)"),
            WrongMachine(m) => write!(f, "ELF machine {m}, expected 40 (EM_ARM)"),
            WrongAbi(flags) => write!(
                f,
                "ELF flags {flags:#010x}: expected ARM EABI version 5 with the hard-float ABI"
            ),
            BadHeader(why) => write!(f, "bad ELF header: {why}"),
            UnsupportedSegment { index, p_type } => {
                write!(f, "program header {index}: unsupported segment type {p_type:#x}")
            }
            SegmentOutsideFile { index, offset, size, file_len } => write!(
                f,
                "program header {index}: file bytes {offset:#x}+{size:#x} lie outside the {file_len:#x}-byte file"
            ),
            SegmentOutsideLayout { what, vaddr, size } => write!(
                f,
                "{what} at {vaddr:#x}+{size:#x} lies outside the image's memory layout"
            ),
            SegmentFileLargerThanMemory { index, filesz, memsz } => write!(
                f,
                "program header {index}: file size {filesz:#x} exceeds memory size {memsz:#x}"
            ),
            OverlappingSegments { first, second } => {
                write!(f, "PT_LOAD segments at {first:#x} and {second:#x} overlap")
            }
            Misaligned { what, value, align } => {
                write!(f, "{what} {value:#x} is not aligned to {align:#x}")
            }
            ImageTooLarge { size, max } => {
                write!(f, "image needs {size:#x} bytes of memory, more than the {max:#x} allowed")
            }
            BadDynamic(why) => write!(f, "bad dynamic section: {why}"),
            TableOutsideImage { table, vaddr, size } => write!(
                f,
                "{table} at {vaddr:#x}+{size:#x} is not inside the file-backed image"
            ),
            BadSymbolTable(why) => write!(f, "bad dynamic symbol table: {why}"),
            BadSymbolIndex { index, offset } => write!(
                f,
                "relocation at {offset:#x} refers to symbol index {index}, past the end of .dynsym"
            ),
            SymbolOutsideImage { ref name, value } => {
                write!(f, "symbol `{name}` has value {value:#x}, outside the image")
            }
            UnknownRelocation { rtype, offset } => {
                write!(f, "unsupported relocation type {rtype} at offset {offset:#x}")
            }
            RelocationOutsideImage { rtype, offset } => write!(
                f,
                "relocation type {rtype} at offset {offset:#x} would write outside the image"
            ),
            RelocationOverflow { rtype, offset } => write!(
                f,
                "relocation type {rtype} at offset {offset:#x}: value does not fit the field"
            ),
            UnresolvedSymbol { ref name } => write!(f, "unresolved symbol `{name}`"),
            MissingEntry => f.write_str("the image does not export `__modinit__`"),
            BadExport { name, value } => {
                write!(f, "exported symbol `{name}` has impossible value {value:#x}")
            }
            DestinationTooSmall { needed, available } => write!(
                f,
                "destination buffer holds {available:#x} bytes, the image needs {needed:#x}"
            ),
            BadLoadAddress { addr, align, size } => write!(
                f,
                "cannot load a {size:#x}-byte image aligned to {align:#x} at address {addr:#x}"
            ),
        }
    }
}

impl core::error::Error for LoadError {}

/// Turns a parse error of the `elf` crate met while reading `what` into ours.
/// Only bounds failures can reach here (the rest is validated first), but
/// every variant is mapped so that no input can panic.
pub(super) fn from_parse(what: &'static str, file_len: usize, e: elf::ParseError) -> LoadError {
    use elf::ParseError as P;
    match e {
        P::BadMagic(_) => LoadError::NotElf,
        P::UnsupportedElfClass(c) => LoadError::WrongClass(c),
        P::UnsupportedElfEndianness(d) => LoadError::WrongEndianness(d),
        P::SliceReadError((start, end)) => LoadError::Truncated {
            what,
            start: start as u64,
            end: end as u64,
            file_len,
        },
        _ => LoadError::BadHeader(what),
    }
}
