//! satctl: bench tests of a satman satellite without a DRTIO master.
//!
//! ```text
//! satctl [--json] [--elf PATH] [--timeout S] [--reply-timeout MS] <LINK> <COMMAND>
//!   LINK:    qemu   boot the firmware in QEMU (2 CPUs), aux over UART0
//!            sim    the satellite core on simulated hardware, same contract
//!   COMMAND: ping | log | stats | dma --pulses N | demo
//!            | scenario [--runs R] [--a ELF] [--b ELF] [--pulses N --period MU --width MU | --learn]
//!            | kernel ELF [--preload] [--run] [--arg T:V]... [--message T:V]... [--await MS]
//!            | measure [--uploads N] [--repeat R]
//!            | moninj [--channel C] [--override LEVEL] [--release] [--watch MS] [--kernel ELF]
//!            | session [SCRIPT] [--keep-going]   (one satellite, a command a line)
//! satctl [--json] sdcard make -o IMG [--boot BOOT.BIN] [--size 64M] [--config K=V]... | ls IMG
//! ```
//!
//! Human output goes to stdout, progress and diagnostics to stderr; with
//! `--json` the last line of stdout is one JSON object summarising the run
//! (`ok`, `link`, `command`, `boot`, `result`, `exit`, `error`).
//!
//! Exit status: 0 ok, 1 the command failed, 2 usage, 3 the command passed
//! but the target ended badly (firmware exit code, qemu.log lines).

mod analyzer;
mod commands;
mod image;
mod json;
mod kernel;
mod measure;
mod mgmt;
mod moninj;
mod progress;
mod sdcard;
mod session;
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
    /// Run QEMU with `-icount shift=SHIFT` (deterministic virtual time:
    /// 2^SHIFT ns per instruction; `measure` then reports instruction counts).
    #[arg(long, global = true, value_name = "SHIFT")]
    pub icount: Option<u8>,
    /// One more argument for QEMU (repeatable).
    #[arg(long = "qemu-arg", global = true, value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
    /// QEMU: put this SD card image in SD0 and boot through the loader,
    /// which loads satman from the card's BOOT.BIN (`satctl sdcard make`).
    /// Config and flash then persist in the image across runs.
    #[arg(long, global = true, value_name = "IMG")]
    pub card: Option<PathBuf>,
    /// QEMU with --card: the loader to run (default: the built satboot).
    #[arg(long, global = true, value_name = "ELF")]
    pub loader: Option<PathBuf>,
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
    /// Boot images (BOOT.BIN): build, inspect, dummy bitstream (files only, no target).
    Image {
        #[command(subcommand)]
        command: image::ImageCommand,
    },
    /// SD card images: make one (MBR, FAT32, BOOT.BIN, config), list one.
    Sdcard {
        #[command(subcommand)]
        command: sdcard::SdcardCommand,
    },
}

impl Link {
    fn name(&self) -> &'static str {
        match self {
            Link::Qemu { .. } => "qemu",
            Link::Sim { .. } => "sim",
            Link::Image { .. } => "image",
            Link::Sdcard { .. } => "sdcard",
        }
    }

    fn command(&self) -> &Command {
        match self {
            Link::Qemu { command } | Link::Sim { command } => command,
            Link::Image { .. } => unreachable!("image commands run without a target (see run)"),
            Link::Sdcard { .. } => unreachable!("sdcard commands run without a target (see run)"),
        }
    }

    fn connect(&self, c: &Connect) -> Result<Box<dyn Target>, String> {
        Ok(match self {
            Link::Qemu { .. } => Box::new(QemuTarget::start(c)?),
            Link::Sim { .. } => Box::new(SimTarget::start(c)?),
            Link::Image { .. } => return Err("image commands need no target".into()),
            Link::Sdcard { .. } => return Err("sdcard commands need no target".into()),
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
    /// The user's experiment, N submissions: upload subkernels A
    /// (ttl_pulses) and B (dma_record_playback), then reset, preload, run
    /// and await each; per run: timings, RTIO events (count, first edge,
    /// period, width), heaps, DDMA arena and kernel state after teardown.
    Scenario(ScenarioArgs),
    /// Upload any subkernel ELF, preload and/or run it, send it arguments
    /// and messages, await its messages and its end; prints the result or
    /// the exception.
    Kernel(KernelArgs),
    /// Upload speed of a ~4 KiB kernel, load + relocation cost and the
    /// call-to-start latency from the firmware's log (instruction counts
    /// with --icount 0).
    Measure(MeasureArgs),
    /// Flash a boot image (BOOT.BIN) over the aux link as `artiq_coremgmt
    /// flash` does; the satellite checks it, replaces its BOOT.BIN and
    /// reboots into it (QEMU: needs --card).
    Flash {
        /// The BOOT.BIN to flash (`satctl image build`).
        file: PathBuf,
        /// The satellite's destination number.
        #[arg(long, default_value_t = 1)]
        destination: u8,
        /// Do not wait for the reboot.
        #[arg(long)]
        no_wait: bool,
    },
    /// The satellite's configuration (on its SD card; QEMU: needs --card).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Watch an RTIO channel through moninj, optionally overriding it and
    /// running a kernel meanwhile.
    Moninj(moninj::MoninjArgs),
    /// The RTIO analyzer as `artiq_coreanalyzer` gets it: runs the user's
    /// experiment once (unless --no-run), fetches the capture
    /// (AnalyzerHeaderRequest, AnalyzerDataRequest until the last slice),
    /// writes a VCD (comm_analyzer's conventions) and prints a summary.
    Analyzer(AnalyzerArgs),
    /// Reboot the satellite (CoreMgmtRebootRequest) and wait until it is back.
    Reboot {
        #[arg(long, default_value_t = 1)]
        destination: u8,
    },
    /// One satellite, many commands: runs SCRIPT (or stdin), one satctl
    /// command a line, plus `wait MS`, `await ID [MS] [finished|exception]`,
    /// `echo TEXT` and `#` comments.
    Session(session::SessionArgs),
}

#[derive(Subcommand, Debug, Clone)]
pub enum ConfigCommand {
    /// Print a key's value.
    Read {
        key: String,
        #[arg(long, default_value_t = 1)]
        destination: u8,
    },
    /// Set a key (VALUE, or the content of --file).
    Write {
        key: String,
        #[arg(required_unless_present = "file")]
        value: Option<String>,
        #[arg(long, value_name = "FILE", conflicts_with = "value")]
        file: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        destination: u8,
    },
    /// Remove a key.
    Remove {
        key: String,
        #[arg(long, default_value_t = 1)]
        destination: u8,
    },
    /// Remove every key.
    Erase {
        #[arg(long, default_value_t = 1)]
        destination: u8,
    },
}

#[derive(Args, Debug, Clone)]
pub struct AnalyzerArgs {
    /// Write the VCD here.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Name a TTL channel as a device database would (NAME=CHANNEL, the
    /// channel with its destination in bits 16-23, e.g. ttl15=0x1000f).
    #[arg(long, value_name = "NAME=CHANNEL")]
    pub ttl: Vec<String>,
    /// Only fetch what the analyzer holds; run nothing.
    #[arg(long)]
    pub no_run: bool,
    /// Write the raw records (what AnalyzerData carried) here too.
    #[arg(long, value_name = "FILE")]
    pub raw: Option<PathBuf>,
    /// The satellite's destination number.
    #[arg(long, default_value_t = 1)]
    pub destination: u8,
}

#[derive(Args, Debug, Clone)]
pub struct ScenarioArgs {
    /// Submissions of the experiment in a row.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Directory of the built test kernels (default: the build script's).
    #[arg(long, value_name = "DIR")]
    pub kernels: Option<PathBuf>,
    /// Subkernel A's ELF (default: ttl_pulses.elf of the kernels directory).
    #[arg(long, value_name = "FILE")]
    pub a: Option<PathBuf>,
    /// Subkernel B's ELF (default: dma_record_playback.elf).
    #[arg(long, value_name = "FILE")]
    pub b: Option<PathBuf>,
    /// Upload the images once, not at every submission.
    #[arg(long)]
    pub upload_once: bool,
    /// Print only the summary, not a line per run.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Pulses each subkernel must emit (default: the test kernels' 100).
    #[arg(long, conflicts_with = "learn")]
    pub pulses: Option<usize>,
    /// Their period, in machine units (default: the test kernels' 1 000 000).
    #[arg(long, value_name = "MU", conflicts_with = "learn")]
    pub period: Option<i64>,
    /// Their width, in machine units (default: half the period).
    #[arg(long, value_name = "MU", conflicts_with = "learn")]
    pub width: Option<i64>,
    /// The TTL channel they are on (default: 15).
    #[arg(long, conflicts_with = "learn")]
    pub channel: Option<u16>,
    /// Learn each subkernel's pulse train (count, period, width, channel)
    /// from its first run, and check every later run against it.
    #[arg(long)]
    pub learn: bool,
}

#[derive(Args, Debug, Clone)]
pub struct KernelArgs {
    /// The ELF to upload, or the name of a built test kernel (e.g. `raise_exception`).
    #[arg(value_name = "ELF")]
    pub image: PathBuf,
    /// Subkernel id.
    #[arg(long, default_value_t = 1)]
    pub id: u32,
    /// The satellite's destination number.
    #[arg(long, default_value_t = 1)]
    pub destination: u8,
    /// Preload it (SubkernelLoadRunRequest with run = false).
    #[arg(long)]
    pub preload: bool,
    /// Run it (SubkernelLoadRunRequest with run = true; loads it first if not preloaded).
    #[arg(long)]
    pub run: bool,
    /// The run's timestamp (default: the satellite's counter + 125000, from STATS).
    #[arg(long, value_name = "MU")]
    pub timestamp: Option<u64>,
    /// An argument value, sent after the run as one message with the
    /// subkernel's id (repeatable, in order): i:42, I:-7, b:true, f:1.5, s:text, li:1,2,3.
    #[arg(long = "arg", value_name = "TAG:VALUE", value_parser = parse_value)]
    pub args: Vec<satman_systest::master::Value>,
    /// A message of one value, sent after the arguments (repeatable; each is
    /// one message), to --message-id.
    #[arg(long = "message", value_name = "TAG:VALUE", value_parser = parse_value)]
    pub messages: Vec<satman_systest::master::Value>,
    /// The id of the messages (a named message's id; default: the subkernel id).
    #[arg(long, value_name = "ID")]
    pub message_id: Option<u32>,
    /// Await a message from the subkernel after each --message (without
    /// --message: one, after the arguments, e.g. its return value).
    #[arg(long)]
    pub expect_message: bool,
    /// Tags to decode the messages received (e.g. `i`); without, they are printed in hex.
    #[arg(long, value_name = "TAGS")]
    pub tag: Option<String>,
    /// How long to wait for each awaited message and for SubkernelFinished (0: do not await the end).
    #[arg(long = "await", value_name = "MS", default_value_t = 10_000)]
    pub await_ms: u64,
}

#[derive(Args, Debug, Clone)]
pub struct MeasureArgs {
    /// Directory of the built test kernels (default: the build script's).
    #[arg(long, value_name = "DIR")]
    pub kernels: Option<PathBuf>,
    /// Uploads of the ~4 KiB kernel (float_delay) to time.
    #[arg(long, default_value_t = 20)]
    pub uploads: usize,
    /// Preload + run cycles per kernel.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
}

/// `TAG:VALUE` → a message value.
pub fn parse_value(spec: &str) -> Result<satman_systest::master::Value, String> {
    use satman_systest::master::Value;
    let (tag, v) = spec.split_once(':').ok_or_else(|| format!("{spec:?}: expected TAG:VALUE, e.g. i:42"))?;
    let bad = |e: &dyn std::fmt::Display| format!("{spec:?}: {e}");
    Ok(match tag {
        "i" => Value::I32(v.trim().parse().map_err(|e| bad(&e))?),
        "I" => Value::I64(v.trim().parse().map_err(|e| bad(&e))?),
        "f" => Value::F64(v.trim().parse().map_err(|e| bad(&e))?),
        "b" => Value::Bool(match v.trim() {
            "1" | "true" | "True" => true,
            "0" | "false" | "False" => false,
            _ => return Err(bad(&"a bool is true/false/1/0")),
        }),
        "s" => Value::Str(v.to_string()),
        "li" => Value::ListI32(if v.trim().is_empty() {
            Vec::new()
        } else {
            v.split(',').map(|x| x.trim().parse().map_err(|e| bad(&e))).collect::<Result<_, _>>()?
        }),
        other => return Err(format!("{spec:?}: unknown tag {other:?} (i I f b s li)")),
    })
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
    /// Playback starts this many machine units (ns) after the satellite's
    /// counter (estimated from STATS, so it must cover the link's delays).
    #[arg(long, default_value_t = satman_systest::qemu::bench::HOST_SLACK_MU)]
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
    if let Link::Image { command } = &cli.link {
        return image::run(command, cli.global.json);
    }
    if let Link::Sdcard { command } = &cli.link {
        return sdcard::main(command, cli.global.json);
    }
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
        icount: g.icount,
        qemu_args: g.qemu_args.clone(),
        card: g.card.clone(),
        loader: g.loader.clone(),
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
