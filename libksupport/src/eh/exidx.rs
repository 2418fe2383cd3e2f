//! `.ARM.exidx` and `.ARM.extab` (ARM IHI 0038 §5–§7).
//!
//! The index is a table of 8-byte entries sorted by function start:
//!
//! * word 0: PREL31 offset to the function's first instruction (bit 31 clear);
//! * word 1: `1` = EXIDX_CANTUNWIND; bit 31 set = an inline compact-model
//!   entry (personality 0 and three opcodes); otherwise a PREL31 offset to
//!   the function's `.ARM.extab` entry.
//!
//! An `.ARM.extab` entry whose first word has bit 31 set is a compact-model
//! entry (bits 24–27: personality index; index 0 holds three opcodes, 1 and
//! 2 hold a count of further opcode words in bits 16–23 and two opcodes).
//! Otherwise the word is a PREL31 offset to a personality routine (the
//! generic model): the next word holds the count of further opcode words in
//! its top byte and three opcodes, then come the further words, then the
//! language-specific data (for ARTIQ, the LSDA of [`super::lsda`]).

use core::ops::Range;

use super::{read32, Error, Memory, Opcodes};

/// EXIDX_CANTUNWIND.
pub const CANTUNWIND: u32 = 1;

/// Decodes a PREL31 word found at `place`: the target address.
pub fn prel31(place: u32, word: u32) -> u32 {
    place.wrapping_add((((word << 1) as i32) >> 1) as u32)
}

/// What an unwind entry says about handlers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Personality {
    /// `__aeabi_unwind_cpp_pr0/1/2`: unwind only.
    Compact(u8),
    /// A personality routine (the PLT stub of `__artiq_personality` in
    /// ARTIQ kernels) and the address of its data, the LSDA.
    Generic { routine: u32, lsda: u32 },
}

/// The unwind entry of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnwindEntry {
    pub fn_start: u32,
    pub personality: Personality,
    pub opcodes: Opcodes,
}

/// Result of an index lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// No entry starts at or before the address (or the table is empty).
    NotFound,
    /// The function cannot be unwound through.
    CantUnwind,
    Found(UnwindEntry),
}

/// Finds the entry of the function containing `addr` in the index at
/// `table` (the last entry whose function starts at or before `addr`).
pub fn lookup<M: Memory + ?Sized>(mem: &M, table: &Range<u32>, addr: u32) -> Result<Lookup, Error> {
    if !table.start.is_multiple_of(4) || table.end < table.start {
        return Err(Error::Malformed(".ARM.exidx bounds", table.start));
    }
    let n = (table.end - table.start) / 8;
    let fn_start = |i: u32| -> Result<u32, Error> {
        let at = table.start + 8 * i;
        let w = read32(mem, at)?;
        if w & 0x8000_0000 != 0 {
            return Err(Error::Malformed(".ARM.exidx function offset", at));
        }
        Ok(prel31(at, w))
    };
    // Last i with fn_start(i) <= addr.
    let (mut lo, mut hi) = (0u32, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fn_start(mid)? <= addr {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if lo == 0 {
        return Ok(Lookup::NotFound);
    }
    let i = lo - 1;
    let at = table.start + 8 * i;
    let start = fn_start(i)?;
    let word = read32(mem, at + 4)?;
    if word == CANTUNWIND {
        return Ok(Lookup::CantUnwind);
    }
    let entry = if word & 0x8000_0000 != 0 {
        // Inline: only personality 0 fits in one word.
        if (word >> 24) & 0x7f != 0 {
            return Err(Error::Malformed("inline .ARM.exidx entry", at + 4));
        }
        UnwindEntry { fn_start: start, personality: Personality::Compact(0), opcodes: Opcodes::inline(word, 3) }
    } else {
        extab_entry(mem, start, prel31(at + 4, word))?
    };
    Ok(Lookup::Found(entry))
}

/// Decodes the `.ARM.extab` entry at `at` of the function starting at
/// `fn_start`.
pub fn extab_entry<M: Memory + ?Sized>(mem: &M, fn_start: u32, at: u32) -> Result<UnwindEntry, Error> {
    let w0 = read32(mem, at)?;
    if w0 & 0x8000_0000 != 0 {
        let index = ((w0 >> 24) & 0x0f) as u8;
        if w0 & 0x7000_0000 != 0 {
            return Err(Error::Malformed(".ARM.extab compact entry", at));
        }
        let opcodes = match index {
            0 => Opcodes::inline(w0, 3),
            1 | 2 => Opcodes::new(w0 & 0xffff, 2, at.checked_add(4).ok_or(Error::BadRead(at))?, (w0 >> 16) & 0xff),
            _ => return Err(Error::Unsupported("compact personality index", index as u32)),
        };
        return Ok(UnwindEntry { fn_start, personality: Personality::Compact(index), opcodes });
    }
    let routine = prel31(at, w0);
    let data = at.checked_add(4).ok_or(Error::BadRead(at))?;
    let w1 = read32(mem, data)?;
    let more = w1 >> 24;
    let words_at = data.checked_add(4).ok_or(Error::BadRead(data))?;
    let lsda = words_at.checked_add(4 * more).ok_or(Error::Malformed(".ARM.extab opcode count", data))?;
    Ok(UnwindEntry {
        fn_start,
        personality: Personality::Generic { routine, lsda },
        opcodes: Opcodes::new(w1 & 0x00ff_ffff, 3, words_at, more),
    })
}
