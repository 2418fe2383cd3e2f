//! ARTIQ exceptions: the in-memory object kernels raise, and the serialised
//! form a satellite sends to the master in `SubkernelException` slices.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use libio::{Cursor, Error as IoError, Read, Write};

/// Exception ids fixed by the ARTIQ compiler (the host preallocates the same
/// table); other ids index the host's string table.
pub mod id {
    pub const RTIO_UNDERFLOW: u32 = 0;
    pub const RTIO_OVERFLOW: u32 = 1;
    pub const RTIO_DESTINATION_UNREACHABLE: u32 = 2;
    pub const DMA_ERROR: u32 = 3;
    pub const I2C_ERROR: u32 = 4;
    pub const CACHE_ERROR: u32 = 5;
    pub const SPI_ERROR: u32 = 6;
    pub const SUBKERNEL_ERROR: u32 = 7;
    pub const ASSERTION_ERROR: u32 = 8;
    pub const ATTRIBUTE_ERROR: u32 = 9;
    pub const INDEX_ERROR: u32 = 10;
    pub const IO_ERROR: u32 = 11;
    pub const KEY_ERROR: u32 = 12;
    pub const NOT_IMPLEMENTED_ERROR: u32 = 13;
    pub const OVERFLOW_ERROR: u32 = 14;
    pub const RUNTIME_ERROR: u32 = 15;
    pub const TIMEOUT_ERROR: u32 = 16;
    pub const TYPE_ERROR: u32 = 17;
    pub const VALUE_ERROR: u32 = 18;
    pub const ZERO_DIVISION_ERROR: u32 = 19;
    pub const LINALG_ERROR: u32 = 20;
    pub const UNWRAP_NONE_ERROR: u32 = 21;
    pub const CXP_ERROR: u32 = 22;
}

/// A string as kernels lay it out: pointer and u32 length, no terminator.
/// A length of `u32::MAX` means the pointer is a key into the host's string
/// table (exceptions that came from host RPCs).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSlice {
    pub ptr: *const u8,
    pub len: u32,
}

impl CSlice {
    pub const fn new(s: &'static str) -> CSlice {
        CSlice { ptr: s.as_ptr(), len: s.len() as u32 }
    }

    pub fn from_bytes(s: &[u8]) -> CSlice {
        CSlice { ptr: s.as_ptr(), len: s.len() as u32 }
    }

    pub fn is_host_key(&self) -> bool {
        self.len == u32::MAX
    }

    /// The string's bytes; empty for a host key (whose `ptr` is a key, not
    /// an address).
    ///
    /// # Safety
    /// Unless this is a host key, `ptr` must point to `len` readable bytes
    /// that stay unchanged for `'a`.
    pub unsafe fn as_bytes<'a>(&self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() || self.is_host_key() {
            &[]
        } else {
            // SAFETY: not a host key, so the caller's contract applies.
            unsafe { core::slice::from_raw_parts(self.ptr, self.len as usize) }
        }
    }
}

/// The exception object of the ARTIQ 9 ABI (64 bytes, 8-aligned on the
/// 32-bit target): what a kernel passes to `__artiq_raise`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Exception {
    pub id: u32,
    pub file: CSlice,
    pub line: u32,
    pub column: u32,
    /// Mangled function name.
    pub function: CSlice,
    /// May hold `{0}`..`{2}`, formatted with `param` by the host.
    pub message: CSlice,
    pub param: [i64; 3],
}

impl Exception {
    /// An exception raised by the firmware itself.
    pub const fn firmware(id: u32, message: &'static str, param: [i64; 3]) -> Exception {
        Exception {
            id,
            file: CSlice::new("<satman>"),
            line: 0,
            column: 0,
            function: CSlice::new("(firmware)"),
            message: CSlice::new(message),
            param,
        }
    }
}

/// Leading bytes of the serialised form: the reference writes the
/// KernelException sync header as a length-prefixed byte string, and the
/// master synchronises on the `5A`s and the `09`, so we keep the same bytes.
const HEADER: [u8; 9] = [5, 0, 0, 0, 0x5A, 0x5A, 0x5A, 0x5A, 0x09];

fn write_str(w: &mut Vec<u8>, s: &[u8]) {
    let _ = w.write_u32(s.len() as u32);
    let _ = w.write_all(s);
}

/// Serialises one exception (with an optional backtrace of `(ip, sp)`
/// pairs) the way the master expects it in `SubkernelException` data.
///
/// # Safety
/// The exception's strings must be readable (or host keys).
pub unsafe fn serialize(exn: &Exception, backtrace: &[(u32, u32)], out: &mut Vec<u8>) {
    out.extend_from_slice(&HEADER);
    let _ = out.write_u32(1);
    let _ = out.write_u32(exn.id);
    if exn.message.is_host_key() {
        let _ = out.write_u32(u32::MAX);
        let _ = out.write_u32(exn.message.ptr as usize as u32);
    } else {
        // SAFETY: the caller's contract: the exception's strings are
        // readable or host keys (which `as_bytes` does not dereference).
        write_str(out, unsafe { exn.message.as_bytes() });
    }
    for p in exn.param {
        let _ = out.write_u64(p as u64);
    }
    // SAFETY: as above.
    write_str(out, unsafe { exn.file.as_bytes() });
    let _ = out.write_u32(exn.line);
    let _ = out.write_u32(exn.column);
    // SAFETY: as above.
    write_str(out, unsafe { exn.function.as_bytes() });
    // Stack pointer info: sp, initial and current backtrace sizes.
    let _ = out.write_u32(backtrace.first().map_or(0, |f| f.1));
    let _ = out.write_u32(backtrace.len() as u32);
    let _ = out.write_u32(backtrace.len() as u32);
    let _ = out.write_u32(backtrace.len() as u32);
    for &(ip, sp) in backtrace {
        let _ = out.write_u32(ip);
        let _ = out.write_u32(sp);
    }
    out.push(0);
}

/// Serialises a firmware-made exception with owned strings.
pub fn serialize_message(id: u32, message: &str, param: [i64; 3], out: &mut Vec<u8>) {
    let exn = Exception {
        id,
        file: CSlice::new("<satman>"),
        line: 0,
        column: 0,
        function: CSlice::new("(firmware)"),
        message: CSlice::from_bytes(message.as_bytes()),
        param,
    };
    // SAFETY: the strings are `'static` literals and `message`, a borrow that outlives this call.
    unsafe { serialize(&exn, &[], out) }
}

/// The first exception of a serialised blob, as the master decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedException {
    pub id: u32,
    /// `None` for a host string-table key.
    pub message: Option<String>,
    pub param: [i64; 3],
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub function: String,
}

impl fmt::Display for ParsedException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exception {} ({}:{}:{} in {}): {} {:?}",
            self.id,
            self.file,
            self.line,
            self.column,
            self.function,
            self.message.as_deref().unwrap_or("<host string>"),
            self.param
        )
    }
}

fn read_string(r: &mut Cursor<&[u8]>) -> Result<String, IoError> {
    let len = r.read_u32()? as usize;
    let bytes = r.take(len)?;
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// Decodes the first exception of a serialised blob, synchronising on the
/// header as the master does.
pub fn parse(blob: &[u8]) -> Result<ParsedException, IoError> {
    let start = blob.windows(5).position(|w| w == [0x5A, 0x5A, 0x5A, 0x5A, 0x09]).ok_or(IoError::UnexpectedEnd)?;
    let mut r = Cursor::new(&blob[start + 5..]);
    let count = r.read_u32()?;
    if count == 0 {
        return Err(IoError::UnexpectedEnd);
    }
    let id = r.read_u32()?;
    let len = r.read_u32()?;
    let message = if len == u32::MAX {
        r.read_u32()?;
        None
    } else {
        Some(String::from_utf8_lossy(r.take(len as usize)?).into_owned())
    };
    let param = [r.read_i64()?, r.read_i64()?, r.read_i64()?];
    let file = read_string(&mut r)?;
    let line = r.read_u32()?;
    let column = r.read_u32()?;
    let function = read_string(&mut r)?;
    Ok(ParsedException { id, message, param, file, line, column, function })
}

/// The backtrace of a serialised blob: the `(ip, sp)` pairs after the
/// exceptions (ip relative to the kernel image's base, innermost first).
pub fn parse_backtrace(blob: &[u8]) -> Result<Vec<(u32, u32)>, IoError> {
    let start = blob.windows(5).position(|w| w == [0x5A, 0x5A, 0x5A, 0x5A, 0x09]).ok_or(IoError::UnexpectedEnd)?;
    let mut r = Cursor::new(&blob[start + 5..]);
    let count = r.read_u32()?;
    for _ in 0..count {
        r.read_u32()?;
        let len = r.read_u32()?;
        if len == u32::MAX {
            r.read_u32()?;
        } else {
            r.take(len as usize)?;
        }
        for _ in 0..3 {
            r.read_u64()?;
        }
        read_string(&mut r)?;
        r.read_u32()?;
        r.read_u32()?;
        read_string(&mut r)?;
    }
    for _ in 0..count {
        for _ in 0..3 {
            r.read_u32()?;
        }
    }
    let n = r.read_u32()?;
    let mut pairs = Vec::new();
    for _ in 0..n {
        pairs.push((r.read_u32()?, r.read_u32()?));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_32_bit_abi() {
        // On the ARM target the object is 64 bytes with params at 40.
        if core::mem::size_of::<usize>() == 4 {
            assert_eq!(core::mem::size_of::<Exception>(), 64);
            assert_eq!(core::mem::offset_of!(Exception, message), 28);
            assert_eq!(core::mem::offset_of!(Exception, param), 40);
        }
        assert_eq!(core::mem::align_of::<Exception>(), 8);
    }

    #[test]
    fn serialised_form_round_trips() {
        let exn = Exception {
            id: id::VALUE_ERROR,
            file: CSlice::new("k.py"),
            line: 12,
            column: 4,
            function: CSlice::new("_Z3run"),
            message: CSlice::new("bad value {0}"),
            param: [42, -1, 7],
        };
        let mut blob = Vec::new();
        // SAFETY: every string is a `'static` literal.
        unsafe { serialize(&exn, &[(0x100, 0x2000)], &mut blob) };
        assert_eq!(&blob[..13], &[5, 0, 0, 0, 0x5A, 0x5A, 0x5A, 0x5A, 9, 1, 0, 0, 0]);
        assert_eq!(&blob[13..17], &18u32.to_le_bytes());
        assert_eq!(*blob.last().unwrap(), 0);
        let p = parse(&blob).unwrap();
        assert_eq!(parse_backtrace(&blob).unwrap(), [(0x100, 0x2000)]);
        assert_eq!(p.id, 18);
        assert_eq!(p.message.as_deref(), Some("bad value {0}"));
        assert_eq!(p.param, [42, -1, 7]);
        assert_eq!((p.file.as_str(), p.line, p.column, p.function.as_str()), ("k.py", 12, 4, "_Z3run"));
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!(parse(&[1, 2, 3]).is_err());
        let mut blob = Vec::new();
        serialize_message(id::SUBKERNEL_ERROR, "stopped", [0; 3], &mut blob);
        for n in 0..blob.len() - 30 {
            assert!(parse(&blob[..n]).is_err(), "{}", n);
        }
        assert_eq!(parse(&blob).unwrap().message.as_deref(), Some("stopped"));
        assert_eq!(parse_backtrace(&blob).unwrap(), []);
        assert!(parse_backtrace(&blob[..blob.len() - 2]).is_err());
    }
}
