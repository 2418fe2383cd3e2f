//! The payloads of configuration requests, and the keys satman applies.

use libio::{Cursor, Read};
use log::LevelFilter;

/// Parses a log level name, as `log_level` / `uart_log_level` take it.
pub fn parse_level(s: &[u8]) -> Option<LevelFilter> {
    let s = core::str::from_utf8(s).ok()?.trim();
    Some(match () {
        _ if s.eq_ignore_ascii_case("off") => LevelFilter::Off,
        _ if s.eq_ignore_ascii_case("error") => LevelFilter::Error,
        _ if s.eq_ignore_ascii_case("warn") => LevelFilter::Warn,
        _ if s.eq_ignore_ascii_case("info") => LevelFilter::Info,
        _ if s.eq_ignore_ascii_case("debug") => LevelFilter::Debug,
        _ if s.eq_ignore_ascii_case("trace") => LevelFilter::Trace,
        _ => return None,
    })
}

/// Splits a `ConfigWrite` payload: u32 key length, key, u32 value length,
/// value. `None` if truncated, over-long or the key is not UTF-8.
pub fn parse_write(payload: &[u8]) -> Option<(&str, &[u8])> {
    let mut r = Cursor::new(payload);
    let klen = r.read_u32().ok()? as usize;
    let key = core::str::from_utf8(r.take(klen).ok()?).ok()?;
    let vlen = r.read_u32().ok()? as usize;
    let value = r.take(vlen).ok()?;
    Some((key, value))
}

/// A key the store can hold: printable ASCII without `=` or a path
/// separator (it becomes a `CONFIG.TXT` line or a file name).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'=' | b'/' | b'\\' | b':' | b'*' | b'?' | b'"' | b'<' | b'>' | b'|'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn levels_parse_case_insensitively() {
        assert_eq!(parse_level(b"TRACE"), Some(LevelFilter::Trace));
        assert_eq!(parse_level(b"warn"), Some(LevelFilter::Warn));
        assert_eq!(parse_level(b"Off"), Some(LevelFilter::Off));
        assert_eq!(parse_level(b"loud"), None);
        assert_eq!(parse_level(&[0xff]), None);
    }

    #[test]
    fn write_payload_parses_and_rejects_truncation() {
        let mut p = Vec::new();
        p.extend_from_slice(&9u32.to_le_bytes());
        p.extend_from_slice(b"log_level");
        p.extend_from_slice(&4u32.to_le_bytes());
        p.extend_from_slice(b"info");
        assert_eq!(parse_write(&p), Some(("log_level", &b"info"[..])));
        for n in 0..p.len() {
            assert_eq!(parse_write(&p[..n]), None);
        }
        // A length that overflows the payload is refused, not wrapped.
        let mut q = Vec::new();
        q.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_write(&q), None);
    }

    #[test]
    fn keys_that_cannot_be_lines_or_file_names_are_refused() {
        assert!(valid_key("log_level"));
        assert!(valid_key("eem_drtio_delay0"));
        for k in ["", "a=b", "a/b", "a b", "ü", "x\n"] {
            assert!(!valid_key(k), "{k:?}");
        }
    }
}
