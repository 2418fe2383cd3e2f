//! The subkernel manager: uploaded images, the kernel CPU's state, and the
//! one teardown every kernel goes through.
//!
//! Kernel CPU states:
//!
//! ```text
//!            load                LoadDone               Start
//!   Idle ──────────▶ Loading ─────────────▶ Loaded ─────────────▶ Running(Session)
//!    ▲                  │ LoadFailed / deadline                      │
//!    └──────────────────┴────────────── end_kernel ◀─────────────────┘
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
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use libdrtio::{Packet, PayloadStatus, Progress, Reassembler, Route, MASTER_PAYLOAD_MAX_SIZE};
use libksupport::exception::{self, id as exn_id};
use libksupport::msg::{Bytes, FromKernel, ToKernel};
use log::{error, info, warn};

use crate::hal::{Initiator, KernelCpu, Platform, Rtio};
use crate::satellite::Satellite;
use crate::session::{Session, Wait};

/// How a kernel ended.
#[derive(Debug)]
pub enum End {
    /// `__modinit__` returned.
    Finished,
    /// The kernel raised; the serialised exception.
    Exception(Vec<u8>),
    /// A new upload or load of a kernel replaced it.
    Replaced,
    /// `ResetRequest`.
    Reset,
    /// The uplink went down.
    LinkLost,
    /// CPU1 broke the protocol or missed a deadline.
    Fault(&'static str),
}

impl End {
    fn message(&self) -> &'static str {
        match self {
            End::Finished | End::Exception(_) => "",
            End::Replaced => "subkernel stopped: replaced by a new upload or load",
            End::Reset => "subkernel stopped by a reset request",
            End::LinkLost => "subkernel stopped: uplink lost",
            End::Fault(why) => why,
        }
    }
}

enum Image {
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
struct Served {
    /// The subkernel that raised it (or was stopped).
    id: u32,
    blob: Vec<u8>,
    sent: usize,
}

/// Unfetched exceptions kept at most; the oldest goes first.
const MAX_EXCEPTIONS: usize = 8;

pub struct Subkernels {
    images: BTreeMap<u32, Image>,
    cpu: Cpu,
    /// Exceptions the master has not fetched yet, oldest first, at most one
    /// per subkernel id. The request carries no id, so the newest is served
    /// (the master fetches right after the `SubkernelFinished` it awaited);
    /// a kernel started later does not make an earlier one's exception
    /// unreachable, and a normal finish of the same id drops its old one.
    exceptions: alloc::collections::VecDeque<Served>,
    /// `cache_get`/`cache_put` store, local to this satellite.
    pub(crate) cache: BTreeMap<String, Vec<i32>>,
}

impl Subkernels {
    pub fn new() -> Subkernels {
        Subkernels { images: BTreeMap::new(), cpu: Cpu::Idle, exceptions: alloc::collections::VecDeque::new(), cache: BTreeMap::new() }
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

    /// Uploaded images: (id, bytes, complete).
    pub fn images(&self) -> impl Iterator<Item = (u32, usize, bool)> + '_ {
        self.images.iter().map(|(id, img)| match img {
            Image::Uploading(r) => (*id, r.len(), false),
            Image::Ready(v) => (*id, v.len(), true),
        })
    }

    /// Drops every uploaded image (uplink re-initialisation: the master
    /// uploads them again).
    pub fn forget_images(&mut self) {
        self.images = BTreeMap::new();
        self.exceptions = alloc::collections::VecDeque::new();
    }

    /// Replaces (or, with `None`, drops) the kept exception of kernel `id`.
    fn keep_exception(&mut self, id: u32, blob: Option<Vec<u8>>) {
        self.exceptions.retain(|e| e.id != id);
        if let Some(blob) = blob {
            if self.exceptions.len() == MAX_EXCEPTIONS {
                self.exceptions.pop_front();
            }
            self.exceptions.push_back(Served { id, blob, sent: 0 });
        }
        if self.exceptions.is_empty() {
            // Give the buffer back: heap use must not depend on history.
            self.exceptions = alloc::collections::VecDeque::new();
        }
    }

    pub(crate) fn session(&mut self) -> Option<&mut Session> {
        match &mut self.cpu {
            Cpu::Running(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn session_ref(&self) -> Option<&Session> {
        match &self.cpu {
            Cpu::Running(s) => Some(s),
            _ => None,
        }
    }
}

impl Default for Subkernels {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Platform> Satellite<P> {
    pub fn kernel_state(&self) -> KernelState {
        self.kernels.state()
    }

    pub fn kernels(&self) -> &Subkernels {
        &self.kernels
    }

    /// Sends a reply to `destination`, which may be the master (directly, or
    /// ahead of anything queued) or another satellite (routed).
    pub(crate) fn late_reply(&mut self, destination: u8, packet: &Packet<'_>) {
        match self.route(destination) {
            Route::Repeater(_) | Route::Local if destination != 0 => {
                self.send_routed(destination, packet);
            }
            // Upstream: the requester is waiting for exactly this packet.
            _ => self.reply(packet),
        }
    }

    // ---- upload -----------------------------------------------------------

    pub(crate) fn handle_add_data(&mut self, id: u32, status: PayloadStatus, data: &[u8]) {
        // A new image for a kernel that is running or loaded: that kernel
        // is stale and goes through the teardown first.
        match self.kernels.state() {
            KernelState::Running(r) | KernelState::Loaded(r) | KernelState::Loading(r) if r == id => {
                info!("subkernel {}: new upload replaces the kernel on CPU1", id);
                self.end_kernel(End::Replaced);
            }
            _ => {}
        }
        let max = self.config.max_kernel_size;
        let image = self.kernels.images.entry(id).or_insert_with(|| Image::Uploading(Reassembler::new(max)));
        if status.is_first() || matches!(image, Image::Ready(_)) {
            *image = Image::Uploading(Reassembler::new(max));
        }
        let result = match image {
            Image::Uploading(r) => r.push(status, data).map(|p| (p, r)),
            // Just replaced by an upload above; kept total for the compiler.
            Image::Ready(_) => Err(libdrtio::ReassemblyError::OrphanChunk),
        };
        let succeeded = match result {
            Ok((Progress::Incomplete, _)) => true,
            Ok((Progress::Complete, r)) => {
                let bytes = r.take().unwrap_or_default();
                info!("subkernel {}: uploaded, {} bytes", id, bytes.len());
                *image = Image::Ready(bytes);
                true
            }
            Err(e) => {
                warn!("subkernel {}: upload refused: {}", id, e);
                self.kernels.images.remove(&id);
                false
            }
        };
        self.reply(&Packet::SubkernelAddDataReply { succeeded });
    }

    // ---- load and run -----------------------------------------------------

    pub(crate) fn handle_load_run(&mut self, source: u8, id: u32, run: bool, timestamp: u64) {
        let reply = |sat: &mut Self, ok: bool| {
            sat.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: ok })
        };
        if !matches!(self.kernels.images.get(&id), Some(Image::Ready(_))) {
            warn!("subkernel {}: load refused, not uploaded (or upload incomplete)", id);
            return reply(self, false);
        }
        if run && self.master_dma_busy() {
            warn!("subkernel {}: run refused, a DMA playback is in progress", id);
            return reply(self, false);
        }
        match self.kernels.state() {
            KernelState::Loaded(l) if l == id => {
                // Preloaded: no reload.
                if run {
                    self.start_kernel(id, source, timestamp);
                }
                reply(self, true)
            }
            KernelState::Dead => {
                error!("subkernel {}: load refused, the kernel CPU is unresponsive", id);
                reply(self, false)
            }
            state => {
                if matches!(state, KernelState::Running(_) | KernelState::Loading(_)) {
                    self.end_kernel(End::Replaced);
                }
                let then = if run { AfterLoad::Run { source, timestamp } } else { AfterLoad::Reply { source } };
                self.begin_load(id, then);
            }
        }
    }

    fn begin_load(&mut self, id: u32, then: AfterLoad) {
        let source = match then {
            AfterLoad::Reply { source } | AfterLoad::Run { source, .. } => source,
        };
        if self.hw.cpu.restart().is_err() {
            error!("kernel CPU unresponsive: cannot load subkernel {}", id);
            self.kernels.cpu = Cpu::Dead;
            self.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: false });
            return;
        }
        let image = match self.kernels.images.get(&id) {
            Some(Image::Ready(bytes)) => Bytes::new(bytes),
            _ => Bytes::EMPTY,
        };
        if self.hw.cpu.send(ToKernel::Load { image }).is_err() {
            self.kernels.cpu = Cpu::Idle;
            self.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: false });
            return;
        }
        let deadline = self.now() + self.config.load_timeout_us;
        self.kernels.cpu = Cpu::Loading { id, deadline, then };
    }

    fn start_kernel(&mut self, id: u32, requester: u8, timestamp: u64) {
        self.hw.rtio.select(Initiator::Kernel);
        if self.hw.cpu.send(ToKernel::Start { timestamp }).is_err() {
            self.kernels.cpu = Cpu::Running(Box::new(Session::new(id, requester)));
            self.end_kernel(End::Fault("subkernel could not be started: CPU1 mailbox full"));
            return;
        }
        info!("subkernel {}: started at {}", id, timestamp);
        self.kernels.cpu = Cpu::Running(Box::new(Session::new(id, requester)));
    }

    fn load_finished(&mut self, ok: bool, reason: &str) {
        let Cpu::Loading { id, then, .. } = core::mem::replace(&mut self.kernels.cpu, Cpu::Idle) else {
            warn!("CPU1 reported a load result while not loading");
            return;
        };
        let source = match then {
            AfterLoad::Reply { source } | AfterLoad::Run { source, .. } => source,
        };
        if !ok {
            error!("subkernel {}: load failed: {}", id, reason);
            self.stats.kernels_failed += 1;
            if self.hw.cpu.restart().is_err() {
                self.kernels.cpu = Cpu::Dead;
            }
            self.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: false });
            return;
        }
        self.kernels.cpu = Cpu::Loaded { id };
        if let AfterLoad::Run { timestamp, .. } = then {
            self.start_kernel(id, source, timestamp);
        }
        self.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: true });
    }

    // ---- the teardown -------------------------------------------------------

    /// Ends whatever kernel CPU1 holds. For a running kernel: stop CPU1,
    /// stop the DMA playback it started, give the RTIO back to the master,
    /// free every trace it recorded (here and on other destinations), drop
    /// its messages and buffers, and send exactly one `SubkernelFinished`.
    /// A kernel that was only loaded or loading is unloaded (and a pending
    /// load reply answered `false`).
    pub(crate) fn end_kernel(&mut self, how: End) {
        let session = match core::mem::replace(&mut self.kernels.cpu, Cpu::Idle) {
            Cpu::Running(s) => s,
            Cpu::Loading { id, then, .. } => {
                warn!("subkernel {}: load abandoned ({:?})", id, how);
                self.restart_cpu1();
                if !matches!(how, End::LinkLost) {
                    let (AfterLoad::Reply { source } | AfterLoad::Run { source, .. }) = then;
                    self.late_reply(source, &Packet::SubkernelLoadRunReply { destination: source, succeeded: false });
                }
                return;
            }
            Cpu::Loaded { .. } => {
                self.restart_cpu1();
                return;
            }
            Cpu::Idle => return,
            Cpu::Dead => {
                self.kernels.cpu = Cpu::Dead;
                return;
            }
        };
        let id = session.id;
        // 1. CPU1 stops touching anything.
        self.restart_cpu1();
        // 2. The DMA engine stops reading trace memory.
        if matches!(session.wait, Wait::Playback(_)) {
            self.abandon_playback();
        }
        // 3. The master drives the RTIO again.
        self.hw.rtio.select(Initiator::Drtio);
        // 4. Traces: ours, and our parts on other destinations.
        self.store.erase_kernel(id);
        for t in &session.remote_traces {
            if t.state != crate::session::RemoteState::Failed {
                let packet = Packet::DmaRemoveTraceRequest { source: self.own, destination: t.destination, id: t.id };
                self.send_routed(t.destination, &packet);
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
                self.stats.kernels_finished += 1;
                self.kernels.keep_exception(id, None);
                false
            }
            End::Exception(blob) => {
                match exception::parse(&blob) {
                    Ok(e) => warn!("subkernel {}: exception: {}", id, e),
                    Err(_) => warn!("subkernel {}: exception (unreadable)", id),
                }
                self.stats.kernels_failed += 1;
                self.kernels.keep_exception(id, Some(blob));
                true
            }
            ref other => {
                let msg = other.message();
                warn!("subkernel {}: {}", id, msg);
                self.stats.kernels_failed += 1;
                let mut blob = Vec::new();
                exception::serialize_message(exn_id::SUBKERNEL_ERROR, msg, [id as i64, 0, 0], &mut blob);
                self.kernels.keep_exception(id, Some(blob));
                true
            }
        };
        if link_lost {
            // The master marks our kernels lost when our link drops; the
            // upstream queue is discarded with the link anyway.
            return;
        }
        let finished = Packet::SubkernelFinished {
            destination: requester,
            id,
            with_exception,
            exception_src: self.own,
        };
        self.send_routed(requester, &finished);
    }

    fn restart_cpu1(&mut self) {
        if self.hw.cpu.restart().is_err() {
            error!("kernel CPU did not stop; kernels are disabled until reset");
            self.kernels.cpu = Cpu::Dead;
        }
    }

    // ---- exceptions for the master ------------------------------------------

    pub(crate) fn handle_exception_request(&mut self, source: u8) {
        let (data, last) = match self.kernels.exceptions.back_mut() {
            Some(served) => {
                let end = (served.sent + MASTER_PAYLOAD_MAX_SIZE).min(served.blob.len());
                let chunk = served.blob[served.sent..end].to_vec();
                served.sent = end;
                (chunk, end == served.blob.len())
            }
            None => (Vec::new(), true),
        };
        if last {
            self.kernels.exceptions.pop_back();
            if self.kernels.exceptions.is_empty() {
                self.kernels.exceptions = alloc::collections::VecDeque::new();
            }
        }
        self.late_reply(source, &Packet::SubkernelException { destination: source, last, data: &data });
    }

    // ---- CPU1 ---------------------------------------------------------------

    /// Handles what CPU1 has sent since the last pass.
    pub(crate) fn poll_kernel(&mut self) {
        // A few per pass: the aux link must not starve behind a chatty kernel.
        for _ in 0..8 {
            let Some(msg) = self.hw.cpu.receive() else { return };
            match (self.kernels.state(), msg) {
                (KernelState::Loading(_), FromKernel::LoadDone) => self.load_finished(true, ""),
                (KernelState::Loading(_), FromKernel::LoadFailed { reason }) => {
                    let reason = String::from_utf8_lossy(unsafe { reason.as_slice() }).into_owned();
                    self.load_finished(false, &reason);
                }
                (KernelState::Running(_), FromKernel::Finished) => self.end_kernel(End::Finished),
                (KernelState::Running(_), FromKernel::Exception { blob }) => {
                    let blob = unsafe { blob.as_slice() }.to_vec();
                    self.end_kernel(End::Exception(blob));
                }
                (KernelState::Running(_), request) => self.handle_kernel_request(request),
                (state, msg) => {
                    warn!("unexpected message from CPU1 in state {:?}: {:?}", state, msg);
                    if matches!(state, KernelState::Loading(_)) {
                        self.end_kernel(End::Fault("kernel CPU broke the load protocol"));
                    }
                }
            }
        }
    }

    /// Answers the request CPU1 waits on.
    pub(crate) fn reply_kernel(&mut self, msg: ToKernel) {
        if self.hw.cpu.send(msg).is_err() {
            // CPU1 sends one request at a time and waits for its reply, so a
            // full mailbox means CPU1 is not following the protocol.
            self.end_kernel(End::Fault("kernel CPU mailbox overflow"));
        }
    }

    /// Expires whatever waits too long.
    pub(crate) fn poll_deadlines(&mut self) {
        let now = self.now();
        if let Cpu::Loading { id, deadline, .. } = self.kernels.cpu {
            if now >= deadline {
                error!("subkernel {}: CPU1 did not finish loading in time", id);
                self.end_kernel(End::Fault("kernel load timed out"));
            }
        }
        self.poll_session_deadlines(now);
    }
}

