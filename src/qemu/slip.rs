//! SLIP framing (RFC 1055) as the QEMU aux link uses it (docs/qemu-link.md):
//! a sender writes `END`, the escaped record, `END`; a receiver ignores
//! empty records and discards, whole, any record longer than
//! [`MAX_RECORD`] bytes (unescaped), resynchronising at the next `END`.
//!
//! RFC 1055 passes an `ESC` followed by anything but `ESC_END`/`ESC_ESC`
//! through as is; here such a record is damaged, and it is discarded like
//! an oversized one (the contract does not say; nothing valid produces it).

pub const END: u8 = 0xC0;
pub const ESC: u8 = 0xDB;
pub const ESC_END: u8 = 0xDC;
pub const ESC_ESC: u8 = 0xDD;

/// Longest record a receiver accepts (unescaped bytes, channel byte included).
pub const MAX_RECORD: usize = 2048;

/// Appends `END`, `record` escaped, `END` to `out`.
pub fn encode_into(record: &[u8], out: &mut Vec<u8>) {
    out.reserve(record.len() + record.len() / 8 + 2);
    out.push(END);
    for &b in record {
        match b {
            END => out.extend_from_slice(&[ESC, ESC_END]),
            ESC => out.extend_from_slice(&[ESC, ESC_ESC]),
            _ => out.push(b),
        }
    }
    out.push(END);
}

/// `END`, `record` escaped, `END`.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(record, &mut out);
    out
}

/// What the decoder threw away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Complete (non-empty) records delivered.
    pub records: u64,
    /// Records discarded for exceeding [`MAX_RECORD`].
    pub oversize: u64,
    /// Records discarded for an invalid escape sequence.
    pub bad_escape: u64,
}

/// A streaming SLIP decoder: feed it bytes as they arrive, in pieces of
/// any size, and it hands out whole records.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    max: usize,
    escaped: bool,
    /// The current record is being discarded (too long, or bad escape).
    discarding: Option<Discard>,
    pub stats: DecodeStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discard {
    Oversize,
    BadEscape,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::with_max(MAX_RECORD)
    }

    /// A decoder that accepts records of at most `max` bytes.
    pub fn with_max(max: usize) -> Decoder {
        Decoder { buf: Vec::with_capacity(max.min(MAX_RECORD)), max, escaped: false, discarding: None, stats: DecodeStats::default() }
    }

    /// Decodes `bytes`, calling `record` for each complete record.
    pub fn push(&mut self, bytes: &[u8], mut record: impl FnMut(&[u8])) {
        for &b in bytes {
            if b == END {
                match self.discarding.take() {
                    Some(Discard::Oversize) => self.stats.oversize += 1,
                    Some(Discard::BadEscape) => self.stats.bad_escape += 1,
                    None if self.escaped => self.stats.bad_escape += 1,
                    None if !self.buf.is_empty() => {
                        self.stats.records += 1;
                        record(&self.buf);
                    }
                    None => {}
                }
                self.buf.clear();
                self.escaped = false;
                continue;
            }
            if self.discarding.is_some() {
                continue;
            }
            let byte = if self.escaped {
                self.escaped = false;
                match b {
                    ESC_END => END,
                    ESC_ESC => ESC,
                    _ => {
                        self.discard(Discard::BadEscape);
                        continue;
                    }
                }
            } else if b == ESC {
                self.escaped = true;
                continue;
            } else {
                b
            };
            if self.buf.len() >= self.max {
                self.discard(Discard::Oversize);
                continue;
            }
            self.buf.push(byte);
        }
    }

    /// Decodes `bytes` and returns the complete records (tests, tools).
    pub fn push_collect(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.push(bytes, |r| out.push(r.to_vec()));
        out
    }

    /// Bytes of the record in progress (0 between records).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn discard(&mut self, why: Discard) {
        self.discarding = Some(why);
        self.buf.clear();
        self.escaped = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(records: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut wire = Vec::new();
        for r in records {
            encode_into(r, &mut wire);
        }
        Decoder::new().push_collect(&wire)
    }

    #[test]
    fn round_trips() {
        let records = vec![vec![0u8], vec![0, 1, 2, 3], (0..=255u8).collect(), vec![2, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 1]];
        assert_eq!(roundtrip(&records), records);
    }

    #[test]
    fn escapes_special_bytes() {
        assert_eq!(encode(&[END]), vec![END, ESC, ESC_END, END]);
        assert_eq!(encode(&[ESC]), vec![END, ESC, ESC_ESC, END]);
        assert_eq!(encode(&[1, END, ESC, 2]), vec![END, 1, ESC, ESC_END, ESC, ESC_ESC, 2, END]);
        let all_special = vec![END, ESC, END, END, ESC, ESC_END, ESC_ESC];
        let wire = encode(&all_special);
        assert_eq!(wire.iter().filter(|&&b| b == END).count(), 2, "END only delimits");
        assert_eq!(Decoder::new().push_collect(&wire), vec![all_special]);
    }

    #[test]
    fn ignores_empty_records() {
        let mut d = Decoder::new();
        assert!(d.push_collect(&[END, END, END]).is_empty());
        assert_eq!(d.push_collect(&[END, END, 7, END, END]), vec![vec![7]]);
        assert_eq!(d.stats.records, 1);
    }

    #[test]
    fn split_reads_byte_by_byte() {
        let records: Vec<Vec<u8>> = (0..20u8).map(|i| (0..(i as usize * 37)).map(|j| (j as u8).wrapping_mul(i) ^ 0xC0).chain([i]).collect()).collect();
        let mut wire = Vec::new();
        for r in &records {
            encode_into(r, &mut wire);
        }
        // Every split point, including between ESC and its second byte.
        for chunk in [1, 2, 3, 7, 64, 1000] {
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                got.extend(d.push_collect(piece));
            }
            assert_eq!(got, records, "chunk size {chunk}");
        }
    }

    #[test]
    fn garbage_before_and_between_records() {
        // Line noise before the first END is a record of its own (the
        // receiver cannot tell); the leading END of the next record cuts
        // it off, so the real records come through intact.
        let mut wire = vec![0x55, 0xAA, 0x01];
        encode_into(&[0, 1, 2], &mut wire);
        wire.extend_from_slice(&[0x99, 0x98]);
        encode_into(&[2, 0x10], &mut wire);
        let got = Decoder::new().push_collect(&wire);
        assert_eq!(got, vec![vec![0x55, 0xAA, 0x01], vec![0, 1, 2], vec![0x99, 0x98], vec![2, 0x10]]);
    }

    #[test]
    fn bad_escape_discards_the_record() {
        let mut d = Decoder::new();
        let mut wire = vec![END, 1, ESC, 0x42, 2, END];
        encode_into(&[9, 9], &mut wire);
        assert_eq!(d.push_collect(&wire), vec![vec![9, 9]]);
        assert_eq!(d.stats.bad_escape, 1);
        // ESC right before END.
        assert!(d.push_collect(&[END, 5, ESC, END]).is_empty());
        assert_eq!(d.stats.bad_escape, 2);
        assert_eq!(d.push_collect(&encode(&[6])), vec![vec![6]]);
    }

    #[test]
    fn oversize_records_are_discarded_whole() {
        let mut d = Decoder::new();
        let big = vec![0x11u8; MAX_RECORD + 1];
        let exact = vec![0x22u8; MAX_RECORD];
        let mut wire = encode(&big);
        encode_into(&exact, &mut wire);
        encode_into(&[3], &mut wire);
        let got = d.push_collect(&wire);
        assert_eq!(got, vec![exact, vec![3]]);
        assert_eq!(d.stats.oversize, 1);
        // Escaped bytes count once: MAX_RECORD ENDs escape to twice as
        // many wire bytes and still fit.
        let ends = vec![END; MAX_RECORD];
        assert_eq!(d.push_collect(&encode(&ends)), vec![ends]);
        // An oversized record split across reads is still dropped whole.
        let wire = encode(&big);
        let mut got = Vec::new();
        for piece in wire.chunks(100) {
            got.extend(d.push_collect(piece));
        }
        assert!(got.is_empty());
        assert_eq!(d.stats.oversize, 2);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn random_round_trips() {
        // A small deterministic generator: no dependency needed.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut records = Vec::new();
        for _ in 0..500 {
            let len = 1 + (next() % 1100) as usize;
            // Skewed towards the special bytes.
            records.push((0..len).map(|_| [END, ESC, ESC_END, ESC_ESC, next() as u8][(next() % 5) as usize]).collect::<Vec<u8>>());
        }
        let mut wire = Vec::new();
        for r in &records {
            encode_into(r, &mut wire);
        }
        let mut d = Decoder::new();
        let mut got = Vec::new();
        let mut pos = 0;
        while pos < wire.len() {
            let n = 1 + (next() % 300) as usize;
            let end = (pos + n).min(wire.len());
            got.extend(d.push_collect(&wire[pos..end]));
            pos = end;
        }
        assert_eq!(got, records);
        assert_eq!(d.stats, DecodeStats { records: 500, oversize: 0, bad_escape: 0 });
    }
}
