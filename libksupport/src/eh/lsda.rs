//! The language-specific data area ARTIQ kernels carry after the unwind
//! opcodes of each function with landing pads (GCC's format, with the ARM
//! conventions of the ARTIQ link):
//!
//! ```text
//! u8       LPStart encoding (0xff: omitted, landing pads relative to the function start)
//! [encoded LPStart]
//! u8       TType encoding (0xff: no type table)
//! [uleb128 offset from the end of this field to the end of the type table]
//! u8       call-site encoding (uleb128)
//! uleb128  call-site table length
//! call sites: {start, length, landing pad, action (uleb128)}, the first
//!             three relative to LPStart; landing pad 0 = none;
//!             action 0 = cleanup only, else 1 + offset into the action table
//! action table: {filter sleb128, next sleb128 (relative to the next field, 0 = end)}
//! type table, indexed backwards from its end: filter n > 0 is the entry
//!             n entries before the end
//! ```
//!
//! The type table's encoding byte says absptr, but the ARTIQ link uses
//! `--target2=rel`: each 32-bit entry is an offset, relative to the entry
//! itself, to the 4-byte exception id the clause catches; 0 catches all.
//! Negative filters (exception specifications) are not produced by the
//! ARTIQ compiler and never match. An address with no call-site entry has
//! no handler in the frame (the walk continues; C++ would terminate).

use super::{read32, read8, Error, Memory};

const DW_EH_PE_OMIT: u8 = 0xff;
const DW_EH_PE_INDIRECT: u8 = 0x80;

/// Most action records followed in one chain (a corrupt table could loop).
const MAX_ACTIONS: usize = 256;

/// What a frame does with an exception raised at one of its call sites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameAction {
    /// No landing pad for this exception here.
    Continue,
    /// A landing pad that only cleans up (`finally`, or `except` clauses
    /// that do not match besides a cleanup).
    Cleanup(u32),
    /// A landing pad with a clause that catches this exception.
    Catch(u32),
}

/// A cursor over the LSDA bytes.
struct Cursor<'m, M: Memory + ?Sized> {
    mem: &'m M,
    at: u32,
}

impl<M: Memory + ?Sized> Cursor<'_, M> {
    fn u8(&mut self) -> Result<u8, Error> {
        let b = read8(self.mem, self.at)?;
        self.at = self.at.checked_add(1).ok_or(Error::BadRead(self.at))?;
        Ok(b)
    }

    fn uleb(&mut self) -> Result<u32, Error> {
        let start = self.at;
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(v).map_err(|_| Error::Malformed("uleb128", start));
            }
        }
        Err(Error::Malformed("uleb128", start))
    }

    fn sleb(&mut self) -> Result<i32, Error> {
        let start = self.at;
        let mut v: i64 = 0;
        let mut shift = 0;
        for _ in 0..10 {
            let b = self.u8()?;
            v |= ((b & 0x7f) as i64) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return i32::try_from(v).map_err(|_| Error::Malformed("sleb128", start));
            }
        }
        Err(Error::Malformed("sleb128", start))
    }

    fn bytes(&mut self, n: u32) -> Result<u32, Error> {
        let mut v = 0u32;
        for i in 0..n {
            v |= (self.u8()? as u32) << (8 * i);
        }
        Ok(v)
    }

    /// A value in a DW_EH_PE format (low nibble) without application.
    fn value(&mut self, enc: u8) -> Result<u32, Error> {
        Ok(match enc & 0x0f {
            0x00 | 0x03 | 0x0b => self.bytes(4)?,
            0x01 => self.uleb()?,
            0x09 => self.sleb()? as u32,
            0x02 => self.bytes(2)?,
            0x0a => self.bytes(2)? as u16 as i16 as i32 as u32,
            _ => return Err(Error::Unsupported("pointer encoding", enc as u32)),
        })
    }

    /// A pointer in a DW_EH_PE encoding: absolute or pc-relative, maybe
    /// indirect.
    fn pointer(&mut self, enc: u8) -> Result<u32, Error> {
        let place = self.at;
        let v = self.value(enc)?;
        let v = match enc & 0x70 {
            0x00 => v,
            0x10 => place.wrapping_add(v),
            _ => return Err(Error::Unsupported("pointer application", enc as u32)),
        };
        if enc & DW_EH_PE_INDIRECT != 0 {
            read32(self.mem, v)
        } else {
            Ok(v)
        }
    }
}

/// Size in bytes of a type-table entry in encoding `enc`.
fn ttype_size(enc: u8) -> Result<u32, Error> {
    match enc & 0x0f {
        0x00 | 0x03 | 0x0b => Ok(4),
        0x02 | 0x0a => Ok(2),
        _ => Err(Error::Unsupported("type table encoding", enc as u32)),
    }
}

/// The parsed header of one LSDA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Base of the landing-pad addresses.
    pub lp_start: u32,
    pub ttype_enc: u8,
    /// End of the type table (entries are read backwards from here).
    pub ttype_base: Option<u32>,
    pub call_site_enc: u8,
    pub call_sites: u32,
    /// Start of the action table (the end of the call-site table).
    pub actions: u32,
}

/// Parses the LSDA header at `lsda` of the function starting at `fn_start`.
pub fn header<M: Memory + ?Sized>(mem: &M, lsda: u32, fn_start: u32) -> Result<Header, Error> {
    let mut c = Cursor { mem, at: lsda };
    let lp_enc = c.u8()?;
    let lp_start = if lp_enc == DW_EH_PE_OMIT { fn_start } else { c.pointer(lp_enc)? };
    let ttype_enc = c.u8()?;
    let ttype_base = if ttype_enc == DW_EH_PE_OMIT {
        None
    } else {
        let off = c.uleb()?;
        Some(c.at.checked_add(off).ok_or(Error::Malformed("type table offset", c.at))?)
    };
    let call_site_enc = c.u8()?;
    let len = c.uleb()?;
    let call_sites = c.at;
    let actions = call_sites.checked_add(len).ok_or(Error::Malformed("call-site table length", call_sites))?;
    Ok(Header { lp_start, ttype_enc, ttype_base, call_site_enc, call_sites, actions })
}

/// The call-site entry covering `ip`: `(landing pad or 0, action)`, or
/// `None` if no entry covers it.
pub fn call_site<M: Memory + ?Sized>(mem: &M, h: &Header, ip: u32) -> Result<Option<(u32, u32)>, Error> {
    if h.call_site_enc & 0x70 != 0 || h.call_site_enc == DW_EH_PE_OMIT {
        return Err(Error::Unsupported("call-site encoding", h.call_site_enc as u32));
    }
    let mut c = Cursor { mem, at: h.call_sites };
    // Each entry takes at least 4 bytes: the loop ends with the table.
    while c.at < h.actions {
        let start = c.value(h.call_site_enc)?;
        let len = c.value(h.call_site_enc)?;
        let pad = c.value(h.call_site_enc)?;
        let action = c.uleb()?;
        let begin = h.lp_start.wrapping_add(start);
        if ip.wrapping_sub(begin) < len {
            let pad = if pad == 0 { 0 } else { h.lp_start.wrapping_add(pad) };
            return Ok(Some((pad, action)));
        }
    }
    Ok(None)
}

/// The exception id type-table entry `filter` (> 0) catches; `None` for a
/// catch-all (null) entry.
pub fn catch_type<M: Memory + ?Sized>(mem: &M, h: &Header, filter: u32) -> Result<Option<u32>, Error> {
    let base = h.ttype_base.ok_or(Error::Malformed("catch clause without a type table", h.actions))?;
    let size = ttype_size(h.ttype_enc)?;
    let at = filter
        .checked_mul(size)
        .and_then(|off| base.checked_sub(off))
        .ok_or(Error::Malformed("type filter", filter))?;
    let mut c = Cursor { mem, at };
    let raw = c.value(h.ttype_enc)?;
    if raw == 0 {
        return Ok(None);
    }
    // absptr means R_ARM_TARGET2, which `--target2=rel` makes self-relative;
    // pcrel is the same; an absolute format is taken as it is.
    let addr = match (h.ttype_enc & 0x70, h.ttype_enc & 0x0f) {
        (0x00, 0x00) | (0x10, _) => at.wrapping_add(raw),
        (0x00, _) => raw,
        _ => return Err(Error::Unsupported("type table application", h.ttype_enc as u32)),
    };
    let addr = if h.ttype_enc & DW_EH_PE_INDIRECT != 0 { read32(mem, addr)? } else { addr };
    Ok(Some(read32(mem, addr)?))
}

/// What the frame whose LSDA is at `lsda` (function at `fn_start`) does
/// with exception `exn_id` raised at `ip`.
pub fn frame_action<M: Memory + ?Sized>(mem: &M, lsda: u32, fn_start: u32, ip: u32, exn_id: u32) -> Result<FrameAction, Error> {
    let h = header(mem, lsda, fn_start)?;
    let Some((pad, action)) = call_site(mem, &h, ip)? else { return Ok(FrameAction::Continue) };
    if pad == 0 {
        return Ok(FrameAction::Continue);
    }
    if action == 0 {
        return Ok(FrameAction::Cleanup(pad));
    }
    let mut at = h.actions.checked_add(action - 1).ok_or(Error::Malformed("action offset", action))?;
    let mut cleanup = false;
    for _ in 0..MAX_ACTIONS {
        let mut c = Cursor { mem, at };
        let filter = c.sleb()?;
        let next_at = c.at;
        let next = c.sleb()?;
        if filter > 0 {
            match catch_type(mem, &h, filter as u32)? {
                None => return Ok(FrameAction::Catch(pad)),
                Some(id) if id == exn_id => return Ok(FrameAction::Catch(pad)),
                Some(_) => {}
            }
        } else if filter == 0 {
            cleanup = true;
        }
        if next == 0 {
            return Ok(if cleanup { FrameAction::Cleanup(pad) } else { FrameAction::Continue });
        }
        at = next_at.wrapping_add(next as u32);
    }
    Err(Error::Malformed("action chain", at))
}
