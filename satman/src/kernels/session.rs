//! Everything one running kernel owns.
//!
//! A [`Session`] exists exactly while a kernel runs on CPU1. It owns every
//! resource the kernel acquired through CPU0 (received messages, the message
//! being sent, traces uploaded to other destinations, the state of what CPU1
//! is waiting for), so ending the kernel is: stop CPU1, stop the hardware the
//! session drives, drop the session. See `Kernels::end`.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use libdrtio::Reassembler;
use libksupport::msg::PlaybackStatus;

use crate::chunks::Chunks;

/// What CPU1 is blocked on, with the deadline CPU0 enforces.
#[derive(Debug, Default)]
pub enum Wait {
    /// The kernel runs (or waits for nothing CPU0 must answer later).
    #[default]
    None,
    /// `subkernel_await_message`: the next message with this id.
    Message { id: u32, deadline: Option<u64> },
    /// `subkernel_send_message`: the acknowledgement of the slice in flight.
    MessageAck { deadline: u64 },
    /// `dma_playback`.
    Playback(Playback),
    /// `subkernel_load_run` of a subkernel on another destination.
    LoadRun { deadline: u64 },
    /// `subkernel_await_finish`.
    Finish { id: u32, deadline: Option<u64> },
    /// Fetching a remote subkernel's exception (from `source`) for
    /// `subkernel_await_finish`.
    RemoteException { source: u8, deadline: u64 },
}

/// Progress of a kernel-requested playback.
#[derive(Debug)]
pub struct Playback {
    pub id: u32,
    pub timestamp: u64,
    pub stage: PlaybackStage,
    pub deadline: u64,
    /// First error reported (locally or by a remote destination).
    pub status: PlaybackStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackStage {
    /// Waiting for the remote parts to finish uploading.
    Uploading,
    /// `DmaPlaybackRequest` sent to remote destinations; counting replies.
    StartingRemote { pending: usize },
    /// The local part is playing.
    Local,
    /// Local part done; counting `DmaPlaybackStatus` from remote destinations.
    AwaitingRemote { pending: usize },
}

/// A recorded trace's part for another destination.
#[derive(Debug)]
pub struct RemoteTrace {
    pub destination: u8,
    pub id: u32,
    /// The bytes, served one slice per acknowledgement (emptied once
    /// uploaded or failed).
    pub data: Chunks,
    pub state: RemoteState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteState {
    /// Waiting for room in the outbox to send the next chunk.
    Ready,
    /// A chunk is in flight; its reply is due by the deadline.
    InFlight { deadline: u64 },
    Uploaded,
    Failed,
}

/// A message being sent in slices, one in flight at a time.
#[derive(Debug)]
pub struct Outgoing {
    pub destination: u8,
    pub id: u32,
    /// The message; what was served includes the slice in flight.
    pub data: Chunks,
}

/// A subkernel started by this kernel on another destination that has
/// finished.
#[derive(Debug, Clone, Copy)]
pub struct RemoteFinish {
    pub id: u32,
    pub with_exception: bool,
    pub exception_src: u8,
}

pub struct Session {
    pub id: u32,
    /// Destination that started the kernel; gets its return value and
    /// `SubkernelFinished`.
    pub requester: u8,
    /// When it was started (CPU0's clock, µs), for the run limit.
    pub started_us: u64,
    pub wait: Wait,
    /// Complete messages for the kernel, by id, oldest first.
    pub inbox: VecDeque<(u32, Vec<u8>)>,
    /// Messages being reassembled, by (source, id).
    pub partial: Vec<(u8, u32, Reassembler)>,
    /// The message lent to CPU1 (valid until its next request).
    pub lent: Option<Vec<u8>>,
    pub outgoing: Option<Outgoing>,
    pub remote_traces: Vec<RemoteTrace>,
    pub remote_finished: Vec<RemoteFinish>,
    /// Remote exception being collected for `subkernel_await_finish`.
    pub remote_exception: Vec<u8>,
    /// Cache keys lent to the kernel by `cache_get`.
    pub cache_borrows: Vec<String>,
}

impl Session {
    pub fn new(id: u32, requester: u8) -> Session {
        Session {
            id,
            requester,
            started_us: 0,
            wait: Wait::None,
            inbox: VecDeque::new(),
            partial: Vec::new(),
            lent: None,
            outgoing: None,
            remote_traces: Vec::new(),
            remote_finished: Vec::new(),
            remote_exception: Vec::new(),
            cache_borrows: Vec::new(),
        }
    }

    /// Takes the oldest queued message with this id.
    pub fn take_message(&mut self, id: u32) -> Option<Vec<u8>> {
        let i = self.inbox.iter().position(|(m, _)| *m == id)?;
        self.inbox.remove(i).map(|(_, data)| data)
    }

    pub fn uploads_done(&self) -> bool {
        self.remote_traces.iter().all(|t| matches!(t.state, RemoteState::Uploaded | RemoteState::Failed))
    }
}
