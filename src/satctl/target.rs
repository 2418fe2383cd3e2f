//! Where the satellite is: a [`Target`] is chosen by satctl's first
//! argument and hands the commands a `&mut dyn Bench`. Adding a transport
//! (say `satctl tcp HOST:PORT` for a real link) means a `Transport` +
//! `Observe` for its byte pipe, a struct implementing [`Target`], and a
//! variant in `cli::Link`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use satman_systest::qemu::fake::{FakeExit, FakeLink, FakeOptions};
use satman_systest::qemu::experiment::Kernels;
use satman_systest::qemu::{Bench, BootTimes, Qemu, QemuOptions};

use super::json::Json;

/// How the session with a target ended.
#[derive(Debug, Default)]
pub struct Closed {
    /// Problems found at the end (bad exit code, qemu.log lines).
    pub problems: Vec<String>,
    pub json: Vec<(String, Json)>,
}

pub trait Target {
    /// Short name, as on the command line.
    fn name(&self) -> &'static str;
    fn bench(&mut self) -> &mut dyn Bench;
    /// Boot timing, for targets satctl started.
    fn boot(&self) -> Option<BootTimes> {
        None
    }
    /// Ends the session (stops what satctl started) and checks how it ended.
    fn close(&mut self) -> Closed;
    /// The experiment's two kernels for this target (`dir` overrides
    /// where the built ones are; `a`/`b` replace either one by a file).
    fn kernels(&self, dir: Option<&Path>, a: Option<&Path>, b: Option<&Path>) -> Result<Kernels, String>;
    /// A kernel to upload: `spec` is an ELF file or the name of a built
    /// test kernel. Returns the name to show and the image.
    fn kernel_image(&self, spec: &Path) -> Result<(String, Vec<u8>), String> {
        let path = super::kernel::resolve_elf(spec)?;
        let image = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((path.display().to_string(), image))
    }
    /// `Some(shift)` if the target's clock is QEMU's instruction counter
    /// (`-icount shift=SHIFT`: 2^SHIFT ns of virtual time per instruction).
    fn icount_shift(&self) -> Option<u8> {
        None
    }
    /// Extra diagnostics to print when a command failed.
    fn diagnostics(&self) -> Option<String> {
        None
    }
    /// How many `READY`s the target has sent (a reboot sends a new one);
    /// `None` if the target cannot reboot.
    fn readies(&self) -> Option<u64> {
        None
    }
    /// Waits for a `READY` after the `readies`-th: the satellite rebooted.
    /// Returns its build id.
    fn wait_reboot(&mut self, _readies: u64, _timeout: Duration) -> Result<String, String> {
        Err("this target does not reboot".into())
    }
}

/// Options every target takes.
#[derive(Debug, Clone)]
pub struct Connect {
    pub elf: Option<PathBuf>,
    pub timeout: Duration,
    pub reply_timeout: Duration,
    pub keep_logs: bool,
    pub verbose: bool,
    /// QEMU only: `-icount shift=N`.
    pub icount: Option<u8>,
    /// QEMU only: more arguments.
    pub qemu_args: Vec<String>,
    /// QEMU only: an SD card image for SD0; the board then boots through
    /// the loader, which loads satman from the card's BOOT.BIN.
    pub card: Option<PathBuf>,
    /// QEMU only: the loader for `card` (default: the built satboot).
    pub loader: Option<PathBuf>,
}

// ---- QEMU ---------------------------------------------------------------------

pub struct QemuTarget {
    qemu: Qemu,
    icount: Option<u8>,
}

impl QemuTarget {
    pub fn start(c: &Connect) -> Result<QemuTarget, String> {
        let elf = match &c.elf {
            Some(e) => e.clone(),
            None => satman_systest::qemu::firmware_elf()?,
        };
        let mut opts = QemuOptions::new(&elf);
        if let Some(card) = &c.card {
            if !card.is_file() {
                return Err(format!("--card {}: no such file (make one with `satctl sdcard make`)", card.display()));
            }
            opts.sd_card = Some(card.clone());
            opts.loader = Some(match &c.loader {
                Some(l) => l.clone(),
                None => satman_systest::qemu::satboot_elf()?,
            });
        }
        opts.ready_timeout = c.timeout;
        opts.reply_timeout = c.reply_timeout;
        opts.keep_dir |= c.keep_logs;
        if let Some(shift) = c.icount {
            opts.extra_args.extend(["-icount".to_string(), format!("shift={shift}")]);
        }
        opts.extra_args.extend(c.qemu_args.iter().cloned());
        if c.verbose {
            let extra = if opts.extra_args.is_empty() { String::new() } else { format!(", {}", opts.extra_args.join(" ")) };
            eprintln!("satctl: booting {} in {} (2 CPUs{extra})", elf.display(), opts.qemu);
        }
        let qemu = Qemu::launch(opts).map_err(|e| format!("QEMU: {e}"))?;
        Ok(QemuTarget { qemu, icount: c.icount })
    }
}

impl Target for QemuTarget {
    fn name(&self) -> &'static str {
        "qemu"
    }

    fn bench(&mut self) -> &mut dyn Bench {
        &mut self.qemu.master
    }

    fn boot(&self) -> Option<BootTimes> {
        Some(self.qemu.boot_times())
    }

    fn close(&mut self) -> Closed {
        let mut closed = Closed::default();
        match self.qemu.exit(0) {
            Ok(r) => {
                if r.code != Some(0) {
                    closed.problems.push(match r.code {
                        Some(101) => "the firmware panicked (QEMU exit code 101)".to_string(),
                        Some(c) => format!("QEMU exited with {c}"),
                        None => "QEMU did not exit when asked; killed".to_string(),
                    });
                }
                for l in &r.unexpected_log_lines {
                    closed.problems.push(format!("qemu.log: {l}"));
                }
                closed.json.push((
                    "exit".into(),
                    Json::obj()
                        .with("code", r.code.map(|c| c as i64))
                        .with("unexpected_log_lines", r.unexpected_log_lines.clone())
                        .with("logs", self.qemu.keeps_dir().then(|| self.qemu.dir().display().to_string())),
                ));
            }
            Err(e) => closed.problems.push(format!("exit: {e}")),
        }
        if !closed.problems.is_empty() {
            eprintln!("satctl: UART1 (last 30 lines):\n{}", satman_systest::qemu::tail(&self.qemu.uart1_log(), 30));
        }
        closed
    }

    fn kernels(&self, dir: Option<&Path>, a: Option<&Path>, b: Option<&Path>) -> Result<Kernels, String> {
        Kernels::choose(dir, a, b)
    }

    fn icount_shift(&self) -> Option<u8> {
        self.icount
    }

    fn diagnostics(&self) -> Option<String> {
        Some(self.qemu.diagnostics())
    }

    fn readies(&self) -> Option<u64> {
        Some(self.qemu.master.transport.ready_count())
    }

    fn wait_reboot(&mut self, readies: u64, timeout: Duration) -> Result<String, String> {
        self.qemu.wait_reboot(readies, timeout).map(|r| r.build_id.to_string()).map_err(|e| e.to_string())
    }
}

// ---- host simulation ------------------------------------------------------------

/// The satellite core on simulated hardware behind the QEMU link's
/// contract, in this process: for trying satctl without QEMU and for
/// testing satctl itself.
pub struct SimTarget {
    link: Option<FakeLink>,
    boot: BootTimes,
}

impl SimTarget {
    pub fn start(c: &Connect) -> Result<SimTarget, String> {
        if c.icount.is_some() || !c.qemu_args.is_empty() {
            return Err("--icount and --qemu-arg are for the qemu link".into());
        }
        let t = std::time::Instant::now();
        let mut link = FakeLink::start(FakeOptions::default()).map_err(|e| format!("simulation: {e}"))?;
        link.master.timeout = c.reply_timeout;
        let boot = BootTimes { connect: t.elapsed(), ready: t.elapsed(), boot_us: link.ready.boot_us, cpu1_up: link.ready.cpu1_up };
        Ok(SimTarget { link: Some(link), boot })
    }
}

/// Names the sim link accepts → the registered stand-in
/// (`scenario::register_kernels`): the test kernels' names first.
const SIM_KERNELS: &[(&str, &str)] = &[
    ("ttl_pulses", "standard"),
    ("dma_record_playback", "ddma"),
    ("args_return", "add_args"),
    ("never_finishes", "never_finishes"),
    ("raise_while_recording", "raise_while_recording"),
    ("standard", "standard"),
    ("ddma", "ddma"),
    ("add_args", "add_args"),
    ("huge_recording", "huge_recording"),
    ("standard_dest2", "standard_dest2"),
];

fn sim_kernel(name: &str) -> Option<&'static str> {
    SIM_KERNELS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

impl Target for SimTarget {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn bench(&mut self) -> &mut dyn Bench {
        &mut self.link.as_mut().expect("open").master
    }

    fn boot(&self) -> Option<BootTimes> {
        Some(self.boot)
    }

    fn kernels(&self, _dir: Option<&Path>, a: Option<&Path>, b: Option<&Path>) -> Result<Kernels, String> {
        if a.is_some() || b.is_some() {
            return Err("the sim link runs its own stand-in kernels, not ELF files (use the qemu link for --a/--b)".into());
        }
        Ok(Kernels::sim())
    }

    /// The simulation runs stand-ins registered by name; the test kernels'
    /// names map to the stand-in doing the same, so one script runs on
    /// both links. A file is uploaded as it is.
    fn kernel_image(&self, spec: &Path) -> Result<(String, Vec<u8>), String> {
        if spec.is_file() {
            let image = std::fs::read(spec).map_err(|e| format!("{}: {e}", spec.display()))?;
            return Ok((spec.display().to_string(), image));
        }
        let name = spec.to_string_lossy();
        let name = name.strip_suffix(".elf").unwrap_or(&name);
        let stand_in = sim_kernel(name).ok_or_else(|| {
            format!(
                "{name}: the sim link runs stand-ins, not ELF files: one of {}",
                SIM_KERNELS.iter().map(|(n, s)| if n == s { n.to_string() } else { format!("{n} (= {s})") }).collect::<Vec<_>>().join(", ")
            )
        })?;
        Ok((format!("{stand_in} (simulated)"), satman_systest::sim::image(stand_in, satman_systest::scenario::IMAGE_SIZE)))
    }

    fn close(&mut self) -> Closed {
        let mut closed = Closed::default();
        if let Some(link) = self.link.take() {
            match link.exit(0) {
                FakeExit::Exit(0) => {}
                other => closed.problems.push(format!("simulation ended with {other:?}")),
            }
        }
        closed.json.push(("exit".into(), Json::obj().with("code", 0i64)));
        closed
    }
}
