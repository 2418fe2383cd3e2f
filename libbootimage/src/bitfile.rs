//! Xilinx `.bit` files and the PL partition made from them.
//!
//! A `.bit` is a short header of tagged fields (`a` design name, `b` part,
//! `c` date, `d` time, each a 16-bit big-endian length and a NUL-terminated
//! string) followed by `e`, a 32-bit big-endian length and the raw
//! configuration data: big-endian 32-bit words (dummy words, bus-width
//! detection, the 0xAA995566 sync word, packets).
//!
//! For a Zynq PL partition, `bootgen` byte-swaps every word (PCAP takes them
//! little-endian, so the sync word reads `66 55 99 AA` in BOOT.BIN) and pads
//! the data with type-1 NOOP packets (0x20000000) to a multiple of eight
//! words (32 bytes). [`pl_partition_data`] does the same, checked against
//! `bootgen` 2022.2.

use core::fmt;

/// The 13 bytes every `.bit` starts with: a 9-byte field (0x0FF0 ×4, 0x00)
/// and the 16-bit length of the next (1).
const MAGIC: [u8; 13] = [0x00, 0x09, 0x0F, 0xF0, 0x0F, 0xF0, 0x0F, 0xF0, 0x0F, 0xF0, 0x00, 0x00, 0x01];

/// The configuration NOOP packet that pads a PL partition.
pub const NOOP: u32 = 0x2000_0000;
/// The configuration sync word.
pub const SYNC: u32 = 0xAA99_5566;

/// Why a `.bit` file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitError {
    /// Does not start with the `.bit` magic.
    NotBitFile,
    /// Cut short inside the header or the data (`at` = where).
    Truncated { at: usize },
    /// A header field with an unknown key.
    UnknownField { key: u8, at: usize },
    /// The configuration data is empty or not a whole number of words.
    DataLength(u32),
}

impl fmt::Display for BitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BitError::NotBitFile => write!(f, "not a Xilinx .bit file"),
            BitError::Truncated { at } => write!(f, ".bit file truncated at byte {at}"),
            BitError::UnknownField { key, at } => write!(f, ".bit header: unknown field {key:#04x} at byte {at}"),
            BitError::DataLength(n) => write!(f, ".bit configuration data of {n} bytes: not whole words"),
        }
    }
}

/// A parsed `.bit`, borrowing the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BitFile<'a> {
    /// Field `a`: design name (often with `;UserID=...;Version=...`).
    pub design: &'a [u8],
    /// Field `b`: part name, e.g. `7z030ffg676`.
    pub part: &'a [u8],
    /// Field `c`: date.
    pub date: &'a [u8],
    /// Field `d`: time.
    pub time: &'a [u8],
    /// Field `e`: the configuration data, big-endian words.
    pub data: &'a [u8],
}

fn take(b: &[u8], at: usize, n: usize) -> Result<&[u8], BitError> {
    at.checked_add(n).and_then(|end| b.get(at..end)).ok_or(BitError::Truncated { at })
}

/// A string field without its NUL terminator.
fn strip_nul(s: &[u8]) -> &[u8] {
    s.split(|&c| c == 0).next().unwrap_or(s)
}

impl<'a> BitFile<'a> {
    /// Parses a `.bit` file.
    pub fn parse(b: &'a [u8]) -> Result<BitFile<'a>, BitError> {
        if b.len() < MAGIC.len() || b[..MAGIC.len()] != MAGIC {
            return Err(BitError::NotBitFile);
        }
        let mut bit = BitFile::default();
        let mut at = MAGIC.len();
        loop {
            let key = take(b, at, 1)?[0];
            at += 1;
            if key == b'e' {
                let n = take(b, at, 4)?;
                let n = u32::from_be_bytes([n[0], n[1], n[2], n[3]]);
                at += 4;
                let data = take(b, at, n as usize)?;
                if n == 0 || n % 4 != 0 {
                    return Err(BitError::DataLength(n));
                }
                bit.data = data;
                return Ok(bit);
            }
            let field = match key {
                b'a' => &mut bit.design,
                b'b' => &mut bit.part,
                b'c' => &mut bit.date,
                b'd' => &mut bit.time,
                _ => return Err(BitError::UnknownField { key, at: at - 1 }),
            };
            let n = take(b, at, 2)?;
            let n = u16::from_be_bytes([n[0], n[1]]) as usize;
            at += 2;
            *field = strip_nul(take(b, at, n)?);
            at += n;
        }
    }

    /// Whether the configuration data holds the sync word.
    pub fn has_sync(&self) -> bool {
        self.data.chunks_exact(4).any(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]) == SYNC)
    }
}

/// The PL partition's bytes for configuration data `data` (big-endian
/// words): every word byte-swapped, NOOP-padded to a multiple of 8 words.
#[cfg(any(feature = "alloc", test))]
pub fn pl_partition_data(data: &[u8]) -> alloc::vec::Vec<u8> {
    let words = data.len() / 4;
    let padded = words.div_ceil(8) * 8;
    let mut out = alloc::vec::Vec::with_capacity(padded * 4);
    for w in data.chunks_exact(4) {
        out.extend_from_slice(&[w[3], w[2], w[1], w[0]]);
    }
    for _ in words..padded {
        out.extend_from_slice(&NOOP.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testgen::dummy_bitstream;

    #[test]
    fn parses_the_dummy_bitstream() {
        let file = dummy_bitstream(16);
        let bit = BitFile::parse(&file).unwrap();
        assert_eq!(bit.part, b"7z030ffg676");
        assert!(bit.design.starts_with(b"satman_dummy"));
        assert!(bit.has_sync());
        assert_eq!(bit.data.len() % 4, 0);
    }

    #[test]
    fn refuses_bad_files() {
        let file = dummy_bitstream(16);
        assert_eq!(BitFile::parse(b"not a bit file"), Err(BitError::NotBitFile));
        assert!(matches!(BitFile::parse(&file[..file.len() - 1]), Err(BitError::Truncated { .. })));
        assert!(matches!(BitFile::parse(&file[..20]), Err(BitError::Truncated { .. })));
        let mut bad = file.clone();
        bad[13] = b'z';
        assert_eq!(BitFile::parse(&bad), Err(BitError::UnknownField { key: b'z', at: 13 }));
    }

    #[test]
    fn pl_data_is_swapped_and_noop_padded() {
        let data = [0xAA, 0x99, 0x55, 0x66, 0x20, 0x00, 0x00, 0x00, 0x30, 0x00, 0x80, 0x01];
        let out = pl_partition_data(&data);
        assert_eq!(out.len(), 32);
        assert_eq!(&out[..12], &[0x66, 0x55, 0x99, 0xAA, 0, 0, 0, 0x20, 0x01, 0x80, 0x00, 0x30]);
        assert!(out[12..].chunks(4).all(|w| w == [0, 0, 0, 0x20]));
        // Already a multiple of 8 words: no padding.
        assert_eq!(pl_partition_data(&[0u8; 64]).len(), 64);
    }
}
