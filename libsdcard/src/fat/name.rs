//! File names in directory entries: 8.3 short names, their checksums, and
//! the comparison rules (case-insensitive, as FAT does).

use alloc::string::String;

/// `NAME.EXT` from the 11 bytes of a short entry (trailing spaces dropped).
pub fn short_display(sfn: &[u8; 11]) -> String {
    let mut s = String::new();
    for &b in sfn[..8].iter().take_while(|&&b| b != b' ') {
        s.push(if b == 0x05 { 0xE5 as char } else { b as char });
    }
    if sfn[8] != b' ' {
        s.push('.');
        for &b in sfn[8..].iter().take_while(|&&b| b != b' ') {
            s.push(b as char);
        }
    }
    s
}

/// The checksum of a short name that every long-name entry repeats.
pub fn lfn_checksum(sfn: &[u8; 11]) -> u8 {
    sfn.iter().fold(0u8, |s, &b| s.rotate_right(1).wrapping_add(b))
}

fn short_char_ok(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b"$%'-_@~`!(){}^#&".contains(&b)
}

/// The 8.3 entry bytes when `name` is exactly a valid upper-case short name
/// (so no long-name entry is needed).
pub fn exact_short(name: &str) -> Option<[u8; 11]> {
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) => (b, e),
        None => (name, ""),
    };
    if base.is_empty() || base.len() > 8 || ext.len() > 3 {
        return None;
    }
    if !base.bytes().chain(ext.bytes()).all(short_char_ok) {
        return None;
    }
    let mut out = [b' '; 11];
    out[..base.len()].copy_from_slice(base.as_bytes());
    out[8..8 + ext.len()].copy_from_slice(ext.as_bytes());
    Some(out)
}

/// A short alias `BASE~N.EXT` for a long name (the caller picks `n` so that
/// it is unique in the directory).
pub fn short_alias(name: &str, n: u32) -> [u8; 11] {
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) if !b.is_empty() => (b, e),
        _ => (name, ""),
    };
    let clean = |s: &str| -> alloc::vec::Vec<u8> {
        s.bytes()
            .map(|b| b.to_ascii_uppercase())
            .filter(|&b| b != b' ' && b != b'.')
            .map(|b| if short_char_ok(b) { b } else { b'_' })
            .collect()
    };
    let (base, ext) = (clean(base), clean(ext));
    let mut tail = [0u8; 8];
    let mut t = 0;
    let mut k = n;
    loop {
        tail[7 - t] = b'0' + (k % 10) as u8;
        t += 1;
        k /= 10;
        if k == 0 {
            break;
        }
    }
    tail[7 - t] = b'~';
    t += 1;
    let keep = base.len().min(8 - t).max(1);
    let mut out = [b' '; 11];
    out[..keep].copy_from_slice(&base[..keep.min(base.len())]);
    if base.is_empty() {
        out[0] = b'_';
    }
    out[keep..keep + t].copy_from_slice(&tail[8 - t..]);
    let e = ext.len().min(3);
    out[8..8 + e].copy_from_slice(&ext[..e]);
    out
}

/// Characters a long name may hold (printable ASCII minus the reserved ones).
pub fn long_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| (0x20..0x7F).contains(&b) && !b"\\/:*?\"<>|".contains(&b))
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && !name.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(&exact_short("BOOT.BIN").unwrap(), b"BOOT    BIN");
        assert_eq!(&exact_short("CONFIG").unwrap(), b"CONFIG     ");
        assert_eq!(exact_short("boot.bin"), None);
        assert_eq!(exact_short("DEVICE_MAP.BIN"), None);
        assert_eq!(short_display(b"BOOT    BIN"), "BOOT.BIN");
        assert_eq!(short_display(b"CONFIG     "), "CONFIG");
        assert_eq!(&short_alias("device_map.BIN", 1), b"DEVICE~1BIN");
        assert_eq!(&short_alias("a.b.c", 12), b"AB~12   C  ");
        assert_eq!(&short_alias("x+y", 3), b"X_Y~3      ");
    }

    #[test]
    fn checksum_matches_known_value() {
        // Checksum of "DEVICE~1BIN" computed by hand with the FAT algorithm.
        let mut s = 0u8;
        for &b in b"DEVICE~1BIN" {
            s = ((s & 1) << 7).wrapping_add(s >> 1).wrapping_add(b);
        }
        assert_eq!(lfn_checksum(b"DEVICE~1BIN"), s);
    }

    #[test]
    fn long_names() {
        assert!(long_name_ok("device_map.BIN"));
        assert!(!long_name_ok("a/b"));
        assert!(!long_name_ok(""));
        assert!(!long_name_ok("x."));
    }
}
