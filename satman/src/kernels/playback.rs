//! A kernel's own DMA playbacks: the parts of its recordings that play on
//! other destinations (uploaded slice by slice), and `dma_playback`'s
//! stages.
//!
//! ```text
//!   Uploading ──parts uploaded──▶ StartingRemote ──all replied──▶ Local ──engine done──▶ AwaitingRemote ──all statuses──▶ done
//!       └──────────── no remote part ─────────────────────────────▲                 └── no remote part ──────────────────▲
//! ```
//!
//! The DMA engine is the satellite's: a playback asks for it through the
//! [`Engine`](super::Engine) in its [`Ctx`], which the satellite implements
//! over the DDMA part. Everything else here is the running kernel's session,
//! so the teardown frees it with the session.

use libdma::{Key, Recorded};
use libdrtio::{Packet, MASTER_PAYLOAD_MAX_SIZE};
use libksupport::msg::{KernelError, PlaybackStatus, ToKernel};
use log::{info, warn};

use super::requests::store_error;
use super::session::{Playback, PlaybackStage, RemoteState, RemoteTrace, Wait};
use super::{Ctx, Kernels};
use crate::chunks::Chunks;
use crate::wire::ERROR_UNREACHABLE;

impl Kernels {
    /// `dma_record_stop`: keeps the parts for other destinations, to upload.
    pub(super) fn add_remote_traces(&mut self, recorded: Recorded) {
        let Some(session) = self.session() else { return };
        for part in recorded.remote {
            info!("DMA trace {}: {} bytes for destination {}", recorded.key.id, part.bytes.len(), part.destination);
            session.remote_traces.push(RemoteTrace {
                destination: part.destination,
                id: recorded.key.id,
                data: Chunks::new(part.bytes),
                state: RemoteState::Ready,
            });
        }
    }

    /// Sends the next chunk of each remote part whose previous chunk was
    /// acknowledged, and expires chunks that were not.
    pub(super) fn poll_remote_uploads(&mut self, ctx: &mut Ctx<'_>, now: u64) {
        let own = ctx.wire.own();
        let timeout = ctx.config.peer_timeout_us;
        let Some(session) = self.session() else { return };
        let mut failed = false;
        for t in session.remote_traces.iter_mut() {
            match t.state {
                RemoteState::InFlight { deadline } if now >= deadline => {
                    warn!("DMA trace {}: destination {} did not acknowledge a chunk", t.id, t.destination);
                    t.state = RemoteState::Failed;
                    t.data = Chunks::default();
                    failed = true;
                }
                RemoteState::Ready => {
                    let dest = t.destination;
                    if ctx.wire.room_towards(dest) == 0 {
                        continue;
                    }
                    let (data, status) = t.data.next_payload(MASTER_PAYLOAD_MAX_SIZE);
                    let packet = Packet::DmaAddTraceRequest { source: own, destination: dest, id: t.id, status, data };
                    t.state = RemoteState::InFlight { deadline: now + timeout };
                    ctx.wire.send_routed(dest, &packet);
                }
                _ => {}
            }
        }
        if failed {
            self.continue_playback(ctx);
        }
    }

    /// `DmaAddTraceReply` from a destination we upload to.
    pub fn remote_trace_added(&mut self, ctx: &mut Ctx<'_>, source: u8, id: u32, succeeded: bool) {
        let Some(session) = self.session() else { return };
        let Some(t) = session
            .remote_traces
            .iter_mut()
            .find(|t| t.destination == source && t.id == id && matches!(t.state, RemoteState::InFlight { .. }))
        else {
            warn!("unexpected DmaAddTraceReply from {} for trace {}", source, id);
            return;
        };
        if !succeeded {
            warn!("destination {} refused DMA trace {}", source, id);
            t.state = RemoteState::Failed;
            t.data = Chunks::default();
        } else if t.data.done() {
            t.state = RemoteState::Uploaded;
            t.data = Chunks::default();
        } else {
            t.state = RemoteState::Ready;
        }
        self.continue_playback(ctx);
    }

    /// `dma_playback` from the kernel.
    pub(super) fn begin_playback(&mut self, ctx: &mut Ctx<'_>, id: u32, timestamp: u64) {
        let key = Key { source: ctx.wire.own(), id };
        let complete = ctx.store.info(key).is_some_and(|t| t.complete);
        if !complete {
            return self.reply_kernel(ctx, ToKernel::Error(KernelError::DmaNotFound));
        }
        if ctx.engine.busy(ctx.store) {
            return self.reply_kernel(ctx, ToKernel::Error(KernelError::DmaBusy));
        }
        let deadline = ctx.now() + ctx.config.playback_timeout_us;
        let Some(session) = self.session() else { return };
        session.wait = Wait::Playback(Playback {
            id,
            timestamp,
            stage: PlaybackStage::Uploading,
            deadline,
            status: PlaybackStatus::default(),
        });
        self.continue_playback(ctx);
    }

    /// Moves a kernel playback through its stages as far as it can go.
    fn continue_playback(&mut self, ctx: &mut Ctx<'_>) {
        let own = ctx.wire.own();
        let Some(session) = self.session() else { return };
        let uploads_done = session.uploads_done();
        let Wait::Playback(p) = &mut session.wait else { return };
        let (id, timestamp) = (p.id, p.timestamp);
        if !(p.stage == PlaybackStage::Uploading && uploads_done) {
            return;
        }
        let targets: alloc::vec::Vec<u8> = session
            .remote_traces
            .iter()
            .filter(|t| t.id == id && t.state == RemoteState::Uploaded)
            .map(|t| t.destination)
            .collect();
        let failed = session.remote_traces.iter().any(|t| t.id == id && t.state == RemoteState::Failed);
        let Wait::Playback(p) = &mut session.wait else { return };
        if failed {
            p.status.error |= ERROR_UNREACHABLE;
        }
        if targets.is_empty() {
            self.start_local_playback(ctx);
            return;
        }
        p.stage = PlaybackStage::StartingRemote { pending: targets.len() };
        for dest in targets {
            let packet = Packet::DmaPlaybackRequest { source: own, destination: dest, id, timestamp };
            ctx.wire.send_routed(dest, &packet);
        }
    }

    /// `DmaPlaybackReply` from a destination we asked to play.
    pub fn remote_playback_started(&mut self, ctx: &mut Ctx<'_>, succeeded: bool) {
        let Some(session) = self.session() else { return };
        let Wait::Playback(p) = &mut session.wait else {
            warn!("unexpected DmaPlaybackReply");
            return;
        };
        let PlaybackStage::StartingRemote { pending } = p.stage else { return };
        if !succeeded {
            p.status.error |= ERROR_UNREACHABLE;
        }
        let remaining = pending.saturating_sub(1);
        p.stage = PlaybackStage::StartingRemote { pending: remaining };
        if remaining == 0 {
            self.start_local_playback(ctx);
        }
    }

    fn start_local_playback(&mut self, ctx: &mut Ctx<'_>) {
        let own = ctx.wire.own();
        let Some(session) = self.session() else { return };
        let Wait::Playback(p) = &mut session.wait else { return };
        let key = Key { source: own, id: p.id };
        match ctx.engine.start(ctx.rtio, ctx.store, key, p.timestamp) {
            Ok(()) => p.stage = PlaybackStage::Local,
            Err(e) => {
                warn!("kernel DMA playback refused: {}", e);
                self.complete_wait(ctx, ToKernel::Error(store_error(e)));
            }
        }
    }

    /// Whether the engine plays this kernel's trace.
    fn playing_locally(&self) -> bool {
        self.session_ref().is_some_and(|s| matches!(&s.wait, Wait::Playback(p) if p.stage == PlaybackStage::Local))
    }

    /// Watches the engine while it plays this kernel's trace.
    pub fn poll_playback(&mut self, ctx: &mut Ctx<'_>) {
        if self.playing_locally() {
            if let Some(status) = ctx.engine.poll() {
                self.local_playback_done(ctx, status);
            }
        }
    }

    fn local_playback_done(&mut self, ctx: &mut Ctx<'_>, status: PlaybackStatus) {
        ctx.engine.finish(ctx.rtio, ctx.store);
        let Some(session) = self.session() else { return };
        let id = match &session.wait {
            Wait::Playback(p) => p.id,
            _ => return,
        };
        let remote = session.remote_traces.iter().filter(|t| t.id == id && t.state == RemoteState::Uploaded).count();
        let Wait::Playback(p) = &mut session.wait else { return };
        if p.status.error == 0 && status.error != 0 {
            p.status = status;
        }
        if remote == 0 {
            let status = p.status;
            return self.complete_wait(ctx, ToKernel::PlaybackDone(status));
        }
        p.stage = PlaybackStage::AwaitingRemote { pending: remote };
    }

    /// `DmaPlaybackStatus` from a destination playing our trace.
    pub fn remote_playback_status(&mut self, ctx: &mut Ctx<'_>, source: u8, id: u32, error: u8, channel: u32, timestamp: u64) {
        let Some(session) = self.session() else { return };
        let Wait::Playback(p) = &mut session.wait else {
            warn!("unexpected DmaPlaybackStatus from {} for trace {}", source, id);
            return;
        };
        let PlaybackStage::AwaitingRemote { pending } = p.stage else { return };
        if p.status.error == 0 && error != 0 {
            p.status = PlaybackStatus { error, channel, timestamp };
        }
        let remaining = pending.saturating_sub(1);
        p.stage = PlaybackStage::AwaitingRemote { pending: remaining };
        if remaining == 0 {
            let status = p.status;
            self.complete_wait(ctx, ToKernel::PlaybackDone(status));
        }
    }

    pub(super) fn playback_timed_out(&mut self, ctx: &mut Ctx<'_>) {
        if self.playing_locally() {
            ctx.engine.abandon(ctx.store);
            ctx.rtio.select(crate::hal::Initiator::Kernel);
        }
        warn!("kernel DMA playback timed out");
        self.complete_wait(ctx, ToKernel::Error(KernelError::Timeout));
    }
}
