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
}
