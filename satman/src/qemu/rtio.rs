//! The QEMU board's RTIO core and DMA engine: software models that keep
//! time like the gateware and report every event to the host.
//!
//! The counter is the firmware's (`fw_qemu::rtio_counter`): machine units
//! of 1 ns, derived from the global timer, so it runs at the RTIO clock's
//! rate. Every output of the selected initiator goes through the SED model
//! ([`super::sed`]: underflow against the counter + 128 mu, lanes, FIFO
//! back-pressure, sequence errors and collisions latched for the master)
//! and, once accepted, into the analyzer ring ([`super::analyzer`]) and the
//! event reports (docs/qemu-link.md). What an initiator that does not own
//! the interconnect submits goes nowhere, as on the gateware.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU8, Ordering};

use heapless::Deque;
use libdma::record::Records;
use libdma::{PlaybackTrace, TRACE_ALIGNMENT};
use libksupport::mailbox::{Mailbox, ReadIndex, Ring};
use libksupport::msg::PlaybackStatus;
use libksupport::runtime::RtioStatus;

use super::analyzer::{self, Analyzer, Header};
use super::sed::{Sed, Write};
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

/// Events from the kernel CPU to CPU0, which reports them. Deep enough for
/// a kernel that fills every lane (8 × 128 events) several times over
/// faster than the UART carries the reports: while it is full the kernel
/// waits with the counter running, which silicon never does, so the wait
/// must stay rare.
/// CPU1's kernel outputs are its only producer, CPU0's report loop its only
/// consumer; each takes a handle per operation.
pub type EventQueue<'a> = Mailbox<'a, RtioEvent, EVENT_QUEUE>;

/// Analyzer records the model keeps (64 KiB).
pub const ANALYZER_RECORDS: usize = 2048;

/// Attempts at the model's lock before a caller gives up for now. The lock
/// is held for one event (or one DMA poll's records), with IRQs masked on
/// CPU1, so the bound is never reached in practice.
const LOCK_SPINS: u32 = 1 << 20;

/// What the kernel initiator's submission came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submit {
    /// The status the kernel sees.
    Done(RtioStatus),
    /// Back-pressure: the event's lane is full; submit it again once the
    /// counter has reached `until` (the lane's oldest event goes out then).
    Wait { until: i64 },
    /// CPU0 has not drained the event reports yet (or the model was busy):
    /// submit it again shortly.
    Busy,
}

/// The part of the model behind its lock.
struct Core {
    sed: Sed,
    analyzer: Analyzer<ANALYZER_RECORDS>,
    /// Smallest timestamp − counter of the `accepted` kernel events since
    /// the last RTIO reset (meaningless while `accepted` is 0).
    min_slack: i64,
    accepted: u64,
}

/// Counters, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelStats {
    /// Events submitted by an initiator that did not own the interconnect.
    pub misrouted: u32,
    pub underflows: u32,
    pub sequence_errors: u32,
    /// Times an initiator found its lane full.
    pub waits: u32,
    pub resets: u32,
}

/// State both CPUs share: the interconnect selection, the SED, the analyzer
/// and the kernel CPU's event reports. All-zero is its initial state (it
/// lives in the region the boot code zeroes).
pub struct RtioModel {
    selected: AtomicU8,
    lock: AtomicBool,
    /// Set by CPU0's RTIO reset, applied by the next lock holder: a reset
    /// never waits for the lock.
    pending_reset: AtomicBool,
    core: UnsafeCell<Core>,
    /// The counter when the kernel last asked for a DMA playback (0: none
    /// pending); taken by the next start of the engine for the kernel.
    kernel_dma_request: AtomicI64,
    /// The engine was selected while the kernel owned the interconnect:
    /// the playback is the kernel's.
    dma_for_kernel: AtomicBool,
    kernel_events_ring: Ring<RtioEvent, EVENT_QUEUE>,
    kernel_events_read: ReadIndex,
    misrouted: AtomicU32,
    underflows: AtomicU32,
    sequence_errors: AtomicU32,
    waits: AtomicU32,
    resets: AtomicU32,
}

// SAFETY: `core` is only reached through `with_core`, which holds `lock`;
// everything else is atomic or a mailbox half (itself `Sync`).
unsafe impl Sync for RtioModel {}

impl RtioModel {
    pub const fn new() -> Self {
        RtioModel {
            selected: AtomicU8::new(0),
            lock: AtomicBool::new(false),
            pending_reset: AtomicBool::new(false),
            core: UnsafeCell::new(Core { sed: Sed::new(), analyzer: Analyzer::new(), min_slack: 0, accepted: 0 }),
            kernel_dma_request: AtomicI64::new(0),
            dma_for_kernel: AtomicBool::new(false),
            kernel_events_ring: Ring::new(),
            kernel_events_read: ReadIndex::new(),
            misrouted: AtomicU32::new(0),
            underflows: AtomicU32::new(0),
            sequence_errors: AtomicU32::new(0),
            waits: AtomicU32::new(0),
            resets: AtomicU32::new(0),
        }
    }

    pub fn selected(&self) -> u8 {
        self.selected.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> ModelStats {
        ModelStats {
            misrouted: self.misrouted.load(Ordering::Relaxed),
            underflows: self.underflows.load(Ordering::Relaxed),
            sequence_errors: self.sequence_errors.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            resets: self.resets.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` on the locked part; `None` if the lock stayed taken for
    /// [`LOCK_SPINS`] attempts. `f` must not panic (it would leave the lock
    /// taken).
    fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> Option<R> {
        for _ in 0..LOCK_SPINS {
            if self.lock.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                // SAFETY: holding `lock` gives this call the only reference
                // to `core` until it is released below.
                let core = unsafe { &mut *self.core.get() };
                if self.pending_reset.swap(false, Ordering::AcqRel) {
                    core.sed.reset();
                    core.min_slack = 0;
                    core.accepted = 0;
                }
                let r = f(core);
                self.lock.store(false, Ordering::Release);
                return Some(r);
            }
            core::hint::spin_loop();
        }
        None
    }

    /// The kernel initiator (CPU1): one output event at `timestamp`, with
    /// the counter at `counter`. Only `Done` ends the submission; the caller
    /// waits as `Wait`/`Busy` say and submits the same event again.
    ///
    /// CPU1 must call it with IRQs masked, so that it is never stopped with
    /// the model's lock held.
    /// The kernel's RTIO events, for CPU0 to report.
    pub fn kernel_events(&self) -> EventQueue<'_> {
        Mailbox::new(&self.kernel_events_ring, &self.kernel_events_read)
    }

    pub fn kernel_output(&self, counter: i64, timestamp: i64, target: u32, data: &[u32]) -> Submit {
        if self.selected() != initiator_code(Initiator::Kernel) {
            // On the gateware the request goes nowhere.
            self.misrouted.fetch_add(1, Ordering::Relaxed);
            return Submit::Done(RtioStatus::Ok);
        }
        if self.kernel_events().len() >= EVENT_QUEUE {
            return Submit::Busy;
        }
        let channel = target >> 8;
        let address = target & 0xFF;
        let wide = data.first().copied().unwrap_or(0) as u64 | (data.get(1).copied().unwrap_or(0) as u64) << 32;
        let outcome = self.with_core(|core| {
            let w = core.sed.write(counter, timestamp, channel, address as u8);
            match w {
                Write::Accepted => {
                    core.analyzer.record(&analyzer::output_record(channel, timestamp, counter, address, wide));
                    let slack = timestamp - counter;
                    if core.accepted == 0 || slack < core.min_slack {
                        core.min_slack = slack;
                    }
                    core.accepted += 1;
                }
                Write::Underflow { .. } => {
                    core.analyzer.record(&analyzer::exception_record(channel, counter, analyzer::exception::O_UNDERFLOW));
                }
                Write::SequenceError | Write::Wait { .. } => {}
            }
            w
        });
        match outcome {
            None => Submit::Busy,
            Some(Write::Accepted) => {
                let ev = RtioEvent { source: 2, timestamp, target, data: data.first().copied().unwrap_or(0) };
                // SAFETY: CPU1's kernel outputs are the queue's only producer (one context; the
                // caller masks IRQs), and this handle lives for this call only.
                let mut events = unsafe { self.kernel_events().producer() };
                // It saw room above.
                let _ = events.try_send(ev);
                Submit::Done(RtioStatus::Ok)
            }
            Some(Write::Underflow { slack }) => {
                self.underflows.fetch_add(1, Ordering::Relaxed);
                Submit::Done(RtioStatus::Underflow { slack })
            }
            Some(Write::SequenceError) => {
                // Asynchronous: latched for the master, invisible here.
                self.sequence_errors.fetch_add(1, Ordering::Relaxed);
                Submit::Done(RtioStatus::Ok)
            }
            Some(Write::Wait { until }) => {
                self.waits.fetch_add(1, Ordering::Relaxed);
                Submit::Wait { until }
            }
        }
    }

    /// CPU1: the kernel asks for a DMA playback now (`counter`).
    pub fn note_kernel_dma_request(&self, counter: i64) {
        self.kernel_dma_request.store(counter.max(1), Ordering::Release);
    }

    /// When the engine starting now should be taken to have started: the
    /// kernel's request for a kernel playback (the reference's kernel CPU
    /// starts the engine itself), else `now`.
    fn dma_start_time(&self, now: i64) -> i64 {
        let requested = self.kernel_dma_request.swap(0, Ordering::AcqRel);
        if self.dma_for_kernel.load(Ordering::Acquire) && requested != 0 && requested <= now {
            requested
        } else {
            now
        }
    }

    /// Smallest slack (timestamp − counter, mu) of the kernel events
    /// accepted since the last RTIO reset, and their count.
    pub fn kernel_slack(&self) -> Option<(i64, u64)> {
        self.with_core(|c| (c.accepted > 0).then_some((c.min_slack, c.accepted))).flatten()
    }

    /// Stops the analyzer's capture (appending its stopped record) and
    /// returns its header. `None`: the model was busy, ask again.
    pub fn analyzer_stop(&self, counter: i64) -> Option<Header> {
        self.with_core(|c| c.analyzer.stop(counter))
    }

    pub fn analyzer_header(&self) -> Option<Header> {
        self.with_core(|c| c.analyzer.header())
    }

    /// Copies captured bytes from `offset` (see [`Analyzer::read`]).
    pub fn analyzer_read(&self, offset: usize, out: &mut [u8]) -> Option<usize> {
        self.with_core(|c| c.analyzer.read(offset, out))
    }

    /// Empties the analyzer and captures again. `false`: busy, ask again.
    pub fn analyzer_arm(&self) -> bool {
        self.with_core(|c| c.analyzer.arm()).is_some()
    }
}

const EVENT_QUEUE: usize = 4096;

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
        let previous = self.model.selected.swap(initiator_code(initiator), Ordering::AcqRel);
        if initiator == Initiator::Dma {
            self.model.dma_for_kernel.store(previous == initiator_code(Initiator::Kernel), Ordering::Release);
        }
    }

    fn reset(&mut self) {
        self.model.resets.fetch_add(1, Ordering::Relaxed);
        self.model.pending_reset.store(true, Ordering::Release);
    }

    fn hold_reset(&mut self, _held: bool) {}

    fn take_error(&mut self) -> Option<RtioError> {
        self.model.with_core(|c| c.sed.take_error()).flatten()
    }

    fn set_route(&mut self, _destination: u8, _hop: u8) {}

    fn take_tsc_loaded(&mut self) -> bool {
        false
    }
}

/// CPU0's view of the model's analyzer ring ([`super::analyzer`]).
pub struct QemuAnalyzer {
    pub model: &'static RtioModel,
    pub counter: fn() -> i64,
}

impl crate::hal::RtioAnalyzer for QemuAnalyzer {
    fn stop(&mut self) -> crate::hal::AnalyzerHeader {
        // The lock is held for one event at a time: a few tries suffice.
        let h = (0..16).find_map(|_| self.model.analyzer_stop((self.counter)()));
        match h {
            Some(h) => crate::hal::AnalyzerHeader { sent_bytes: h.sent_bytes, total_byte_count: h.total_byte_count, overflow: h.overflow },
            None => crate::hal::AnalyzerHeader { sent_bytes: 0, total_byte_count: 0, overflow: true },
        }
    }

    fn read(&mut self, offset: u32, out: &mut [u8]) -> usize {
        (0..16).find_map(|_| self.model.analyzer_read(offset as usize, out)).unwrap_or(0)
    }

    fn arm(&mut self) {
        for _ in 0..16 {
            if self.model.analyzer_arm() {
                return;
            }
        }
    }
}

/// Records replayed per poll, so a long trace does not stall the main loop.
const RECORDS_PER_POLL: usize = 32;

/// Where a DMA poll left the playback.
enum Step {
    Done,
    Later,
}

struct Playing {
    trace: PlaybackTrace,
    offset: u64,
    pos: usize,
    status: PlaybackStatus,
    /// The engine's own time: when it writes its next record. The engine
    /// is as fast as the bus, so it writes everything it can at the moment
    /// it starts or resumes; it only moves on when a full lane makes it
    /// wait, to the moment that lane gets room. Never ahead of the counter
    /// once a poll processes records.
    clock: i64,
}

/// The DMA engine model: replays a trace's records at their timestamps plus
/// the offset into the SED, a few per poll, and into `events` for CPU0 to
/// report.
///
/// The gateware engine feeds the SED at bus speed, far faster than CPU0's
/// main loop polls: the model evaluates each record at the engine's own
/// time (see `Playing::clock`), not at the poll's, so a dense trace that
/// fills a lane resumes exactly when the lane frees up, however late the
/// next poll comes, and underflows only where the gateware would.
///
/// With a warp ([`QemuDma::with_warp`]), an engine waiting for room moves
/// the counter forward to that moment instead of waiting for it in wall
/// time: nothing else uses the interconnect meanwhile, so nothing can tell.
pub struct QemuDma {
    model: &'static RtioModel,
    counter: fn() -> i64,
    warp: Option<fn(i64)>,
    playing: Option<Playing>,
    pub events: Deque<RtioEvent, 128>,
    pub misaligned: u32,
}

impl QemuDma {
    pub fn new(model: &'static RtioModel, counter: fn() -> i64) -> Self {
        QemuDma { model, counter, warp: None, playing: None, events: Deque::new(), misaligned: 0 }
    }

    /// `warp(t)` moves the counter forward to at least `t`.
    pub fn with_warp(self, warp: fn(i64)) -> Self {
        QemuDma { warp: Some(warp), ..self }
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
        let clock = self.model.dma_start_time((self.counter)());
        self.playing = Some(Playing { trace: *trace, offset: time_offset, pos: 0, status, clock });
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
        let mut counter = (self.counter)();
        if p.clock > counter {
            // Still waiting for room in a lane.
            let warp = self.warp?;
            warp(p.clock);
            counter = p.clock;
        }
        let model = self.model;
        let routed = model.selected() == initiator_code(Initiator::Dma);
        let events = &mut self.events;
        let step = model.with_core(|core| {
            let mut written = 0;
            while written < RECORDS_PER_POLL {
                if events.is_full() {
                    return Step::Later;
                }
                let Some(rec) = Records::new(&bytes[p.pos..]).next() else {
                    return Step::Done;
                };
                let Ok(rec) = rec else {
                    p.status.error = 1;
                    return Step::Done;
                };
                let len = 13 + 4 * rec.word_count();
                let ts = rec.timestamp.wrapping_add(p.offset as i64);
                if !routed {
                    // The engine reads on; its requests go nowhere.
                    p.pos += len;
                    written += 1;
                    model.misrouted.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let (channel, address) = (rec.channel(), rec.address());
                let at = p.clock;
                match core.sed.write(at, ts, channel, address) {
                    Write::Accepted => {
                        let mut words = rec.words();
                        let w0 = words.next().unwrap_or(0);
                        let w1 = words.next().unwrap_or(0);
                        core.analyzer.record(&analyzer::output_record(channel, ts, at, address as u32, w0 as u64 | (w1 as u64) << 32));
                        let _ = events.push_back(RtioEvent { source: 1, timestamp: ts, target: rec.target, data: w0 });
                    }
                    Write::Underflow { .. } => {
                        core.analyzer.record(&analyzer::exception_record(channel, at, analyzer::exception::O_UNDERFLOW));
                        model.underflows.fetch_add(1, Ordering::Relaxed);
                        p.status = PlaybackStatus { error: 1, channel, timestamp: ts as u64 };
                        return Step::Done;
                    }
                    Write::SequenceError => {
                        model.sequence_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Write::Wait { until } => {
                        // Back-pressure: the same record again once the
                        // lane's oldest event has gone out, which may
                        // already be the case.
                        model.waits.fetch_add(1, Ordering::Relaxed);
                        p.clock = until;
                        if until > counter {
                            return Step::Later;
                        }
                        continue;
                    }
                }
                p.pos += len;
                written += 1;
            }
            Step::Later
        });
        match step {
            Some(Step::Done) => self.playing.take().map(|p| p.status),
            Some(Step::Later) | None => None,
        }
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
    use crate::qemu::sed;
    use libdma::{Arena, Key, Store};

    fn play(dma: &mut QemuDma) -> (PlaybackStatus, Vec<RtioEvent>) {
        let mut got = Vec::new();
        for _ in 0..10_000 {
            let s = dma.poll();
            while let Some(e) = dma.events.pop_front() {
                got.push(e);
            }
            if let Some(s) = s {
                return (s, got);
            }
        }
        panic!("the playback never ended");
    }

    fn pulses(n: i64, period: i64) -> Vec<u8> {
        let mut trace = Vec::new();
        let mut rec = [0u8; 17];
        for i in 0..n {
            let len = libdma::record::encode(&mut rec, 0x0100_0F00, i * period, &[(i % 2) as u32]).unwrap();
            trace.extend_from_slice(&rec[..len]);
        }
        trace
    }

    fn stored(store: &mut Store, id: u32, trace: &[u8]) -> PlaybackTrace {
        let key = Key { source: 0, id };
        store.add_chunk(key, true, true, trace).unwrap();
        store.start_playback(key).unwrap()
    }

    /// The next kernel event, as CPU0's report loop takes it.
    fn take_event(m: &RtioModel) -> Option<RtioEvent> {
        // SAFETY: the test is the queue's one consumer, one handle at a time.
        unsafe { m.kernel_events().consumer() }.try_recv()
    }

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
    fn kernel_outputs_check_ownership_underflow_and_back_pressure() {
        let m = model();
        let mut rtio = QemuRtio { model: m };
        assert_eq!(m.kernel_output(0, 5000, 0x100, &[1]), Submit::Done(RtioStatus::Ok));
        assert_eq!(m.stats().misrouted, 1, "not selected: goes nowhere");
        rtio.select(Initiator::Kernel);
        assert_eq!(m.kernel_output(100, 50, 0x100, &[1]), Submit::Done(RtioStatus::Underflow { slack: -50 }));
        assert_eq!(m.kernel_output(1000, 1100, 0x100, &[1]), Submit::Done(RtioStatus::Underflow { slack: 100 }));
        assert_eq!(m.kernel_output(0, 6000, 0x100, &[1, 2]), Submit::Done(RtioStatus::Ok));
        assert_eq!(take_event(m).map(|e| (e.timestamp, e.data)), Some((6000, 1)));
        assert_eq!(m.kernel_slack(), Some((6000, 1)));
        for i in 1..sed::FIFO_DEPTH as i64 {
            assert_eq!(m.kernel_output(0, 6000 + 1000 * i, 0x100, &[0]), Submit::Done(RtioStatus::Ok));
            take_event(m);
        }
        let next = 6000 + 1000 * sed::FIFO_DEPTH as i64;
        assert_eq!(m.kernel_output(0, next, 0x100, &[0]), Submit::Wait { until: 6000 });
        assert_eq!(m.kernel_output(6000, next, 0x100, &[0]), Submit::Done(RtioStatus::Ok));
        let s = m.stats();
        assert_eq!((s.underflows, s.waits), (2, 1));
        // Two underflow exceptions, then the accepted outputs.
        let h = m.analyzer_stop(7000).unwrap();
        assert_eq!(h.sent_bytes as usize, (2 + 1 + sed::FIFO_DEPTH + 1) * analyzer::RECORD_SIZE);
        let mut rec = [0u8; 32];
        assert_eq!(m.analyzer_read(2 * 32, &mut rec), Some(32));
        assert_eq!(rec, analyzer::output_record(1, 6000, 0, 0, 1 | 2 << 32));
    }

    #[test]
    fn a_full_report_queue_holds_the_kernel_back() {
        let m = model();
        QemuRtio { model: m }.select(Initiator::Kernel);
        for i in 0..EVENT_QUEUE as i64 {
            // Spread over the lanes' capacity: the counter moves on.
            assert_eq!(m.kernel_output(1000 * i, 1000 * i + 500, 0x100, &[0]), Submit::Done(RtioStatus::Ok));
        }
        let t = 1000 * EVENT_QUEUE as i64;
        assert_eq!(m.kernel_output(t, t + 500, 0x100, &[0]), Submit::Busy);
        take_event(m);
        assert_eq!(m.kernel_output(t, t + 500, 0x100, &[0]), Submit::Done(RtioStatus::Ok));
    }

    #[test]
    fn async_errors_reach_take_error_and_reset_clears_them() {
        let m = model();
        let mut rtio = QemuRtio { model: m };
        rtio.select(Initiator::Kernel);
        // A collision: same channel and cycle, two addresses.
        assert_eq!(m.kernel_output(0, 8000, 0x0100_0F00, &[1]), Submit::Done(RtioStatus::Ok));
        assert_eq!(m.kernel_output(0, 8000, 0x0100_0F01, &[1]), Submit::Done(RtioStatus::Ok));
        assert_eq!(rtio.take_error(), Some(RtioError::Collision(0x0F)));
        assert_eq!(rtio.take_error(), None);
        // Backwards over every lane: a sequence error, the event dropped.
        for i in 0..=sed::LANES as i64 {
            assert_eq!(m.kernel_output(0, 100_000 - 8 * i, 0x0100_0F00, &[1]), Submit::Done(RtioStatus::Ok));
        }
        assert_eq!(m.stats().sequence_errors, 1);
        rtio.reset();
        assert_eq!(rtio.take_error(), None, "the reset clears latched errors");
        assert_eq!(m.kernel_slack(), None);
    }

    #[test]
    fn dma_replays_a_stored_trace_in_steps() {
        let m = model();
        let mut rtio = QemuRtio { model: m };
        rtio.select(Initiator::Dma);
        let mut store = Store::new(Arena::with_capacity(1 << 16).unwrap());
        let t = stored(&mut store, 1, &pulses(100, 10));
        let mut dma = QemuDma::new(m, zero);
        dma.start(&t, 1000);
        let (status, got) = play(&mut dma);
        assert_eq!(status, PlaybackStatus::default());
        assert_eq!(got.len(), 100);
        assert_eq!((got[99].timestamp, got[99].data, got[99].source), (1990, 1, 1));
        assert_eq!(m.stats().misrouted, 0);
        assert_eq!(m.analyzer_header().unwrap().sent_bytes, 100 * 32);
    }

    static NOW: core::sync::atomic::AtomicI64 = core::sync::atomic::AtomicI64::new(0);

    fn now() -> i64 {
        NOW.load(Ordering::Relaxed)
    }

    #[test]
    fn dma_underflow_stops_the_playback_with_error_1() {
        let m = model();
        QemuRtio { model: m }.select(Initiator::Dma);
        let mut store = Store::new(Arena::with_capacity(1 << 16).unwrap());
        let t = stored(&mut store, 1, &pulses(10, 1000));
        let mut dma = QemuDma::new(m, || 5000);
        // Offset 100: the records fall at 100, 1100, ... < 5000 + 128.
        dma.start(&t, 100);
        let (status, got) = play(&mut dma);
        assert_eq!(status, PlaybackStatus { error: 1, channel: 0x01_000F, timestamp: 100 });
        assert!(got.is_empty());
        assert_eq!(m.stats().underflows, 1);
    }

    #[test]
    fn a_dma_engine_with_a_warp_moves_the_counter_to_the_room_it_waits_for() {
        let m = model();
        QemuRtio { model: m }.select(Initiator::Dma);
        let mut store = Store::new(Arena::with_capacity(1 << 16).unwrap());
        let n = sed::FIFO_DEPTH as i64 + 20;
        let t = stored(&mut store, 1, &pulses(n, 1000));
        let mut dma = QemuDma::new(m, now2).with_warp(warp2);
        NOW2.store(0, Ordering::Relaxed);
        dma.start(&t, 10_000);
        let (status, got) = play(&mut dma);
        assert_eq!(status, PlaybackStatus::default());
        assert_eq!(got.len() as i64, n);
        // The 129th record waited for the first event (at 10 000), the
        // last for the 20th.
        assert_eq!(NOW2.load(Ordering::Relaxed), 10_000 + 19 * 1000);
    }

    static NOW2: core::sync::atomic::AtomicI64 = core::sync::atomic::AtomicI64::new(0);

    fn now2() -> i64 {
        NOW2.load(Ordering::Relaxed)
    }

    fn warp2(t: i64) {
        NOW2.fetch_max(t, Ordering::Relaxed);
    }

    #[test]
    fn dma_waits_for_room_in_its_lane() {
        let m = model();
        QemuRtio { model: m }.select(Initiator::Dma);
        let mut store = Store::new(Arena::with_capacity(1 << 16).unwrap());
        let n = sed::FIFO_DEPTH as i64 + 20;
        let t = stored(&mut store, 1, &pulses(n, 1000));
        let mut dma = QemuDma::new(m, now);
        NOW.store(0, Ordering::Relaxed);
        dma.start(&t, 10_000);
        let mut got = Vec::new();
        for _ in 0..100 {
            assert_eq!(dma.poll(), None);
            while let Some(e) = dma.events.pop_front() {
                got.push(e);
            }
        }
        assert_eq!(got.len(), sed::FIFO_DEPTH, "a full lane holds the engine");
        assert!(m.stats().waits > 0);
        // The next poll comes long after every timestamp: the engine got
        // room when the first event went out (at 10 000) and wrote the next
        // record then, as the gateware engine would have, so nothing
        // underflows.
        NOW.store(10_000_000, Ordering::Relaxed);
        let (status, rest) = play(&mut dma);
        assert_eq!(status, PlaybackStatus::default());
        got.extend(rest);
        assert_eq!(got.len() as i64, n);
        assert!(got.windows(2).all(|w| w[1].timestamp - w[0].timestamp == 1000));
    }
}
