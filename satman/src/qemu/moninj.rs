//! The QEMU board's moninj: the RTIO channels as TTL outputs whose level
//! follows the events the initiators emit (kernel, DMA engine, master), at
//! their timestamps, and whose injection overrides hold the pad as the
//! gateware's `ttl_serdes_generic.Output` does.
//!
//! Every channel is modelled as an output TTL: probe 0 is the pad level,
//! override 0 enables the override and override 1 is the level it holds.
//! An event to address 0 of a channel sets the level the RTIO core drives
//! from its timestamp on; the pad shows the override instead while it is
//! enabled (what a monitor reads, as on the gateware, whose probe is taken
//! after the override). The event stream the host sees is unchanged: like
//! ARTIQ's analyzer it records what the initiators emitted.
//!
//! Events reach the model ahead of their timestamps (kernels run with
//! slack, and a kernel may emit a whole pulse train at once): each channel
//! keeps a bounded queue of pending level changes, allocated whole at
//! start-up (so the heap never moves for moninj: tests compare heaps
//! between runs), applied once the RTIO counter
//! passes them. A channel whose queue is full applies its oldest change
//! early rather than lose the latest.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::rtio::RtioEvent;
use crate::hal::{Moninj, MoninjError};

/// Channels the model has (as many as the Kasli-SoC gateware's 6-bit
/// channel selector reaches).
pub const CHANNELS: usize = 64;

/// Pending level changes kept per channel (a kernel's 100-pulse train is
/// 200); 512 KiB for all channels.
const PENDING: usize = 512;

#[derive(Default)]
struct Ttl {
    /// The level the RTIO core drives now.
    level: bool,
    override_en: bool,
    override_o: bool,
    pending: VecDeque<(i64, bool)>,
}

impl Ttl {
    fn pad(&self) -> bool {
        if self.override_en {
            self.override_o
        } else {
            self.level
        }
    }

    fn advance(&mut self, now: i64) {
        while let Some(&(ts, level)) = self.pending.front() {
            if ts > now {
                break;
            }
            self.level = level;
            self.pending.pop_front();
        }
    }
}

/// The TTL channels; `counter` gives the RTIO counter (machine units).
/// The host simulation uses it too, with its own counter.
pub struct QemuMoninj<C = fn() -> i64> {
    ttls: Vec<Ttl>,
    counter: C,
}

impl<C: Fn() -> i64> QemuMoninj<C> {
    pub fn new(counter: C) -> Self {
        let ttls = (0..CHANNELS).map(|_| Ttl { pending: VecDeque::with_capacity(PENDING), ..Ttl::default() }).collect();
        QemuMoninj { ttls, counter }
    }

    /// An event the RTIO core accepted (any initiator).
    pub fn observe(&mut self, ev: &RtioEvent) {
        let channel = ((ev.target >> 8) & 0xffff) as usize;
        let address = ev.target & 0xff;
        let Some(ttl) = self.ttls.get_mut(channel) else { return };
        if address != 0 {
            return;
        }
        if ttl.pending.len() >= PENDING {
            if let Some((_, level)) = ttl.pending.pop_front() {
                ttl.level = level;
            }
        }
        ttl.pending.push_back((ev.timestamp, ev.data & 1 != 0));
    }

    fn ttl(&mut self, channel: u16) -> Result<&mut Ttl, MoninjError> {
        let now = (self.counter)();
        let ttl = self.ttls.get_mut(usize::from(channel)).ok_or(MoninjError::NoSuchChannel)?;
        ttl.advance(now);
        Ok(ttl)
    }
}

impl<C: Fn() -> i64> Moninj for QemuMoninj<C> {
    fn monitor(&mut self, channel: u16, probe: u8) -> Result<u64, MoninjError> {
        let ttl = self.ttl(channel)?;
        match probe {
            0 => Ok(ttl.pad() as u64),
            _ => Err(MoninjError::NoSuchProbe),
        }
    }

    fn inject(&mut self, channel: u16, overrd: u8, value: u8) -> Result<(), MoninjError> {
        let ttl = self.ttl(channel)?;
        match overrd {
            0 => ttl.override_en = value & 1 != 0,
            1 => ttl.override_o = value & 1 != 0,
            _ => return Err(MoninjError::NoSuchOverride),
        }
        Ok(())
    }

    fn injection_status(&mut self, channel: u16, overrd: u8) -> Result<u8, MoninjError> {
        let ttl = self.ttl(channel)?;
        match overrd {
            0 => Ok(ttl.override_en as u8),
            1 => Ok(ttl.override_o as u8),
            _ => Err(MoninjError::NoSuchOverride),
        }
    }
}

#[cfg(test)]
mod tests {
    use core::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    // Only the first test moves this clock; the others use `zero`.
    static NOW: AtomicI64 = AtomicI64::new(0);

    fn now() -> i64 {
        NOW.load(Ordering::SeqCst)
    }

    fn zero() -> i64 {
        0
    }

    fn ev(channel: u32, timestamp: i64, data: u32) -> RtioEvent {
        RtioEvent { source: 2, timestamp, target: channel << 8, data }
    }

    #[test]
    fn the_level_follows_events_at_their_timestamps_and_overrides_hold_it() {
        let mut m = QemuMoninj::new(now as fn() -> i64);
        for i in 0..10 {
            m.observe(&ev(15, 1000 + i * 100, (i % 2 == 0) as u32));
        }
        // Another channel and another address leave channel 15 alone.
        m.observe(&ev(14, 1000, 1));
        m.observe(&RtioEvent { source: 2, timestamp: 1000, target: 15 << 8 | 1, data: 0 });
        assert_eq!(m.monitor(15, 0), Ok(0), "nothing has happened yet");
        NOW.store(1050, Ordering::SeqCst);
        assert_eq!(m.monitor(15, 0), Ok(1));
        NOW.store(1150, Ordering::SeqCst);
        assert_eq!(m.monitor(15, 0), Ok(0));
        assert_eq!(m.monitor(14, 0), Ok(1));

        m.inject(15, 1, 1).unwrap();
        m.inject(15, 0, 1).unwrap();
        assert_eq!((m.injection_status(15, 0), m.injection_status(15, 1)), (Ok(1), Ok(1)));
        for t in [1250, 1350, 1450] {
            NOW.store(t, Ordering::SeqCst);
            assert_eq!(m.monitor(15, 0), Ok(1), "the override holds the pad at {}", t);
        }
        NOW.store(1550, Ordering::SeqCst);
        assert_eq!(m.monitor(15, 0), Ok(1));
        m.inject(15, 0, 0).unwrap();
        assert_eq!(m.monitor(15, 0), Ok(0), "the kernel's level (event at 1500: low) is back");
    }

    #[test]
    fn a_full_queue_applies_its_oldest_change_early() {
        let mut m = QemuMoninj::new(zero as fn() -> i64);
        for i in 0..(PENDING as i64 + 1) {
            m.observe(&ev(3, 10_000 + i, 1));
        }
        assert_eq!(m.monitor(3, 0), Ok(1));
    }

    #[test]
    fn bad_channels_probes_and_overrides_are_refused() {
        let mut m = QemuMoninj::new(zero as fn() -> i64);
        assert_eq!(m.monitor(CHANNELS as u16, 0), Err(MoninjError::NoSuchChannel));
        assert_eq!(m.monitor(0, 1), Err(MoninjError::NoSuchProbe));
        assert_eq!(m.inject(0xffff, 0, 1), Err(MoninjError::NoSuchChannel));
        assert_eq!(m.inject(0, 2, 1), Err(MoninjError::NoSuchOverride));
        assert_eq!(m.injection_status(0, 9), Err(MoninjError::NoSuchOverride));
        // Events for channels past the model are ignored.
        m.observe(&ev(0xffff, 0, 1));
    }
}
