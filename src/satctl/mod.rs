//! satctl: bench tests of a satman satellite without a DRTIO master.
//!
//! ```text
//! satctl [--json] [--elf PATH] [--timeout S] [--reply-timeout MS] <LINK> <COMMAND>
//!   LINK:    qemu   boot the firmware in QEMU (2 CPUs), aux over UART0
//!            sim    the satellite core on simulated hardware, same contract
//!   COMMAND: ping | log | stats | dma --pulses N | demo | scenario [--runs R]
//! ```
//!
//! Human output goes to stdout, progress and diagnostics to stderr; with
//! `--json` the last line of stdout is one JSON object summarising the run
//! (`ok`, `link`, `command`, `boot`, `result`, `exit`, `error`).
//!
//! Exit status: 0 ok, 1 the command failed, 2 usage, 3 the command passed
//! but the target ended badly (firmware exit code, qemu.log lines).

mod commands;
mod json;
mod progress;
mod target;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use json::Json;
use target::{Connect, QemuTarget, SimTarget, Target};

#[derive(Parser, Debug)]
#[command(name = "satctl", version, about = "Bench tests of a satman DRTIO satellite, without a master")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub link: Link,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Print a machine-readable summary object as the last line of stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Firmware ELF (default: $SATMAN_ELF, else the one the build script built).
    #[arg(long, global = true, value_name = "PATH")]
    pub elf: Option<PathBuf>,
    /// Seconds to wait for the firmware's READY, a DMA playback status, or RTIO events.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30.0)]
    pub timeout: f64,
    /// Per-reply timeout of the master, in ms (the ARTIQ master uses 200).
    #[arg(long, global = true, value_name = "MS", default_value_t = 200)]
    pub reply_timeout: u64,
    /// Keep QEMU's log directory (uart1.log, qemu.log) and print its path.
    #[arg(long, global = true)]
    pub keep_logs: bool,
}

/// Which link reaches the satellite.
#[derive(Subcommand, Debug)]
pub enum Link {
    /// Boot the firmware in QEMU (xilinx-zynq-a9, 2 CPUs) and talk to it over UART0.
    Qemu {
        #[command(subcommand)]
        command: Command,
    },
    /// The satellite core on simulated hardware behind the same link contract (no QEMU, no firmware).
    Sim {
        #[command(subcommand)]
        command: Command,
    },
}

impl Link {
    fn name(&self) -> &'static str {
        match self {
            Link::Qemu { .. } => "qemu",
            Link::Sim { .. } => "sim",
        }
    }

    fn command(&self) -> &Command {
        match self {
            Link::Qemu { command } | Link::Sim { command } => command,
        }
    }

    fn connect(&self, c: &Connect) -> Result<Box<dyn Target>, String> {
        Ok(match self {
            Link::Qemu { .. } => Box::new(QemuTarget::start(c)?),
            Link::Sim { .. } => Box::new(SimTarget::start(c)?),
        })
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Echo round trips: count and mean/min/max round-trip time.
    Ping {
        #[arg(long, short = 'n', default_value_t = 100)]
        count: usize,
    },
    /// Print the satellite's log (CoreMgmtGetLogRequest).
    Log {
        /// Clear the log after reading it.
        #[arg(long)]
        clear: bool,
        /// The satellite's destination number.
        #[arg(long, default_value_t = 1)]
        destination: u8,
    },
    /// Heap, DDMA store and kernel counters (CONTROL STATS).
    Stats,
    /// DDMA round trips: upload a trace of TTL pulses in chunks, play it,
    /// await its status, check its RTIO events, remove it, check the heap.
    Dma(DmaArgs),
    /// Boot, link up, ping, one DDMA trace of 100 TTL pulses, summary, clean exit.
    Demo,
    /// The user's experiment: subkernel A (ttl_pulses) and B
    /// (dma_record_playback) preloaded, run and awaited; RTIO events, heap
    /// and DDMA arena checked after every run.
    Scenario(ScenarioArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ScenarioArgs {
    /// Submissions of the experiment in a row.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Directory of the built test kernels (default: the build script's).
    #[arg(long, value_name = "DIR")]
    pub kernels: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct DmaArgs {
    /// TTL pulses in the trace (two records each).
    #[arg(long)]
    pub pulses: usize,
    /// Round trips in a row.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// RTIO channel of the TTL output.
    #[arg(long, default_value_t = 15)]
    pub channel: u16,
    /// The satellite's destination number (also the trace's target bits 24–31).
    #[arg(long, default_value_t = 1)]
    pub destination: u8,
    /// Pulse period in machine units.
    #[arg(long, default_value_t = 1000)]
    pub period: i64,
    /// Pulse width in machine units (default: half the period).
    #[arg(long)]
    pub width: Option<i64>,
    /// Playback starts this many machine units after the satellite's
    /// counter (estimated from STATS; 1 mu = 1 µs in QEMU).
    #[arg(long, default_value_t = 200_000)]
    pub slack: i64,
    /// Trace id.
    #[arg(long, default_value_t = 1)]
    pub id: u32,
}

/// Runs satctl with `args`; returns the process exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    run(cli)
}

fn run(cli: Cli) -> i32 {
    let g = &cli.global;
    let command = cli.link.command().clone();
    let mut summary = Json::obj().with("ok", false).with("link", cli.link.name()).with("command", command.name());
    let out = commands::Out { json: g.json };

    let timeout = Duration::from_secs_f64(g.timeout.max(0.1));
    let connect = Connect {
        elf: g.elf.clone(),
        timeout,
        reply_timeout: Duration::from_millis(g.reply_timeout.max(1)),
        keep_logs: g.keep_logs,
        verbose: !g.json,
    };
    let mut target = match cli.link.connect(&connect) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("satctl: {e}");
            summary.set("error", e);
            finish(&out, summary);
            return 1;
        }
    };
    if let Some(b) = target.boot() {
        out.status(&format!(
            "READY after {} ms (firmware main loop at {} µs, CPU1 {})",
            b.ready.as_millis(),
            b.boot_us,
            if b.cpu1_up { "up" } else { "NOT up" }
        ));
        summary.set("boot", commands::boot_json(&b));
    }

    let result = commands::run(&command, target.as_mut(), &out, timeout);
    let failed = result.is_err();
    if failed {
        if let Some(d) = target.diagnostics() {
            eprintln!("satctl: diagnostics:\n{d}");
        }
    }
    let closed = target.close();
    for (k, v) in closed.json {
        summary.set(&k, v);
    }
    for p in &closed.problems {
        eprintln!("satctl: {p}");
    }
    let code = match result {
        Ok(r) => {
            summary.set("result", r);
            if closed.problems.is_empty() {
                summary.set("ok", true);
                0
            } else {
                summary.set("error", closed.problems.join("; "));
                3
            }
        }
        Err((e, partial)) => {
            eprintln!("satctl: {} failed: {e}", command.name());
            summary.set("result", partial).set("error", e);
            1
        }
    };
    if code == 0 {
        out.status(&format!("{}: ok", target.name()));
    }
    finish(&out, summary);
    code
}

fn finish(out: &commands::Out, summary: Json) {
    if out.json {
        println!("{summary}");
    }
}
