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
    strtab: &'a [u8],
    /// `strtab` ends with a NUL (lld's always does): then every name that
    /// starts inside it is terminated, and checking a name is one compare
    /// instead of a scan for its NUL.
    terminated: bool,
}

impl<'a> Symbols<'a> {
    pub const EMPTY: Symbols<'static> = Symbols { table: &[], nsyms: 0, strtab: &[], terminated: false };

    /// Sets the string table (`DT_STRTAB`, `DT_STRSZ` bytes).
    pub fn set_strtab(&mut self, strtab: &'a [u8]) {
        self.strtab = strtab;
        self.terminated = strtab.last() == Some(&0);
    }

    /// Symbol `index`, `None` past the table.
    #[inline]
    pub fn get(&self, index: u32) -> Option<Sym> {
        if index >= self.nsyms {
            return None;
        }
        let at = (index as usize).checked_mul(SYM_SIZE as usize)?;
        let e = self.table.get(at..at.checked_add(SYM_SIZE as usize)?)?;
        Some(Sym {
            st_name: le32(e, 0)?,
            st_value: le32(e, 4)?,
            st_info: *e.get(12)?,
            st_shndx: le16(e, 14)?,
        })
    }

    /// The NUL-terminated name at `st_name`, `None` if it is outside the
    /// string table or not terminated.
    pub fn name(&self, sym: &Sym) -> Option<&'a [u8]> {
        let s = self.strtab.get(sym.st_name as usize..)?;
        let n = s.iter().position(|&b| b == 0)?;
        s.get(..n)
    }

    /// Whether [`name`](Self::name) would succeed, without scanning the
    /// name when the table is terminated.
    pub fn name_ok(&self, sym: &Sym) -> bool {
        if self.terminated {
            (sym.st_name as usize) < self.strtab.len()
        } else {
            self.name(sym).is_some()
        }
    }

    /// `Some(name(sym) == name)`, `None` where [`name`](Self::name) fails.
    /// `name` must hold no NUL (it is a name read from a string table or
    /// a constant): then a terminated table needs only a compare of
    /// `name.len()` bytes and a check for the NUL after them.
    pub fn name_eq(&self, sym: &Sym, name: &[u8]) -> Option<bool> {
        if !self.terminated {
            return Some(self.name(sym)? == name);
        }
        // Non-empty, so it holds the table's final NUL.
        let s = self.strtab.get(sym.st_name as usize..).filter(|s| !s.is_empty())?;
        Some(match s.get(..name.len()) {
            Some(head) => head == name && s.get(name.len()) == Some(&0),
            // The name runs into the table's final NUL first.
            None => false,
        })
    }

    /// [`name`](Self::name) and its GNU hash, in one pass over the bytes,
    /// four at a time.
    pub fn name_and_hash(&self, sym: &Sym) -> Option<(&'a [u8], u32)> {
        let s = self.strtab.get(sym.st_name as usize..)?;
        let mut h = GNU_HASH_SEED;
        let mut n = 0;
        for w in s.chunks_exact(4) {
            let Ok(bytes) = <[u8; 4]>::try_from(w) else { break };
            let word = u32::from_le_bytes(bytes);
            // A zero byte sets its 0x80 bit here; the lowest set bit is
            // exact (only a byte above a zero one can be a false positive).
            let zeros = word.wrapping_sub(0x0101_0101) & !word & 0x8080_8080;
            if zeros != 0 {
                // The name ends in this word: hash the bytes before the NUL.
                let len = zeros.trailing_zeros() as usize / 8;
                let mut rest = word;
                for _ in 0..len {
                    h = gnu_step(h, rest as u8);
                    rest >>= 8;
                }
                return Some((s.get(..n + len)?, h));
            }
            h = gnu_step4(h, word);
            n += 4;
        }
        // Fewer than four bytes left in the table: byte by byte.
        for (i, &c) in s.get(n..)?.iter().enumerate() {
            if c == 0 {
                return Some((s.get(..n + i)?, h));
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

/// Four [`gnu_step`]s over the bytes a, b, c, d of the little-endian
/// `word`: h * 33^4 + a * 33^3 + b * 33^2 + c * 33 + d (mod 2^32).
#[inline(always)]
fn gnu_step4(h: u32, word: u32) -> u32 {
    let (a, b, c, d) = (word & 0xff, (word >> 8) & 0xff, (word >> 16) & 0xff, word >> 24);
    h.wrapping_mul(33 * 33 * 33 * 33)
        .wrapping_add(a * (33 * 33 * 33))
        .wrapping_add(b * (33 * 33))
        .wrapping_add(c * 33)
        .wrapping_add(d)
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

    /// `false` if the bloom filter says no symbol has hash `hash`, exactly
    /// where [`find_hashed`](Self::find_hashed) answers `Ok(None)` before
    /// walking a chain; `true` otherwise (also for a broken filter, which
    /// `find_hashed` then reports). Inlined into the loader's lookup, it
    /// rejects most names (every import) in a few instructions, without
    /// the call.
    #[inline(always)]
    pub fn may_contain(&self, hash: u32) -> bool {
        let nbloom = self.bloom.len() / 4;
        if nbloom == 0 {
            return false;
        }
        let Some(word) = le32(self.bloom, 4 * ((hash / 32) as usize % nbloom)) else { return true };
        if word & (1 << (hash % 32)) == 0 {
            return false;
        }
        let Some(hash2) = hash.checked_shr(self.shift) else { return true };
        word & (1 << (hash2 % 32)) != 0
    }

    /// The symbol whose name has GNU hash `hash` and is `name`.
    /// `Err(())` for a broken table.
    pub fn find_hashed(&self, name: &[u8], hash: u32, syms: &Symbols<'a>) -> Result<Option<(u32, Sym)>, ()> {
        let nbloom = self.bloom.len() / 4;
        if nbloom == 0 {
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
        self.find_in_chain(name, hash, syms)
    }

    /// [`find_hashed`](Self::find_hashed) past the bloom filter.
    fn find_in_chain(&self, name: &[u8], hash: u32, syms: &Symbols<'a>) -> Result<Option<(u32, Sym)>, ()> {
        let nbucket = self.buckets.len() / 4;
        if nbucket == 0 {
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
                if syms.name_eq(&sym, name).ok_or(())? {
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
            if syms.name_eq(&sym, name).ok_or(())? {
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

    fn table(strtab: &[u8]) -> Symbols<'_> {
        let mut syms = Symbols::EMPTY;
        syms.set_strtab(strtab);
        syms
    }

    fn sym(st_name: u32) -> Sym {
        Sym { st_name, st_value: 0, st_info: 0, st_shndx: 0 }
    }

    #[test]
    fn name_and_hash_agree_with_name() {
        let syms = table(b"\0printf\0exit");
        assert_eq!(syms.name_and_hash(&sym(1)), Some((&b"printf"[..], gnu_hash(b"printf"))));
        assert_eq!(syms.name(&sym(1)), Some(&b"printf"[..]));
        // Not terminated, or outside the table.
        assert_eq!(syms.name_and_hash(&sym(8)), None);
        assert_eq!(syms.name(&sym(8)), None);
        assert_eq!(syms.name_and_hash(&sym(99)), None);
    }

    /// The word-at-a-time hash, the O(1) checks of a terminated table and
    /// the compare without a scan agree with the byte-by-byte definitions
    /// for every name length, at every offset, terminated or not.
    #[test]
    fn fast_name_paths_agree_with_the_definitions() {
        let mut strtab = Vec::new();
        let mut starts = Vec::new();
        for len in 0..=13u8 {
            starts.push(strtab.len() as u32);
            // Bytes with high bits and 0x01 too: the zero-byte test must
            // see neither as a NUL.
            strtab.extend((0..len).map(|i| [b'a' + i, 0x80 | i, 0x01, 0xff][usize::from(i % 4)]));
            strtab.push(0);
        }
        for cut in [strtab.len(), strtab.len() - 1, strtab.len() - 5] {
            let syms = table(&strtab[..cut]);
            for st_name in (0..cut as u32 + 2).chain(starts.iter().copied()) {
                let s = sym(st_name);
                let name = syms.name(&s);
                assert_eq!(syms.name_and_hash(&s), name.map(|n| (n, gnu_hash(n))), "{st_name} of {cut}");
                assert_eq!(syms.name_ok(&s), name.is_some());
                for probe in [&b""[..], b"a", b"a\x81", name.unwrap_or(b"zz"), b"abcdefghijklmnopq"] {
                    assert_eq!(syms.name_eq(&s, probe), name.map(|n| n == probe), "{st_name} {probe:?}");
                }
            }
        }
    }

    /// The bloom filter's inlined "no" is only ever given where the full
    /// lookup answers `Ok(None)`, on sane and broken headers alike.
    #[test]
    fn may_contain_agrees_with_find_hashed() {
        let syms = table(b"\0a\0");
        // nbucket, symoffset, nbloom, shift, bloom words, buckets, chains.
        let tables: [&[u32]; 5] = [
            &[1, 1, 1, 5, 0x0f0f_0f0f, 1, 0],
            &[1, 1, 2, 31, 0xffff_0000, 0x0000_ffff, 1, 3],
            &[1, 1, 1, 32, 0xffff_ffff, 1, 1], // shift too large
            &[1, 1, 0, 5, 1, 1],               // no bloom words
            &[0, 1, 1, 6, 0x5555_5555],        // no buckets
        ];
        for words in tables {
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            let Some(g) = GnuHash::new(&bytes) else { continue };
            for h in (0..4096u32).chain([u32::MAX, 0x8000_0000, gnu_hash(b"a")]) {
                if !g.may_contain(h) {
                    assert_eq!(g.find_hashed(b"a", h, &syms).map(|r| r.map(|s| s.0)), Ok(None), "{words:?} {h}");
                }
            }
        }
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
