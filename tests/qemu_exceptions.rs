//! Exceptions caught inside kernels, on the firmware in QEMU (issue #4
//! item 5). One QEMU for the whole file; the test kernels are in
//! kernels/README.md, their EHABI tables laid out as the ARTIQ compiler
//! lays them out (kernels/src/eh_cases.S).
//!
//! After a first run of the user's experiment (the heap baseline), each case
//! is uploaded as subkernel A, run, and followed by the experiment, which
//! must pass with heap0/heap1 back at the baseline:
//!
//! 1. `catch_exception`: `try: raise ValueError except ValueError` — the
//!    subkernel finishes normally (SubkernelFinished without exception) and
//!    its handler's event (42) is the only one;
//! 2. `catch_mismatch`: the only handler catches IndexError — the ValueError
//!    reaches the master (SubkernelExceptionRequest) with its message,
//!    parameters, location and a backtrace of the kernel's frames;
//! 3. `finally_then_catch`: a cleanup pad (event 1) resumes into the
//!    caller's handler (event 2, 1000 mu later);
//! 4. `catch_underflow`: an RTIOUnderflow raised by the firmware inside
//!    `rtio_output` caught by the kernel (event 43);
//! 5. `finally_uncaught`: no handler, but the cleanup pad still runs
//!    (event 1) before the ValueError reaches the master.
//!
//! A landing pad whose checks of the restored registers, stack and
//! exception fail outputs 1000 + a check code instead (eh_cases.S).
//!
//! Needs the firmware and kernels the build script builds; with
//! SATMAN_SKIP_FIRMWARE set it prints a loud skip and passes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use libksupport::exception;
use satman_systest::master::{Finished, Outcome};
use satman_systest::qemu::bench::{leaks, CounterEstimate};
use satman_systest::qemu::experiment::{self, check_teardown, Kernels, Options, A, BREAK_REALTIME_MU, DEST};
use satman_systest::qemu::{Event, Qemu, Source, Stats};

const AWAIT: Duration = Duration::from_secs(5);
const TTL15: u32 = 0x0100_0F00;

struct Ctx {
    q: Qemu,
    dir: PathBuf,
    kernels: Kernels,
    opts: Options,
    counter: Option<CounterEstimate>,
    baseline: Option<Stats>,
}

impl Ctx {
    fn stats(&mut self) -> Result<Stats, String> {
        let s = self.q.stats().map_err(|e| format!("STATS: {e}"))?;
        self.counter = Some(CounterEstimate::from_stats(&s));
        Ok(s)
    }

    fn experiment(&mut self) -> Result<experiment::ExperimentRun, String> {
        let r = experiment::run(&mut self.q.master, &self.kernels, &self.opts, &mut self.counter, self.baseline.as_ref())?;
        if r.a.summary.is_none() || r.b.summary.is_none() || r.after.is_none() {
            return Err("no RTIO events or no STATS from the QEMU link".into());
        }
        Ok(r)
    }

    /// Uploads `name` as subkernel A, resets, preloads and runs it.
    fn start(&mut self, name: &str) -> Result<(), String> {
        let p = self.dir.join(format!("{name}.elf"));
        let image = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        self.q.master.upload_subkernel(DEST, A, &image).map_err(|e| format!("upload {name}: {e}"))?;
        self.q.master.reset().map_err(|e| format!("reset: {e}"))?;
        self.q.master.load_run(DEST, A, false, 0).map_err(|e| format!("preload {name}: {e}"))?;
        self.stats()?;
        let now = (self.counter.map_or(0, |c| c.now()) + BREAK_REALTIME_MU) as u64;
        self.q.master.load_run(DEST, A, true, now).map_err(|e| format!("run {name}: {e}"))
    }

    /// Waits for the `SubkernelFinished` of A (without taking it).
    fn finished(&mut self) -> Result<Finished, String> {
        let deadline = Instant::now() + AWAIT;
        loop {
            if let Some(f) = self.q.master.finished().iter().find(|f| f.id == A) {
                return Ok(*f);
            }
            if Instant::now() >= deadline {
                return Err(format!("no SubkernelFinished within {AWAIT:?}"));
            }
            self.q.master.poll_async(Duration::from_millis(20)).map_err(|e| format!("waiting for SubkernelFinished: {e}"))?;
        }
    }

    /// A finished without an exception.
    fn finishes_normally(&mut self) -> Result<(), String> {
        let f = self.finished()?;
        match self.q.master.await_finish(A, AWAIT).map_err(|e| format!("await: {e}"))? {
            Outcome::Finished => Ok(()),
            Outcome::Exception(e) => Err(format!("SubkernelFinished {f:?}, exception: {e}")),
        }
    }

    /// Exactly `n` RTIO events, no more within 300 ms.
    fn events(&mut self, n: usize) -> Result<Vec<Event>, String> {
        self.q.wait_events(n, AWAIT);
        self.q.wait_events(n + 1, Duration::from_millis(300));
        let ev = self.q.take_events();
        if ev.len() != n {
            return Err(format!("expected {n} RTIO events, got {}: {ev:?}", ev.len()));
        }
        Ok(ev)
    }

    /// Kernel idle, DDMA store empty, no unwinder warning in the log.
    fn idle(&mut self, what: &str) -> Result<Stats, String> {
        let s = self.stats()?;
        check_teardown(&s).map_err(|e| format!("after {what}: {e}"))?;
        let log = self.q.master.get_log(DEST, true).map_err(|e| format!("log: {e}"))?;
        let log = String::from_utf8_lossy(&log);
        if let Some(l) = log.lines().find(|l| l.contains("stopped:") || l.contains("landing pad") || l.contains("in flight")) {
            return Err(format!("unwinder warning in the satellite log: {l}"));
        }
        Ok(s)
    }
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, expected {want:?}"))
    }
}

/// One event on TTL15 from the kernel CPU with `data`.
fn expect_event(e: &Event, data: u32) -> Result<(), String> {
    if e.target != TTL15 || e.data != data || e.source != Source::Kernel {
        return Err(format!("event {e:?}: expected data {data} on {TTL15:#x} from the kernel CPU"));
    }
    Ok(())
}

fn catch_exception(c: &mut Ctx) -> Result<(), String> {
    let before = c.stats()?;
    c.start("catch_exception")?;
    c.finishes_normally()?;
    let ev = c.events(1)?;
    expect_event(&ev[0], 42)?;
    let s = c.idle("catch_exception")?;
    expect_eq("kernels_failed", s.kernels_failed, before.kernels_failed)?;
    Ok(())
}

fn catch_mismatch(c: &mut Ctx) -> Result<(), String> {
    let before = c.stats()?;
    c.start("catch_mismatch")?;
    let f = c.finished()?;
    if !f.with_exception || f.exception_src != DEST {
        return Err(format!("SubkernelFinished {f:?}: expected with_exception from destination {DEST}"));
    }
    // SubkernelExceptionRequest slices, parsed here to see the backtrace.
    let blob = c.q.master.fetch_exception(DEST).map_err(|e| format!("SubkernelExceptionRequest: {e}"))?;
    c.q.master.clear_async();
    let e = exception::parse(&blob).map_err(|e| format!("exception blob: {e:?}"))?;
    expect_eq("exception id (ValueError)", e.id, 18)?;
    expect_eq("message", e.message.as_deref(), Some("value {0} not handled"))?;
    expect_eq("params", e.param, [18, 10, -1])?;
    expect_eq("location", (e.file.as_str(), e.line, e.column), ("catch_mismatch.py", 21, 4))?;
    expect_eq("function", e.function.as_str(), "_Z14catch_mismatchv")?;
    let bt = exception::parse_backtrace(&blob).map_err(|e| format!("backtrace: {e:?}"))?;
    eprintln!("catch_mismatch backtrace (ip − image base, sp): {:x?}", bt);
    // eh_catch_index_error, then __modinit__ (CANTUNWIND ends the walk).
    if bt.len() != 2 {
        return Err(format!("backtrace {bt:x?}: expected the 2 kernel frames"));
    }
    let image = std::fs::read(c.dir.join("catch_mismatch.elf")).map_err(|e| e.to_string())?;
    for (i, &(ip, sp)) in bt.iter().enumerate() {
        if ip == 0 || ip as usize >= image.len() || sp == 0 || sp % 8 != 0 {
            return Err(format!("backtrace frame {i} ({ip:#x}, {sp:#x}) is not in the kernel image / on an aligned stack"));
        }
    }
    if bt[1].1 <= bt[0].1 {
        return Err(format!("backtrace {bt:x?}: the caller's sp must be above the raiser's"));
    }
    // The marker event, and nothing from the handler that does not match.
    let ev = c.events(1)?;
    expect_event(&ev[0], 1)?;
    let s = c.idle("catch_mismatch")?;
    expect_eq("kernels_failed", s.kernels_failed, before.kernels_failed + 1)?;
    Ok(())
}

/// Waits for A's `SubkernelFinished` with an exception and fetches it:
/// the exception and its backtrace.
fn uncaught(c: &mut Ctx) -> Result<(exception::ParsedException, Vec<(u32, u32)>), String> {
    let f = c.finished()?;
    if !f.with_exception || f.exception_src != DEST {
        return Err(format!("SubkernelFinished {f:?}: expected with_exception from destination {DEST}"));
    }
    let blob = c.q.master.fetch_exception(DEST).map_err(|e| format!("SubkernelExceptionRequest: {e}"))?;
    c.q.master.clear_async();
    let e = exception::parse(&blob).map_err(|e| format!("exception blob: {e:?}"))?;
    let bt = exception::parse_backtrace(&blob).map_err(|e| format!("backtrace: {e:?}"))?;
    Ok((e, bt))
}

fn finally_uncaught(c: &mut Ctx) -> Result<(), String> {
    let before = c.stats()?;
    c.start("finally_uncaught")?;
    let (e, bt) = uncaught(c)?;
    expect_eq("exception id (ValueError)", e.id, 18)?;
    expect_eq("message", e.message.as_deref(), Some("uncaught after a finally"))?;
    expect_eq("params", e.param, [4, 5, 6])?;
    expect_eq("location", (e.file.as_str(), e.line, e.column, e.function.as_str()), ("finally_uncaught.py", 9, 2, "_Z16finally_uncaughtv"))?;
    // The raising frame and __modinit__, as phase 1 saw them.
    if bt.len() != 2 || bt[1].1 <= bt[0].1 {
        return Err(format!("backtrace {bt:x?}: expected the 2 kernel frames"));
    }
    let ev = c.events(1)?;
    expect_event(&ev[0], 1)?;
    let s = c.idle("finally_uncaught")?;
    expect_eq("kernels_failed", s.kernels_failed, before.kernels_failed + 1)?;
    Ok(())
}

fn finally_then_catch(c: &mut Ctx) -> Result<(), String> {
    c.start("finally_then_catch")?;
    c.finishes_normally()?;
    let ev = c.events(2)?;
    expect_event(&ev[0], 1)?;
    expect_event(&ev[1], 2)?;
    expect_eq("cleanup → handler delay", ev[1].timestamp - ev[0].timestamp, 1000)?;
    c.idle("finally_then_catch")?;
    Ok(())
}

fn catch_underflow(c: &mut Ctx) -> Result<(), String> {
    c.start("catch_underflow")?;
    c.finishes_normally()?;
    let ev = c.events(1)?;
    expect_event(&ev[0], 43)?;
    c.idle("catch_underflow")?;
    Ok(())
}

#[test]
fn qemu_exceptions() {
    let Some(q) = Qemu::boot_for_test("qemu_exceptions") else { return };
    let dir = satman_systest::qemu::kernels_dir().expect("the build script built the kernels");
    let kernels = Kernels::load(&dir).expect("kernels");
    let mut c = Ctx { q, dir, kernels, opts: Options::new(AWAIT), counter: None, baseline: None };
    let start = Instant::now();
    c.q.master.init_link(DEST).unwrap_or_else(|e| panic!("init_link: {e}\n{}", c.q.diagnostics()));
    let first = c.experiment().unwrap_or_else(|e| panic!("first experiment: {e}\n{}", c.q.diagnostics()));
    let base = first.after.expect("baseline");
    c.baseline = Some(base);

    type Case = fn(&mut Ctx) -> Result<(), String>;
    let cases: [(&str, Case); 5] = [
        ("catch_exception", catch_exception),
        ("catch_mismatch (uncaught)", catch_mismatch),
        ("finally_then_catch", finally_then_catch),
        ("catch_underflow", catch_underflow),
        ("finally_uncaught", finally_uncaught),
    ];
    let mut failures = Vec::new();
    for (name, case) in cases {
        let t = Instant::now();
        let r = case(&mut c).map_err(|e| format!("{name}: {e}")).and_then(|_| {
            c.experiment().map(|_| ()).map_err(|e| format!("{name}: the experiment afterwards: {e}"))
        });
        match r {
            Ok(()) => eprintln!("exception case ok ({:.1} s): {name}", t.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("FAILED: {e}");
                failures.push(e);
                c.q.master.clear_async();
                let _ = c.q.master.reset();
                let _ = c.q.master.poll_async(Duration::from_millis(200));
                c.q.master.clear_async();
                c.q.take_events();
            }
        }
    }
    if !failures.is_empty() {
        panic!("{} exception case(s) failed:\n  {}\n{}", failures.len(), failures.join("\n  "), c.q.diagnostics());
    }
    let s = c.stats().unwrap();
    assert_eq!(leaks(&base, &s), None, "after the exception cases");
    assert_eq!(s.decode_errors, 0);
    eprintln!("qemu_exceptions: {:.1} s in all", start.elapsed().as_secs_f64());

    let r = c.q.exit(0).unwrap();
    assert_eq!(r.code, Some(0), "QEMU exit code\n{}", c.q.diagnostics());
    assert!(r.unexpected_log_lines.is_empty(), "unexpected qemu.log lines: {:#?}", r.unexpected_log_lines);
}
