//! Performance benchmarks of issue #2: DMA recording and storing, upload
//! chunk handling, echo throughput and the frame codec.
//!
//! ```text
//! cargo bench -p satman-systest --bench perf               # table: wall time, pass/fail
//! cargo bench -p satman-systest --bench perf -- --json     # the same as JSON
//! cargo bench -p satman-systest --bench perf -- --strict   # exit 1 if a target is missed
//! cargo bench -p satman-systest --bench perf -- --quick    # a tenth of the samples
//! perf --phase <name> [--pulses N] [--count N]  # one run of one phase (callgrind)
//! ```
//!
//! (`-p satman-systest`: the root package is not a default member. Its build
//! script builds the QEMU firmware with nightly; the bench does not need it,
//! so `SATMAN_SKIP_FIRMWARE=1` saves that build.)
//!
//! Wall-time targets are judged here; a missed one only prints FAIL unless
//! `--strict`, because wall time on a shared machine is noisy. The
//! instruction-count targets are judged by `scripts/bench-callgrind`.
//!
//! Every measured phase is an `#[inline(never)]` function `bench_<phase>`,
//! so `valgrind --tool=callgrind --toggle-collect='*bench_<phase>'` counts
//! exactly the instructions executed inside it (setup stays outside);
//! `scripts/bench-callgrind` does that for the instruction-count targets.
//! The binary's global allocator is the tracking allocator of
//! `satman_systest::heap` (for the heap peak), which adds a little to each
//! allocation; no phase allocates per event, and the uploads only as their
//! buffers grow.
//!
//! Workload (issue #2): 5,000 pulses on target 0x01000F00 (destination 1,
//! channel 15), two `rtio_output` events per pulse (data 1 at t, data 0 at
//! t + 500,000 mu, t advancing by 1,000,000 mu): 10,000 events, a
//! 170,001-byte trace with its terminator, stored under the satellite's own
//! destination 1 so that every event is local.
//!
//! Phases (`--phase` names):
//!
//! | phase            | unit   | what runs inside `bench_<phase>`                                   |
//! |------------------|--------|--------------------------------------------------------------------|
//! | `record`         | event  | `Recorder::output` ×2 per pulse, growing via `Store::grow_recording` |
//! | `store`          | event  | `Recorder::stop` + `Store::finish_recording` (split, terminator, trim, insert) |
//! | `chunk_dma`      | chunk  | `Satellite::poll` per `DmaAddTraceRequest` frame (bench link)       |
//! | `chunk_kernel`   | chunk  | `Satellite::poll` per `SubkernelAddDataRequest` frame (bench link)  |
//! | `echo`           | packet | `Satellite::poll` per `EchoRequest` frame (bench link)             |
//! | `decode`         | frame  | `Packet::decode` of a 1024-byte `DmaAddTraceRequest` frame          |
//! | `encode`         | frame  | `Packet::encode` of the same packet into a 1024-byte buffer         |
//! | `chunk_dma_sim`  | chunk  | as `chunk_dma`, through the host simulation's `LinkShared` (`SimBench`) |
//! | `echo_sim`       | packet | as `echo`, through the host simulation's `LinkShared` (`SimBench`)  |
//! | `memory`         | -      | arena and global-heap peaks of record + store (no timing)          |
//!
//! The "bench link" is [`BenchLink`]: an `AuxLink` that hands over frames
//! encoded beforehand and drops the replies after a one-byte check, on a
//! [`BenchBoard`] platform whose CPU1, RTIO and DMA do nothing and whose
//! clock is a counter. What it measures is the firmware's own path:
//! `Satellite::poll` (link state, receive copy, decode with CRC, dispatch,
//! the store or reassembler, reply encode with CRC, transmit call, and the
//! idle polls of kernel, DMA, deadlines, management and outbox). The `_sim`
//! variants add the simulation's `Mutex<VecDeque<Vec<u8>>>` link, a heap
//! allocation per frame each way and the simulated CPU1 mailbox; they are
//! reported for comparison, and the targets are judged on the bench link.

use std::hint::black_box;
use std::time::{Duration, Instant};

use libdma::record::encode as encode_record;
use libdma::{Arena, Key, Recorder, Store};
use libdrtio::{Frame, Packet, PayloadStatus, MASTER_PAYLOAD_MAX_SIZE, MAX_PACKET};
use libksupport::abi;
use libksupport::exception::CSlice;
use libksupport::loader::Kernel;
use libksupport::msg::{FromKernel, KernelError, ToKernel};
use libksupport::runtime::{KernelHost, Runtime, RtioInput, RtioStatus};
use satman::hal::{AuxLink, Hardware, LinkError, Platform};
use satman::{Config, RamConfig, Satellite};
use satman_systest::heap::{Tracker, TrackingAlloc};
use satman_systest::null::{NullCpu, NullDma, NullMoninj, NullRtio, NullSystem, TickClock};
use satman_systest::sim::{SimBench, SimOptions};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

/// Destination 1, channel 15, address 0.
const TARGET: u32 = 0x0100_0F00;
/// The satellite's own destination.
const OWN: u8 = 1;
const PULSES: usize = 5_000;
const PULSE_WIDTH: i64 = 500_000;
const PERIOD: i64 = 1_000_000;
/// DDMA budget of the bench stores (the firmware has 64 MiB).
const BUDGET: usize = 16 << 20;
/// Id of the uploaded trace and kernel image.
const UPLOAD_ID: u32 = 7;

// ---- targets ----------------------------------------------------------------

const TARGET_RECORD_IR: f64 = 40.0;
const TARGET_STORE_IR: f64 = 50.0;
const TARGET_PEAK_RATIO: f64 = 1.5;
const TARGET_CHUNK_US: f64 = 20.0;
const TARGET_ECHO_PPS: f64 = 1.0e6;

// ---- the bench board ----------------------------------------------------------

/// An aux link that delivers frames encoded beforehand and drops replies.
pub struct BenchLink {
    frames: Vec<Frame>,
    /// Frames still to deliver; frame `i` is `frames[i % frames.len()]`.
    remaining: usize,
    next: usize,
    /// Replies transmitted, and how many of them had `succeeded == false`
    /// at the byte `check_at` (when set).
    sent: u64,
    failed: u64,
    check_at: Option<usize>,
}

impl BenchLink {
    fn new() -> BenchLink {
        BenchLink { frames: Vec::new(), remaining: 0, next: 0, sent: 0, failed: 0, check_at: None }
    }

    fn load(&mut self, frames: Vec<Frame>, count: usize, check_at: Option<usize>) {
        self.frames = frames;
        self.remaining = count;
        self.next = 0;
        self.sent = 0;
        self.failed = 0;
        self.check_at = check_at;
    }
}

impl AuxLink for BenchLink {
    fn is_up(&mut self) -> bool {
        true
    }

    #[inline(never)]
    fn receive(&mut self, buf: &mut [u8; MAX_PACKET]) -> Result<Option<usize>, LinkError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        let frame = self.frames[self.next].as_bytes();
        self.next += 1;
        if self.next == self.frames.len() {
            self.next = 0;
        }
        buf[..frame.len()].copy_from_slice(frame);
        Ok(Some(frame.len()))
    }

    #[inline(never)]
    fn transmit(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        self.sent += 1;
        if let Some(i) = self.check_at {
            if frame.get(i) != Some(&1) {
                self.failed += 1;
            }
        }
        Ok(())
    }
}

pub struct BenchBoard;

impl Platform for BenchBoard {
    type Link = BenchLink;
    type Cpu = NullCpu;
    type Rtio = NullRtio;
    type Dma = NullDma;
    type Analyzer = satman::hal::NoAnalyzer;
    type Clock = TickClock;
    type Config = RamConfig;
    type System = NullSystem;
    type Moninj = NullMoninj;
    type I2c = satman::hal::NoI2c;
}

/// A satellite on the bench board, uplink up and settled.
fn new_satellite() -> Satellite<BenchBoard> {
    let hw = Hardware::<BenchBoard> {
        uplink: BenchLink::new(),
        repeaters: Vec::new(),
        cpu: NullCpu,
        rtio: NullRtio,
        dma: NullDma,
        analyzer: satman::hal::NoAnalyzer,
        clock: TickClock::new(),
        config: RamConfig::default(),
        system: NullSystem,
        moninj: NullMoninj,
        i2c: satman::hal::NoI2c,
    };
    let store = Store::new(Arena::with_capacity(BUDGET).expect("DDMA arena"));
    let mut sat = Satellite::new(hw, store, Config::default());
    sat.poll(); // the uplink comes up: initial clean-up
    sat
}

// ---- workloads ----------------------------------------------------------------

/// The workload's trace as uploaded by a master: records without terminator.
fn pulse_trace(pulses: usize) -> Vec<u8> {
    let mut t = Vec::with_capacity(pulses * 34);
    let mut rec = [0u8; 17];
    for i in 0..pulses as i64 {
        for (dt, v) in [(0, 1), (PULSE_WIDTH, 0)] {
            let n = encode_record(&mut rec, TARGET, i * PERIOD + dt, &[v]).unwrap();
            t.extend_from_slice(&rec[..n]);
        }
    }
    t
}

/// The frames of an upload of `payload` in 1010-byte chunks.
fn upload_frames(payload: &[u8], kernel: bool) -> Vec<Frame> {
    let n = payload.len().div_ceil(MASTER_PAYLOAD_MAX_SIZE).max(1);
    (0..n)
        .map(|i| {
            let start = i * MASTER_PAYLOAD_MAX_SIZE;
            let data = &payload[start..(start + MASTER_PAYLOAD_MAX_SIZE).min(payload.len())];
            let status = PayloadStatus::from_flags(i == 0, i == n - 1);
            let packet = if kernel {
                Packet::SubkernelAddDataRequest { destination: OWN, id: UPLOAD_ID, status, data }
            } else {
                Packet::DmaAddTraceRequest { source: 0, destination: OWN, id: UPLOAD_ID, status, data }
            };
            Frame::encode(&packet).expect("chunk frame")
        })
        .collect()
}

/// Byte of the reply that holds `succeeded`.
const DMA_REPLY_SUCCEEDED: usize = 7; // id, source, destination, id (4), succeeded
const KERNEL_REPLY_SUCCEEDED: usize = 1; // id, succeeded

/// A full-size `DmaAddTraceRequest` frame (1010 bytes of payload: 1024 bytes).
fn full_dma_frame() -> Frame {
    let trace = pulse_trace(30);
    let f = Frame::encode(&Packet::DmaAddTraceRequest {
        source: 0,
        destination: OWN,
        id: UPLOAD_ID,
        status: PayloadStatus::Middle,
        data: &trace[..MASTER_PAYLOAD_MAX_SIZE],
    })
    .unwrap();
    assert_eq!(f.len(), MAX_PACKET);
    f
}

// ---- measured phases ----------------------------------------------------------

/// `rtio_output` as the kernel runtime does it: the recorder, and a new
/// lease from the store when it is full.
#[inline(always)]
fn record_one(store: &mut Store, rec: &mut Recorder, target: u32, timestamp: i64, data: u32) {
    if let Err(full) = rec.output(target, timestamp, data) {
        grow_lease(store, rec, full.needed, target, timestamp, data);
    }
}

#[cold]
#[inline(never)]
fn grow_lease(store: &mut Store, rec: &mut Recorder, needed: usize, target: u32, timestamp: i64, data: u32) {
    let lease = store.grow_recording(rec.len(), needed).expect("lease growth");
    // SAFETY: the grown lease holds the bytes recorded so far, and the store lends it to this
    // recorder alone until the recording grows or ends.
    unsafe { rec.rebase(lease.ptr, lease.cap) };
    rec.output(target, timestamp, data).expect("event after growth");
}

/// Records the workload (`pulses` pulses, two events each) into the open
/// recording. Returns the bytes recorded.
#[inline(never)]
fn bench_record(store: &mut Store, rec: &mut Recorder, pulses: usize) -> usize {
    let target = black_box(TARGET);
    let mut t: i64 = black_box(0);
    for _ in 0..pulses {
        record_one(store, rec, target, t, 1);
        record_one(store, rec, target, t + PULSE_WIDTH, 0);
        t += PERIOD;
    }
    rec.len()
}

/// Stops the recorder, splits the recording by destination and stores the
/// local part as an aligned, terminated trace.
#[inline(never)]
fn bench_store(store: &mut Store, rec: &mut Recorder, duration: u64) -> libdma::Recorded {
    let used = rec.stop();
    store.finish_recording(used, duration, OWN).expect("finish_recording")
}

// The three `poll` loops below would compile to the same code, and rustc
// (LLVM MergeFunctions) would then fold them into one symbol that callgrind
// could not tell apart; the `black_box` of each phase's name keeps them
// distinct, for two instructions per call.

/// Handles every frame queued on the bench link, one `poll` each.
#[inline(never)]
fn bench_chunk_dma(sat: &mut Satellite<BenchBoard>, frames: usize) {
    black_box("chunk_dma");
    for _ in 0..frames {
        sat.poll();
    }
}

#[inline(never)]
fn bench_chunk_kernel(sat: &mut Satellite<BenchBoard>, frames: usize) {
    black_box("chunk_kernel");
    for _ in 0..frames {
        sat.poll();
    }
}

#[inline(never)]
fn bench_echo(sat: &mut Satellite<BenchBoard>, n: usize) {
    black_box("echo");
    for _ in 0..n {
        sat.poll();
    }
}

#[inline(never)]
fn bench_decode(frame: &[u8], n: usize) -> usize {
    let mut total = 0;
    for _ in 0..n {
        let (packet, len) = Packet::decode(black_box(frame)).expect("decode");
        black_box(&packet);
        total += len;
    }
    total
}

#[inline(never)]
fn bench_encode(packet: &Packet<'_>, out: &mut [u8; MAX_PACKET], n: usize) -> usize {
    let mut total = 0;
    for _ in 0..n {
        total += black_box(packet).encode(&mut out[..]).expect("encode");
        black_box(&out);
    }
    total
}

#[inline(never)]
fn bench_chunk_dma_sim(b: &mut SimBench, frames: &[Frame]) -> usize {
    let mut failed = 0;
    for f in frames {
        b.link.master_send(f.as_bytes());
        b.sat().poll();
        let reply = b.link.master_recv().expect("reply");
        failed += (reply[DMA_REPLY_SUCCEEDED] != 1) as usize;
    }
    failed
}

#[inline(never)]
fn bench_echo_sim(b: &mut SimBench, frame: &[u8], n: usize) {
    for _ in 0..n {
        b.link.master_send(frame);
        b.sat().poll();
        black_box(b.link.master_recv().expect("echo reply"));
    }
}

// ---- the kernel's ABI entry points ----------------------------------------------

/// CPU1's runtime as the firmware installs it, answering the recording's
/// requests from a DDMA store the way CPU0 does (`DmaRecordStart` lends the
/// first buffer, `DmaRecordGrow` a bigger one, `DmaRecordStop` stores the
/// trace). Only the recording requests are served.
struct AbiHost {
    store: Store,
    stored: Option<libdma::Recorded>,
}

impl KernelHost for AbiHost {
    fn request(&mut self, msg: FromKernel) -> ToKernel {
        let refused = ToKernel::Error(KernelError::DmaOverBudget);
        match msg {
            FromKernel::DmaRecordStart { name } => {
                // SAFETY: the runtime lends the name for this request, and it is copied before it
                // returns.
                let name = std::str::from_utf8(unsafe { name.as_slice() }).unwrap_or("?");
                self.store.begin_recording(1, name).map_or(refused, ToKernel::Lease)
            }
            FromKernel::DmaRecordGrow { used, needed } => {
                self.store.grow_recording(used, needed).map_or(refused, ToKernel::Lease)
            }
            FromKernel::DmaRecordStop { used, duration, .. } => match self.store.finish_recording(used, duration, OWN) {
                Ok(r) => {
                    self.stored = Some(r);
                    ToKernel::Ack
                }
                Err(_) => refused,
            },
            _ => ToKernel::Error(KernelError::Other(0)),
        }
    }
    fn notify(&mut self, msg: FromKernel) {
        panic!("kernel notification in the bench: {:?}", msg)
    }
    fn halt(&mut self) -> ! {
        panic!("kernel halted in the bench")
    }
    fn rtio_init(&mut self) {}
    fn rtio_counter(&mut self) -> i64 {
        0
    }
    fn rtio_output(&mut self, _: i64, _: u32, _: &[u32]) -> RtioStatus {
        RtioStatus::Ok
    }
    fn rtio_input(&mut self, _: u32, _: i64) -> RtioInput {
        RtioInput::Timeout
    }
}

/// The ABI entry points the workload imports, as addresses: a compiled
/// kernel reaches them through its PLT, an indirect branch through the GOT
/// the loader filled in. `black_box` keeps the compiler from seeing which
/// function they are, so the calls stay indirect and nothing is inlined
/// into the loop.
#[derive(Clone, Copy)]
struct AbiEntries {
    rtio_output: extern "C" fn(i32, i32),
    delay_mu: extern "C" fn(i64),
}

fn abi_entries() -> AbiEntries {
    black_box(AbiEntries { rtio_output: abi::rtio_output, delay_mu: abi::delay_mu })
}

/// Installs a fresh runtime on a fresh store, starts a recording through
/// `dma_record_start` and sets the timeline to 0.
fn abi_setup() -> &'static mut AbiHost {
    let host: &'static mut AbiHost = Box::leak(Box::new(AbiHost { store: new_store(), stored: None }));
    let host_ptr: *mut AbiHost = host;
    // SAFETY: one thread, no entry point running; the host is leaked, so it
    // outlives the runtime that borrows it.
    unsafe { abi::install(Runtime::new(&mut *host_ptr)) };
    abi::dma_record_start(CSlice::new("bench"));
    abi::at_mu(0);
    // SAFETY: the runtime holds the only other reference; it is used again
    // only through the ABI calls, never while this one is.
    unsafe { &mut *host_ptr }
}

/// Stops the recording through `dma_record_stop` and checks the stored trace.
fn abi_finish(host: &mut AbiHost, pulses: usize) {
    abi::dma_record_stop(1234, 1);
    let key = host.stored.take().expect("recording stored").key;
    let trace = host.store.trace_bytes(key).expect("trace");
    assert_eq!(trace.len(), expected_trace_len(pulses));
    assert_eq!(libdma::record::validate(trace), Ok(pulses * 2));
    if pulses > 0 {
        let r = libdma::record::Records::new(trace).nth(2 * pulses - 1).unwrap().unwrap();
        assert_eq!((r.target, r.timestamp, r.word(0)), (TARGET, (pulses as i64 - 1) * PERIOD + PULSE_WIDTH, 0));
    }
}

/// The workload as a compiled kernel runs it while recording: per pulse
/// `rtio_output(on)`, `delay_mu(width)`, `rtio_output(off)`,
/// `delay_mu(period - width)`, every call through its function pointer.
#[inline(never)]
fn bench_abi_record(f: AbiEntries, pulses: usize) {
    let target = black_box(TARGET as i32);
    for _ in 0..pulses {
        (f.rtio_output)(target, 1);
        (f.delay_mu)(PULSE_WIDTH);
        (f.rtio_output)(target, 0);
        (f.delay_mu)(PERIOD - PULSE_WIDTH);
    }
}

/// The same loop without the `rtio_output` calls: what the timeline and the
/// loop cost, subtracted to give `rtio_output`'s own figure.
#[inline(never)]
fn bench_abi_timeline(f: AbiEntries, pulses: usize) {
    black_box("abi_timeline");
    for _ in 0..pulses {
        (f.delay_mu)(PULSE_WIDTH);
        (f.delay_mu)(PERIOD - PULSE_WIDTH);
    }
}

// ---- the kernel loader ----------------------------------------------------------

/// Where the bench pretends to load kernels (CPU1's heap on the target).
const LOAD_ADDR: u32 = 0x1000_0000;
/// The default kernel: `dma_record_playback.elf` as `kernels/build.sh`
/// builds it, the copy kept with the fuzz seeds (`--kernel FILE` for another).
const DEFAULT_KERNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/kernel_load/dma_record_playback.elf");

/// The firmware's resolver (`api::Resolver`), with a made-up address per
/// name (the host has no ARM entry points): the same hashed name lookup as
/// CPU1's, taking the hash the loader computed.
struct BenchResolver;

impl libksupport::loader::Resolve for BenchResolver {
    fn resolve(&self, name: &[u8], gnu_hash: u32) -> Option<u32> {
        libksupport::api::position_hashed(name, gnu_hash).map(|i| 0x0010_0000 + 0x10 * i as u32)
    }
}

/// Parses (validating everything) and loads (copy, zero, relocate) the
/// kernel `n` times, as CPU1 does for every `Load`.
#[inline(never)]
fn bench_load(elf: &[u8], dest: &mut [u8], n: usize) -> u32 {
    let mut sum = 0u32;
    for _ in 0..n {
        let kernel = Kernel::parse(black_box(elf)).expect("parse");
        let loaded = kernel.load_with(dest, LOAD_ADDR, &BenchResolver).expect("load");
        sum = sum.wrapping_add(black_box(loaded.entry));
    }
    sum
}

fn read_kernel(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("cannot read the kernel {}: {}", path, e);
        std::process::exit(2)
    })
}

// ---- phase drivers ------------------------------------------------------------

fn new_store() -> Store {
    Store::new(Arena::with_capacity(BUDGET).expect("DDMA arena"))
}

fn start_recording(store: &mut Store, rec: &mut Recorder) {
    let lease = store.begin_recording(1, "bench").expect("begin_recording");
    // SAFETY: the store lends the lease to this recorder alone until the recording grows or ends.
    unsafe { rec.start(lease.ptr, lease.cap) };
}

fn expected_trace_len(pulses: usize) -> usize {
    pulses * 2 * 17 + 1
}

/// One recording, timed; the recording is then discarded.
fn run_record(store: &mut Store, pulses: usize) -> Duration {
    let mut rec = Recorder::new();
    start_recording(store, &mut rec);
    let t0 = Instant::now();
    let used = bench_record(store, &mut rec, pulses);
    let dt = t0.elapsed();
    assert_eq!(used, pulses * 34);
    rec.stop();
    store.abort_recording();
    dt
}

/// One recording, then stop + store timed; the trace is then removed.
fn run_store(store: &mut Store, pulses: usize) -> Duration {
    let mut rec = Recorder::new();
    start_recording(store, &mut rec);
    bench_record(store, &mut rec, pulses);
    let t0 = Instant::now();
    let recorded = bench_store(store, &mut rec, 1234);
    let dt = t0.elapsed();
    assert!(recorded.remote.is_empty());
    assert_eq!(store.info(recorded.key).unwrap().len, expected_trace_len(pulses));
    store.remove(recorded.key).unwrap();
    dt
}

struct Memory {
    trace: usize,
    arena_peak: usize,
    arena_in_use: usize,
    heap_peak_delta: isize,
    heap_after_delta: isize,
}

/// Record + store once on a fresh store, with both peaks reset first.
fn run_memory(pulses: usize) -> Memory {
    let tracker = Tracker::new();
    let mut store = new_store(); // the arena's region: before the baseline
    let mut rec = Recorder::new();
    store.reset_peak();
    let base = tracker.bytes();
    tracker.reset_peak();
    start_recording(&mut store, &mut rec);
    bench_record(&mut store, &mut rec, pulses);
    let recorded = bench_store(&mut store, &mut rec, 1234);
    let heap_peak_delta = tracker.peak() - base;
    let heap_after_delta = tracker.bytes() - base;
    let trace = store.info(recorded.key).unwrap().len;
    assert_eq!(trace, expected_trace_len(pulses));
    let stats = store.arena_stats();
    drop(recorded);
    drop(store);
    Memory { trace, arena_peak: stats.peak, arena_in_use: stats.in_use, heap_peak_delta, heap_after_delta }
}

/// A bench satellite loaded with the upload frames of the workload trace.
fn chunk_setup(pulses: usize, kernel: bool) -> (Satellite<BenchBoard>, Vec<Frame>, Vec<u8>) {
    let payload = pulse_trace(pulses);
    let frames = upload_frames(&payload, kernel);
    (new_satellite(), frames, payload)
}

fn load_upload(sat: &mut Satellite<BenchBoard>, frames: &[Frame], kernel: bool) {
    let check = if kernel { KERNEL_REPLY_SUCCEEDED } else { DMA_REPLY_SUCCEEDED };
    sat.hw.uplink.load(frames.to_vec(), frames.len(), Some(check));
}

fn check_upload(sat: &Satellite<BenchBoard>, frames: usize, payload: &[u8], kernel: bool) {
    let link = &sat.hw.uplink;
    assert_eq!((link.sent, link.failed, link.remaining), (frames as u64, 0, 0), "upload replies");
    if kernel {
        let img = sat.kernels().images().find(|i| i.0 == UPLOAD_ID).expect("image");
        assert_eq!((img.1, img.2), (payload.len(), true));
    } else {
        let bytes = sat.store().trace_bytes(Key { source: 0, id: UPLOAD_ID }).expect("trace");
        assert_eq!(&bytes[..payload.len()], payload);
        assert_eq!(bytes.len(), payload.len() + 1);
    }
}

/// One whole upload through `poll`, timed.
fn run_upload(sat: &mut Satellite<BenchBoard>, frames: &[Frame], payload: &[u8], kernel: bool) -> Duration {
    load_upload(sat, frames, kernel);
    let t0 = Instant::now();
    if kernel {
        bench_chunk_kernel(sat, frames.len());
    } else {
        bench_chunk_dma(sat, frames.len());
    }
    let dt = t0.elapsed();
    check_upload(sat, frames.len(), payload, kernel);
    dt
}

/// Per-chunk latencies of one upload (each `poll` timed on its own).
fn upload_latencies(sat: &mut Satellite<BenchBoard>, frames: &[Frame], payload: &[u8], kernel: bool) -> Vec<Duration> {
    load_upload(sat, frames, kernel);
    let mut lat = Vec::with_capacity(frames.len());
    for _ in 0..frames.len() {
        let t0 = Instant::now();
        sat.poll();
        lat.push(t0.elapsed());
    }
    check_upload(sat, frames.len(), payload, kernel);
    lat
}

fn echo_setup() -> Satellite<BenchBoard> {
    let mut sat = new_satellite();
    let echo = Frame::encode(&Packet::EchoRequest).unwrap();
    sat.hw.uplink.load(vec![echo], 0, None);
    sat
}

fn run_echo(sat: &mut Satellite<BenchBoard>, n: usize) -> Duration {
    sat.hw.uplink.remaining = n;
    sat.hw.uplink.sent = 0;
    let t0 = Instant::now();
    bench_echo(sat, n);
    let dt = t0.elapsed();
    assert_eq!(sat.hw.uplink.sent, n as u64, "echo replies");
    dt
}

fn sim_bench() -> SimBench {
    let mut b = SimBench::new(SimOptions { ddma_budget: BUDGET, config: Config::default(), ..SimOptions::default() });
    b.sat().poll();
    b
}

// ---- statistics and output ----------------------------------------------------

/// Median and minimum of `samples` runs of `f`, each handling `units` units.
fn sample(samples: usize, units: usize, mut f: impl FnMut() -> Duration) -> (f64, f64) {
    let _ = f(); // warm-up
    let mut ns: Vec<f64> = (0..samples).map(|_| f().as_nanos() as f64 / units.max(1) as f64).collect();
    ns.sort_by(f64::total_cmp);
    (ns[ns.len() / 2], ns[0])
}

enum Verdict {
    Pass,
    Fail,
    /// Judged by instruction count: see scripts/bench-callgrind.
    Callgrind,
    Info,
}

impl Verdict {
    fn of(pass: bool) -> Verdict {
        if pass {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Callgrind => "Ir*",
            Verdict::Info => "-",
        }
    }
}

struct Row {
    name: &'static str,
    unit: &'static str,
    units: usize,
    /// Median and best wall time per unit, ns.
    median_ns: f64,
    min_ns: f64,
    /// Extra figures, for the table's "detail" column and the JSON.
    extra: Vec<(&'static str, f64)>,
    target: String,
    verdict: Verdict,
}

fn rate(ns: f64) -> f64 {
    1e9 / ns
}

fn human_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.1} k/s", r / 1e3)
    }
}

fn print_table(rows: &[Row], mem: &Memory) {
    println!("satman perf (wall time; median of samples, best in brackets)");
    println!(
        "{:<15} {:>7} {:>9} {:>20} {:>11}  {:<20} {:<6} detail",
        "phase", "units", "unit", "time/unit", "throughput", "target", "result"
    );
    for r in rows {
        let time = format!("{:.1} ns ({:.1})", r.median_ns, r.min_ns);
        let detail: Vec<String> = r.extra.iter().map(|(k, v)| format!("{}={:.2}", k, v)).collect();
        println!(
            "{:<15} {:>7} {:>9} {:>20} {:>11}  {:<20} {:<6} {}",
            r.name,
            r.units,
            r.unit,
            time,
            human_rate(rate(r.median_ns)),
            r.target,
            r.verdict.label(),
            detail.join(" ")
        );
    }
    let ratio = mem.arena_peak as f64 / mem.trace as f64;
    let total = (mem.arena_peak as f64 + mem.heap_peak_delta.max(0) as f64) / mem.trace as f64;
    println!();
    println!("peak memory, record + store of {} bytes of trace:", mem.trace);
    println!(
        "  DDMA arena peak {} B ({:.3}x trace; {} B in use after)",
        mem.arena_peak, ratio, mem.arena_in_use
    );
    println!(
        "  global heap peak delta {} B ({:.4}x trace; {} B still held after: name + map node)",
        mem.heap_peak_delta,
        mem.heap_peak_delta as f64 / mem.trace as f64,
        mem.heap_after_delta
    );
    println!(
        "  arena + heap peak {:.3}x trace, target <= {:.1}x: {}",
        total,
        TARGET_PEAK_RATIO,
        if total <= TARGET_PEAK_RATIO { "PASS" } else { "FAIL" }
    );
    println!();
    println!("Ir*: the target is in instructions per event; run scripts/bench-callgrind.");
    println!("echo/chunk_*: bench link (firmware path); *_sim: host simulation's LinkShared, for comparison.");
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{:.3}", v)
    } else {
        "null".into()
    }
}

fn print_json(rows: &[Row], mem: &Memory) {
    let mut items = Vec::new();
    for r in rows {
        let mut fields = vec![
            format!("\"phase\":{}", json_str(r.name)),
            format!("\"unit\":{}", json_str(r.unit)),
            format!("\"units\":{}", r.units),
            format!("\"ns_per_unit_median\":{}", json_num(r.median_ns)),
            format!("\"ns_per_unit_min\":{}", json_num(r.min_ns)),
            format!("\"per_second\":{}", json_num(rate(r.median_ns))),
            format!("\"target\":{}", json_str(&r.target)),
            format!("\"result\":{}", json_str(r.verdict.label())),
        ];
        for (k, v) in &r.extra {
            fields.push(format!("{}:{}", json_str(k), json_num(*v)));
        }
        items.push(format!("{{{}}}", fields.join(",")));
    }
    let total = (mem.arena_peak as f64 + mem.heap_peak_delta.max(0) as f64) / mem.trace as f64;
    items.push(format!(
        "{{\"phase\":\"memory\",\"trace_bytes\":{},\"arena_peak\":{},\"arena_in_use\":{},\"heap_peak_delta\":{},\"heap_after_delta\":{},\"arena_ratio\":{},\"heap_ratio\":{},\"total_ratio\":{},\"target\":\"<= {:.1}x\",\"result\":\"{}\"}}",
        mem.trace,
        mem.arena_peak,
        mem.arena_in_use,
        mem.heap_peak_delta,
        mem.heap_after_delta,
        json_num(mem.arena_peak as f64 / mem.trace as f64),
        json_num(mem.heap_peak_delta as f64 / mem.trace as f64),
        json_num(total),
        TARGET_PEAK_RATIO,
        if total <= TARGET_PEAK_RATIO { "PASS" } else { "FAIL" }
    ));
    println!("[\n  {}\n]", items.join(",\n  "));
}

// ---- the full run -------------------------------------------------------------

fn run_all(quick: bool) -> (Vec<Row>, Memory) {
    let reps = |n: usize| if quick { (n / 10).max(3) } else { n };
    let mut rows = Vec::new();
    let events = PULSES * 2;

    // Recording and storing.
    let mut store = new_store();
    let (med, min) = sample(reps(200), events, || run_record(&mut store, PULSES));
    rows.push(Row {
        name: "record",
        unit: "event",
        units: events,
        median_ns: med,
        min_ns: min,
        extra: vec![],
        target: format!("<= {} Ir/event", TARGET_RECORD_IR),
        verdict: Verdict::Callgrind,
    });
    let (med, min) = sample(reps(200), events, || run_store(&mut store, PULSES));
    rows.push(Row {
        name: "store",
        unit: "event",
        units: events,
        median_ns: med,
        min_ns: min,
        extra: vec![],
        target: format!("<= {} Ir/event", TARGET_STORE_IR),
        verdict: Verdict::Callgrind,
    });
    drop(store);
    let mem = run_memory(PULSES);

    // Upload chunks, through the firmware path.
    for kernel in [false, true] {
        let (mut sat, frames, payload) = chunk_setup(PULSES, kernel);
        let n = frames.len();
        let (med, min) = sample(reps(50), n, || run_upload(&mut sat, &frames, &payload, kernel));
        // Chunk by chunk: the first allocates, the last validates (DMA) or
        // hands over (kernel) the whole payload. Per chunk index, the median
        // over several uploads (noise-free), and the worst single figure.
        let runs: Vec<Vec<Duration>> =
            (0..reps(21)).map(|_| upload_latencies(&mut sat, &frames, &payload, kernel)).collect();
        let mut slowest = (0f64, 0usize);
        for i in 0..n {
            let mut us: Vec<f64> = runs.iter().map(|r| r[i].as_secs_f64() * 1e6).collect();
            us.sort_by(f64::total_cmp);
            let med = us[us.len() / 2];
            if med > slowest.0 {
                slowest = (med, i);
            }
        }
        let worst = runs.iter().flatten().map(|d| d.as_secs_f64() * 1e6).fold(0f64, f64::max);
        let last = {
            let mut us: Vec<f64> = runs.iter().map(|r| r[n - 1].as_secs_f64() * 1e6).collect();
            us.sort_by(f64::total_cmp);
            us[us.len() / 2]
        };
        rows.push(Row {
            name: if kernel { "chunk_kernel" } else { "chunk_dma" },
            unit: "chunk",
            units: n,
            median_ns: med,
            min_ns: min,
            extra: vec![
                ("slowest_chunk_us", slowest.0),
                ("slowest_chunk_index", slowest.1 as f64),
                ("last_chunk_us", last),
                ("worst_single_us", worst),
            ],
            target: format!("< {} us/chunk", TARGET_CHUNK_US),
            // Every chunk, not just the average: the slowest chunk index.
            verdict: Verdict::of(med / 1e3 < TARGET_CHUNK_US && slowest.0 < TARGET_CHUNK_US),
        });
    }

    // Echo, through the firmware path.
    let mut sat = echo_setup();
    let n = 100_000;
    let (med, min) = sample(reps(20), n, || run_echo(&mut sat, n));
    rows.push(Row {
        name: "echo",
        unit: "packet",
        units: n,
        median_ns: med,
        min_ns: min,
        extra: vec![],
        target: format!(">= {:.0} M packets/s", TARGET_ECHO_PPS / 1e6),
        verdict: Verdict::of(rate(med) >= TARGET_ECHO_PPS),
    });
    drop(sat);

    // The codec alone.
    let frame = full_dma_frame();
    let n = 20_000;
    let (med, min) = sample(reps(20), n, || {
        let t0 = Instant::now();
        black_box(bench_decode(frame.as_bytes(), n));
        t0.elapsed()
    });
    rows.push(Row {
        name: "decode",
        unit: "frame",
        units: n,
        median_ns: med,
        min_ns: min,
        extra: vec![("MB_per_s", MAX_PACKET as f64 * 1e3 / med)],
        target: "-".into(),
        verdict: Verdict::Info,
    });
    let packet = frame.decode().unwrap();
    let mut out = [0u8; MAX_PACKET];
    let (med, min) = sample(reps(20), n, || {
        let t0 = Instant::now();
        black_box(bench_encode(&packet, &mut out, n));
        t0.elapsed()
    });
    rows.push(Row {
        name: "encode",
        unit: "frame",
        units: n,
        median_ns: med,
        min_ns: min,
        extra: vec![("MB_per_s", MAX_PACKET as f64 * 1e3 / med)],
        target: "-".into(),
        verdict: Verdict::Info,
    });

    // The same through the host simulation (last: it installs a logger).
    let mut b = sim_bench();
    let frames = upload_frames(&pulse_trace(PULSES), false);
    let (med, min) = sample(reps(20), frames.len(), || {
        let t0 = Instant::now();
        let failed = bench_chunk_dma_sim(&mut b, &frames);
        let dt = t0.elapsed();
        assert_eq!(failed, 0);
        dt
    });
    rows.push(Row {
        name: "chunk_dma_sim",
        unit: "chunk",
        units: frames.len(),
        median_ns: med,
        min_ns: min,
        extra: vec![],
        target: "(info)".into(),
        verdict: Verdict::Info,
    });
    let echo = Frame::encode(&Packet::EchoRequest).unwrap();
    let n = 50_000;
    let (med, min) = sample(reps(10), n, || {
        let t0 = Instant::now();
        bench_echo_sim(&mut b, echo.as_bytes(), n);
        t0.elapsed()
    });
    rows.push(Row {
        name: "echo_sim",
        unit: "packet",
        units: n,
        median_ns: med,
        min_ns: min,
        extra: vec![],
        target: "(info)".into(),
        verdict: Verdict::Info,
    });
    (rows, mem)
}

// ---- single phases (callgrind) ---------------------------------------------------

/// Runs `phase` once with its setup and prints `units <n> <unit>`.
fn run_phase(phase: &str, pulses: usize, count: usize, kernel: &str) -> Result<(), String> {
    let (units, unit) = match phase {
        "record" => {
            let mut store = new_store();
            let mut rec = Recorder::new();
            start_recording(&mut store, &mut rec);
            let used = bench_record(&mut store, &mut rec, pulses);
            assert_eq!(used, pulses * 34);
            (pulses * 2, "event")
        }
        "store" => {
            let mut store = new_store();
            let mut rec = Recorder::new();
            start_recording(&mut store, &mut rec);
            bench_record(&mut store, &mut rec, pulses);
            let r = bench_store(&mut store, &mut rec, 1234);
            assert_eq!(store.info(r.key).unwrap().len, expected_trace_len(pulses));
            (pulses * 2, "event")
        }
        "abi_record" => {
            let host = abi_setup();
            bench_abi_record(abi_entries(), pulses);
            abi_finish(host, pulses);
            (pulses * 2, "event")
        }
        "abi_timeline" => {
            let host = abi_setup();
            bench_abi_timeline(abi_entries(), pulses);
            host.store.abort_recording();
            (pulses * 2, "event")
        }
        "load" => {
            let elf = read_kernel(kernel);
            let size = Kernel::parse(&elf).expect("parse").size() as usize;
            let mut dest = vec![0u8; size];
            let entry = bench_load(&elf, &mut dest, count);
            assert!(count == 0 || entry != 0);
            (count, "kernel")
        }
        "chunk_dma" | "chunk_kernel" => {
            let kernel = phase == "chunk_kernel";
            let (mut sat, frames, payload) = chunk_setup(pulses, kernel);
            load_upload(&mut sat, &frames, kernel);
            if kernel {
                bench_chunk_kernel(&mut sat, frames.len());
            } else {
                bench_chunk_dma(&mut sat, frames.len());
            }
            check_upload(&sat, frames.len(), &payload, kernel);
            (frames.len(), "chunk")
        }
        "echo" => {
            let mut sat = echo_setup();
            run_echo(&mut sat, count);
            (count, "packet")
        }
        "decode" => {
            let frame = full_dma_frame();
            assert_eq!(bench_decode(frame.as_bytes(), count), count * MAX_PACKET);
            (count, "frame")
        }
        "encode" => {
            let frame = full_dma_frame();
            let packet = frame.decode().unwrap();
            let mut out = [0u8; MAX_PACKET];
            assert_eq!(bench_encode(&packet, &mut out, count), count * MAX_PACKET);
            assert!(count == 0 || out == *frame.as_bytes());
            (count, "frame")
        }
        "chunk_dma_sim" => {
            let mut b = sim_bench();
            let frames = upload_frames(&pulse_trace(pulses), false);
            assert_eq!(bench_chunk_dma_sim(&mut b, &frames), 0);
            (frames.len(), "chunk")
        }
        "echo_sim" => {
            let mut b = sim_bench();
            let echo = Frame::encode(&Packet::EchoRequest).unwrap();
            bench_echo_sim(&mut b, echo.as_bytes(), count);
            (count, "packet")
        }
        "memory" => {
            let m = run_memory(pulses);
            println!(
                "trace {} arena_peak {} heap_peak_delta {} arena_ratio {:.4} total_ratio {:.4}",
                m.trace,
                m.arena_peak,
                m.heap_peak_delta,
                m.arena_peak as f64 / m.trace as f64,
                (m.arena_peak as f64 + m.heap_peak_delta.max(0) as f64) / m.trace as f64
            );
            (pulses * 2, "event")
        }
        other => return Err(format!("unknown phase {:?}", other)),
    };
    println!("units {} {}", units, unit);
    Ok(())
}

const USAGE: &str = "usage: perf [--json] [--quick] [--strict] | perf --phase <record|store|abi_record|abi_timeline|load|chunk_dma|chunk_kernel|echo|decode|encode|chunk_dma_sim|echo_sim|memory> [--pulses N] [--count N] [--kernel FILE]";

fn main() {
    let mut phase = None;
    let mut json = false;
    let mut quick = false;
    let mut strict = false;
    let mut pulses = PULSES;
    let mut count = 100_000;
    let mut kernel = None;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |i: usize, name: &str| -> String {
        args.get(i + 1).cloned().unwrap_or_else(|| {
            eprintln!("{} needs a value\n{}", name, USAGE);
            std::process::exit(2)
        })
    };
    let number = |i: usize, name: &str| -> usize {
        value(i, name).parse().unwrap_or_else(|_| {
            eprintln!("{} needs a number\n{}", name, USAGE);
            std::process::exit(2)
        })
    };
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--phase" => {
                phase = Some(value(i, "--phase"));
                i += 1;
            }
            "--pulses" => {
                pulses = number(i, "--pulses");
                i += 1;
            }
            "--count" => {
                count = number(i, "--count");
                i += 1;
            }
            "--kernel" => {
                kernel = Some(value(i, "--kernel"));
                i += 1;
            }
            "--json" => json = true,
            "--quick" => quick = true,
            "--strict" => strict = true,
            // `cargo bench` passes --bench; name filters are ignored.
            "--bench" => {}
            "-h" | "--help" => {
                println!("{}", USAGE);
                return;
            }
            other if other.starts_with('-') => {
                eprintln!("unknown option {}\n{}", other, USAGE);
                std::process::exit(2)
            }
            _ => {}
        }
        i += 1;
    }
    if let Some(p) = phase {
        if let Err(e) = run_phase(&p, pulses, count, kernel.as_deref().unwrap_or(DEFAULT_KERNEL)) {
            eprintln!("{}\n{}", e, USAGE);
            std::process::exit(2);
        }
        return;
    }
    let (rows, mem) = run_all(quick);
    if json {
        print_json(&rows, &mem);
    } else {
        print_table(&rows, &mem);
    }
    let total = (mem.arena_peak as f64 + mem.heap_peak_delta.max(0) as f64) / mem.trace as f64;
    let failed = rows.iter().any(|r| matches!(r.verdict, Verdict::Fail)) || total > TARGET_PEAK_RATIO;
    if strict && failed {
        std::process::exit(1);
    }
}
