//! Chunk position flags of the three chunked uploads that carry them
//! (`DmaAddTraceRequest`, `SubkernelAddDataRequest`, `SubkernelMessage`).
//!
//! Every other chunked packet marks only the end, with a `last: bool`.

use core::fmt;

/// Where a chunk sits in a chunked payload; one byte on the wire.
///
/// The two low bits are independent flags (bit 0 = first, bit 1 = last),
/// which is why a single-chunk payload is `FirstAndLast` = 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PayloadStatus {
    /// Neither the first nor the last chunk.
    Middle = 0,
    /// Starts a payload that continues in later chunks.
    First = 1,
    /// Ends a payload begun by an earlier chunk.
    Last = 2,
    /// The whole payload fits in this one chunk.
    FirstAndLast = 3,
}

impl PayloadStatus {
    /// The status for a chunk with the given position flags.
    pub const fn from_flags(first: bool, last: bool) -> Self {
        match (first, last) {
            (false, false) => PayloadStatus::Middle,
            (true, false) => PayloadStatus::First,
            (false, true) => PayloadStatus::Last,
            (true, true) => PayloadStatus::FirstAndLast,
        }
    }

    /// Parses the wire byte; values above 3 are not a status.
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(PayloadStatus::Middle),
            1 => Some(PayloadStatus::First),
            2 => Some(PayloadStatus::Last),
            3 => Some(PayloadStatus::FirstAndLast),
            _ => None,
        }
    }

    /// The wire byte.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// True for `First` and `FirstAndLast`: the receiver starts a new payload.
    pub const fn is_first(self) -> bool {
        matches!(self, PayloadStatus::First | PayloadStatus::FirstAndLast)
    }

    /// True for `Last` and `FirstAndLast`: the payload is complete after this chunk.
    pub const fn is_last(self) -> bool {
        matches!(self, PayloadStatus::Last | PayloadStatus::FirstAndLast)
    }
}

impl From<PayloadStatus> for u8 {
    fn from(status: PayloadStatus) -> u8 {
        status.as_u8()
    }
}

/// The byte that failed [`PayloadStatus::try_from`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvalidStatus(pub u8);

impl fmt::Display for InvalidStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid payload status {}", self.0)
    }
}

impl core::error::Error for InvalidStatus {}

impl TryFrom<u8> for PayloadStatus {
    type Error = InvalidStatus;

    fn try_from(value: u8) -> Result<Self, InvalidStatus> {
        PayloadStatus::from_u8(value).ok_or(InvalidStatus(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip() {
        for first in [false, true] {
            for last in [false, true] {
                let s = PayloadStatus::from_flags(first, last);
                assert_eq!((s.is_first(), s.is_last()), (first, last));
                assert_eq!(PayloadStatus::from_u8(s.as_u8()), Some(s));
                // Bit 0 = first, bit 1 = last, as on the wire.
                assert_eq!(s.as_u8(), first as u8 | (last as u8) << 1);
            }
        }
    }

    #[test]
    fn values_above_three_are_rejected() {
        for v in 4..=u8::MAX {
            assert_eq!(PayloadStatus::try_from(v), Err(InvalidStatus(v)));
        }
    }
}
