//! The image's dynamic symbol table and its `DT_GNU_HASH` / `DT_HASH`
//! lookups, read straight from the ELF bytes.
//!
//! Every kernel load looks up each import among the image's own symbols
//! and resolves its exports, so these are on the load path: symbols are
//! read field by field from the table (no generic parser), the GNU bloom
//! filter rejects most names after one word, and a candidate's name is
//! compared only when its hash matches. Every read is bounds-checked and
//! every chain walk is bounded by the table's size; a malformed table is
//! an error, never a panic or an endless walk.

use super::{le16, le32, SYM_SIZE};

/// One `Elf32_Sym`, the fields the loader uses.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sym {
    pub st_name: u32,
    pub st_value: u32,
    pub st_info: u8,
    pub st_shndx: u16,
}

impl Sym {
    pub fn st_bind(&self) -> u8 {
        self.st_info >> 4
    }
}

/// `.dynsym` (exactly `nsyms` entries) and `.dynstr`.
#[derive(Clone, Copy)]
pub(super) struct Symbols<'a> {
    pub table: &'a [u8],
    pub nsyms: u32,
    pub strtab: &'a [u8],
}

impl<'a> Symbols<'a> {
    pub const EMPTY: Symbols<'static> = Symbols { table: &[], nsyms: 0, strtab: &[] };

    /// Symbol `index`, `None` past the table.
    pub fn get(&self, index: u32) -> Option<Sym> {
        if index >= self.nsyms {
            return None;
        }
        let at = (index as usize).checked_mul(SYM_SIZE as usize)?;
        Some(Sym {
            st_name: le32(self.table, at)?,
            st_value: le32(self.table, at + 4)?,
            st_info: *self.table.get(at + 12)?,
            st_shndx: le16(self.table, at + 14)?,
        })
    }

    /// The NUL-terminated name at `st_name`, `None` if it is outside the
    /// string table or not terminated.
    pub fn name(&self, sym: &Sym) -> Option<&'a [u8]> {
        let s = self.strtab.get(sym.st_name as usize..)?;
        let n = s.iter().position(|&b| b == 0)?;
        s.get(..n)
    }

    /// [`name`](Self::name) and its GNU hash, in one pass over the bytes.
    pub fn name_and_hash(&self, sym: &Sym) -> Option<(&'a [u8], u32)> {
        let s = self.strtab.get(sym.st_name as usize..)?;
        let mut h = GNU_HASH_SEED;
        for (n, &c) in s.iter().enumerate() {
            if c == 0 {
                return Some((&s[..n], h));
            }
            h = gnu_step(h, c);
        }
        None
    }
}

const GNU_HASH_SEED: u32 = 5381;

#[inline(always)]
fn gnu_step(h: u32, c: u8) -> u32 {
    (h << 5).wrapping_add(h).wrapping_add(u32::from(c))
}

/// The `DT_GNU_HASH` hash of a name (h * 33 + c from 5381).
pub(super) fn gnu_hash(name: &[u8]) -> u32 {
    name.iter().fold(GNU_HASH_SEED, |h, &c| gnu_step(h, c))
}

/// [`gnu_hash`] at compile time, for the names the loader always looks up.
pub(super) const fn gnu_hash_const(name: &[u8]) -> u32 {
    let mut h = GNU_HASH_SEED;
    let mut i = 0;
    while i < name.len() {
        h = (h << 5).wrapping_add(h).wrapping_add(name[i] as u32);
        i += 1;
    }
    h
}

impl<'a> Symbols<'a> {
}

/// The symbol lookup of an image.
#[derive(Clone, Copy)]
pub(super) enum Lookup<'a> {
    Gnu(GnuHash<'a>),
    SysV(SysVHash<'a>),
    Linear,
}

/// `DT_GNU_HASH` (ELF32): header, bloom words, buckets, then one chain
/// word per hashed symbol.
#[derive(Clone, Copy)]
pub(super) struct GnuHash<'a> {
    symoffset: u32,
    shift: u32,
    bloom: &'a [u8],
    buckets: &'a [u8],
    chains: &'a [u8],
}

impl<'a> GnuHash<'a> {
    /// `None` if the header, bloom filter or buckets run past `data`.
    pub fn new(data: &'a [u8]) -> Option<Self> {
        let nbucket = le32(data, 0)? as usize;
        let symoffset = le32(data, 4)?;
        let nbloom = le32(data, 8)? as usize;
        let shift = le32(data, 12)?;
        let bloom_end = 16usize.checked_add(nbloom.checked_mul(4)?)?;
        let buckets_end = bloom_end.checked_add(nbucket.checked_mul(4)?)?;
        Some(GnuHash {
            symoffset,
            shift,
            bloom: data.get(16..bloom_end)?,
            buckets: data.get(bloom_end..buckets_end)?,
            chains: data.get(buckets_end..)?,
        })
    }

    /// [`find`](Self::find) with the name's hash already computed.
    pub fn find_hashed(&self, name: &[u8], hash: u32, syms: &Symbols<'a>) -> Result<Option<(u32, Sym)>, ()> {
        let nbloom = self.bloom.len() / 4;
        let nbucket = self.buckets.len() / 4;
        if nbucket == 0 || nbloom == 0 {
            return Ok(None);
        }
        let word = le32(self.bloom, 4 * ((hash / 32) as usize % nbloom)).ok_or(())?;
        if word & (1 << (hash % 32)) == 0 {
            return Ok(None);
        }
        let hash2 = hash.checked_shr(self.shift).ok_or(())?;
        if word & (1 << (hash2 % 32)) == 0 {
            return Ok(None);
        }
        let start = le32(self.buckets, 4 * (hash as usize % nbucket)).ok_or(())?;
        if start < self.symoffset {
            return Ok(None);
        }
        // Bounded: the index only grows, and the chains end with the data.
        let mut i = (start - self.symoffset) as usize;
        while let Some(chain) = le32(self.chains, i.checked_mul(4).ok_or(())?) {
            if hash | 1 == chain | 1 {
                let index = u32::try_from(i).ok().and_then(|i| i.checked_add(self.symoffset)).ok_or(())?;
                let sym = syms.get(index).ok_or(())?;
                if syms.name(&sym).ok_or(())? == name {
                    return Ok(Some((index, sym)));
                }
            }
            if chain & 1 != 0 {
                return Ok(None);
            }
            i += 1;
        }
        Ok(None)
    }
}

/// `DT_HASH`: `nbucket`, `nchain`, the buckets, the chains.
#[derive(Clone, Copy)]
pub(super) struct SysVHash<'a> {
    buckets: &'a [u8],
    chains: &'a [u8],
}

impl<'a> SysVHash<'a> {
    /// `None` if the buckets or chains run past `data`.
    pub fn new(data: &'a [u8]) -> Option<Self> {
        let nbucket = le32(data, 0)? as usize;
        let nchain = le32(data, 4)? as usize;
        let buckets_end = 8usize.checked_add(nbucket.checked_mul(4)?)?;
        let chains_end = buckets_end.checked_add(nchain.checked_mul(4)?)?;
        Some(SysVHash { buckets: data.get(8..buckets_end)?, chains: data.get(buckets_end..chains_end)? })
    }

    /// The symbol called `name`. `Err(())` for a broken table.
    pub fn find(&self, name: &[u8], syms: &Symbols<'a>) -> Result<Option<(u32, Sym)>, ()> {
        let nbucket = self.buckets.len() / 4;
        if nbucket == 0 {
            return Ok(None);
        }
        let hash = name.iter().fold(0u32, |h, &c| {
            let h = (h << 4).wrapping_add(u32::from(c));
            let g = h & 0xf000_0000;
            (h ^ (g >> 24)) & !g
        });
        let mut index = le32(self.buckets, 4 * (hash as usize % nbucket)).ok_or(())?;
        // Bounded by the chain count, so a cycle cannot loop forever.
        let nchain = self.chains.len() / 4;
        let mut steps = 0;
        while index != 0 && steps < nchain {
            let sym = syms.get(index).ok_or(())?;
            if syms.name(&sym).ok_or(())? == name {
                return Ok(Some((index, sym)));
            }
            index = le32(self.chains, 4 * index as usize).ok_or(())?;
            steps += 1;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn hashes_match_the_abi_examples() {
        // Sample values from the GNU and System V hash definitions.
        let gnu = gnu_hash;
        assert_eq!(gnu(b""), 0x0000_1505);
        assert_eq!(gnu(b"printf"), 0x156b_2bb8);
        assert_eq!(gnu(b"exit"), 0x7c96_7e3f);
        assert_eq!(gnu_hash_const(b"__modinit__"), gnu(b"__modinit__"));
    }

    #[test]
    fn name_and_hash_agree_with_name() {
        let syms = Symbols { table: &[], nsyms: 0, strtab: b"\0printf\0exit" };
        let sym = |st_name| Sym { st_name, st_value: 0, st_info: 0, st_shndx: 0 };
        assert_eq!(syms.name_and_hash(&sym(1)), Some((&b"printf"[..], gnu_hash(b"printf"))));
        assert_eq!(syms.name(&sym(1)), Some(&b"printf"[..]));
        // Not terminated, or outside the table.
        assert_eq!(syms.name_and_hash(&sym(8)), None);
        assert_eq!(syms.name(&sym(8)), None);
        assert_eq!(syms.name_and_hash(&sym(99)), None);
    }

    #[test]
    fn broken_tables_fail_cleanly() {
        let syms = Symbols::EMPTY;
        // Buckets past the data.
        assert!(GnuHash::new(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(SysVHash::new(&[1, 0, 0, 0, 0, 0, 0, 0]).is_none());
        // A bloom filter that says yes, a bucket into a chain with no end:
        // the walk stops at the end of the data.
        let mut t = Vec::new();
        for w in [1u32, 0, 1, 0, u32::MAX, 0, 2] {
            t.extend_from_slice(&w.to_le_bytes());
        }
        let g = GnuHash::new(&t).unwrap();
        assert_eq!(g.find_hashed(b"x", gnu_hash(b"x"), &syms).unwrap_or(None).map(|s| s.0), None);
        // A SysV chain that loops on itself.
        let mut t = Vec::new();
        for w in [1u32, 2, 1, 1, 1] {
            t.extend_from_slice(&w.to_le_bytes());
        }
        let s = SysVHash::new(&t).unwrap();
        assert!(!matches!(s.find(b"x", &syms), Ok(Some(_))));
    }
}
