//! Bench work on one satellite, over whatever link reaches it: the aux
//! operations of a [`Master`] plus what the link lets the bench observe
//! ([`Observe`]: `STATS`, RTIO events, link control; the QEMU link has all
//! of them, a real DRTIO link none). `satctl` and the QEMU tests drive a
//! satellite through `&mut dyn Bench`, so a new link only needs a
//! [`Transport`] that also implements [`Observe`].
//!
//! Also here: DMA traces of TTL pulse trains ([`PulseTrain`]), the check
//! of the events a playback produced ([`check_pulses`], [`summarize`]),
//! and one whole DDMA round trip ([`ddma_round_trip`]).

use std::time::{Duration, Instant};

use crate::master::{DestinationStatus, DmaStatus, Master, MasterError, Outcome, Transport};

use super::proto::{Event, Source, Stats};
use super::transport::QemuTransport;

/// What a link lets the bench see besides aux frames. Every method
/// defaults to "not available on this link".
pub trait Observe {
    /// A `STATS` round trip.
    fn stats(&mut self) -> Option<Result<Stats, MasterError>> {
        None
    }
    /// The RTIO events reported so far.
    fn take_events(&mut self) -> Option<Vec<Event>> {
        None
    }
    /// Waits until `n` events are queued or `timeout` passes; returns how
    /// many are.
    fn wait_events(&mut self, _n: usize, _timeout: Duration) -> Option<usize> {
        None
    }
    /// Simulates the uplink going down or up.
    fn set_link(&mut self, _up: bool) -> Option<Result<(), MasterError>> {
        None
    }
}

impl Observe for QemuTransport {
    fn stats(&mut self) -> Option<Result<Stats, MasterError>> {
        Some(QemuTransport::stats(self, Duration::from_secs(2)))
    }

    fn take_events(&mut self) -> Option<Vec<Event>> {
        Some(QemuTransport::take_events(self))
    }

    fn wait_events(&mut self, n: usize, timeout: Duration) -> Option<usize> {
        Some(QemuTransport::wait_events(self, n, Instant::now() + timeout))
    }

    fn set_link(&mut self, up: bool) -> Option<Result<(), MasterError>> {
        Some(self.send_control(super::proto::Control::Link(up)))
    }
}

/// One satellite on the bench: the master's aux operations and the link's
/// observations, object-safe.
pub trait Bench {
    /// The master's per-reply timeout.
    fn reply_timeout(&self) -> Duration;
    fn set_reply_timeout(&mut self, t: Duration);
    fn echo(&mut self) -> Result<(), MasterError>;
    fn reset(&mut self) -> Result<(), MasterError>;
    fn init_link(&mut self, destination: u8) -> Result<(), MasterError>;
    fn destination_status(&mut self, destination: u8) -> Result<DestinationStatus, MasterError>;
    fn get_log(&mut self, destination: u8, clear: bool) -> Result<Vec<u8>, MasterError>;
    /// The analyzer's header and records (`artiq_coreanalyzer`'s exchange).
    fn analyzer_dump(&mut self, destination: u8) -> Result<(crate::master::AnalyzerDump, Vec<u8>), MasterError>;
    fn dma_add_trace(&mut self, destination: u8, id: u32, trace: &[u8]) -> Result<(), MasterError>;
    fn dma_playback(&mut self, destination: u8, id: u32, timestamp: u64) -> Result<(), MasterError>;
    fn dma_await_status(&mut self, id: u32, timeout: Duration) -> Result<DmaStatus, MasterError>;
    fn dma_remove(&mut self, destination: u8, id: u32) -> Result<(), MasterError>;
    fn upload_subkernel(&mut self, destination: u8, id: u32, image: &[u8]) -> Result<(), MasterError>;
    fn load_run(&mut self, destination: u8, id: u32, run: bool, timestamp: u64) -> Result<(), MasterError>;
    fn await_finish(&mut self, id: u32, timeout: Duration) -> Result<Outcome, MasterError>;
    /// Sends a message (value count + values) to subkernel message id `id`.
    fn send_message(&mut self, destination: u8, id: u32, data: &[u8]) -> Result<(), MasterError>;
    /// The next complete message a subkernel sent with id `id`.
    fn await_message(&mut self, id: u32, timeout: Duration) -> Result<Vec<u8>, MasterError>;
    /// `SubkernelFinished` packets received but not awaited yet.
    fn finished(&self) -> Vec<crate::master::Finished>;
    fn clear_async(&mut self);
    fn observe(&mut self) -> &mut dyn Observe;
    fn config_read(&mut self, destination: u8, key: &str) -> Result<Vec<u8>, MasterError>;
    fn config_write(&mut self, destination: u8, key: &str, value: &[u8]) -> Result<(), MasterError>;
    fn config_remove(&mut self, destination: u8, key: &str) -> Result<(), MasterError>;
    fn config_erase(&mut self, destination: u8) -> Result<(), MasterError>;
    fn reboot(&mut self, destination: u8) -> Result<(), MasterError>;
    /// `artiq_coremgmt flash`: the image + CRC; `progress(sent, total)`.
    fn flash(&mut self, destination: u8, image: &[u8], progress: &mut dyn FnMut(usize, usize)) -> Result<(), MasterError>;
    /// `MonitorRequest`: the probe's value.
    fn monitor(&mut self, destination: u8, channel: u16, probe: u8) -> Result<u64, MasterError>;
    /// `InjectionRequest` (no reply).
    fn inject(&mut self, destination: u8, channel: u16, overrd: u8, value: u8) -> Result<(), MasterError>;
    /// `InjectionStatusRequest`.
    fn injection_status(&mut self, destination: u8, channel: u16, overrd: u8) -> Result<u8, MasterError>;
}

impl<T: Transport + Observe> Bench for Master<T> {
    fn reply_timeout(&self) -> Duration {
        self.timeout
    }
    fn set_reply_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }
    fn echo(&mut self) -> Result<(), MasterError> {
        Master::echo(self)
    }
    fn reset(&mut self) -> Result<(), MasterError> {
        Master::reset(self)
    }
    fn init_link(&mut self, destination: u8) -> Result<(), MasterError> {
        Master::init_link(self, destination)
    }
    fn destination_status(&mut self, destination: u8) -> Result<DestinationStatus, MasterError> {
        Master::destination_status(self, destination)
    }
    fn get_log(&mut self, destination: u8, clear: bool) -> Result<Vec<u8>, MasterError> {
        Master::get_log(self, destination, clear)
    }
    fn analyzer_dump(&mut self, destination: u8) -> Result<(crate::master::AnalyzerDump, Vec<u8>), MasterError> {
        Master::analyzer_dump(self, destination)
    }
    fn dma_add_trace(&mut self, destination: u8, id: u32, trace: &[u8]) -> Result<(), MasterError> {
        Master::dma_add_trace(self, destination, id, trace)
    }
    fn dma_playback(&mut self, destination: u8, id: u32, timestamp: u64) -> Result<(), MasterError> {
        Master::dma_playback(self, destination, id, timestamp)
    }
    fn dma_await_status(&mut self, id: u32, timeout: Duration) -> Result<DmaStatus, MasterError> {
        Master::dma_await_status(self, id, timeout)
    }
    fn dma_remove(&mut self, destination: u8, id: u32) -> Result<(), MasterError> {
        Master::dma_remove(self, destination, id)
    }
    fn upload_subkernel(&mut self, destination: u8, id: u32, image: &[u8]) -> Result<(), MasterError> {
        Master::upload_subkernel(self, destination, id, image)
    }
    fn load_run(&mut self, destination: u8, id: u32, run: bool, timestamp: u64) -> Result<(), MasterError> {
        Master::load_run(self, destination, id, run, timestamp)
    }
    fn await_finish(&mut self, id: u32, timeout: Duration) -> Result<Outcome, MasterError> {
        Master::await_finish(self, id, timeout)
    }
    fn send_message(&mut self, destination: u8, id: u32, data: &[u8]) -> Result<(), MasterError> {
        Master::send_message(self, destination, id, data)
    }
    fn await_message(&mut self, id: u32, timeout: Duration) -> Result<Vec<u8>, MasterError> {
        Master::await_message(self, id, timeout)
    }
    fn finished(&self) -> Vec<crate::master::Finished> {
        Master::finished(self).to_vec()
    }
    fn clear_async(&mut self) {
        Master::clear_async(self)
    }
    fn config_read(&mut self, destination: u8, key: &str) -> Result<Vec<u8>, MasterError> {
        Master::config_read(self, destination, key)
    }
    fn config_write(&mut self, destination: u8, key: &str, value: &[u8]) -> Result<(), MasterError> {
        Master::config_write(self, destination, key, value)
    }
    fn config_remove(&mut self, destination: u8, key: &str) -> Result<(), MasterError> {
        Master::config_remove(self, destination, key)
    }
    fn config_erase(&mut self, destination: u8) -> Result<(), MasterError> {
        Master::config_erase(self, destination)
    }
    fn reboot(&mut self, destination: u8) -> Result<(), MasterError> {
        Master::reboot(self, destination)
    }
    fn flash(&mut self, destination: u8, image: &[u8], progress: &mut dyn FnMut(usize, usize)) -> Result<(), MasterError> {
        Master::flash(self, destination, image, progress)
    }
    fn monitor(&mut self, destination: u8, channel: u16, probe: u8) -> Result<u64, MasterError> {
        Master::monitor(self, destination, channel, probe)
    }
    fn inject(&mut self, destination: u8, channel: u16, overrd: u8, value: u8) -> Result<(), MasterError> {
        Master::inject(self, destination, channel, overrd, value)
    }
    fn injection_status(&mut self, destination: u8, channel: u16, overrd: u8) -> Result<u8, MasterError> {
        Master::injection_status(self, destination, channel, overrd)
    }
    fn observe(&mut self) -> &mut dyn Observe {
        &mut self.transport
    }
}

/// A train of TTL pulses on one RTIO channel: `pulses` × { high at
/// `i·period`, low at `i·period + width` } (timestamps relative to the
/// playback's start, machine units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PulseTrain {
    /// `channel << 8 | address`, the destination in bits 24–31.
    pub target: u32,
    pub pulses: usize,
    pub period: i64,
    pub width: i64,
}

impl PulseTrain {
    /// Pulses on `channel` (0–65535) of `destination`.
    pub fn new(destination: u8, channel: u16, pulses: usize, period: i64, width: i64) -> PulseTrain {
        PulseTrain { target: (destination as u32) << 24 | (channel as u32) << 8, pulses, period, width }
    }

    /// The events, in order: (relative timestamp, data).
    pub fn events(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        (0..self.pulses as i64).flat_map(move |i| [(i * self.period, 1), (i * self.period + self.width, 0)])
    }

    /// The DMA trace (records only: the receiver appends the terminator).
    pub fn trace(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pulses * 2 * 17);
        let mut rec = [0u8; libdma::record::MAX_RECORD_LEN];
        for (t, v) in self.events() {
            let n = libdma::record::encode(&mut rec, self.target, t, &[v]).expect("one word fits");
            out.extend_from_slice(&rec[..n]);
        }
        out
    }
}

/// What a playback's events look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PulseSummary {
    pub events: usize,
    /// Rising edges (data ≠ 0).
    pub pulses: usize,
    pub first_timestamp: Option<i64>,
    /// Min and max distance between successive rising edges.
    pub period: Option<(i64, i64)>,
    /// Min and max distance from a rising edge to the next falling one.
    pub width: Option<(i64, i64)>,
}

fn min_max(v: impl Iterator<Item = i64>) -> Option<(i64, i64)> {
    v.fold(None, |acc, x| Some(match acc {
        None => (x, x),
        Some((a, b)) => (a.min(x), b.max(x)),
    }))
}

/// Summarises events (all of one channel) as pulses.
pub fn summarize(events: &[Event]) -> PulseSummary {
    let rises: Vec<i64> = events.iter().filter(|e| e.data != 0).map(|e| e.timestamp).collect();
    let widths = events.windows(2).filter(|w| w[0].data != 0 && w[1].data == 0).map(|w| w[1].timestamp - w[0].timestamp);
    PulseSummary {
        events: events.len(),
        pulses: rises.len(),
        first_timestamp: rises.first().copied(),
        period: min_max(rises.windows(2).map(|w| w[1] - w[0])),
        width: min_max(widths),
    }
}

/// Checks that `events` are exactly `train` played at `offset` by the DMA
/// engine. The target may come with or without its destination byte.
pub fn check_pulses(events: &[Event], train: &PulseTrain, offset: i64) -> Result<PulseSummary, String> {
    check_pulses_from(events, train, offset, Source::Dma)
}

/// Checks that `events` are exactly `train` at `offset`, all from `source`.
pub fn check_pulses_from(events: &[Event], train: &PulseTrain, offset: i64, source: Source) -> Result<PulseSummary, String> {
    let expected: Vec<(i64, u32)> = train.events().map(|(t, v)| (t + offset, v)).collect();
    for (i, ((t, v), e)) in expected.iter().zip(events).enumerate() {
        let target_ok = e.target == train.target || e.target == train.target & 0x00FF_FFFF;
        if e.source != source || !target_ok || e.timestamp != *t || e.data != *v {
            return Err(format!(
                "event {i}: got {{source {}, timestamp {}, target {:#010x}, data {}}}, expected {{{}, {}, {:#010x}, {}}}",
                e.source.name(),
                e.timestamp,
                e.target,
                e.data,
                source.name(),
                t,
                train.target,
                v
            ));
        }
    }
    if events.len() != expected.len() {
        return Err(format!("{} events, expected {}", events.len(), expected.len()));
    }
    Ok(summarize(events))
}

/// Slack (mu) for timestamps the host builds on a [`CounterEstimate`]: the
/// estimate trails the counter by a STATS reply's trip and the request
/// needs another to arrive, each up to milliseconds of wall time on a
/// loaded machine (0.5 s of wall time in QEMU, whose RTIO clock runs 1000
/// times slower than wall time by default).
pub const HOST_SLACK_MU: i64 = 500_000;

/// The satellite's RTIO counter, estimated from the last `STATS` (which
/// carries the counter and how many ns of wall time one mu takes) and the
/// wall time since. It trails the true counter by the reply's trip, so
/// timestamps built on it need slack ([`HOST_SLACK_MU`]).
#[derive(Debug, Clone, Copy)]
pub struct CounterEstimate {
    pub counter: i64,
    pub slowdown: u32,
    pub at: Instant,
}

impl CounterEstimate {
    pub fn from_stats(s: &Stats) -> CounterEstimate {
        CounterEstimate { counter: s.rtio_counter, slowdown: s.rtio_slowdown.max(1), at: Instant::now() }
    }

    /// Machine units.
    pub fn now(&self) -> i64 {
        self.counter + (self.at.elapsed().as_nanos() / self.slowdown as u128) as i64
    }

    /// Wall time for `mu` machine units of the satellite's RTIO time.
    pub fn wall(&self, mu: i64) -> std::time::Duration {
        std::time::Duration::from_nanos(mu.max(0) as u64 * self.slowdown as u64)
    }
}

/// Parameters of [`ddma_round_trip`].
#[derive(Debug, Clone, Copy)]
pub struct DdmaConfig {
    pub destination: u8,
    pub id: u32,
    pub train: PulseTrain,
    /// Playback starts this far ahead of the estimated counter (mu).
    pub slack: i64,
    pub status_timeout: Duration,
    pub events_timeout: Duration,
}

/// One DDMA round trip, timed.
#[derive(Debug, Clone)]
pub struct DdmaRun {
    pub upload: Duration,
    /// Playback request to `DmaPlaybackStatus`.
    pub playback: Duration,
    pub remove: Duration,
    /// Upload + playback + remove (not the event wait nor the STATS check).
    pub total: Duration,
    pub timestamp: i64,
    pub status: DmaStatus,
    /// `None` if the link does not report events.
    pub summary: Option<PulseSummary>,
    /// `STATS` after the removal, if the link has it.
    pub after: Option<Stats>,
}

/// Stats that must return to their baseline after a trace is removed or a
/// kernel has ended: both heaps, the DDMA arena and its trace count.
pub fn leaks(base: &Stats, now: &Stats) -> Option<String> {
    let mut out = Vec::new();
    if now.heap0_used != base.heap0_used {
        out.push(format!("heap0_used {} → {} ({:+})", base.heap0_used, now.heap0_used, now.heap0_used as i64 - base.heap0_used as i64));
    }
    if now.heap1_used != base.heap1_used {
        out.push(format!("heap1_used {} → {} ({:+})", base.heap1_used, now.heap1_used, now.heap1_used as i64 - base.heap1_used as i64));
    }
    if now.ddma_in_use != base.ddma_in_use {
        out.push(format!("ddma_in_use {} → {}", base.ddma_in_use, now.ddma_in_use));
    }
    if now.ddma_traces != base.ddma_traces {
        out.push(format!("ddma_traces {} → {}", base.ddma_traces, now.ddma_traces));
    }
    (!out.is_empty()).then(|| out.join(", "))
}

/// Upload `cfg.train` as trace `cfg.id` (in chunks), play it at the
/// estimated counter + slack, await its status, check its events (if the
/// link reports them), remove it, and (if the link has `STATS`) compare
/// the heap and the DDMA arena with `baseline`. Updates `counter` from the
/// final `STATS`.
pub fn ddma_round_trip(
    b: &mut dyn Bench,
    cfg: &DdmaConfig,
    counter: &mut Option<CounterEstimate>,
    baseline: Option<&Stats>,
) -> Result<DdmaRun, String> {
    let trace = cfg.train.trace();
    if let Some(ev) = b.observe().take_events() {
        if !ev.is_empty() {
            return Err(format!("{} stray RTIO events before the playback, first {:?}", ev.len(), ev[0]));
        }
    }
    let start = Instant::now();
    b.dma_add_trace(cfg.destination, cfg.id, &trace).map_err(|e| format!("upload: {e}"))?;
    let upload = start.elapsed();

    let t = Instant::now();
    let timestamp = counter.map_or(0, |c| c.now()) + cfg.slack;
    b.dma_playback(cfg.destination, cfg.id, timestamp as u64).map_err(|e| format!("playback: {e}"))?;
    let status = b.dma_await_status(cfg.id, cfg.status_timeout).map_err(|e| format!("playback: {e}"))?;
    let playback = t.elapsed();
    if status.error != 0 {
        return Err(format!(
            "playback status: error {} (channel {:#x}, timestamp {}; played at {timestamp})",
            status.error, status.channel, status.timestamp
        ));
    }

    let want = cfg.train.pulses * 2;
    let summary = match b.observe().wait_events(want, cfg.events_timeout) {
        Some(_) => {
            // Late extra events show up as strays at the next round trip.
            let events = b.observe().take_events().unwrap_or_default();
            Some(check_pulses(&events, &cfg.train, timestamp).map_err(|e| format!("RTIO events: {e}"))?)
        }
        None => None,
    };

    let t = Instant::now();
    b.dma_remove(cfg.destination, cfg.id).map_err(|e| format!("remove: {e}"))?;
    let remove = t.elapsed();
    let total = upload + playback + remove;

    let after = match b.observe().stats() {
        Some(s) => {
            let s = s.map_err(|e| format!("STATS after removal: {e}"))?;
            *counter = Some(CounterEstimate::from_stats(&s));
            if let Some(base) = baseline {
                if let Some(l) = leaks(base, &s) {
                    return Err(format!("after removal: {l}"));
                }
            }
            Some(s)
        }
        None => None,
    };
    Ok(DdmaRun { upload, playback, remove, total, timestamp, status, summary, after })
}

/// Timing statistics of a series, in µs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub count: usize,
    pub mean_us: f64,
    pub min_us: f64,
    pub max_us: f64,
}

impl Spread {
    pub fn of(d: &[Duration]) -> Option<Spread> {
        if d.is_empty() {
            return None;
        }
        let us: Vec<f64> = d.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        Some(Spread {
            count: us.len(),
            mean_us: us.iter().sum::<f64>() / us.len() as f64,
            min_us: us.iter().cloned().fold(f64::INFINITY, f64::min),
            max_us: us.iter().cloned().fold(0.0, f64::max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_train_trace_and_check() {
        let train = PulseTrain::new(1, 15, 3, 1000, 400);
        assert_eq!(train.target, 0x0100_0F00);
        let trace = train.trace();
        assert_eq!(trace.len(), 6 * 17);
        let recs: Vec<_> = libdma::record::Records::new(&trace).map(|r| r.unwrap()).collect();
        assert_eq!(recs.len(), 6);
        assert_eq!((recs[3].timestamp, recs[3].target, recs[3].word(0)), (1400, 0x0100_0F00, 0));

        let ev: Vec<Event> =
            train.events().map(|(t, v)| Event { source: Source::Dma, timestamp: t + 50, target: train.target, data: v }).collect();
        let s = check_pulses(&ev, &train, 50).unwrap();
        assert_eq!(s, PulseSummary { events: 6, pulses: 3, first_timestamp: Some(50), period: Some((1000, 1000)), width: Some((400, 400)) });
        assert!(check_pulses(&ev[..5], &train, 50).unwrap_err().contains("5 events"));
        let mut bad = ev.clone();
        bad[2].timestamp += 1;
        assert!(check_pulses(&bad, &train, 50).unwrap_err().starts_with("event 2"));
        let stripped: Vec<Event> = ev.iter().map(|e| Event { target: e.target & 0xFF_FFFF, ..*e }).collect();
        assert!(check_pulses(&stripped, &train, 50).is_ok());
    }
}
