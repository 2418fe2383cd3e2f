//! SLIP framing on the host side of the QEMU aux link (docs/qemu-link.md):
//! the firmware's own codec (`satman::qemu::slip`), with a growable output
//! and a decoder that takes reads of any size.

pub use satman::qemu::slip::{DecodeStats, END, ESC, ESC_END, ESC_ESC};

/// Largest record accepted (unescaped), as the firmware.
pub const MAX_RECORD: usize = 2048;

/// Appends the SLIP encoding of one record to `out`.
pub fn encode_into(record: &[u8], out: &mut Vec<u8>) {
    satman::qemu::slip::encode(&[record], |b| out.push(b));
}

/// The SLIP encoding of one record.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(satman::qemu::slip::encoded_len(record));
    encode_into(record, &mut out);
    out
}

/// A streaming decoder: feed it bytes as they arrive, in pieces of any
/// size, and it hands out whole records.
pub struct Decoder(Box<satman::qemu::slip::Decoder<MAX_RECORD>>);

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl std::ops::Deref for Decoder {
    type Target = satman::qemu::slip::Decoder<MAX_RECORD>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder(Box::default())
    }

    /// Decodes `bytes`, calling `record` for each complete record.
    pub fn push(&mut self, bytes: &[u8], mut record: impl FnMut(&[u8])) {
        for &b in bytes {
            if let Some(r) = self.0.push(b) {
                record(r);
            }
        }
    }

    /// Decodes `bytes` and returns the complete records (tests, tools).
    pub fn push_collect(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.push(bytes, |r| out.push(r.to_vec()));
        out
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
