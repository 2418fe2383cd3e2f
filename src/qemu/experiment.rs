//! The user's experiment with the real test kernels (kernels/README.md),
//! as the master runs it: subkernel A (`ttl_pulses`: 100 TTL pulses from
//! the kernel CPU) and subkernel B (`dma_record_playback`: the same pulses
//! recorded as a DDMA trace and played back), each preloaded, run and
//! awaited, with their RTIO events and the satellite's heap, DDMA arena and
//! kernel state checked after every run.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::master::Outcome;

use super::bench::{check_pulses_from, summarize, Bench, CounterEstimate, PulseSummary, PulseTrain};
use super::proto::{KernelState, Source, Stats};

pub const DEST: u8 = 1;
/// Subkernel ids (what the ARTIQ compiler would assign).
pub const A: u32 = 1;
pub const B: u32 = 2;
/// What both kernels emit: 100 × { 1, delay 500 000, 0, delay 500 000 } on
/// `ttl15` of destination 1.
pub const TRAIN: PulseTrain = PulseTrain { target: 0x0100_0F00, pulses: 100, period: 1_000_000, width: 500_000 };

/// The two kernel images.
pub struct Kernels {
    pub a: Vec<u8>,
    pub b: Vec<u8>,
}

impl Kernels {
    /// Reads `ttl_pulses.elf` and `dma_record_playback.elf` from `dir`.
    pub fn load(dir: &Path) -> Result<Kernels, String> {
        let read = |n: &str| {
            let p = dir.join(format!("{n}.elf"));
            std::fs::read(&p).map_err(|e| format!("{}: {e} (kernels/build.sh builds it)", p.display()))
        };
        Ok(Kernels { a: read("ttl_pulses")?, b: read("dma_record_playback")? })
    }

    /// The simulation's stand-ins (the fake firmware's kernel CPU runs
    /// them by name: `standard`, `ddma`).
    pub fn sim() -> Kernels {
        Kernels { a: crate::sim::image("standard", crate::scenario::IMAGE_SIZE), b: crate::sim::image("ddma", crate::scenario::IMAGE_SIZE) }
    }

    /// Uploads both (SubkernelAddDataRequest chunks); returns the time taken.
    pub fn upload(&self, b: &mut dyn Bench) -> Result<Duration, String> {
        let t = Instant::now();
        b.upload_subkernel(DEST, A, &self.a).map_err(|e| format!("upload A (ttl_pulses): {e}"))?;
        b.upload_subkernel(DEST, B, &self.b).map_err(|e| format!("upload B (dma_record_playback): {e}"))?;
        Ok(t.elapsed())
    }
}

/// One subkernel's run.
#[derive(Debug, Clone, Copy)]
pub struct SubkernelRun {
    /// Reset + preload + run + `SubkernelFinished`.
    pub time: Duration,
    pub summary: Option<PulseSummary>,
}

/// One submission of the experiment.
#[derive(Debug, Clone, Copy)]
pub struct ExperimentRun {
    pub a: SubkernelRun,
    pub b: SubkernelRun,
    pub after: Option<Stats>,
}

fn run_one(b: &mut dyn Bench, id: u32, source: Source, counter: &Option<CounterEstimate>, timeout: Duration) -> Result<SubkernelRun, String> {
    let name = if id == A { "A (ttl_pulses)" } else { "B (dma_record_playback)" };
    if let Some(ev) = b.observe().take_events() {
        if !ev.is_empty() {
            return Err(format!("{} stray RTIO events before subkernel {name}", ev.len()));
        }
    }
    let t = Instant::now();
    b.reset().map_err(|e| format!("reset: {e}"))?;
    b.load_run(DEST, id, false, 0).map_err(|e| format!("preload {name}: {e}"))?;
    // The kernels take their own time from the counter (break_realtime).
    let timestamp = counter.map_or(0, |c| c.now()) + 125_000;
    b.load_run(DEST, id, true, timestamp as u64).map_err(|e| format!("run {name}: {e}"))?;
    match b.await_finish(id, timeout).map_err(|e| format!("await {name}: {e}"))? {
        Outcome::Finished => {}
        Outcome::Exception(e) => return Err(format!("subkernel {name} raised: {e:?}")),
    }
    let time = t.elapsed();
    let summary = match b.observe().wait_events(2 * TRAIN.pulses, timeout) {
        None => None,
        Some(_) => {
            let ev = b.observe().take_events().unwrap_or_default();
            let offset = ev.first().map_or(0, |e| e.timestamp);
            check_pulses_from(&ev, &TRAIN, offset, source).map_err(|e| format!("subkernel {name}'s RTIO events: {e}"))?;
            Some(summarize(&ev))
        }
    };
    Ok(SubkernelRun { time, summary })
}

/// Runs A, then B, and checks the satellite is back at `baseline`
/// (heap0, DDMA arena and traces, kernel state idle). Updates `counter`.
pub fn run(b: &mut dyn Bench, counter: &mut Option<CounterEstimate>, baseline: Option<&Stats>, timeout: Duration) -> Result<ExperimentRun, String> {
    let a = run_one(b, A, Source::Kernel, counter, timeout)?;
    let bb = run_one(b, B, Source::Dma, counter, timeout)?;
    b.clear_async();
    let after = match b.observe().stats() {
        None => None,
        Some(s) => {
            let s = s.map_err(|e| format!("STATS: {e}"))?;
            *counter = Some(CounterEstimate::from_stats(&s));
            if s.kernel_state != KernelState::Idle {
                return Err(format!("kernel state {} after both subkernels finished", s.kernel_state));
            }
            if let Some(base) = baseline {
                if let Some(l) = super::bench::leaks(base, &s) {
                    return Err(format!("after the experiment: {l}"));
                }
            }
            Some(s)
        }
    };
    Ok(ExperimentRun { a, b: bb, after })
}
