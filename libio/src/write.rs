use byteorder::{ByteOrder, LittleEndian};

use crate::Error;

/// A sink of bytes with little-endian helpers.
///
/// Implementors provide [`Write::write_all`]; it must either write the whole
/// buffer or fail without writing anything.
pub trait Write {
    fn write_all(&mut self, buf: &[u8]) -> Result<(), Error>;

    fn write_u8(&mut self, v: u8) -> Result<(), Error> {
        self.write_all(&[v])
    }

    fn write_bool(&mut self, v: bool) -> Result<(), Error> {
        self.write_u8(v as u8)
    }

    fn write_u16(&mut self, v: u16) -> Result<(), Error> {
        let mut b = [0; 2];
        LittleEndian::write_u16(&mut b, v);
        self.write_all(&b)
    }

    fn write_u32(&mut self, v: u32) -> Result<(), Error> {
        let mut b = [0; 4];
        LittleEndian::write_u32(&mut b, v);
        self.write_all(&b)
    }

    fn write_u64(&mut self, v: u64) -> Result<(), Error> {
        let mut b = [0; 8];
        LittleEndian::write_u64(&mut b, v);
        self.write_all(&b)
    }

    fn write_i32(&mut self, v: i32) -> Result<(), Error> {
        self.write_u32(v as u32)
    }

    fn write_i64(&mut self, v: i64) -> Result<(), Error> {
        self.write_u64(v as u64)
    }

    fn write_f64(&mut self, v: f64) -> Result<(), Error> {
        self.write_u64(v.to_bits())
    }
}

impl<W: Write + ?Sized> Write for &mut W {
    fn write_all(&mut self, buf: &[u8]) -> Result<(), Error> {
        (**self).write_all(buf)
    }
}

#[cfg(feature = "alloc")]
impl Write for alloc::vec::Vec<u8> {
    fn write_all(&mut self, buf: &[u8]) -> Result<(), Error> {
        self.extend_from_slice(buf);
        Ok(())
    }
}
