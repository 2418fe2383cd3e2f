//! `/CONFIG.TXT`: `key=value` lines, keys matched ignoring ASCII case
//! (upstream libconfig's format). Pure text functions, no card access.

use alloc::string::String;
use alloc::vec::Vec;

/// Longest value stored in `CONFIG.TXT`; longer ones go to `/CONFIG/<KEY>.BIN`.
pub const MAX_TEXT_VALUE: usize = 100;

/// Whether a value belongs in `CONFIG.TXT`: short, printable ASCII, one line.
pub fn is_text(value: &[u8]) -> bool {
    value.len() <= MAX_TEXT_VALUE && value.iter().all(|&b| (0x20..0x7F).contains(&b))
}

/// Whether a key can be stored: non-empty, usable in `CONFIG.TXT` (no `=`,
/// no line break) and as the file name `<KEY>.BIN`.
pub fn key_ok(key: &str) -> bool {
    key.len() <= 64 && !key.contains('=') && crate::fat::name::long_name_ok(key) && !key.starts_with('.')
}

fn lines(txt: &[u8]) -> impl Iterator<Item = &[u8]> {
    txt.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

fn split(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let eq = line.iter().position(|&b| b == b'=')?;
    Some((&line[..eq], &line[eq + 1..]))
}

/// The value of `key` (the last line that sets it wins).
pub fn lookup<'a>(txt: &'a [u8], key: &str) -> Option<&'a [u8]> {
    lines(txt)
        .filter_map(split)
        .filter(|(k, _)| k.eq_ignore_ascii_case(key.as_bytes()))
        .map(|(_, v)| v)
        .last()
}

/// `txt` without the lines setting `key`; whether there were any.
pub fn remove(txt: &[u8], key: &str) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(txt.len());
    let mut found = false;
    for l in lines(txt) {
        if split(l).is_some_and(|(k, _)| k.eq_ignore_ascii_case(key.as_bytes())) {
            found = true;
            continue;
        }
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    (out, found)
}

/// `txt` with `key=value` replacing any line for `key` (appended last).
pub fn set(txt: &[u8], key: &str, value: &[u8]) -> Vec<u8> {
    let (mut out, _) = remove(txt, key);
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

/// Every key set in `txt`, in order, without duplicates (ignoring case).
pub fn keys(txt: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for (k, _) in lines(txt).filter_map(split) {
        let k = String::from_utf8_lossy(k).into_owned();
        if !v.iter().any(|x| x.eq_ignore_ascii_case(&k)) {
            v.push(k);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_set_remove() {
        let t = b"log_level=INFO\r\n# comment\nRTIO_CLOCK=int_125\n\nx==y\n";
        assert_eq!(lookup(t, "LOG_LEVEL"), Some(&b"INFO"[..]));
        assert_eq!(lookup(t, "rtio_clock"), Some(&b"int_125"[..]));
        assert_eq!(lookup(t, "x"), Some(&b"=y"[..]));
        assert_eq!(lookup(t, "comment"), None);
        let t2 = set(t, "Log_Level", b"DEBUG");
        assert_eq!(t2, b"# comment\nRTIO_CLOCK=int_125\nx==y\nLog_Level=DEBUG\n");
        let (t3, found) = remove(&t2, "rtio_clock");
        assert!(found);
        assert_eq!(t3, b"# comment\nx==y\nLog_Level=DEBUG\n");
        assert_eq!(remove(&t3, "nope"), (t3.clone(), false));
        assert_eq!(keys(t), ["log_level", "RTIO_CLOCK", "x"]);
    }

    #[test]
    fn classification() {
        assert!(is_text(b"INFO"));
        assert!(is_text(b""));
        assert!(!is_text(b"a\nb"));
        assert!(!is_text(&[0, 1]));
        assert!(!is_text(&[b'a'; 101]));
        assert!(key_ok("device_map"));
        assert!(!key_ok("a=b"));
        assert!(!key_ok(""));
        assert!(!key_ok("a/b"));
    }
}
