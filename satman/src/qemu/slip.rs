//! SLIP framing (RFC 1055) for the QEMU aux link.
//!
//! The decoder takes bytes as they come off the UART and yields whole
//! records; a record longer than its buffer is dropped whole and the decoder
//! resynchronises at the next `END`, so line noise costs at most one record.

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

pub struct Decoder<const N: usize> {
    buf: [u8; N],
    len: usize,
    escaped: bool,
    /// The record in progress overflowed; skip to the next `END`.
    overflow: bool,
    pub dropped: u32,
}

impl<const N: usize> Decoder<N> {
    pub const fn new() -> Self {
        Decoder { buf: [0; N], len: 0, escaped: false, overflow: false, dropped: 0 }
    }

    /// Feeds one byte; returns a complete, non-empty record.
    pub fn push(&mut self, b: u8) -> Option<&[u8]> {
        if b == END {
            let len = core::mem::take(&mut self.len);
            let bad = core::mem::take(&mut self.overflow);
            self.escaped = false;
            if bad {
                self.dropped += 1;
                return None;
            }
            return (len > 0).then(|| &self.buf[..len]);
        }
        let byte = if self.escaped {
            self.escaped = false;
            match b {
                ESC_END => END,
                ESC_ESC => ESC,
                // A protocol violation: keep the byte, the CRC inside the
                // record will reject it if it matters.
                other => other,
            }
        } else if b == ESC {
            self.escaped = true;
            return None;
        } else {
            b
        };
        if self.len == N {
            self.overflow = true;
        } else if !self.overflow {
            self.buf[self.len] = byte;
            self.len += 1;
        }
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
        assert_eq!(d.dropped, 1);
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
