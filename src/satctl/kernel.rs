//! `satctl <link> kernel ELF ...`: one subkernel, as a master would drive
//! it: upload in SubkernelAddDataRequest chunks, preload and/or run
//! (SubkernelLoadRunRequest), arguments and messages (SubkernelMessage,
//! values encoded by [`encode_values`]), its messages awaited and decoded,
//! `SubkernelFinished` awaited, and the exception fetched
//! (SubkernelExceptionRequest) and printed if it raised.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libksupport::exception::ParsedException;
use satman_systest::master::{decode_values, encode_values, MasterError, Outcome, Value};
use satman_systest::qemu::bench::{summarize, CounterEstimate};
use satman_systest::qemu::experiment::{settle_events, BREAK_REALTIME_MU};
use satman_systest::qemu::{Bench, Event};

use super::commands::{get_stats, ms, pulse_table, stats_json, Failed, Out};
use super::json::Json;
use super::target::Target;
use super::KernelArgs;

/// A kernel's RTIO events are all in once none came for this long...
pub const EVENTS_QUIET: Duration = Duration::from_millis(100);
/// ...or after this long.
pub const EVENTS_MAX_WAIT: Duration = Duration::from_secs(5);

/// ARTIQ's fixed exception ids (kernel-abi.md §3).
const EXCEPTION_NAMES: &[&str] = &[
    "RTIOUnderflow",
    "RTIOOverflow",
    "RTIODestinationUnreachable",
    "DMAError",
    "I2CError",
    "CacheError",
    "SPIError",
    "SubkernelError",
    "AssertionError",
    "AttributeError",
    "IndexError",
    "IOError",
    "KeyError",
    "NotImplementedError",
    "OverflowError",
    "RuntimeError",
    "TimeoutError",
    "TypeError",
    "ValueError",
    "ZeroDivisionError",
    "LinAlgError",
    "UnwrapNoneError",
    "CXPError",
];

pub fn exception_name(id: u32) -> &'static str {
    EXCEPTION_NAMES.get(id as usize).copied().unwrap_or("(host-defined exception)")
}

/// The message with `{0}`..`{2}` replaced by the parameters.
pub fn format_message(message: &str, param: &[i64; 3]) -> String {
    let mut m = message.to_string();
    for (i, p) in param.iter().enumerate() {
        m = m.replace(&format!("{{{i}}}"), &p.to_string());
    }
    m
}

pub fn exception_json(e: &ParsedException) -> Json {
    Json::obj()
        .with("id", e.id)
        .with("name", exception_name(e.id))
        .with("message", e.message.clone())
        .with("formatted", e.message.as_deref().map(|m| format_message(m, &e.param)))
        .with("params", e.param.to_vec())
        .with("file", e.file.clone())
        .with("line", e.line)
        .with("column", e.column)
        .with("function", e.function.clone())
}

pub fn exception_human(e: &ParsedException) -> String {
    let raw = e.message.as_deref().unwrap_or("<host string>");
    [
        format!("exception: {} (id {}): {}", exception_name(e.id), e.id, format_message(raw, &e.param)),
        format!("  message   {raw:?}"),
        format!("  params    {}, {}, {}", e.param[0], e.param[1], e.param[2]),
        format!("  raised at {}:{}:{} in {}", e.file, e.line, e.column, e.function),
    ]
    .join("\n")
}

/// `path` if it is a file, else the built test kernel of that name.
pub fn resolve_elf(path: &Path) -> Result<PathBuf, String> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let name = path.to_string_lossy();
    if !name.contains('/') {
        if let Some(dir) = satman_systest::qemu::kernels_dir() {
            let stem = name.strip_suffix(".elf").unwrap_or(&name);
            let p = dir.join(format!("{stem}.elf"));
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(format!("{}: no such file (nor a built test kernel of that name)", path.display()))
}

/// The satellite log's lines about subkernel `id` that explain a refusal
/// (CoreMgmtGetLogRequest), last first is not needed: in log order.
pub fn refusal_cause(b: &mut dyn Bench, destination: u8, id: u32) -> Option<String> {
    let log = b.get_log(destination, false).ok()?;
    let log = String::from_utf8_lossy(&log);
    let tag = format!("subkernel {id}:");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&tag) && (l.contains("refused") || l.contains("fail"))).collect();
    lines.last().map(|l| l.to_string())
}

fn refused(b: &mut dyn Bench, e: MasterError, destination: u8, id: u32, what: &str) -> String {
    let mut msg = format!("{what}: {e}");
    if matches!(e, MasterError::Refused(_)) {
        if let Some(cause) = refusal_cause(b, destination, id) {
            msg.push_str(&format!("; the satellite log says: {cause}"));
        }
    }
    msg
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

/// Awaits a message from subkernel `id`; `Ok(None)` if the subkernel
/// finished first.
fn await_message(b: &mut dyn Bench, id: u32, timeout: Duration) -> Result<Option<Vec<u8>>, MasterError> {
    let deadline = Instant::now() + timeout;
    loop {
        let slice = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(50));
        match b.await_message(id, slice) {
            Ok(m) => return Ok(Some(m)),
            // The master's state says the subkernel ended without it.
            Err(MasterError::SubkernelException | MasterError::CommLost) => return Ok(None),
            Err(MasterError::Timeout(w)) => {
                if b.finished().iter().any(|f| f.id == id) {
                    return Ok(None);
                }
                if Instant::now() >= deadline {
                    return Err(MasterError::Timeout(w));
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn received_json(data: &[u8], tag: Option<&str>) -> (String, Json) {
    let mut j = Json::obj().with("hex", hex(data));
    let human = match tag.map(|t| decode_values(t, data)) {
        Some(Ok(values)) => {
            let shown: Vec<String> = values.iter().map(Value::to_string).collect();
            j.set("values", shown.clone());
            shown.join(", ")
        }
        Some(Err(e)) => {
            j.set("decode_error", e.clone());
            format!("{} (not decodable with the tags: {e})", hex(data))
        }
        None => hex(data),
    };
    (human, j)
}

pub fn kernel(target: &mut dyn Target, a: &KernelArgs, out: &Out) -> Result<Json, Failed> {
    let (name, image) = target.kernel_image(&a.image).map_err(|e| (e, Json::Null))?;
    let b = target.bench();
    let (dest, id) = (a.destination, a.id);
    let chunks = image.len().div_ceil(libdrtio::MASTER_PAYLOAD_MAX_SIZE).max(1);
    let mut j = Json::obj().with("elf", name.clone()).with("bytes", image.len()).with("id", id).with("destination", dest);
    b.init_link(dest).map_err(|e| (format!("link up: {e}"), j.clone()))?;
    let counter = match b.observe().stats() {
        Some(Ok(s)) => Some(CounterEstimate::from_stats(&s)),
        Some(Err(e)) => return Err((format!("STATS: {e}"), j)),
        None => None,
    };
    // Events from before this command are not the kernel's.
    b.observe().take_events();

    let t = Instant::now();
    b.upload_subkernel(dest, id, &image).map_err(|e| (format!("upload: {e}"), j.clone()))?;
    let upload = t.elapsed();
    let rate = image.len() as f64 / upload.as_secs_f64();
    println!(
        "kernel: uploaded {} ({} bytes, {chunks} chunk(s)) as subkernel {id} of destination {dest} in {:.2} ms ({:.0} bytes/s)",
        name,
        image.len(),
        upload.as_secs_f64() * 1e3,
        rate
    );
    j.set("upload", Json::obj().with("ms", ms(upload)).with("chunks", chunks).with("bytes_per_s", rate.round()));

    if a.preload {
        let t = Instant::now();
        b.load_run(dest, id, false, 0).map_err(|e| (refused(b, e, dest, id, "preload"), j.clone()))?;
        let d = t.elapsed();
        println!("kernel: preloaded: SubkernelLoadRunReply after {:.2} ms", d.as_secs_f64() * 1e3);
        j.set("preload_ms", ms(d));
    }
    if !a.run {
        if !a.args.is_empty() || !a.messages.is_empty() || a.expect_message {
            out.status("not run (no --run): arguments and messages not sent");
        }
        j.set("outcome", "not run");
        return Ok(j);
    }

    let timestamp = match (a.timestamp, counter) {
        (Some(t), _) => t,
        (None, Some(c)) => (c.now() + BREAK_REALTIME_MU) as u64,
        (None, None) => {
            out.status("this link has no STATS, so the counter is unknown: running at timestamp 0 (use --timestamp)");
            0
        }
    };
    let t = Instant::now();
    b.load_run(dest, id, true, timestamp).map_err(|e| (refused(b, e, dest, id, "run"), j.clone()))?;
    let d = t.elapsed();
    let started = Instant::now();
    println!(
        "kernel: {} at timestamp {timestamp}: SubkernelLoadRunReply after {:.2} ms",
        if a.preload { "run (preloaded)" } else { "loaded and run" },
        d.as_secs_f64() * 1e3
    );
    j.set("run_ms", ms(d)).set("timestamp", timestamp);

    let wait = Duration::from_millis(a.await_ms.max(1));
    let mut received = Vec::new();
    if !a.args.is_empty() {
        let t = Instant::now();
        b.send_message(dest, id, &encode_values(&a.args)).map_err(|e| (format!("arguments: {e}"), j.clone()))?;
        let shown: Vec<String> = a.args.iter().map(Value::to_string).collect();
        println!("kernel: sent {} argument(s) ({}) in {:.2} ms", a.args.len(), shown.join(", "), t.elapsed().as_secs_f64() * 1e3);
        j.set("args", shown);
    }
    let expect = |b: &mut dyn Bench, received: &mut Vec<Json>, j: &Json| -> Result<bool, Failed> {
        let t = Instant::now();
        match await_message(b, id, wait).map_err(|e| (format!("awaiting a message: {e}"), j.clone()))? {
            Some(m) => {
                let (human, mj) = received_json(&m, a.tag.as_deref());
                println!("kernel: received a message after {:.2} ms: {human}", t.elapsed().as_secs_f64() * 1e3);
                received.push(mj.with("ms", ms(t.elapsed())));
                Ok(true)
            }
            None => {
                println!("kernel: the subkernel ended before sending the message awaited");
                Ok(false)
            }
        }
    };
    let message_id = a.message_id.unwrap_or(id);
    for (i, v) in a.messages.iter().enumerate() {
        let t = Instant::now();
        b.send_message(dest, message_id, &encode_values(std::slice::from_ref(v)))
            .map_err(|e| (format!("message {}: {e}", i + 1), j.clone()))?;
        println!("kernel: sent message {} (id {message_id}): {v} in {:.2} ms", i + 1, t.elapsed().as_secs_f64() * 1e3);
        if a.expect_message && !expect(b, &mut received, &j)? {
            break;
        }
    }
    if a.messages.is_empty() && a.expect_message {
        expect(b, &mut received, &j)?;
    }
    j.set("messages_sent", a.messages.len()).set("received", Json::Arr(received));

    if a.await_ms == 0 {
        j.set("outcome", "not awaited");
        return Ok(j);
    }
    let outcome = b.await_finish(id, wait).map_err(|e| (format!("await: {e}"), j.clone()))?;
    let finish = started.elapsed();
    match &outcome {
        Outcome::Finished => {
            println!("kernel: finished {:.2} ms after the run reply", finish.as_secs_f64() * 1e3);
            j.set("outcome", "finished");
        }
        Outcome::Exception(e) => {
            println!("kernel: ended with an exception {:.2} ms after the run reply", finish.as_secs_f64() * 1e3);
            println!("{}", exception_human(e));
            j.set("outcome", "exception").set("exception", exception_json(e));
        }
    }
    j.set("finish_ms", ms(finish));

    // The link may still be carrying its events.
    settle_events(b, EVENTS_QUIET, EVENTS_MAX_WAIT);
    if let Some(ev) = b.observe().take_events() {
        report_events("kernel", &ev, &mut j);
    }
    if let Ok(s) = get_stats(b) {
        println!(
            "kernel: after: kernel {}, heap0 {} bytes, heap1 {} bytes, DDMA {} bytes in {} trace(s)",
            s.kernel_state, s.heap0_used, s.heap1_used, s.ddma_in_use, s.ddma_traces
        );
        println!("kernel: CPU1's heap in the run: {}", super::commands::heap1_run_human(&s));
        j.set("after", stats_json(&s));
    }
    Ok(j)
}

/// Prints and records `ev` (the events of one kernel): count, sources,
/// targets, and the pulse table when they are on one target.
pub fn report_events(label: &str, ev: &[Event], j: &mut Json) {
    j.set("events", ev.len());
    if ev.is_empty() {
        println!("{label}: no RTIO events");
        return;
    }
    let mut targets: Vec<u32> = ev.iter().map(|e| e.target).collect();
    targets.sort_unstable();
    targets.dedup();
    let sources: Vec<&str> = {
        let mut s: Vec<&str> = ev.iter().map(|e| e.source.name()).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    println!(
        "{label}: {} RTIO event(s) from {} on target(s) {}",
        ev.len(),
        sources.join(", "),
        targets.iter().map(|t| format!("{t:#010x}")).collect::<Vec<_>>().join(", ")
    );
    if targets.len() == 1 {
        let sum = summarize(ev);
        println!("{}", pulse_table(&sum));
        j.set(
            "pulses",
            Json::obj()
                .with("seen", sum.pulses)
                .with("first_timestamp", sum.first_timestamp)
                .with("period", sum.period.map(|p| vec![p.0, p.1]))
                .with("width", sum.width.map(|w| vec![w.0, w.1])),
        );
    }
}
