//! `satctl <link> session [SCRIPT]`: one satellite, many commands.
//!
//! Every other satctl command boots a fresh satellite and ends it; a
//! session keeps one up and runs a script (a file, or stdin when absent or
//! `-`) against it, one command a line, so kernels can run back to back, a
//! kernel can be started without awaiting it while others are uploaded or
//! started, and moninj, the log and STATS can be read in between.
//!
//! A line is any satctl command with the same syntax as on satctl's own
//! command line (parsed with the same clap [`Command`]), or a session word:
//!
//! ```text
//! kernel ttl_pulses --run --await 0      # any satctl command
//! wait MS                                # sleep
//! await ID [MS] [finished|exception]     # the end of a kernel started without awaiting
//! echo TEXT                              # print TEXT (all of it: no comment)
//! # a comment (blank lines are skipped too; `#` also ends a line)
//! ```
//!
//! Each line's result is printed when it finishes; with `--json`, one JSON
//! object a line (`line`, `text`, `command`, `ok`, `ms`, `result` or
//! `error`). The session stops at the first failure unless `--keep-going`.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, CommandFactory, Parser};
use satman_systest::master::Outcome;

use super::commands::{self, get_stats, ms, round1, stats_json, Failed, Out};
use super::json::Json;
use super::kernel::{exception_human, exception_json, report_events, EVENTS_MAX_WAIT, EVENTS_QUIET};
use satman_systest::qemu::experiment::settle_events;
use super::target::Target;
use super::Command;

#[derive(Args, Debug, Clone)]
pub struct SessionArgs {
    /// The script: one command a line (`-` or absent: stdin, read as it comes).
    #[arg(value_name = "SCRIPT")]
    pub script: Option<PathBuf>,
    /// Run the remaining lines after a failed one (the session still fails).
    #[arg(long)]
    pub keep_going: bool,
}

/// Default for `await ID` without MS.
const AWAIT_DEFAULT_MS: u64 = 10_000;

/// A script line, parsed with satctl's own command syntax.
#[derive(Parser, Debug)]
#[command(name = "session line", no_binary_name = true, disable_version_flag = true)]
struct Line {
    #[command(subcommand)]
    command: Command,
}

/// How a kernel awaited with `await` must have ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Finished,
    Exception,
}

/// What one script line asks for.
#[derive(Debug)]
pub enum Step {
    /// A blank line or a comment.
    Nothing,
    Echo(String),
    Wait(Duration),
    Await { id: u32, timeout: Duration, expect: Option<Expect> },
    Help(String),
    Command(Box<Command>),
}

/// Splits a line into words as a shell would for satctl's arguments:
/// whitespace separates, `'...'` and `"..."` quote, `\` escapes the next
/// character outside single quotes, and a word starting with `#` starts a
/// comment to the end of the line.
pub fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            // A word starting with `#` starts a comment (`s:#1` is a value).
            '#' if !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated '".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => cur.push(chars.next().ok_or("a \\ at the end of the line")?),
                        Some(c) => cur.push(c),
                        None => return Err("unterminated \"".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next().ok_or("a \\ at the end of the line")?);
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn number<T: std::str::FromStr>(word: &str, what: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    word.parse().map_err(|e| format!("{what} {word:?}: {e}"))
}

/// Parses one script line.
pub fn parse_line(line: &str) -> Result<Step, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Step::Nothing);
    }
    // `echo` takes the rest of the line verbatim (an apostrophe is text).
    if let Some(rest) = trimmed.strip_prefix("echo") {
        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            return Ok(Step::Echo(rest.trim().to_string()));
        }
    }
    let words = tokenize(trimmed)?;
    if words.is_empty() {
        return Ok(Step::Nothing);
    }
    match words[0].as_str() {
        "wait" => match &words[1..] {
            [d] => Ok(Step::Wait(Duration::from_millis(number(d, "wait: MS")?))),
            _ => Err("usage: wait MS".into()),
        },
        "await" => {
            let usage = "usage: await ID [MS] [finished|exception]";
            let (id, rest) = words[1..].split_first().ok_or(usage)?;
            let id = number(id, "await: ID")?;
            let (mut timeout, mut expect) = (Duration::from_millis(AWAIT_DEFAULT_MS), None);
            for (i, w) in rest.iter().enumerate() {
                match w.as_str() {
                    "finished" if expect.is_none() => expect = Some(Expect::Finished),
                    "exception" if expect.is_none() => expect = Some(Expect::Exception),
                    w if i == 0 => timeout = Duration::from_millis(number(w, "await: MS")?),
                    _ => return Err(usage.into()),
                }
            }
            Ok(Step::Await { id, timeout, expect })
        }
        "help" => Ok(Step::Help(format!(
            "{}\nsession words: wait MS | await ID [MS] [finished|exception] | echo TEXT | # comment",
            Line::command().render_help()
        ))),
        _ => {
            let l = Line::try_parse_from(&words).map_err(|e| e.render().to_string().trim_end().to_string())?;
            if matches!(l.command, Command::Session(_)) {
                return Err("a session cannot run a session".into());
            }
            Ok(Step::Command(Box::new(l.command)))
        }
    }
}

/// The words' name in results.
fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Nothing => "",
        Step::Echo(_) => "echo",
        Step::Wait(_) => "wait",
        Step::Await { .. } => "await",
        Step::Help(_) => "help",
        Step::Command(c) => c.name(),
    }
}

/// `await ID`: the end of a kernel started earlier without awaiting.
fn await_kernel(target: &mut dyn Target, id: u32, timeout: Duration, expect: Option<Expect>) -> Result<Json, Failed> {
    let b = target.bench();
    let t = Instant::now();
    let outcome = b.await_finish(id, timeout).map_err(|e| (format!("await subkernel {id}: {e}"), Json::Null))?;
    let d = t.elapsed();
    let mut j = Json::obj().with("id", id).with("ms", ms(d));
    let got = match &outcome {
        Outcome::Finished => {
            println!("await: subkernel {id} finished ({:.2} ms awaited)", d.as_secs_f64() * 1e3);
            j.set("outcome", "finished");
            Expect::Finished
        }
        Outcome::Exception(e) => {
            println!("await: subkernel {id} ended with an exception ({:.2} ms awaited)", d.as_secs_f64() * 1e3);
            println!("{}", exception_human(e));
            j.set("outcome", "exception").set("exception", exception_json(e));
            Expect::Exception
        }
    };
    // Its RTIO events, if no command in between took them.
    // The link may still be carrying its events.
    settle_events(b, EVENTS_QUIET, EVENTS_MAX_WAIT);
    if let Some(ev) = b.observe().take_events() {
        report_events("await", &ev, &mut j);
    }
    if let Ok(s) = get_stats(b) {
        j.set("after", stats_json(&s));
    }
    match expect {
        Some(want) if want != got => Err((format!("subkernel {id} ended {got:?}, expected {want:?}").to_lowercase(), j)),
        _ => Ok(j),
    }
}

/// Runs one parsed step.
fn run_step(step: &Step, target: &mut dyn Target, out: &Out, timeout: Duration) -> Result<Json, Failed> {
    match step {
        Step::Nothing => Ok(Json::Null),
        Step::Echo(text) => {
            println!("{text}");
            Ok(Json::obj().with("text", text.clone()))
        }
        Step::Help(text) => {
            println!("{text}");
            Ok(Json::Null)
        }
        Step::Wait(d) => {
            std::thread::sleep(*d);
            Ok(Json::obj().with("ms", d.as_millis() as u64))
        }
        Step::Await { id, timeout, expect } => await_kernel(target, *id, *timeout, *expect),
        Step::Command(c) => commands::run(c, target, out, timeout),
    }
}

/// The script's lines: the file's, or stdin's as they come.
fn lines(script: Option<&PathBuf>) -> Result<Box<dyn Iterator<Item = std::io::Result<String>>>, String> {
    match script {
        Some(p) if p.as_os_str() != "-" => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(Box::new(text.lines().map(|l| Ok(l.to_string())).collect::<Vec<_>>().into_iter()))
        }
        _ => Ok(Box::new(std::io::stdin().lock().lines())),
    }
}

pub fn session(target: &mut dyn Target, a: &SessionArgs, out: &Out, timeout: Duration) -> Result<Json, Failed> {
    let source = match &a.script {
        Some(p) if p.as_os_str() != "-" => p.display().to_string(),
        _ => "stdin".to_string(),
    };
    let lines = lines(a.script.as_ref()).map_err(|e| (e, Json::Null))?;
    let start = Instant::now();
    let (mut run, mut failures) = (0usize, Vec::new());
    let summary = |run: usize, failures: &Vec<Json>| {
        Json::obj()
            .with("script", source.clone())
            .with("commands", run)
            .with("failed", failures.len())
            .with("failures", Json::Arr(failures.clone()))
            .with("elapsed_ms", round1(start.elapsed().as_secs_f64() * 1e3))
    };
    for (i, line) in lines.enumerate() {
        let n = i + 1;
        let text = line.map_err(|e| (format!("reading {source}: {e}"), summary(run, &failures)))?;
        let parsed = parse_line(&text);
        if matches!(parsed, Ok(Step::Nothing)) {
            continue;
        }
        let text = text.trim().to_string();
        run += 1;
        if !out.json {
            println!("session: [{n}] {text}");
        }
        let t = Instant::now();
        let (name, result) = match &parsed {
            Ok(step) => (step_name(step), run_step(step, target, out, timeout)),
            Err(e) => ("", Err((e.clone(), Json::Null))),
        };
        let d = t.elapsed();
        let mut j = Json::obj().with("line", n).with("text", text.clone()).with("command", name).with("ms", ms(d));
        match result {
            Ok(r) => {
                j.set("ok", true).set("result", r);
                if !out.json {
                    println!("session: [{n}] ok ({:.1} ms)", d.as_secs_f64() * 1e3);
                }
            }
            Err((e, partial)) => {
                eprintln!("satctl: session line {n} ({text}) failed: {e}");
                j.set("ok", false).set("result", partial).set("error", e.clone());
                failures.push(Json::obj().with("line", n).with("text", text.clone()).with("error", e));
            }
        }
        if out.json {
            println!("{j}");
        }
        if !failures.is_empty() && !a.keep_going {
            break;
        }
    }
    let s = summary(run, &failures);
    println!(
        "session: {run} command(s) from {source} in {:.1} s, {} failed",
        start.elapsed().as_secs_f64(),
        failures.len()
    );
    if failures.is_empty() {
        Ok(s)
    } else {
        let first = match &failures[0] {
            Json::Obj(f) => f.iter().find(|(k, _)| k == "line").map(|(_, v)| v.to_string()).unwrap_or_default(),
            _ => String::new(),
        };
        Err((format!("{} of {run} command(s) failed, the first at line {first}", failures.len()), s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_and_quote() {
        assert_eq!(tokenize("  kernel  x --run ").unwrap(), ["kernel", "x", "--run"]);
        assert_eq!(tokenize("kernel x --arg 's:a b' --arg \"s:c \\\"d\\\"\"").unwrap(), ["kernel", "x", "--arg", "s:a b", "--arg", "s:c \"d\""]);
        assert_eq!(tokenize("a\\ b ''").unwrap(), ["a b", ""]);
        assert_eq!(tokenize("ping -n 3   # three").unwrap(), ["ping", "-n", "3"]);
        assert_eq!(tokenize("x --arg s:#1 '#2' \\#3 #4").unwrap(), ["x", "--arg", "s:#1", "#2", "#3"]);
        assert!(tokenize("x 'open").is_err());
        assert!(tokenize("x \"open").is_err());
        assert!(tokenize("x \\").is_err());
    }

    #[test]
    fn lines_parse_as_satctl_commands() {
        assert!(matches!(parse_line("   ").unwrap(), Step::Nothing));
        assert!(matches!(parse_line(" # kernel x").unwrap(), Step::Nothing));
        match parse_line("kernel ttl_pulses --run --await 0").unwrap() {
            Step::Command(c) => match *c {
                Command::Kernel(k) => assert!(k.run && k.await_ms == 0 && k.id == 1),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_line("ping -n 10").unwrap(), Step::Command(c) if matches!(*c, Command::Ping { count: 10 })));
        assert!(matches!(parse_line("config read log_level").unwrap(), Step::Command(_)));
        assert!(matches!(parse_line("moninj --channel 15 --watch 200").unwrap(), Step::Command(_)));
        assert!(parse_line("dma").unwrap_err().contains("--pulses"));
        assert!(parse_line("frobnicate").is_err());
        assert!(parse_line("session x").unwrap_err().contains("cannot run a session"));
        assert!(matches!(parse_line("help").unwrap(), Step::Help(h) if h.contains("await ID")));
    }

    #[test]
    fn session_words() {
        assert!(matches!(parse_line("echo it's  here ").unwrap(), Step::Echo(t) if t == "it's  here"));
        assert!(matches!(parse_line("echo").unwrap(), Step::Echo(t) if t.is_empty()));
        assert!(matches!(parse_line("wait 250").unwrap(), Step::Wait(d) if d == Duration::from_millis(250)));
        assert!(parse_line("wait").is_err());
        assert!(parse_line("wait soon").is_err());
        assert!(matches!(
            parse_line("await 3").unwrap(),
            Step::Await { id: 3, timeout, expect: None } if timeout == Duration::from_millis(AWAIT_DEFAULT_MS)
        ));
        assert!(matches!(
            parse_line("await 3 500 exception").unwrap(),
            Step::Await { id: 3, timeout, expect: Some(Expect::Exception) } if timeout == Duration::from_millis(500)
        ));
        assert!(matches!(parse_line("await 1 finished").unwrap(), Step::Await { id: 1, expect: Some(Expect::Finished), .. }));
        assert!(parse_line("await").is_err());
        assert!(parse_line("await 1 2 3").is_err());
        assert!(parse_line("await 1 finished exception").is_err());
    }
}
