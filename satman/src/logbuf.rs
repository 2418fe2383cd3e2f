//! The firmware's in-memory log, served to the master by CoreMgmtGetLog.
//!
//! A fixed ring of bytes: when full, the oldest bytes are overwritten, so
//! logging never allocates and never fails. The master pulls the log in
//! slices; [`LogBuffer::snapshot`] copies the current contents out (optionally
//! clearing them) so that lines logged while the slices are being served do
//! not tear the copy.

use alloc::vec::Vec;

pub struct LogBuffer<const N: usize> {
    buf: [u8; N],
    /// Index of the oldest byte.
    start: usize,
    len: usize,
}

impl<const N: usize> LogBuffer<N> {
    pub const fn new() -> Self {
        LogBuffer { buf: [0; N], start: 0, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn write(&mut self, mut data: &[u8]) {
        if data.len() > N {
            data = &data[data.len() - N..];
        }
        for &b in data {
            let end = (self.start + self.len) % N;
            self.buf[end] = b;
            if self.len == N {
                self.start = (self.start + 1) % N;
            } else {
                self.len += 1;
            }
        }
    }

    pub fn clear(&mut self) {
        self.start = 0;
        self.len = 0;
    }

    /// The two contiguous parts of the log, oldest first.
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        let first = (N - self.start).min(self.len);
        (&self.buf[self.start..self.start + first], &self.buf[..self.len - first])
    }

    /// Copies the log out, then clears it if `clear` is set. Returns `None`
    /// if the copy could not be allocated (the log is then left untouched).
    pub fn snapshot(&mut self, clear: bool) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        out.try_reserve_exact(self.len).ok()?;
        let (a, b) = self.as_slices();
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        if clear {
            self.clear();
        }
        Some(out)
    }
}

impl<const N: usize> Default for LogBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_bytes_when_full() {
        let mut log: LogBuffer<8> = LogBuffer::new();
        log.write(b"hello ");
        log.write(b"world");
        assert_eq!(log.snapshot(false).unwrap(), b"lo world");
        log.write(b"0123456789abc");
        assert_eq!(log.snapshot(true).unwrap(), b"56789abc");
        assert!(log.is_empty());
        log.write(b"x");
        assert_eq!(log.snapshot(false).unwrap(), b"x");
    }
}
