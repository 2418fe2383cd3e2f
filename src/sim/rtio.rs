//! Simulated RTIO: the interconnect selection, an event log with
//! timestamps, the DMA engine, and the kernel initiator CPU1 drives.
//!
//! The log records who submitted each event, so tests catch events emitted
//! while another initiator owned the interconnect (on the gateware they
//! would go nowhere or to the wrong place). The counter advances one machine
//! unit per microsecond of wall time: a sim "mu" is slow, so
//! `break_realtime`'s 125 000 mu of slack survives a loaded test machine.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use libdma::record::Records;
use libdma::PlaybackTrace;
use libksupport::msg::PlaybackStatus;
use libksupport::runtime::{RtioInput, RtioStatus};
use satman::hal::{DmaEngine, Initiator, LinkErrors, RepeaterFault, Rtio, RtioError};

use super::trace::{Trace, TraceEvent};
use satman::hal::{Moninj, MoninjError};
use satman::qemu::{QemuMoninj, RtioEvent};

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
    /// The RTIO of the satellite below each repeater (`set_time` loads its
    /// TSC), and where this satellite is in the bench's trace.
    below: Mutex<Vec<Arc<RtioShared>>>,
    trace: Mutex<Option<(usize, Arc<Trace>)>>,
    /// Fault injection: protocol errors of the RT link, and of a repeater.
    link_errors: Mutex<VecDeque<LinkErrors>>,
    repeater_errors: Mutex<VecDeque<(usize, LinkErrors)>>,
    /// Added to the wall time by the last TSC load.
    tsc_offset: Arc<AtomicI64>,
    /// Fault injection: `set_time` never clears.
    pub set_time_stuck: AtomicBool,
    pub repeater_resets: AtomicU64,
    /// The channels as TTLs for moninj: the QEMU board's model, fed with
    /// every event submitted here.
    ttls: Mutex<QemuMoninj<Box<dyn Fn() -> i64 + Send>>>,
}

impl RtioShared {
    pub fn new() -> Arc<RtioShared> {
        let origin = Instant::now();
        let tsc_offset = Arc::new(AtomicI64::new(0));
        let offset = tsc_offset.clone();
        // The same counter as `counter()`, for the moninj model.
        let counter: Box<dyn Fn() -> i64 + Send> =
            Box::new(move || origin.elapsed().as_micros() as i64 + offset.load(Ordering::SeqCst));
        Arc::new(RtioShared {
            origin,
            ttls: Mutex::new(QemuMoninj::new(counter)),
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
            below: Mutex::new(Vec::new()),
            trace: Mutex::new(None),
            link_errors: Mutex::new(VecDeque::new()),
            repeater_errors: Mutex::new(VecDeque::new()),
            tsc_offset,
            set_time_stuck: AtomicBool::new(false),
            repeater_resets: AtomicU64::new(0),
        })
    }

    /// Wires repeater `below.len()` to the satellite whose RTIO is `rtio`.
    pub fn add_below(&self, rtio: Arc<RtioShared>) {
        self.below.lock().unwrap().push(rtio);
    }

    /// Records this satellite's timing events as `node` in `trace`.
    pub fn set_trace(&self, node: usize, trace: Arc<Trace>) {
        *self.trace.lock().unwrap() = Some((node, trace));
    }

    fn log(&self, f: impl FnOnce(usize) -> TraceEvent) {
        if let Some((node, t)) = &*self.trace.lock().unwrap() {
            t.push(f(*node));
        }
    }

    /// The RT link (the master's `set_time`, or the repeater above) loads
    /// the TSC with `counter`, the loader's. Until then each simulated
    /// satellite counts from its own start, as a real one counts from its
    /// power-up, so timestamps only agree across a tree once it is synced.
    pub fn load_tsc(&self, counter: i64) {
        let own = self.origin.elapsed().as_micros() as i64;
        self.tsc_offset.store(counter - own, Ordering::SeqCst);
        self.log(|node| TraceEvent::TscLoaded { node });
        self.set_tsc_loaded();
    }

    pub fn inject_link_errors(&self, e: LinkErrors) {
        self.link_errors.lock().unwrap().push_back(e);
    }

    pub fn inject_repeater_errors(&self, repeater: usize, e: LinkErrors) {
        self.repeater_errors.lock().unwrap().push_back((repeater, e));
    }

    /// The timestamp counter: wall time since this satellite's start, until
    /// a TSC load sets it to the loader's ([`RtioShared::load_tsc`]).
    pub fn counter(&self) -> i64 {
        self.origin.elapsed().as_micros() as i64 + self.tsc_offset.load(Ordering::SeqCst)
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
        let code = match source {
            Initiator::Drtio => 0,
            Initiator::Dma => 1,
            Initiator::Kernel => 2,
        };
        self.ttls.lock().unwrap().observe(&RtioEvent { source: code, timestamp, target, data });
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

    fn take_link_errors(&mut self) -> Option<LinkErrors> {
        self.0.link_errors.lock().unwrap().pop_front()
    }

    /// Loads the TSC of the satellite below at once (the gateware takes a
    /// few cycles), or times out when `set_time_stuck` is set.
    fn repeater_set_time(&mut self, i: usize) -> Result<(), RepeaterFault> {
        let below = self.0.below.lock().unwrap().get(i).cloned().ok_or(RepeaterFault::Absent)?;
        if self.0.set_time_stuck.load(Ordering::Relaxed) {
            return Err(RepeaterFault::Timeout);
        }
        self.0.log(|node| TraceEvent::SetTime { node, repeater: i });
        below.load_tsc(self.0.counter());
        Ok(())
    }

    fn repeater_reset(&mut self, i: usize) -> Result<(), RepeaterFault> {
        if i >= self.0.below.lock().unwrap().len() {
            return Err(RepeaterFault::Absent);
        }
        self.0.repeater_resets.fetch_add(1, Ordering::Relaxed);
        self.0.log(|node| TraceEvent::RepeaterReset { node, repeater: i });
        Ok(())
    }

    fn take_repeater_errors(&mut self, i: usize) -> Option<LinkErrors> {
        let mut q = self.0.repeater_errors.lock().unwrap();
        let k = q.iter().position(|&(r, _)| r == i)?;
        q.remove(k).map(|(_, e)| e)
    }
}

/// Moninj over the simulated channels (TTLs, as in QEMU).
pub struct SimMoninj(pub Arc<RtioShared>);

impl Moninj for SimMoninj {
    fn monitor(&mut self, channel: u16, probe: u8) -> Result<u64, MoninjError> {
        self.0.ttls.lock().unwrap().monitor(channel, probe)
    }
    fn inject(&mut self, channel: u16, overrd: u8, value: u8) -> Result<(), MoninjError> {
        self.0.ttls.lock().unwrap().inject(channel, overrd, value)
    }
    fn injection_status(&mut self, channel: u16, overrd: u8) -> Result<u8, MoninjError> {
        self.0.ttls.lock().unwrap().injection_status(channel, overrd)
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
        // SAFETY: the store keeps a playing trace alive and unchanged (an erase is deferred) until
        // `end_playback`, which the core calls only after this engine reported the status.
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
