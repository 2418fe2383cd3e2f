//! The QEMU RTIO model keeps time like the gateware (issue 10 item 4), on
//! the firmware in QEMU with the test kernels of kernels/README.md. One
//! QEMU for the whole file; after a first run of the user's experiment (the
//! heap baseline) each case runs, followed by the experiment, which must
//! pass with the heaps back at the baseline:
//!
//! 1. `underflow_uncaught`: an output 10 000 mu behind the counter raises
//!    `RTIOUnderflow` with ARTIQ's message and parameters (channel,
//!    timestamp, slack), which nothing catches: the master gets it; the two
//!    outputs before it went out. (`catch_underflow` in qemu_exceptions.rs
//!    is the caught case.)
//! 2. `fifo_fill`: 1000 events 1000 mu apart, eight times what one lane
//!    holds: back-pressure holds the kernel until its lane has room, so
//!    every event goes out, none underflows, and the slack the kernel sees
//!    at the end is what 128 queued events leave (~128 000 mu).
//! 3. `rtio_errors`: a collision and a sequence error reach the master
//!    through `DestinationStatusRequest` (sequence first, as the gateware
//!    reports them), each once; the kernel itself is not told.
//! 4. a master's DDMA playback whose timestamps are past: the engine stops
//!    at the first record and `DmaPlaybackStatus` says underflow (error 1),
//!    with its channel and timestamp; nothing goes out.
//!
//! 5. the analyzer (issue 10 item 3): one run of the user's experiment,
//!    fetched as `artiq_coreanalyzer` fetches it (`satctl qemu analyzer`
//!    does the same), written as a VCD and parsed back: `ttl/ttl15` holds
//!    exactly A's 200 edges and B's 200 edges, each at its event's time
//!    (relative to the first), and nothing else; the header's sizes match
//!    the records; the capture re-armed after the last slice.
//!
//! Needs the firmware and kernels the build script builds; with
//! SATMAN_SKIP_FIRMWARE set it prints a loud skip and passes.

use std::time::Duration;

use libksupport::exception;
use satman_systest::master::DestinationStatus;
use satman_systest::qemu::bench::PulseTrain;
use satman_systest::qemu::cases::{expect_eq, Case, Ctx};
use satman_systest::qemu::experiment::{A, DEST};
use satman_systest::qemu::experiment::TRAIN;
use satman_systest::qemu::{Event, Source};
use satman_systest::vcd;

const AWAIT: Duration = Duration::from_secs(10);
const TTL15: u32 = 0x0100_0F00;
const TTL16: u32 = 0x0100_1000;
/// Channel 15 of destination 1, as exceptions and statuses name it.
const CHANNEL15: i64 = 0x01_000F;

fn expect_event(e: &Event, target: u32, data: u32) -> Result<(), String> {
    if e.target != target || e.data != data || e.source != Source::Kernel {
        return Err(format!("event {e:?}: expected data {data} on {target:#x} from the kernel CPU"));
    }
    Ok(())
}

fn underflow_uncaught(c: &mut Ctx) -> Result<(), String> {
    c.start("underflow_uncaught", A)?;
    let e = c.exception(A)?;
    expect_eq("exception id", e.id, exception::id::RTIO_UNDERFLOW)?;
    expect_eq("message", e.message.as_deref(), Some("RTIO underflow at {1} mu, channel {rtio_channel_info:0}, slack {2} mu"))?;
    let [channel, timestamp, slack] = e.param;
    expect_eq("channel", channel, CHANNEL15)?;
    if slack > -10_000 || slack < -10_000_000 {
        return Err(format!("slack {slack} mu: expected a little under -10 000 (the kernel went 10 000 mu behind the counter)"));
    }
    let ev = c.events(2)?;
    expect_event(&ev[0], TTL15, 1)?;
    expect_event(&ev[1], TTL15, 0)?;
    expect_eq("pulse width", ev[1].timestamp - ev[0].timestamp, 1000)?;
    // at_mu(counter - 10 000): behind the pulse break_realtime put ahead.
    if timestamp >= ev[0].timestamp {
        return Err(format!("underflow at {timestamp} mu, not behind the pulse (at {})", ev[0].timestamp));
    }
    c.idle("underflow_uncaught")?;
    Ok(())
}

fn fifo_fill(c: &mut Ctx) -> Result<(), String> {
    c.clear_log()?;
    c.start("fifo_fill", A)?;
    c.finished(A)?;
    c.finish(A)?;
    let ev = c.events(1001)?;
    for (i, e) in ev[..1000].iter().enumerate() {
        expect_event(e, TTL15, (i % 2 == 0) as u32)?;
    }
    if let Some(w) = ev[..1000].windows(2).find(|w| w[1].timestamp - w[0].timestamp != 1000) {
        return Err(format!("events not 1000 mu apart: {:?}", w));
    }
    let slack = ev[1000].data as i32 as i64;
    expect_eq("slack event", (ev[1000].target, ev[1000].source), (TTL16, Source::Kernel))?;
    // 128 events of 1000 mu queued in the lane when the last one went in.
    if !(120_000..=130_000).contains(&slack) {
        return Err(format!("slack at the end {slack} mu: expected ~128 000 (back-pressure on one lane of 128)"));
    }
    // The board logs the summary on its first pass after the kernel ended.
    let mut log = String::new();
    for _ in 0..20 {
        log.push_str(&c.log()?);
        if log.contains("lane waits") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = log.lines().find(|l| l.contains("lane waits")).ok_or_else(|| format!("no RTIO summary in the satellite log:\n{log}"))?;
    // (An underflow would have raised: the kernel finished normally.)
    if line.contains(" 0 lane waits") || !line.contains("1001 kernel events") {
        return Err(format!("expected 1001 events and lane waits: {line}"));
    }
    c.idle("fifo_fill")?;
    Ok(())
}

fn rtio_errors(c: &mut Ctx) -> Result<(), String> {
    c.start("rtio_errors", A)?;
    c.finished(A)?;
    c.finish(A)?;
    // The collision's two events, then eight of the nine going back in
    // time (the ninth is dropped).
    let ev = c.events(10)?;
    expect_eq("collision pair", (ev[0].timestamp, ev[0].target, ev[1].target), (ev[1].timestamp, TTL15, TTL15 | 1))?;
    let status = |c: &mut Ctx| c.q.master.destination_status(DEST).map_err(|e| format!("destination status: {e}"));
    expect_eq("first status", status(c)?, DestinationStatus::SequenceError(0x0F))?;
    expect_eq("second status", status(c)?, DestinationStatus::Collision(0x0F))?;
    expect_eq("third status", status(c)?, DestinationStatus::Ok)?;
    c.idle("rtio_errors")?;
    Ok(())
}

fn ddma_underflow(c: &mut Ctx) -> Result<(), String> {
    const ID: u32 = 7;
    let train = PulseTrain::new(DEST, 15, 10, 1000, 500);
    c.q.master.dma_add_trace(DEST, ID, &train.trace()).map_err(|e| format!("DMA trace upload: {e}"))?;
    // Timestamp 5000: long past.
    c.q.master.dma_playback(DEST, ID, 5000).map_err(|e| format!("DMA playback: {e}"))?;
    let s = c.q.master.dma_await_status(ID, AWAIT).map_err(|e| format!("DMA status: {e}"))?;
    expect_eq("status (error, channel, timestamp)", (s.error, s.channel as i64, s.timestamp), (1, CHANNEL15, 5000))?;
    c.no_events(Duration::from_millis(300))?;
    c.q.master.dma_remove(DEST, ID).map_err(|e| format!("DMA remove: {e}"))?;
    c.idle("the DDMA underflow")?;
    Ok(())
}

fn analyzer_vcd(c: &mut Ctx) -> Result<(), String> {
    // Empty the capture, then one run of the experiment.
    c.q.master.analyzer_dump(DEST).map_err(|e| format!("analyzer: {e}"))?;
    let run = c.experiment()?;
    let (h, bytes) = c.q.master.analyzer_dump(DEST).map_err(|e| format!("analyzer: {e}"))?;
    // 400 outputs and the stopped record.
    expect_eq("header", (h.sent_bytes, h.total_byte_count, h.overflow), (401 * 32, 401 * 32, false))?;
    expect_eq("bytes", bytes.len(), 401 * 32)?;
    let messages = vcd::decode(&bytes)?;
    let names = std::collections::BTreeMap::from([(CHANNEL15 as u32, "ttl15".to_string())]);
    let parsed = vcd::parse(&vcd::write(&messages, &names))?;
    expect_eq("timescale", parsed.timescale.as_str(), "1000ps")?;
    expect_eq("signals", parsed.signals.keys().cloned().collect::<Vec<_>>(), vec!["rtio_slack".to_string(), "ttl/ttl15".to_string()])?;
    // Both trains, from their first edges as the event reports gave them.
    let first = |s: &Option<satman_systest::qemu::bench::PulseSummary>| s.and_then(|s| s.first_timestamp).ok_or("no events reported");
    let (a0, b0) = (first(&run.a.summary)?, first(&run.b.summary)?);
    let mut want: Vec<(i64, String)> = TRAIN.events().into_iter().flat_map(|(t, v)| [(a0 + t, v.to_string()), (b0 + t, v.to_string())]).collect();
    want.sort();
    let start = want[0].0;
    let want: Vec<(i64, String)> = want.into_iter().map(|(t, v)| (t - start, v)).collect();
    let got = &parsed.signals["ttl/ttl15"];
    expect_eq("ttl15 changes", got.len(), 400)?;
    if *got != want {
        let i = got.iter().zip(&want).position(|(g, w)| g != w).unwrap_or(0);
        return Err(format!("ttl15 change {i}: got {:?}, expected {:?}", got.get(i), want.get(i)));
    }
    expect_eq("rtio_slack values", parsed.signals["rtio_slack"].len(), 400)?;
    // The last slice re-armed the capture: nothing since.
    let (h, _) = c.q.master.analyzer_dump(DEST).map_err(|e| format!("analyzer: {e}"))?;
    expect_eq("after re-arming: the stopped record alone", h.sent_bytes, 32)?;
    Ok(())
}

#[test]
fn qemu_rtio() {
    let Some(mut c) = Ctx::boot("qemu_rtio", AWAIT) else { return };
    let first = c.experiment().unwrap_or_else(|e| panic!("first experiment: {e}\n{}", c.q.diagnostics()));
    c.baseline = Some(first.after.expect("baseline"));
    let cases: [(&str, Case); 5] = [
        ("analyzer VCD", analyzer_vcd),
        ("underflow_uncaught", underflow_uncaught),
        ("fifo_fill", fifo_fill),
        ("rtio_errors", rtio_errors),
        ("DDMA playback underflow", ddma_underflow),
    ];
    c.run_cases("rtio", &cases);
    c.exit();
}
