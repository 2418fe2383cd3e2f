//! The user's experiment with the real test kernels (kernels/README.md),
//! as the master runs it at every submission: upload subkernel A
//! (`ttl_pulses`: 100 TTL pulses from the kernel CPU) and subkernel B
//! (`dma_record_playback`: the same pulses recorded as a DDMA trace and
//! played back), then for each: `core.reset()`, preload, run, await; with
//! their RTIO events, and the satellite's heaps, DDMA arena and kernel
//! state checked after every teardown.
//!
//! Each subkernel's events are checked against an expected pulse train
//! ([`Expect`]): [`TRAIN`] for the test kernels, any other train for other
//! kernels, or the train the kernel emitted in its first run
//! ([`learn_train`]), checked in every later run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::master::Outcome;

use super::bench::{check_pulses_from, summarize, Bench, CounterEstimate, PulseSummary, PulseTrain};
use super::proto::{Event, KernelState, Source, Stats};

pub const DEST: u8 = 1;
/// Subkernel ids (what the ARTIQ compiler would assign).
pub const A: u32 = 1;
pub const B: u32 = 2;
/// What both kernels emit: 100 × { 1, delay 500 000, 0, delay 500 000 } on
/// `ttl15` of destination 1.
pub const TRAIN: PulseTrain = PulseTrain { target: 0x0100_0F00, pulses: 100, period: 1_000_000, width: 500_000 };
/// `break_realtime()`'s margin: the kernels start this far ahead of the counter.
pub const BREAK_REALTIME_MU: i64 = 125_000;

/// The two kernel images.
#[derive(Debug, Clone)]
pub struct Kernels {
    pub a: Vec<u8>,
    pub b: Vec<u8>,
    /// What to call them in messages (file stems).
    pub a_name: String,
    pub b_name: String,
}

fn read_kernel(p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e} (kernels/build.sh builds the test kernels)", p.display()))
}

fn stem(p: &Path) -> String {
    p.file_stem().map_or_else(|| p.display().to_string(), |s| s.to_string_lossy().into_owned())
}

impl Kernels {
    /// Reads `ttl_pulses.elf` and `dma_record_playback.elf` from `dir`.
    pub fn load(dir: &Path) -> Result<Kernels, String> {
        Kernels::from_files(&dir.join("ttl_pulses.elf"), &dir.join("dma_record_playback.elf"))
    }

    /// Reads A and B from these files.
    pub fn from_files(a: &Path, b: &Path) -> Result<Kernels, String> {
        Ok(Kernels { a: read_kernel(a)?, b: read_kernel(b)?, a_name: stem(a), b_name: stem(b) })
    }

    /// The kernels of `dir` (or of the build script), with either one
    /// replaced by a file.
    pub fn choose(dir: Option<&Path>, a: Option<&Path>, b: Option<&Path>) -> Result<Kernels, String> {
        let dir = || -> Result<PathBuf, String> {
            match dir {
                Some(d) => Ok(d.to_path_buf()),
                None => super::kernels_dir().ok_or_else(|| "the test kernels were not built (SATMAN_SKIP_FIRMWARE); pass --kernels DIR, or --a and --b".to_string()),
            }
        };
        let a = match a {
            Some(p) => p.to_path_buf(),
            None => dir()?.join("ttl_pulses.elf"),
        };
        let b = match b {
            Some(p) => p.to_path_buf(),
            None => dir()?.join("dma_record_playback.elf"),
        };
        Kernels::from_files(&a, &b)
    }

    /// The simulation's stand-ins (the fake firmware's kernel CPU runs
    /// them by name: `standard`, `ddma`).
    pub fn sim() -> Kernels {
        Kernels {
            a: crate::sim::image("standard", crate::scenario::IMAGE_SIZE),
            b: crate::sim::image("ddma", crate::scenario::IMAGE_SIZE),
            a_name: "standard (simulated)".into(),
            b_name: "ddma (simulated)".into(),
        }
    }

    /// Uploads both (SubkernelAddDataRequest chunks); returns the time
    /// each took.
    pub fn upload(&self, b: &mut dyn Bench) -> Result<(Duration, Duration), String> {
        let t = Instant::now();
        b.upload_subkernel(DEST, A, &self.a).map_err(|e| format!("upload A ({}): {e}", self.a_name))?;
        let ta = t.elapsed();
        let t = Instant::now();
        b.upload_subkernel(DEST, B, &self.b).map_err(|e| format!("upload B ({}): {e}", self.b_name))?;
        Ok((ta, t.elapsed()))
    }

    fn name(&self, id: u32) -> String {
        if id == A {
            format!("A ({})", self.a_name)
        } else {
            format!("B ({})", self.b_name)
        }
    }
}

/// One subkernel's part of a submission.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubkernelRun {
    /// SubkernelAddDataRequest chunks (zero if not uploaded this run).
    pub upload: Duration,
    /// `ResetRequest` → `ResetAck`.
    pub reset: Duration,
    /// Preload request → reply (the satellite loads and relocates).
    pub load: Duration,
    /// Run request → reply.
    pub run: Duration,
    /// Run reply → `SubkernelFinished`.
    pub finish: Duration,
    /// Reset + preload + run + finish.
    pub time: Duration,
    /// The counter estimate when the run was requested (mu), if known.
    pub started_at: Option<i64>,
    /// Its RTIO events, if the link reports them.
    pub summary: Option<PulseSummary>,
    /// `STATS` after the teardown, if the link has it.
    pub after: Option<Stats>,
    /// The train its events were checked against (learned from them with
    /// [`Expect::Learn`]), if the link reports events.
    pub train: Option<PulseTrain>,
}

impl SubkernelRun {
    /// First rising edge − the counter when the run was requested (mu):
    /// `break_realtime`'s 125 000 plus the time the kernel took to get there.
    pub fn lead(&self) -> Option<i64> {
        Some(self.summary?.first_timestamp? - self.started_at?)
    }
}

/// One submission of the experiment.
#[derive(Debug, Clone, Copy)]
pub struct ExperimentRun {
    pub a: SubkernelRun,
    pub b: SubkernelRun,
    /// `STATS` at the end (= `b.after`).
    pub after: Option<Stats>,
}

/// What a subkernel's RTIO events must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Exactly this train, from the subkernel's first edge on.
    Train(PulseTrain),
    /// Whatever regular train the kernel emits (see [`learn_train`]); the
    /// run reports it in [`SubkernelRun::train`].
    Learn,
}

/// How to run a submission.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Upload both images first, as the master does at each submission.
    pub upload: bool,
    /// For `SubkernelFinished` and for the RTIO events.
    pub timeout: Duration,
    /// Where each run's first edge must land, relative to the timestamp
    /// the run requested (µs; see [`LEAD_WINDOW_MU`]); `None` skips the
    /// check (e.g. under `-icount`, where the counter estimate is off).
    pub lead_window: Option<(i64, i64)>,
    /// Subkernel A's and B's events.
    pub expect: [Expect; 2],
}

/// First edge − requested timestamp, in the QEMU board's counter units
/// (µs). The requested timestamp is the host's estimate of the counter
/// plus `break_realtime`'s margin; the kernels take their time from the
/// counter when they start. So the lead is the kernel's start latency
/// (for the DMA kernel, plus its recording), minus the estimate's error:
/// stated here as −50 ms (the estimate runs ahead of the guest clock by at
/// most the STATS round trip) to +2 s (a loaded CI machine).
pub const LEAD_WINDOW_MU: (i64, i64) = (-50_000, 2_000_000);

impl Options {
    pub fn new(timeout: Duration) -> Options {
        Options { upload: true, timeout, lead_window: Some(LEAD_WINDOW_MU), expect: [Expect::Train(TRAIN); 2] }
    }
}

/// The pulse train `events` are: all on one target, alternating high
/// (data ≠ 0) and low from a rising edge, each pulse as wide and each
/// period as long as the first. One pulse has no period: it is given as
/// its width (the check does not use it).
pub fn learn_train(events: &[Event]) -> Result<PulseTrain, String> {
    let first = events.first().ok_or("no RTIO events to learn a pulse train from")?;
    if events.len() % 2 != 0 {
        return Err(format!("{} events: a pulse train has an even number (high, low)", events.len()));
    }
    if let Some(e) = events.iter().find(|e| e.target != first.target) {
        return Err(format!("events on two targets ({:#010x} and {:#010x})", first.target, e.target));
    }
    if let Some(i) = events.iter().enumerate().position(|(i, e)| (e.data != 0) != (i % 2 == 0)) {
        return Err(format!("event {i} is not the {} edge of a pulse", if i % 2 == 0 { "rising" } else { "falling" }));
    }
    let width = events[1].timestamp - events[0].timestamp;
    let period = events.get(2).map_or(width, |e| e.timestamp - events[0].timestamp);
    if width <= 0 || (events.len() > 2 && period <= width) {
        return Err(format!("a pulse of {width} mu every {period} mu is not a train"));
    }
    let train = PulseTrain { target: first.target, pulses: events.len() / 2, period, width };
    check_pulses_from(events, &train, first.timestamp, first.source).map_err(|e| format!("not a regular train (first pulse {width} mu wide, period {period} mu): {e}"))?;
    Ok(train)
}

/// Waits until RTIO events stop arriving (none new for `quiet`) or
/// `timeout` passes; returns how many are queued, `None` if the link does
/// not report events. (The QEMU link streams a kernel's events behind its
/// `SubkernelFinished`: they are not all there when it ends.)
pub fn settle_events(b: &mut dyn Bench, quiet: Duration, timeout: Duration) -> Option<usize> {
    let deadline = Instant::now() + timeout;
    let mut n = b.observe().wait_events(1, Duration::ZERO)?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = b.observe().wait_events(n + 1, quiet.min(left))?;
        if m == n || left.is_zero() {
            return Some(m);
        }
        n = m;
    }
}

/// What must hold after every teardown: the kernel CPU idle and the DDMA
/// store empty (the subkernel's own traces erased).
pub fn check_teardown(s: &Stats) -> Result<(), String> {
    let mut bad = Vec::new();
    if s.kernel_state != KernelState::Idle {
        bad.push(format!("kernel state {}", s.kernel_state));
    }
    if s.ddma_in_use != 0 || s.ddma_traces != 0 {
        bad.push(format!("DDMA store holds {} bytes in {} trace(s)", s.ddma_in_use, s.ddma_traces));
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join(", "))
    }
}

/// What must hold after a kernel that finished: CPU1's heap at the end of
/// the run (before the teardown recreated it) is what it was right after
/// the load, i.e. the run freed everything it allocated. Heap1 is recreated
/// at every restart, so this is the only figure that can show a run's
/// leak on the firmware. Links without the figures pass.
pub fn check_heap1_run(s: &Stats) -> Result<(), String> {
    match (s.heap1_loaded, s.heap1_ended) {
        (None, None) => Ok(()),
        (Some(loaded), Some(ended)) if loaded == ended => Ok(()),
        (Some(loaded), Some(ended)) => Err(format!(
            "CPU1's heap at the end of the run {ended} bytes, {loaded} bytes after the load: the run left {:+} bytes allocated",
            ended as i64 - loaded as i64
        )),
        (loaded, ended) => Err(format!("CPU1's heap figures incomplete: after the load {loaded:?}, at the end {ended:?}")),
    }
}

/// What must hold after a kernel that raised: CPU1 waits for its restart
/// holding only the serialised exception CPU0 copies (`blob_len` bytes,
/// `Runtime::report_with_backtrace`), so its heap at the end of the run is
/// the load's plus exactly that. Links without the figures pass.
pub fn check_heap1_raised(s: &Stats, blob_len: usize) -> Result<(), String> {
    match (s.heap1_loaded, s.heap1_ended) {
        (None, None) => Ok(()),
        (Some(loaded), Some(ended)) if ended == loaded + blob_len as u64 => Ok(()),
        (Some(loaded), Some(ended)) => Err(format!(
            "CPU1's heap at the end of the run {ended} bytes, {loaded} bytes after the load: {:+} bytes held, expected the {blob_len} bytes of the exception",
            ended as i64 - loaded as i64
        )),
        (loaded, ended) => Err(format!("CPU1's heap figures incomplete: after the load {loaded:?}, at the end {ended:?}")),
    }
}

fn run_one(
    b: &mut dyn Bench,
    kernels: &Kernels,
    id: u32,
    source: Source,
    expect: Expect,
    counter: &mut Option<CounterEstimate>,
    opts: &Options,
) -> Result<SubkernelRun, String> {
    let timeout = opts.timeout;
    let name = kernels.name(id);
    if let Some(ev) = b.observe().take_events() {
        if !ev.is_empty() {
            return Err(format!("{} stray RTIO events before subkernel {name}, first {:?}", ev.len(), ev[0]));
        }
    }
    let mut r = SubkernelRun::default();
    let t0 = Instant::now();
    b.reset().map_err(|e| format!("reset before {name}: {e}"))?;
    r.reset = t0.elapsed();
    let t = Instant::now();
    b.load_run(DEST, id, false, 0).map_err(|e| format!("preload {name}: {e}"))?;
    r.load = t.elapsed();
    // The kernels take their own time from the counter (break_realtime);
    // the run timestamp is the master's now, as after its break_realtime.
    r.started_at = counter.map(|c| c.now());
    let timestamp = r.started_at.unwrap_or(0) + BREAK_REALTIME_MU;
    let t = Instant::now();
    b.load_run(DEST, id, true, timestamp as u64).map_err(|e| format!("run {name}: {e}"))?;
    r.run = t.elapsed();
    let t = Instant::now();
    match b.await_finish(id, timeout).map_err(|e| format!("await {name}: {e}"))? {
        Outcome::Finished => {}
        Outcome::Exception(e) => return Err(format!("subkernel {name} raised: {e}")),
    }
    r.finish = t.elapsed();
    r.time = t0.elapsed();
    let queued = match expect {
        Expect::Train(train) => b.observe().wait_events(2 * train.pulses, timeout),
        // How many is what is learned: wait until they stop coming.
        Expect::Learn => settle_events(b, Duration::from_millis(100), timeout),
    };
    if queued.is_some() {
        let ev = b.observe().take_events().unwrap_or_default();
        let train = match expect {
            Expect::Train(t) => t,
            Expect::Learn => learn_train(&ev).map_err(|e| format!("subkernel {name}'s RTIO events: {e}"))?,
        };
        let offset = ev.first().map_or(0, |e| e.timestamp);
        check_pulses_from(&ev, &train, offset, source).map_err(|e| format!("subkernel {name}'s RTIO events: {e}"))?;
        r.summary = Some(summarize(&ev));
        r.train = Some(train);
    }
    if let (Some((lo, hi)), Some(first), Some(_)) = (opts.lead_window, r.summary.and_then(|s| s.first_timestamp), r.started_at) {
        let lead = first - timestamp;
        if !(lo..=hi).contains(&lead) {
            return Err(format!(
                "subkernel {name}: first edge at {first}, {lead} µs after the requested timestamp {timestamp}: outside {lo}..={hi}"
            ));
        }
    }
    if let Some(s) = b.observe().stats() {
        let s = s.map_err(|e| format!("STATS after {name}: {e}"))?;
        *counter = Some(CounterEstimate::from_stats(&s));
        check_teardown(&s).map_err(|e| format!("after subkernel {name} finished: {e}"))?;
        check_heap1_run(&s).map_err(|e| format!("subkernel {name}: {e}"))?;
        r.after = Some(s);
    }
    Ok(r)
}

/// One submission: uploads A and B (if `opts.upload`), runs A, then B, and
/// checks the satellite after each teardown (kernel idle, DDMA store
/// empty) and, at the end, against `baseline` (both heaps, DDMA arena;
/// see [`super::bench::leaks`]). Updates `counter`.
pub fn run(
    b: &mut dyn Bench,
    kernels: &Kernels,
    opts: &Options,
    counter: &mut Option<CounterEstimate>,
    baseline: Option<&Stats>,
) -> Result<ExperimentRun, String> {
    let (ua, ub) = if opts.upload { kernels.upload(b)? } else { (Duration::ZERO, Duration::ZERO) };
    let mut a = run_one(b, kernels, A, Source::Kernel, opts.expect[0], counter, opts)?;
    a.upload = ua;
    let mut bb = run_one(b, kernels, B, Source::Dma, opts.expect[1], counter, opts)?;
    bb.upload = ub;
    b.clear_async();
    let after = bb.after;
    if let (Some(base), Some(s)) = (baseline, after.as_ref()) {
        if let Some(l) = super::bench::leaks(base, s) {
            return Err(format!("after the experiment: {l}"));
        }
    }
    Ok(ExperimentRun { a, b: bb, after })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(train: &PulseTrain, t0: i64) -> Vec<Event> {
        train.events().map(|(t, v)| Event { source: Source::Kernel, timestamp: t0 + t, target: train.target, data: v }).collect()
    }

    #[test]
    fn learns_the_train_a_kernel_emitted() {
        assert_eq!(learn_train(&events(&TRAIN, 12_345)), Ok(TRAIN));
        let t = PulseTrain { target: 0x0100_0300, pulses: 7, period: 8_000, width: 1_000 };
        assert_eq!(learn_train(&events(&t, 0)), Ok(t));
        let one = PulseTrain { target: 0x0100_0F00, pulses: 1, period: 500, width: 500 };
        assert_eq!(learn_train(&events(&one, 9)).map(|t| (t.pulses, t.width)), Ok((1, 500)));
    }

    #[test]
    fn heap1_checks_catch_what_a_run_left_on_cpu1() {
        let stats = |loaded, ended| Stats {
            heap0_used: 0,
            heap1_used: 0,
            ddma_in_use: 0,
            ddma_traces: 0,
            kernel_state: KernelState::Idle,
            kernel_id: 0,
            kernels_finished: 0,
            kernels_failed: 0,
            packets_in: 0,
            packets_out: 0,
            decode_errors: 0,
            rtio_events: 0,
            uptime_us: 0,
            rtio_counter: 0,
            rtio_slowdown: 1,
            heap1_loaded: loaded,
            heap1_ended: ended,
        };
        assert_eq!(check_heap1_run(&stats(Some(984), Some(984))), Ok(()));
        assert_eq!(check_heap1_run(&stats(None, None)), Ok(()), "older firmware");
        let e = check_heap1_run(&stats(Some(984), Some(1000))).unwrap_err();
        assert!(e.contains("+16 bytes"), "{e}");
        assert!(check_heap1_run(&stats(Some(984), None)).is_err(), "a finished run without its end figure");
        assert_eq!(check_heap1_raised(&stats(Some(900), Some(1052)), 152), Ok(()));
        assert!(check_heap1_raised(&stats(Some(900), Some(1188)), 152).unwrap_err().contains("+288 bytes held"));
        assert!(check_heap1_raised(&stats(Some(900), Some(900)), 152).is_err());
    }

    #[test]
    fn refuses_what_is_not_a_regular_train() {
        assert!(learn_train(&[]).is_err());
        let mut ev = events(&TRAIN, 0);
        ev.pop();
        assert!(learn_train(&ev).unwrap_err().contains("even"));
        let mut ev = events(&TRAIN, 0);
        ev[4].timestamp += 1;
        assert!(learn_train(&ev).unwrap_err().contains("not a regular train"));
        let mut ev = events(&TRAIN, 0);
        ev[3].target = 0x0100_0E00;
        assert!(learn_train(&ev).unwrap_err().contains("two targets"));
        let mut ev = events(&TRAIN, 0);
        ev.swap(0, 1);
        assert!(learn_train(&ev).unwrap_err().contains("rising"));
    }
}
