//! Traces keyed by (source, id), with ownership, recording and playback
//! bookkeeping.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::arena::{Arena, ArenaStats, Block};
use crate::error::StoreError;
use crate::record;
use crate::split::{split_in_place_within, RemotePart};

/// Identifies a trace: the destination that created it and its id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub source: u8,
    pub id: u32,
}

/// Who a trace belongs to, i.e. whose end frees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Uploaded by the node `Key::source` (the master or another satellite).
    Uploaded,
    /// Recorded by the subkernel with this id, running here.
    Kernel(u32),
}

/// First lease handed to a recording; it grows in place from there.
pub const INITIAL_LEASE: usize = 16 * 1024;

/// Leases start and end on multiples of this (a 4 KiB MMU page): nothing
/// else of the store shares a page with a lease, so a firmware can let the
/// recorder's CPU write exactly the lease's pages (satman: CPU1's
/// translation table, `platform/mmu.rs`).
pub const LEASE_ALIGNMENT: usize = 4096;

/// Memory lent to a recorder: it may write `cap` bytes at `ptr` until it
/// returns the lease with [`Store::grow_recording`] or
/// [`Store::finish_recording`]. `ptr` and `cap` are multiples of
/// [`LEASE_ALIGNMENT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub ptr: *mut u8,
    pub cap: usize,
}

// SAFETY: a lease is an address range; whoever holds it is its only writer.
unsafe impl Send for Lease {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddProgress {
    Incomplete,
    Complete,
}

/// What the caller needs to know about a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceInfo {
    pub key: Key,
    pub owner: Owner,
    /// Bytes held, terminator included once complete.
    pub len: usize,
    pub complete: bool,
    /// Length of the recording on the timeline (recorded traces only).
    pub duration: u64,
    /// Events for other destinations were split off this recording.
    pub uses_ddma: bool,
}

/// A trace handed to the DMA engine: `len` bytes at `ptr`, 128-byte aligned,
/// terminator included, readable up to the next 128-byte boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaybackTrace {
    pub key: Key,
    pub ptr: *const u8,
    pub len: usize,
}

/// A finished recording: the local part is stored under `key`; `remote`
/// holds the parts for other destinations, which the caller uploads.
#[derive(Debug, PartialEq, Eq)]
pub struct Recorded {
    pub key: Key,
    pub duration: u64,
    pub remote: Vec<RemotePart>,
}

#[derive(Debug)]
struct Trace {
    block: Block,
    len: usize,
    complete: bool,
    owner: Owner,
    name: Option<String>,
    duration: u64,
    uses_ddma: bool,
    /// Validation of an upload so far, chunk by chunk.
    checked: record::Validator,
}

impl Trace {
    fn info(&self, key: Key) -> TraceInfo {
        TraceInfo {
            key,
            owner: self.owner,
            len: self.len,
            complete: self.complete,
            duration: self.duration,
            uses_ddma: self.uses_ddma,
        }
    }
}

#[derive(Debug)]
struct Recording {
    kernel: u32,
    name: String,
    block: Block,
}

pub struct Store {
    arena: Arena,
    traces: BTreeMap<Key, Trace>,
    recording: Option<Recording>,
    playing: Option<Key>,
    /// The playing trace was erased: free it when the playback ends.
    orphaned: bool,
    next_id: u32,
    /// Bytes of trace names held by the index (for [`Store::index_bytes`]).
    name_bytes: usize,
}

/// General-heap bytes one index entry costs, name excluded: the entry and
/// the map's node overhead (B-tree nodes are on average about half full,
/// hence twice the entry). The traces' bytes are in the arena.
pub const INDEX_ENTRY_BYTES: usize = 2 * (core::mem::size_of::<Key>() + core::mem::size_of::<Trace>()) + 16;

/// Growth policy: a quarter more each time, so a finished trace never held
/// more than 1.25× its size (plus one step) while it grew.
fn next_capacity(cap: usize, needed: usize) -> usize {
    needed.max(cap + cap / 4)
}

impl Store {
    pub fn new(arena: Arena) -> Store {
        Store { arena, traces: BTreeMap::new(), recording: None, playing: None, orphaned: false, next_id: 1, name_bytes: 0 }
    }

    pub fn len(&self) -> usize {
        self.traces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.traces.is_empty() && self.recording.is_none()
    }

    pub fn arena_stats(&self) -> ArenaStats {
        self.arena.stats()
    }

    pub fn reset_peak(&mut self) {
        self.arena.reset_peak()
    }

    pub fn info(&self, key: Key) -> Option<TraceInfo> {
        self.traces.get(&key).map(|t| t.info(key))
    }

    /// All traces, in key order.
    pub fn iter(&self) -> impl Iterator<Item = TraceInfo> + '_ {
        self.traces.iter().map(|(k, t)| t.info(*k))
    }

    /// The bytes of a complete trace, terminator included.
    pub fn trace_bytes(&self, key: Key) -> Option<&[u8]> {
        let t = self.traces.get(&key).filter(|t| t.complete)?;
        // SAFETY: complete traces are never leased to a recorder, so nothing writes the block
        // while `&self` is borrowed; `len` never exceeds the block's capacity.
        Some(unsafe { t.block.bytes(t.len) })
    }

    fn over_budget(&self, requested: usize) -> StoreError {
        StoreError::OverBudget { requested, available: self.arena.available() }
    }

    /// General-heap bytes the index holds (entries, names, the recording's
    /// name), for CPU0's memory budget. Constant time.
    pub fn index_bytes(&self) -> usize {
        let recording = self.recording.as_ref().map_or(0, |r| r.name.capacity());
        self.traces.len().saturating_mul(INDEX_ENTRY_BYTES).saturating_add(self.name_bytes).saturating_add(recording)
    }

    fn free_trace(&mut self, trace: Trace) {
        self.name_bytes = self.name_bytes.saturating_sub(trace.name.as_ref().map_or(0, String::capacity));
        self.arena.free(trace.block);
        if self.traces.is_empty() {
            // An emptied BTreeMap keeps its root node; drop it so the heap
            // really returns to where it was before the first trace.
            self.traces = BTreeMap::new();
        }
    }

    fn take(&mut self, key: Key) -> Result<Trace, StoreError> {
        if self.playing == Some(key) {
            return Err(StoreError::Busy);
        }
        let t = self.traces.remove(&key).ok_or(StoreError::NotFound)?;
        Ok(t)
    }

    // ---- uploads ---------------------------------------------------------

    /// Appends one `DmaAddTraceRequest` chunk. A `first` chunk, or any chunk
    /// for a key whose trace is complete, starts the trace afresh. On error
    /// the partial upload is discarded; a restart has already freed any
    /// previous trace under that key (the master re-sends whole traces).
    pub fn add_chunk(&mut self, key: Key, first: bool, last: bool, data: &[u8]) -> Result<AddProgress, StoreError> {
        let restart = first || self.traces.get(&key).is_some_and(|t| t.complete);
        if restart {
            if self.playing == Some(key) {
                return Err(StoreError::Busy);
            }
            if let Some(old) = self.traces.remove(&key) {
                self.free_trace(old);
            }
            let needed = data.len() + 1;
            let block = self.arena.alloc(needed).ok_or_else(|| self.over_budget(needed))?;
            let trace = Trace {
                block,
                len: 0,
                complete: false,
                owner: Owner::Uploaded,
                name: None,
                duration: 0,
                uses_ddma: false,
                checked: record::Validator::new(),
            };
            self.insert(key, trace)?;
        }
        let trace = self.traces.get_mut(&key).ok_or(StoreError::OrphanChunk)?;
        let needed = trace.len + data.len() + 1;
        if needed > trace.block.capacity() {
            let want = next_capacity(trace.block.capacity(), needed).min(self.arena.stats().capacity);
            let grown = self.arena.grow(&mut trace.block, want, trace.len)
                || self.arena.grow(&mut trace.block, needed, trace.len);
            if !grown {
                let err = self.over_budget(needed);
                let _ = self.remove(key);
                return Err(err);
            }
        }
        let trace = self.traces.get_mut(&key).ok_or(StoreError::OrphanChunk)?;
        // SAFETY: the block was grown to at least `len + data.len()` above; an uploaded (not
        // recorded) trace is never leased, and `&mut self` excludes every other view.
        unsafe { trace.block.bytes_mut(trace.len + data.len())[trace.len..].copy_from_slice(data) };
        trace.len += data.len();
        if !last {
            // Check the records this chunk completed, so that the last chunk
            // does not have to go through the whole trace.
            // SAFETY: `len` bytes were written above, within the capacity; no other view exists.
            trace.checked.feed(unsafe { trace.block.bytes(trace.len) });
            return Ok(AddProgress::Incomplete);
        }
        // The verdict is on the uploaded records alone: they must end
        // exactly where the upload ends, before the terminator we append.
        // SAFETY: as above.
        if let Err(e) = trace.checked.finish(unsafe { trace.block.bytes(trace.len) }) {
            let _ = self.remove(key);
            return Err(StoreError::Malformed { offset: e.offset });
        }
        let trace = self.traces.get_mut(&key).ok_or(StoreError::NotFound)?;
        // SAFETY: the last chunk grew the block to `len + 1` (`needed` counts the
        // terminator); the block is not leased and `&mut self` excludes other views.
        unsafe { trace.block.bytes_mut(trace.len + 1)[trace.len] = 0 };
        trace.len += 1;
        trace.complete = true;
        let len = trace.len;
        self.arena.shrink(&mut trace.block, len);
        Ok(AddProgress::Complete)
    }

    fn insert(&mut self, key: Key, trace: Trace) -> Result<(), StoreError> {
        // BTreeMap cannot report allocation failure: CPU0's memory budget
        // admits every new entry before it gets here (`INDEX_ENTRY_BYTES`).
        self.name_bytes = self.name_bytes.saturating_add(trace.name.as_ref().map_or(0, String::capacity));
        if let Some(old) = self.traces.insert(key, trace) {
            self.free_trace(old);
        }
        Ok(())
    }

    /// Frees one trace (`DmaRemoveTraceRequest`, `dma_erase`).
    pub fn remove(&mut self, key: Key) -> Result<(), StoreError> {
        let t = self.take(key)?;
        self.free_trace(t);
        Ok(())
    }

    // ---- playback --------------------------------------------------------

    /// Marks a complete trace as playing and returns what the engine needs.
    /// Only one trace plays at a time.
    pub fn start_playback(&mut self, key: Key) -> Result<PlaybackTrace, StoreError> {
        if self.playing.is_some() {
            return Err(StoreError::Busy);
        }
        let t = self.traces.get(&key).ok_or(StoreError::NotFound)?;
        if !t.complete {
            return Err(StoreError::Incomplete);
        }
        self.playing = Some(key);
        Ok(PlaybackTrace { key, ptr: t.block.as_ptr(), len: t.len })
    }

    /// The engine has stopped reading the trace: it may be freed again,
    /// and is freed now if it was erased while it played.
    pub fn end_playback(&mut self) -> Option<Key> {
        let key = self.playing.take()?;
        if core::mem::take(&mut self.orphaned) {
            if let Some(t) = self.traces.remove(&key) {
                self.free_trace(t);
            }
        }
        Some(key)
    }

    pub fn playing(&self) -> Option<Key> {
        self.playing
    }

    // ---- recording -------------------------------------------------------

    /// Starts a recording named `name` for `kernel`, erasing its previous
    /// trace of that name, and lends the first buffer.
    pub fn begin_recording(&mut self, kernel: u32, name: &str) -> Result<Lease, StoreError> {
        if self.recording.is_some() {
            return Err(StoreError::RecordingActive);
        }
        if let Some(info) = self.lookup(kernel, name) {
            self.remove(info.key)?;
        }
        let mut owned = String::new();
        owned.try_reserve_exact(name.len()).map_err(|_| StoreError::OutOfMemory)?;
        owned.push_str(name);
        let block =
            self.arena.alloc_aligned(INITIAL_LEASE, LEASE_ALIGNMENT).ok_or_else(|| self.over_budget(INITIAL_LEASE))?;
        let lease = Lease { ptr: block.as_ptr(), cap: block.capacity() };
        self.recording = Some(Recording { kernel, name: owned, block });
        Ok(lease)
    }

    /// The kernel recording, if any.
    pub fn recording(&self) -> Option<u32> {
        self.recording.as_ref().map(|r| r.kernel)
    }

    /// The recorder has `used` bytes and needs `needed` more: grows the
    /// lease (in place when possible, else moving the recorded bytes).
    /// Over budget, the recording is discarded.
    pub fn grow_recording(&mut self, used: usize, needed: usize) -> Result<Lease, StoreError> {
        let rec = self.recording.as_mut().ok_or(StoreError::NotRecording)?;
        if used > rec.block.capacity() {
            return Err(StoreError::BadLength { len: used, capacity: rec.block.capacity() });
        }
        let min = used.saturating_add(needed);
        let cap = rec.block.capacity();
        let want = next_capacity(cap, min).min(self.arena.stats().capacity.max(min));
        if self.arena.grow(&mut rec.block, want, used) || self.arena.grow(&mut rec.block, min, used) {
            return Ok(Lease { ptr: rec.block.as_ptr(), cap: rec.block.capacity() });
        }
        let err = self.over_budget(min);
        self.abort_recording();
        Err(err)
    }

    /// Ends the recording: splits it by destination, keeps the `local` part
    /// as a complete trace and returns the rest. On error the recording is
    /// discarded.
    pub fn finish_recording(&mut self, used: usize, duration: u64, local: u8) -> Result<Recorded, StoreError> {
        self.finish_recording_within(used, duration, local, usize::MAX)
    }

    /// [`Store::finish_recording`] with the parts for other destinations,
    /// which are copied to the general heap, limited to `max_remote` bytes
    /// (over that: `OverBudget`, and the recording is discarded).
    pub fn finish_recording_within(&mut self, used: usize, duration: u64, local: u8, max_remote: usize) -> Result<Recorded, StoreError> {
        let mut rec = self.recording.take().ok_or(StoreError::NotRecording)?;
        // The lease ended: the trace needs only the DMA's alignment now.
        rec.block.relax();
        let (len, remote) = match self.trim_recording(&mut rec.block, used, local, max_remote) {
            Ok(r) => r,
            Err(e) => {
                self.arena.free(rec.block);
                return Err(e);
            }
        };
        let key = Key { source: local, id: self.fresh_id(local) };
        let trace = Trace {
            block: rec.block,
            len,
            complete: true,
            owner: Owner::Kernel(rec.kernel),
            name: Some(rec.name),
            duration,
            uses_ddma: !remote.is_empty(),
            checked: record::Validator::new(),
        };
        self.insert(key, trace)?;
        Ok(Recorded { key, duration, remote })
    }

    /// Splits the recording in place, appends the terminator and returns
    /// the block's tail to the arena. Returns the local length (terminator
    /// included) and the remote parts.
    fn trim_recording(&mut self, block: &mut Block, used: usize, local: u8, max_remote: usize) -> Result<(usize, Vec<RemotePart>), StoreError> {
        if used > block.capacity() {
            return Err(StoreError::BadLength { len: used, capacity: block.capacity() });
        }
        // SAFETY: `used <= capacity` was checked just above; the recording's lease ended with
        // `finish_recording`, so the recorder no longer writes the block.
        let split = split_in_place_within(unsafe { block.bytes_mut(used) }, local, max_remote)?;
        let len = split.local_len + 1;
        if !self.arena.grow(block, len, split.local_len) {
            return Err(self.over_budget(len));
        }
        // SAFETY: the block was grown to at least `len` just above, and is no longer leased.
        unsafe { block.bytes_mut(len)[split.local_len] = 0 };
        self.arena.shrink(block, len);
        Ok((len, split.remote))
    }

    fn fresh_id(&mut self, source: u8) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            if !self.traces.contains_key(&Key { source, id }) {
                return id;
            }
        }
    }

    /// Discards the recording in progress, if any.
    pub fn abort_recording(&mut self) {
        if let Some(rec) = self.recording.take() {
            self.arena.free(rec.block);
        }
    }

    // ---- names and owners ------------------------------------------------

    /// The trace `kernel` recorded under `name`.
    pub fn lookup(&self, kernel: u32, name: &str) -> Option<TraceInfo> {
        self.traces
            .iter()
            .find(|(_, t)| t.owner == Owner::Kernel(kernel) && t.name.as_deref() == Some(name))
            .map(|(k, t)| t.info(*k))
    }

    /// Frees every trace `kernel` recorded and any recording it has open.
    /// Returns how many traces were erased. A trace the DMA engine is still
    /// reading is only marked: it is freed by [`Store::end_playback`], so the
    /// engine never reads freed memory.
    pub fn erase_kernel(&mut self, kernel: u32) -> usize {
        if self.recording.as_ref().is_some_and(|r| r.kernel == kernel) {
            self.abort_recording();
        }
        self.erase_where(|_, t| t.owner == Owner::Kernel(kernel))
    }

    /// Erases every trace uploaded by `source` (as [`Store::erase_kernel`]).
    pub fn erase_source(&mut self, source: u8) -> usize {
        self.erase_where(|k, t| t.owner == Owner::Uploaded && k.source == source)
    }

    /// Erases everything, recording included (e.g. when the uplink is lost),
    /// as [`Store::erase_kernel`].
    pub fn clear(&mut self) -> usize {
        self.abort_recording();
        self.erase_where(|_, _| true)
    }

    fn erase_where(&mut self, f: impl Fn(&Key, &Trace) -> bool) -> usize {
        let keys: Vec<Key> = self.traces.iter().filter(|(k, t)| f(k, t)).map(|(k, _)| *k).collect();
        for k in &keys {
            if self.playing == Some(*k) {
                self.orphaned = true;
            } else if let Some(t) = self.traces.remove(k) {
                self.free_trace(t);
            }
        }
        keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{encode, Records};
    use crate::{Recorder, TRACE_ALIGNMENT};

    const MASTER: u8 = 0;
    const SELF: u8 = 1;

    fn store(budget: usize) -> Store {
        Store::new(Arena::with_capacity(budget).unwrap())
    }

    fn pulses(n: usize, target: u32) -> Vec<u8> {
        let mut t = Vec::new();
        let mut rec = [0u8; 17];
        for i in 0..n as i64 {
            for (dt, v) in [(0, 1), (500_000, 0)] {
                let len = encode(&mut rec, target, i * 1_000_000 + dt, &[v]).unwrap();
                t.extend_from_slice(&rec[..len]);
            }
        }
        t
    }

    fn upload(s: &mut Store, key: Key, trace: &[u8]) -> Result<AddProgress, StoreError> {
        let chunks: Vec<&[u8]> = trace.chunks(1010).collect();
        let mut last = Ok(AddProgress::Incomplete);
        for (i, c) in chunks.iter().enumerate() {
            last = s.add_chunk(key, i == 0, i == chunks.len() - 1, c);
            last?;
        }
        last
    }

    fn record_into(s: &mut Store, kernel: u32, name: &str, events: &[(u32, i64)]) -> Result<Recorded, StoreError> {
        let lease = s.begin_recording(kernel, name)?;
        let mut r = Recorder::new();
        // SAFETY: the lease is the store's to lend until `grow_recording`/`finish_recording`, and
        // nothing else writes it meanwhile.
        unsafe { r.start(lease.ptr, lease.cap) };
        for &(target, ts) in events {
            if let Err(full) = r.output(target, ts, 1) {
                let lease = s.grow_recording(r.len(), full.needed)?;
                // SAFETY: the grown lease holds the bytes recorded so far (the store keeps them)
                // and `cap >= len`.
                unsafe { r.rebase(lease.ptr, lease.cap) };
                r.output(target, ts, 1).unwrap();
            }
        }
        let used = r.stop();
        s.finish_recording(used, 1234, SELF)
    }

    #[test]
    fn upload_in_chunks_then_remove() {
        let mut s = store(1 << 20);
        let trace = pulses(100, 0x0100_0F00);
        let key = Key { source: MASTER, id: 7 };
        assert_eq!(upload(&mut s, key, &trace), Ok(AddProgress::Complete));
        let bytes = s.trace_bytes(key).unwrap();
        assert_eq!(&bytes[..trace.len()], &trace[..]);
        assert_eq!(bytes[trace.len()], 0);
        assert_eq!(bytes.as_ptr() as usize % TRACE_ALIGNMENT, 0);
        let info = s.info(key).unwrap();
        assert_eq!((info.len, info.complete, info.owner), (trace.len() + 1, true, Owner::Uploaded));
        assert_eq!(s.arena_stats().in_use, (trace.len() + 1).div_ceil(128) * 128);
        s.remove(key).unwrap();
        assert_eq!(s.remove(key), Err(StoreError::NotFound));
        assert_eq!(s.arena_stats().in_use, 0);
        assert!(s.is_empty());
    }

    #[test]
    fn first_chunk_or_complete_trace_restarts() {
        let mut s = store(1 << 20);
        let key = Key { source: MASTER, id: 1 };
        let a = pulses(1, 0x100);
        let b = pulses(2, 0x100);
        s.add_chunk(key, true, false, &a).unwrap();
        s.add_chunk(key, true, true, &b).unwrap();
        assert_eq!(s.trace_bytes(key).unwrap().len(), b.len() + 1);
        // a middle chunk after completion starts a new trace too
        s.add_chunk(key, false, true, &a).unwrap();
        assert_eq!(s.trace_bytes(key).unwrap().len(), a.len() + 1);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn orphan_chunk_is_refused() {
        let mut s = store(1 << 20);
        let key = Key { source: MASTER, id: 1 };
        assert_eq!(s.add_chunk(key, false, false, &[1, 2]), Err(StoreError::OrphanChunk));
        assert_eq!(s.add_chunk(key, false, true, &[1, 2]), Err(StoreError::OrphanChunk));
        assert!(s.is_empty());
    }

    #[test]
    fn index_bytes_follow_entries_and_names() {
        let mut s = store(64 * 1024);
        assert_eq!(s.index_bytes(), 0);
        upload(&mut s, Key { source: MASTER, id: 1 }, &pulses(2, 0x0100_0F00)).unwrap();
        assert_eq!(s.index_bytes(), INDEX_ENTRY_BYTES);
        let lease = s.begin_recording(7, "twelve bytes").unwrap();
        assert_eq!(s.index_bytes(), INDEX_ENTRY_BYTES + 12);
        let _ = lease;
        let rec = s.finish_recording(0, 0, SELF).unwrap();
        assert_eq!(s.index_bytes(), 2 * INDEX_ENTRY_BYTES + 12);
        s.remove(rec.key).unwrap();
        assert_eq!(s.index_bytes(), INDEX_ENTRY_BYTES);
        s.clear();
        assert_eq!(s.index_bytes(), 0);
    }

    #[test]
    fn recording_whose_remote_parts_exceed_the_heap_limit_is_discarded() {
        let mut s = store(64 * 1024);
        let lease = s.begin_recording(7, "r").unwrap();
        let mut rec = [0u8; 17];
        let n = encode(&mut rec, 0x0200_0100, 5, &[1]).unwrap();
        // SAFETY: the lease is ours to write until the recording ends.
        unsafe { core::ptr::copy_nonoverlapping(rec.as_ptr(), lease.ptr, n) };
        match s.finish_recording_within(n, 10, SELF, n - 1) {
            Err(StoreError::OverBudget { requested, available }) => assert_eq!((requested, available), (n, n - 1)),
            other => panic!("{:?}", other),
        }
        assert!(s.is_empty());
        assert_eq!(s.arena_stats().in_use, 0);
        assert_eq!(s.index_bytes(), 0);
    }

    /// Every lease starts and ends on a page, through its growths, with
    /// traces allocated around it; the stored trace is trimmed to the DMA
    /// granule again.
    #[test]
    fn leases_are_whole_pages() {
        let whole_pages =
            |l: &Lease| (l.ptr as usize).is_multiple_of(LEASE_ALIGNMENT) && l.cap.is_multiple_of(LEASE_ALIGNMENT);
        let mut s = store(1 << 20);
        upload(&mut s, Key { source: MASTER, id: 1 }, &pulses(3, 0x0100_0F00)).unwrap();
        let mut lease = s.begin_recording(7, "r").unwrap();
        assert!(whole_pages(&lease));
        assert_eq!(lease.cap, INITIAL_LEASE);
        let mut used = 0;
        for step in 0..8 {
            // Traces allocated meanwhile: some growths cannot stay in place.
            upload(&mut s, Key { source: MASTER, id: 10 + step }, &pulses(1, 0x0100_0F00)).unwrap();
            lease = s.grow_recording(used, lease.cap - used + 1).unwrap();
            assert!(whole_pages(&lease), "step {step}: {lease:?}");
            used = lease.cap / 2;
        }
        let rec = s.finish_recording(0, 0, SELF).unwrap();
        assert_eq!(s.info(rec.key).unwrap().len, 1);
        // Nine uploads of under 128 bytes and the trimmed recording.
        assert_eq!(s.arena_stats().in_use, 10 * 128);
    }

    #[test]
    fn over_budget_upload_is_discarded() {
        let mut s = store(64 * 1024);
        let key = Key { source: MASTER, id: 3 };
        let big = pulses(3000, 0x0100_0F00); // ~100 KB
        match upload(&mut s, key, &big) {
            Err(StoreError::OverBudget { .. }) => {}
            other => panic!("{:?}", other),
        }
        assert!(s.info(key).is_none());
        assert_eq!(s.arena_stats().in_use, 0);
        // the store still works
        assert_eq!(upload(&mut s, key, &pulses(10, 0x100)), Ok(AddProgress::Complete));
    }

    #[test]
    fn malformed_upload_is_discarded() {
        let mut s = store(1 << 20);
        let key = Key { source: MASTER, id: 3 };
        let mut t = pulses(2, 0x100);
        t[17] = 5;
        assert_eq!(s.add_chunk(key, true, true, &t), Err(StoreError::Malformed { offset: 17 }));
        assert!(s.is_empty());
        assert_eq!(s.arena_stats().in_use, 0);
    }

    #[test]
    fn upload_ending_inside_a_record_is_refused() {
        // Without this check the appended terminator would become the last
        // record's final data byte, and the trace would have no end.
        let mut s = store(1 << 20);
        let key = Key { source: MASTER, id: 5 };
        let t = pulses(2, 0x100);
        assert_eq!(s.add_chunk(key, true, true, &t[..t.len() - 1]), Err(StoreError::Malformed { offset: 51 }));
        assert!(s.is_empty());
    }

    #[test]
    fn malformed_chunk_is_reported_with_the_last_chunk() {
        // Records are checked as chunks arrive, but the verdict (and its
        // offset in the trace) still comes with the last chunk.
        let mut s = store(1 << 20);
        let key = Key { source: MASTER, id: 4 };
        let mut t = pulses(100, 0x100);
        t[17 * 70] = 5; // a length byte in the second chunk
        let chunks: Vec<&[u8]> = t.chunks(1010).collect();
        let (last, rest) = chunks.split_last().unwrap();
        for (i, c) in rest.iter().enumerate() {
            assert_eq!(s.add_chunk(key, i == 0, false, c), Ok(AddProgress::Incomplete));
        }
        assert_eq!(s.add_chunk(key, false, true, last), Err(StoreError::Malformed { offset: 17 * 70 }));
        assert!(s.is_empty());
        assert_eq!(s.arena_stats().in_use, 0);
    }

    #[test]
    fn playing_trace_cannot_be_freed_or_replaced() {
        let mut s = store(1 << 20);
        let key = Key { source: MASTER, id: 9 };
        upload(&mut s, key, &pulses(3, 0x100)).unwrap();
        let p = s.start_playback(key).unwrap();
        assert_eq!(p.len, 3 * 34 + 1);
        assert_eq!(s.start_playback(key), Err(StoreError::Busy));
        assert_eq!(s.remove(key), Err(StoreError::Busy));
        assert_eq!(s.add_chunk(key, true, true, &[]), Err(StoreError::Busy));
        assert_eq!(s.end_playback(), Some(key));
        s.remove(key).unwrap();
        assert_eq!(s.start_playback(key), Err(StoreError::NotFound));
        s.add_chunk(key, true, false, &[]).unwrap();
        assert_eq!(s.start_playback(key), Err(StoreError::Incomplete));
    }

    #[test]
    fn erasing_a_playing_trace_waits_for_the_engine() {
        let mut s = store(1 << 20);
        let key = Key { source: MASTER, id: 9 };
        upload(&mut s, key, &pulses(3, 0x100)).unwrap();
        upload(&mut s, Key { source: MASTER, id: 10 }, &pulses(3, 0x100)).unwrap();
        s.start_playback(key).unwrap();
        assert_eq!(s.clear(), 2);
        // The other trace is gone; the playing one stays until the engine stops.
        assert_eq!(s.len(), 1);
        assert!(s.trace_bytes(key).is_some());
        assert_eq!(s.end_playback(), Some(key));
        assert!(s.is_empty());
        assert_eq!(s.arena_stats().in_use, 0);
    }

    #[test]
    fn recording_all_local_is_stored_without_copy() {
        let mut s = store(4 << 20);
        let events: Vec<(u32, i64)> = (0..10_000).map(|i| (0x0100_0F00, i * 500_000)).collect();
        let rec = record_into(&mut s, 5, "satellite_subkernel_ddma", &events).unwrap();
        assert!(rec.remote.is_empty());
        assert_eq!(rec.key.source, SELF);
        let info = s.lookup(5, "satellite_subkernel_ddma").unwrap();
        assert_eq!(info.key, rec.key);
        assert_eq!((info.duration, info.uses_ddma, info.owner), (1234, false, Owner::Kernel(5)));
        let size = 10_000 * 17 + 1;
        assert_eq!(info.len, size);
        let n = Records::new(s.trace_bytes(rec.key).unwrap()).count();
        assert_eq!(n, 10_000);
        // grown in place in 1.25x steps, then trimmed: peak stays well under 1.5x
        let stats = s.arena_stats();
        assert_eq!(stats.in_use, size.div_ceil(128) * 128);
        assert!(stats.peak * 2 <= size * 3, "peak {} for {} bytes", stats.peak, size);
        assert_eq!(s.erase_kernel(5), 1);
        assert_eq!(s.arena_stats().in_use, 0);
    }

    #[test]
    fn recording_splits_remote_destinations() {
        let mut s = store(1 << 20);
        let rec = record_into(&mut s, 5, "x", &[(0x0100_0000, 1), (0x0200_0000, 2), (0x0100_0000, 3)]).unwrap();
        assert_eq!(rec.remote.len(), 1);
        assert_eq!(rec.remote[0].destination, 2);
        assert_eq!(rec.remote[0].bytes.len(), 17);
        assert!(s.info(rec.key).unwrap().uses_ddma);
        assert_eq!(s.trace_bytes(rec.key).unwrap().len(), 35);
    }

    #[test]
    fn recording_same_name_replaces_and_errors_discard() {
        let mut s = store(1 << 20);
        let a = record_into(&mut s, 5, "x", &[(0x0100_0000, 1)]).unwrap();
        let b = record_into(&mut s, 5, "x", &[(0x0100_0000, 1)]).unwrap();
        assert_ne!(a.key, b.key);
        assert_eq!(s.len(), 1);
        assert_eq!(
            record_into(&mut s, 5, "y", &[(0x0000_0100, 1)]).unwrap_err(),
            StoreError::DestinationZero { offset: 0 }
        );
        assert!(s.recording().is_none());
        assert_eq!(s.len(), 1);
        let lease = s.begin_recording(6, "z").unwrap();
        assert_eq!(s.begin_recording(6, "w"), Err(StoreError::RecordingActive));
        assert_eq!(s.finish_recording(lease.cap + 1, 0, SELF), Err(StoreError::BadLength { len: lease.cap + 1, capacity: lease.cap }));
        assert_eq!(s.erase_kernel(5), 1);
        assert!(s.is_empty());
        assert_eq!(s.arena_stats().in_use, 0);
    }

    #[test]
    fn recording_over_budget_is_discarded() {
        let mut s = store(128 * 1024);
        let events: Vec<(u32, i64)> = (0..20_000).map(|i| (0x0100_0F00, i)).collect();
        match record_into(&mut s, 5, "big", &events) {
            Err(StoreError::OverBudget { .. }) => {}
            other => panic!("{:?}", other),
        }
        assert!(s.recording().is_none());
        assert_eq!(s.arena_stats().in_use, 0);
        assert!(record_into(&mut s, 5, "small", &events[..10]).is_ok());
    }

    #[test]
    fn erase_by_source_and_kernel() {
        let mut s = store(1 << 20);
        upload(&mut s, Key { source: 0, id: 1 }, &pulses(1, 0x100)).unwrap();
        upload(&mut s, Key { source: 0, id: 2 }, &pulses(1, 0x100)).unwrap();
        upload(&mut s, Key { source: 3, id: 1 }, &pulses(1, 0x100)).unwrap();
        record_into(&mut s, 9, "k", &[(0x0100_0000, 1)]).unwrap();
        assert_eq!(s.erase_source(0), 2);
        assert_eq!(s.erase_kernel(9), 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s.clear(), 1);
        assert!(s.is_empty());
    }
}
