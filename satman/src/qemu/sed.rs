//! The QEMU board's output event dispatcher: what the satellite gateware's
//! SED (lane distributor, lane FIFOs, output network) decides about each
//! output event, in software.
//!
//! The rules are the gateware's (`artiq/gateware/rtio/sed`, as instantiated
//! for a DRTIO satellite: 8 lanes of 128 events, no lane spreading, a
//! 125 MHz RTIO clock so 3 fine timestamp bits):
//!
//! - **underflow**: the event's coarse timestamp is not above the counter's
//!   plus 16 coarse cycles ([`MIN_LATENCY_MU`] = 128 ns). Nothing is written;
//!   the initiator is told (the kernel raises `RTIOUnderflow`, the DMA engine
//!   stops with error 1).
//! - **lane choice**: an event whose coarse timestamp is not above the last
//!   one written (on any lane) goes to the next lane, which becomes current;
//!   otherwise it stays on the current lane.
//! - **sequence error**: the chosen lane already holds an event at or after
//!   this coarse timestamp. The event is dropped and the error is latched
//!   for the master (`DestinationStatusRequest`); the initiator is not told.
//! - **collision**: another lane holds a pending event on the same channel
//!   in the same coarse cycle with a different address or fine timestamp.
//!   The event is written (it replaces the other at the output) and the
//!   error is latched. Same channel, cycle, address and fine timestamp is a
//!   plain replacement, as on a TTL.
//! - **back-pressure**: an event for a full lane FIFO is not written; the
//!   initiator waits until the lane's oldest event has gone out (its
//!   timestamp has passed) and submits it again.
//!
//! An event leaves its FIFO once the counter reaches its timestamp. Busy
//! errors (a PHY still serialising) do not exist in the model.

/// Fine timestamp bits: the RTIO clock is 125 MHz, one coarse cycle = 8 mu.
pub const FINE_TS_BITS: u32 = 3;
/// Lanes of a satellite's SED.
pub const LANES: usize = 8;
/// Events each lane FIFO holds.
pub const FIFO_DEPTH: usize = 128;
/// The gateware's `minimum_coarse_timestamp` is the counter + 16 cycles.
pub const MIN_LATENCY_COARSE: i64 = 16;
/// The same in machine units (ns): an event must be later than
/// counter + 128 mu (to the coarse cycle) to be accepted.
pub const MIN_LATENCY_MU: i64 = MIN_LATENCY_COARSE << FINE_TS_BITS;

fn coarse(timestamp: i64) -> i64 {
    timestamp >> FINE_TS_BITS
}

/// What the SED did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Written to a lane (possibly with a collision latched).
    Accepted,
    /// Too late; `slack` = timestamp − counter.
    Underflow { slack: i64 },
    /// Dropped; the error is latched for the master.
    SequenceError,
    /// The lane is full: submit again once the counter reaches `until`.
    Wait { until: i64 },
}

/// Asynchronous errors latched for the master, each with the first channel
/// (low 16 bits, as the gateware's CSRs hold it) since it was last taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Errors {
    pub sequence: Option<u16>,
    pub collision: Option<u16>,
    pub busy: Option<u16>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    timestamp: i64,
    channel: u32,
    address: u8,
}

impl Pending {
    const EMPTY: Pending = Pending { timestamp: 0, channel: 0, address: 0 };
}

/// One lane: a FIFO of pending events, sorted by strictly increasing coarse
/// timestamp (the lane choice guarantees it).
#[derive(Clone, Copy)]
struct Lane {
    fifo: [Pending; FIFO_DEPTH],
    head: usize,
    len: usize,
    last_coarse: i64,
}

impl Lane {
    const EMPTY: Lane = Lane { fifo: [Pending::EMPTY; FIFO_DEPTH], head: 0, len: 0, last_coarse: 0 };

    fn at(&self, i: usize) -> &Pending {
        &self.fifo[(self.head + i) % FIFO_DEPTH]
    }

    /// Events whose time has come leave the FIFO.
    fn drain(&mut self, counter: i64) {
        while self.len > 0 && self.fifo[self.head].timestamp <= counter {
            self.head = (self.head + 1) % FIFO_DEPTH;
            self.len -= 1;
        }
    }

    fn push(&mut self, p: Pending) {
        self.fifo[(self.head + self.len) % FIFO_DEPTH] = p;
        self.len += 1;
        self.last_coarse = coarse(p.timestamp);
    }

    /// The pending event in coarse cycle `c`, if any (binary search: the
    /// FIFO is sorted by coarse timestamp, one event per cycle at most).
    fn in_cycle(&self, c: i64) -> Option<&Pending> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let m = coarse(self.at(mid).timestamp);
            if m == c {
                return Some(self.at(mid));
            }
            if m < c {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        None
    }
}

/// The dispatcher's state. All-zero is the reset state, so it may live in
/// memory the boot code zeroes.
pub struct Sed {
    lanes: [Lane; LANES],
    current: usize,
    last_coarse: i64,
    errors: Errors,
}

impl Sed {
    pub const fn new() -> Sed {
        Sed { lanes: [Lane::EMPTY; LANES], current: 0, last_coarse: 0, errors: Errors { sequence: None, collision: None, busy: None } }
    }

    /// The RTIO reset: empty lanes, timestamps and lane choice back to 0,
    /// latched errors cleared.
    pub fn reset(&mut self) {
        *self = Sed::new();
    }

    /// Submits one output event at `timestamp` on `channel` (24 bits, the
    /// destination included), with the counter at `counter`.
    pub fn write(&mut self, counter: i64, timestamp: i64, channel: u32, address: u8) -> Write {
        for lane in self.lanes.iter_mut() {
            lane.drain(counter);
        }
        let c = coarse(timestamp);
        if c <= coarse(counter) + MIN_LATENCY_COARSE {
            return Write::Underflow { slack: timestamp - counter };
        }
        let next = c <= self.last_coarse;
        let index = if next { (self.current + 1) % LANES } else { self.current };
        if c <= self.lanes[index].last_coarse {
            self.errors.sequence.get_or_insert(channel as u16);
            return Write::SequenceError;
        }
        if self.lanes[index].len == FIFO_DEPTH {
            return Write::Wait { until: self.lanes[index].at(0).timestamp };
        }
        let collides = self.lanes.iter().enumerate().any(|(i, lane)| {
            i != index
                && lane
                    .in_cycle(c)
                    .is_some_and(|p| p.channel == channel && (p.address != address || p.timestamp != timestamp))
        });
        if collides {
            self.errors.collision.get_or_insert(channel as u16);
        }
        self.lanes[index].push(Pending { timestamp, channel, address });
        self.last_coarse = c;
        self.current = index;
        Write::Accepted
    }

    /// Events not yet gone out, on every lane (as of the last write).
    pub fn pending(&self) -> usize {
        self.lanes.iter().map(|l| l.len).sum()
    }

    /// The latched errors, without clearing them.
    pub fn errors(&self) -> Errors {
        self.errors
    }

    /// The next latched error (sequence, then collision, then busy), cleared.
    pub fn take_error(&mut self) -> Option<crate::hal::RtioError> {
        use crate::hal::RtioError;
        if let Some(c) = self.errors.sequence.take() {
            return Some(RtioError::Sequence(c));
        }
        if let Some(c) = self.errors.collision.take() {
            return Some(RtioError::Collision(c));
        }
        self.errors.busy.take().map(RtioError::Busy)
    }
}

impl Default for Sed {
    fn default() -> Self {
        Sed::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hal::RtioError;
    use alloc::boxed::Box;

    fn sed() -> Box<Sed> {
        Box::new(Sed::new())
    }

    #[test]
    fn underflow_is_the_counter_plus_the_minimum_latency() {
        let mut s = sed();
        // Counter 1000 (coarse 125): the minimum coarse timestamp is 141.
        assert_eq!(s.write(1000, 1000 + 128, 15, 0), Write::Underflow { slack: 128 });
        assert_eq!(s.write(1000, 500, 15, 0), Write::Underflow { slack: -500 });
        assert_eq!(s.write(1000, 1000 + 136, 15, 0), Write::Accepted);
        assert_eq!(s.pending(), 1);
        assert_eq!(s.take_error(), None);
    }

    #[test]
    fn events_leave_the_fifo_at_their_timestamp_and_a_full_lane_waits() {
        let mut s = sed();
        for i in 0..FIFO_DEPTH as i64 {
            assert_eq!(s.write(0, 1000 + 1000 * i, 15, 0), Write::Accepted);
        }
        assert_eq!(s.write(0, 1_000_000, 15, 0), Write::Wait { until: 1000 });
        assert_eq!(s.write(999, 1_000_000, 15, 0), Write::Wait { until: 1000 });
        // The first event has gone out: one slot free.
        assert_eq!(s.write(1000, 1_000_000, 15, 0), Write::Accepted);
        assert_eq!(s.write(1000, 1_001_000, 15, 0), Write::Wait { until: 2000 });
        assert_eq!(s.pending(), FIFO_DEPTH);
        assert_eq!(s.write(10_000_000, 20_000_000, 15, 0), Write::Accepted);
        assert_eq!(s.pending(), 1);
    }

    #[test]
    fn going_back_in_time_switches_lanes_until_they_run_out() {
        let mut s = sed();
        // Each step back lands on the next lane; the ninth finds lane 0's
        // last timestamp ahead of it.
        for i in 0..LANES as i64 {
            assert_eq!(s.write(0, 100_000 - 8 * i, 15, 0), Write::Accepted, "step {i}");
        }
        assert_eq!(s.write(0, 100_000 - 8 * LANES as i64, 15, 0), Write::SequenceError);
        assert_eq!(s.pending(), LANES);
        // A forward write on the current lane is still fine.
        assert_eq!(s.write(0, 200_000, 15, 0), Write::Accepted);
        assert_eq!(s.take_error(), Some(RtioError::Sequence(15)));
        assert_eq!(s.take_error(), None);
    }

    #[test]
    fn same_cycle_same_channel_collides_unless_it_replaces() {
        let mut s = sed();
        assert_eq!(s.write(0, 8000, 15, 0), Write::Accepted);
        // Same everything but data: a replacement, no error.
        assert_eq!(s.write(0, 8000, 15, 0), Write::Accepted);
        assert_eq!(s.errors(), Errors::default());
        // Another channel in the same cycle: fine.
        assert_eq!(s.write(0, 8000, 16, 0), Write::Accepted);
        assert_eq!(s.errors(), Errors::default());
        // Same channel and cycle, another address: a collision.
        assert_eq!(s.write(0, 8000, 15, 1), Write::Accepted);
        assert_eq!(s.errors().collision, Some(15));
        // Same channel and cycle, another fine timestamp: also one, but the
        // first channel stays latched.
        assert_eq!(s.write(0, 8003, 15, 1), Write::Accepted);
        assert_eq!(s.take_error(), Some(RtioError::Collision(15)));
        assert_eq!(s.take_error(), None);
        // Once the events have gone out they collide with nothing; a new
        // pair in a later cycle collides again.
        assert_eq!(s.write(9000, 16_000, 15, 2), Write::Accepted);
        assert_eq!(s.errors(), Errors::default());
        assert_eq!(s.write(9000, 16_000, 15, 3), Write::Accepted);
        assert_eq!(s.take_error(), Some(RtioError::Collision(15)));
    }

    #[test]
    fn reset_empties_lanes_and_errors() {
        let mut s = sed();
        for i in 0..=LANES as i64 {
            s.write(0, 100_000 - 8 * i, 15, 0);
        }
        assert!(s.errors().sequence.is_some());
        s.reset();
        assert_eq!((s.pending(), s.errors()), (0, Errors::default()));
        assert_eq!(s.write(0, 1000, 15, 0), Write::Accepted);
    }
}
