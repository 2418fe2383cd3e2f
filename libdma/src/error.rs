use core::fmt;

use crate::split::SplitError;

/// Why the store refused an operation. The store is unchanged unless the
/// variant says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The trace would not fit in the arena (the store's byte budget).
    /// A partial upload or recording is discarded.
    OverBudget { requested: usize, available: usize },
    /// No trace with that key (or name).
    NotFound,
    /// The trace is still being uploaded.
    Incomplete,
    /// The trace is being played back and cannot be replaced or freed.
    Busy,
    /// A middle or last chunk arrived with no upload of that key in progress.
    OrphanChunk,
    /// A recording is already in progress.
    RecordingActive,
    /// No recording is in progress.
    NotRecording,
    /// The recording length is larger than its lease.
    BadLength { len: usize, capacity: usize },
    /// A record's length byte is impossible or runs past the trace end; the
    /// trace is discarded.
    Malformed { offset: usize },
    /// A recorded event targets destination 0; the recording is discarded.
    DestinationZero { offset: usize },
    /// The general heap could not hold the store's bookkeeping.
    OutOfMemory,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::OverBudget { requested, available } => write!(
                f,
                "DMA trace over budget: {} bytes requested, {} available",
                requested, available
            ),
            StoreError::NotFound => f.write_str("no such DMA trace"),
            StoreError::Incomplete => f.write_str("DMA trace upload incomplete"),
            StoreError::Busy => f.write_str("DMA trace is being played back"),
            StoreError::OrphanChunk => f.write_str("DMA trace chunk without a first chunk"),
            StoreError::RecordingActive => f.write_str("DMA recording already in progress"),
            StoreError::NotRecording => f.write_str("no DMA recording in progress"),
            StoreError::BadLength { len, capacity } => {
                write!(f, "DMA recording length {} exceeds its buffer ({} bytes)", len, capacity)
            }
            StoreError::Malformed { offset } => write!(f, "malformed DMA record at offset {}", offset),
            StoreError::DestinationZero { offset } => {
                write!(f, "DMA record at offset {} targets destination 0", offset)
            }
            StoreError::OutOfMemory => f.write_str("out of memory in the DMA store"),
        }
    }
}

impl From<SplitError> for StoreError {
    fn from(e: SplitError) -> Self {
        match e {
            SplitError::Malformed { offset } => StoreError::Malformed { offset },
            SplitError::DestinationZero { offset } => StoreError::DestinationZero { offset },
            SplitError::OutOfMemory => StoreError::OutOfMemory,
            SplitError::RemoteTooLarge { at_least, max } => StoreError::OverBudget { requested: at_least, available: max },
        }
    }
}
