//! Distributed DMA: traces the master (or another satellite) uploads and
//! plays here, and the parts of our kernels' recordings that play on other
//! destinations.
//!
//! Only one playback runs at a time. The trace it plays is marked busy in
//! the store, so it cannot be freed under the engine; every way a playback
//! ends (done, timeout, reset, kernel teardown) stops the engine, releases
//! the trace and gives the RTIO back to whoever drove it before.

use libdma::{Key, Recorded};
use libdrtio::{Packet, PayloadStatus, MASTER_PAYLOAD_MAX_SIZE};
use libksupport::msg::{KernelError, PlaybackStatus, ToKernel};
use log::{info, warn};

use crate::hal::{DmaEngine, Initiator, Platform, Rtio};
use crate::kernel_requests::store_error;
use crate::satellite::Satellite;
use crate::session::{Playback, PlaybackStage, RemoteState, RemoteTrace, Wait};
use crate::subkernel::KernelState;

/// A playback commanded by a `DmaPlaybackRequest`.
#[derive(Debug)]
struct MasterPlayback {
    requester: u8,
    id: u32,
    deadline: u64,
}

#[derive(Debug, Default)]
pub struct MasterDma {
    playing: Option<MasterPlayback>,
}

/// `DmaPlaybackStatus` error bit: destination unreachable.
const ERROR_UNREACHABLE: u8 = 2;

impl<P: Platform> Satellite<P> {
    /// A playback runs, or an abandoned one is still draining.
    pub(crate) fn master_dma_busy(&self) -> bool {
        self.master_dma.playing.is_some() || self.store.playing().is_some()
    }

    /// Stops the engine, and releases its trace as soon as the engine no
    /// longer reads it (at once, or from `poll_master_dma`).
    pub(crate) fn abandon_playback(&mut self) {
        self.hw.dma.stop();
        if self.hw.dma.idle() {
            self.store.end_playback();
        } else {
            warn!("DMA engine still reading an abandoned trace; it is freed once the engine stops");
            self.dma_draining = true;
        }
    }

    // ---- master-commanded -------------------------------------------------

    pub(crate) fn handle_add_trace(&mut self, source: u8, id: u32, status: PayloadStatus, data: &[u8]) {
        let key = Key { source, id };
        let succeeded = match self.store.add_chunk(key, status.is_first(), status.is_last(), data) {
            Ok(_) => true,
            Err(e) => {
                warn!("DMA trace ({}, {}) refused: {}", source, id, e);
                false
            }
        };
        let own = self.own;
        self.late_reply(source, &Packet::DmaAddTraceReply { source: own, destination: source, id, succeeded });
    }

    pub(crate) fn handle_remove_trace(&mut self, source: u8, id: u32) {
        let succeeded = match self.store.remove(Key { source, id }) {
            Ok(()) => true,
            Err(e) => {
                warn!("DMA trace ({}, {}) not removed: {}", source, id, e);
                false
            }
        };
        self.late_reply(source, &Packet::DmaRemoveTraceReply { destination: source, succeeded });
    }

    pub(crate) fn handle_playback(&mut self, source: u8, id: u32, timestamp: u64) {
        let succeeded = self.start_master_playback(source, id, timestamp);
        self.late_reply(source, &Packet::DmaPlaybackReply { destination: source, succeeded });
    }

    fn start_master_playback(&mut self, source: u8, id: u32, timestamp: u64) -> bool {
        if matches!(self.kernels.state(), KernelState::Running(_)) {
            warn!("DMA playback refused: a subkernel is running");
            return false;
        }
        let trace = match self.store.start_playback(Key { source, id }) {
            Ok(t) => t,
            Err(e) => {
                warn!("DMA playback of ({}, {}) refused: {}", source, id, e);
                return false;
            }
        };
        self.hw.rtio.select(Initiator::Dma);
        self.hw.dma.start(&trace, timestamp);
        let deadline = self.now() + self.config.playback_timeout_us;
        self.master_dma.playing = Some(MasterPlayback { requester: source, id, deadline });
        true
    }

    /// Stops a master-commanded playback without reporting it (reset, link
    /// loss: nobody is waiting for it any more).
    pub(crate) fn stop_master_dma(&mut self) {
        if self.master_dma.playing.take().is_some() {
            self.abandon_playback();
            self.hw.rtio.select(Initiator::Drtio);
        }
    }

    /// Watches the engine for whichever playback runs.
    pub(crate) fn poll_master_dma(&mut self) {
        if self.dma_draining && self.hw.dma.idle() {
            self.dma_draining = false;
            self.store.end_playback();
        }
        if let Some(p) = &self.master_dma.playing {
            let (requester, id, deadline) = (p.requester, p.id, p.deadline);
            let status = match self.hw.dma.poll() {
                Some(s) => s,
                None if self.now() >= deadline => {
                    warn!("DMA playback of trace {} did not finish in time; stopped", id);
                    self.abandon_playback();
                    // No timeout code exists on the wire: report it as the
                    // engine being unable to deliver its events.
                    PlaybackStatus { error: ERROR_UNREACHABLE, channel: 0, timestamp: 0 }
                }
                None => return,
            };
            self.master_dma.playing = None;
            if !self.dma_draining {
                self.store.end_playback();
            }
            self.hw.rtio.select(Initiator::Drtio);
            let own = self.own;
            let packet = Packet::DmaPlaybackStatus {
                source: own,
                destination: requester,
                id,
                error: status.error,
                channel: status.channel,
                timestamp: status.timestamp,
            };
            self.send_routed(requester, &packet);
            return;
        }
        let local = self.kernels.session_ref().is_some_and(|s| {
            matches!(&s.wait, Wait::Playback(p) if p.stage == PlaybackStage::Local)
        });
        if local {
            if let Some(status) = self.hw.dma.poll() {
                self.local_playback_done(status);
            }
        }
    }

    // ---- kernel-requested ---------------------------------------------------

    /// `dma_record_stop`: keeps the parts for other destinations, to upload.
    pub(crate) fn add_remote_traces(&mut self, recorded: Recorded) {
        let Some(session) = self.kernels.session() else { return };
        for part in recorded.remote {
            info!("DMA trace {}: {} bytes for destination {}", recorded.key.id, part.bytes.len(), part.destination);
            session.remote_traces.push(RemoteTrace {
                destination: part.destination,
                id: recorded.key.id,
                data: part.bytes,
                sent: 0,
                state: RemoteState::Ready,
            });
        }
    }

    /// Sends the next chunk of each remote part whose previous chunk was
    /// acknowledged, and expires chunks that were not.
    pub(crate) fn poll_remote_uploads(&mut self, now: u64) {
        let own = self.own;
        let timeout = self.config.peer_timeout_us;
        let count = self.kernels.session_ref().map_or(0, |s| s.remote_traces.len());
        let mut failed = false;
        for i in 0..count {
            let Some(session) = self.kernels.session() else { return };
            let t = &mut session.remote_traces[i];
            match t.state {
                RemoteState::InFlight { deadline } if now >= deadline => {
                    warn!("DMA trace {}: destination {} did not acknowledge a chunk", t.id, t.destination);
                    t.state = RemoteState::Failed;
                    t.data = Default::default();
                    failed = true;
                }
                RemoteState::Ready => {
                    let dest = t.destination;
                    if self.room_towards(dest) == 0 {
                        continue;
                    }
                    let Some(session) = self.kernels.session() else { return };
                    let t = &mut session.remote_traces[i];
                    let start = t.sent;
                    let end = (start + MASTER_PAYLOAD_MAX_SIZE).min(t.data.len());
                    let status = PayloadStatus::from_flags(start == 0, end == t.data.len());
                    let chunk = t.data[start..end].to_vec();
                    t.sent = end;
                    t.state = RemoteState::InFlight { deadline: now + timeout };
                    let packet = Packet::DmaAddTraceRequest { source: own, destination: dest, id: t.id, status, data: &chunk };
                    self.send_routed(dest, &packet);
                }
                _ => {}
            }
        }
        if failed {
            self.continue_playback();
        }
    }

    /// `DmaAddTraceReply` from a destination we upload to.
    pub(crate) fn remote_trace_added(&mut self, source: u8, id: u32, succeeded: bool) {
        let Some(session) = self.kernels.session() else { return };
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
            t.data = Default::default();
        } else if t.sent == t.data.len() {
            t.state = RemoteState::Uploaded;
            t.data = Default::default();
        } else {
            t.state = RemoteState::Ready;
        }
        self.continue_playback();
    }

    /// `dma_playback` from the kernel.
    pub(crate) fn kernel_playback(&mut self, id: u32, timestamp: u64) {
        let key = Key { source: self.own, id };
        let complete = self.store.info(key).is_some_and(|t| t.complete);
        if !complete {
            return self.reply_kernel(ToKernel::Error(KernelError::DmaNotFound));
        }
        if self.master_dma_busy() {
            return self.reply_kernel(ToKernel::Error(KernelError::DmaBusy));
        }
        let deadline = self.now() + self.config.playback_timeout_us;
        let Some(session) = self.kernels.session() else { return };
        session.wait = Wait::Playback(Playback {
            id,
            timestamp,
            stage: PlaybackStage::Uploading,
            deadline,
            status: PlaybackStatus::default(),
        });
        self.continue_playback();
    }

    /// Moves a kernel playback through its stages as far as it can go.
    fn continue_playback(&mut self) {
        let own = self.own;
        let Some(session) = self.kernels.session() else { return };
        let uploads_done = session.uploads_done();
        let Wait::Playback(p) = &mut session.wait else { return };
        let (id, timestamp) = (p.id, p.timestamp);
        match p.stage {
            PlaybackStage::Uploading if uploads_done => {
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
                    self.start_local_playback();
                    return;
                }
                p.stage = PlaybackStage::StartingRemote { pending: targets.len() };
                for dest in targets {
                    let packet = Packet::DmaPlaybackRequest { source: own, destination: dest, id, timestamp };
                    self.send_routed(dest, &packet);
                }
            }
            _ => {}
        }
    }

    /// `DmaPlaybackReply` from a destination we asked to play.
    pub(crate) fn remote_playback_started(&mut self, succeeded: bool) {
        let Some(session) = self.kernels.session() else { return };
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
            self.start_local_playback();
        }
    }

    fn start_local_playback(&mut self) {
        let own = self.own;
        let Some(session) = self.kernels.session() else { return };
        let Wait::Playback(p) = &mut session.wait else { return };
        let key = Key { source: own, id: p.id };
        let timestamp = p.timestamp;
        match self.store.start_playback(key) {
            Ok(trace) => {
                p.stage = PlaybackStage::Local;
                self.hw.rtio.select(Initiator::Dma);
                self.hw.dma.start(&trace, timestamp);
            }
            Err(e) => {
                warn!("kernel DMA playback refused: {}", e);
                self.complete_wait(ToKernel::Error(store_error(e)));
            }
        }
    }

    fn local_playback_done(&mut self, status: PlaybackStatus) {
        self.store.end_playback();
        self.hw.rtio.select(Initiator::Kernel);
        let Some(session) = self.kernels.session() else { return };
        let id = match &session.wait {
            Wait::Playback(p) => p.id,
            _ => return,
        };
        let remote = session
            .remote_traces
            .iter()
            .filter(|t| t.id == id && t.state == RemoteState::Uploaded)
            .count();
        let Wait::Playback(p) = &mut session.wait else { return };
        if p.status.error == 0 && status.error != 0 {
            p.status = status;
        }
        if remote == 0 {
            let status = p.status;
            return self.complete_wait(ToKernel::PlaybackDone(status));
        }
        p.stage = PlaybackStage::AwaitingRemote { pending: remote };
    }

    /// `DmaPlaybackStatus` from a destination playing our trace.
    pub(crate) fn remote_playback_status(&mut self, source: u8, id: u32, error: u8, channel: u32, timestamp: u64) {
        let Some(session) = self.kernels.session() else { return };
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
            self.complete_wait(ToKernel::PlaybackDone(status));
        }
    }

    pub(crate) fn playback_timed_out(&mut self) {
        let local = self.kernels.session_ref().is_some_and(|s| {
            matches!(&s.wait, Wait::Playback(p) if p.stage == PlaybackStage::Local)
        });
        if local {
            self.abandon_playback();
            self.hw.rtio.select(Initiator::Kernel);
        }
        warn!("kernel DMA playback timed out");
        self.complete_wait(ToKernel::Error(KernelError::Timeout));
    }
}
