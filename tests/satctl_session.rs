//! `satctl <link> session`: one satellite, many commands. Over `sim`
//! (always, fast): kernels back to back, a kernel started without awaiting
//! and another started over it, an upload while one runs, STATS, moninj
//! and the log in between, `await` of the kernel started earlier; the
//! stop at the first failure and `--keep-going`; `scenario --learn` and
//! `scenario --pulses`. Over `qemu` (with the firmware the build script
//! builds; a loud skip with SATMAN_SKIP_FIRMWARE): one short session with
//! the real test kernels.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs satctl with `script` on stdin.
fn satctl(args: &[&str], script: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_satctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run satctl");
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write the script");
    let out = child.wait_with_output().expect("wait for satctl");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The per-line JSON objects of a `--json` session, by line number.
fn line_results(stdout: &str) -> Vec<(usize, String)> {
    stdout
        .lines()
        .filter(|l| l.starts_with("{\"line\":"))
        .map(|l| {
            let n = l["{\"line\":".len()..].split(',').next().and_then(|n| n.parse().ok()).expect("a line number");
            (n, l.to_string())
        })
        .collect()
}

/// The result of script line `n`, which must have run.
fn line(results: &[(usize, String)], n: usize) -> &str {
    &results.iter().find(|(i, _)| *i == n).unwrap_or_else(|| panic!("line {n} did not run: {results:?}")).1
}

fn expect_in(hay: &str, wants: &[&str]) {
    for want in wants {
        assert!(hay.contains(want), "{want} not in {hay}");
    }
}

/// The session both links run: the test kernels' names (the sim link maps
/// them to its stand-ins).
const SCRIPT: &str = "\
# two kernels back to back
kernel ttl_pulses --run
kernel dma_record_playback --id 2 --run
echo one started without awaiting, an upload while it runs
kernel never_finishes --id 3 --run --await 0
kernel ttl_pulses --id 1   # uploaded while 3 runs
stats
moninj --channel 15 --watch 100
log
# another started over it: it replaces the one running
kernel ttl_pulses --id 1 --run --await 0
await 3 2000 exception
await 1 5000 finished
stats
ping -n 10
";

fn check_session(link: &str) {
    // QEMU on a loaded machine, with a kernel spinning on the other CPU,
    // can stall a reply past the ARTIQ master's 200 ms.
    let (code, stdout, stderr) = satctl(&["--json", "--reply-timeout", "1000", link, "session"], SCRIPT);
    assert_eq!(code, 0, "satctl {link} session failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let r = line_results(&stdout);
    assert_eq!(r.len(), 13, "one JSON object per command line: {r:?}");
    assert!(r.iter().all(|(_, l)| l.contains("\"ok\":true")), "{r:?}");
    // Back to back, on one satellite: both ran, each emitted its train.
    expect_in(line(&r, 2), &["\"command\":\"kernel\"", "\"outcome\":\"finished\"", "\"pulses\":{\"seen\":100,"]);
    expect_in(line(&r, 3), &["\"outcome\":\"finished\"", "\"pulses\":{\"seen\":100,"]);
    // Started, not awaited; an upload of another id while it runs.
    expect_in(line(&r, 5), &["\"outcome\":\"not awaited\""]);
    expect_in(line(&r, 6), &["\"outcome\":\"not run\""]);
    expect_in(line(&r, 7), &["\"kernel_state\":\"running\",\"kernel_id\":3"]);
    expect_in(line(&r, 8), &["\"command\":\"moninj\"", "\"samples\":"]);
    expect_in(line(&r, 9), &["subkernel 3: started", "subkernel 1: uploaded"]);
    // Another started over it: the first ends "replaced", the second runs.
    expect_in(line(&r, 11), &["\"outcome\":\"not awaited\""]);
    expect_in(line(&r, 12), &["\"command\":\"await\"", "\"outcome\":\"exception\"", "replaced"]);
    expect_in(line(&r, 13), &["\"outcome\":\"finished\""]);
    expect_in(line(&r, 14), &["\"kernel_state\":\"idle\""]);
    let last = stdout.lines().last().unwrap_or("");
    expect_in(last, &["\"ok\":true", "\"command\":\"session\"", "\"commands\":13,\"failed\":0", "\"exit\":{\"code\":0"]);
    eprintln!("satctl {link} session --json: {last}");
}

#[test]
fn satctl_sim_session() {
    check_session("sim");
}

#[test]
fn satctl_qemu_session() {
    if satman_systest::qemu::skip_test("satctl_qemu_session") {
        return;
    }
    check_session("qemu");
}

#[test]
fn satctl_sim_session_stops_at_the_first_failure() {
    let script = "ping -n 2\nawait 9 50\nbogus --x\necho last\n";
    let (code, stdout, stderr) = satctl(&["--json", "sim", "session", "-"], script);
    assert_eq!(code, 1, "a failed line fails the session\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let r = line_results(&stdout);
    assert_eq!(r.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 2], "{r:?}");
    expect_in(line(&r, 2), &["\"ok\":false", "await subkernel 9"]);
    expect_in(stdout.lines().last().unwrap_or(""), &["\"ok\":false", "the first at line 2"]);

    let (code, stdout, _) = satctl(&["--json", "sim", "session", "--keep-going"], script);
    assert_eq!(code, 1);
    let r = line_results(&stdout);
    assert_eq!(r.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 2, 3, 4], "{r:?}");
    expect_in(line(&r, 3), &["\"ok\":false", "unrecognized subcommand"]);
    expect_in(line(&r, 4), &["\"ok\":true", "\"text\":\"last\""]);
    expect_in(stdout.lines().last().unwrap_or(""), &["\"commands\":4,\"failed\":2"]);
}

#[test]
fn satctl_sim_session_script_file() {
    let dir = std::env::temp_dir().join(format!("satctl-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("script.txt");
    std::fs::write(&path, "kernel ttl_pulses --run\nkernel ttl_pulses --run\nwait 10\nstats\n").unwrap();
    let (code, stdout, stderr) = satctl(&["sim", "session", path.to_str().unwrap()], "");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    for want in ["session: [1] kernel ttl_pulses --run", "session: [4] ok", "4 command(s) from", "0 failed", "2 finished, 0 failed"] {
        assert!(stdout.contains(want), "{want} not in\n{stdout}");
    }
    assert_eq!(stdout.matches("kernel: finished").count(), 2, "{stdout}");
}

#[test]
fn satctl_sim_scenario_learns_or_takes_the_train() {
    let (code, stdout, stderr) = satctl(&["--json", "sim", "scenario", "--runs", "3", "--learn"], "");
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("learned A: 100 pulse(s) on channel 15, period 1000000 mu, width 500000 mu"), "{stdout}");
    expect_in(stdout.lines().last().unwrap_or(""), &["\"ok\":true", "\"runs\":3,", "\"learned\":true", "\"period_mu\":1000000"]);

    let (code, stdout, stderr) = satctl(&["sim", "scenario", "--pulses", "100", "--period", "1000000", "--width", "500000"], "");
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    // A train the kernels do not emit fails the run, saying why.
    let (code, _, stderr) = satctl(&["sim", "scenario", "--pulses", "99"], "");
    assert_eq!(code, 1);
    assert!(stderr.contains("200 events, expected 198"), "{stderr}");
    let (code, _, stderr) = satctl(&["sim", "scenario", "--period", "1000", "--width", "1000"], "");
    assert_eq!(code, 1, "{stderr}");
    let (code, _, stderr) = satctl(&["sim", "scenario", "--learn", "--pulses", "3"], "");
    assert_eq!(code, 2, "--learn with a train is a usage error: {stderr}");
}
