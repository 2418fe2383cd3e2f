//! The QEMU board's RTIO core and DMA engine: software models that check
//! what the gateware would check (interconnect ownership, underflows, trace
//! alignment) and report every event to the host.

use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use heapless::Deque;
use libdma::record::Records;
use libdma::{PlaybackTrace, TRACE_ALIGNMENT};
use libksupport::mailbox::Mailbox;
use libksupport::msg::PlaybackStatus;
use libksupport::runtime::RtioStatus;

use crate::hal::{DmaEngine, Initiator, Rtio, RtioError};

/// One output event, as reported to the host (docs/qemu-link.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtioEvent {
    /// 0 = DRTIO (master), 1 = DMA engine, 2 = kernel CPU.
    pub source: u8,
    pub timestamp: i64,
    pub target: u32,
    pub data: u32,
}

impl RtioEvent {
    pub const SIZE: usize = 17;

    pub fn encode(&self, out: &mut [u8]) {
        out[0] = self.source;
        out[1..9].copy_from_slice(&self.timestamp.to_le_bytes());
        out[9..13].copy_from_slice(&self.target.to_le_bytes());
        out[13..17].copy_from_slice(&self.data.to_le_bytes());
    }

    pub fn decode(b: &[u8]) -> Option<RtioEvent> {
        let b: &[u8; Self::SIZE] = b.get(..Self::SIZE)?.try_into().ok()?;
        Some(RtioEvent {
            source: b[0],
            timestamp: i64::from_le_bytes(b[1..9].try_into().ok()?),
            target: u32::from_le_bytes(b[9..13].try_into().ok()?),
            data: u32::from_le_bytes(b[13..17].try_into().ok()?),
        })
    }
}

fn initiator_code(i: Initiator) -> u8 {
    match i {
        Initiator::Drtio => 0,
        Initiator::Dma => 1,
        Initiator::Kernel => 2,
    }
}

/// The event report queue is full; retry once CPU0 has drained it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// Events from the kernel CPU to CPU0, which reports them.
pub type EventQueue = Mailbox<RtioEvent, 512>;

/// State both CPUs share. All-zero is its initial state (it may live in a
/// region the boot code zeroes).
pub struct RtioModel {
    selected: AtomicU8,
    pub kernel_events: EventQueue,
    /// Events submitted by an initiator that did not own the interconnect.
    pub misrouted: AtomicU32,
    pub underflows: AtomicU32,
    pub resets: AtomicU32,
}

impl RtioModel {
    pub const fn new() -> Self {
        RtioModel {
            selected: AtomicU8::new(0),
            kernel_events: Mailbox::new(),
            misrouted: AtomicU32::new(0),
            underflows: AtomicU32::new(0),
            resets: AtomicU32::new(0),
        }
    }

    pub fn selected(&self) -> u8 {
        self.selected.load(Ordering::Acquire)
    }

    /// The kernel initiator (CPU1). `Err(QueueFull)` when the report queue
    /// is full: the caller waits and retries, as the gateware would hold the
    /// CPU.
    pub fn kernel_output(&self, counter: i64, timestamp: i64, target: u32, data: u32) -> Result<RtioStatus, QueueFull> {
        if timestamp < counter {
            self.underflows.fetch_add(1, Ordering::Relaxed);
            return Ok(RtioStatus::Underflow { slack: timestamp - counter });
        }
        if self.selected() != initiator_code(Initiator::Kernel) {
            // On the gateware the request goes nowhere.
            self.misrouted.fetch_add(1, Ordering::Relaxed);
            return Ok(RtioStatus::Ok);
        }
        let ev = RtioEvent { source: 2, timestamp, target, data };
        self.kernel_events.try_send(ev).map(|()| RtioStatus::Ok).map_err(|_| QueueFull)
    }
}

impl Default for RtioModel {
    fn default() -> Self {
        Self::new()
    }
}

/// CPU0's view of the model.
pub struct QemuRtio {
    pub model: &'static RtioModel,
}

impl Rtio for QemuRtio {
    fn select(&mut self, initiator: Initiator) {
        self.model.selected.store(initiator_code(initiator), Ordering::Release);
    }

    fn reset(&mut self) {
        self.model.resets.fetch_add(1, Ordering::Relaxed);
    }

    fn hold_reset(&mut self, _held: bool) {}

    fn take_error(&mut self) -> Option<RtioError> {
        None
    }

    fn set_route(&mut self, _destination: u8, _hop: u8) {}

    fn take_tsc_loaded(&mut self) -> bool {
        false
    }
}

/// Records replayed per poll, so a long trace does not stall the main loop.
const RECORDS_PER_POLL: usize = 32;

struct Playing {
    trace: PlaybackTrace,
    offset: u64,
    pos: usize,
    status: PlaybackStatus,
}

/// The DMA engine model: replays a trace's records at their timestamps plus
/// the offset, a few per poll, into `events` for CPU0 to report.
pub struct QemuDma {
    model: &'static RtioModel,
    counter: fn() -> i64,
    playing: Option<Playing>,
    pub events: Deque<RtioEvent, 128>,
    pub misaligned: u32,
}

impl QemuDma {
    pub fn new(model: &'static RtioModel, counter: fn() -> i64) -> Self {
        QemuDma { model, counter, playing: None, events: Deque::new(), misaligned: 0 }
    }
}

impl DmaEngine for QemuDma {
    fn start(&mut self, trace: &PlaybackTrace, time_offset: u64) {
        let mut status = PlaybackStatus::default();
        if !(trace.ptr as usize).is_multiple_of(TRACE_ALIGNMENT) {
            // The gateware would start reading at the aligned-down address.
            self.misaligned += 1;
            status.error = 1;
        }
        self.playing = Some(Playing { trace: *trace, offset: time_offset, pos: 0, status });
    }

    fn poll(&mut self) -> Option<PlaybackStatus> {
        let p = self.playing.as_mut()?;
        if p.status.error != 0 {
            return self.playing.take().map(|p| p.status);
        }
        // SAFETY: `start_playback` handed out a complete trace of `len` bytes, and the store
        // neither frees nor moves it (an erase is deferred as `orphaned`) until `end_playback`,
        // which the core calls only after this engine reported the status; nothing writes a
        // complete trace.
        let bytes = unsafe { core::slice::from_raw_parts(p.trace.ptr, p.trace.len) };
        let counter = (self.counter)();
        let mut done = false;
        for _ in 0..RECORDS_PER_POLL {
            if self.events.is_full() {
                break;
            }
            let Some(rec) = Records::new(&bytes[p.pos..]).next() else {
                done = true;
                break;
            };
            let Ok(rec) = rec else {
                p.status.error = 1;
                done = true;
                break;
            };
            let len = 13 + 4 * rec.word_count();
            p.pos += len;
            let ts = rec.timestamp.wrapping_add(p.offset as i64);
            if ts < counter {
                self.model.underflows.fetch_add(1, Ordering::Relaxed);
                p.status = PlaybackStatus { error: 1, channel: rec.channel(), timestamp: ts as u64 };
                done = true;
                break;
            }
            if self.model.selected() != initiator_code(Initiator::Dma) {
                self.model.misrouted.fetch_add(1, Ordering::Relaxed);
            }
            let data = rec.words().next().unwrap_or(0);
            let _ = self.events.push_back(RtioEvent { source: 1, timestamp: ts, target: rec.target, data });
        }
        if done {
            return self.playing.take().map(|p| p.status);
        }
        None
    }

    fn stop(&mut self) {
        self.playing = None;
    }

    /// The model reads the trace only inside `poll`: once stopped, it is idle.
    fn idle(&mut self) -> bool {
        self.playing.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use libdma::{Arena, Key, Store};

    fn model() -> &'static RtioModel {
        Box::leak(Box::new(RtioModel::new()))
    }

    fn zero() -> i64 {
        0
    }

    #[test]
    fn event_encoding_round_trips() {
        let e = RtioEvent { source: 1, timestamp: -5, target: 0x0100_0F00, data: 7 };
        let mut b = [0u8; 17];
        e.encode(&mut b);
        assert_eq!(RtioEvent::decode(&b), Some(e));
    }

    #[test]
    fn kernel_outputs_check_ownership_and_underflow() {
        let m = model();
        let mut rtio = QemuRtio { model: m };
        assert_eq!(m.kernel_output(100, 50, 0x100, 1), Ok(RtioStatus::Underflow { slack: -50 }));
        assert_eq!(m.kernel_output(0, 50, 0x100, 1), Ok(RtioStatus::Ok));
        assert_eq!(m.misrouted.load(Ordering::Relaxed), 1);
        rtio.select(Initiator::Kernel);
        assert_eq!(m.kernel_output(0, 60, 0x100, 1), Ok(RtioStatus::Ok));
        assert_eq!(m.kernel_events.try_recv().map(|e| e.timestamp), Some(60));
    }

    #[test]
    fn dma_replays_a_stored_trace_in_steps() {
        let m = model();
        let mut rtio = QemuRtio { model: m };
        rtio.select(Initiator::Dma);
        let mut store = Store::new(Arena::with_capacity(1 << 16).unwrap());
        let mut trace = Vec::new();
        let mut rec = [0u8; 17];
        for i in 0..100i64 {
            let n = libdma::record::encode(&mut rec, 0x0100_0F00, i * 10, &[(i % 2) as u32]).unwrap();
            trace.extend_from_slice(&rec[..n]);
        }
        let key = Key { source: 0, id: 1 };
        store.add_chunk(key, true, true, &trace).unwrap();
        let t = store.start_playback(key).unwrap();
        let mut dma = QemuDma::new(m, zero);
        dma.start(&t, 1000);
        let mut got = Vec::new();
        let status = loop {
            let s = dma.poll();
            while let Some(e) = dma.events.pop_front() {
                got.push(e);
            }
            if let Some(s) = s {
                break s;
            }
        };
        assert_eq!(status, PlaybackStatus::default());
        assert_eq!(got.len(), 100);
        assert_eq!((got[99].timestamp, got[99].data, got[99].source), (1990, 1, 1));
        assert_eq!(m.misrouted.load(Ordering::Relaxed), 0);
    }
}
