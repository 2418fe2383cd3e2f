//! Body of the `satellite` fuzz target, shared with `tests/fuzz_smoke.rs`.
//!
//! Feeds a sequence of aux frames to the real satellite core
//! (`satman::Satellite`, one `poll` loop) on null hardware
//! (`satman_systest::null`), with a fake CPU1 and a clock the input moves.
//! The engineering rule checked: wire input never panics or hangs the
//! firmware, and what the wire can make CPU0 hold is bounded.
//!
//! The input is a list of records, each a tag byte and its operands (a
//! missing byte reads as 0):
//!
//! | tag % 16 | record |
//! |---|---|
//! | 0-9 | a valid packet: kind byte (one of [`KINDS`]), then its fields; destinations read as a byte (< 0xf0: the satellite's own), payloads as a length byte and the bytes, or generated (see `In::data`). Encoded with its CRC |
//! | 10 | a raw frame: length byte, bytes; tag bit 4 set: padded and given a valid CRC |
//! | 11 | CPU1's behaviour: next byte (see [`FakeCpu`]) |
//! | 12 | the clock advances by 2^(byte % 40) µs |
//! | 13 | the uplink goes down, is polled, comes back up |
//! | 14, 15 | a few more polls |
//!
//! After every record the satellite is polled once per queued frame and
//! twice more, and its transmissions are dropped. Checked after every poll: the CPU0 budget
//! never above its limit, and the heap the satellite holds (when the binary
//! uses `satman_systest::heap::TrackingAlloc`) bounded. At the end: an
//! `EchoRequest` is still answered with an `EchoReply`.

use std::cell::Cell;
use std::collections::VecDeque;

use libdma::{Arena, Store};
use libdrtio::{Frame, Packet, PayloadStatus, MAX_PACKET};
use libksupport::msg::{Bytes, FromKernel, ToKernel};
use satman::hal::{AuxLink, Clock, CpuError, Hardware, KernelCpu, LentError, LinkError, Platform};
use satman::lent::Lent;
use satman::{Config, RamConfig, Satellite};
use satman_systest::heap::Tracker;
use satman_systest::null::{NullDma, NullMoninj, NullRtio, NullSystem};

/// CPU0 budget of the fuzzed satellite: small, so that an input (at most
/// [`MAX_RECORDS`] payloads of 255 bytes) reaches it and the refusals run.
pub const BUDGET: usize = 8 << 10;
/// DDMA arena: small too, for the same reason.
const ARENA: usize = 16 << 10;
/// Heap the satellite may hold beyond its budget: receive buffer, queued
/// replies, the parts' fixed state, the config store's entries.
const HEAP_SLACK: isize = 512 << 10;
/// Polls after each record, once the uplink's frames are taken.
const POLLS: usize = 2;
/// Polls of a "more polls" record.
const MORE_POLLS: usize = 6;
/// Records per input (longer inputs are cut).
const MAX_RECORDS: usize = 400;

/// The pattern of generated payloads (up to 1024 bytes).
static FILL: [u8; 1024] = {
    let mut f = [0u8; 1024];
    let mut i = 0;
    while i < f.len() {
        f[i] = (i * 7 + 1) as u8;
        i += 1;
    }
    f
};

/// Reads operands; past the end every byte is 0.
struct In<'a>(&'a [u8]);

impl<'a> In<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }
    /// A destination: mostly the satellite's own (1).
    fn dest(&mut self) -> u8 {
        let b = self.u8();
        if b < 0xf0 {
            1
        } else {
            b & 0x0f
        }
    }
    /// Small ids, so that requests meet each other's state.
    fn id(&mut self) -> u32 {
        let b = self.u8();
        if b < 0xf0 {
            u32::from(b & 3)
        } else {
            self.u32()
        }
    }
    fn status(&mut self) -> PayloadStatus {
        let b = self.u8();
        PayloadStatus::from_flags(b & 1 != 0, b & 2 != 0)
    }
    /// A payload: a length byte below 0x80, then that many bytes (fewer at
    /// the end); or from 0x80 up, (byte - 0x7f) × 8 bytes of a fixed
    /// pattern, so that short inputs still carry the kilobytes that reach
    /// the budget and the arena.
    fn data(&mut self) -> &'a [u8] {
        let b = self.u8();
        if b >= 0x80 {
            return &FILL[..usize::from(b - 0x7f) * 8];
        }
        let n = usize::from(b).min(self.0.len());
        let (d, rest) = self.0.split_at(n);
        self.0 = rest;
        d
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// The packet kinds a valid-packet record picks from: every request a
/// satellite handles, and the replies it may receive from a peer.
pub const KINDS: usize = 48;

fn packet<'a>(kind: u8, r: &mut In<'a>) -> Packet<'a> {
    use Packet::*;
    match kind as usize % KINDS {
        0 => EchoRequest,
        1 => ResetRequest,
        2 => DestinationStatusRequest { destination: r.dest() },
        3 => RoutingSetPath { destination: r.u8(), hops: [r.u8(); 32] },
        4 => RoutingSetRank { rank: r.u8() },
        5 => MonitorRequest { destination: r.dest(), channel: r.u16(), probe: r.u8() },
        6 => InjectionRequest { destination: r.dest(), channel: r.u16(), overrd: r.u8(), value: r.u8() },
        7 => InjectionStatusRequest { destination: r.dest(), channel: r.u16(), overrd: r.u8() },
        8 => I2cStartRequest { destination: r.dest(), busno: r.u8() },
        9 => I2cRestartRequest { destination: r.dest(), busno: r.u8() },
        10 => I2cStopRequest { destination: r.dest(), busno: r.u8() },
        11 => I2cWriteRequest { destination: r.dest(), busno: r.u8(), data: r.u8() },
        12 => I2cReadRequest { destination: r.dest(), busno: r.u8(), ack: r.bool() },
        13 => I2cSwitchSelectRequest { destination: r.dest(), busno: r.u8(), address: r.u8(), mask: r.u8() },
        14 => SpiSetConfigRequest {
            destination: r.dest(),
            busno: r.u8(),
            flags: r.u8(),
            length: r.u8(),
            div: r.u8(),
            cs: r.u8(),
        },
        15 => SpiWriteRequest { destination: r.dest(), busno: r.u8(), data: r.u32() },
        16 => SpiReadRequest { destination: r.dest(), busno: r.u8() },
        17 => AnalyzerHeaderRequest { destination: r.dest() },
        18 => AnalyzerDataRequest { destination: r.dest() },
        19 => DmaAddTraceRequest { source: r.u8(), destination: r.dest(), id: r.id(), status: r.status(), data: r.data() },
        20 => DmaAddTraceReply { source: r.u8(), destination: r.dest(), id: r.id(), succeeded: r.bool() },
        21 => DmaRemoveTraceRequest { source: r.u8(), destination: r.dest(), id: r.id() },
        22 => DmaRemoveTraceReply { destination: r.dest(), succeeded: r.bool() },
        23 => DmaPlaybackRequest { source: r.u8(), destination: r.dest(), id: r.id(), timestamp: r.u64() },
        24 => DmaPlaybackReply { destination: r.dest(), succeeded: r.bool() },
        25 => DmaPlaybackStatus {
            source: r.u8(),
            destination: r.dest(),
            id: r.id(),
            error: r.u8(),
            channel: r.u32(),
            timestamp: r.u64(),
        },
        26 => SubkernelAddDataRequest { destination: r.dest(), id: r.id(), status: r.status(), data: r.data() },
        27 => SubkernelLoadRunRequest {
            source: r.u8(),
            destination: r.dest(),
            id: r.id(),
            run: r.bool(),
            timestamp: r.u64(),
        },
        28 => SubkernelLoadRunReply { destination: r.dest(), succeeded: r.bool() },
        29 => SubkernelFinished { destination: r.dest(), id: r.id(), with_exception: r.bool(), exception_src: r.u8() },
        30 => SubkernelExceptionRequest { source: r.u8(), destination: r.dest() },
        31 => SubkernelException { destination: r.dest(), last: r.bool(), data: r.data() },
        32 => SubkernelMessage { source: r.u8(), destination: r.dest(), id: r.id(), status: r.status(), data: r.data() },
        33 => SubkernelMessageAck { destination: r.dest() },
        34 => CoreMgmtGetLogRequest { destination: r.dest(), clear: r.bool() },
        35 => CoreMgmtClearLogRequest { destination: r.dest() },
        36 => CoreMgmtConfigReadRequest { destination: r.dest(), key: r.data() },
        37 => CoreMgmtConfigReadContinue { destination: r.dest() },
        38 => CoreMgmtConfigWriteRequest { destination: r.dest(), last: r.bool(), data: r.data() },
        39 => CoreMgmtConfigRemoveRequest { destination: r.dest(), key: r.data() },
        40 => CoreMgmtConfigEraseRequest { destination: r.dest() },
        41 => CoreMgmtRebootRequest { destination: r.dest() },
        42 => CoreMgmtAllocatorDebugRequest { destination: r.dest() },
        43 => CoreMgmtFlashRequest { destination: r.dest(), payload_length: r.u32() },
        44 => CoreMgmtFlashAddDataRequest { destination: r.dest(), last: r.bool(), data: r.data() },
        45 => CoreMgmtDropLinkAck { destination: r.dest() },
        46 => CXPReadRequest { destination: r.dest(), address: r.u32(), length: r.u16() },
        _ => EchoReply,
    }
}

/// The uplink: frames to deliver, transmissions counted by packet id.
pub struct FuzzLink {
    up: bool,
    rx: VecDeque<Vec<u8>>,
    echo_replies: usize,
}

impl AuxLink for FuzzLink {
    fn is_up(&mut self) -> bool {
        self.up
    }
    fn receive(&mut self, buf: &mut [u8; MAX_PACKET]) -> Result<Option<usize>, LinkError> {
        Ok(self.rx.pop_front().map(|f| {
            let n = f.len().min(MAX_PACKET);
            buf[..n].copy_from_slice(&f[..n]);
            n
        }))
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        assert!(frame.len() <= MAX_PACKET && frame.len().is_multiple_of(8), "bad frame length {}", frame.len());
        if frame.first() == Some(&0x01) {
            self.echo_replies += 1;
        }
        Ok(())
    }
}

/// A clock the input moves (one microsecond per reading besides).
pub struct FuzzClock(Cell<u64>);

impl Clock for FuzzClock {
    fn now_us(&self) -> u64 {
        let t = self.0.get().saturating_add(1);
        self.0.set(t);
        t
    }
}

/// CPU1: answers `Load` with `LoadDone` or `LoadFailed`, and a started
/// kernel finishes, raises, runs on, or asks for a message, as the
/// behaviour byte says (bits 0-1: load; bits 2-4: after `Start`; bits 5-7:
/// answer to any other message: nothing, `Finished`, `MessageRecv`,
/// `SubkernelAwaitFinish`, `Log`, `DmaRecordStart`).
pub struct FakeCpu {
    behaviour: u8,
    out: VecDeque<FromKernel>,
    lent: Lent,
    blob: Box<[u8]>,
}

static REASON: &[u8] = b"fuzz: cannot load";
static TEXT: &[u8] = b"fuzz log line";
static NAME: &[u8] = b"fuzz trace";

impl FakeCpu {
    fn new() -> FakeCpu {
        let mut blob = Vec::new();
        libksupport::exception::serialize_message(0, "fuzz exception", [0; 3], &mut blob);
        FakeCpu { behaviour: 0, out: VecDeque::new(), lent: Lent::new(None), blob: blob.into_boxed_slice() }
    }

    fn answer(&mut self, sel: u8) {
        let m = match sel & 7 {
            1 => FromKernel::Finished,
            2 => FromKernel::Exception { blob: Bytes::new(&self.blob) },
            3 => FromKernel::MessageRecv { id: -1, timeout_ms: 100 },
            4 => FromKernel::SubkernelAwaitFinish { id: 1, timeout_ms: 100 },
            5 => FromKernel::Log { text: Bytes::new(TEXT) },
            6 => FromKernel::DmaRecordStart { name: Bytes::new(NAME) },
            7 => FromKernel::MessageSend { id: 1, destination: 1, is_return: true, data: Bytes::new(TEXT) },
            _ => return,
        };
        if self.out.len() < 4 {
            self.out.push_back(m);
        }
    }
}

impl KernelCpu for FakeCpu {
    fn restart(&mut self) -> Result<(), CpuError> {
        self.lent.release();
        self.out.clear();
        Ok(())
    }
    fn send(&mut self, msg: ToKernel) -> Result<(), CpuError> {
        self.lent.release();
        match msg {
            ToKernel::Load { .. } => {
                let m = if self.behaviour & 3 == 3 {
                    FromKernel::LoadFailed { reason: Bytes::new(REASON) }
                } else {
                    FromKernel::LoadDone
                };
                self.out.push_back(m);
            }
            ToKernel::Start { .. } => self.answer(self.behaviour >> 2),
            _ => self.answer(self.behaviour >> 5),
        }
        Ok(())
    }
    fn receive(&mut self) -> Option<FromKernel> {
        let m = self.out.pop_front()?;
        // SAFETY: every range a message carries is in a static or in
        // `self.blob`, which lives as long as `self` and never changes.
        unsafe { self.lent.hold(&m) };
        Some(m)
    }
    fn lent(&self, range: Bytes) -> Result<&[u8], LentError> {
        self.lent.get(range)
    }
    fn fault(&mut self) -> Option<satman::fault::CpuFault> {
        None
    }
}

pub struct FuzzBoard;

impl Platform for FuzzBoard {
    type Link = FuzzLink;
    type Cpu = FakeCpu;
    type Rtio = NullRtio;
    type Dma = NullDma;
    type Analyzer = satman::hal::NoAnalyzer;
    type Clock = FuzzClock;
    type Config = RamConfig;
    type System = NullSystem;
    type Moninj = NullMoninj;
    type I2c = satman::hal::NoI2c;
}

struct Run {
    sat: Satellite<FuzzBoard>,
    heap: Tracker,
    base: isize,
}

impl Run {
    fn poll(&mut self) {
        self.sat.poll();
        let b = self.sat.budget();
        assert!(b.held() <= b.limit(), "CPU0 budget over its limit: {} > {}", b.held(), b.limit());
        let held = self.heap.bytes() - self.base;
        assert!(
            held <= BUDGET as isize + HEAP_SLACK,
            "the satellite holds {held} bytes of heap (budget {BUDGET}, slack {HEAP_SLACK})"
        );
    }

    fn polls(&mut self, n: usize) {
        for _ in 0..n {
            self.poll();
        }
    }
}

/// A frame with a valid trailer: `body` (id first), padding, CRC.
pub fn framed(body: &[u8]) -> Vec<u8> {
    let mut f = body.to_vec();
    f.resize(libdrtio::frame_len(f.len()) - 4, 0);
    let crc = libdrtio::checksum(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

/// One fuzz input.
pub fn run(input: &[u8]) {
    let heap = Tracker::new();
    let hw = Hardware::<FuzzBoard> {
        uplink: FuzzLink { up: true, rx: VecDeque::new(), echo_replies: 0 },
        repeaters: Vec::new(),
        cpu: FakeCpu::new(),
        rtio: NullRtio,
        dma: NullDma,
        analyzer: satman::hal::NoAnalyzer,
        clock: FuzzClock(Cell::new(0)),
        config: RamConfig::default(),
        system: NullSystem,
        moninj: NullMoninj,
        i2c: satman::hal::NoI2c,
    };
    let store = Store::new(Arena::with_capacity(ARENA).expect("DDMA arena"));
    let config = Config { memory_budget: BUDGET, ..Config::default() };
    let sat = Satellite::new(hw, store, config);
    // The arena and the parts' fixed state are not what the wire holds.
    let base = heap.bytes();
    let mut run = Run { sat, heap, base };
    run.poll();

    let mut r = In(input);
    let mut records = 0;
    while !r.done() && records < MAX_RECORDS {
        records += 1;
        let tag = r.u8();
        match tag % 16 {
            0..=9 => {
                let kind = r.u8();
                let p = packet(kind, &mut r);
                if let Ok(f) = Frame::encode(&p) {
                    run.sat.hw.uplink.rx.push_back(f.as_bytes().to_vec());
                }
            }
            10 => {
                let d = r.data();
                let f = if tag & 0x10 != 0 && !d.is_empty() && d.len() <= MAX_PACKET - 8 {
                    framed(d)
                } else {
                    d.to_vec()
                };
                run.sat.hw.uplink.rx.push_back(f);
            }
            11 => run.sat.hw.cpu.behaviour = r.u8(),
            12 => {
                let c = &run.sat.hw.clock.0;
                c.set(c.get().saturating_add(1u64 << (r.u8() % 40)));
            }
            13 => {
                run.sat.hw.uplink.up = false;
                run.poll();
                run.sat.hw.uplink.up = true;
            }
            _ => run.polls(MORE_POLLS),
        }
        // One poll takes at most one frame.
        let queued = run.sat.hw.uplink.rx.len();
        run.polls(queued + POLLS);
    }

    // Still answering: whatever the input left queued or running, an echo
    // comes back within a bounded number of polls.
    run.sat.hw.uplink.up = true;
    let before = run.sat.hw.uplink.echo_replies;
    let queued = run.sat.hw.uplink.rx.len();
    run.sat.hw.uplink.rx.push_back(Frame::encode(&Packet::EchoRequest).unwrap().as_bytes().to_vec());
    let mut polls = 0;
    while run.sat.hw.uplink.echo_replies == before {
        assert!(polls < 4 * (queued + 1) + 64, "no EchoReply after {polls} polls");
        run.poll();
        polls += 1;
    }
}
