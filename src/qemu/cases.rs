//! The frame of the QEMU tests that run test kernels case by case
//! (tests/qemu_kernels.rs, tests/qemu_exceptions.rs): one QEMU, the master,
//! the user's experiment ([`experiment::run`]) as the workload every case
//! must leave working, and the heap baseline it must return to.
//!
//! [`Ctx::boot`] boots the firmware and brings the link up; the test sets
//! [`Ctx::baseline`] from a first experiment; [`Ctx::run_cases`] runs each
//! case and then the experiment, collects the failures (bringing the
//! satellite back to a known state after each), and checks the heaps
//! against the baseline at the end; [`Ctx::exit`] ends QEMU and checks its
//! exit code and log.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use libksupport::exception::ParsedException;

use super::bench::{leaks, CounterEstimate};
use super::experiment::{self, check_teardown, ExperimentRun, Kernels, Options, BREAK_REALTIME_MU, DEST};
use super::{Event, Qemu, Stats};
use crate::master::{Finished, Outcome};

/// One case: `Err` says what went wrong.
pub type Case = fn(&mut Ctx) -> Result<(), String>;

/// A booted QEMU with the master's view of the satellite.
pub struct Ctx {
    pub q: Qemu,
    /// The test kernels (`<name>.elf`).
    pub dir: PathBuf,
    /// The experiment's kernels.
    pub kernels: Kernels,
    /// How the experiment runs; `opts.timeout` is also every await's.
    pub opts: Options,
    /// The satellite's counter, from the last `STATS`.
    pub counter: Option<CounterEstimate>,
    /// What heaps and DDMA store must be back at after each experiment (and
    /// after all the cases); the test sets it.
    pub baseline: Option<Stats>,
    /// When QEMU was up.
    pub started: Instant,
    test: &'static str,
}

impl Ctx {
    /// Boots the firmware for `test` and initialises the link; `None` (after
    /// a loud notice) if the firmware was not built. `timeout` is the
    /// experiment's and every await's.
    pub fn boot(test: &'static str, timeout: Duration) -> Option<Ctx> {
        let q = Qemu::boot_for_test(test)?;
        let dir = super::kernels_dir().expect("the build script built the kernels");
        let kernels = Kernels::load(&dir).expect("kernels");
        let mut c = Ctx { q, dir, kernels, opts: Options::new(timeout), counter: None, baseline: None, started: Instant::now(), test };
        c.q.master.init_link(DEST).unwrap_or_else(|e| panic!("init_link: {e}\n{}", c.q.diagnostics()));
        Some(c)
    }

    /// The test kernel `name`.
    pub fn image(&self, name: &str) -> Result<Vec<u8>, String> {
        let p = self.dir.join(format!("{name}.elf"));
        std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// A `STATS` round trip; updates the counter estimate.
    pub fn stats(&mut self) -> Result<Stats, String> {
        let s = self.q.stats().map_err(|e| format!("STATS: {e}"))?;
        self.counter = Some(CounterEstimate::from_stats(&s));
        Ok(s)
    }

    /// The master's now after `break_realtime`.
    pub fn now(&self) -> u64 {
        (self.counter.map_or(0, |c| c.now()) + BREAK_REALTIME_MU) as u64
    }

    /// One run of the user's experiment, checked against the baseline (if
    /// set); the QEMU link must have reported its events and `STATS`.
    pub fn experiment(&mut self) -> Result<ExperimentRun, String> {
        let r = experiment::run(&mut self.q.master, &self.kernels, &self.opts, &mut self.counter, self.baseline.as_ref())?;
        if r.a.summary.is_none() || r.b.summary.is_none() {
            return Err("the QEMU link reported no RTIO events".into());
        }
        if r.after.is_none() {
            return Err("no STATS".into());
        }
        Ok(r)
    }

    /// Uploads `name` as `id`, resets, preloads and runs it.
    pub fn start(&mut self, name: &str, id: u32) -> Result<(), String> {
        let image = self.image(name)?;
        self.q.master.upload_subkernel(DEST, id, &image).map_err(|e| format!("upload {name}: {e}"))?;
        self.q.master.reset().map_err(|e| format!("reset: {e}"))?;
        self.q.master.load_run(DEST, id, false, 0).map_err(|e| format!("preload {name}: {e}"))?;
        self.stats()?;
        let now = self.now();
        self.q.master.load_run(DEST, id, true, now).map_err(|e| format!("run {name}: {e}"))
    }

    /// Waits for the `SubkernelFinished` of `id` (without taking it).
    pub fn finished(&mut self, id: u32) -> Result<Finished, String> {
        let timeout = self.opts.timeout;
        let deadline = Instant::now() + timeout;
        loop {
            // Only a finish the master's state machine took for the
            // current run of `id` (an unknown id: any).
            let done = matches!(self.q.master.subkernel_state(id), None | Some(crate::master::SubkernelState::Finished(_)));
            if let Some(f) = self.q.master.finished().iter().find(|f| f.id == id).filter(|_| done) {
                return Ok(*f);
            }
            if Instant::now() >= deadline {
                return Err(format!("no SubkernelFinished for subkernel {id} within {timeout:?}"));
            }
            self.q.master.poll_async(Duration::from_millis(20)).map_err(|e| format!("waiting for SubkernelFinished {id}: {e}"))?;
        }
    }

    /// Waits for the `SubkernelFinished` of `id` (without taking it), which
    /// must say that an exception from [`DEST`] ended it.
    pub fn finished_with_exception(&mut self, id: u32) -> Result<Finished, String> {
        let f = self.finished(id)?;
        if !f.with_exception || f.exception_src != DEST {
            return Err(format!("SubkernelFinished {f:?}: expected with_exception from destination {DEST}"));
        }
        Ok(f)
    }

    /// `SubkernelFinished` with an exception, and the exception itself.
    pub fn exception(&mut self, id: u32) -> Result<ParsedException, String> {
        self.exception_blob(id).map(|(e, _)| e)
    }

    /// [`Ctx::exception`], and the size of the exception as the satellite
    /// serialised it (what CPU1 holds at the end of the run, see
    /// [`experiment::check_heap1_raised`]).
    pub fn exception_blob(&mut self, id: u32) -> Result<(ParsedException, usize), String> {
        self.finished_with_exception(id)?;
        match self.q.master.await_finish_blob(id, self.opts.timeout).map_err(|e| format!("await {id}: {e}"))? {
            Some(blob) => {
                let e = libksupport::exception::parse(&blob).map_err(|e| format!("subkernel {id}'s exception: {e}"))?;
                Ok((e, blob.len()))
            }
            None => Err(format!("subkernel {id} finished without an exception")),
        }
    }

    /// Awaits `id`, which must finish without an exception.
    pub fn finish(&mut self, id: u32) -> Result<(), String> {
        match self.q.master.await_finish(id, self.opts.timeout).map_err(|e| format!("await {id}: {e}"))? {
            Outcome::Finished => Ok(()),
            Outcome::Exception(e) => Err(format!("subkernel {id} raised: {e}")),
        }
    }

    /// Exactly `n` RTIO events, no more within 300 ms.
    pub fn events(&mut self, n: usize) -> Result<Vec<Event>, String> {
        self.q.wait_events(n, self.opts.timeout);
        self.q.wait_events(n + 1, Duration::from_millis(300));
        let ev = self.q.take_events();
        if ev.len() != n {
            return Err(format!("expected {n} RTIO events, got {}: {ev:?}", ev.len()));
        }
        Ok(ev)
    }

    /// No RTIO event now, nor within `wait`.
    pub fn no_events(&mut self, wait: Duration) -> Result<(), String> {
        self.q.wait_events(1, wait);
        let ev = self.q.take_events();
        if ev.is_empty() {
            Ok(())
        } else {
            Err(format!("{} RTIO events, first {:?}", ev.len(), ev[0]))
        }
    }

    /// Kernel idle, DDMA store empty.
    pub fn idle(&mut self, what: &str) -> Result<Stats, String> {
        let s = self.stats()?;
        check_teardown(&s).map_err(|e| format!("after {what}: {e}"))?;
        Ok(s)
    }

    /// Takes the satellite log (and clears it).
    pub fn log(&mut self) -> Result<String, String> {
        let l = self.q.master.get_log(DEST, true).map_err(|e| format!("log: {e}"))?;
        Ok(String::from_utf8_lossy(&l).into_owned())
    }

    /// Clears the satellite log.
    pub fn clear_log(&mut self) -> Result<(), String> {
        self.q.master.get_log(DEST, true).map(|_| ()).map_err(|e| format!("log: {e}"))
    }

    /// Best effort back to a known state after a failed case.
    fn recover(&mut self) {
        self.q.master.clear_async();
        let _ = self.q.master.reset();
        let _ = self.q.master.poll_async(Duration::from_millis(200));
        self.q.master.clear_async();
        self.q.take_events();
    }

    /// Runs each case, then the experiment (which must pass, heaps back at
    /// the baseline); a failure is printed and kept, and the next case
    /// starts from a known state. Panics with every failure if there was
    /// one; otherwise checks the heaps and DDMA store against the baseline
    /// and that the satellite decoded every frame. `kind` names the cases
    /// in messages ("{kind} case ok: …").
    pub fn run_cases(&mut self, kind: &str, cases: &[(&str, Case)]) {
        let base = self.baseline.expect("baseline");
        let mut failures = Vec::new();
        for &(name, case) in cases {
            let t = Instant::now();
            let r = case(self).map_err(|e| format!("{name}: {e}")).and_then(|_| {
                self.experiment().map(|_| ()).map_err(|e| format!("{name}: the experiment afterwards: {e}"))
            });
            match r {
                Ok(()) => eprintln!("{kind} case ok ({:.1} s): {name}", t.elapsed().as_secs_f64()),
                Err(e) => {
                    eprintln!("FAILED: {e}");
                    failures.push(e);
                    self.recover();
                }
            }
        }
        if !failures.is_empty() {
            panic!("{} {kind} case(s) failed:\n  {}\n{}", failures.len(), failures.join("\n  "), self.q.diagnostics());
        }
        let s = self.stats().unwrap();
        assert_eq!(leaks(&base, &s), None, "after the {kind} cases");
        assert_eq!(s.decode_errors, 0);
    }

    /// Prints the test's time, ends QEMU and checks that it exited with 0
    /// and that qemu.log holds no unexpected line.
    pub fn exit(mut self) {
        eprintln!("{}: {:.1} s in all", self.test, self.started.elapsed().as_secs_f64());
        let r = self.q.exit(0).unwrap();
        assert_eq!(r.code, Some(0), "QEMU exit code\n{}", self.q.diagnostics());
        assert!(r.unexpected_log_lines.is_empty(), "unexpected qemu.log lines: {:#?}", r.unexpected_log_lines);
    }
}

/// `Ok` if `got == want`, else says what `what` was.
pub fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, expected {want:?}"))
    }
}
