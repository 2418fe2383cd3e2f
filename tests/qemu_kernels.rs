//! The real test kernels (kernels/README.md) on the firmware in QEMU, as a
//! master drives them. One QEMU for the whole file.
//!
//! 1. The user's experiment (`ttl_pulses` as subkernel A, `dma_record_playback`
//!    as B: upload both, then reset, preload, run, await each), 200 times in
//!    a row (`SATMAN_QEMU_RUNS=N` overrides; 1000 for the long run): every
//!    await succeeds, A's 100 pulses come from the kernel CPU and B's from
//!    the DMA engine with the right timestamps, and after every run the
//!    kernel CPU is idle, the DDMA store empty and heap0/heap1 at the
//!    baseline taken after the first run; and CPU1's heap at the end of each
//!    kernel's run, read before the teardown recreates it, is what it was
//!    right after the load (the run freed everything it allocated; the
//!    only figure that can show a run's leak, heap1 being recreated at
//!    every restart). Kernels that finish in the fault cases are held to
//!    the same; kernels that raise end with exactly their exception more.
//! 2. Fault cases, each followed by the normal experiment, which must pass
//!    with the heaps back at that baseline: an exception in the middle of a
//!    DMA recording, an upload over a running kernel, a kernel that never
//!    finishes (replaced by the next submission's preload), an uncaught
//!    exception, arguments and a return value, message round trips, libm /
//!    RTABI imports, 1000 `cache_get`s in one run, and images the loader must refuse (truncated, wrong
//!    e_machine, an unresolved import) with the cause in the satellite log.
//!
//! Fault kernels use the experiment's ids (A = 1, B = 2), so the next
//! submission's upload replaces their stored images and the heaps can be
//! compared with the baseline byte for byte.
//!
//! Needs the firmware and kernels the build script builds; with
//! SATMAN_SKIP_FIRMWARE set it prints a loud skip and passes.

use std::time::{Duration, Instant};

use satman_systest::master::{encode_values, MasterError, Value};
use satman_systest::qemu::bench::{leaks, summarize, Spread};
use satman_systest::qemu::cases::{expect_eq, Case, Ctx};
use satman_systest::qemu::experiment::{self, check_heap1_raised, check_heap1_run, A, B, DEST};
use satman_systest::qemu::{KernelState, Source};

const AWAIT: Duration = Duration::from_secs(5);

fn runs() -> usize {
    std::env::var("SATMAN_QEMU_RUNS").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(200)
}

// ---- fault cases ------------------------------------------------------------------

/// `raise_while_recording`: the exception reaches the master, the half-made
/// recording is discarded, nothing is output.
fn exception_mid_recording(c: &mut Ctx) -> Result<(), String> {
    let before = c.stats()?;
    c.start("raise_while_recording", A)?;
    let (e, blob_len) = c.exception_blob(A)?;
    expect_eq("exception id", e.id, 18)?;
    expect_eq("message", e.message.as_deref(), Some("recording aborted after {0} pulses ({1} mu), code {2}"))?;
    expect_eq("params", e.param, [10, 10_000_000, -3])?;
    expect_eq("location", (e.file.as_str(), e.line, e.column), ("raise_while_recording.py", 17, 12))?;
    expect_eq("function", e.function.as_str(), "_Z21raise_while_recordingv")?;
    c.no_events(Duration::from_millis(300))?;
    let s = c.idle("the exception")?;
    check_heap1_raised(&s, blob_len)?;
    eprintln!("raise_while_recording: heap1 after load, at the end, exception: {:?}", (s.heap1_loaded, s.heap1_ended, blob_len));
    expect_eq("DDMA store", (s.ddma_in_use, s.ddma_traces), (0, 0))?;
    expect_eq("kernels_failed", s.kernels_failed, before.kernels_failed + 1)?;
    expect_eq("rtio_events (firmware counter)", s.rtio_events, before.rtio_events)?;
    Ok(())
}

/// A new upload of the running kernel's id: the old one is reported
/// finished with a "replaced" exception, the new image runs.
fn upload_over_running_kernel(c: &mut Ctx) -> Result<(), String> {
    c.start("never_finishes", A)?;
    std::thread::sleep(Duration::from_millis(100));
    let s = c.stats()?;
    expect_eq("kernel before the new upload", (s.kernel_state, s.kernel_id), (KernelState::Running, A))?;
    let image = c.image("ttl_pulses")?;
    let late = c.q.master.stats.late_finishes;
    c.q.master.upload_subkernel(DEST, A, &image).map_err(|e| format!("upload over the running kernel: {e}"))?;
    // The old run's SubkernelFinished arrives once the master's state of A
    // is the new upload's: the ARTIQ master ignores it (it must never be
    // taken for the next run's end). The satellite keeps its exception.
    let deadline = Instant::now() + AWAIT;
    while c.q.master.stats.late_finishes == late {
        if Instant::now() >= deadline {
            return Err("no SubkernelFinished for the replaced run".into());
        }
        c.q.master.poll_async(Duration::from_millis(20)).map_err(|e| format!("waiting for the replaced run's end: {e}"))?;
    }
    let blob = c.q.master.fetch_exception(DEST).map_err(|e| format!("the replaced run's exception: {e}"))?;
    let e = libksupport::exception::parse(&blob).map_err(|e| format!("the replaced run's exception: {e}"))?;
    expect_eq("exception id (SubkernelError)", e.id, 7)?;
    let m = e.message.clone().unwrap_or_default();
    if !m.contains("replaced") {
        return Err(format!("the old kernel's exception does not say it was replaced: {m:?}"));
    }
    c.idle("the replacement")?;
    // The new image runs.
    c.q.master.load_run(DEST, A, false, 0).map_err(|e| format!("preload the new image: {e}"))?;
    let now = c.now();
    c.q.master.load_run(DEST, A, true, now).map_err(|e| format!("run the new image: {e}"))?;
    c.finish(A)?;
    c.q.wait_events(2 * experiment::TRAIN.pulses, AWAIT);
    let ev = c.q.take_events();
    let first = ev.first().map_or(0, |e| e.timestamp);
    satman_systest::qemu::bench::check_pulses_from(&ev, &experiment::TRAIN, first, Source::Kernel).map_err(|e| format!("the new image's events: {e}"))?;
    c.idle("the new image")?;
    Ok(())
}

/// A kernel that never finishes: the await times out; the next
/// submission's preload of another id replaces it.
fn never_finishes(c: &mut Ctx) -> Result<(), String> {
    c.start("never_finishes", B)?;
    match c.q.master.await_finish(B, Duration::from_millis(500)) {
        Err(MasterError::Timeout(_)) => {}
        other => return Err(format!("await of a kernel that never finishes: {other:?}")),
    }
    let s = c.stats()?;
    expect_eq("kernel after the await timed out", (s.kernel_state, s.kernel_id), (KernelState::Running, B))?;
    // The next submission: upload A, preload it (no reset first).
    let image = c.image("ttl_pulses")?;
    c.q.master.upload_subkernel(DEST, A, &image).map_err(|e| format!("upload A: {e}"))?;
    let s = c.stats()?;
    expect_eq("kernel after uploading another id", s.kernel_state, KernelState::Running)?;
    c.q.master.load_run(DEST, A, false, 0).map_err(|e| format!("preload A over the running kernel: {e}"))?;
    let e = c.exception(B)?;
    expect_eq("exception id (SubkernelError)", e.id, 7)?;
    let m = e.message.clone().unwrap_or_default();
    if !m.contains("replaced") {
        return Err(format!("the stuck kernel's exception does not say it was replaced: {m:?}"));
    }
    let s = c.stats()?;
    expect_eq("kernel after the preload", (s.kernel_state, s.kernel_id), (KernelState::Loaded, A))?;
    c.no_events(Duration::ZERO)?;
    Ok(())
}

/// `raise_exception`: an uncaught ValueError with its message, parameters
/// and location. Twice: CPU1's heap at the end of each run is the load's plus the
/// exception it holds for CPU0, the same both times.
fn raise_exception(c: &mut Ctx) -> Result<(), String> {
    let mut heap1 = Vec::new();
    for _ in 0..2 {
        c.start("raise_exception", A)?;
        let (e, blob_len) = c.exception_blob(A)?;
        expect_eq("exception id", e.id, 18)?;
        expect_eq("message", e.message.as_deref(), Some("value {0} outside [{1}, {2}]"))?;
        expect_eq("params", e.param, [7, -1, 5])?;
        expect_eq("location", (e.file.as_str(), e.line, e.column), ("raise_exception.py", 42, 8))?;
        expect_eq("function", e.function.as_str(), "_Z15raise_exceptionv")?;
        c.no_events(Duration::ZERO)?;
        let s = c.idle("raise_exception")?;
        check_heap1_raised(&s, blob_len)?;
        heap1.push((s.heap1_loaded, s.heap1_ended, blob_len));
    }
    expect_eq("CPU1's heap (after load, at the end, exception bytes) in the second run", heap1[1], heap1[0])?;
    eprintln!("raise_exception: heap1 after load, at the end, exception: {:?}", heap1[0]);
    Ok(())
}

/// `args_return`: two int32 arguments in, their sum out, byte for byte.
fn args_return(c: &mut Ctx) -> Result<(), String> {
    for (a, b) in [(3, 39), (-100, 58), (i32::MAX, 1)] {
        c.clear_log()?;
        c.start("args_return", A)?;
        c.q.master.send_message(DEST, A, &encode_values(&[Value::I32(a), Value::I32(b)])).map_err(|e| format!("arguments: {e}"))?;
        let ret = c.q.master.await_message(A, AWAIT).map_err(|e| format!("return value of {a} + {b}: {e}"))?;
        let sum = a.wrapping_add(b);
        let mut want = vec![1u8];
        want.extend_from_slice(&sum.to_le_bytes());
        expect_eq(&format!("return message of {a} + {b}"), ret, want)?;
        c.finish(A)?;
        let log = c.log()?;
        let line = format!("args_return: {a} + {b} = {sum}");
        if !log.contains(&line) {
            return Err(format!("the kernel's core_log line {line:?} is not in the satellite log:\n{log}"));
        }
        let s = c.idle("args_return")?;
        check_heap1_run(&s).map_err(|e| format!("args_return {a} + {b}: {e}"))?;
        if a == 3 {
            eprintln!("args_return: heap1 {:?} bytes after the load and at the end", s.heap1_ended);
        }
    }
    Ok(())
}

/// `message_pingpong`: ten round trips of named messages (PING = 200 in,
/// PONG = 201 out).
fn message_pingpong(c: &mut Ctx) -> Result<(), String> {
    c.start("message_pingpong", A)?;
    let mut times = Vec::new();
    // CPU1's heap while the kernel waits for the next ping, read before
    // any restart (heap1 is recreated at every restart, so only a reading
    // taken inside the run can show a leak): every round must leave it as
    // the first round did.
    let mut heap1 = Vec::new();
    for i in 0..10 {
        let v = 1000 * i - 3;
        let t = Instant::now();
        c.q.master.send_message(DEST, 200, &encode_values(&[Value::I32(v)])).map_err(|e| format!("ping {i}: {e}"))?;
        let pong = c.q.master.await_message(201, AWAIT).map_err(|e| format!("pong {i}: {e}"))?;
        times.push(t.elapsed());
        expect_eq(&format!("pong {i}"), pong, encode_values(&[Value::I32(v + 1)]))?;
        if i < 9 {
            // Let the kernel get back to its wait for the next ping.
            std::thread::sleep(Duration::from_millis(20));
            heap1.push(c.stats()?.heap1_used);
        }
    }
    if heap1.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("CPU1's heap between rounds changed: {heap1:?} bytes"));
    }
    c.finish(A)?;
    let s = Spread::of(&times).expect("10");
    eprintln!("message_pingpong: 10 round trips, mean {:.2} ms (max {:.2})", s.mean_us / 1e3, s.max_us / 1e3);
    let s = c.idle("message_pingpong")?;
    check_heap1_run(&s).map_err(|e| format!("message_pingpong: {e}"))?;
    eprintln!("message_pingpong: heap1 {:?} bytes after the load and at the end", s.heap1_ended);
    Ok(())
}

/// `float_delay`: libm and RTABI imports resolve; the pulses it times with
/// `delay(t)` come out exactly.
fn float_delay(c: &mut Ctx) -> Result<(), String> {
    c.start("float_delay", A)?;
    c.finish(A)?;
    c.q.wait_events(20, AWAIT);
    let ev = c.q.take_events();
    expect_eq("events", ev.len(), 20)?;
    if let Some(e) = ev.iter().find(|e| e.source != Source::Kernel || e.target != 0x0100_0F00) {
        return Err(format!("event {e:?} is not from the kernel CPU on 0x01000f00"));
    }
    let mut t = ev[0].timestamp;
    for i in 1..=10i64 {
        let (hi, lo) = (&ev[2 * (i as usize - 1)], &ev[2 * (i as usize - 1) + 1]);
        expect_eq(&format!("pulse {i} rising edge"), (hi.timestamp, hi.data), (t, 1))?;
        expect_eq(&format!("pulse {i} falling edge"), (lo.timestamp, lo.data), (t + 1500 * i, 0))?;
        t += 1500 * i + 2500;
    }
    let sum = summarize(&ev);
    expect_eq("widths", sum.width, Some((1500, 15000)))?;
    let s = c.idle("float_delay")?;
    check_heap1_run(&s).map_err(|e| format!("float_delay: {e}"))?;
    eprintln!("float_delay: heap1 {:?} bytes after the load and at the end", s.heap1_ended);
    Ok(())
}

/// `cache_loop`: 1000 `cache_get`s in a run allocate nothing that outlives
/// the run (one list header per key, reused).
fn cache_loop(c: &mut Ctx) -> Result<(), String> {
    c.start("cache_loop", A)?;
    c.finish(A)?;
    c.q.wait_events(2, AWAIT);
    let ev = c.q.take_events();
    let data: Vec<u32> = ev.iter().map(|e| e.data).collect();
    expect_eq("events (sum over the gets, the missing key's length)", data, vec![10_000, 0])?;
    expect_eq("delay between them", ev[1].timestamp - ev[0].timestamp, 1000)?;
    let s = c.idle("cache_loop")?;
    check_heap1_run(&s).map_err(|e| format!("cache_loop: {e}"))?;
    eprintln!("cache_loop: heap1 {:?} bytes after the load and at the end", s.heap1_ended);
    // The cache outlives kernels (ARTIQ's semantics): remove the entry, so
    // heap0 is back at the baseline for the experiment that follows.
    c.start("cache_clear", A)?;
    c.finish(A)?;
    c.q.wait_events(1, AWAIT);
    expect_eq("cache_clear's event", c.q.take_events().iter().map(|e| e.data).collect::<Vec<_>>(), vec![1])?;
    c.idle("cache_clear")?;
    Ok(())
}

/// The `.dynstr` section of an ELF32 file: (offset, size).
fn dynstr(elf: &[u8]) -> Option<(usize, usize)> {
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) = (u32_at(0x20), u16_at(0x2E), u16_at(0x30), u16_at(0x32));
    let sh = |i: usize| shoff + i * shentsize;
    let names = u32_at(sh(shstrndx) + 16);
    (0..shnum).find_map(|i| {
        let name = names + u32_at(sh(i));
        elf[name..].starts_with(b".dynstr\0").then(|| (u32_at(sh(i) + 16), u32_at(sh(i) + 20)))
    })
}

/// Bad images: the preload is refused and the satellite log says why.
fn bad_images(c: &mut Ctx) -> Result<(), String> {
    let good = c.image("ttl_pulses")?;
    let truncated = good[..good.len() / 2].to_vec();
    let mut x86 = good.clone();
    x86[18..20].copy_from_slice(&62u16.to_le_bytes()); // e_machine = EM_X86_64
    let mut unresolved = good.clone();
    let (off, size) = dynstr(&good).ok_or("ttl_pulses.elf has no .dynstr")?;
    let at = good[off..off + size].windows(13).position(|w| w == b"\0rtio_output\0").ok_or("no rtio_output in .dynstr")?;
    unresolved[off + at + 1] = b'x'; // an import of `xtio_output`
    let cases: [(&str, Vec<u8>, &[&str]); 3] = [
        ("a truncated ELF", truncated, &["truncated"]),
        ("an ELF for EM_X86_64", x86, &["machine 62", "EM_ARM"]),
        ("an ELF importing an unknown symbol", unresolved, &["unresolved symbol", "xtio_output"]),
    ];
    for (what, image, causes) in cases {
        for run in [false, true] {
            c.clear_log()?;
            let failed_before = c.stats()?.kernels_failed;
            c.q.master.upload_subkernel(DEST, A, &image).map_err(|e| format!("upload {what}: {e}"))?;
            let now = c.now();
            match c.q.master.load_run(DEST, A, run, if run { now } else { 0 }) {
                Err(MasterError::Refused(_)) => {}
                other => return Err(format!("{} of {what}: {other:?}, expected a refusal", if run { "load + run" } else { "preload" })),
            }
            let log = c.log()?;
            let line = log.lines().find(|l| l.contains("subkernel 1: load failed")).ok_or_else(|| format!("{what}: no `load failed` line in the satellite log:\n{log}"))?;
            if let Some(missing) = causes.iter().find(|k| !line.contains(*k)) {
                return Err(format!("{what}: the log line does not name the cause ({missing:?}): {line}"));
            }
            if !run {
                eprintln!("bad image, {what}: {}", line.trim());
            }
            let s = c.idle(what)?;
            expect_eq("kernels_failed", s.kernels_failed, failed_before + 1)?;
            c.no_events(Duration::ZERO)?;
        }
    }
    Ok(())
}

#[test]
fn qemu_kernels() {
    let Some(mut c) = Ctx::boot("qemu_kernels", AWAIT) else { return };
    let first = c.stats().unwrap();

    // 1. The user's experiment, N times.
    let n = runs();
    let mut results = Vec::with_capacity(n);
    for i in 0..n {
        match c.experiment() {
            Ok(r) => {
                if c.baseline.is_none() {
                    c.baseline = r.after;
                }
                results.push(r);
            }
            Err(e) => panic!("experiment run {} of {n}: {e}\n{}", i + 1, c.q.diagnostics()),
        }
    }
    let base = c.baseline.expect("baseline");
    let last = results.last().unwrap().after.unwrap();
    // Every run freed all it allocated on CPU1 (checked in each run by
    // `experiment::check_heap1_run`), and each kernel's figures are the
    // same in every run: its image and the loader's state.
    let heap1 = |s: Option<satman_systest::qemu::Stats>| s.map(|s| (s.heap1_loaded, s.heap1_ended));
    let (a1, b1) = (heap1(results[0].a.after), heap1(results[0].b.after));
    for (i, r) in results.iter().enumerate() {
        assert_eq!((heap1(r.a.after), heap1(r.b.after)), (a1, b1), "run {}: CPU1's heap (after load, at the end) of A and B", i + 1);
    }
    let (Some((Some(a_loaded), Some(_))), Some((Some(b_loaded), Some(_)))) = (a1, b1) else {
        panic!("the firmware reported no heap1 figures for the runs: A {a1:?}, B {b1:?}");
    };
    assert_eq!(leaks(&base, &last), None);
    assert_eq!(last.kernels_finished - first.kernels_finished, 2 * n as u64, "every run's A and B finished");
    assert_eq!(last.kernels_failed, first.kernels_failed);
    assert_eq!(last.rtio_events - first.rtio_events, 400 * n as u64, "the firmware's event counter");
    assert_eq!(last.decode_errors, 0);
    let col = |f: fn(&experiment::ExperimentRun) -> Duration| Spread::of(&results.iter().map(f).collect::<Vec<_>>()).unwrap();
    let (ua, la, fa, lb, fb) = (col(|r| r.a.upload + r.b.upload), col(|r| r.a.load), col(|r| r.a.finish), col(|r| r.b.load), col(|r| r.b.finish));
    eprintln!(
        "experiment: {n} runs in {:.1} s; per run: uploads {:.1} ms, A load {:.2} ms finish {:.1} ms, B load {:.2} ms finish {:.1} ms (means); \
         heap0 {} bytes, heap1 {} bytes after every run; heap1 at the end of each run = after its load: A {a_loaded} bytes, B {b_loaded} bytes",
        c.started.elapsed().as_secs_f64(),
        ua.mean_us / 1e3,
        la.mean_us / 1e3,
        fa.mean_us / 1e3,
        lb.mean_us / 1e3,
        fb.mean_us / 1e3,
        base.heap0_used,
        base.heap1_used
    );

    // 2. Fault cases, each followed by the normal experiment.
    let cases: [(&str, Case); 9] = [
        ("exception mid-recording (raise_while_recording)", exception_mid_recording),
        ("upload over a running kernel", upload_over_running_kernel),
        ("kernel that never finishes", never_finishes),
        ("raise_exception", raise_exception),
        ("args_return", args_return),
        ("message_pingpong", message_pingpong),
        ("float_delay", float_delay),
        ("cache_loop", cache_loop),
        ("bad images", bad_images),
    ];
    c.run_cases("fault", &cases);
    c.exit();
}
