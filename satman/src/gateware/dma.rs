//! The RTIO DMA engine (`rtio_dma`).
//!
//! Register meanings (sheet §3 note on `rtio_dma`; kernel-abi.md §5):
//!
//! - `base_address`: byte address of the trace in DDR. The engine reads it
//!   over S_AXI_HP0 in 16-beat bursts of 64 bits and ignores address bits
//!   6:0, so a trace must start on a [`TRACE_ALIGN`] boundary. HP0 does not
//!   snoop the CPU caches: the trace must be cleaned to DDR first.
//! - `time_offset` (64 bits): added to every timestamp of the trace.
//! - `enable`: a strobe. Any write starts a playback if the engine is idle
//!   (even a write of 0), and is ignored while it plays. Reads 1 until the
//!   playback is over.
//! - `error`: 0 = none, 1 = underflow, 2 = link error (destination
//!   unreachable), with `error_channel`, `error_timestamp`, `error_address`
//!   describing the event. Any write clears it. While it is non-zero the
//!   engine drops the events it reads instead of playing them (the sheet
//!   says playback "stalls"): the rest of the trace is consumed unplayed
//!   and `enable` still falls at its end.
//!
//! # No abort
//!
//! The engine has no abort register, so [`DmaEngine::stop`] cannot stop a
//! playback in flight. It does not write `enable` (that would start a new
//! playback if the engine had just finished) and does not clear `error`
//! while the engine runs (that would make it play the rest of a trace it
//! is discarding); it only forgets the playback. The trace keeps being
//! read to its end; once the caller switches `cri_con` away from the DMA
//! engine, the remaining events go nowhere (on paper: the CRI switch only
//! forwards the selected initiator's commands). Until `enable` falls,
//! [`DmaEngine::start`] refuses new playbacks, and `start` clears an error
//! left over from the abandoned one.

use libdma::PlaybackTrace;
use libksupport::msg::PlaybackStatus;

use super::bus::Bus;
use super::csr::rtio_dma;
use crate::hal::DmaEngine;

/// Alignment the engine needs for a trace's start, and the granularity of
/// its reads: one AXI burst of 16 × 64 bits.
pub const TRACE_ALIGN: usize = 128;
const _: () = assert!(TRACE_ALIGN.is_power_of_two());

/// `rtio_dma.error` codes.
const ERROR_UNDERFLOW: u32 = 1;
const ERROR_LINK: u32 = 2;

/// DRTIO `DmaPlaybackStatus.error` bits (libksupport `PlaybackStatus`).
const STATUS_UNDERFLOW: u8 = 1 << 0;
const STATUS_UNREACHABLE: u8 = 1 << 1;

/// Reported for a playback that could not start: its events cannot be
/// delivered, and the status has no better code (the satellite core
/// reports a playback timeout the same way).
const REFUSED: PlaybackStatus = PlaybackStatus { error: STATUS_UNREACHABLE, channel: 0, timestamp: 0 };

/// The DMA engine. `clean(start, len)` must write `start..start+len` back
/// from every CPU cache level to DDR and return once that is complete
/// (the firmware passes its L1 + L2 clean, which ends with a DSB and an L2
/// sync).
pub struct GatewareDma<B: Bus, K = fn(usize, usize)> {
    bus: B,
    clean: K,
    playing: bool,
    /// The outcome of a playback refused by `start`, for the next `poll`.
    refused: Option<PlaybackStatus>,
    refusals: u32,
}

impl<B: Bus, K: Fn(usize, usize)> GatewareDma<B, K> {
    pub fn new(bus: B, clean: K) -> Self {
        GatewareDma { bus, clean, playing: false, refused: None, refusals: 0 }
    }

    /// Whether the engine is reading a trace (`enable` reads 1), including
    /// one abandoned by `stop`.
    pub fn busy(&self) -> bool {
        rtio_dma::ENABLE.read(&self.bus) & 1 != 0
    }

    /// Playbacks `start` refused (misaligned trace, engine still busy).
    pub fn refusals(&self) -> u32 {
        self.refusals
    }

    /// The bus, for diagnostics.
    pub fn bus(&self) -> &B {
        &self.bus
    }

    fn refuse(&mut self) {
        self.refused = Some(REFUSED);
        self.refusals = self.refusals.wrapping_add(1);
    }
}

impl<B: Bus, K: Fn(usize, usize)> DmaEngine for GatewareDma<B, K> {
    /// Starts `trace`, or records a refusal that the next `poll` returns
    /// (error bit 1, destination unreachable, channel 0, timestamp 0):
    /// when the trace is not [`TRACE_ALIGN`]-aligned, is empty, lies above
    /// 4 GiB, or the engine is still busy with an abandoned playback.
    fn start(&mut self, trace: &PlaybackTrace, time_offset: u64) {
        self.refused = None;
        self.playing = false;
        let addr = trace.ptr as usize;
        let Some(len) = trace.len.checked_next_multiple_of(TRACE_ALIGN) else {
            return self.refuse();
        };
        let base = match u32::try_from(addr) {
            Ok(base) if addr & (TRACE_ALIGN - 1) == 0 && len != 0 => base,
            _ => return self.refuse(),
        };
        let bus = &self.bus;
        if rtio_dma::ENABLE.read(bus) & 1 != 0 {
            return self.refuse();
        }
        // A stale error would make the engine drop the whole new trace.
        if rtio_dma::ERROR.read(bus) != 0 {
            rtio_dma::ERROR.write(bus, 1);
        }
        // The engine reads whole bursts, so clean up to the next boundary
        // (libdma keeps the trace readable that far).
        (self.clean)(addr, len);
        rtio_dma::BASE_ADDRESS.write(bus, base);
        rtio_dma::TIME_OFFSET.write(bus, time_offset);
        rtio_dma::ENABLE.write(bus, 1);
        self.playing = true;
    }

    /// `None` while the engine plays, and when nothing was started. Once
    /// `enable` falls: the outcome, after clearing `error`.
    fn poll(&mut self) -> Option<PlaybackStatus> {
        if let Some(status) = self.refused.take() {
            return Some(status);
        }
        if !self.playing {
            return None;
        }
        let bus = &self.bus;
        if rtio_dma::ENABLE.read(bus) & 1 != 0 {
            return None;
        }
        self.playing = false;
        let code = rtio_dma::ERROR.read(bus);
        if code == 0 {
            return Some(PlaybackStatus { error: 0, channel: 0, timestamp: 0 });
        }
        let channel = rtio_dma::ERROR_CHANNEL.read(bus);
        let timestamp = rtio_dma::ERROR_TIMESTAMP.read(bus);
        rtio_dma::ERROR.write(bus, 1);
        let mut error = 0;
        if code & ERROR_UNDERFLOW != 0 {
            error |= STATUS_UNDERFLOW;
        }
        if code & ERROR_LINK != 0 {
            error |= STATUS_UNREACHABLE;
        }
        Some(PlaybackStatus { error, channel, timestamp })
    }

    /// Forgets the playback; see the module docs for why the engine itself
    /// goes on. Two register accesses at most.
    fn idle(&mut self) -> bool {
        !self.busy()
    }

    fn stop(&mut self) {
        self.refused = None;
        self.playing = false;
        let bus = &self.bus;
        if rtio_dma::ENABLE.read(bus) & 1 == 0 && rtio_dma::ERROR.read(bus) != 0 {
            rtio_dma::ERROR.write(bus, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateware::fake::{FakeBus, Mem, Model, Op};
    use libdma::Key;

    /// The engine: a write to `enable` starts a playback lasting `polls`
    /// reads of `enable` (ignored while playing); at its end `error` is
    /// raised with `fail` if set. Any write to `error` clears it.
    #[derive(Default)]
    struct Engine {
        polls: u32,
        remaining: u32,
        fail: Option<(u32, u32, u64)>,
        starts: u32,
    }

    impl Model for Engine {
        fn read(&mut self, mem: &mut Mem, addr: usize) -> Option<u32> {
            if addr != rtio_dma::ENABLE.addr() {
                return None;
            }
            if self.remaining == 0 {
                return Some(0);
            }
            self.remaining -= 1;
            if self.remaining == 0 {
                if let Some((code, channel, ts)) = self.fail.take() {
                    mem.insert(rtio_dma::ERROR.addr(), code);
                    mem.insert(rtio_dma::ERROR_CHANNEL.addr(), channel);
                    mem.insert(rtio_dma::ERROR_TIMESTAMP.addr(), (ts >> 32) as u32);
                    mem.insert(rtio_dma::ERROR_TIMESTAMP.addr() + 4, ts as u32);
                }
            }
            Some(1)
        }

        fn write(&mut self, mem: &mut Mem, addr: usize, _value: u32) -> bool {
            if addr == rtio_dma::ENABLE.addr() {
                if self.remaining == 0 {
                    self.remaining = self.polls;
                    self.starts += 1;
                }
                true
            } else if addr == rtio_dma::ERROR.addr() {
                mem.insert(addr, 0);
                true
            } else {
                false
            }
        }
    }

    fn trace(ptr: usize, len: usize) -> PlaybackTrace {
        PlaybackTrace { key: Key { source: 0, id: 1 }, ptr: ptr as *const u8, len }
    }

    fn engine(polls: u32) -> FakeBus<Engine> {
        FakeBus::new(Engine { polls, ..Engine::default() })
    }

    #[test]
    fn start_cleans_then_writes_base_offset_enable() {
        let bus = engine(3);
        let mut dma = GatewareDma::new(&bus, |a, l| bus.note("clean", a, l));
        dma.start(&trace(0x0100_0080, 300), 0x1_0000_0002);
        assert_eq!(
            bus.ops(),
            [
                Op::Read(rtio_dma::ENABLE.addr(), 0),
                Op::Read(rtio_dma::ERROR.addr(), 0),
                Op::Note("clean", 0x0100_0080, 384),
                Op::Write(rtio_dma::BASE_ADDRESS.addr(), 0x0100_0080),
                Op::Write(rtio_dma::TIME_OFFSET.addr(), 1),
                Op::Write(rtio_dma::TIME_OFFSET.addr() + 4, 2),
                Op::Write(rtio_dma::ENABLE.addr(), 1),
            ]
        );
        // Plays for three polls, one register read each, then reports.
        for _ in 0..3 {
            bus.clear_ops();
            assert_eq!(dma.poll(), None);
            assert_eq!(bus.ops().len(), 1);
        }
        assert_eq!(dma.poll(), Some(PlaybackStatus { error: 0, channel: 0, timestamp: 0 }));
        assert_eq!(dma.poll(), None);
        assert_eq!(bus.model.borrow().starts, 1);
        bus.assert_accesses_valid();
    }

    #[test]
    fn misaligned_or_empty_traces_are_refused_without_touching_the_engine() {
        let bus = engine(1);
        let mut dma = GatewareDma::new(&bus, |a, l| bus.note("clean", a, l));
        for t in [trace(0x0100_0040, 64), trace(0x0100_0001, 64), trace(0x0100_0000, 0), trace(0x1_0000_0000, 64)] {
            dma.start(&t, 0);
            assert!(bus.ops().is_empty(), "{:?}", t);
            assert_eq!(dma.poll(), Some(REFUSED));
            assert_eq!(dma.poll(), None);
        }
        assert_eq!(dma.refusals(), 4);
        dma.start(&trace(0x0100_0000, usize::MAX), 0);
        assert!(bus.ops().is_empty());
        assert_eq!(REFUSED.error, STATUS_UNREACHABLE);
    }

    #[test]
    fn errors_are_reported_mapped_and_cleared() {
        for (code, bit) in [(ERROR_UNDERFLOW, STATUS_UNDERFLOW), (ERROR_LINK, STATUS_UNREACHABLE)] {
            let bus = engine(2);
            bus.model.borrow_mut().fail = Some((code, 0x01_000f, 0x1234_5678_9abc));
            let mut dma = GatewareDma::new(&bus, |_, _| {});
            dma.start(&trace(0x0200_0000, 128), 0);
            assert_eq!(dma.poll(), None);
            // The error is up while enable is still 1: not touched yet.
            assert_eq!(dma.poll(), None);
            assert_eq!(bus.get(rtio_dma::ERROR.addr()), code);
            bus.clear_ops();
            let s = dma.poll().unwrap();
            assert_eq!(s, PlaybackStatus { error: bit, channel: 0x01_000f, timestamp: 0x1234_5678_9abc });
            assert_eq!(bus.get(rtio_dma::ERROR.addr()), 0);
            assert_eq!(bus.writes(), [(rtio_dma::ERROR.addr(), 1)]);
            bus.assert_accesses_valid();
        }
    }

    #[test]
    fn a_stale_error_is_cleared_before_enabling() {
        let bus = engine(1);
        bus.set(rtio_dma::ERROR.addr(), ERROR_UNDERFLOW);
        let mut dma = GatewareDma::new(&bus, |_, _| {});
        dma.start(&trace(0x0200_0000, 128), 5);
        let w = bus.writes();
        assert_eq!(w.first(), Some(&(rtio_dma::ERROR.addr(), 1)));
        assert_eq!(w.last(), Some(&(rtio_dma::ENABLE.addr(), 1)));
    }

    #[test]
    fn stop_never_writes_enable_and_a_busy_engine_refuses_new_playbacks() {
        let bus = engine(4);
        let mut dma = GatewareDma::new(&bus, |_, _| {});
        dma.start(&trace(0x0200_0000, 128), 0);
        bus.set(rtio_dma::ERROR.addr(), ERROR_UNDERFLOW);
        bus.clear_ops();
        dma.stop();
        // Still running (and discarding): error left alone, enable not written.
        assert!(bus.writes().is_empty());
        assert!(bus.ops().len() <= 2);
        assert_eq!(dma.poll(), None);
        assert!(dma.busy());
        bus.clear_ops();
        dma.start(&trace(0x0300_0000, 128), 0);
        assert_eq!(bus.ops(), [Op::Read(rtio_dma::ENABLE.addr(), 1)]);
        assert_eq!(dma.poll(), Some(REFUSED));
        // The abandoned playback ends; stop on an idle engine clears the error.
        assert!((0..10).any(|_| !dma.busy()));
        bus.clear_ops();
        dma.stop();
        assert_eq!(bus.writes(), [(rtio_dma::ERROR.addr(), 1)]);
        assert_eq!(bus.model.borrow().starts, 1);
        dma.start(&trace(0x0300_0000, 128), 0);
        assert_eq!(bus.model.borrow().starts, 2);
        bus.assert_accesses_valid();
    }
}
