//! satctl end to end: `demo` and `scenario` with `--json`, over the `sim`
//! link (always) and the `qemu` link (with the firmware and kernels the
//! build script builds; a loud skip with SATMAN_SKIP_FIRMWARE); `kernel`
//! (an exception, a return value) and `measure --icount 0` over `qemu`.

use std::process::Command;

fn satctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_satctl")).args(args).output().expect("run satctl");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The last line of stdout, which `--json` promises is the summary object.
fn summary(stdout: &str) -> &str {
    let last = stdout.lines().last().unwrap_or("");
    assert!(last.starts_with('{') && last.ends_with('}'), "last line is not a JSON object: {last:?}");
    last
}

fn check_demo(link: &str) {
    let (code, stdout, stderr) = satctl(&["--json", link, "demo"]);
    assert_eq!(code, 0, "satctl {link} demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let s = summary(&stdout);
    for want in [
        "\"ok\":true",
        &format!("\"link\":\"{link}\""),
        "\"command\":\"demo\"",
        "\"pulses\":{\"seen\":100,",
        "\"period\":1000,\"width\":500}",
        "\"events_checked\":true",
        "\"exit\":{\"code\":0",
    ] {
        assert!(s.contains(want), "{want} not in {s}");
    }
    assert!(stdout.contains("pulses seen"), "the human table:\n{stdout}");
    assert!(!stderr.contains("dma ["), "no progress bar with --json");
    eprintln!("satctl {link} demo --json: {s}");
}

#[test]
fn satctl_sim_demo() {
    check_demo("sim");
}

#[test]
fn satctl_qemu_demo() {
    if satman_systest::qemu::skip_test("satctl_qemu_demo") {
        return;
    }
    check_demo("qemu");
}

fn check_scenario(link: &str, runs: &str) {
    let (code, stdout, stderr) = satctl(&["--json", link, "scenario", "--runs", runs]);
    assert_eq!(code, 0, "satctl {link} scenario failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let s = summary(&stdout);
    for want in ["\"ok\":true", &format!("\"runs\":{runs},"), "\"events_checked\":true"] {
        assert!(s.contains(want), "{want} not in {s}");
    }
    eprintln!("satctl {link} scenario --json: {s}");
}

#[test]
fn satctl_sim_scenario() {
    check_scenario("sim", "3");
}

#[test]
fn satctl_qemu_scenario() {
    if satman_systest::qemu::skip_test("satctl_qemu_scenario") {
        return;
    }
    check_scenario("qemu", "20");
}

#[test]
fn satctl_usage_errors() {
    let (code, _, stderr) = satctl(&["qemu", "dma"]);
    assert_eq!(code, 2, "missing --pulses is a usage error: {stderr}");
    let (code, _, stderr) = satctl(&["serial", "ping"]);
    assert_eq!(code, 2, "unknown link: {stderr}");
    let (code, _, stderr) = satctl(&["qemu", "kernel"]);
    assert_eq!(code, 2, "kernel without an ELF: {stderr}");
    let (code, _, stderr) = satctl(&["qemu", "kernel", "x.elf", "--arg", "q:1"]);
    assert_eq!(code, 2, "unknown value tag: {stderr}");
}

#[test]
fn satctl_qemu_kernel() {
    if satman_systest::qemu::skip_test("satctl_qemu_kernel") {
        return;
    }
    let (code, stdout, stderr) = satctl(&["--json", "qemu", "kernel", "raise_exception", "--preload", "--run"]);
    assert_eq!(code, 0, "satctl qemu kernel raise_exception failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let s = summary(&stdout);
    for want in [
        "\"ok\":true",
        "\"outcome\":\"exception\"",
        "\"id\":18,\"name\":\"ValueError\"",
        "\"formatted\":\"value 7 outside [-1, 5]\"",
        "\"params\":[7,-1,5]",
        "\"file\":\"raise_exception.py\",\"line\":42,\"column\":8,\"function\":\"_Z15raise_exceptionv\"",
    ] {
        assert!(s.contains(want), "{want} not in {s}");
    }
    assert!(stdout.contains("raised at raise_exception.py:42:8"), "the human report:\n{stdout}");

    let (code, stdout, stderr) =
        satctl(&["--json", "qemu", "kernel", "args_return", "--run", "--arg", "i:3", "--arg", "i:39", "--expect-message", "--tag", "i"]);
    assert_eq!(code, 0, "satctl qemu kernel args_return failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let s = summary(&stdout);
    for want in ["\"outcome\":\"finished\"", "\"received\":[{\"hex\":\"01 2a 00 00 00\",\"values\":[\"42\"]"] {
        assert!(s.contains(want), "{want} not in {s}");
    }
}

#[test]
fn satctl_qemu_measure() {
    if satman_systest::qemu::skip_test("satctl_qemu_measure") {
        return;
    }
    // Under -icount QEMU runs both CPUs on one thread: a preload's reply
    // takes ~100-150 ms of wall time on an idle 2-core machine, too close to
    // the master's 200 ms; the figures are instruction counts anyway.
    let (code, stdout, stderr) =
        satctl(&["--json", "--icount", "0", "--reply-timeout", "1000", "qemu", "measure", "--uploads", "3", "--repeat", "2"]);
    assert_eq!(code, 0, "satctl --icount 0 qemu measure failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let s = summary(&stdout);
    for want in ["\"ok\":true", "\"icount_shift\":0", "\"reloads\":0", "\"instructions\":", "\"cpu1_instructions_median\":"] {
        assert!(s.contains(want), "{want} not in {s}");
    }
    eprintln!("{}", stdout.lines().filter(|l| !l.starts_with('{')).collect::<Vec<_>>().join("\n"));
}
