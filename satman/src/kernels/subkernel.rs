//! The subkernel manager: uploaded images, the kernel CPU's state, and the
//! one teardown every kernel goes through ([`Kernels::end`]).
//!
//! Kernel CPU states:
//!
//! ```text
//!            load                LoadDone               Start
//!   Idle ──────────▶ Loading ─────────────▶ Loaded ─────────────▶ Running(Session)
//!    ▲                  │ LoadFailed / deadline                      │
//!    └──────────────────┴─────────────────── end ◀────────────────────┘
//!                 (finish, exception, replacement, reset, link loss,
//!                  CPU1 protocol error or timeout)
//! ```
//!
//! `Dead` is entered when CPU1 does not come back from a restart; every
//! later load fails with an explicit error instead of wedging CPU0.
//!
//! Rules this module enforces:
//! - Preload is idempotent: a load request for the kernel that is already
//!   loaded does nothing, and running it starts it without reloading.
//! - Uploading an id that is running (or loaded) stops that kernel first,
//!   through the teardown: the master is told it ended with an exception
//!   ("replaced by a new upload"), then the new image is assembled.
//! - A kernel that is replaced, reset or fails still gets exactly one
//!   `SubkernelFinished`, with `with_exception` set and an exception the
//!   master can fetch explaining why.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use libdrtio::{Packet, PayloadStatus, Progress, Reassembler, MASTER_PAYLOAD_MAX_SIZE};
use libksupport::exception::{self, id as exn_id};
use libksupport::msg::{Bytes, FromKernel, ToKernel};
use log::{error, info, warn};

use super::session::{RemoteState, Session, Wait};
use super::Ctx;
use super::memory::image_bytes;
use crate::budget::{Budget, Kind, ENTRY_OVERHEAD};
use crate::chunks::Chunks;
use crate::fault::CpuFault;
use crate::hal::Initiator;

/// How a kernel ended.
#[derive(Debug)]
pub enum End {
    /// `__modinit__` returned.
    Finished,
    /// The kernel raised; the serialised exception.
    Exception(Vec<u8>),
    /// The kernel raised an exception of this many bytes, too large for
    /// CPU0's memory budget to copy: the master gets a stand-in saying so.
    ExceptionTooLarge(usize),
    /// A new upload or load of a kernel replaced it.
    Replaced,
    /// `ResetRequest`.
    Reset,
    /// The uplink went down.
    LinkLost,
    /// CPU1 broke the protocol or missed a deadline.
    Fault(&'static str),
    /// CPU1 took a fatal exception (undefined instruction, abort, alignment
    /// fault, stack overflow, a panic of its firmware) while running it.
    Crashed(CpuFault),
    /// It ran longer than `Config::kernel_run_limit_us`.
    Runaway { limit_us: u64 },
}

impl End {
    /// The exception the master gets for an end the kernel did not choose:
    /// id, message, parameters.
    fn exception(&self, id: u32) -> (u32, String, [i64; 3]) {
        let text = |t: &str| (exn_id::SUBKERNEL_ERROR, String::from(t), [id as i64, 0, 0]);
        match self {
            End::Finished | End::Exception(_) | End::ExceptionTooLarge(_) => text(""),
            End::Replaced => text("subkernel stopped: replaced by a new upload or load"),
            End::Reset => text("subkernel stopped by a reset request"),
            End::LinkLost => text("subkernel stopped: uplink lost"),
            End::Fault(why) => text(why),
            End::Crashed(f) => (exn_id::RUNTIME_ERROR, f.message(), f.params()),
            End::Runaway { limit_us } => (
                exn_id::RUNTIME_ERROR,
                alloc::format!("kernel CPU fault: runaway kernel stopped after its run limit of {} ms", limit_us / 1000),
                [id as i64, (*limit_us / 1000) as i64, 0],
            ),
        }
    }
}

pub(super) enum Image {
    Uploading(Reassembler),
    Ready(Vec<u8>),
}

/// What to do when a load completes.
#[derive(Debug, Clone, Copy)]
enum AfterLoad {
    /// Preload: reply to `source`.
    Reply { source: u8 },
    /// Load and run: start, then reply to `source`.
    Run { source: u8, timestamp: u64 },
}

enum Cpu {
    Idle,
    Loading { id: u32, deadline: u64, then: AfterLoad },
    Loaded { id: u32 },
    Running(Box<Session>),
    Dead,
}

/// Public view of the kernel CPU's state, for tests and the state dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelState {
    Idle,
    Loading(u32),
    Loaded(u32),
    Running(u32),
    Dead,
}

/// An exception kept for `SubkernelExceptionRequest`.
pub(super) struct Served {
    /// The subkernel that raised it (or was stopped).
    id: u32,
    pub(super) blob: Chunks,
}

/// The exception kept instead of one of `len` bytes that CPU0's memory
/// budget has no room for: the master still learns that kernel `id` raised.
fn too_large_exception(id: u32, len: usize) -> Vec<u8> {
    let mut short = Vec::new();
    let msg = "subkernel {0} raised an exception of {1} bytes, too large for CPU0's memory budget";
    exception::serialize_message(exn_id::SUBKERNEL_ERROR, msg, [id as i64, len as i64, 0], &mut short);
    short
}

/// The stand-in for an exception whose bytes CPU1 lent from outside its
/// own memory (a corrupted runtime).
fn unreadable_exception(id: u32) -> Vec<u8> {
    let mut short = Vec::new();
    let msg = "subkernel {0} raised an exception CPU0 cannot read (outside the kernel CPU's memory)";
    exception::serialize_message(exn_id::SUBKERNEL_ERROR, msg, [id as i64, 0, 0], &mut short);
    short
}

/// Longest load failure reason CPU0 copies.
const MAX_LENT_TEXT: usize = 4096;

/// Unfetched exceptions kept at most; the oldest goes first.
const MAX_EXCEPTIONS: usize = 8;

pub struct Kernels {
    images: BTreeMap<u32, Image>,
    cpu: Cpu,
    /// Exceptions the master has not fetched yet, oldest first, at most one
    /// per subkernel id. The request carries no id, so the newest is served
    /// (the master fetches right after the `SubkernelFinished` it awaited);
    /// a kernel started later does not make an earlier one's exception
    /// unreachable, and a normal finish of the same id drops its old one.
    pub(super) exceptions: VecDeque<Served>,
    /// The kernel whose exception could not be kept even as a stand-in
    /// (CPU0's budget full), and the exception's size: the master's fetch
    /// gets a stand-in made when it asks (sent at once, not held).
    unkept: Option<(u32, usize)>,
    /// `cache_get`/`cache_put` store, local to this satellite.
    pub(super) cache: BTreeMap<String, Vec<i32>>,
    /// Bytes counted for `images` and `cache` (running totals: both can
    /// have many entries, see `memory`).
    pub(super) images_bytes: usize,
    pub(super) cache_bytes: usize,
}

impl Kernels {
    pub fn new() -> Kernels {
        Kernels {
            images: BTreeMap::new(),
            cpu: Cpu::Idle,
            exceptions: VecDeque::new(),
            unkept: None,
            cache: BTreeMap::new(),
            images_bytes: 0,
            cache_bytes: 0,
        }
    }

    pub fn state(&self) -> KernelState {
        match &self.cpu {
            Cpu::Idle => KernelState::Idle,
            Cpu::Loading { id, .. } => KernelState::Loading(*id),
            Cpu::Loaded { id } => KernelState::Loaded(*id),
            Cpu::Running(s) => KernelState::Running(s.id),
            Cpu::Dead => KernelState::Dead,
        }
    }

    /// Whether a kernel runs on CPU1.
    pub fn running(&self) -> bool {
        matches!(self.cpu, Cpu::Running(_))
    }

    /// Uploaded images: (id, bytes, complete).
    pub fn images(&self) -> impl Iterator<Item = (u32, usize, bool)> + '_ {
        self.images.iter().map(|(id, img)| match img {
            Image::Uploading(r) => (*id, r.len(), false),
            Image::Ready(v) => (*id, v.len(), true),
        })
    }

    /// Drops every uploaded image and the kernel cache (uplink
    /// re-initialisation: a new master session uploads what it needs).
    pub fn forget_images(&mut self) {
        self.images = BTreeMap::new();
        self.images_bytes = 0;
        self.cache = BTreeMap::new();
        self.cache_bytes = 0;
        self.exceptions = VecDeque::new();
        self.unkept = None;
    }

    /// Replaces (or, with `None`, drops) the kept exception of kernel `id`.
    /// One over CPU0's memory budget is replaced by a stand-in
    /// ([`Kernels::keep_standin`]).
    fn keep_exception(&mut self, budget: &mut Budget, id: u32, blob: Option<Vec<u8>>) {
        self.forget_exception(budget, id);
        match blob {
            Some(b) if budget.admit(Kind::Exceptions, ENTRY_OVERHEAD + b.capacity()).is_ok() => self.push_exception(id, b),
            Some(b) => self.push_standin(budget, id, b.len()),
            None => self.trim_exceptions(),
        }
    }

    /// Keeps, for kernel `id`, a short stand-in for its exception of `len`
    /// bytes that CPU0's memory budget could not hold, so the master still
    /// learns that the kernel raised and how large the exception was. The
    /// stand-in is held too, so it must fit in the budget: older kept
    /// exceptions make room for it; if even that is not enough, only the id
    /// and size are kept and the master's fetch gets the stand-in made
    /// when it asks ([`Kernels::exception_request`]), sent at once and not
    /// held.
    fn keep_standin(&mut self, budget: &mut Budget, id: u32, len: usize) {
        self.forget_exception(budget, id);
        self.push_standin(budget, id, len);
    }

    /// Drops what is kept of kernel `id`'s exception and measures the rest.
    fn forget_exception(&mut self, budget: &mut Budget, id: u32) {
        self.exceptions.retain(|e| e.id != id);
        self.unkept = None;
        self.account(budget);
    }

    /// The stand-in of [`Kernels::keep_standin`].
    fn push_standin(&mut self, budget: &mut Budget, id: u32, len: usize) {
        let short = too_large_exception(id, len);
        loop {
            if budget.admit(Kind::Exceptions, ENTRY_OVERHEAD + short.capacity()).is_ok() {
                return self.push_exception(id, short);
            }
            if self.exceptions.pop_front().is_none() {
                warn!("subkernel {}: even the stand-in of its exception is over CPU0's memory budget: made when fetched", id);
                self.unkept = Some((id, len));
                return self.trim_exceptions();
            }
            self.account(budget);
        }
    }

    fn push_exception(&mut self, id: u32, blob: Vec<u8>) {
        if self.exceptions.len() == MAX_EXCEPTIONS {
            self.exceptions.pop_front();
        }
        self.exceptions.push_back(Served { id, blob: Chunks::new(blob) });
    }

    fn trim_exceptions(&mut self) {
        if self.exceptions.is_empty() {
            // Give the buffer back: heap use must not depend on history.
            self.exceptions = VecDeque::new();
        }
    }

    pub(super) fn session(&mut self) -> Option<&mut Session> {
        match &mut self.cpu {
            Cpu::Running(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn session_ref(&self) -> Option<&Session> {
        match &self.cpu {
            Cpu::Running(s) => Some(s),
            _ => None,
        }
    }

    // ---- upload -----------------------------------------------------------

    /// `SubkernelAddDataRequest`: one slice of kernel `id`'s image.
    pub fn upload(&mut self, ctx: &mut Ctx<'_>, id: u32, status: PayloadStatus, data: &[u8]) {
        // A new image for a kernel that is running or loaded: that kernel
        // is stale and goes through the teardown first.
        match self.state() {
            KernelState::Running(r) | KernelState::Loaded(r) | KernelState::Loading(r) if r == id => {
                info!("subkernel {}: new upload replaces the kernel on CPU1", id);
                self.end(ctx, End::Replaced);
            }
            _ => {}
        }
        let before = self.images.get(&id).map_or(0, image_bytes);
        let succeeded = self.upload_slice(ctx, id, status, data, before);
        let after = self.images.get(&id).map_or(0, image_bytes);
        self.images_bytes = self.images_bytes.saturating_sub(before).saturating_add(after);
        ctx.wire.reply(&Packet::SubkernelAddDataReply { succeeded });
    }

    /// Adds one slice to image `id` (which counted `before` bytes);
    /// returns whether it was accepted.
    fn upload_slice(&mut self, ctx: &mut Ctx<'_>, id: u32, status: PayloadStatus, data: &[u8], before: usize) -> bool {
        let max = ctx.config.max_kernel_size;
        let restart = status.is_first() || matches!(self.images.get(&id), Some(Image::Ready(_)) | None);
        // What this slice adds: a new entry, or a new buffer in place of
        // the old image (which stops counting), or the buffer's growth.
        let growth = match self.images.get(&id) {
            Some(Image::Uploading(r)) if !restart => r.growth_for(false, data.len()),
            _ => (ENTRY_OVERHEAD + data.len().min(max)).saturating_sub(before),
        };
        if ctx.budget.admit(Kind::Images, growth).is_err() {
            warn!("subkernel {}: upload refused: CPU0 memory budget ({} images held)", id, self.images.len());
            self.images.remove(&id);
            return false;
        }
        let image = self.images.entry(id).or_insert_with(|| Image::Uploading(Reassembler::new(max)));
        if restart {
            *image = Image::Uploading(Reassembler::new(max));
        }
        let result = match image {
            Image::Uploading(r) => r.push(status, data).map(|p| (p, r)),
            // Just replaced by an upload above; kept total for the compiler.
            Image::Ready(_) => Err(libdrtio::ReassemblyError::OrphanChunk),
        };
        match result {
            Ok((Progress::Incomplete, _)) => true,
            Ok((Progress::Complete, r)) => {
                let bytes = r.take().unwrap_or_default();
                info!("subkernel {}: uploaded, {} bytes", id, bytes.len());
                *image = Image::Ready(bytes);
                true
            }
            Err(e) => {
                warn!("subkernel {}: upload refused: {}", id, e);
                self.images.remove(&id);
                false
            }
        }
    }

    // ---- load and run -----------------------------------------------------

    /// `SubkernelLoadRunRequest` from `source`.
    pub fn load_run(&mut self, ctx: &mut Ctx<'_>, source: u8, id: u32, run: bool, timestamp: u64) {
        let reply = |ctx: &mut Ctx<'_>, ok: bool| {
            ctx.wire.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: ok })
        };
        if !matches!(self.images.get(&id), Some(Image::Ready(_))) {
            warn!("subkernel {}: load refused, not uploaded (or upload incomplete)", id);
            return reply(ctx, false);
        }
        // The engine playing for the master (or still draining a playback
        // abandoned earlier) refuses a run; the running kernel's own
        // playback does not: the new run replaces that kernel, and the
        // teardown stops its playback.
        let own_playback = self.session_ref().is_some_and(|s| matches!(s.wait, Wait::Playback(_)));
        if run && ctx.engine.busy(ctx.store) && !own_playback {
            warn!("subkernel {}: run refused, a DMA playback is in progress", id);
            return reply(ctx, false);
        }
        match self.state() {
            KernelState::Loaded(l) if l == id => {
                // Preloaded: no reload.
                if run {
                    self.start(ctx, id, source, timestamp);
                }
                reply(ctx, true)
            }
            KernelState::Dead => {
                error!("subkernel {}: load refused, the kernel CPU is unresponsive", id);
                reply(ctx, false)
            }
            state => {
                if matches!(state, KernelState::Running(_) | KernelState::Loading(_)) {
                    self.end(ctx, End::Replaced);
                }
                let then = if run { AfterLoad::Run { source, timestamp } } else { AfterLoad::Reply { source } };
                self.begin_load(ctx, id, then);
            }
        }
    }

    fn begin_load(&mut self, ctx: &mut Ctx<'_>, id: u32, then: AfterLoad) {
        let source = match then {
            AfterLoad::Reply { source } | AfterLoad::Run { source, .. } => source,
        };
        if ctx.cpu.restart().is_err() {
            error!("kernel CPU unresponsive: cannot load subkernel {}", id);
            self.cpu = Cpu::Dead;
            ctx.wire.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: false });
            return;
        }
        let image = match self.images.get(&id) {
            Some(Image::Ready(bytes)) => Bytes::new(bytes),
            _ => Bytes::EMPTY,
        };
        if ctx.cpu.send(ToKernel::Load { image }).is_err() {
            self.cpu = Cpu::Idle;
            ctx.wire.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: false });
            return;
        }
        let deadline = ctx.now() + ctx.config.load_timeout_us;
        self.cpu = Cpu::Loading { id, deadline, then };
    }

    fn start(&mut self, ctx: &mut Ctx<'_>, id: u32, requester: u8, timestamp: u64) {
        ctx.rtio.select(Initiator::Kernel);
        if ctx.cpu.send(ToKernel::Start { timestamp }).is_err() {
            self.cpu = Cpu::Running(Box::new(Session::new(id, requester)));
            self.end(ctx, End::Fault("subkernel could not be started: CPU1 mailbox full"));
            return;
        }
        info!("subkernel {}: started at {}", id, timestamp);
        let mut session = Box::new(Session::new(id, requester));
        session.started_us = ctx.now();
        self.cpu = Cpu::Running(session);
    }

    fn load_finished(&mut self, ctx: &mut Ctx<'_>, ok: bool, reason: &str) {
        let Cpu::Loading { id, then, .. } = core::mem::replace(&mut self.cpu, Cpu::Idle) else {
            warn!("CPU1 reported a load result while not loading");
            return;
        };
        let source = match then {
            AfterLoad::Reply { source } | AfterLoad::Run { source, .. } => source,
        };
        if !ok {
            error!("subkernel {}: load failed: {}", id, reason);
            ctx.stats.kernels_failed += 1;
            if ctx.cpu.restart().is_err() {
                self.cpu = Cpu::Dead;
            }
            ctx.wire.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: false });
            return;
        }
        // CPU1 waits for `Start` and allocates nothing meanwhile.
        ctx.stats.heap1_loaded = ctx.cpu.heap_in_use().map(|b| b as u64);
        ctx.stats.heap1_ended = None;
        self.cpu = Cpu::Loaded { id };
        if let AfterLoad::Run { timestamp, .. } = then {
            self.start(ctx, id, source, timestamp);
        }
        ctx.wire.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: true });
    }

    // ---- the teardown -------------------------------------------------------

    /// Ends whatever kernel CPU1 holds. For a running kernel: stop CPU1,
    /// stop the DMA playback it started, give the RTIO back to the master,
    /// free every trace it recorded (here and on other destinations), drop
    /// its messages and buffers, and send exactly one `SubkernelFinished`.
    /// A kernel that was only loaded or loading is unloaded (and a pending
    /// load reply answered `false`).
    pub fn end(&mut self, ctx: &mut Ctx<'_>, how: End) {
        let session = match core::mem::replace(&mut self.cpu, Cpu::Idle) {
            Cpu::Running(s) => s,
            Cpu::Loading { id, then, .. } => {
                warn!("subkernel {}: load abandoned ({:?})", id, how);
                self.restart_cpu1(ctx);
                if !matches!(how, End::LinkLost) {
                    let (AfterLoad::Reply { source } | AfterLoad::Run { source, .. }) = then;
                    ctx.wire.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: false });
                }
                return;
            }
            Cpu::Loaded { .. } => {
                self.restart_cpu1(ctx);
                return;
            }
            Cpu::Idle => return,
            Cpu::Dead => {
                self.cpu = Cpu::Dead;
                return;
            }
        };
        let id = session.id;
        // 0. What the run left on CPU1's heap, read before the restart
        // recreates it, if the kernel ended by itself: CPU1 then waits,
        // allocating nothing (after `Finished` or `Exception`, or in its
        // fault handler).
        ctx.stats.heap1_ended = match how {
            End::Finished | End::Exception(_) | End::ExceptionTooLarge(_) | End::Crashed(_) => {
                ctx.cpu.heap_in_use().map(|b| b as u64)
            }
            _ => None,
        };
        // 1. CPU1 stops touching anything.
        self.restart_cpu1(ctx);
        // 2. The DMA engine stops reading trace memory.
        if matches!(session.wait, Wait::Playback(_)) {
            ctx.engine.abandon(ctx.store);
        }
        // 3. The master drives the RTIO again.
        ctx.rtio.select(Initiator::Drtio);
        // 4. Traces: ours, and our parts on other destinations.
        ctx.store.erase_kernel(id);
        let own = ctx.wire.own();
        for t in &session.remote_traces {
            if t.state != RemoteState::Failed {
                let packet = Packet::DmaRemoveTraceRequest { source: own, destination: t.destination, id: t.id };
                ctx.wire.send_routed(t.destination, &packet);
            }
        }
        // 5. Messages, buffers, waits.
        let requester = session.requester;
        drop(session);
        // 6. Exactly one SubkernelFinished.
        let link_lost = matches!(how, End::LinkLost);
        let with_exception = match how {
            End::Finished => {
                info!("subkernel {}: finished", id);
                ctx.stats.kernels_finished += 1;
                self.keep_exception(ctx.budget, id, None);
                false
            }
            End::Exception(blob) => {
                match exception::parse(&blob) {
                    Ok(e) => warn!("subkernel {}: exception: {}", id, e),
                    Err(_) => warn!("subkernel {}: exception (unreadable)", id),
                }
                ctx.stats.kernels_failed += 1;
                self.keep_exception(ctx.budget, id, Some(blob));
                true
            }
            End::ExceptionTooLarge(len) => {
                warn!("subkernel {}: exception of {} bytes, too large for CPU0's memory budget", id, len);
                ctx.stats.kernels_failed += 1;
                self.keep_standin(ctx.budget, id, len);
                true
            }
            ref other => {
                let (exn, msg, params) = other.exception(id);
                warn!("subkernel {}: {}", id, msg);
                ctx.stats.kernels_failed += 1;
                let mut blob = Vec::new();
                exception::serialize_message(exn, &msg, params, &mut blob);
                self.keep_exception(ctx.budget, id, Some(blob));
                true
            }
        };
        if link_lost {
            // The master marks our kernels lost when our link drops; the
            // upstream queue is discarded with the link anyway.
            return;
        }
        let finished = Packet::SubkernelFinished { destination: requester, id, with_exception, exception_src: own };
        ctx.wire.send_routed(requester, &finished);
    }

    fn restart_cpu1(&mut self, ctx: &mut Ctx<'_>) {
        if ctx.cpu.restart().is_err() {
            error!("kernel CPU did not stop; kernels are disabled until reset");
            self.cpu = Cpu::Dead;
        }
    }

    // ---- exceptions for the master ------------------------------------------

    /// `SubkernelExceptionRequest` from `source`: the next slice of the
    /// newest kept exception.
    pub fn exception_request(&mut self, ctx: &mut Ctx<'_>, source: u8) {
        let last = match self.exceptions.back_mut() {
            Some(served) => {
                let (data, last) = served.blob.next_slice(MASTER_PAYLOAD_MAX_SIZE);
                ctx.wire.late_reply(source, &Packet::SubkernelException { destination: source, last, data });
                last
            }
            None => {
                // Made now and dropped once sent: nothing is held for it.
                let standin = self.unkept.take().map(|(id, len)| too_large_exception(id, len)).unwrap_or_default();
                debug_assert!(standin.len() <= MASTER_PAYLOAD_MAX_SIZE);
                let data = &standin[..standin.len().min(MASTER_PAYLOAD_MAX_SIZE)];
                ctx.wire.late_reply(source, &Packet::SubkernelException { destination: source, last: true, data });
                true
            }
        };
        if last {
            self.exceptions.pop_back();
            if self.exceptions.is_empty() {
                self.exceptions = VecDeque::new();
            }
        }
    }

    // ---- CPU1 ---------------------------------------------------------------

    /// Handles what CPU1 has sent since the last pass.
    pub fn poll(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(fault) = ctx.cpu.fault() {
            self.crashed(ctx, fault);
        }
        // A few per pass: the aux link must not starve behind a chatty kernel.
        for _ in 0..8 {
            let Some(msg) = ctx.cpu.receive() else { return };
            match (self.state(), msg) {
                (KernelState::Loading(_), FromKernel::LoadDone) => self.load_finished(ctx, true, ""),
                (KernelState::Loading(_), FromKernel::LoadFailed { reason }) => {
                    let reason = match ctx.cpu.lent(reason) {
                        Ok(text) => String::from_utf8_lossy(&text[..text.len().min(MAX_LENT_TEXT)]).into_owned(),
                        Err(e) => alloc::format!("(the reason CPU1 gave is unreadable: {:?})", e),
                    };
                    self.load_finished(ctx, false, &reason);
                }
                (KernelState::Running(_), FromKernel::Finished) => self.end(ctx, End::Finished),
                (KernelState::Running(_), FromKernel::Exception { blob }) => {
                    let id = self.session_ref().map_or(0, |s| s.id);
                    // Copied only within CPU0's memory budget; over it, a
                    // short stand-in says so (see `keep_standin`).
                    if ctx.budget.admit(Kind::Exceptions, ENTRY_OVERHEAD + blob.len()).is_err() {
                        self.end(ctx, End::ExceptionTooLarge(blob.len()));
                        continue;
                    }
                    let blob = match ctx.cpu.lent(blob) {
                        Ok(bytes) => bytes.to_vec(),
                        Err(e) => {
                            error!("subkernel {}: its exception is unreadable: {:?}", id, e);
                            unreadable_exception(id)
                        }
                    };
                    self.end(ctx, End::Exception(blob));
                }
                (KernelState::Running(_), request) => self.request(ctx, request),
                (state, msg) => {
                    warn!("unexpected message from CPU1 in state {:?}: {:?}", state, msg);
                    if matches!(state, KernelState::Loading(_)) {
                        self.end(ctx, End::Fault("kernel CPU broke the load protocol"));
                    }
                }
            }
        }
    }

    /// CPU1 took a fatal exception: whatever it held ends through the
    /// teardown (a load is answered `false`), and CPU1 restarts.
    fn crashed(&mut self, ctx: &mut Ctx<'_>, fault: CpuFault) {
        ctx.stats.kernel_cpu_faults += 1;
        error!("{}", fault.message());
        match self.state() {
            KernelState::Running(_) | KernelState::Loading(_) => self.end(ctx, End::Crashed(fault)),
            KernelState::Loaded(_) | KernelState::Idle => {
                // Outside a kernel (the loader, CPU1's idle loop): nothing
                // to report to the master, but CPU1 must come back.
                let loaded = core::mem::replace(&mut self.cpu, Cpu::Idle);
                drop(loaded);
                self.restart_cpu1(ctx);
            }
            KernelState::Dead => {}
        }
    }

    /// Answers the request CPU1 waits on.
    pub(super) fn reply_kernel(&mut self, ctx: &mut Ctx<'_>, msg: ToKernel) {
        if ctx.cpu.send(msg).is_err() {
            // CPU1 sends one request at a time and waits for its reply, so a
            // full mailbox means CPU1 is not following the protocol.
            self.end(ctx, End::Fault("kernel CPU mailbox overflow"));
        }
    }

    /// Expires whatever waits too long.
    pub fn poll_deadlines(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        if let Cpu::Loading { id, deadline, .. } = self.cpu {
            if now >= deadline {
                error!("subkernel {}: CPU1 did not finish loading in time", id);
                self.end(ctx, End::Fault("kernel load timed out"));
            }
        }
        if let (Some(limit_us), Cpu::Running(s)) = (ctx.config.kernel_run_limit_us, &self.cpu) {
            if now.saturating_sub(s.started_us) >= limit_us {
                error!("subkernel {}: still running after its run limit", s.id);
                self.end(ctx, End::Runaway { limit_us });
                return;
            }
        }
        self.poll_session_deadlines(ctx, now);
    }
}

impl Default for Kernels {
    fn default() -> Self {
        Self::new()
    }
}
