use crate::{Error, Read, Write};

/// A position within a byte slice, readable (`&[u8]`) or writable (`&mut [u8]`).
#[derive(Debug)]
pub struct Cursor<T> {
    inner: T,
    pos: usize,
}

/// Reads from a borrowed slice; [`Cursor::take`] hands out zero-copy sub-slices.
pub type SliceReader<'a> = Cursor<&'a [u8]>;
/// Writes into a borrowed, fixed-size slice.
pub type SliceWriter<'a> = Cursor<&'a mut [u8]>;

impl<T> Cursor<T> {
    pub const fn new(inner: T) -> Self {
        Cursor { inner, pos: 0 }
    }

    pub const fn position(&self) -> usize {
        self.pos
    }

    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsRef<[u8]>> Cursor<T> {
    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.inner.as_ref().len() - self.pos
    }

    /// Moves the position; fails (without moving) past the end.
    pub fn set_position(&mut self, pos: usize) -> Result<(), Error> {
        if pos > self.inner.as_ref().len() {
            return Err(Error::UnexpectedEnd);
        }
        self.pos = pos;
        Ok(())
    }

    /// Advances over `n` bytes without reading them.
    pub fn skip(&mut self, n: usize) -> Result<(), Error> {
        self.set_position(self.pos.checked_add(n).ok_or(Error::UnexpectedEnd)?)
    }
}

impl<'a> Cursor<&'a [u8]> {
    /// Consumes `n` bytes and returns them borrowed from the underlying slice.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::UnexpectedEnd)?;
        let s = self.inner.get(self.pos..end).ok_or(Error::UnexpectedEnd)?;
        self.pos = end;
        Ok(s)
    }

    /// The unread rest of the slice.
    pub fn rest(&self) -> &'a [u8] {
        &self.inner[self.pos..]
    }
}

impl Read for Cursor<&[u8]> {
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        buf.copy_from_slice(self.take(buf.len())?);
        Ok(())
    }
}

impl Cursor<&mut [u8]> {
    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.inner[..self.pos]
    }
}

impl Write for Cursor<&mut [u8]> {
    fn write_all(&mut self, buf: &[u8]) -> Result<(), Error> {
        let end = self.pos.checked_add(buf.len()).ok_or(Error::BufferFull)?;
        let dst = self.inner.get_mut(self.pos..end).ok_or(Error::BufferFull)?;
        dst.copy_from_slice(buf);
        self.pos = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_round_trip() {
        let mut buf = [0u8; 23];
        let mut w = Cursor::new(&mut buf[..]);
        w.write_u8(0xAB).unwrap();
        w.write_u16(0x1234).unwrap();
        w.write_u32(0xDEAD_BEEF).unwrap();
        w.write_u64(0x0102_0304_0506_0708).unwrap();
        w.write_i64(-2).unwrap();
        assert_eq!(w.position(), 23);
        assert_eq!(&buf[..7], &[0xAB, 0x34, 0x12, 0xEF, 0xBE, 0xAD, 0xDE]);

        let mut r = Cursor::new(&buf[..]);
        assert_eq!(r.read_u8(), Ok(0xAB));
        assert_eq!(r.read_u16(), Ok(0x1234));
        assert_eq!(r.read_u32(), Ok(0xDEAD_BEEF));
        assert_eq!(r.read_u64(), Ok(0x0102_0304_0506_0708));
        assert_eq!(r.read_i64(), Ok(-2));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn short_read_fails_without_consuming() {
        let data = [1u8, 2, 3];
        let mut r = Cursor::new(&data[..]);
        assert_eq!(r.read_u32(), Err(Error::UnexpectedEnd));
        assert_eq!(r.position(), 0);
        assert_eq!(r.take(4), Err(Error::UnexpectedEnd));
        assert_eq!(r.take(3), Ok(&data[..]));
        assert_eq!(r.read_bool(), Err(Error::UnexpectedEnd));
        assert_eq!(r.take(usize::MAX), Err(Error::UnexpectedEnd));
    }

    #[test]
    fn full_write_fails_without_writing() {
        let mut buf = [0u8; 3];
        let mut w = Cursor::new(&mut buf[..]);
        assert_eq!(w.write_u32(7), Err(Error::BufferFull));
        assert_eq!(w.position(), 0);
        w.write_u16(0xFFFF).unwrap();
        assert_eq!(w.written(), &[0xFF, 0xFF]);
    }

    #[test]
    fn bool_reads_any_nonzero_as_true() {
        let data = [0u8, 1, 0x80];
        let mut r = Cursor::new(&data[..]);
        assert_eq!(r.read_bool(), Ok(false));
        assert_eq!(r.read_bool(), Ok(true));
        assert_eq!(r.read_bool(), Ok(true));
    }

    #[test]
    fn vec_writer_grows() {
        let mut v = alloc::vec::Vec::new();
        v.write_u32(1).unwrap();
        v.write_all(b"ab").unwrap();
        assert_eq!(v, [1, 0, 0, 0, b'a', b'b']);
    }
}
