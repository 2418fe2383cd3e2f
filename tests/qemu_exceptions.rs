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
//!    (event 1) before the ValueError reaches the master;
//! 6. `wild_request`: `dma_record_start` with a name outside the kernel
//!    CPU's memory — CPU0 refuses to read it (log line), and the ValueError
//!    it answers with reaches the master; nothing after it runs.
//!
//! A landing pad whose checks of the restored registers, stack and
//! exception fail outputs 1000 + a check code instead (eh_cases.S).
//!
//! Needs the firmware and kernels the build script builds; with
//! SATMAN_SKIP_FIRMWARE set it prints a loud skip and passes.

use std::time::Duration;

use libksupport::exception;
use satman_systest::qemu::cases::{expect_eq, Case, Ctx};
use satman_systest::qemu::experiment::{A, DEST};
use satman_systest::qemu::{Event, Source, Stats};

const AWAIT: Duration = Duration::from_secs(5);
const TTL15: u32 = 0x0100_0F00;

/// A finished without an exception.
fn finishes_normally(c: &mut Ctx) -> Result<(), String> {
    c.finished(A)?;
    c.finish(A)
}

/// Kernel idle, DDMA store empty, no unwinder warning in the log.
fn idle(c: &mut Ctx, what: &str) -> Result<Stats, String> {
    let s = c.idle(what)?;
    let log = c.log()?;
    if let Some(l) = log.lines().find(|l| l.contains("stopped:") || l.contains("landing pad") || l.contains("in flight")) {
        return Err(format!("unwinder warning in the satellite log: {l}"));
    }
    Ok(s)
}

/// Waits for A's `SubkernelFinished` with an exception and fetches it:
/// the exception and its backtrace.
fn uncaught(c: &mut Ctx) -> Result<(exception::ParsedException, Vec<(u32, u32)>), String> {
    c.finished_with_exception(A)?;
    // SubkernelExceptionRequest slices, parsed here to see the backtrace.
    let blob = c.q.master.fetch_exception(DEST).map_err(|e| format!("SubkernelExceptionRequest: {e}"))?;
    c.q.master.clear_async();
    let e = exception::parse(&blob).map_err(|e| format!("exception blob: {e:?}"))?;
    let bt = exception::parse_backtrace(&blob).map_err(|e| format!("backtrace: {e:?}"))?;
    Ok((e, bt))
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
    c.start("catch_exception", A)?;
    finishes_normally(c)?;
    let ev = c.events(1)?;
    expect_event(&ev[0], 42)?;
    let s = idle(c, "catch_exception")?;
    expect_eq("kernels_failed", s.kernels_failed, before.kernels_failed)?;
    Ok(())
}

fn catch_mismatch(c: &mut Ctx) -> Result<(), String> {
    let before = c.stats()?;
    c.start("catch_mismatch", A)?;
    let (e, bt) = uncaught(c)?;
    expect_eq("exception id (ValueError)", e.id, 18)?;
    expect_eq("message", e.message.as_deref(), Some("value {0} not handled"))?;
    expect_eq("params", e.param, [18, 10, -1])?;
    expect_eq("location", (e.file.as_str(), e.line, e.column), ("catch_mismatch.py", 21, 4))?;
    expect_eq("function", e.function.as_str(), "_Z14catch_mismatchv")?;
    eprintln!("catch_mismatch backtrace (ip − image base, sp): {:x?}", bt);
    // eh_catch_index_error, then __modinit__ (CANTUNWIND ends the walk).
    if bt.len() != 2 {
        return Err(format!("backtrace {bt:x?}: expected the 2 kernel frames"));
    }
    let image = c.image("catch_mismatch")?;
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
    let s = idle(c, "catch_mismatch")?;
    expect_eq("kernels_failed", s.kernels_failed, before.kernels_failed + 1)?;
    Ok(())
}

fn finally_uncaught(c: &mut Ctx) -> Result<(), String> {
    let before = c.stats()?;
    c.start("finally_uncaught", A)?;
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
    let s = idle(c, "finally_uncaught")?;
    expect_eq("kernels_failed", s.kernels_failed, before.kernels_failed + 1)?;
    Ok(())
}

fn finally_then_catch(c: &mut Ctx) -> Result<(), String> {
    c.start("finally_then_catch", A)?;
    finishes_normally(c)?;
    let ev = c.events(2)?;
    expect_event(&ev[0], 1)?;
    expect_event(&ev[1], 2)?;
    expect_eq("cleanup → handler delay", ev[1].timestamp - ev[0].timestamp, 1000)?;
    idle(c, "finally_then_catch")?;
    Ok(())
}

fn catch_underflow(c: &mut Ctx) -> Result<(), String> {
    c.start("catch_underflow", A)?;
    finishes_normally(c)?;
    let ev = c.events(1)?;
    expect_event(&ev[0], 43)?;
    idle(c, "catch_underflow")?;
    Ok(())
}

fn wild_request(c: &mut Ctx) -> Result<(), String> {
    let before = c.stats()?;
    c.start("wild_request", A)?;
    let (e, _) = uncaught(c)?;
    expect_eq("exception id (ValueError)", e.id, 18)?;
    expect_eq(
        "message",
        e.message.as_deref(),
        Some("dma_record_start: an argument lies outside the kernel CPU's memory"),
    )?;
    let ev = c.events(1)?;
    expect_event(&ev[0], 1)?;
    let log = c.log()?;
    if !log.contains("16 bytes at 0x40000000 are unreadable") {
        return Err(format!("no refusal line in the satellite log:\n{log}"));
    }
    let s = idle(c, "wild_request")?;
    expect_eq("kernels_failed", s.kernels_failed, before.kernels_failed + 1)?;
    Ok(())
}

#[test]
fn qemu_exceptions() {
    let Some(mut c) = Ctx::boot("qemu_exceptions", AWAIT) else { return };
    let first = c.experiment().unwrap_or_else(|e| panic!("first experiment: {e}\n{}", c.q.diagnostics()));
    c.baseline = Some(first.after.expect("baseline"));

    let cases: [(&str, Case); 6] = [
        ("catch_exception", catch_exception),
        ("catch_mismatch (uncaught)", catch_mismatch),
        ("finally_then_catch", finally_then_catch),
        ("catch_underflow", catch_underflow),
        ("finally_uncaught", finally_uncaught),
        ("wild_request", wild_request),
    ];
    c.run_cases("exception", &cases);
    c.exit();
}
