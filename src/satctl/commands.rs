//! satctl's commands, over any [`Target`].

use std::time::{Duration, Instant};

use satman_systest::qemu::bench::{ddma_round_trip, CounterEstimate, DdmaConfig, DdmaRun, PulseSummary, PulseTrain, Spread};
use satman_systest::qemu::experiment::{self, Expect, ExperimentRun, Options, SubkernelRun, TRAIN};
use satman_systest::qemu::{Bench, BootTimes, Stats};

use super::json::Json;
use super::progress::Progress;
use super::target::Target;
use super::{Command, DmaArgs, ScenarioArgs};

/// Output settings.
pub struct Out {
    pub json: bool,
}

impl Out {
    /// A status line on stderr (not with --json).
    pub fn status(&self, msg: &str) {
        if !self.json {
            eprintln!("satctl: {msg}");
        }
    }
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Ping { .. } => "ping",
            Command::Log { .. } => "log",
            Command::Stats => "stats",
            Command::Dma(_) => "dma",
            Command::Demo => "demo",
            Command::Scenario(_) => "scenario",
            Command::Kernel(_) => "kernel",
            Command::Measure(_) => "measure",
            Command::Flash { .. } => "flash",
            Command::Config(super::ConfigCommand::Read { .. }) => "config read",
            Command::Config(super::ConfigCommand::Write { .. }) => "config write",
            Command::Config(super::ConfigCommand::Remove { .. }) => "config remove",
            Command::Config(super::ConfigCommand::Erase { .. }) => "config erase",
            Command::Analyzer(_) => "analyzer",
            Command::Reboot { .. } => "reboot",
            Command::Moninj(_) => "moninj",
            Command::Session(_) => "session",
        }
    }
}

/// A failure, with what was measured before it.
pub type Failed = (String, Json);

pub fn run(command: &Command, target: &mut dyn Target, out: &Out, timeout: Duration) -> Result<Json, Failed> {
    let b = target.bench();
    match command {
        Command::Ping { count } => ping(b, *count).map(|p| {
            println!("{}", p.human());
            p.json()
        }),
        Command::Log { clear, destination } => log(b, *destination, *clear),
        Command::Stats => stats(b),
        Command::Dma(a) => dma(b, a, out, timeout),
        Command::Demo => demo(target, out, timeout),
        Command::Scenario(a) => scenario(target, a, out, timeout),
        Command::Kernel(a) => super::kernel::kernel(target, a, out),
        Command::Measure(a) => super::measure::measure(target, a, out, timeout),
        Command::Flash { file, destination, no_wait } => super::mgmt::flash(target, file, *destination, *no_wait, out, timeout),
        Command::Config(c) => super::mgmt::config(target, c, out),
        Command::Analyzer(a) => super::analyzer::analyzer(target, a, timeout),
        Command::Reboot { destination } => super::mgmt::reboot(target, *destination, timeout),
        Command::Moninj(a) => super::moninj::moninj(target, a, out),
        Command::Session(a) => super::session::session(target, a, out, timeout),
    }
}

/// Rounded to one decimal (0.1 µs or 0.1 ms: the clocks are not better).
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn boot_json(b: &BootTimes) -> Json {
    Json::obj()
        .with("wall_ms", round1(b.ready.as_secs_f64() * 1e3))
        .with("connect_ms", round1(b.connect.as_secs_f64() * 1e3))
        .with("boot_us", b.boot_us)
        .with("cpu1_up", b.cpu1_up)
}

/// Milliseconds, to 10 µs.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

pub fn spread_json(s: Option<Spread>) -> Json {
    match s {
        None => Json::Null,
        Some(s) => Json::obj().with("count", s.count).with("mean_us", round1(s.mean_us)).with("min_us", round1(s.min_us)).with("max_us", round1(s.max_us)),
    }
}

// ---- ping ---------------------------------------------------------------------

pub struct PingResult {
    pub times: Vec<Duration>,
}

impl PingResult {
    fn spread(&self) -> Option<Spread> {
        Spread::of(&self.times)
    }

    pub fn human(&self) -> String {
        match self.spread() {
            Some(s) => format!(
                "ping: {} echoes, round trip mean {:.0} µs, min {:.0} µs, max {:.0} µs",
                s.count, s.mean_us, s.min_us, s.max_us
            ),
            None => "ping: no echoes".into(),
        }
    }

    pub fn json(&self) -> Json {
        let s = self.spread();
        Json::obj()
            .with("count", self.times.len())
            .with("mean_us", s.map(|s| round1(s.mean_us)))
            .with("min_us", s.map(|s| round1(s.min_us)))
            .with("max_us", s.map(|s| round1(s.max_us)))
    }
}

pub fn ping(b: &mut dyn Bench, count: usize) -> Result<PingResult, Failed> {
    let mut r = PingResult { times: Vec::with_capacity(count) };
    for i in 0..count {
        let t = Instant::now();
        if let Err(e) = b.echo() {
            return Err((format!("echo {} of {count}: {e}", i + 1), r.json()));
        }
        r.times.push(t.elapsed());
    }
    Ok(r)
}

// ---- log ----------------------------------------------------------------------

fn log(b: &mut dyn Bench, destination: u8, clear: bool) -> Result<Json, Failed> {
    let bytes = b.get_log(destination, clear).map_err(|e| (format!("log: {e}"), Json::Null))?;
    let text = String::from_utf8_lossy(&bytes);
    print!("{text}");
    if !text.is_empty() && !text.ends_with('\n') {
        println!();
    }
    Ok(Json::obj().with("bytes", bytes.len()).with("lines", text.lines().count()).with("text", text.into_owned()))
}

// ---- stats --------------------------------------------------------------------

pub fn stats_json(s: &Stats) -> Json {
    Json::obj()
        .with("heap0_used", s.heap0_used)
        .with("heap1_used", s.heap1_used)
        .with("ddma_in_use", s.ddma_in_use)
        .with("ddma_traces", s.ddma_traces)
        .with("kernel_state", s.kernel_state.to_string())
        .with("kernel_id", s.kernel_id)
        .with("kernels_finished", s.kernels_finished)
        .with("kernels_failed", s.kernels_failed)
        .with("packets_in", s.packets_in)
        .with("packets_out", s.packets_out)
        .with("decode_errors", s.decode_errors)
        .with("rtio_events", s.rtio_events)
        .with("uptime_us", s.uptime_us)
        .with("heap1_loaded", s.heap1_loaded)
        .with("heap1_ended", s.heap1_ended)
}

/// CPU1's heap in the last kernel run: after its load, at its end.
pub fn heap1_run_human(s: &Stats) -> String {
    let fig = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |b| format!("{b} bytes"));
    let delta = match (s.heap1_loaded, s.heap1_ended) {
        (Some(l), Some(e)) if l == e => ", all freed".to_string(),
        (Some(l), Some(e)) => format!(", {:+} bytes left allocated", e as i64 - l as i64),
        _ => String::new(),
    };
    format!("{} after load, {} at the end{delta}", fig(s.heap1_loaded), fig(s.heap1_ended))
}

fn stats_human(s: &Stats) -> String {
    let kernel = if s.kernel_id != 0 { format!("{} (id {})", s.kernel_state, s.kernel_id) } else { s.kernel_state.to_string() };
    [
        format!("heap0 (CPU0)      {:>12} bytes used", s.heap0_used),
        format!("heap1 (CPU1)      {:>12} bytes used", s.heap1_used),
        format!("heap1, last run   {}", heap1_run_human(s)),
        format!("DDMA arena        {:>12} bytes in {} trace(s)", s.ddma_in_use, s.ddma_traces),
        format!("kernel            {kernel}"),
        format!("kernels           {} finished, {} failed", s.kernels_finished, s.kernels_failed),
        format!("aux packets       {} in, {} out, {} decode errors", s.packets_in, s.packets_out, s.decode_errors),
        format!("RTIO events       {}", s.rtio_events),
        format!("uptime            {:.3} s", s.uptime_us as f64 / 1e6),
    ]
    .join("\n")
}

pub fn get_stats(b: &mut dyn Bench) -> Result<Stats, String> {
    match b.observe().stats() {
        None => Err("this link has no STATS (control channel)".into()),
        Some(r) => r.map_err(|e| format!("STATS: {e}")),
    }
}

fn stats(b: &mut dyn Bench) -> Result<Json, Failed> {
    let s = get_stats(b).map_err(|e| (e, Json::Null))?;
    println!("{}", stats_human(&s));
    Ok(stats_json(&s))
}

// ---- dma ----------------------------------------------------------------------

struct DmaSeries {
    runs: Vec<DdmaRun>,
    baseline: Option<Stats>,
    train: PulseTrain,
}

impl DmaSeries {
    fn json(&self) -> Json {
        let col = |f: fn(&DdmaRun) -> Duration| Spread::of(&self.runs.iter().map(f).collect::<Vec<_>>());
        let trace_bytes = self.train.trace().len();
        Json::obj()
            .with("runs", self.runs.len())
            .with("pulses", self.train.pulses)
            .with("target", self.train.target)
            .with("period_mu", self.train.period)
            .with("width_mu", self.train.width)
            .with("trace_bytes", trace_bytes)
            .with("chunks", trace_bytes.div_ceil(libdrtio::MASTER_PAYLOAD_MAX_SIZE))
            .with("round_trip", spread_json(col(|r| r.total)))
            .with("upload", spread_json(col(|r| r.upload)))
            .with("playback", spread_json(col(|r| r.playback)))
            .with("remove", spread_json(col(|r| r.remove)))
            .with("events_checked", self.runs.iter().all(|r| r.summary.is_some()))
            .with("baseline", self.baseline.as_ref().map(stats_json))
            .with("last", self.runs.last().and_then(|r| r.after.as_ref()).map(stats_json))
    }
}

fn dma_series(b: &mut dyn Bench, a: &DmaArgs, out: &Out, timeout: Duration) -> Result<DmaSeries, Failed> {
    let train = PulseTrain::new(a.destination, a.channel, a.pulses, a.period, a.width.unwrap_or(a.period / 2));
    let mut series = DmaSeries { runs: Vec::with_capacity(a.runs), baseline: None, train };
    if a.pulses == 0 {
        return Err(("--pulses must be at least 1".into(), Json::Null));
    }
    b.init_link(a.destination).map_err(|e| (format!("link up: {e}"), Json::Null))?;
    // Baseline after link-up, before the first upload.
    let (baseline, mut counter) = match b.observe().stats() {
        Some(Ok(s)) => (Some(s), Some(CounterEstimate::from_stats(&s))),
        Some(Err(e)) => return Err((format!("STATS: {e}"), Json::Null)),
        None => (None, None),
    };
    series.baseline = baseline;
    let cfg = DdmaConfig { destination: a.destination, id: a.id, train, slack: a.slack, status_timeout: timeout, events_timeout: timeout };
    let mut progress = Progress::new("dma", a.runs, !out.json);
    for i in 0..a.runs {
        match ddma_round_trip(b, &cfg, &mut counter, series.baseline.as_ref()) {
            Ok(r) => series.runs.push(r),
            Err(e) => {
                progress.finish();
                return Err((format!("run {} of {}: {e}", i + 1, a.runs), series.json()));
            }
        }
        progress.tick(i + 1);
    }
    progress.finish();
    Ok(series)
}

fn dma(b: &mut dyn Bench, a: &DmaArgs, out: &Out, timeout: Duration) -> Result<Json, Failed> {
    let s = dma_series(b, a, out, timeout)?;
    let j = s.json();
    let total = Spread::of(&s.runs.iter().map(|r| r.total).collect::<Vec<_>>()).expect("at least one run");
    let mean = |f: fn(&DdmaRun) -> Duration| s.runs.iter().map(|r| f(r).as_secs_f64()).sum::<f64>() / s.runs.len() as f64 * 1e3;
    let bytes = s.train.trace().len();
    println!(
        "dma: {} run(s) of {} pulses ({} bytes, {} chunk(s)) on channel {} of destination {}",
        s.runs.len(),
        a.pulses,
        bytes,
        bytes.div_ceil(libdrtio::MASTER_PAYLOAD_MAX_SIZE),
        a.channel,
        a.destination
    );
    println!(
        "dma: round trip mean {:.2} ms (min {:.2}, max {:.2}): upload {:.2} ms, playback {:.2} ms, remove {:.2} ms",
        total.mean_us / 1e3,
        total.min_us / 1e3,
        total.max_us / 1e3,
        mean(|r| r.upload),
        mean(|r| r.playback),
        mean(|r| r.remove)
    );
    if let Some(sum) = s.runs.last().and_then(|r| r.summary) {
        println!("dma: every run's {} events checked (count, values, spacing); last run:", sum.events);
        println!("{}", pulse_table(&sum));
    } else {
        println!("dma: this link does not report RTIO events; not checked");
    }
    match &s.baseline {
        Some(base) => println!(
            "dma: heap0_used ({} bytes) and ddma_in_use ({} bytes) back at baseline after every removal",
            base.heap0_used, base.ddma_in_use
        ),
        None => println!("dma: this link has no STATS; heap not checked"),
    }
    Ok(j)
}

pub fn range(v: Option<(i64, i64)>) -> String {
    match v {
        None => "-".into(),
        Some((a, b)) if a == b => a.to_string(),
        Some((a, b)) => format!("{a}..{b}"),
    }
}

pub fn pulse_table(s: &PulseSummary) -> String {
    let first = s.first_timestamp.map_or("-".into(), |t| t.to_string());
    let rows = [
        ("pulses seen", s.pulses.to_string()),
        ("first timestamp (mu)", first),
        ("period (mu)", range(s.period)),
        ("width (mu)", range(s.width)),
    ];
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    let mut t = format!("  +-{}-+-{}-+\n", "-".repeat(w0), "-".repeat(w1));
    for (k, v) in rows {
        t.push_str(&format!("  | {k:<w0$} | {v:>w1$} |\n"));
    }
    t.push_str(&format!("  +-{}-+-{}-+", "-".repeat(w0), "-".repeat(w1)));
    t
}

// ---- demo ---------------------------------------------------------------------

fn demo(target: &mut dyn Target, out: &Out, timeout: Duration) -> Result<Json, Failed> {
    let link = target.name();
    let boot = target.boot();
    let b = target.bench();
    let mut j = Json::obj();
    println!("satman demo over {link}");
    if let Some(boot) = boot {
        println!(
            "  boot         READY {} ms after start (firmware main loop at {:.1} ms), CPU1 {}",
            boot.ready.as_millis(),
            boot.boot_us as f64 / 1e3,
            if boot.cpu1_up { "up" } else { "NOT up" }
        );
    }

    let t = Instant::now();
    b.init_link(1).map_err(|e| (format!("link up: {e}"), j.clone()))?;
    let link_ms = t.elapsed().as_secs_f64() * 1e3;
    println!("  link up      echo, routing table (256 rows), rank, destination 1 OK  ({link_ms:.0} ms)");
    j.set("link_up_ms", round1(link_ms));

    let p = ping(b, 10).map_err(|(e, _)| (e, j.clone()))?;
    let s = p.spread().expect("10 echoes");
    println!("  ping         10 echoes, round trip mean {:.0} µs (min {:.0}, max {:.0})", s.mean_us, s.min_us, s.max_us);
    j.set("ping", p.json());

    let a = DmaArgs { pulses: 100, runs: 1, channel: 15, destination: 1, period: 1000, width: Some(500), slack: satman_systest::qemu::bench::HOST_SLACK_MU, id: 1 };
    let series = dma_series(b, &a, out, timeout).map_err(|(e, d)| (e, j.clone().with("dma", d)))?;
    let run = &series.runs[0];
    let bytes = series.train.trace().len();
    println!(
        "  DDMA         trace of 100 TTL pulses on channel 15: {} bytes in {} chunks; upload {:.1} ms, play {:.1} ms, remove {:.1} ms",
        bytes,
        bytes.div_ceil(libdrtio::MASTER_PAYLOAD_MAX_SIZE),
        run.upload.as_secs_f64() * 1e3,
        run.playback.as_secs_f64() * 1e3,
        run.remove.as_secs_f64() * 1e3
    );
    match run.summary {
        Some(sum) => {
            println!("  RTIO events  as the satellite's DMA engine played them:");
            println!("{}", pulse_table(&sum));
            j.set(
                "pulses",
                Json::obj()
                    .with("seen", sum.pulses)
                    .with("first_timestamp", sum.first_timestamp)
                    .with("period", sum.period.map(|p| p.0))
                    .with("width", sum.width.map(|w| w.0)),
            );
        }
        None => println!("  RTIO events  not reported by this link"),
    }
    if series.baseline.is_some() {
        println!("  heap         back to its baseline after the trace was removed");
    }
    j.set("dma", series.json());
    Ok(j)
}

// ---- scenario -----------------------------------------------------------------

fn sub_json(r: &SubkernelRun) -> Json {
    let sum = r.summary;
    Json::obj()
        .with("upload_ms", ms(r.upload))
        .with("reset_ms", ms(r.reset))
        .with("load_ms", ms(r.load))
        .with("run_ms", ms(r.run))
        .with("finish_ms", ms(r.finish))
        .with("pulses", sum.map(|s| s.pulses))
        .with("first_edge", sum.and_then(|s| s.first_timestamp))
        .with("lead", r.lead())
        .with("period", sum.and_then(|s| s.period).map(|p| vec![p.0, p.1]))
        .with("width", sum.and_then(|s| s.width).map(|w| vec![w.0, w.1]))
        .with("heap0_used", r.after.map(|s| s.heap0_used))
        .with("heap1_used", r.after.map(|s| s.heap1_used))
        .with("heap1_loaded", r.after.and_then(|s| s.heap1_loaded))
        .with("heap1_ended", r.after.and_then(|s| s.heap1_ended))
        .with("ddma_in_use", r.after.map(|s| s.ddma_in_use))
}

const RUN_HEADER: &str =
    "  run sub upload_ms load_ms run_ms finish_ms pulses   first_edge_mu lead_mu period_mu width_mu    heap0  heap1 h1_load h1_end ddma";

fn run_row(run: usize, which: &str, r: &SubkernelRun) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let sum = r.summary;
    let after = r.after;
    format!(
        "{run:>5} {which:>3} {:>9.1} {:>7.1} {:>6.1} {:>9.1} {:>6} {:>15} {:>7} {:>9} {:>8} {:>8} {:>6} {:>7} {:>6} {:>4}",
        r.upload.as_secs_f64() * 1e3,
        r.load.as_secs_f64() * 1e3,
        r.run.as_secs_f64() * 1e3,
        r.finish.as_secs_f64() * 1e3,
        opt(sum.map(|s| s.pulses.to_string())),
        opt(sum.and_then(|s| s.first_timestamp).map(|t| t.to_string())),
        opt(r.lead().map(|l| l.to_string())),
        range(sum.and_then(|s| s.period)),
        range(sum.and_then(|s| s.width)),
        opt(after.map(|s| s.heap0_used.to_string())),
        opt(after.map(|s| s.heap1_used.to_string())),
        opt(after.and_then(|s| s.heap1_loaded).map(|v| v.to_string())),
        opt(after.and_then(|s| s.heap1_ended).map(|v| v.to_string())),
        opt(after.map(|s| s.ddma_in_use.to_string())),
    )
}

fn phase_json(runs: &[SubkernelRun]) -> Json {
    let col = |f: fn(&SubkernelRun) -> Duration| spread_json(Spread::of(&runs.iter().map(f).collect::<Vec<_>>()));
    Json::obj()
        .with("upload", col(|r| r.upload))
        .with("load", col(|r| r.load))
        .with("run", col(|r| r.run))
        .with("finish", col(|r| r.finish))
        .with("total", col(|r| r.time))
}

fn phase_line(name: &str, runs: &[SubkernelRun]) -> String {
    let mean = |f: fn(&SubkernelRun) -> Duration| {
        let s = Spread::of(&runs.iter().map(f).collect::<Vec<_>>()).expect("at least one run");
        format!("{:.1} ({:.1}..{:.1})", s.mean_us / 1e3, s.min_us / 1e3, s.max_us / 1e3)
    };
    format!(
        "scenario: {name}: upload {} ms, load {} ms, run {} ms, finish {} ms (mean (min..max))",
        mean(|r| r.upload),
        mean(|r| r.load),
        mean(|r| r.run),
        mean(|r| r.finish)
    )
}

/// What scenario checks each subkernel's events against.
fn expected_train(a: &ScenarioArgs) -> Result<Expect, String> {
    if a.learn {
        return Ok(Expect::Learn);
    }
    let pulses = a.pulses.unwrap_or(TRAIN.pulses);
    let period = a.period.unwrap_or(TRAIN.period);
    let width = a.width.unwrap_or(if a.period.is_some() { period / 2 } else { TRAIN.width });
    if pulses == 0 {
        return Err("--pulses must be at least 1".into());
    }
    if width <= 0 || (pulses > 1 && width >= period) {
        return Err(format!("--width {width} must be positive and shorter than --period {period}"));
    }
    let channel = a.channel.unwrap_or(((TRAIN.target >> 8) & 0xFFFF) as u16);
    Ok(Expect::Train(satman_systest::qemu::bench::PulseTrain::new(experiment::DEST, channel, pulses, period, width)))
}

fn train_human(t: &satman_systest::qemu::bench::PulseTrain) -> String {
    format!("{} pulse(s) on channel {}, period {} mu, width {} mu", t.pulses, (t.target >> 8) & 0xFFFF, t.period, t.width)
}

fn train_json(t: &satman_systest::qemu::bench::PulseTrain) -> Json {
    Json::obj().with("pulses", t.pulses).with("channel", (t.target >> 8) & 0xFFFF).with("period_mu", t.period).with("width_mu", t.width)
}

fn scenario(target: &mut dyn Target, a: &ScenarioArgs, out: &Out, timeout: Duration) -> Result<Json, Failed> {
    let kernels = target.kernels(a.kernels.as_deref(), a.a.as_deref(), a.b.as_deref()).map_err(|e| (e, Json::Null))?;
    let b = target.bench();
    let mut j = Json::obj()
        .with("runs_requested", a.runs)
        .with("kernels", vec![kernels.a_name.clone(), kernels.b_name.clone()])
        .with("image_bytes", vec![kernels.a.len(), kernels.b.len()]);
    if a.runs == 0 {
        return Err(("--runs must be at least 1".into(), j));
    }
    let expect = expected_train(a).map_err(|e| (e, j.clone()))?;
    b.init_link(experiment::DEST).map_err(|e| (format!("link up: {e}"), j.clone()))?;
    println!(
        "scenario: A = {} ({} bytes, id {}), B = {} ({} bytes, id {}), {} submission(s), images uploaded {}",
        kernels.a_name,
        kernels.a.len(),
        experiment::A,
        kernels.b_name,
        kernels.b.len(),
        experiment::B,
        a.runs,
        if a.upload_once { "once" } else { "at every submission" }
    );
    let mut counter = match b.observe().stats() {
        Some(Ok(s)) => Some(CounterEstimate::from_stats(&s)),
        Some(Err(e)) => return Err((format!("STATS: {e}"), j)),
        None => None,
    };
    // The rows print each run's lead; the window is the tests' check.
    let mut opts = Options { upload: !a.upload_once, timeout, lead_window: None, expect: [expect; 2] };
    match expect {
        Expect::Train(t) => println!("scenario: expecting from each: {}", train_human(&t)),
        Expect::Learn => println!("scenario: learning each one's pulse train from run 1"),
    }
    if a.upload_once {
        let (ua, ub) = kernels.upload(b).map_err(|e| (e, j.clone()))?;
        println!("scenario: uploaded in {:.1} ms + {:.1} ms", ua.as_secs_f64() * 1e3, ub.as_secs_f64() * 1e3);
    }
    let per_run_lines = !a.quiet;
    let mut progress = Progress::new("scenario", a.runs, !out.json && !per_run_lines);
    if per_run_lines {
        println!("{RUN_HEADER}");
    }
    // The baseline is the satellite after the first submission: by then
    // everything that lives as long as the firmware (the stored images,
    // the buffers that grow once) is allocated.
    let mut baseline: Option<Stats> = None;
    let mut runs: Vec<ExperimentRun> = Vec::with_capacity(a.runs);
    let mut per_run = Vec::new();
    for i in 0..a.runs {
        let r = match experiment::run(b, &kernels, &opts, &mut counter, baseline.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                progress.finish();
                j.set("runs", runs.len()).set("per_run", Json::Arr(per_run));
                if let Some(base) = &baseline {
                    j.set("baseline", stats_json(base));
                }
                return Err((format!("run {} of {}: {e}", i + 1, a.runs), j));
            }
        };
        if per_run_lines {
            println!("{}", run_row(i + 1, "A", &r.a));
            println!("{}", run_row(i + 1, "B", &r.b));
        }
        per_run.push(Json::obj().with("run", i + 1).with("a", sub_json(&r.a)).with("b", sub_json(&r.b)));
        if baseline.is_none() {
            baseline = r.after;
        }
        if i == 0 && expect == Expect::Learn {
            // Later runs must emit what run 1 did.
            for (k, (name, learned)) in [("A", r.a.train), ("B", r.b.train)].into_iter().enumerate() {
                if let Some(t) = learned {
                    println!("scenario: learned {name}: {}", train_human(&t));
                    opts.expect[k] = Expect::Train(t);
                }
            }
        }
        runs.push(r);
        progress.tick(i + 1);
    }
    progress.finish();
    let ra: Vec<SubkernelRun> = runs.iter().map(|r| r.a).collect();
    let rb: Vec<SubkernelRun> = runs.iter().map(|r| r.b).collect();
    j.set("runs", runs.len()).set("a", phase_json(&ra)).set("b", phase_json(&rb));
    println!("{}", phase_line(&format!("A ({})", kernels.a_name), &ra));
    println!("{}", phase_line(&format!("B ({})", kernels.b_name), &rb));
    let checked = runs.iter().all(|r| r.a.summary.is_some() && r.b.summary.is_some());
    j.set("events_checked", checked);
    if checked {
        let (ta, tb) = (runs[0].a.train.expect("checked"), runs[0].b.train.expect("checked"));
        println!("scenario: every run: A from the kernel CPU: {}; B from the DMA engine: {}", train_human(&ta), train_human(&tb));
        j.set("expect", Json::obj().with("a", train_json(&ta)).with("b", train_json(&tb)).with("learned", expect == Expect::Learn));
        let leads: Vec<i64> = runs.iter().flat_map(|r| [r.a.lead(), r.b.lead()]).flatten().collect();
        if let (Some(lo), Some(hi)) = (leads.iter().min(), leads.iter().max()) {
            println!("scenario: first edge {lo}..{hi} mu after the counter at the run request (break_realtime: {})", experiment::BREAK_REALTIME_MU);
        }
    } else {
        println!("scenario: this link does not report RTIO events; not checked");
    }
    match (&baseline, runs.last().and_then(|r| r.after)) {
        (Some(base), Some(last)) => {
            println!(
                "scenario: after every teardown: kernel idle, DDMA store empty; from run 2 on heap0_used ({} bytes), heap1_used ({} bytes) and the DDMA arena at the baseline of run 1",
                base.heap0_used, base.heap1_used
            );
            let (a, b) = (runs[runs.len() - 1].a.after, runs[runs.len() - 1].b.after);
            if let (Some(a), Some(b)) = (a.and_then(|s| s.heap1_loaded), b.and_then(|s| s.heap1_loaded)) {
                println!(
                    "scenario: every run freed all it allocated on CPU1: heap1 at its end = after its load (A {a} bytes, B {b} bytes: the image and the loader's state)"
                );
            }
            j.set("baseline", stats_json(base)).set("last", stats_json(&last));
        }
        _ => println!("scenario: this link has no STATS; heap and DDMA store not checked"),
    }
    j.set("per_run", Json::Arr(per_run));
    Ok(j)
}
