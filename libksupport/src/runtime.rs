//! The kernel-side runtime: what the ARTIQ kernel API does on CPU1.
//!
//! [`Runtime`] implements every kernel API call in terms of a
//! [`KernelHost`]: the request/reply channel to CPU0, the RTIO kernel
//! initiator, and the way an exception leaves the kernel. The firmware's
//! `extern "C"` API symbols call into one `Runtime` on CPU1; host
//! simulations run Rust closures against the same code through the
//! [`KernelApi`] trait.
//!
//! Errors inside API calls become ARTIQ exceptions raised in the kernel
//! (`DMAError`, `SubkernelError`, `RTIOUnderflow`, ...), exactly as a
//! compiled kernel expects; nothing here panics on what CPU0 or a message
//! sends back.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use libdma::Recorder;

use crate::abi::CList;
use crate::exception::{self, id, CSlice, Exception};
use crate::msg::{Bytes, FromKernel, KernelError, PlaybackStatus, ToKernel};
use crate::rpc::{self, Inbox};

/// Status of an RTIO output, as the kernel initiator reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtioStatus {
    Ok,
    /// The event's timestamp was already in the past; `slack` is
    /// timestamp − counter (negative).
    Underflow { slack: i64 },
    /// The event's destination is not reachable.
    DestinationUnreachable,
}

/// Result of an RTIO input request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtioInput {
    Event { timestamp: i64, data: i32 },
    Timeout,
    Overflow,
    DestinationUnreachable,
}

/// What the runtime needs from the CPU it runs on.
pub trait KernelHost {
    /// Sends a request to CPU0 and waits for its reply. CPU1 may wait
    /// without bound: CPU0 bounds every exchange and can always restart CPU1.
    fn request(&mut self, msg: FromKernel) -> ToKernel;
    /// Sends a notification that ends the run (`Finished`, `Exception`).
    fn notify(&mut self, msg: FromKernel);
    /// Waits to be restarted by CPU0; never returns.
    fn halt(&mut self) -> !;

    fn rtio_init(&mut self);
    fn rtio_counter(&mut self) -> i64;
    /// Submits one event at `timestamp` with up to 16 data words.
    fn rtio_output(&mut self, timestamp: i64, target: u32, data: &[u32]) -> RtioStatus;
    /// Waits for an input event on `channel` until `timeout` (machine units;
    /// `i64::MAX` = forever).
    fn rtio_input(&mut self, channel: u32, timeout: i64) -> RtioInput;

    /// Tries to hand `exn`, raised by the firmware inside an API call, to a
    /// landing pad inside the kernel. Returns only if there is none (the
    /// default: no in-kernel unwinding), with the kernel's backtrace, as
    /// `(ip − image base, sp)` pairs innermost first, in the first entries
    /// of `backtrace`: their count.
    fn unwind(&mut self, _exn: &Exception, _backtrace: &mut [(u32, u32)]) -> usize {
        0
    }
}

impl<H: KernelHost + ?Sized> KernelHost for &mut H {
    fn request(&mut self, msg: FromKernel) -> ToKernel {
        (**self).request(msg)
    }
    fn notify(&mut self, msg: FromKernel) {
        (**self).notify(msg)
    }
    fn halt(&mut self) -> ! {
        (**self).halt()
    }
    fn rtio_init(&mut self) {
        (**self).rtio_init()
    }
    fn rtio_counter(&mut self) -> i64 {
        (**self).rtio_counter()
    }
    fn rtio_output(&mut self, timestamp: i64, target: u32, data: &[u32]) -> RtioStatus {
        (**self).rtio_output(timestamp, target, data)
    }
    fn rtio_input(&mut self, channel: u32, timeout: i64) -> RtioInput {
        (**self).rtio_input(channel, timeout)
    }
    fn unwind(&mut self, exn: &Exception, backtrace: &mut [(u32, u32)]) -> usize {
        (**self).unwind(exn, backtrace)
    }
}

/// Result of `dma_retrieve`, laid out as the compiler's sret struct.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaTrace {
    pub duration: i64,
    /// The trace id, passed back to `dma_playback` (the ABI calls it address).
    pub address: i32,
    pub uses_ddma: bool,
}

/// The ARTIQ 9 kernel API with Rust types: what a kernel can call.
pub trait KernelApi {
    fn now_mu(&mut self) -> i64;
    fn at_mu(&mut self, t: i64);
    fn delay_mu(&mut self, dt: i64);

    fn rtio_init(&mut self);
    fn rtio_get_counter(&mut self) -> i64;
    fn rtio_get_destination_status(&mut self, destination: i32) -> bool;
    fn rtio_output(&mut self, target: i32, data: i32);
    fn rtio_output_wide(&mut self, target: i32, data: &[i32]);
    fn rtio_input_timestamp(&mut self, timeout: i64, channel: i32) -> i64;
    fn rtio_input_data(&mut self, channel: i32) -> i32;
    fn rtio_input_timestamped_data(&mut self, timeout: i64, channel: i32) -> (i64, i32);

    fn dma_record_start(&mut self, name: &[u8]);
    fn dma_record_stop(&mut self, duration: i64, enable_ddma: bool);
    fn dma_erase(&mut self, name: &[u8]);
    fn dma_retrieve(&mut self, name: &[u8]) -> DmaTrace;
    fn dma_playback(&mut self, timestamp: i64, address: i32, uses_ddma: bool);

    fn subkernel_load_run(&mut self, id: u32, destination: u8, run: bool);
    fn subkernel_await_finish(&mut self, id: u32, timeout_ms: i64);
    /// `args[i]` points to value `i` of type given by `tags` (an RPC tag
    /// string; the part after `:` is ignored).
    ///
    /// # Safety
    /// Each pointer must point to a valid value of its tag's type.
    unsafe fn subkernel_send_message(&mut self, id: u32, is_return: bool, destination: u8, tags: &[u8], args: &[*const u8]);
    /// Waits for a message and returns its value count; the values are then
    /// taken one by one with [`KernelApi::rpc_recv`].
    fn subkernel_await_message(&mut self, id: i32, timeout_ms: i64, tags: &[u8], min: u8, max: u8) -> u8;
    /// # Safety
    /// `slot` is the next value's slot, or storage of the size the previous
    /// call returned.
    unsafe fn rpc_recv(&mut self, slot: *mut u8) -> usize;

    fn core_log(&mut self, text: &str);
    /// The value's list header, valid until the kernel ends: one header
    /// per key (and one for every empty result), reused by later calls, so
    /// a kernel calling `cache_get` in a loop does not grow CPU1's heap.
    fn cache_get(&mut self, key: &[u8]) -> *const CList;
    fn cache_put(&mut self, key: &[u8], value: &[i32]);

    /// Raises an ARTIQ exception; never returns.
    fn raise(&mut self, exn: &Exception) -> !;
}

/// Kernel-side state for one run. Build a fresh one for every kernel (CPU1's
/// heap is reset between runs anyway).
pub struct Runtime<H: KernelHost> {
    pub host: H,
    now: i64,
    recorder: Recorder,
    inbox: Option<Inbox>,
    /// Message tags copied out of the kernel's call, owned by the inbox.
    inbox_tags: Vec<u8>,
    /// The message CPU0 lent for the inbox (valid until our next request).
    inbox_data: Bytes,
    scratch: Vec<u8>,
    /// Strings of the last exception this runtime raised or re-raised.
    exn_text: String,
    /// Why CPU0 ended the current recording early (over budget, ...): the
    /// first cause, raised again by `dma_record_stop` (which a `with`
    /// block's exit calls while the first exception unwinds), so it is not
    /// replaced by "DMA is not recording".
    recording_failed: Option<KernelError>,
    /// The list headers `cache_get` returned, by key (`None`: the header of
    /// every empty result). Bounded by the keys CPU0 holds values for,
    /// which CPU0's memory budget bounds.
    cache_lists: Vec<(Option<Vec<u8>>, Box<CList>)>,
}

impl<H: KernelHost> Runtime<H> {
    pub fn new(host: H) -> Self {
        Runtime {
            host,
            now: 0,
            recorder: Recorder::new(),
            inbox: None,
            inbox_tags: Vec::new(),
            inbox_data: Bytes::EMPTY,
            scratch: Vec::new(),
            exn_text: String::new(),
            recording_failed: None,
            cache_lists: Vec::new(),
        }
    }

    pub fn set_now(&mut self, t: i64) {
        self.now = t;
    }

    pub fn is_recording(&self) -> bool {
        self.recorder.is_active()
    }

    /// Sends a request, dropping the message CPU0 lent for the inbox: it is
    /// only valid until the next request.
    fn request(&mut self, msg: FromKernel) -> ToKernel {
        if !matches!(msg, FromKernel::Log { .. }) {
            self.inbox = None;
            self.inbox_data = Bytes::EMPTY;
        }
        self.host.request(msg)
    }

    /// Raises a firmware exception with a formatted message.
    fn raise_fmt(&mut self, exn_id: u32, param: [i64; 3], args: core::fmt::Arguments) -> ! {
        self.exn_text.clear();
        let _ = self.exn_text.write_fmt(args);
        let exn = Exception {
            message: CSlice::from_bytes(self.exn_text.as_bytes()),
            ..Exception::firmware(exn_id, "", param)
        };
        self.raise_exn(&exn)
    }

    fn raise_exn(&mut self, exn: &Exception) -> ! {
        let mut backtrace = [(0u32, 0u32); crate::eh::MAX_BACKTRACE];
        let n = self.host.unwind(exn, &mut backtrace).min(backtrace.len());
        self.report_with_backtrace(exn, &backtrace[..n])
    }

    /// Reports an uncaught exception to CPU0 and halts.
    pub fn report(&mut self, exn: &Exception) -> ! {
        self.report_with_backtrace(exn, &[])
    }

    /// Reports an uncaught exception with the kernel's backtrace
    /// (`(ip − image base, sp)` pairs, innermost first) to CPU0 and halts.
    pub fn report_with_backtrace(&mut self, exn: &Exception, backtrace: &[(u32, u32)]) -> ! {
        let mut blob = core::mem::take(&mut self.scratch);
        blob.clear();
        // SAFETY: the exception's strings are readable or host keys: the
        // firmware's own (in `exn_text` or 'static) or the kernel's, in its
        // image, which is mapped while it runs.
        unsafe { exception::serialize(exn, backtrace, &mut blob) };
        // CPU1 now waits for its restart holding exactly the blob CPU0
        // copies: the run's other buffers are freed and the blob trimmed to
        // its length, so CPU1's heap at the end of a run that raised is the
        // load's plus `blob.len()` (the kernel manager reads it there).
        // `exn` (which may point into `exn_text`) is not used after this.
        self.release_buffers();
        blob.shrink_to_fit();
        self.host.notify(FromKernel::Exception { blob: Bytes::new(&blob) });
        self.scratch = blob;
        self.host.halt()
    }

    /// Frees the buffers the runtime keeps between API calls (scratch,
    /// message tags, exception text, `cache_get`'s list headers) and drops
    /// the inbox and the message CPU0 lent for it. Only for a kernel that
    /// will not run again: the headers it was given dangle afterwards.
    fn release_buffers(&mut self) {
        self.inbox = None;
        self.inbox_data = Bytes::EMPTY;
        self.inbox_tags = Vec::new();
        self.scratch = Vec::new();
        self.exn_text = String::new();
        self.cache_lists = Vec::new();
    }

    /// Re-raises an exception serialised by another subkernel.
    fn reraise(&mut self, blob: Bytes) -> ! {
        // SAFETY: CPU0 lends the blob with the reply that carried it, until
        // the next request; `parse` copies what it keeps before any.
        let parsed = exception::parse(unsafe { blob.as_slice() });
        match parsed {
            Ok(p) => {
                // Keep every string in one owned buffer the exception points into.
                self.exn_text.clear();
                let msg = p.message.unwrap_or_default();
                self.exn_text.push_str(&msg);
                self.exn_text.push_str(&p.file);
                self.exn_text.push_str(&p.function);
                let t = self.exn_text.as_bytes();
                let (m, rest) = t.split_at(msg.len());
                let (f, func) = rest.split_at(p.file.len());
                let exn = Exception {
                    id: p.id,
                    file: CSlice::from_bytes(f),
                    line: p.line,
                    column: p.column,
                    function: CSlice::from_bytes(func),
                    message: CSlice::from_bytes(m),
                    param: p.param,
                };
                self.raise_exn(&exn)
            }
            Err(_) => self.raise_fmt(id::SUBKERNEL_ERROR, [0; 3], format_args!("subkernel raised an unreadable exception")),
        }
    }

    /// Raises the exception matching a refusal from CPU0.
    fn fail(&mut self, err: KernelError, what: &str) -> ! {
        match err {
            KernelError::Exception(blob) => self.reraise(blob),
            KernelError::Timeout => self.raise_fmt(id::SUBKERNEL_ERROR, [0; 3], format_args!("{}: timed out", what)),
            KernelError::IncorrectState => {
                self.raise_fmt(id::SUBKERNEL_ERROR, [0; 3], format_args!("{}: incorrect state", what))
            }
            KernelError::CommLost => {
                self.raise_fmt(id::SUBKERNEL_ERROR, [0; 3], format_args!("{}: communication lost", what))
            }
            KernelError::DmaNotFound => self.raise_fmt(id::DMA_ERROR, [0; 3], format_args!("{}: trace not found", what)),
            KernelError::DmaBusy => self.raise_fmt(id::DMA_ERROR, [0; 3], format_args!("{}: DMA busy", what)),
            KernelError::DmaOverBudget => {
                self.raise_fmt(id::DMA_ERROR, [0; 3], format_args!("{}: DMA trace exceeds the store's budget", what))
            }
            KernelError::DmaDestinationZero => self.raise_fmt(
                id::DMA_ERROR,
                [0; 3],
                format_args!("{}: recorded events for destination 0 cannot be played by a satellite", what),
            ),
            KernelError::OutOfMemory => self.raise_fmt(id::RUNTIME_ERROR, [0; 3], format_args!("{}: out of memory", what)),
            KernelError::CacheBusy => {
                self.raise_fmt(id::CACHE_ERROR, [0; 3], format_args!("{}: cache key is in use", what))
            }
            KernelError::BadAddress => self.raise_fmt(
                id::VALUE_ERROR,
                [0; 3],
                format_args!("{}: an argument lies outside the kernel CPU's memory", what),
            ),
            KernelError::Other(code) => {
                self.raise_fmt(id::RUNTIME_ERROR, [code as i64, 0, 0], format_args!("{}: firmware error {{0}}", what))
            }
        }
    }

    fn unexpected(&mut self, what: &str) -> ! {
        self.raise_fmt(id::RUNTIME_ERROR, [0; 3], format_args!("{}: unexpected reply from CPU0", what))
    }

    fn expect_ack(&mut self, msg: FromKernel, what: &str) {
        match self.request(msg) {
            ToKernel::Ack => {}
            ToKernel::Error(e) => self.fail(e, what),
            _ => self.unexpected(what),
        }
    }

    /// `rtio_output`'s fast path: records one event if a recording is
    /// active and its lease has room, inline; returns `false` (having done
    /// nothing) otherwise, and the caller then goes through
    /// [`KernelApi::rtio_output`], which decides the rest out of line
    /// (growing the lease, a live output, their errors). The recorder's one
    /// bounds check covers both conditions: an inactive recorder has no room.
    #[inline(always)]
    pub fn try_record_output(&mut self, target: i32, data: i32) -> bool {
        self.recorder.output(target as u32, self.now, data as u32).is_ok()
    }

    fn output(&mut self, target: u32, data: &[u32]) {
        if self.recorder.is_active() {
            self.record(target, data);
            return;
        }
        match self.host.rtio_output(self.now, target, data) {
            RtioStatus::Ok => {}
            RtioStatus::Underflow { slack } => self.raise_fmt(
                id::RTIO_UNDERFLOW,
                [(target >> 8) as i64, self.now, slack],
                format_args!("RTIO underflow at {{1}} mu, channel {{rtio_channel_info:0}}, slack {{2}} mu"),
            ),
            RtioStatus::DestinationUnreachable => self.raise_fmt(
                id::RTIO_DESTINATION_UNREACHABLE,
                [(target >> 8) as i64, self.now, 0],
                format_args!("RTIO destination unreachable, output, at {{1}} mu, channel {{rtio_channel_info:0}}"),
            ),
        }
    }

    #[inline]
    fn record(&mut self, target: u32, data: &[u32]) {
        let res = match data {
            [word] => self.recorder.output(target, self.now, *word),
            words => self.recorder.output_wide(target, self.now, words),
        };
        if let Err(full) = res {
            self.grow_recording(full.needed);
            let res = match data {
                [word] => self.recorder.output(target, self.now, *word),
                words => self.recorder.output_wide(target, self.now, words),
            };
            if res.is_err() {
                self.unexpected("dma_record");
            }
        }
    }

    #[cold]
    fn grow_recording(&mut self, needed: usize) {
        let used = self.recorder.len();
        match self.request(FromKernel::DmaRecordGrow { used, needed }) {
            // SAFETY: CPU0's store lends the grown lease, holding the bytes
            // recorded so far, to this recorder alone until the next
            // grow/finish, and `cap >= used` (checked).
            ToKernel::Lease(lease) if lease.cap >= used + needed => unsafe { self.recorder.rebase(lease.ptr, lease.cap) },
            ToKernel::Error(e) => {
                self.recorder.stop();
                self.recording_failed = Some(e);
                self.fail(e, "DMA recording")
            }
            _ => {
                self.recorder.stop();
                self.unexpected("DMA recording")
            }
        }
    }

    fn input(&mut self, timeout: i64, channel: i32) -> Option<(i64, i32)> {
        match self.host.rtio_input(channel as u32, timeout) {
            RtioInput::Event { timestamp, data } => Some((timestamp, data)),
            RtioInput::Timeout => None,
            RtioInput::Overflow => self.raise_fmt(
                id::RTIO_OVERFLOW,
                [channel as i64, 0, 0],
                format_args!("RTIO input overflow on channel {{rtio_channel_info:0}}"),
            ),
            RtioInput::DestinationUnreachable => self.raise_fmt(
                id::RTIO_DESTINATION_UNREACHABLE,
                [channel as i64, 0, 0],
                format_args!("RTIO destination unreachable, input, on channel {{rtio_channel_info:0}}"),
            ),
        }
    }
}

impl<H: KernelHost> KernelApi for Runtime<H> {
    fn now_mu(&mut self) -> i64 {
        self.now
    }

    fn at_mu(&mut self, t: i64) {
        self.now = t;
    }

    fn delay_mu(&mut self, dt: i64) {
        self.now = self.now.wrapping_add(dt);
    }

    fn rtio_init(&mut self) {
        self.host.rtio_init();
        self.expect_ack(FromKernel::RtioInit, "rtio_init");
    }

    fn rtio_get_counter(&mut self) -> i64 {
        self.host.rtio_counter()
    }

    fn rtio_get_destination_status(&mut self, destination: i32) -> bool {
        match self.request(FromKernel::DestinationStatus { destination: destination as u8 }) {
            ToKernel::Bool(up) => up,
            _ => false,
        }
    }

    fn rtio_output(&mut self, target: i32, data: i32) {
        if !self.try_record_output(target, data) {
            self.output(target as u32, &[data as u32]);
        }
    }

    fn rtio_output_wide(&mut self, target: i32, data: &[i32]) {
        let mut words = [0u32; libdma::record::MAX_WORDS];
        let n = data.len().min(words.len());
        for (w, d) in words.iter_mut().zip(data) {
            *w = *d as u32;
        }
        self.output(target as u32, &words[..n]);
    }

    fn rtio_input_timestamp(&mut self, timeout: i64, channel: i32) -> i64 {
        self.input(timeout, channel).map_or(-1, |(ts, _)| ts)
    }

    fn rtio_input_data(&mut self, channel: i32) -> i32 {
        match self.input(i64::MAX, channel) {
            Some((_, data)) => data,
            None => self.raise_fmt(id::RTIO_OVERFLOW, [channel as i64, 0, 0], format_args!("RTIO input timed out on channel {{0}}")),
        }
    }

    fn rtio_input_timestamped_data(&mut self, timeout: i64, channel: i32) -> (i64, i32) {
        self.input(timeout, channel).unwrap_or((-1, 0))
    }

    fn dma_record_start(&mut self, name: &[u8]) {
        if self.recorder.is_active() {
            self.raise_fmt(id::DMA_ERROR, [0; 3], format_args!("DMA is already recording"));
        }
        self.recording_failed = None;
        match self.request(FromKernel::DmaRecordStart { name: Bytes::new(name) }) {
            // SAFETY: CPU0's store lends the lease to this recorder alone
            // (and maps it writable for CPU1) until the recording grows or ends.
            ToKernel::Lease(lease) => unsafe { self.recorder.start(lease.ptr, lease.cap) },
            ToKernel::Error(e) => self.fail(e, "dma_record_start"),
            _ => self.unexpected("dma_record_start"),
        }
    }

    fn dma_record_stop(&mut self, duration: i64, enable_ddma: bool) {
        if !self.recorder.is_active() {
            if let Some(first) = self.recording_failed.take() {
                // The recording failed; that is what the kernel must hear.
                self.fail(first, "DMA recording");
            }
            self.raise_fmt(id::DMA_ERROR, [0; 3], format_args!("DMA is not recording"));
        }
        let used = self.recorder.stop();
        self.expect_ack(FromKernel::DmaRecordStop { used, duration: duration as u64, enable_ddma }, "dma_record_stop");
    }

    fn dma_erase(&mut self, name: &[u8]) {
        match self.request(FromKernel::DmaErase { name: Bytes::new(name) }) {
            ToKernel::Ack | ToKernel::Error(KernelError::DmaNotFound) => {}
            ToKernel::Error(e) => self.fail(e, "dma_erase"),
            _ => self.unexpected("dma_erase"),
        }
    }

    fn dma_retrieve(&mut self, name: &[u8]) -> DmaTrace {
        match self.request(FromKernel::DmaRetrieve { name: Bytes::new(name) }) {
            ToKernel::DmaTrace { id, duration, uses_ddma } => {
                DmaTrace { duration: duration as i64, address: id as i32, uses_ddma }
            }
            ToKernel::Error(e) => self.fail(e, "dma_retrieve"),
            _ => self.unexpected("dma_retrieve"),
        }
    }

    fn dma_playback(&mut self, timestamp: i64, address: i32, uses_ddma: bool) {
        let msg = FromKernel::DmaPlayback { id: address as u32, timestamp: timestamp as u64, uses_ddma };
        match self.request(msg) {
            ToKernel::PlaybackDone(PlaybackStatus { error: 0, .. }) => {}
            ToKernel::PlaybackDone(s) if s.error & 1 != 0 => self.raise_fmt(
                id::RTIO_UNDERFLOW,
                [s.channel as i64, s.timestamp as i64, 0],
                format_args!("RTIO underflow at {{1}} mu, channel {{rtio_channel_info:0}}"),
            ),
            ToKernel::PlaybackDone(s) => self.raise_fmt(
                id::RTIO_DESTINATION_UNREACHABLE,
                [s.channel as i64, s.timestamp as i64, 0],
                format_args!("RTIO destination unreachable, output, at {{1}} mu, channel {{rtio_channel_info:0}}"),
            ),
            ToKernel::Error(e) => self.fail(e, "dma_playback"),
            _ => self.unexpected("dma_playback"),
        }
    }

    fn subkernel_load_run(&mut self, id: u32, destination: u8, run: bool) {
        let msg = FromKernel::SubkernelLoadRun { id, destination, run, timestamp: self.now as u64 };
        self.expect_ack(msg, "subkernel_load_run");
    }

    fn subkernel_await_finish(&mut self, id: u32, timeout_ms: i64) {
        self.expect_ack(FromKernel::SubkernelAwaitFinish { id, timeout_ms }, "subkernel_await_finish");
    }

    unsafe fn subkernel_send_message(&mut self, id: u32, is_return: bool, destination: u8, tags: &[u8], args: &[*const u8]) {
        let mut buf = core::mem::take(&mut self.scratch);
        buf.clear();
        // SAFETY: each pointer points to a valid value of its tag's type
        // (this method's contract, `KernelApi::subkernel_send_message`).
        if let Err(e) = unsafe { rpc::encode_message(tags, args, &mut buf) } {
            self.scratch = buf;
            self.raise_fmt(id::SUBKERNEL_ERROR, [0; 3], format_args!("subkernel_send_message: {}", e));
        }
        let msg = FromKernel::MessageSend { id, destination, is_return, data: Bytes::new(&buf) };
        let reply = self.request(msg);
        self.scratch = buf;
        match reply {
            ToKernel::Ack => {}
            ToKernel::Error(e) => self.fail(e, "subkernel_send_message"),
            _ => self.unexpected("subkernel_send_message"),
        }
    }

    fn subkernel_await_message(&mut self, id: i32, timeout_ms: i64, tags: &[u8], min: u8, max: u8) -> u8 {
        let data = match self.request(FromKernel::MessageRecv { id, timeout_ms }) {
            ToKernel::Message { data } => data,
            ToKernel::Error(e) => self.fail(e, "subkernel_await_message"),
            _ => self.unexpected("subkernel_await_message"),
        };
        // SAFETY: CPU0 lends the message until the next request (msg.rs),
        // and `request` drops the inbox that borrows it before sending one.
        let bytes = unsafe { data.as_slice() };
        let Some((&count, values)) = bytes.split_first() else {
            self.raise_fmt(id::SUBKERNEL_ERROR, [0; 3], format_args!("received an empty message"))
        };
        if count < min || count > max {
            self.raise_fmt(
                id::SUBKERNEL_ERROR,
                [count as i64, min as i64, max as i64],
                format_args!("received {{0}} values, expected {{1}} to {{2}}"),
            );
        }
        self.inbox_tags.clear();
        self.inbox_tags.extend_from_slice(tags);
        self.inbox_data = data;
        // SAFETY: `values` stays lent until the next request, which drops
        // the inbox first; `inbox_tags` is only changed here, after the
        // previous inbox was replaced, and outlives the inbox.
        self.inbox = Some(unsafe { Inbox::new(values, &self.inbox_tags) });
        count
    }

    unsafe fn rpc_recv(&mut self, slot: *mut u8) -> usize {
        let res = match self.inbox.as_mut() {
            // SAFETY: `slot` is the next value's slot or storage of the size
            // the previous call returned (`KernelApi::rpc_recv`'s contract),
            // which is what `Inbox::recv` needs.
            Some(inbox) => unsafe { inbox.recv(slot) },
            None => self.raise_fmt(id::SUBKERNEL_ERROR, [0; 3], format_args!("rpc_recv without a message")),
        };
        match res {
            Ok(n) => n,
            Err(e) => self.raise_fmt(id::SUBKERNEL_ERROR, [0; 3], format_args!("rpc_recv: {}", e)),
        }
    }

    fn core_log(&mut self, text: &str) {
        let _ = self.request(FromKernel::Log { text: Bytes::new(text.as_bytes()) });
    }

    fn cache_get(&mut self, key: &[u8]) -> *const CList {
        let list = match self.request(FromKernel::CacheGet { key: Bytes::new(key) }) {
            // CPU0 lends the entry's `i32` words (a `Vec<i32>`, so 4-aligned)
            // until the kernel ends, marking the key borrowed so that
            // `cache_put` cannot change or free them; the length is a whole
            // number of words (checked).
            ToKernel::CacheValue { data } if data.len().is_multiple_of(4) && !data.is_empty() => {
                CList { ptr: data.addr() as *const i32, len: (data.len() / 4) as u32 }
            }
            _ => CList { ptr: core::ptr::NonNull::dangling().as_ptr(), len: 0 },
        };
        let slot = (list.len != 0).then_some(key);
        let i = match self.cache_lists.iter().position(|(k, _)| k.as_deref() == slot) {
            Some(i) => i,
            None => {
                self.cache_lists.push((slot.map(<[u8]>::to_vec), Box::new(CList { ptr: list.ptr, len: 0 })));
                self.cache_lists.len() - 1
            }
        };
        let header = &mut self.cache_lists[i].1;
        **header = list;
        &**header
    }

    fn cache_put(&mut self, key: &[u8], value: &[i32]) {
        // SAFETY: the same memory as `value`, viewed as bytes (any bit
        // pattern is a `u8`, and `len * 4` bytes are the slice's own).
        let bytes = unsafe { core::slice::from_raw_parts(value.as_ptr().cast::<u8>(), value.len() * 4) };
        self.expect_ack(FromKernel::CachePut { key: Bytes::new(key), value: Bytes::new(bytes) }, "cache_put");
    }

    fn raise(&mut self, exn: &Exception) -> ! {
        self.raise_exn(exn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::collections::VecDeque;
    use alloc::vec;
    use libdma::Lease;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    struct Halted;

    #[derive(Default)]
    struct Mock {
        replies: VecDeque<ToKernel>,
        requests: Vec<FromKernel>,
        outputs: Vec<(i64, u32, Vec<u32>)>,
        exception: Option<Vec<u8>>,
        sent: Vec<Vec<u8>>,
        buffers: Vec<Box<[u8]>>,
        underflow: bool,
        /// Refuse a recording's growth with this error.
        refuse_grow: Option<KernelError>,
    }

    impl Mock {
        fn lease(&mut self, cap: usize, keep: usize) -> ToKernel {
            let mut buf = vec![0u8; cap].into_boxed_slice();
            if let Some(old) = self.buffers.last() {
                buf[..keep].copy_from_slice(&old[..keep]);
            }
            let lease = Lease { ptr: buf.as_mut_ptr(), cap };
            self.buffers.push(buf);
            ToKernel::Lease(lease)
        }
    }

    impl KernelHost for Mock {
        fn request(&mut self, msg: FromKernel) -> ToKernel {
            self.requests.push(msg);
            match msg {
                FromKernel::DmaRecordStart { .. } => self.lease(40, 0),
                FromKernel::DmaRecordGrow { used, needed } => match self.refuse_grow {
                    Some(e) => ToKernel::Error(e),
                    None => self.lease(used + needed + 10, used),
                },
                FromKernel::MessageSend { data, .. } => {
                    // SAFETY: the runtime lends the message bytes until this request returns; they
                    // are copied here.
                    self.sent.push(unsafe { data.as_slice() }.to_vec());
                    ToKernel::Ack
                }
                _ => self.replies.pop_front().unwrap_or(ToKernel::Ack),
            }
        }
        fn notify(&mut self, msg: FromKernel) {
            if let FromKernel::Exception { blob } = msg {
                // SAFETY: the runtime's scratch blob is alive during `notify`; it is copied here.
                self.exception = Some(unsafe { blob.as_slice() }.to_vec());
            }
        }
        fn halt(&mut self) -> ! {
            std::panic::panic_any(Halted)
        }
        fn rtio_init(&mut self) {}
        fn rtio_counter(&mut self) -> i64 {
            1000
        }
        fn rtio_output(&mut self, timestamp: i64, target: u32, data: &[u32]) -> RtioStatus {
            if self.underflow {
                return RtioStatus::Underflow { slack: -5 };
            }
            self.outputs.push((timestamp, target, data.to_vec()));
            RtioStatus::Ok
        }
        fn rtio_input(&mut self, _channel: u32, _timeout: i64) -> RtioInput {
            RtioInput::Timeout
        }
    }

    /// Runs `f`, expecting it to raise; returns the reported exception.
    fn raises(rt: &mut Runtime<Mock>, f: impl FnOnce(&mut Runtime<Mock>)) -> exception::ParsedException {
        let r = catch_unwind(AssertUnwindSafe(|| f(rt)));
        assert!(r.err().is_some_and(|e| e.is::<Halted>()));
        exception::parse(rt.host.exception.as_ref().expect("no exception reported")).unwrap()
    }

    #[test]
    fn cache_get_reuses_one_header_per_key() {
        let mut rt = Runtime::new(Mock::default());
        let value: &'static [i32] = &[7, 8, 9];
        let lent = Bytes::of_words(value);
        let mut headers = Vec::new();
        for _ in 0..100 {
            rt.host.replies.push_back(ToKernel::CacheValue { data: lent });
            headers.push(rt.cache_get(b"calibration"));
        }
        rt.host.replies.push_back(ToKernel::CacheValue { data: Bytes::EMPTY });
        let empty = rt.cache_get(b"missing");
        rt.host.replies.push_back(ToKernel::CacheValue { data: Bytes::EMPTY });
        assert_eq!(rt.cache_get(b"also missing"), empty);
        assert!(headers.iter().all(|h| *h == headers[0]), "one header for the key");
        assert_eq!(rt.cache_lists.len(), 2, "the key's header and the empty one");
        // SAFETY: headers the runtime owns, alive while `rt` is.
        let (h, e) = unsafe { (&*headers[0], &*empty) };
        assert_eq!((h.ptr, h.len), (value.as_ptr(), 3));
        assert_eq!(e.len, 0);
    }

    #[test]
    fn outputs_follow_the_timeline() {
        let mut rt = Runtime::new(Mock::default());
        rt.set_now(100);
        rt.rtio_output(0x0100_0F00, 1);
        rt.delay_mu(500);
        rt.rtio_output_wide(0x0100_0F01, &[1, 2]);
        assert_eq!(rt.host.outputs, [(100, 0x0100_0F00, vec![1]), (600, 0x0100_0F01, vec![1, 2])]);
        assert_eq!(rt.now_mu(), 600);
    }

    #[test]
    fn a_failed_recording_reports_its_first_cause_from_the_stop_too() {
        let mut rt = Runtime::new(Mock::default());
        rt.dma_record_start(b"t");
        rt.host.refuse_grow = Some(KernelError::DmaOverBudget);
        // The first lease holds two events; the third needs more.
        let e = raises(&mut rt, |rt| {
            for i in 0..10 {
                rt.rtio_output(0x0100_0F00, i);
            }
        });
        assert!(e.message.as_deref().unwrap().contains("budget"), "{:?}", e.message);
        // A `with` block's exit stops the recording while that exception
        // unwinds: the same cause again, not "DMA is not recording".
        rt.host.exception = None;
        let e = raises(&mut rt, |rt| rt.dma_record_stop(0, true));
        assert_eq!(e.id, id::DMA_ERROR);
        assert!(e.message.as_deref().unwrap().contains("budget"), "{:?}", e.message);
        // Reported once: a second stop is the plain state error.
        rt.host.exception = None;
        let e = raises(&mut rt, |rt| rt.dma_record_stop(0, true));
        assert!(e.message.as_deref().unwrap().contains("not recording"));
    }

    #[test]
    fn recording_grows_its_lease_and_outputs_nothing() {
        let mut rt = Runtime::new(Mock::default());
        rt.dma_record_start(b"t");
        assert!(rt.is_recording());
        rt.at_mu(0);
        for i in 0..10 {
            rt.rtio_output(0x0100_0F00, i);
            rt.delay_mu(1000);
        }
        rt.dma_record_stop(10_000, true);
        assert!(rt.host.outputs.is_empty());
        let stop = rt.host.requests.iter().find_map(|r| match r {
            FromKernel::DmaRecordStop { used, duration, .. } => Some((*used, *duration)),
            _ => None,
        });
        assert_eq!(stop, Some((170, 10_000)));
        let last = rt.host.buffers.last().unwrap();
        let recs: Vec<_> = libdma::record::Records::new(&last[..170]).map(Result::unwrap).collect();
        assert_eq!(recs.len(), 10);
        assert_eq!((recs[9].timestamp, recs[9].word(0)), (9000, 9));
    }

    #[test]
    fn underflow_raises_rtio_underflow() {
        let mut rt = Runtime::new(Mock { underflow: true, ..Mock::default() });
        rt.set_now(77);
        let e = raises(&mut rt, |rt| rt.rtio_output(0x0100_0F00, 1));
        assert_eq!(e.id, id::RTIO_UNDERFLOW);
        assert_eq!(e.param, [0x01_000F, 77, -5]);
    }

    #[test]
    fn playback_errors_and_refusals_raise() {
        let mut rt = Runtime::new(Mock::default());
        rt.host.replies.push_back(ToKernel::PlaybackDone(PlaybackStatus { error: 1, channel: 15, timestamp: 9 }));
        let e = raises(&mut rt, |rt| rt.dma_playback(0, 1, false));
        assert_eq!((e.id, e.param[0], e.param[1]), (id::RTIO_UNDERFLOW, 15, 9));
        rt.host.replies.push_back(ToKernel::Error(KernelError::DmaNotFound));
        let e = raises(&mut rt, |rt| {
            rt.dma_retrieve(b"nope");
        });
        assert_eq!(e.id, id::DMA_ERROR);
        rt.host.replies.push_back(ToKernel::Error(KernelError::Timeout));
        let e = raises(&mut rt, |rt| rt.subkernel_await_finish(3, 100));
        assert_eq!(e.id, id::SUBKERNEL_ERROR);
        assert!(e.message.unwrap().contains("timed out"));
    }

    #[test]
    fn remote_exception_is_reraised_as_is() {
        let mut blob = Vec::new();
        exception::serialize_message(id::VALUE_ERROR, "remote says no", [1, 2, 3], &mut blob);
        let mut rt = Runtime::new(Mock::default());
        rt.host.replies.push_back(ToKernel::Error(KernelError::Exception(Bytes::new(&blob))));
        let e = raises(&mut rt, |rt| rt.subkernel_await_finish(3, 100));
        assert_eq!((e.id, e.message.as_deref(), e.param), (id::VALUE_ERROR, Some("remote says no"), [1, 2, 3]));
    }

    #[test]
    fn messages_in_and_out() {
        let msg = [2u8, 7, 0, 0, 0, 9, 0, 0, 0];
        let mut rt = Runtime::new(Mock::default());
        rt.host.replies.push_back(ToKernel::Message { data: Bytes::new(&msg) });
        assert_eq!(rt.subkernel_await_message(-1, 1000, b"ii", 2, 2), 2);
        let (mut a, mut b) = (0i32, 0i32);
        // SAFETY: each slot is a live `i32`, the type of the tag `i` received.
        unsafe {
            assert_eq!(rt.rpc_recv((&mut a as *mut i32).cast()), 0);
            assert_eq!(rt.rpc_recv((&mut b as *mut i32).cast()), 0);
        }
        assert_eq!((a, b), (7, 9));
        let sum = a + b;
        // SAFETY: the argument points to a live `i32`, matching the tag `i`.
        unsafe { rt.subkernel_send_message(0, true, 0, b"i:i", &[(&sum as *const i32).cast()]) };
        assert_eq!(rt.host.sent, [vec![1, 16, 0, 0, 0]]);

        rt.host.replies.push_back(ToKernel::Message { data: Bytes::new(&msg) });
        let e = raises(&mut rt, |rt| {
            rt.subkernel_await_message(-1, 1000, b"i", 1, 1);
        });
        assert_eq!((e.id, e.param), (id::SUBKERNEL_ERROR, [2, 1, 1]));
    }
}
