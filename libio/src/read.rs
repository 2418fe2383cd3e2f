use byteorder::{ByteOrder, LittleEndian};

use crate::Error;

/// A source of bytes with little-endian helpers.
///
/// Implementors provide [`Read::read_exact`]; it must either fill the whole
/// buffer or fail without consuming anything.
pub trait Read {
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), Error>;

    fn read_u8(&mut self) -> Result<u8, Error> {
        let mut b = [0; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    /// Any non-zero byte reads as `true`, as the ARTIQ firmware does.
    fn read_bool(&mut self) -> Result<bool, Error> {
        Ok(self.read_u8()? != 0)
    }

    fn read_u16(&mut self) -> Result<u16, Error> {
        let mut b = [0; 2];
        self.read_exact(&mut b)?;
        Ok(LittleEndian::read_u16(&b))
    }

    fn read_u32(&mut self) -> Result<u32, Error> {
        let mut b = [0; 4];
        self.read_exact(&mut b)?;
        Ok(LittleEndian::read_u32(&b))
    }

    fn read_u64(&mut self) -> Result<u64, Error> {
        let mut b = [0; 8];
        self.read_exact(&mut b)?;
        Ok(LittleEndian::read_u64(&b))
    }

    fn read_i32(&mut self) -> Result<i32, Error> {
        self.read_u32().map(|v| v as i32)
    }

    fn read_i64(&mut self) -> Result<i64, Error> {
        self.read_u64().map(|v| v as i64)
    }

    fn read_f64(&mut self) -> Result<f64, Error> {
        self.read_u64().map(f64::from_bits)
    }
}

impl<R: Read + ?Sized> Read for &mut R {
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        (**self).read_exact(buf)
    }
}
