use core::fmt;

/// Why a read or write could not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The input ended before the value was complete.
    UnexpectedEnd,
    /// The output has no room left for the value.
    BufferFull,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnexpectedEnd => f.write_str("unexpected end of input"),
            Error::BufferFull => f.write_str("output buffer full"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
