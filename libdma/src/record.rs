//! The DMA record format shared by the recorder, the DMA engine and DDMA.
//!
//! A record is, packed and little-endian: a length byte (13 + 4·n), three
//! channel bytes (the target's bits 8–31, so the third is the destination),
//! an 8-byte timestamp, the register address byte (target bits 0–7), then
//! n ≤ 16 data words, least significant first. A zero length byte ends a
//! trace.

use core::fmt;

/// Length of a record without its data words.
pub const HEADER_LEN: usize = 13;
/// Most data words one record may carry (`rtio_output_wide` limit).
pub const MAX_WORDS: usize = 16;
/// Longest possible record.
pub const MAX_RECORD_LEN: usize = HEADER_LEN + 4 * MAX_WORDS;

/// The destination an RTIO target belongs to (channel bits 16–23).
#[inline]
pub const fn destination_of(target: u32) -> u8 {
    (target >> 24) as u8
}

/// One decoded record, borrowing its data words from the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// `channel << 8 | address`, as passed to `rtio_output`.
    pub target: u32,
    pub timestamp: i64,
    data: &'a [u8],
}

impl<'a> Record<'a> {
    pub fn channel(&self) -> u32 {
        self.target >> 8
    }

    pub fn address(&self) -> u8 {
        self.target as u8
    }

    pub fn destination(&self) -> u8 {
        destination_of(self.target)
    }

    pub fn word_count(&self) -> usize {
        self.data.len() / 4
    }

    /// Data word `i`, least significant first.
    pub fn word(&self, i: usize) -> u32 {
        let b = &self.data[4 * i..4 * i + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn words(&self) -> impl Iterator<Item = u32> + 'a {
        self.data.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// A record whose length byte is impossible or runs past the end of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedRecord {
    /// Byte offset of the bad record within the trace.
    pub offset: usize,
}

impl fmt::Display for MalformedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed DMA record at offset {}", self.offset)
    }
}

/// Checks a record length byte: 13 + 4·n with n ≤ 16.
#[inline]
pub(crate) fn valid_length(len: usize) -> bool {
    (HEADER_LEN..=MAX_RECORD_LEN).contains(&len) && (len - HEADER_LEN).is_multiple_of(4)
}

/// Iterates over the records of a trace up to its terminator (or its end).
/// Yields one error and then stops if a record is malformed.
pub struct Records<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Records<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Records { bytes, pos: 0, failed: false }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, MalformedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let len = *self.bytes.get(self.pos)? as usize;
        if len == 0 {
            return None;
        }
        let rec = match self.bytes.get(self.pos..self.pos + len) {
            Some(rec) if valid_length(len) => rec,
            _ => {
                self.failed = true;
                return Some(Err(MalformedRecord { offset: self.pos }));
            }
        };
        self.pos += len;
        let target = u32::from_le_bytes([rec[12], rec[1], rec[2], rec[3]]);
        let mut ts = [0; 8];
        ts.copy_from_slice(&rec[4..12]);
        Some(Ok(Record { target, timestamp: i64::from_le_bytes(ts), data: &rec[HEADER_LEN..] }))
    }
}

/// Validates a whole trace; returns the number of records.
pub fn validate(bytes: &[u8]) -> Result<usize, MalformedRecord> {
    let mut n = 0;
    for r in Records::new(bytes) {
        r?;
        n += 1;
    }
    Ok(n)
}

/// [`validate`] for a trace that arrives in pieces (an upload in chunks).
///
/// Each [`feed`](Self::feed) checks the records that lie wholly inside the
/// bytes received so far, starting where the previous call stopped, so that
/// checking costs the same in total as one `validate` but never more than a
/// chunk's worth at a time: no chunk's handling time grows with the trace.
/// [`finish`](Self::finish), given the complete trace, returns the verdict
/// `validate` would.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Validator {
    /// Offset of the first record not checked yet (of the malformed one
    /// once one is found).
    pos: usize,
    state: Checked,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Checked {
    #[default]
    Open,
    /// A zero length byte: the trace ends there, nothing after it is read.
    Terminated,
    /// The record at `pos` has an impossible length byte.
    Malformed,
}

impl Validator {
    pub(crate) const fn new() -> Self {
        Validator { pos: 0, state: Checked::Open }
    }

    /// Checks what it can of `bytes`, the trace so far; every call must pass
    /// the same trace, at least as long as the call before.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        while self.state == Checked::Open {
            let Some(&len) = bytes.get(self.pos) else { return };
            let len = len as usize;
            if len == 0 {
                self.state = Checked::Terminated;
            } else if !valid_length(len) {
                self.state = Checked::Malformed;
            } else if bytes.len() - self.pos < len {
                // The rest of this record has not arrived yet.
                return;
            } else {
                self.pos += len;
            }
        }
    }

    /// The verdict on the complete trace `bytes`, of which every earlier
    /// [`feed`](Self::feed) saw a prefix.
    pub(crate) fn finish(&mut self, bytes: &[u8]) -> Result<(), MalformedRecord> {
        self.feed(bytes);
        match self.state {
            // A bad length byte, or (still open) a record that runs past the end.
            Checked::Malformed => Err(MalformedRecord { offset: self.pos }),
            Checked::Open if self.pos < bytes.len() => Err(MalformedRecord { offset: self.pos }),
            _ => Ok(()),
        }
    }
}

/// Encodes one record into `out`, returning its length, or `None` if `out`
/// is too short or there are more than [`MAX_WORDS`] words.
pub fn encode(out: &mut [u8], target: u32, timestamp: i64, words: &[u32]) -> Option<usize> {
    if words.len() > MAX_WORDS {
        return None;
    }
    let len = HEADER_LEN + 4 * words.len();
    let out = out.get_mut(..len)?;
    out[0] = len as u8;
    out[1..4].copy_from_slice(&(target >> 8).to_le_bytes()[..3]);
    out[4..12].copy_from_slice(&timestamp.to_le_bytes());
    out[12] = target as u8;
    for (chunk, w) in out[HEADER_LEN..].chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn encodes_the_documented_layout() {
        let mut buf = [0u8; 32];
        let n = encode(&mut buf, 0x0100_0F05, 0x1122_3344_5566_7788, &[0xAABB_CCDD]).unwrap();
        assert_eq!(n, 17);
        assert_eq!(
            &buf[..17],
            &[17, 0x0F, 0x00, 0x01, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x05, 0xDD, 0xCC, 0xBB, 0xAA]
        );
    }

    #[test]
    fn iterates_and_stops_at_terminator() {
        let mut t = Vec::new();
        let mut buf = [0u8; MAX_RECORD_LEN];
        for i in 0..3u32 {
            let n = encode(&mut buf, 0x0100_0F00 + i, i as i64 * 10, &[i, i + 1]).unwrap();
            t.extend_from_slice(&buf[..n]);
        }
        t.push(0);
        t.extend_from_slice(&[0xFF; 7]); // burst padding after the terminator is never read
        let recs: Vec<_> = Records::new(&t).map(Result::unwrap).collect();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[2].target, 0x0100_0F02);
        assert_eq!(recs[2].timestamp, 20);
        assert_eq!(recs[2].words().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(recs[1].destination(), 1);
        assert_eq!(recs[1].channel(), 0x01_000F);
        assert_eq!(validate(&t), Ok(3));
    }

    /// `validate` on `t`, and the validator fed `t` cut at `cuts` then
    /// finished, agree.
    fn validator_agrees(t: &[u8], cuts: &[usize]) {
        let mut v = Validator::new();
        for &c in cuts {
            v.feed(&t[..c.min(t.len())]);
        }
        assert_eq!(v.finish(t), validate(t).map(|_| ()), "trace {:?} cut at {:?}", t, cuts);
    }

    #[test]
    fn validator_agrees_with_validate_wherever_cut() {
        let mut rec = [0u8; MAX_RECORD_LEN];
        let mut good = Vec::new();
        for i in 0..4u32 {
            let n = encode(&mut rec, 0x0100_0F00 + i, i as i64, &[i; 3][..i as usize % 3 + 1]).unwrap();
            good.extend_from_slice(&rec[..n]);
        }
        let mut traces = alloc::vec![good.clone()];
        let mut t = good.clone();
        t.push(0); // terminated
        traces.push(t);
        let mut t = good.clone();
        t.extend_from_slice(&[0, 3, 3, 3]); // garbage after a zero byte is never read
        traces.push(t);
        let mut t = good.clone();
        t[17] = 14; // bad length in the middle
        traces.push(t);
        let mut t = good.clone();
        t.truncate(good.len() - 3); // runs past the end
        traces.push(t);
        let mut t = good.clone();
        // Data whose last record is one byte short, plus the terminator the
        // store appends: `validate` takes the terminator as the record's last
        // byte and accepts it, and so must the validator.
        t.truncate(good.len() - 1);
        t.push(0);
        assert_eq!(validate(&t), Ok(4));
        traces.push(t);
        traces.push(Vec::new());
        traces.push(alloc::vec![12, 0, 0, 0]);
        for t in &traces {
            validator_agrees(t, &[]);
            for a in 0..=t.len() {
                validator_agrees(t, &[a]);
                for b in a..=t.len() {
                    validator_agrees(t, &[a, b]);
                }
            }
        }
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(validate(&[12, 0, 0, 0]), Err(MalformedRecord { offset: 0 }));
        assert_eq!(validate(&[14; 20]), Err(MalformedRecord { offset: 0 }));
        let mut buf = [0u8; 40];
        let n = encode(&mut buf, 1, 2, &[3]).unwrap();
        assert_eq!(validate(&buf[..n + 5]), Ok(1)); // zero bytes after it terminate
        buf[n] = 17; // a record that runs past the end
        assert_eq!(validate(&buf[..n + 5]), Err(MalformedRecord { offset: n }));
        assert!(encode(&mut buf, 1, 2, &[0; 17]).is_none());
    }
}
