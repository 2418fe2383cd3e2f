//! Distributed DMA as the master commands it, and the bookkeeping of the
//! one DMA engine: which playback holds it, and an abandoned one that it
//! still reads.
//!
//! Only one playback runs at a time. The trace it plays is marked busy in
//! the store, so it cannot be freed under the engine; every way a playback
//! ends (done, timeout, reset, kernel teardown) stops the engine, releases
//! the trace and gives the RTIO back to whoever drove it before. The
//! gateware has no abort: an abandoned trace is freed only once the engine
//! reports it idle ([`Ddma::abandon`], then [`Ddma::poll`]).
//!
//! A kernel's own playbacks (its stages, its parts on other destinations)
//! are the kernel's state (`kernels::playback`); the satellite lends them
//! the engine through [`Ddma::start_for_kernel`], [`Ddma::finish_for_kernel`]
//! and [`Ddma::abandon`].

use libdma::{Key, Store, StoreError};
use libdrtio::{Packet, PayloadStatus};
use libksupport::msg::PlaybackStatus;
use log::warn;

use crate::budget::{Budget, Kind};
use crate::hal::{Clock, DmaEngine, Initiator, Rtio};
use crate::wire::{Wire, ERROR_UNREACHABLE};

/// What master-commanded DDMA may touch during one call.
pub struct Ctx<'a> {
    pub dma: &'a mut dyn DmaEngine,
    pub rtio: &'a mut dyn Rtio,
    pub store: &'a mut Store,
    pub wire: &'a mut dyn Wire,
    pub clock: &'a dyn Clock,
    /// How long a playback may run before it is stopped.
    pub playback_timeout_us: u64,
    /// CPU0's memory budget: a new trace's index entry is admitted first.
    pub budget: &'a mut Budget,
}

/// A playback commanded by a `DmaPlaybackRequest`.
#[derive(Debug)]
struct MasterPlayback {
    requester: u8,
    id: u32,
    deadline: u64,
}

#[derive(Debug, Default)]
pub struct Ddma {
    playing: Option<MasterPlayback>,
    /// The DMA engine still reads an abandoned trace.
    draining: bool,
}

impl Ddma {
    /// A playback runs, or an abandoned one is still draining.
    pub fn busy(&self, store: &Store) -> bool {
        self.playing.is_some() || store.playing().is_some()
    }

    /// Stops the engine, and releases its trace as soon as the engine no
    /// longer reads it (at once, or from [`Ddma::poll`]).
    pub fn abandon(&mut self, dma: &mut dyn DmaEngine, store: &mut Store) {
        dma.stop();
        if dma.idle() {
            store.end_playback();
        } else {
            warn!("DMA engine still reading an abandoned trace; it is freed once the engine stops");
            self.draining = true;
        }
    }

    // ---- master-commanded -------------------------------------------------

    /// `DmaAddTraceRequest`: one slice of a trace `source` uploads.
    pub fn add_trace(&mut self, ctx: &mut Ctx<'_>, source: u8, id: u32, status: PayloadStatus, data: &[u8]) {
        let key = Key { source, id };
        // A trace not in the index yet gets an entry on CPU0's heap (its
        // bytes go to the DDMA arena, which has its own budget).
        let new_entry = status.is_first() && ctx.store.info(key).is_none();
        let admitted = !new_entry || ctx.budget.admit(Kind::TraceIndex, libdma::INDEX_ENTRY_BYTES).is_ok();
        let succeeded = admitted
            && match ctx.store.add_chunk(key, status.is_first(), status.is_last(), data) {
                Ok(_) => true,
                Err(e) => {
                    warn!("DMA trace ({}, {}) refused: {}", source, id, e);
                    false
                }
            };
        if !admitted {
            warn!("DMA trace ({}, {}) refused: CPU0 memory budget", source, id);
        }
        let own = ctx.wire.own();
        ctx.wire.late_reply(source, &Packet::DmaAddTraceReply { source: own, destination: source, id, succeeded });
    }

    /// `DmaRemoveTraceRequest`.
    pub fn remove_trace(&mut self, ctx: &mut Ctx<'_>, source: u8, id: u32) {
        let succeeded = match ctx.store.remove(Key { source, id }) {
            Ok(()) => true,
            Err(e) => {
                warn!("DMA trace ({}, {}) not removed: {}", source, id, e);
                false
            }
        };
        ctx.wire.late_reply(source, &Packet::DmaRemoveTraceReply { destination: source, succeeded });
    }

    /// `DmaPlaybackRequest`: starts playing trace (`source`, `id`) and
    /// returns whether it started.
    pub fn start(&mut self, ctx: &mut Ctx<'_>, source: u8, id: u32, timestamp: u64) -> bool {
        let trace = match ctx.store.start_playback(Key { source, id }) {
            Ok(t) => t,
            Err(e) => {
                warn!("DMA playback of ({}, {}) refused: {}", source, id, e);
                return false;
            }
        };
        ctx.rtio.select(Initiator::Dma);
        ctx.dma.start(&trace, timestamp);
        let deadline = ctx.clock.now_us() + ctx.playback_timeout_us;
        self.playing = Some(MasterPlayback { requester: source, id, deadline });
        true
    }

    /// Stops a master-commanded playback without reporting it (reset, link
    /// loss: nobody is waiting for it any more).
    pub fn stop(&mut self, ctx: &mut Ctx<'_>) {
        if self.playing.take().is_some() {
            self.abandon(ctx.dma, ctx.store);
            ctx.rtio.select(Initiator::Drtio);
        }
    }

    /// Frees an abandoned trace once the engine is idle, and watches a
    /// master-commanded playback: reports its end to the requester, or stops
    /// it at its deadline. Returns whether such a playback holds the engine
    /// (then no kernel playback can).
    pub fn poll(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if self.draining && ctx.dma.idle() {
            self.draining = false;
            ctx.store.end_playback();
        }
        let Some(p) = &self.playing else { return false };
        let (requester, id, deadline) = (p.requester, p.id, p.deadline);
        let status = match ctx.dma.poll() {
            Some(s) => s,
            None if ctx.clock.now_us() >= deadline => {
                warn!("DMA playback of trace {} did not finish in time; stopped", id);
                self.abandon(ctx.dma, ctx.store);
                // No timeout code exists on the wire: report it as the
                // engine being unable to deliver its events.
                PlaybackStatus { error: ERROR_UNREACHABLE, channel: 0, timestamp: 0 }
            }
            None => return true,
        };
        self.playing = None;
        if !self.draining {
            ctx.store.end_playback();
        }
        ctx.rtio.select(Initiator::Drtio);
        let own = ctx.wire.own();
        let packet = Packet::DmaPlaybackStatus {
            source: own,
            destination: requester,
            id,
            error: status.error,
            channel: status.channel,
            timestamp: status.timestamp,
        };
        ctx.wire.send_routed(requester, &packet);
        true
    }

    // ---- the engine lent to a kernel's playback ---------------------------------

    /// Starts the local part of a kernel's playback (the kernel's trace
    /// `key`), with the DMA engine driving the RTIO.
    pub fn start_for_kernel(
        &mut self,
        dma: &mut dyn DmaEngine,
        rtio: &mut dyn Rtio,
        store: &mut Store,
        key: Key,
        timestamp: u64,
    ) -> Result<(), StoreError> {
        let trace = store.start_playback(key)?;
        rtio.select(Initiator::Dma);
        dma.start(&trace, timestamp);
        Ok(())
    }

    /// The local part of a kernel's playback ended: its trace is released
    /// and the kernel drives the RTIO again.
    pub fn finish_for_kernel(&mut self, rtio: &mut dyn Rtio, store: &mut Store) {
        store.end_playback();
        rtio.select(Initiator::Kernel);
    }
}

#[cfg(test)]
mod tests {
    //! The DDMA part alone, with a fake engine, RTIO, clock and wire.

    use core::cell::Cell;

    use libdma::{Arena, PlaybackTrace};

    use super::*;
    use crate::testing::{FakeClock, FakeRtio, Sent};

    #[derive(Default)]
    struct FakeDma {
        started: u32,
        /// The engine still reads trace memory after a stop.
        reading: bool,
        status: Option<PlaybackStatus>,
    }

    impl DmaEngine for FakeDma {
        fn start(&mut self, _: &PlaybackTrace, _: u64) {
            self.started += 1;
        }
        fn poll(&mut self) -> Option<PlaybackStatus> {
            self.status.take()
        }
        fn stop(&mut self) {}
        fn idle(&mut self) -> bool {
            !self.reading
        }
    }

    struct Bench {
        dma: FakeDma,
        rtio: FakeRtio,
        store: Store,
        sent: Sent,
        clock: FakeClock,
        budget: Budget,
    }

    impl Bench {
        fn new() -> Bench {
            Bench {
                dma: FakeDma::default(),
                rtio: FakeRtio::default(),
                store: Store::new(Arena::with_capacity(64 * 1024).unwrap()),
                sent: Sent::default(),
                clock: FakeClock(Cell::new(0)),
                budget: Budget::default(),
            }
        }

        fn ctx(&mut self) -> Ctx<'_> {
            Ctx {
                dma: &mut self.dma,
                rtio: &mut self.rtio,
                store: &mut self.store,
                wire: &mut self.sent,
                clock: &self.clock,
                playback_timeout_us: 1000,
                budget: &mut self.budget,
            }
        }

        /// The last packet sent and its destination.
        fn last(&self) -> (u8, Packet<'_>) {
            let (d, f) = self.sent.0.last().expect("a packet was sent");
            (*d, f.decode().unwrap())
        }
    }

    #[test]
    fn a_master_playback_is_reported_and_gives_the_rtio_back() {
        let mut b = Bench::new();
        let mut d = Ddma::default();
        d.add_trace(&mut b.ctx(), 0, 7, PayloadStatus::FirstAndLast, &[]);
        assert!(matches!(b.last(), (0, Packet::DmaAddTraceReply { source: 5, id: 7, succeeded: true, .. })));
        assert!(d.start(&mut b.ctx(), 0, 7, 100));
        assert_eq!((b.dma.started, b.rtio.0.as_slice()), (1, &[Initiator::Dma][..]));
        assert!(d.busy(&b.store));
        // Playing: the engine is the master's, nothing is reported yet.
        assert!(d.poll(&mut b.ctx()));
        assert_eq!(b.sent.0.len(), 1);
        b.dma.status = Some(PlaybackStatus { error: 1, channel: 3, timestamp: 9 });
        assert!(d.poll(&mut b.ctx()));
        assert!(matches!(
            b.last(),
            (0, Packet::DmaPlaybackStatus { source: 5, destination: 0, id: 7, error: 1, channel: 3, timestamp: 9 })
        ));
        assert_eq!(b.rtio.0.last(), Some(&Initiator::Drtio));
        assert!(!d.busy(&b.store));
        assert!(!d.poll(&mut b.ctx()), "no playback holds the engine any more");
    }

    #[test]
    fn a_timed_out_playback_frees_its_trace_only_once_the_engine_is_idle() {
        let mut b = Bench::new();
        let mut d = Ddma::default();
        d.add_trace(&mut b.ctx(), 0, 7, PayloadStatus::FirstAndLast, &[]);
        assert!(d.start(&mut b.ctx(), 0, 7, 100));
        b.dma.reading = true;
        b.clock.0.set(1000);
        assert!(d.poll(&mut b.ctx()));
        assert!(matches!(b.last(), (0, Packet::DmaPlaybackStatus { error: ERROR_UNREACHABLE, .. })));
        // The engine still reads the trace: it stays busy, cannot be removed.
        assert!(d.busy(&b.store));
        d.remove_trace(&mut b.ctx(), 0, 7);
        assert!(matches!(b.last(), (0, Packet::DmaRemoveTraceReply { succeeded: false, .. })));
        b.dma.reading = false;
        assert!(!d.poll(&mut b.ctx()));
        assert!(!d.busy(&b.store));
        d.remove_trace(&mut b.ctx(), 0, 7);
        assert!(matches!(b.last(), (0, Packet::DmaRemoveTraceReply { succeeded: true, .. })));
    }
}
