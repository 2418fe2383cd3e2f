//! `satctl <link> measure`: the figures of issue #4.
//!
//! - Upload: a ~4 KiB kernel (`float_delay.elf`) uploaded N times in
//!   SubkernelAddDataRequest chunks; wall time and bytes/s.
//! - Load + relocation: for `ttl_pulses`, `dma_record_playback` and
//!   `float_delay`, R cycles of upload, reset, preload, run, await; the
//!   firmware's own figure comes from its log line (read back with
//!   CoreMgmtGetLogRequest) `kernel loaded: N byte image, X µs (T timer
//!   ticks)`. With `--icount 0` QEMU's virtual clock is its instruction
//!   counter (1 ns per instruction) and the 100 MHz global timer ticks every
//!   10 instructions: T × 10 instructions.
//! - Call-to-start: the log line `kernel start: X µs after CPU0 sent Start
//!   (L timer ticks, C of them on CPU1 after the wake-up)`.
//! - No reload: each preload + run cycle must log exactly one `kernel
//!   loaded` line.
//! - Recording: the `record_cost` kernel times blocks of `rtio_output`
//!   calls (through the PLT, into an open DMA recording) against the same
//!   loop without them and against a loop of a known instruction count,
//!   and logs `record_cost: …`; with `--icount 0` that gives `rtio_output`'s
//!   own ARM instructions per event (see `kernels/examples/record_cost.rs`:
//!   the calibration removes CPU0's share of QEMU's round-robin time).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use satman_systest::master::Outcome;
use satman_systest::qemu::bench::Spread;
use satman_systest::qemu::experiment::DEST;
use satman_systest::qemu::Bench;

use super::commands::{round1, spread_json, Failed, Out};
use super::json::Json;
use super::target::Target;
use super::MeasureArgs;

/// The global timer's period in ns in QEMU (100 MHz, docs and
/// `platform::board`).
pub const TICK_NS: f64 = 10.0;
/// The Cortex-A9 of the Kasli-SoC.
pub const A9_MHZ: f64 = 667.0;
/// Subkernel ids used here (not the experiment's).
const UPLOAD_ID: u32 = 10;
const LOAD_ID: u32 = 11;

/// `kernel loaded: N byte image, X µs (T timer ticks)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub bytes: u64,
    pub ticks: u64,
}

/// `kernel start: X µs after CPU0 sent Start (L timer ticks, C of them on CPU1 after the wake-up)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub ticks: u64,
    pub cpu1_ticks: u64,
}

fn number_before(s: &str, suffix: &str) -> Option<u64> {
    let end = s.find(suffix)?;
    let head = s[..end].trim_end();
    let start = head.rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    head[start..].parse().ok()
}

pub fn parse_loaded(line: &str) -> Option<Loaded> {
    let rest = &line[line.find("kernel loaded:")? + "kernel loaded:".len()..];
    Some(Loaded { bytes: number_before(rest, "byte image")?, ticks: number_before(rest, "timer ticks")? })
}

pub fn parse_started(line: &str) -> Option<Started> {
    let rest = &line[line.find("kernel start:")? + "kernel start:".len()..];
    Some(Started { ticks: number_before(rest, "timer ticks")?, cpu1_ticks: number_before(rest, "of them on CPU1")? })
}

/// `record_cost: E events per block, I instructions per calibration block;
/// us min/median: calibration C C', baseline B B', record R R'`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordCost {
    pub events: u64,
    pub calib_instructions: u64,
    /// (min, median) µs per block.
    pub calib_us: (u64, u64),
    pub baseline_us: (u64, u64),
    pub record_us: (u64, u64),
}

impl RecordCost {
    /// Virtual ns per CPU1 instruction (1 without the other CPU's share).
    pub fn ns_per_instruction(&self) -> f64 {
        self.calib_us.0 as f64 * 1e3 / self.calib_instructions as f64
    }

    /// `rtio_output`'s own virtual ns per event (record − baseline).
    pub fn ns_per_event(&self) -> f64 {
        (self.record_us.0 as f64 - self.baseline_us.0 as f64) * 1e3 / self.events as f64
    }

    /// `rtio_output`'s own CPU1 instructions per event, with `-icount
    /// shift=0` (1 ns of virtual time per instruction of either CPU).
    pub fn instructions_per_event(&self) -> f64 {
        self.ns_per_event() / self.ns_per_instruction()
    }

    /// The whole recording loop (rtio_output + delay_mu) per event.
    pub fn loop_instructions_per_event(&self) -> f64 {
        self.record_us.0 as f64 * 1e3 / self.events as f64 / self.ns_per_instruction()
    }
}

pub fn parse_record_cost(line: &str) -> Option<RecordCost> {
    let rest = &line[line.find("record_cost:")? + "record_cost:".len()..];
    let n: Vec<u64> = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .filter_map(|w| w.parse().ok())
        .collect();
    let &[events, calib_instructions, c0, c1, b0, b1, r0, r1] = n.as_slice() else { return None };
    (events > 0 && calib_instructions > 0 && c0 > 0).then_some(RecordCost {
        events,
        calib_instructions,
        calib_us: (c0, c1),
        baseline_us: (b0, b1),
        record_us: (r0, r1),
    })
}

/// Runs `record_cost.elf` once and returns its log line's figures.
fn record_cost(b: &mut dyn Bench, image: &[u8], timeout: Duration) -> Result<RecordCost, String> {
    b.get_log(DEST, true).map_err(|e| format!("clearing the log: {e}"))?;
    b.upload_subkernel(DEST, LOAD_ID, image).map_err(|e| format!("upload: {e}"))?;
    b.reset().map_err(|e| format!("reset: {e}"))?;
    b.load_run(DEST, LOAD_ID, true, 0).map_err(|e| format!("run: {e}"))?;
    match b.await_finish(LOAD_ID, timeout).map_err(|e| format!("await: {e}"))? {
        Outcome::Finished => {}
        Outcome::Exception(e) => return Err(format!("raised: {e}")),
    }
    b.clear_async();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut text = String::new();
    loop {
        let log = b.get_log(DEST, true).map_err(|e| format!("log: {e}"))?;
        text.push_str(&String::from_utf8_lossy(&log));
        if let Some(c) = text.lines().find_map(parse_record_cost) {
            return Ok(c);
        }
        if Instant::now() >= deadline {
            return Err(format!("no `record_cost:` line in the log:\n{text}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What one preload + run cycle logged.
#[derive(Debug, Clone, Default)]
pub struct CycleLog {
    pub loaded: Vec<Loaded>,
    pub started: Vec<Started>,
}

pub fn parse_log(log: &str) -> CycleLog {
    let mut c = CycleLog::default();
    for l in log.lines() {
        if let Some(x) = parse_loaded(l) {
            c.loaded.push(x);
        }
        if let Some(x) = parse_started(l) {
            c.started.push(x);
        }
    }
    c
}

/// Reads (and clears) the satellite log until it holds a `kernel start`
/// line, or `timeout` passes (CPU1's lines reach the log through CPU0).
fn read_cycle_log(b: &mut dyn Bench, timeout: Duration) -> Result<CycleLog, String> {
    let deadline = Instant::now() + timeout;
    let mut text = String::new();
    loop {
        let log = b.get_log(DEST, true).map_err(|e| format!("log: {e}"))?;
        text.push_str(&String::from_utf8_lossy(&log));
        let c = parse_log(&text);
        if !c.started.is_empty() || Instant::now() >= deadline {
            return Ok(c);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn median(v: &[u64]) -> u64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    s[s.len() / 2]
}

struct KernelFigures {
    name: String,
    bytes: usize,
    load_ticks: Vec<u64>,
    start_ticks: Vec<u64>,
    start_cpu1_ticks: Vec<u64>,
    preload_reply: Vec<Duration>,
    run_reply: Vec<Duration>,
}

fn cycle(b: &mut dyn Bench, image: &[u8], timeout: Duration) -> Result<(CycleLog, Duration, Duration), String> {
    b.get_log(DEST, true).map_err(|e| format!("clearing the log: {e}"))?;
    b.upload_subkernel(DEST, LOAD_ID, image).map_err(|e| format!("upload: {e}"))?;
    b.reset().map_err(|e| format!("reset: {e}"))?;
    let t = Instant::now();
    b.load_run(DEST, LOAD_ID, false, 0).map_err(|e| format!("preload: {e}"))?;
    let preload = t.elapsed();
    // The kernels take their time from the counter (break_realtime).
    let t = Instant::now();
    b.load_run(DEST, LOAD_ID, true, 0).map_err(|e| format!("run: {e}"))?;
    let run = t.elapsed();
    match b.await_finish(LOAD_ID, timeout).map_err(|e| format!("await: {e}"))? {
        Outcome::Finished => {}
        Outcome::Exception(e) => return Err(format!("raised: {e}")),
    }
    b.observe().wait_events(usize::MAX, Duration::from_millis(20));
    b.observe().take_events();
    b.clear_async();
    let log = read_cycle_log(b, Duration::from_secs(2))?;
    Ok((log, preload, run))
}

pub fn measure(target: &mut dyn Target, a: &MeasureArgs, out: &Out, timeout: Duration) -> Result<Json, Failed> {
    let dir: PathBuf = match &a.kernels {
        Some(d) => d.clone(),
        None => satman_systest::qemu::kernels_dir()
            .ok_or_else(|| ("the test kernels were not built (SATMAN_SKIP_FIRMWARE); pass --kernels DIR".to_string(), Json::Null))?,
    };
    let read = |n: &str| std::fs::read(dir.join(format!("{n}.elf"))).map_err(|e| (format!("{n}.elf in {}: {e}", dir.display()), Json::Null));
    let icount = target.icount_shift();
    let b = target.bench();
    let mut j = Json::obj().with("icount_shift", icount.map(|s| s as u64));
    if a.uploads == 0 || a.repeat == 0 {
        return Err(("--uploads and --repeat must be at least 1".into(), j));
    }
    b.init_link(DEST).map_err(|e| (format!("link up: {e}"), j.clone()))?;
    match icount {
        Some(s) => println!("measure: QEMU with -icount shift={s}: 1 instruction = {} ns of virtual time", 1u64 << s),
        None => println!("measure: QEMU without -icount: timer ticks are emulated (≈ wall-clock) time, not instructions"),
    }

    // 1. Upload speed.
    let image = read("float_delay")?;
    let chunks = image.len().div_ceil(libdrtio::MASTER_PAYLOAD_MAX_SIZE);
    let mut times = Vec::with_capacity(a.uploads);
    for i in 0..a.uploads {
        let t = Instant::now();
        b.upload_subkernel(DEST, UPLOAD_ID, &image).map_err(|e| (format!("upload {}: {e}", i + 1), j.clone()))?;
        times.push(t.elapsed());
    }
    let up = Spread::of(&times).expect("uploads");
    let rate = image.len() as f64 / (up.mean_us / 1e6);
    println!(
        "measure: upload of float_delay.elf ({} bytes, {chunks} chunks of ≤ {} bytes), {} times: mean {:.2} ms (min {:.2}, max {:.2}) = {:.0} bytes/s",
        image.len(),
        libdrtio::MASTER_PAYLOAD_MAX_SIZE,
        up.count,
        up.mean_us / 1e3,
        up.min_us / 1e3,
        up.max_us / 1e3,
        rate
    );
    j.set("upload", Json::obj().with("bytes", image.len()).with("chunks", chunks).with("wall", spread_json(Some(up))).with("bytes_per_s", rate.round()));

    // 2. Load + relocation, call-to-start, no reload.
    let mut figures = Vec::new();
    for name in ["ttl_pulses", "dma_record_playback", "float_delay"] {
        let image = read(name)?;
        let mut f = KernelFigures {
            name: name.to_string(),
            bytes: image.len(),
            load_ticks: Vec::new(),
            start_ticks: Vec::new(),
            start_cpu1_ticks: Vec::new(),
            preload_reply: Vec::new(),
            run_reply: Vec::new(),
        };
        for r in 0..a.repeat {
            let (log, preload, run) = cycle(b, &image, timeout).map_err(|e| (format!("{name}, cycle {}: {e}", r + 1), j.clone()))?;
            if log.loaded.len() != 1 || log.started.len() != 1 {
                return Err((
                    format!(
                        "{name}, cycle {}: preload + run logged {} `kernel loaded` and {} `kernel start` line(s), expected one each",
                        r + 1,
                        log.loaded.len(),
                        log.started.len()
                    ),
                    j,
                ));
            }
            if log.loaded[0].bytes != image.len() as u64 {
                return Err((format!("{name}: the firmware loaded a {} byte image, we uploaded {}", log.loaded[0].bytes, image.len()), j));
            }
            f.load_ticks.push(log.loaded[0].ticks);
            f.start_ticks.push(log.started[0].ticks);
            f.start_cpu1_ticks.push(log.started[0].cpu1_ticks);
            f.preload_reply.push(preload);
            f.run_reply.push(run);
        }
        figures.push(f);
    }

    let per_tick = icount.map(|s| TICK_NS / (1u64 << s) as f64);
    println!("measure: each preload + run cycle logged exactly one `kernel loaded` line: the run did not reload");
    println!("measure: load + relocation (firmware's `kernel loaded` line; median of {} cycles):", a.repeat);
    let mut kj = Vec::new();
    for f in &figures {
        let t = median(&f.load_ticks);
        let (lo, hi) = (f.load_ticks.iter().min().unwrap(), f.load_ticks.iter().max().unwrap());
        let pre = Spread::of(&f.preload_reply).expect("cycles");
        let run = Spread::of(&f.run_reply).expect("cycles");
        let mut k = Json::obj()
            .with("name", f.name.as_str())
            .with("bytes", f.bytes)
            .with("load_ticks", f.load_ticks.clone())
            .with("load_ticks_median", t)
            .with("preload_reply_ms", round1(pre.mean_us / 1e2) / 10.0)
            .with("run_reply_ms", round1(run.mean_us / 1e2) / 10.0)
            .with("start_ticks", f.start_ticks.clone())
            .with("start_cpu1_ticks", f.start_cpu1_ticks.clone());
        match per_tick {
            Some(p) => {
                let instr = t as f64 * p;
                println!(
                    "  {:<20} {:>5} bytes: {t} ticks ({lo}..{hi}) = {:.0} instructions ≈ {:.0} µs on a {A9_MHZ:.0} MHz Cortex-A9 at ~1 instruction/cycle; preload reply {:.2} ms, run reply {:.2} ms (wall)",
                    f.name,
                    f.bytes,
                    instr,
                    instr / A9_MHZ,
                    pre.mean_us / 1e3,
                    run.mean_us / 1e3
                );
                k.set("instructions", instr.round()).set("a9_667mhz_us", round1(instr / A9_MHZ));
            }
            None => {
                println!(
                    "  {:<20} {:>5} bytes: {t} ticks ({lo}..{hi}) = {:.1} µs of emulated time; preload reply {:.2} ms, run reply {:.2} ms (wall)",
                    f.name,
                    f.bytes,
                    t as f64 * TICK_NS / 1e3,
                    pre.mean_us / 1e3,
                    run.mean_us / 1e3
                );
                k.set("emulated_us", round1(t as f64 * TICK_NS / 1e3));
            }
        }
        kj.push(k);
    }
    let all_start: Vec<u64> = figures.iter().flat_map(|f| f.start_ticks.iter().copied()).collect();
    let all_cpu1: Vec<u64> = figures.iter().flat_map(|f| f.start_cpu1_ticks.iter().copied()).collect();
    let (sm, cm) = (median(&all_start), median(&all_cpu1));
    let (smin, smax) = (all_start.iter().min().unwrap(), all_start.iter().max().unwrap());
    let (cmin, cmax) = (all_cpu1.iter().min().unwrap(), all_cpu1.iter().max().unwrap());
    println!("measure: call-to-start of a preloaded subkernel (firmware's `kernel start` line; {} cycles):", all_start.len());
    match per_tick {
        Some(p) => {
            println!(
                "  CPU0 sent Start → kernel entry: median {sm} ticks ({smin}..{smax}) = {:.0} instructions of virtual time; \
                 with -icount QEMU runs the CPUs round-robin on one thread, so this is mostly CPU0's time slice until CPU1 gets to run, not a latency of the firmware",
                sm as f64 * p
            );
            println!(
                "  CPU1 side (Start dequeued → kernel entry): median {cm} ticks ({cmin}..{cmax}) = {:.0} instructions ≈ {:.2} µs on a {A9_MHZ:.0} MHz Cortex-A9",
                cm as f64 * p,
                cm as f64 * p / A9_MHZ
            );
        }
        None => {
            println!(
                "  CPU0 sent Start → kernel entry: median {:.1} µs ({:.1}..{:.1}); of it on CPU1 after the wake-up: median {:.1} µs ({:.1}..{:.1}) (emulated ≈ wall time, both CPUs in parallel threads)",
                sm as f64 * TICK_NS / 1e3,
                *smin as f64 * TICK_NS / 1e3,
                *smax as f64 * TICK_NS / 1e3,
                cm as f64 * TICK_NS / 1e3,
                *cmin as f64 * TICK_NS / 1e3,
                *cmax as f64 * TICK_NS / 1e3
            );
        }
    }
    j.set("kernels", Json::Arr(kj))
        .set(
            "start",
            Json::obj()
                .with("ticks_median", sm)
                .with("cpu1_ticks_median", cm)
                .with("instructions_median", per_tick.map(|p| (sm as f64 * p).round()))
                .with("cpu1_instructions_median", per_tick.map(|p| (cm as f64 * p).round())),
        )
        .set("reloads", 0u64);

    // 3. Recording cost at the kernel's entry.
    let rc = record_cost(b, &read("record_cost")?, timeout).map_err(|e| (format!("record_cost: {e}"), j.clone()))?;
    println!("measure: {rc:?}");
    let mut rj = Json::obj()
        .with("events_per_block", rc.events)
        .with("calibration_us", vec![rc.calib_us.0, rc.calib_us.1])
        .with("baseline_us", vec![rc.baseline_us.0, rc.baseline_us.1])
        .with("record_us", vec![rc.record_us.0, rc.record_us.1]);
    match icount {
        Some(0) => {
            // One CPU alone gives 1 ns per instruction, two round-robin ~2.
            if !(0.9..=4.0).contains(&rc.ns_per_instruction()) {
                return Err((format!("record_cost: implausible calibration, {rc:?}"), j));
            }
            let (per, whole) = (rc.instructions_per_event(), rc.loop_instructions_per_event());
            println!(
                "measure: recording (record_cost.elf, rtio_output through the PLT into an open recording, blocks of {} events, minimum of 16): \
                 {per:.1} ARM instructions per event for rtio_output, call included ({whole:.1} for the whole loop with delay_mu); \
                 CPU1 got 1 instruction per {:.2} ns of virtual time (the rest is CPU0's round-robin share)",
                rc.events,
                rc.ns_per_instruction()
            );
            rj.set("instructions_per_event", round1(per)).set("loop_instructions_per_event", round1(whole)).set("ns_per_cpu1_instruction", (rc.ns_per_instruction() * 100.0).round() / 100.0);
        }
        _ => {
            println!(
                "measure: recording (record_cost.elf): {:.3} µs of emulated time per event for rtio_output (no -icount 0: not instructions)",
                rc.ns_per_event() / 1e3
            );
            rj.set("emulated_ns_per_event", round1(rc.ns_per_event()));
        }
    }
    j.set("record", rj);
    out.status("measure: done");
    Ok(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_firmware_lines() {
        let l = "[1.234567] C1 INFO satman::kernel_cpu: kernel loaded: 2476 byte image, 123 µs (12345 timer ticks)";
        assert_eq!(parse_loaded(l), Some(Loaded { bytes: 2476, ticks: 12345 }));
        let s = "[1.3] C1 INFO satman::kernel_cpu: kernel start: 12 µs after CPU0 sent Start (1234 timer ticks, 56 of them on CPU1 after the wake-up)";
        assert_eq!(parse_started(s), Some(Started { ticks: 1234, cpu1_ticks: 56 }));
        let c = parse_log(&format!("{l}\nother\n{s}\n"));
        assert_eq!((c.loaded.len(), c.started.len()), (1, 1));
        assert_eq!(parse_loaded("kernel start: x"), None);
    }

    #[test]
    fn parses_the_record_cost_line() {
        let l = "[2.5] C1 INFO kernel: record_cost: 8000 events per block, 100000 instructions per calibration block; \
                 us min/median: calibration 200 201, baseline 400 402, record 800 810";
        let c = parse_record_cost(l).unwrap();
        assert_eq!((c.events, c.calib_instructions, c.calib_us, c.baseline_us, c.record_us), (8000, 100000, (200, 201), (400, 402), (800, 810)));
        // 2 ns of virtual time per CPU1 instruction; 400 µs over 8000 events.
        assert_eq!(c.ns_per_instruction(), 2.0);
        assert_eq!(c.instructions_per_event(), 25.0);
        assert_eq!(c.loop_instructions_per_event(), 50.0);
        assert_eq!(parse_record_cost("record_cost: 1 2 3"), None);
    }
}
