//! The satman firmware in QEMU, driven by a [`Master`] over the QEMU aux
//! link (docs/qemu-link.md).
//!
//! [`Qemu::launch`] listens on 127.0.0.1:0, starts
//! `qemu-system-arm -M xilinx-zynq-a9 -smp 2 ... -serial tcp:127.0.0.1:PORT,nodelay=on
//! -serial file:DIR/uart1.log -kernel ELF -d invalid_mem,guest_errors,unimp
//! -D DIR/qemu.log`, accepts QEMU's connection and waits for the firmware's
//! `READY`. Aux work goes through `qemu.master` (a `Master<QemuTransport>`);
//! the control channel through [`Qemu::stats`], [`Qemu::set_link`] and
//! [`Qemu::exit`]; the RTIO model's events through [`Qemu::take_events`].
//! QEMU is killed when the `Qemu` is dropped.
//!
//! After QEMU ends, [`Qemu::unexpected_log_lines`] lists the lines of
//! qemu.log that the allow-list (the same as `scripts/qemu-run`'s) does not
//! excuse: each is an invalid access, an unimplemented device or register,
//! or a guest error.
//!
//! The firmware ELF comes from the build script ([`firmware_elf`]);
//! `SATMAN_SKIP_FIRMWARE=1` at build time turns the QEMU tests into loud
//! skips ([`skip_reason`]).

pub mod bench;
pub mod cases;
pub mod experiment;
pub mod fake;
pub mod proto;
pub mod slip;
pub mod transport;

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::master::{Master, MasterError};
pub use bench::{Bench, Observe};
pub use proto::{BuildId, Control, Event, KernelState, Ready, Source, Stats};
pub use transport::{LinkCounters, QemuTransport};

/// The firmware ELF: `$SATMAN_ELF` if set and non-empty (a run-time
/// override; cargo itself sets `SATMAN_FIRMWARE_ELF` when it runs tests and
/// binaries, so that name cannot serve), else the one the build script
/// built (`SATMAN_FIRMWARE_ELF` at compile time).
pub fn firmware_elf() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SATMAN_ELF").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let built = env!("SATMAN_FIRMWARE_ELF");
    if built.is_empty() {
        return Err("the firmware was not built (SATMAN_SKIP_FIRMWARE was set at build time); \
                    pass --elf or set SATMAN_ELF"
            .into());
    }
    Ok(PathBuf::from(built))
}

/// The QEMU board's boot loader ELF (`satboot --features qemu`):
/// `$SATMAN_LOADER_ELF`, else the one the build script built.
pub fn satboot_elf() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SATMAN_LOADER_ELF").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let built = env!("SATMAN_SATBOOT_ELF");
    if built.is_empty() {
        return Err("the boot loader was not built (SATMAN_SKIP_FIRMWARE was set at build time); set SATMAN_LOADER_ELF".into());
    }
    Ok(PathBuf::from(built))
}

/// The Kasli-SoC boot loader ELF (`satboot --features kasli_soc`, linked in
/// OCM at 0 as the BootROM wants): what a real card's BOOT.BIN holds in its
/// boot loader slot. In QEMU, which has no BootROM, the QEMU loader runs as
/// `-kernel` instead and this partition is only carried.
/// `$SATMAN_CARD_LOADER_ELF`, else the one the build script built.
pub fn satboot_kasli_soc_elf() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SATMAN_CARD_LOADER_ELF").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let built = env!("SATMAN_SATBOOT_KASLI_SOC_ELF");
    if built.is_empty() {
        return Err("the Kasli-SoC boot loader was not built (SATMAN_SKIP_FIRMWARE); set SATMAN_CARD_LOADER_ELF".into());
    }
    Ok(PathBuf::from(built))
}

/// The directory of the test kernels (`<name>.elf`), if the build script
/// built them.
pub fn kernels_dir() -> Option<PathBuf> {
    Some(env!("SATMAN_KERNELS_DIR")).filter(|d| !d.is_empty()).map(PathBuf::from)
}

/// Why the QEMU tests cannot run here, if they cannot: the firmware was
/// not built (`SATMAN_SKIP_FIRMWARE`) and no `SATMAN_ELF` names one.
pub fn skip_reason() -> Option<String> {
    firmware_elf().err()
}

/// Prints a loud skip notice if the QEMU tests cannot run; returns true
/// then. For the top of each QEMU test.
pub fn skip_test(test: &str) -> bool {
    match skip_reason() {
        // In CI a missing firmware or QEMU is a broken set-up, not a reason
        // to pass: fail loudly.
        Some(why) if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0") => {
            panic!("{test}: cannot run in CI: {why}")
        }
        Some(why) => {
            // Straight to the process's stderr: the test harness captures
            // `eprintln!` of passing tests, and a skip must be seen.
            use std::io::Write;
            let bar = "#".repeat(72);
            let _ = writeln!(std::io::stderr(), "\n{bar}\n## SKIPPED {test}: {why}\n{bar}\n");
            true
        }
        None => false,
    }
}

/// A rule excusing qemu.log lines.
pub struct AllowRule {
    pub name: String,
    matches: Box<dyn Fn(&str) -> bool + Send + Sync>,
}

impl AllowRule {
    pub fn exact(line: &str) -> AllowRule {
        let l = line.to_string();
        AllowRule { name: format!("= {line}"), matches: Box::new(move |s| s == l) }
    }

    pub fn prefix(prefix: &str) -> AllowRule {
        let p = prefix.to_string();
        AllowRule { name: format!("{prefix}…"), matches: Box::new(move |s| s.starts_with(&p)) }
    }

    pub fn custom(name: &str, f: impl Fn(&str) -> bool + Send + Sync + 'static) -> AllowRule {
        AllowRule { name: name.to_string(), matches: Box::new(f) }
    }

    pub fn allows(&self, line: &str) -> bool {
        (self.matches)(line)
    }
}

impl fmt::Debug for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AllowRule({})", self.name)
    }
}

/// What `scripts/qemu-run` allows: lines QEMU 10 writes while creating the
/// machine, before the first guest instruction.
pub fn default_allow_list() -> Vec<AllowRule> {
    vec![
        AllowRule::exact("uart_event: uart is unclocked or in reset"),
        AllowRule::custom("SDHCI: unknown CAPAB mask: 0x<hex>", |s| {
            s.strip_prefix("SDHCI: unknown CAPAB mask: 0x")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        }),
        AllowRule::prefix("xlnx.ps7-dev-cfg: failed unlock"),
    ]
}

/// The lines of `log` no rule allows.
pub fn unexpected_lines(log: &str, allow: &[AllowRule]) -> Vec<String> {
    log.lines().filter(|l| !l.is_empty() && !allow.iter().any(|r| r.allows(l))).map(str::to_string).collect()
}

/// How to run QEMU.
#[derive(Debug)]
pub struct QemuOptions {
    pub elf: PathBuf,
    /// The QEMU binary (default: `$QEMU` or `qemu-system-arm`).
    pub qemu: String,
    /// Where uart1.log, qemu.log and qemu.stderr go (default: a new
    /// directory under the system temp dir, removed on drop unless
    /// `keep_dir`, `SATMAN_QEMU_KEEP=1`, or the thread is panicking).
    pub dir: Option<PathBuf>,
    pub keep_dir: bool,
    /// From spawn to `READY`.
    pub ready_timeout: Duration,
    /// The master's per-reply timeout (the ARTIQ master uses 200 ms).
    pub reply_timeout: Duration,
    /// More qemu.log rules on top of [`default_allow_list`].
    pub allow: Vec<AllowRule>,
    pub extra_args: Vec<String>,
    /// An SD card image for SD0 (`-drive if=sd,index=0`).
    pub sd_card: Option<PathBuf>,
    /// Boot through this loader (`-kernel LOADER`), which loads the
    /// firmware from the card's BOOT.BIN; `elf` is then not used.
    pub loader: Option<PathBuf>,
}

impl QemuOptions {
    pub fn new(elf: impl Into<PathBuf>) -> QemuOptions {
        QemuOptions {
            elf: elf.into(),
            qemu: std::env::var("QEMU").ok().filter(|q| !q.is_empty()).unwrap_or_else(|| "qemu-system-arm".into()),
            dir: None,
            keep_dir: std::env::var_os("SATMAN_QEMU_KEEP").is_some_and(|v| v != "0" && !v.is_empty()),
            ready_timeout: Duration::from_secs(30),
            reply_timeout: Duration::from_millis(200),
            allow: Vec::new(),
            extra_args: Vec::new(),
            sd_card: None,
            loader: None,
        }
    }

    /// With the firmware the build script built.
    pub fn built() -> Result<QemuOptions, String> {
        firmware_elf().map(QemuOptions::new)
    }
}

#[derive(Debug)]
pub enum QemuError {
    Io(String, io::Error),
    /// QEMU ended before the firmware was ready.
    Exited { status: ExitStatus, stderr: String, uart1: String },
    /// No connection or no `READY` in time.
    NotReady { what: &'static str, waited: Duration, uart1: String },
    Link(MasterError),
}

impl fmt::Display for QemuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QemuError::Io(what, e) => write!(f, "{what}: {e}"),
            QemuError::Exited { status, stderr, uart1 } => {
                write!(f, "QEMU exited early ({status})")?;
                if !stderr.trim().is_empty() {
                    write!(f, "\n--- QEMU stderr ---\n{}", stderr.trim_end())?;
                }
                if !uart1.trim().is_empty() {
                    write!(f, "\n--- UART1 ---\n{}", tail(uart1, 40))?;
                }
                Ok(())
            }
            QemuError::NotReady { what, waited, uart1 } => {
                write!(f, "{what} within {:.1} s", waited.as_secs_f64())?;
                if !uart1.trim().is_empty() {
                    write!(f, "\n--- UART1 ---\n{}", tail(uart1, 40))?;
                }
                Ok(())
            }
            QemuError::Link(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for QemuError {}

impl From<MasterError> for QemuError {
    fn from(e: MasterError) -> Self {
        QemuError::Link(e)
    }
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Boot timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootTimes {
    /// Wall time from spawning QEMU to its connection on the UART0 socket.
    pub connect: Duration,
    /// Wall time from spawning QEMU to receiving `READY`.
    pub ready: Duration,
    /// The firmware's clock at the start of its main loop (`READY.boot_us`).
    pub boot_us: u64,
    pub cpu1_up: bool,
}

/// How QEMU ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitReport {
    /// The process's exit code (the firmware's semihosting code), or
    /// `None` if it was killed; [`PANIC_EXIT_CODE`] if CPU0 panicked (the
    /// firmware resets after a panic: seen as its "C0 PANIC" line on UART1)
    /// and the test did not expect it.
    pub code: Option<i32>,
    pub unexpected_log_lines: Vec<String>,
    pub uart1: String,
}

/// [`ExitReport::code`] of a firmware whose CPU0 panicked.
pub const PANIC_EXIT_CODE: i32 = 101;

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// At most one QEMU runs at a time on this machine, across processes (the
/// test harness runs a binary's tests in parallel, and satctl tests start
/// satctl processes): each QEMU runs two vCPU threads, and on a 2-core
/// machine two QEMUs side by side starve each other until the firmware's
/// timing tests go flaky. `SATMAN_QEMU_PARALLEL=1` lifts the limit. A
/// thread that already holds the slot (a test that boots a second QEMU
/// while its first one lives) does not wait for it again; a wait longer
/// than [`SLOT_WAIT`] gives up the limit rather than hang.
struct Slots {
    /// Threads of this process holding the slot (one entry per QEMU).
    holders: std::sync::Mutex<(Vec<std::thread::ThreadId>, Option<File>)>,
    freed: std::sync::Condvar,
}

static SLOTS: Slots = Slots { holders: std::sync::Mutex::new((Vec::new(), None)), freed: std::sync::Condvar::new() };

const SLOT_WAIT: Duration = Duration::from_secs(900);

/// One running QEMU's share of the limit; released on drop.
struct QemuSlot(std::thread::ThreadId);

fn unlimited() -> bool {
    std::env::var_os("SATMAN_QEMU_PARALLEL").is_some_and(|v| v == "1")
}

impl QemuSlot {
    fn take() -> QemuSlot {
        let me = std::thread::current().id();
        if unlimited() {
            return QemuSlot(me);
        }
        let deadline = Instant::now() + SLOT_WAIT;
        let mut h = SLOTS.holders.lock().unwrap_or_else(|e| e.into_inner());
        // In this process: wait until no other thread holds it.
        while h.0.iter().any(|t| *t != me) && Instant::now() < deadline {
            h = SLOTS.freed.wait_timeout(h, Duration::from_millis(100)).unwrap_or_else(|e| e.into_inner()).0;
        }
        if h.0.is_empty() && h.1.is_none() {
            // Across processes: a lock file.
            let path = std::env::temp_dir().join("satman-qemu.lock");
            if let Ok(f) = File::create(&path) {
                loop {
                    match f.try_lock() {
                        Ok(()) => {
                            h.1 = Some(f);
                            break;
                        }
                        Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                        Err(_) => break,
                    }
                }
            }
        }
        h.0.push(me);
        QemuSlot(me)
    }
}

impl Drop for QemuSlot {
    fn drop(&mut self) {
        let mut h = SLOTS.holders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = h.0.iter().position(|t| *t == self.0) {
            h.0.remove(i);
        }
        if h.0.is_empty() {
            // Closing the file releases the lock.
            h.1 = None;
        }
        SLOTS.freed.notify_all();
    }
}

/// One QEMU running the firmware.
pub struct Qemu {
    pub master: Master<QemuTransport>,
    child: Option<Child>,
    status: Option<ExitStatus>,
    dir: PathBuf,
    remove_dir: bool,
    keep_dir: bool,
    allow: Vec<AllowRule>,
    boot: BootTimes,
    ready: Ready,
    stats_timeout: Duration,
    /// "C0 PANIC" lines the test caused on purpose.
    expected_panics: usize,
    /// Dropped last: the slot is free once QEMU has been stopped.
    _slot: QemuSlot,
}

impl Qemu {
    /// The QEMU command line for `elf`, UART0 at `uart0`, logs in `dir`.
    pub fn command(opts: &QemuOptions, uart0: &str, dir: &Path) -> Command {
        let mut cmd = Command::new(&opts.qemu);
        cmd.args(["-M", "xilinx-zynq-a9", "-smp", "2", "-m", "512M", "-nographic", "-audio", "none"])
            .args(["-monitor", "none", "-semihosting"])
            .arg("-serial")
            .arg(uart0)
            .arg("-serial")
            .arg(format!("file:{}", dir.join("uart1.log").display()))
            .arg("-kernel")
            .arg(opts.loader.as_ref().unwrap_or(&opts.elf));
        if let Some(card) = &opts.sd_card {
            cmd.arg("-drive").arg(format!("if=sd,index=0,format=raw,file={}", card.display()));
        }
        cmd.args(["-d", "invalid_mem,guest_errors,unimp", "-D"])
            .arg(dir.join("qemu.log"))
            .args(&opts.extra_args);
        cmd
    }

    /// Starts QEMU and waits for the firmware's `READY`.
    pub fn launch(opts: QemuOptions) -> Result<Qemu, QemuError> {
        let slot = QemuSlot::take();
        let image = opts.loader.as_ref().unwrap_or(&opts.elf);
        if !image.is_file() {
            return Err(QemuError::Io(
                format!("firmware ELF {}", image.display()),
                io::Error::new(io::ErrorKind::NotFound, "no such file (build it: cargo build -p satman-systest)"),
            ));
        }
        let (dir, remove_dir) = match &opts.dir {
            Some(d) => (d.clone(), false),
            None => {
                let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
                (std::env::temp_dir().join(format!("satman-qemu.{}.{}", std::process::id(), n)), true)
            }
        };
        fs::create_dir_all(&dir).map_err(|e| QemuError::Io(format!("create {}", dir.display()), e))?;
        for f in ["uart1.log", "qemu.log", "qemu.stderr"] {
            let _ = fs::remove_file(dir.join(f));
        }
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| QemuError::Io("listen on 127.0.0.1".into(), e))?;
        let port = listener.local_addr().map_err(|e| QemuError::Io("listener address".into(), e))?.port();
        let stderr = File::create(dir.join("qemu.stderr")).map_err(|e| QemuError::Io("qemu.stderr".into(), e))?;

        // nodelay: QEMU writes the UART's bytes to the socket as the guest
        // sends them; with Nagle on QEMU's socket and delayed ACKs on ours
        // every reply waits ~40 ms (measured: 44 ms round trips without,
        // 0.3 ms with).
        let mut cmd = Qemu::command(&opts, &format!("tcp:127.0.0.1:{port},nodelay=on"), &dir);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        let spawned = Instant::now();
        let child = cmd.spawn().map_err(|e| QemuError::Io(format!("start {} (set QEMU to override)", opts.qemu), e))?;
        // From here on, any failure must not leave QEMU running.
        let mut guard = KillOnDrop(Some(child));
        let stream = accept(&listener, guard.0.as_mut().expect("child"), spawned, opts.ready_timeout, &dir)?;
        let connect = spawned.elapsed();
        let transport = QemuTransport::from_tcp(stream).map_err(|e| QemuError::Io("UART0 socket".into(), e))?;
        let mut master = Master::new(transport);
        master.timeout = opts.reply_timeout;

        let deadline = spawned + opts.ready_timeout;
        let (ready, at) = loop {
            match master.transport.wait_ready((Instant::now() + Duration::from_millis(50)).min(deadline)) {
                Ok(Some(r)) => break r,
                Ok(None) | Err(_) => {
                    if let Some(e) = exited(guard.0.as_mut().expect("child"), &dir) {
                        return Err(e);
                    }
                    if Instant::now() >= deadline {
                        return Err(QemuError::NotReady {
                            what: "no READY from the firmware on UART0",
                            waited: opts.ready_timeout,
                            uart1: read_lossy(&dir.join("uart1.log")),
                        });
                    }
                }
            }
        };
        let boot = BootTimes { connect, ready: at.duration_since(spawned), boot_us: ready.boot_us, cpu1_up: ready.cpu1_up };
        let child = guard.0.take();
        let mut allow = default_allow_list();
        allow.extend(opts.allow);
        Ok(Qemu {
            master,
            child,
            status: None,
            dir,
            remove_dir,
            keep_dir: opts.keep_dir,
            allow,
            boot,
            ready,
            stats_timeout: Duration::from_secs(2).max(opts.reply_timeout),
            expected_panics: 0,
            _slot: slot,
        })
    }

    /// Boots the firmware the build script built, with default options.
    pub fn boot() -> Result<Qemu, QemuError> {
        let opts = QemuOptions::built().map_err(|e| QemuError::Io(e, io::Error::new(io::ErrorKind::NotFound, "firmware")))?;
        Qemu::launch(opts)
    }

    /// For the QEMU tests: `None` (after a loud notice) if the firmware
    /// was not built; otherwise boots it with a 1 s reply timeout (a
    /// loaded 2-core machine runs QEMU next to other builds), panicking
    /// with QEMU's and the firmware's output if it does not come up.
    pub fn boot_for_test(test: &str) -> Option<Qemu> {
        if skip_test(test) {
            return None;
        }
        let mut opts = QemuOptions::built().expect("firmware built");
        opts.reply_timeout = Duration::from_secs(1);
        match Qemu::launch(opts) {
            Ok(q) => Some(q),
            Err(e) => panic!("{test}: QEMU did not come up: {e}"),
        }
    }

    /// Whether the log directory survives the drop.
    pub fn keeps_dir(&self) -> bool {
        self.keep_dir || !self.remove_dir
    }

    pub fn boot_times(&self) -> BootTimes {
        self.boot
    }

    pub fn ready(&self) -> Ready {
        self.ready
    }

    /// Where the logs are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A `STATS` round trip.
    pub fn stats(&mut self) -> Result<Stats, QemuError> {
        let t = self.stats_timeout;
        Ok(self.master.transport.stats(t)?)
    }

    /// Waits for the firmware to come back after a reboot (a `READY` newer
    /// than `readies`, the [`QemuTransport::ready_count`] taken before the
    /// reboot was triggered); the new `READY` becomes [`Qemu::ready`].
    pub fn wait_reboot(&mut self, readies: u64, timeout: Duration) -> Result<Ready, QemuError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.master.transport.wait_ready_after(readies, (Instant::now() + Duration::from_millis(100)).min(deadline)) {
                Ok(Some((r, _))) => {
                    self.ready = r;
                    return Ok(r);
                }
                Ok(None) => {}
                Err(e) => return Err(e.into()),
            }
            if self.has_exited() {
                return Err(QemuError::Exited {
                    status: self.status.expect("exited"),
                    stderr: read_lossy(&self.dir.join("qemu.stderr")),
                    uart1: read_lossy(&self.dir.join("uart1.log")),
                });
            }
            if Instant::now() >= deadline {
                return Err(QemuError::NotReady {
                    what: "no READY after the reboot",
                    waited: timeout,
                    uart1: read_lossy(&self.dir.join("uart1.log")),
                });
            }
        }
    }

    /// Simulates the DRTIO uplink going down or up.
    pub fn set_link(&mut self, up: bool) -> Result<(), QemuError> {
        Ok(self.master.transport.send_control(Control::Link(up))?)
    }

    /// Takes the RTIO events reported so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.master.transport.take_events()
    }

    /// Waits until `n` events are queued or `timeout` passes; returns the
    /// number queued.
    pub fn wait_events(&self, n: usize, timeout: Duration) -> usize {
        self.master.transport.wait_events(n, Instant::now() + timeout)
    }

    /// Asks the firmware to exit QEMU with `code`, waits for QEMU to end
    /// (killing it after 10 s), and reports.
    pub fn exit(&mut self, code: u32) -> Result<ExitReport, QemuError> {
        if self.child.is_some() {
            // If the link is already gone, QEMU is ending anyway.
            let _ = self.master.transport.send_control(Control::Exit(code));
            self.wait_exit(Duration::from_secs(10));
        }
        Ok(self.report())
    }

    /// Waits up to `timeout` for QEMU to end by itself, then kills it.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        if let Some(child) = self.child.as_mut() {
            loop {
                match child.try_wait() {
                    Ok(Some(s)) => {
                        self.status = Some(s);
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                    _ => {
                        let _ = child.kill();
                        self.status = child.wait().ok();
                        break;
                    }
                }
            }
            self.child = None;
        }
        self.status
    }

    /// Kills QEMU now.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            self.status = child.wait().ok();
        }
    }

    /// Whether QEMU has ended (reaping it if so).
    pub fn has_exited(&mut self) -> bool {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(s)) = child.try_wait() {
                self.status = Some(s);
                self.child = None;
            }
        }
        self.child.is_none()
    }

    /// The exit status, once QEMU has ended.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// The report of how QEMU ended (call after [`exit`](Self::exit) or
    /// [`wait_exit`](Self::wait_exit)).
    pub fn report(&self) -> ExitReport {
        let uart1 = self.uart1_log();
        let mut code = self.status.and_then(|s| s.code());
        // A CPU0 panic resets the firmware instead of exiting QEMU (the
        // crash log survives the reset): report it as the panic exit code
        // unless the test caused it on purpose.
        let panics = uart1.lines().filter(|l| l.contains(" C0 PANIC ")).count();
        if panics > self.expected_panics && code == Some(0) {
            code = Some(PANIC_EXIT_CODE);
        }
        ExitReport { code, unexpected_log_lines: self.unexpected_log_lines(), uart1 }
    }

    /// The test is about to make CPU0 panic (each panic writes one
    /// "C0 PANIC" line per message on UART1; `lines` of them).
    pub fn expect_panic_lines(&mut self, lines: usize) {
        self.expected_panics += lines;
    }

    /// qemu.log lines the allow-list does not excuse. Complete once QEMU
    /// has ended (QEMU may buffer the log until then).
    pub fn unexpected_log_lines(&self) -> Vec<String> {
        unexpected_lines(&read_lossy(&self.dir.join("qemu.log")), &self.allow)
    }

    /// The firmware's log output on UART1 so far.
    pub fn uart1_log(&self) -> String {
        read_lossy(&self.dir.join("uart1.log"))
    }

    /// QEMU's own stderr so far.
    pub fn qemu_stderr(&self) -> String {
        read_lossy(&self.dir.join("qemu.stderr"))
    }

    /// What a failing test should print: the link's counters and bad
    /// records, QEMU's stderr, qemu.log and the end of UART1.
    pub fn diagnostics(&self) -> String {
        let mut s = format!("logs in {}\nlink: {:?}\n", self.dir.display(), self.master.transport.counters());
        for b in self.master.transport.bad_records() {
            s.push_str(&format!("bad record: {b}\n"));
        }
        let stderr = self.qemu_stderr();
        if !stderr.trim().is_empty() {
            s.push_str(&format!("--- QEMU stderr ---\n{}\n", stderr.trim_end()));
        }
        let qlog = read_lossy(&self.dir.join("qemu.log"));
        if !qlog.trim().is_empty() {
            s.push_str(&format!("--- qemu.log ---\n{}\n", tail(&qlog, 40)));
        }
        s.push_str(&format!("--- UART1 (last 60 lines) ---\n{}\n", tail(&self.uart1_log(), 60)));
        s
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() || self.keep_dir {
            eprintln!("qemu: logs kept in {}", self.dir.display());
            if std::thread::panicking() {
                eprintln!("--- UART1 (last 40 lines) ---\n{}", tail(&self.uart1_log(), 40));
            }
        } else if self.remove_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read_lossy(p: &Path) -> String {
    fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

fn exited(child: &mut Child, dir: &Path) -> Option<QemuError> {
    match child.try_wait() {
        Ok(Some(status)) => Some(QemuError::Exited {
            status,
            stderr: read_lossy(&dir.join("qemu.stderr")),
            uart1: read_lossy(&dir.join("uart1.log")),
        }),
        _ => None,
    }
}

fn accept(listener: &TcpListener, child: &mut Child, spawned: Instant, timeout: Duration, dir: &Path) -> Result<std::net::TcpStream, QemuError> {
    listener.set_nonblocking(true).map_err(|e| QemuError::Io("listener".into(), e))?;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).map_err(|e| QemuError::Io("UART0 socket".into(), e))?;
                return Ok(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(QemuError::Io("accept QEMU's UART0 connection".into(), e)),
        }
        if let Some(e) = exited(child, dir) {
            return Err(e);
        }
        if spawned.elapsed() >= timeout {
            return Err(QemuError::NotReady {
                what: "QEMU did not connect to the UART0 socket",
                waited: timeout,
                uart1: read_lossy(&dir.join("uart1.log")),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::bench::{ddma_round_trip, CounterEstimate, DdmaConfig, PulseTrain};
    use super::fake::{FakeExit, FakeLink, FakeOptions};
    use super::*;
    use crate::master::DestinationStatus;

    fn ddma_config(id: u32, pulses: usize) -> DdmaConfig {
        DdmaConfig {
            destination: 1,
            id,
            train: PulseTrain::new(1, 15, pulses, 1000, 500),
            slack: 200_000,
            status_timeout: Duration::from_secs(5),
            events_timeout: Duration::from_secs(5),
        }
    }

    fn exercise(mangle: bool) {
        let mut link = FakeLink::start(FakeOptions { mangle, ..Default::default() }).unwrap();
        assert_eq!(link.ready, Ready { boot_us: 4242, cpu1_up: true, build_id: BuildId::new("fake") });
        link.master.timeout = Duration::from_secs(2);
        for _ in 0..20 {
            link.master.echo().unwrap();
        }
        let s = link.master.transport.stats(Duration::from_secs(2)).unwrap();
        assert!(s.packets_in >= 20, "{s:?}");
        link.master.init_link(1).unwrap();
        assert_eq!(link.master.destination_status(1).unwrap(), DestinationStatus::Ok);
        let mut counter = Some(CounterEstimate::from_stats(&s));
        let base = link.master.transport.stats(Duration::from_secs(2)).unwrap();
        for id in 1..=3 {
            // 150 pulses: 5100 bytes, six upload chunks.
            let run = ddma_round_trip(&mut link.master, &ddma_config(id, 150), &mut counter, Some(&base)).unwrap();
            let summary = run.summary.unwrap();
            assert_eq!((summary.pulses, summary.period, summary.width), (150, Some((1000, 1000)), Some((500, 500))));
            assert_eq!(run.after.unwrap().ddma_traces, 0);
        }
        link.master.reset().unwrap();
        let c = link.master.transport.counters();
        assert_eq!(c.ready_in, 1, "READY stops once the host has spoken");
        if mangle {
            assert!(c.bad_records > 0 && c.slip_discarded > 0, "{c:?}");
        } else {
            assert_eq!((c.bad_records, c.slip_discarded), (0, 0), "{c:?}");
        }
        assert_eq!(link.exit(7), FakeExit::Exit(7));
    }

    #[test]
    fn link_against_a_fake_firmware() {
        exercise(false);
    }

    #[test]
    fn link_survives_noise_and_split_writes() {
        exercise(true);
    }

    #[test]
    fn ready_repeats_until_the_host_speaks_and_close_is_reported() {
        let link = FakeLink::start(FakeOptions { ready_delay: Duration::from_millis(100), ..Default::default() }).unwrap();
        let deadline = Instant::now() + Duration::from_millis(2500);
        while link.master.transport.counters().ready_in < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(link.master.transport.counters().ready_in >= 2, "READY repeated every second");
        let mut m = link.master;
        let _ = m.transport.send_control(Control::Exit(0));
        assert_eq!(link.thread.join().unwrap(), FakeExit::Exit(0));
        match m.echo() {
            Err(MasterError::Transport(why)) => assert!(why.contains("closed"), "{why}"),
            other => panic!("echo over a closed link: {other:?}"),
        }
        assert!(m.transport.closed().is_some());
    }

    #[test]
    fn allow_list_matches_qemu_run() {
        let log = "uart_event: uart is unclocked or in reset\n\
                   SDHCI: unknown CAPAB mask: 0x1f0\n\
                   SDHCI: unknown CAPAB mask: 0xzz\n\
                   xlnx.ps7-dev-cfg: failed unlock something\n\
                   \n\
                   Invalid read at addr 0x40000000, size 4, region '(null)', reason: rejected\n";
        let bad = unexpected_lines(log, &default_allow_list());
        assert_eq!(bad, vec!["SDHCI: unknown CAPAB mask: 0xzz", "Invalid read at addr 0x40000000, size 4, region '(null)', reason: rejected"]);
    }

    #[test]
    fn command_line() {
        let mut o = QemuOptions::new("/fw.elf");
        o.qemu = "qemu-system-arm".into();
        let cmd = Qemu::command(&o, "tcp:127.0.0.1:1234", Path::new("/d"));
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let line = args.join(" ");
        assert_eq!(
            line,
            "-M xilinx-zynq-a9 -smp 2 -m 512M -nographic -audio none -monitor none -semihosting \
             -serial tcp:127.0.0.1:1234 -serial file:/d/uart1.log -kernel /fw.elf \
             -d invalid_mem,guest_errors,unimp -D /d/qemu.log"
        );
    }
}
