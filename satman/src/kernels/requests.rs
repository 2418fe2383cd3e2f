//! Serving the running kernel's requests (CPU1 → CPU0), and the subkernel
//! messages and remote-subkernel replies that complete them.
//!
//! Each request is answered at once when possible; otherwise the session
//! records what CPU1 waits for ([`Wait`]) with a deadline, and the answer is
//! sent when the awaited packet arrives or the deadline passes.
//!
//! Every byte range a request carries ([`Bytes`]) belongs to CPU1, which
//! waits for the reply without touching it (`libksupport::msg`): each is
//! read through the link ([`KernelCpu::lent`]), borrowed until the reply,
//! and copied when kept.

use alloc::string::String;
use alloc::vec::Vec;

use libdma::StoreError;
use libdrtio::{Packet, PayloadStatus, Progress, Reassembler, MASTER_PAYLOAD_MAX_SIZE};
use libksupport::msg::{Bytes, FromKernel, KernelError, ToKernel};
use log::{debug, info, warn};

use super::memory::cache_entry_bytes;
use super::session::{Outgoing, RemoteFinish, RemoteTrace, Wait};
use super::{Ctx, Kernels};
use crate::budget::{Kind, ENTRY_OVERHEAD};
use crate::chunks::Chunks;
use crate::hal::KernelCpu;

/// Messages being reassembled per kernel at once.
const MAX_PARTIAL_MESSAGES: usize = 4;

pub(super) fn store_error(e: StoreError) -> KernelError {
    match e {
        StoreError::OverBudget { .. } => KernelError::DmaOverBudget,
        StoreError::NotFound | StoreError::Incomplete => KernelError::DmaNotFound,
        StoreError::Busy | StoreError::RecordingActive => KernelError::DmaBusy,
        StoreError::DestinationZero { .. } => KernelError::DmaDestinationZero,
        StoreError::OutOfMemory => KernelError::OutOfMemory,
        StoreError::OrphanChunk | StoreError::NotRecording | StoreError::BadLength { .. } | StoreError::Malformed { .. } => {
            KernelError::IncorrectState
        }
    }
}

/// The deadline of a kernel's wait of `timeout_ms` (any i64 the kernel
/// passes: saturating, a huge timeout is "forever", never a wrap into the
/// past).
fn deadline_after(now: u64, timeout_ms: i64) -> Option<u64> {
    // ≤ 0 waits forever on a satellite (the master treats 0 differently).
    (timeout_ms > 0).then(|| now.saturating_add((timeout_ms as u64).saturating_mul(1000)))
}

/// Longest DMA trace name or cache key CPU0 copies.
const MAX_NAME: usize = 1024;

/// A name or key the kernel passed, copied; refused (logged) if it is
/// longer than [`MAX_NAME`]: the copy is CPU0's memory, the length the
/// kernel's.
fn owned_name(bytes: &[u8]) -> Result<String, KernelError> {
    if bytes.len() > MAX_NAME {
        warn!("a name or key of {} bytes refused (at most {})", bytes.len(), MAX_NAME);
        return Err(KernelError::OutOfMemory);
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// The bytes of `range`, lent with the request being served, borrowed
/// from the link until the reply; refused (logged) if the link refuses them
/// (a range outside CPU1's memory: the kernel passed a wild pointer).
fn lent(cpu: &dyn KernelCpu, range: Bytes) -> Result<&[u8], KernelError> {
    cpu.lent(range).map_err(|e| {
        warn!("kernel request refused: its {} bytes at {:#x} are unreadable ({:?})", range.len(), range.addr(), e);
        KernelError::BadAddress
    })
}

/// A name or key lent with the request, copied (see [`owned_name`]).
fn lent_name(cpu: &dyn KernelCpu, range: Bytes) -> Result<String, KernelError> {
    owned_name(lent(cpu, range)?)
}

impl Kernels {
    /// One request from the running kernel.
    pub(super) fn request(&mut self, ctx: &mut Ctx<'_>, request: FromKernel) {
        let now = ctx.now();
        match request {
            FromKernel::Log { text } => {
                if let Ok(text) = lent(&*ctx.cpu, text) {
                    // A log line is copied only if it is not UTF-8: bounded.
                    let text = &text[..text.len().min(MAX_NAME * 4)];
                    info!("kernel: {}", String::from_utf8_lossy(text).trim_end());
                }
                self.reply_kernel(ctx, ToKernel::Ack);
            }
            FromKernel::RtioInit => {
                // Acknowledged without resetting the RTIO core, as the
                // reference satellite does: a reset here would drop the
                // events the master has queued on this satellite. The
                // master resets the satellites itself (`ResetRequest`).
                debug!("subkernel rtio_init: acknowledged, RTIO core left running");
                self.reply_kernel(ctx, ToKernel::Ack);
            }
            FromKernel::DestinationStatus { destination } => {
                let up = destination == ctx.wire.own();
                self.reply_kernel(ctx, ToKernel::Bool(up));
            }

            FromKernel::DmaRecordStart { name } => {
                let Some(id) = self.session().map(|s| s.id) else { return };
                let name = match lent_name(&*ctx.cpu, name) {
                    Ok(name) => name,
                    Err(e) => return self.reply_kernel(ctx, ToKernel::Error(e)),
                };
                if ctx.budget.admit(Kind::TraceIndex, libdma::INDEX_ENTRY_BYTES + name.len()).is_err() {
                    warn!("subkernel {}: cannot record {:?}: CPU0 memory budget", id, name);
                    return self.reply_kernel(ctx, ToKernel::Error(KernelError::OutOfMemory));
                }
                let reply = match ctx.store.begin_recording(id, &name) {
                    Ok(lease) => ToKernel::Lease(lease),
                    Err(e) => {
                        warn!("subkernel {}: cannot record {:?}: {}", id, name, e);
                        ToKernel::Error(store_error(e))
                    }
                };
                self.reply_kernel(ctx, reply);
            }
            FromKernel::DmaRecordGrow { used, needed } => {
                let reply = match ctx.store.grow_recording(used, needed) {
                    Ok(lease) => ToKernel::Lease(lease),
                    Err(e) => {
                        warn!("DMA recording refused: {}", e);
                        ToKernel::Error(store_error(e))
                    }
                };
                self.reply_kernel(ctx, reply);
            }
            FromKernel::DmaRecordStop { used, duration, enable_ddma: _ } => {
                // A satellite always splits by destination: its own events
                // play here, the others on their destinations.
                // The parts for other destinations are copied to CPU0's heap:
                // at most what the budget has room for.
                let room = ctx.budget.room();
                let reply = match ctx.store.finish_recording_within(used, duration, ctx.wire.own(), room) {
                    Ok(recorded) => {
                        let remote: usize = recorded.remote.iter().map(|p| p.bytes.capacity()).sum();
                        let entries = recorded.remote.len() * core::mem::size_of::<RemoteTrace>();
                        // Within `room` by construction; counted at once.
                        let _ = ctx.budget.admit(Kind::Staging, remote + entries);
                        self.add_remote_traces(recorded);
                        ToKernel::Ack
                    }
                    Err(e) => {
                        warn!("DMA recording discarded: {}", e);
                        ToKernel::Error(store_error(e))
                    }
                };
                self.reply_kernel(ctx, reply);
            }
            FromKernel::DmaErase { name } => {
                let name = match lent_name(&*ctx.cpu, name) {
                    Ok(name) => name,
                    Err(e) => return self.reply_kernel(ctx, ToKernel::Error(e)),
                };
                let reply = match self.erase_trace(ctx, &name) {
                    Ok(()) => ToKernel::Ack,
                    Err(e) => ToKernel::Error(e),
                };
                self.reply_kernel(ctx, reply);
            }
            FromKernel::DmaRetrieve { name } => {
                let Some(id) = self.session().map(|s| s.id) else { return };
                let reply = match lent(&*ctx.cpu, name) {
                    Ok(name) => match core::str::from_utf8(name).ok().and_then(|n| ctx.store.lookup(id, n)) {
                        Some(t) => ToKernel::DmaTrace { id: t.key.id, duration: t.duration, uses_ddma: t.uses_ddma },
                        None => ToKernel::Error(KernelError::DmaNotFound),
                    },
                    Err(e) => ToKernel::Error(e),
                };
                self.reply_kernel(ctx, reply);
            }
            FromKernel::DmaPlayback { id, timestamp, uses_ddma: _ } => self.begin_playback(ctx, id, timestamp),

            FromKernel::MessageSend { id, destination, is_return, data } => {
                let Some(session) = self.session() else { return };
                // A return value goes to whoever started us, under our id;
                // any other message under the id the kernel gives (the
                // receiving subkernel's, or a named message's).
                let (destination, id) = if is_return { (session.requester, session.id) } else { (destination, id) };
                let bytes = match lent(&*ctx.cpu, data) {
                    Ok(bytes) => bytes,
                    Err(e) => return self.reply_kernel(ctx, ToKernel::Error(e)),
                };
                if ctx.budget.admit(Kind::Staging, bytes.len()).is_err() {
                    warn!("subkernel message of {} bytes refused: CPU0 memory budget", bytes.len());
                    return self.reply_kernel(ctx, ToKernel::Error(KernelError::OutOfMemory));
                }
                // Copied: the reply comes only once every slice is acknowledged.
                let data = bytes.to_vec();
                let Some(session) = self.session() else { return };
                session.outgoing = Some(Outgoing { destination, id, data: Chunks::new(data) });
                session.wait = Wait::MessageAck { deadline: now + ctx.config.peer_timeout_us };
                self.send_message_slice(ctx);
            }
            FromKernel::MessageRecv { id, timeout_ms } => {
                let Some(session) = self.session() else { return };
                let id = if id < 0 { session.id } else { id as u32 };
                session.lent = None;
                match session.take_message(id) {
                    Some(data) => {
                        let bytes = Bytes::new(&data);
                        session.lent = Some(data);
                        self.reply_kernel(ctx, ToKernel::Message { data: bytes });
                    }
                    None => session.wait = Wait::Message { id, deadline: deadline_after(now, timeout_ms) },
                }
            }
            FromKernel::SubkernelLoadRun { id, destination, run, timestamp } => {
                let source = ctx.wire.own();
                if destination == source {
                    warn!("a subkernel cannot start another subkernel on its own destination");
                    return self.reply_kernel(ctx, ToKernel::Error(KernelError::IncorrectState));
                }
                let packet = Packet::SubkernelLoadRunRequest { source, destination, id, run, timestamp };
                if !ctx.wire.send_routed(destination, &packet) {
                    return self.reply_kernel(ctx, ToKernel::Error(KernelError::CommLost));
                }
                if let Some(s) = self.session() {
                    s.wait = Wait::LoadRun { deadline: now + ctx.config.peer_timeout_us };
                }
            }
            FromKernel::SubkernelAwaitFinish { id, timeout_ms } => {
                let Some(session) = self.session() else { return };
                match session.remote_finished.iter().position(|f| f.id == id) {
                    Some(i) => {
                        let f = session.remote_finished.remove(i);
                        self.remote_finish_ready(ctx, f);
                    }
                    None => session.wait = Wait::Finish { id, deadline: deadline_after(now, timeout_ms) },
                }
            }

            FromKernel::CacheGet { key } => {
                let key = match lent_name(&*ctx.cpu, key) {
                    Ok(key) => key,
                    Err(e) => return self.reply_kernel(ctx, ToKernel::Error(e)),
                };
                let data = match self.cache.get(&key) {
                    // Lent to CPU1: the key is marked borrowed below, so
                    // `cache_put` cannot change or free the words while the
                    // kernel reads them.
                    Some(v) => Bytes::of_words(v),
                    None => Bytes::EMPTY,
                };
                if let Some(s) = self.session() {
                    if !data.is_empty() && !s.cache_borrows.contains(&key) {
                        s.cache_borrows.push(key);
                    }
                }
                self.reply_kernel(ctx, ToKernel::CacheValue { data });
            }
            FromKernel::CachePut { key, value } => {
                let key = match lent_name(&*ctx.cpu, key) {
                    Ok(key) => key,
                    Err(e) => return self.reply_kernel(ctx, ToKernel::Error(e)),
                };
                let borrowed = self.session().is_some_and(|s| s.cache_borrows.contains(&key));
                if borrowed {
                    return self.reply_kernel(ctx, ToKernel::Error(KernelError::CacheBusy));
                }
                let bytes = match lent(&*ctx.cpu, value) {
                    Ok(bytes) => bytes,
                    Err(e) => return self.reply_kernel(ctx, ToKernel::Error(e)),
                };
                let old = self.cache.get(&key).map_or(0, |v| cache_entry_bytes(&key, v.len()));
                let new = if bytes.len() < 4 { 0 } else { cache_entry_bytes(&key, bytes.len() / 4) };
                if ctx.budget.admit(Kind::Staging, new.saturating_sub(old)).is_err() {
                    warn!("cache_put of {} bytes refused: CPU0 memory budget", bytes.len());
                    return self.reply_kernel(ctx, ToKernel::Error(KernelError::OutOfMemory));
                }
                let words: Vec<i32> =
                    bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                if words.is_empty() {
                    self.cache.remove(&key);
                    if self.cache.is_empty() {
                        // An emptied map keeps its root node: let it go, so
                        // CPU0's heap returns to where it was before the cache
                        // was first used.
                        self.cache = Default::default();
                    }
                } else {
                    self.cache.insert(key, words);
                }
                self.cache_bytes = self.cache_bytes.saturating_sub(old).saturating_add(new);
                self.reply_kernel(ctx, ToKernel::Ack);
            }

            FromKernel::LoadDone | FromKernel::LoadFailed { .. } | FromKernel::Finished | FromKernel::Exception { .. } => {
                // Handled by `Kernels::poll` before getting here.
            }
        }
    }

    /// `dma_erase`: the local trace and its parts on other destinations.
    fn erase_trace(&mut self, ctx: &mut Ctx<'_>, name: &str) -> Result<(), KernelError> {
        let Some(kernel) = self.session().map(|s| s.id) else { return Err(KernelError::IncorrectState) };
        let info = ctx.store.lookup(kernel, name).ok_or(KernelError::DmaNotFound)?;
        ctx.store.remove(info.key).map_err(store_error)?;
        let own = ctx.wire.own();
        let removed: Vec<(u8, u32)> = match self.session() {
            Some(s) => {
                let (gone, keep) = core::mem::take(&mut s.remote_traces).into_iter().partition(|t| t.id == info.key.id);
                s.remote_traces = keep;
                gone.into_iter().map(|t: RemoteTrace| (t.destination, t.id)).collect()
            }
            None => Vec::new(),
        };
        for (destination, id) in removed {
            ctx.wire.send_routed(destination, &Packet::DmaRemoveTraceRequest { source: own, destination, id });
        }
        Ok(())
    }

    // ---- messages -----------------------------------------------------------

    /// Sends the next slice of the outgoing message.
    fn send_message_slice(&mut self, ctx: &mut Ctx<'_>) {
        let own = ctx.wire.own();
        let Some(session) = self.session() else { return };
        let Some(out) = session.outgoing.as_mut() else { return };
        let (destination, id) = (out.destination, out.id);
        let (data, status) = out.data.next_payload(MASTER_PAYLOAD_MAX_SIZE);
        let packet = Packet::SubkernelMessage { source: own, destination, id, status, data };
        if !ctx.wire.send_routed(destination, &packet) {
            self.complete_wait(ctx, ToKernel::Error(KernelError::CommLost));
        }
    }

    /// `SubkernelMessageAck` for the slice in flight.
    pub fn message_acked(&mut self, ctx: &mut Ctx<'_>) {
        let deadline = ctx.now() + ctx.config.peer_timeout_us;
        let Some(session) = self.session() else { return };
        let Some(out) = session.outgoing.as_ref() else {
            warn!("message acknowledgement with no message in flight");
            return;
        };
        if !out.data.done() {
            session.wait = Wait::MessageAck { deadline };
            self.send_message_slice(ctx);
        } else {
            session.outgoing = None;
            self.complete_wait(ctx, ToKernel::Ack);
        }
    }

    /// A `SubkernelMessage` slice for this satellite's kernel.
    ///
    /// A slice is acknowledged only once it is kept: a slice that is dropped
    /// (no kernel running, too many messages in flight, inbox full, over
    /// CPU0's memory budget, malformed) gets no `SubkernelMessageAck`, so
    /// the sender's wait fails instead of it believing the message arrived.
    /// The wire has no failure reply for a message.
    pub fn message(&mut self, ctx: &mut Ctx<'_>, source: u8, id: u32, status: PayloadStatus, data: &[u8]) {
        match self.keep_message_slice(ctx, source, id, status, data) {
            Ok(()) => ctx.wire.late_reply(source, &Packet::SubkernelMessageAck { destination: source }),
            Err(why) => {
                ctx.stats.messages_dropped += 1;
                warn!("message {} from {} dropped, not acknowledged: {}", id, source, why);
            }
        }
    }

    fn keep_message_slice(&mut self, ctx: &mut Ctx<'_>, source: u8, id: u32, status: PayloadStatus, data: &[u8]) -> Result<(), &'static str> {
        let (max_size, max_queued) = (ctx.config.max_message_size, ctx.config.max_queued_messages);
        let Some(session) = self.session() else { return Err("no kernel running") };
        let slot = session.partial.iter().position(|(s, i, _)| *s == source && *i == id);
        // A message that would complete into a full inbox is refused at its
        // first slice, before anything of it is acknowledged.
        let queued = session.inbox.len() + session.partial.len() - usize::from(slot.is_some());
        if slot.is_none() && queued >= max_queued {
            return Err("kernel inbox full");
        }
        let growth = match slot {
            Some(i) => session.partial[i].2.growth_for(status.is_first(), data.len()),
            None => ENTRY_OVERHEAD + data.len(),
        };
        if ctx.budget.admit(Kind::Inbox, growth).is_err() {
            if let Some(i) = slot {
                session.partial.swap_remove(i);
            }
            return Err("CPU0 memory budget");
        }
        let slot = match slot {
            Some(i) => i,
            None if session.partial.len() < MAX_PARTIAL_MESSAGES => {
                session.partial.push((source, id, Reassembler::new(max_size)));
                session.partial.len() - 1
            }
            None => return Err("too many messages in flight"),
        };
        match session.partial[slot].2.push(status, data) {
            Ok(Progress::Incomplete) => Ok(()),
            Ok(Progress::Complete) => {
                let (_, _, mut r) = session.partial.swap_remove(slot);
                let msg = r.take().unwrap_or_default();
                session.inbox.push_back((id, msg));
                self.deliver_message(ctx);
                Ok(())
            }
            Err(_) => {
                session.partial.swap_remove(slot);
                Err("malformed or too large")
            }
        }
    }

    /// Hands CPU1 the message it waits for, if it has arrived.
    fn deliver_message(&mut self, ctx: &mut Ctx<'_>) {
        let Some(session) = self.session() else { return };
        let Wait::Message { id, .. } = session.wait else { return };
        let Some(data) = session.take_message(id) else { return };
        let bytes = Bytes::new(&data);
        session.lent = Some(data);
        session.wait = Wait::None;
        self.reply_kernel(ctx, ToKernel::Message { data: bytes });
    }

    // ---- remote subkernels --------------------------------------------------

    /// `SubkernelLoadRunReply` for the kernel's `subkernel_load_run`.
    pub fn remote_load_run_reply(&mut self, ctx: &mut Ctx<'_>, succeeded: bool) {
        let waiting = self.session().is_some_and(|s| matches!(s.wait, Wait::LoadRun { .. }));
        if !waiting {
            warn!("unexpected SubkernelLoadRunReply");
            return;
        }
        self.complete_wait(ctx, if succeeded { ToKernel::Ack } else { ToKernel::Error(KernelError::IncorrectState) });
    }

    /// `SubkernelFinished` of a subkernel this kernel started elsewhere.
    pub fn remote_finished(&mut self, ctx: &mut Ctx<'_>, id: u32, with_exception: bool, exception_src: u8) {
        let Some(session) = self.session() else {
            warn!("SubkernelFinished for {} with no kernel running here", id);
            return;
        };
        let f = RemoteFinish { id, with_exception, exception_src };
        match session.wait {
            Wait::Finish { id: w, .. } if w == id => self.remote_finish_ready(ctx, f),
            _ => {
                // One per subkernel id: a later finish of the same id
                // replaces the earlier (the kernel awaits each run once).
                if let Some(old) = session.remote_finished.iter_mut().find(|o| o.id == id) {
                    *old = f;
                } else if session.remote_finished.len() < session.remote_finished.capacity()
                    || ctx.budget.admit(Kind::RemoteLists, (session.remote_finished.capacity().max(4)) * core::mem::size_of::<RemoteFinish>()).is_ok()
                {
                    session.remote_finished.push(f);
                } else {
                    warn!("SubkernelFinished for {} dropped: CPU0 memory budget", id);
                }
            }
        }
    }

    fn remote_finish_ready(&mut self, ctx: &mut Ctx<'_>, f: RemoteFinish) {
        if !f.with_exception {
            return self.complete_wait(ctx, ToKernel::Ack);
        }
        let (own, deadline) = (ctx.wire.own(), ctx.now() + ctx.config.peer_timeout_us);
        if let Some(s) = self.session() {
            s.remote_exception.clear();
            s.wait = Wait::RemoteException { source: f.exception_src, deadline };
        }
        let packet = Packet::SubkernelExceptionRequest { source: own, destination: f.exception_src };
        ctx.wire.send_routed(f.exception_src, &packet);
    }

    /// A `SubkernelException` slice of a remote subkernel's exception.
    pub fn remote_exception_slice(&mut self, ctx: &mut Ctx<'_>, last: bool, data: &[u8]) {
        let Some(session) = self.session() else { return };
        let Wait::RemoteException { source: src, .. } = session.wait else {
            warn!("unexpected SubkernelException slice");
            return;
        };
        let size = session.remote_exception.len() + data.len();
        let cap = session.remote_exception.capacity();
        let growth = if size > cap { cap.saturating_mul(2).max(size) - cap } else { 0 };
        if ctx.budget.admit(Kind::Exceptions, growth).is_err() {
            session.remote_exception = Vec::new();
            return self.complete_wait(ctx, ToKernel::Error(KernelError::OutOfMemory));
        }
        session.remote_exception.extend_from_slice(data);
        if !last {
            let own = ctx.wire.own();
            ctx.wire.send_routed(src, &Packet::SubkernelExceptionRequest { source: own, destination: src });
            return;
        }
        let blob = core::mem::take(&mut session.remote_exception);
        session.lent = Some(blob);
        let bytes = session.lent.as_deref().map(Bytes::new).unwrap_or(Bytes::EMPTY);
        self.complete_wait(ctx, ToKernel::Error(KernelError::Exception(bytes)));
    }

    // ---- waits ----------------------------------------------------------------

    /// Answers what CPU1 waits for and clears the wait.
    pub(super) fn complete_wait(&mut self, ctx: &mut Ctx<'_>, reply: ToKernel) {
        if let Some(s) = self.session() {
            s.wait = Wait::None;
        }
        self.reply_kernel(ctx, reply);
    }

    pub(super) fn poll_session_deadlines(&mut self, ctx: &mut Ctx<'_>, now: u64) {
        self.poll_remote_uploads(ctx, now);
        let Some(session) = self.session_ref() else { return };
        let expired = match &session.wait {
            Wait::None => false,
            Wait::Message { deadline, .. } | Wait::Finish { deadline, .. } => deadline.is_some_and(|d| now >= d),
            Wait::MessageAck { deadline } | Wait::LoadRun { deadline } | Wait::RemoteException { deadline, .. } => {
                now >= *deadline
            }
            Wait::Playback(p) => now >= p.deadline,
        };
        if !expired {
            return;
        }
        match &session.wait {
            Wait::Playback(_) => self.playback_timed_out(ctx),
            Wait::MessageAck { .. } => {
                if let Some(s) = self.session() {
                    s.outgoing = None;
                }
                warn!("subkernel message not acknowledged in time");
                self.complete_wait(ctx, ToKernel::Error(KernelError::CommLost));
            }
            _ => self.complete_wait(ctx, ToKernel::Error(KernelError::Timeout)),
        }
    }
}
