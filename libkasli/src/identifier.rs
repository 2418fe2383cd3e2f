//! The gateware identifier string (CSR bank `identifier`): byte 0 is the
//! length, bytes 1.. the text. Reading it first is the cheap proof that
//! the CSR map matches the loaded bitstream: a wrong map or an unloaded PL
//! reads a zero length or bytes that are not text.

use core::fmt;

use crate::csr::BoardCsr;

/// Longest identifier kept (ARTIQ's are about 40 bytes).
pub const MAX_LEN: usize = 128;

/// What the identifier must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentifierCheck {
    /// Any non-empty printable ASCII string.
    #[default]
    Text,
    /// Printable ASCII containing this (e.g. the gateware variant).
    Contains(&'static str),
}

/// Why the identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifierError {
    /// Length byte 0: no identifier (wrong CSR map, or no bitstream).
    Empty,
    /// A byte that is not printable ASCII, at this index.
    NotText { index: usize, byte: u8 },
    /// Readable, but not the gateware this firmware drives (the start-up
    /// has logged what it read just before).
    Mismatch { expected: &'static str },
}

impl fmt::Display for IdentifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentifierError::Empty => {
                f.write_str("gateware identifier is empty (CSR map or bitstream wrong)")
            }
            IdentifierError::NotText { index, byte } => {
                write!(f, "gateware identifier byte {index} is {byte:#04x}, not text (CSR map or bitstream wrong)")
            }
            IdentifierError::Mismatch { expected } => {
                write!(f, "gateware identifier does not contain \"{expected}\"")
            }
        }
    }
}

/// An identifier read from the gateware.
#[derive(Clone, PartialEq, Eq)]
pub struct Identifier {
    bytes: [u8; MAX_LEN],
    len: usize,
    /// The length byte, when it was longer than [`MAX_LEN`].
    truncated_from: Option<u8>,
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identifier({:?})", self.as_str())
    }
}

impl Identifier {
    /// Reads the string (length byte, then up to [`MAX_LEN`] bytes).
    pub fn read<C: BoardCsr + ?Sized>(csr: &mut C) -> Identifier {
        csr.write_identifier_address(0);
        let full = csr.read_identifier_data();
        let len = usize::from(full).min(MAX_LEN);
        let mut bytes = [0u8; MAX_LEN];
        for (i, b) in bytes[..len].iter_mut().enumerate() {
            csr.write_identifier_address(1 + i as u8);
            *b = csr.read_identifier_data();
        }
        Identifier {
            bytes,
            len,
            truncated_from: (usize::from(full) > MAX_LEN).then_some(full),
        }
    }

    /// The text (empty if it is not ASCII: [`Identifier::check`] refuses it).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }

    pub fn truncated_from(&self) -> Option<u8> {
        self.truncated_from
    }

    pub fn check(&self, check: IdentifierCheck) -> Result<(), IdentifierError> {
        if self.len == 0 {
            return Err(IdentifierError::Empty);
        }
        if let Some((index, &byte)) = self.bytes[..self.len]
            .iter()
            .enumerate()
            .find(|(_, b)| !(0x20..0x7f).contains(*b))
        {
            return Err(IdentifierError::NotText { index, byte });
        }
        match check {
            IdentifierCheck::Text => Ok(()),
            IdentifierCheck::Contains(expected) if self.as_str().contains(expected) => Ok(()),
            IdentifierCheck::Contains(expected) => Err(IdentifierError::Mismatch { expected }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rom<'a>(&'a [u8], u8);
    impl BoardCsr for Rom<'_> {
        fn write_identifier_address(&mut self, a: u8) {
            self.1 = a;
        }
        fn read_identifier_data(&mut self) -> u8 {
            self.0.get(usize::from(self.1)).copied().unwrap_or(0)
        }
        fn write_stable_clkin(&mut self, _: u32) {}
        fn read_current_clock(&mut self) -> u32 {
            0
        }
        fn write_txenable(&mut self, _: u32) {}
    }

    #[test]
    fn reads_and_checks() {
        let id = Identifier::read(&mut Rom(b"\x0b9.0;satellite", 0));
        assert_eq!(id.as_str(), "9.0;satelli");
        assert_eq!(id.check(IdentifierCheck::Contains("satelli")), Ok(()));
        assert!(matches!(
            id.check(IdentifierCheck::Contains("master")),
            Err(IdentifierError::Mismatch { .. })
        ));
        let id = Identifier::read(&mut Rom(b"", 0));
        assert_eq!(id.check(IdentifierCheck::Text), Err(IdentifierError::Empty));
        let id = Identifier::read(&mut Rom(b"\x03ab\xff", 0));
        assert_eq!(
            id.check(IdentifierCheck::Text),
            Err(IdentifierError::NotText {
                index: 2,
                byte: 0xff
            })
        );
        let mut long = [b'x'; 256];
        long[0] = 200;
        let id = Identifier::read(&mut Rom(&long, 0));
        assert_eq!(
            (id.as_str().len(), id.truncated_from()),
            (MAX_LEN, Some(200))
        );
    }
}
