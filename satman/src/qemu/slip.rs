//! SLIP framing (RFC 1055) for the QEMU aux link.
//!
//! The decoder takes bytes as they come off the UART and yields whole
//! records; a record longer than its buffer, or with an invalid escape, is
//! dropped whole and the decoder resynchronises at the next `END`, so line
//! noise costs at most one record. The firmware and the host tools share
//! this one implementation.

pub const END: u8 = 0xC0;
pub const ESC: u8 = 0xDB;
pub const ESC_END: u8 = 0xDC;
pub const ESC_ESC: u8 = 0xDD;

/// Bytes needed to encode `data` (with the leading and trailing `END`).
pub fn encoded_len(data: &[u8]) -> usize {
    2 + data.len() + data.iter().filter(|&&b| b == END || b == ESC).count()
}

/// Encodes one record from its parts (e.g. channel byte, then payload),
/// calling `out` for each byte.
pub fn encode(parts: &[&[u8]], mut out: impl FnMut(u8)) {
    out(END);
    for part in parts {
        for &b in *part {
            match b {
                END => {
                    out(ESC);
                    out(ESC_END);
                }
                ESC => {
                    out(ESC);
                    out(ESC_ESC);
                }
                b => out(b),
            }
        }
    }
    out(END);
}

/// What a [`Decoder`] delivered and threw away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Complete (non-empty) records delivered.
    pub records: u64,
    /// Records discarded for exceeding the decoder's buffer.
    pub oversize: u64,
    /// Records discarded for an invalid escape sequence.
    pub bad_escape: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discard {
    Oversize,
    BadEscape,
}

/// A streaming decoder with room for records of `N` bytes (unescaped).
pub struct Decoder<const N: usize> {
    buf: [u8; N],
    len: usize,
    escaped: bool,
    /// The record in progress is being dropped; skip to the next `END`.
    discarding: Option<Discard>,
    pub stats: DecodeStats,
}

impl<const N: usize> Decoder<N> {
    pub const fn new() -> Self {
        Decoder {
            buf: [0; N],
            len: 0,
            escaped: false,
            discarding: None,
            stats: DecodeStats { records: 0, oversize: 0, bad_escape: 0 },
        }
    }

    /// Bytes of the record in progress (0 between records).
    pub fn pending(&self) -> usize {
        self.len
    }

    fn discard(&mut self, why: Discard) {
        self.discarding = Some(why);
        self.len = 0;
        self.escaped = false;
    }

    /// Feeds one byte; returns a complete, non-empty record. A record with
    /// an invalid escape, or longer than `N`, is dropped whole: the CRC of
    /// an aux frame would catch the first, but a control record has none.
    pub fn push(&mut self, b: u8) -> Option<&[u8]> {
        if b == END {
            let len = core::mem::take(&mut self.len);
            let escaped = core::mem::take(&mut self.escaped);
            match self.discarding.take() {
                Some(Discard::Oversize) => self.stats.oversize += 1,
                Some(Discard::BadEscape) => self.stats.bad_escape += 1,
                None if escaped => self.stats.bad_escape += 1,
                None if len > 0 => {
                    self.stats.records += 1;
                    return Some(&self.buf[..len]);
                }
                None => {}
            }
            return None;
        }
        if self.discarding.is_some() {
            return None;
        }
        let byte = if self.escaped {
            self.escaped = false;
            match b {
                ESC_END => END,
                ESC_ESC => ESC,
                _ => {
                    self.discard(Discard::BadEscape);
                    return None;
                }
            }
        } else if b == ESC {
            self.escaped = true;
            return None;
        } else {
            b
        };
        if self.len == N {
            self.discard(Discard::Oversize);
            return None;
        }
        self.buf[self.len] = byte;
        self.len += 1;
        None
    }
}

impl<const N: usize> Default for Decoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn enc(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(parts, |b| v.push(b));
        v
    }

    fn dec<const N: usize>(d: &mut Decoder<N>, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for &b in bytes {
            if let Some(r) = d.push(b) {
                out.push(r.to_vec());
            }
        }
        out
    }

    #[test]
    fn round_trips_with_escapes() {
        let data = [0u8, END, 1, ESC, ESC_END, END, END, 0xFF];
        let wire = enc(&[&[2], &data]);
        assert_eq!(wire.len(), encoded_len(&[&[2u8][..], &data].concat()));
        assert!(!wire[1..wire.len() - 1].contains(&END));
        let mut d: Decoder<64> = Decoder::new();
        let recs = dec(&mut d, &wire);
        assert_eq!(recs, [[&[2u8][..], &data].concat()]);
    }

    #[test]
    fn resynchronises_after_garbage_and_overflow() {
        let mut d: Decoder<8> = Decoder::new();
        let mut wire = alloc::vec![1, 2, 3]; // noise before the first END
        wire.extend(enc(&[&[9; 20]])); // too long for the buffer
        wire.extend(enc(&[b"ok"]));
        let recs = dec(&mut d, &wire);
        assert_eq!(recs, [&b"\x01\x02\x03"[..], b"ok"]);
        assert_eq!(d.stats.oversize, 1);
    }

    #[test]
    fn split_reads_and_empty_records() {
        let wire = enc(&[b"abc"]);
        let mut d: Decoder<16> = Decoder::new();
        let mut got = Vec::new();
        for chunk in wire.chunks(1) {
            got.extend(dec(&mut d, chunk));
        }
        got.extend(dec(&mut d, &[END, END, END]));
        assert_eq!(got, [b"abc".to_vec()]);
    }
}
