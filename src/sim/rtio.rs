//! Simulated RTIO: the interconnect selection, an event log with
//! timestamps, the DMA engine, and the kernel initiator CPU1 drives.
//!
//! The log records who submitted each event, so tests catch events emitted
//! while another initiator owned the interconnect (on the gateware they
//! would go nowhere or to the wrong place). The counter advances one machine
//! unit per microsecond of wall time: a sim "mu" is slow, so
//! `break_realtime`'s 125 000 mu of slack survives a loaded test machine.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use libdma::record::Records;
use libdma::PlaybackTrace;
use libksupport::msg::PlaybackStatus;
use libksupport::runtime::{RtioInput, RtioStatus};
use satman::hal::{DmaEngine, Initiator, Rtio, RtioError};

/// One output event as the RTIO core saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub timestamp: i64,
    pub target: u32,
    pub data: u32,
    pub source: Initiator,
}

pub struct RtioShared {
    origin: Instant,
    selected: Mutex<Initiator>,
    events: Mutex<Vec<Event>>,
    /// Events submitted by an initiator that did not own the interconnect.
    pub misrouted: AtomicU64,
    /// Traces handed to the engine at an address it would read wrongly.
    pub misaligned: AtomicU64,
    pub resets: AtomicU64,
    /// The uplink is down and the core held in reset.
    pub held_in_reset: AtomicBool,
    errors: Mutex<VecDeque<RtioError>>,
    tsc_loaded: AtomicBool,
    routes: Mutex<Vec<u8>>,
    /// Fault injection: the DMA engine never finishes.
    pub dma_stall: AtomicBool,
    /// Fault injection: kernel outputs underflow.
    pub underflow: AtomicBool,
}

impl RtioShared {
    pub fn new() -> Arc<RtioShared> {
        Arc::new(RtioShared {
            origin: Instant::now(),
            selected: Mutex::new(Initiator::Drtio),
            events: Mutex::new(Vec::new()),
            misrouted: AtomicU64::new(0),
            misaligned: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            held_in_reset: AtomicBool::new(false),
            errors: Mutex::new(VecDeque::new()),
            tsc_loaded: AtomicBool::new(false),
            routes: Mutex::new(vec![0xff; 256]),
            dma_stall: AtomicBool::new(false),
            underflow: AtomicBool::new(false),
        })
    }

    pub fn counter(&self) -> i64 {
        self.origin.elapsed().as_micros() as i64
    }

    pub fn selected(&self) -> Initiator {
        *self.selected.lock().unwrap()
    }

    /// Takes the events logged so far. The log is given room for as many
    /// again, so heap use stays flat across runs of the same size.
    pub fn take_events(&self) -> Vec<Event> {
        let mut ev = self.events.lock().unwrap();
        let n = ev.len();
        std::mem::replace(&mut *ev, Vec::with_capacity(n))
    }

    pub fn event_count(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    fn submit(&self, source: Initiator, timestamp: i64, target: u32, data: u32) {
        if self.selected() != source {
            self.misrouted.fetch_add(1, Ordering::Relaxed);
        }
        self.events.lock().unwrap().push(Event { timestamp, target, data, source });
    }

    pub fn inject_error(&self, e: RtioError) {
        self.errors.lock().unwrap().push_back(e);
    }

    pub fn set_tsc_loaded(&self) {
        self.tsc_loaded.store(true, Ordering::SeqCst);
    }

    pub fn route(&self, destination: u8) -> u8 {
        self.routes.lock().unwrap()[destination as usize]
    }

    /// CPU1's kernel initiator.
    pub fn kernel_output(&self, timestamp: i64, target: u32, data: &[u32]) -> RtioStatus {
        let counter = self.counter();
        if self.underflow.load(Ordering::Relaxed) || timestamp < counter {
            return RtioStatus::Underflow { slack: timestamp - counter };
        }
        self.submit(Initiator::Kernel, timestamp, target, data.first().copied().unwrap_or(0));
        RtioStatus::Ok
    }

    pub fn kernel_input(&self, _channel: u32, _timeout: i64) -> RtioInput {
        // No inputs are modelled: every wait times out at once.
        RtioInput::Timeout
    }
}

/// CPU0's view: interconnect selection, reset, errors, routing.
pub struct SimRtio(pub Arc<RtioShared>);

impl Rtio for SimRtio {
    fn select(&mut self, initiator: Initiator) {
        *self.0.selected.lock().unwrap() = initiator;
    }

    fn reset(&mut self) {
        self.0.resets.fetch_add(1, Ordering::Relaxed);
    }

    fn hold_reset(&mut self, held: bool) {
        self.0.held_in_reset.store(held, Ordering::Relaxed);
    }

    fn take_error(&mut self) -> Option<RtioError> {
        self.0.errors.lock().unwrap().pop_front()
    }

    fn set_route(&mut self, destination: u8, hop: u8) {
        self.0.routes.lock().unwrap()[destination as usize] = hop;
    }

    fn take_tsc_loaded(&mut self) -> bool {
        self.0.tsc_loaded.swap(false, Ordering::SeqCst)
    }
}

/// The DMA engine. It reads the trace on its first poll after `start`, as
/// the gateware reads memory after it is enabled, so a trace freed early is
/// noticed (garbage records).
pub struct SimDma {
    pub shared: Arc<RtioShared>,
    playing: Option<(PlaybackTrace, u64)>,
    pub started: u64,
    pub stopped: u64,
}

impl SimDma {
    pub fn new(shared: Arc<RtioShared>) -> SimDma {
        SimDma { shared, playing: None, started: 0, stopped: 0 }
    }
}

impl DmaEngine for SimDma {
    fn start(&mut self, trace: &PlaybackTrace, time_offset: u64) {
        if trace.ptr as usize % libdma::TRACE_ALIGNMENT != 0 {
            self.shared.misaligned.fetch_add(1, Ordering::Relaxed);
        }
        self.started += 1;
        self.playing = Some((*trace, time_offset));
    }

    fn poll(&mut self) -> Option<PlaybackStatus> {
        let (trace, offset) = self.playing?;
        if self.shared.dma_stall.load(Ordering::Relaxed) {
            return None;
        }
        self.playing = None;
        let bytes = unsafe { std::slice::from_raw_parts(trace.ptr, trace.len) };
        let counter = self.shared.counter();
        let mut status = PlaybackStatus::default();
        for rec in Records::new(bytes) {
            let Ok(rec) = rec else {
                status = PlaybackStatus { error: 1, channel: 0, timestamp: 0 };
                break;
            };
            let ts = rec.timestamp.wrapping_add(offset as i64);
            if ts < counter && status.error == 0 {
                status = PlaybackStatus { error: 1, channel: rec.channel(), timestamp: ts as u64 };
            }
            self.shared.submit(Initiator::Dma, ts, rec.target, rec.words().next().unwrap_or(0));
        }
        Some(status)
    }

    fn stop(&mut self) {
        if self.playing.take().is_some() {
            self.stopped += 1;
        }
    }

    fn idle(&mut self) -> bool {
        self.playing.is_none()
    }
}
