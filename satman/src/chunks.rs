//! The one way a long value leaves the satellite: staged once, then served
//! one aux payload at a time ("send the next slice").
//!
//! The log, a config value, an exception or a trace the master fetches in
//! slices all have the same shape: a copy taken when the first request
//! arrives (so concurrent changes cannot tear it), an offset, and a `last`
//! flag on the slice that reaches the end.

use alloc::vec::Vec;

use libdrtio::PayloadStatus;

/// A staged value and how much of it has been served.
#[derive(Debug, Default)]
pub struct Chunks {
    data: Vec<u8>,
    sent: usize,
}

impl Chunks {
    pub fn new(data: Vec<u8>) -> Chunks {
        Chunks { data, sent: 0 }
    }

    /// The next slice of at most `max` bytes, and whether it is the last.
    /// An empty value is served as one empty last slice.
    pub fn next_slice(&mut self, max: usize) -> (&[u8], bool) {
        let start = self.sent;
        let end = start.saturating_add(max).min(self.data.len());
        self.sent = end;
        (&self.data[start..end], end == self.data.len())
    }

    /// [`Chunks::next_slice`] with the slice's place in the value, as the
    /// chunked aux packets carry it.
    pub fn next_payload(&mut self, max: usize) -> (&[u8], PayloadStatus) {
        let first = self.sent == 0;
        let (data, last) = self.next_slice(max);
        (data, PayloadStatus::from_flags(first, last))
    }

    /// Whether every byte has been served.
    pub fn done(&self) -> bool {
        self.sent == self.data.len()
    }

    /// Bytes held (for memory accounting).
    pub fn held(&self) -> usize {
        self.data.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_value_once() {
        let v: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        let mut c = Chunks::new(v.clone());
        let mut out = Vec::new();
        loop {
            let (s, last) = c.next_slice(1000);
            out.extend_from_slice(s);
            if last {
                break;
            }
        }
        assert_eq!(out, v);
        assert!(c.done());
    }

    #[test]
    fn empty_value_is_one_last_slice() {
        let mut c = Chunks::new(Vec::new());
        assert_eq!(c.next_slice(10), (&[][..], true));
    }

    #[test]
    fn payload_status_marks_the_first_and_last_slices() {
        let mut c = Chunks::new(alloc::vec![1; 25]);
        let flags = |s: PayloadStatus| (s.is_first(), s.is_last());
        assert_eq!(flags(c.next_payload(10).1), (true, false));
        assert_eq!(flags(c.next_payload(10).1), (false, false));
        let (data, status) = c.next_payload(10);
        assert_eq!((data.len(), flags(status)), (5, (false, true)));
        let mut empty = Chunks::new(Vec::new());
        assert_eq!(flags(empty.next_payload(10).1), (true, true));
    }

    #[test]
    fn exact_multiple_ends_on_a_full_slice() {
        let mut c = Chunks::new(alloc::vec![7; 20]);
        assert_eq!(c.next_slice(10).1, false);
        assert_eq!(c.next_slice(10).1, true);
    }
}
