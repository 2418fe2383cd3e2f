//! Splitting a recorded trace by destination.
//!
//! A subkernel records events for any destination; the satellite keeps its
//! own and sends the others to their destinations. The split walks the
//! records once, compacting local records towards the start of the buffer
//! (a no-op when everything is local, the common case) and copying remote
//! ones into one buffer per destination.

use alloc::collections::TryReserveError;
use alloc::vec::Vec;
use core::fmt;

use crate::record::valid_length;

/// The records of one remote destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePart {
    pub destination: u8,
    /// Records without terminator (the receiver appends one).
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Length of the local records now at the start of the buffer.
    pub local_len: usize,
    pub remote: Vec<RemotePart>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// A record's length byte is impossible or runs past the recording.
    Malformed { offset: usize },
    /// An event for destination 0 (the master's own RTIO), which a
    /// satellite cannot play.
    DestinationZero { offset: usize },
    OutOfMemory,
    /// The parts for other destinations would take more than the caller's
    /// limit of general heap (`max` bytes); `at_least` were needed.
    RemoteTooLarge { at_least: usize, max: usize },
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::Malformed { offset } => write!(f, "malformed DMA record at offset {}", offset),
            SplitError::DestinationZero { offset } => {
                write!(f, "DMA record at offset {} targets destination 0", offset)
            }
            SplitError::OutOfMemory => f.write_str("out of memory splitting DMA trace"),
            SplitError::RemoteTooLarge { at_least, max } => {
                write!(f, "DMA trace parts for other destinations over budget: {} bytes or more, {} allowed", at_least, max)
            }
        }
    }
}

impl From<TryReserveError> for SplitError {
    fn from(_: TryReserveError) -> Self {
        SplitError::OutOfMemory
    }
}

/// Splits `buf` (exactly the recorded bytes) keeping `local` events in place.
/// On error the buffer's contents are unspecified.
pub fn split_in_place(buf: &mut [u8], local: u8) -> Result<Split, SplitError> {
    split_in_place_within(buf, local, usize::MAX)
}

/// [`split_in_place`], with the parts for other destinations (copied to
/// the general heap) limited to `max_remote` bytes in total: over that, the
/// split stops before copying more.
pub fn split_in_place_within(buf: &mut [u8], local: u8, max_remote: usize) -> Result<Split, SplitError> {
    let mut remote_bytes = 0usize;
    let mut read = 0;
    let mut write = 0;
    let mut remote: Vec<RemotePart> = Vec::new();
    while read < buf.len() {
        let len = buf[read] as usize;
        if !valid_length(len) || buf.len() - read < len {
            return Err(SplitError::Malformed { offset: read });
        }
        let dest = buf[read + 3];
        if dest == local {
            if write != read {
                buf.copy_within(read..read + len, write);
            }
            write += len;
        } else if dest == 0 {
            return Err(SplitError::DestinationZero { offset: read });
        } else {
            remote_bytes = remote_bytes.saturating_add(len);
            if remote_bytes > max_remote {
                return Err(SplitError::RemoteTooLarge { at_least: remote_bytes, max: max_remote });
            }
            let part = match remote.iter_mut().position(|p| p.destination == dest) {
                Some(i) => &mut remote[i],
                None => {
                    remote.try_reserve(1)?;
                    remote.push(RemotePart { destination: dest, bytes: Vec::new() });
                    remote.last_mut().unwrap()
                }
            };
            part.bytes.try_reserve(len)?;
            part.bytes.extend_from_slice(&buf[read..read + len]);
        }
        read += len;
    }
    Ok(Split { local_len: write, remote })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{encode, Records};

    fn trace(events: &[(u32, i64)]) -> Vec<u8> {
        let mut t = Vec::new();
        let mut rec = [0u8; 17];
        for &(target, ts) in events {
            let n = encode(&mut rec, target, ts, &[ts as u32]).unwrap();
            t.extend_from_slice(&rec[..n]);
        }
        t
    }

    #[test]
    fn remote_parts_over_the_limit_are_refused_before_copying() {
        let events = [(0x0200_0100, 1), (0x0100_0F00, 2), (0x0300_0000, 3)];
        let remote: usize = 2 * trace(&events[..1]).len();
        let mut t = trace(&events);
        assert_eq!(split_in_place_within(&mut t, 1, remote).unwrap().remote.len(), 2);
        let mut t = trace(&events);
        assert_eq!(
            split_in_place_within(&mut t, 1, remote - 1),
            Err(SplitError::RemoteTooLarge { at_least: remote, max: remote - 1 })
        );
        // All local: no limit applies.
        let mut t = trace(&events[1..2]);
        assert!(split_in_place_within(&mut t, 1, 0).is_ok());
    }

    #[test]
    fn all_local_is_untouched() {
        let mut t = trace(&[(0x0100_0F00, 1), (0x0100_0F00, 2)]);
        let orig = t.clone();
        let s = split_in_place(&mut t, 1).unwrap();
        assert_eq!(s, Split { local_len: 34, remote: Vec::new() });
        assert_eq!(t, orig);
    }

    #[test]
    fn mixed_destinations_are_separated_in_order() {
        let mut t = trace(&[(0x0200_0100, 1), (0x0100_0F00, 2), (0x0300_0000, 3), (0x0200_0101, 4), (0x0100_0F00, 5)]);
        let s = split_in_place(&mut t, 1).unwrap();
        let local: Vec<i64> = Records::new(&t[..s.local_len]).map(|r| r.unwrap().timestamp).collect();
        assert_eq!(local, [2, 5]);
        assert_eq!(s.remote.len(), 2);
        assert_eq!(s.remote[0].destination, 2);
        let d2: Vec<i64> = Records::new(&s.remote[0].bytes).map(|r| r.unwrap().timestamp).collect();
        assert_eq!(d2, [1, 4]);
        assert_eq!(s.remote[1].destination, 3);
        assert_eq!(s.remote[1].bytes, trace(&[(0x0300_0000, 3)]));
    }

    #[test]
    fn destination_zero_and_garbage_are_errors() {
        let mut t = trace(&[(0x0100_0000, 1), (0x0000_0100, 2)]);
        assert_eq!(split_in_place(&mut t, 1), Err(SplitError::DestinationZero { offset: 17 }));
        let mut t = trace(&[(0x0100_0000, 1)]);
        t.push(3);
        assert_eq!(split_in_place(&mut t, 1), Err(SplitError::Malformed { offset: 17 }));
        let mut t = trace(&[(0x0100_0000, 1)]);
        t.truncate(10);
        assert_eq!(split_in_place(&mut t, 1), Err(SplitError::Malformed { offset: 0 }));
    }
}
