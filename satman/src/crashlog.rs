//! The crash log: the last lines CPU0 logged before a panic, kept across the
//! soft reset the panic ends with, so that the next boot can serve them
//! (`CoreMgmtGetLog`) and count the crash (issue 9 item 4).
//!
//! It lives in a region nothing zeroes at boot (`.crashlog` in
//! linker/satman.ld; neither the loader nor QEMU's reset writes it). After a
//! power cycle (or the first boot) it holds garbage, so a record is trusted
//! only if its header and CRC-32 check: magic, a record count, the text's
//! length, then the CRC of the length and the text.
//!
//! [`write`] and [`read`] work on a byte slice so the format is tested on
//! the host; the firmware hands them the region.

/// "SATCRASH" in a word: the header's first field.
pub const MAGIC: u32 = 0x5341_4352;
/// Header: magic, crash count, text length, CRC-32 (little-endian words).
pub const HEADER: usize = 16;

fn word(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// CRC-32 (IEEE, reflected, as zlib's), bitwise: the region is small and
/// this runs once per crash and per boot.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn checksum(len: u32, text: &[u8]) -> u32 {
    let mut buf = [0u8; 4];
    buf.copy_from_slice(&len.to_le_bytes());
    // The length is covered too, so a torn header cannot pass.
    crc32(&buf) ^ crc32(text).rotate_left(1)
}

/// Writes a record holding the last bytes of `text` (as many as fit) into
/// `region`, as crash number `count`. Returns the bytes kept.
pub fn write(region: &mut [u8], count: u32, text: &[u8]) -> usize {
    write_parts(region, count, &[text])
}

/// [`write`] for a text in parts (the log ring's two halves), in order.
pub fn write_parts(region: &mut [u8], count: u32, parts: &[&[u8]]) -> usize {
    if region.len() < HEADER {
        return 0;
    }
    let room = region.len() - HEADER;
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut skip = total.saturating_sub(room);
    let mut at = HEADER;
    for p in parts {
        let cut = skip.min(p.len());
        skip -= cut;
        let p = &p[cut..];
        region[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    let len = (at - HEADER) as u32;
    let crc = checksum(len, &region[HEADER..at]);
    region[4..8].copy_from_slice(&count.to_le_bytes());
    region[8..12].copy_from_slice(&len.to_le_bytes());
    region[12..16].copy_from_slice(&crc.to_le_bytes());
    // The magic last: a record half written when the reset hit is not one.
    region[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    at - HEADER
}

/// A record found at boot.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// How many crashes in a row the record counts (1 for the first).
    pub count: u32,
    pub text: &'a [u8],
}

/// The record in `region`, if there is a valid one.
pub fn read(region: &[u8]) -> Option<Record<'_>> {
    if region.len() < HEADER || word(region, 0) != MAGIC {
        return None;
    }
    let len = word(region, 8);
    let text = region.get(HEADER..HEADER.checked_add(len as usize)?)?;
    (checksum(len, text) == word(region, 12)).then_some(Record { count: word(region, 4), text })
}

/// Forgets the record (after it has been taken into the log).
pub fn clear(region: &mut [u8]) {
    if region.len() >= 4 {
        region[0..4].copy_from_slice(&0u32.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn a_record_survives_and_is_checked() {
        let mut region = vec![0xA5u8; 256];
        assert_eq!(read(&region), None, "garbage is not a record");
        let n = write(&mut region, 1, b"line 1\nPANIC: boom\n");
        assert_eq!(n, 19);
        assert_eq!(read(&region), Some(Record { count: 1, text: b"line 1\nPANIC: boom\n" }));
        // Any flipped bit in the text, the length or the CRC is caught.
        for i in [9, 12, HEADER + 3] {
            let mut bad = region.clone();
            bad[i] ^= 0x10;
            assert_eq!(read(&bad), None, "byte {i}");
        }
        clear(&mut region);
        assert_eq!(read(&region), None);
    }

    #[test]
    fn only_the_tail_is_kept_when_the_log_is_longer() {
        let mut region = vec![0u8; HEADER + 8];
        assert_eq!(write(&mut region, 3, b"0123456789abcdef"), 8);
        assert_eq!(read(&region), Some(Record { count: 3, text: b"89abcdef" }));
        // A length beyond the region is refused, not read past.
        region[8..12].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(read(&region), None);
    }

    #[test]
    fn parts_are_joined_and_cut_from_the_front() {
        let mut region = vec![0u8; HEADER + 6];
        assert_eq!(write_parts(&mut region, 1, &[b"abcd", b"efgh"]), 6);
        assert_eq!(read(&region).unwrap().text, b"cdefgh");
        assert_eq!(write_parts(&mut region, 1, &[b"abcdefgh", b"ij"]), 6);
        assert_eq!(read(&region).unwrap().text, b"efghij");
        assert_eq!(write_parts(&mut region, 1, &[b"ab", b"cdefghij"]), 6);
        assert_eq!(read(&region).unwrap().text, b"efghij");
        assert_eq!(write_parts(&mut region, 1, &[b"", b"xy"]), 2);
        assert_eq!(read(&region).unwrap().text, b"xy");
    }

    #[test]
    fn crc32_is_the_usual_one() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
