//! The records of the QEMU aux link (docs/qemu-link.md): channel numbers,
//! control operations, and the `READY`, `STATS` and RTIO event payloads,
//! parsed and (for fake peers in tests) encoded.

use std::fmt;

/// Channel byte: one ARTIQ aux frame.
pub const CH_AUX: u8 = 0;
/// Channel byte: RTIO output events (firmware → host).
pub const CH_RTIO: u8 = 1;
/// Channel byte: test/bench control.
pub const CH_CONTROL: u8 = 2;

/// Host → firmware: ask for a `STATS` record.
pub const OP_STATS: u8 = 1;
/// Host → firmware: exit QEMU through semihosting with a u32 code.
pub const OP_EXIT: u8 = 2;
/// Host → firmware: DRTIO uplink down (0) or up (1).
pub const OP_LINK: u8 = 3;
/// Host → firmware, test-only: panic CPU0 (crash log and reboot tests).
pub const OP_PANIC: u8 = 0x7E;
/// Firmware → host: `STATS`.
pub const OP_STATS_REPLY: u8 = 0x01;
/// Firmware → host: `READY`.
pub const OP_READY: u8 = 0x10;

/// Size of one RTIO event on channel 1.
pub const EVENT_LEN: usize = 17;
/// Size of the `READY` payload after the op byte.
pub const READY_LEN: usize = 9;
/// Size of the `STATS` payload after the op byte.
pub const STATS_LEN: usize = 89;

/// Who submitted an RTIO event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// 0: the DRTIO link (the master).
    Drtio,
    /// 1: the DMA engine.
    Dma,
    /// 2: the kernel CPU.
    Kernel,
    Unknown(u8),
}

impl Source {
    pub fn from_byte(b: u8) -> Source {
        match b {
            0 => Source::Drtio,
            1 => Source::Dma,
            2 => Source::Kernel,
            n => Source::Unknown(n),
        }
    }

    pub fn to_byte(self) -> u8 {
        match self {
            Source::Drtio => 0,
            Source::Dma => 1,
            Source::Kernel => 2,
            Source::Unknown(n) => n,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Source::Drtio => "drtio",
            Source::Dma => "dma",
            Source::Kernel => "kernel",
            Source::Unknown(_) => "unknown",
        }
    }
}

/// One RTIO output event reported by the firmware's RTIO model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub source: Source,
    /// Machine units.
    pub timestamp: i64,
    /// `channel << 8 | address`.
    pub target: u32,
    /// First data word.
    pub data: u32,
}

impl Event {
    pub fn channel(&self) -> u32 {
        self.target >> 8
    }

    pub fn address(&self) -> u8 {
        self.target as u8
    }

    pub fn parse(b: &[u8; EVENT_LEN]) -> Event {
        let mut ts = [0; 8];
        ts.copy_from_slice(&b[1..9]);
        Event {
            source: Source::from_byte(b[0]),
            timestamp: i64::from_le_bytes(ts),
            target: u32::from_le_bytes([b[9], b[10], b[11], b[12]]),
            data: u32::from_le_bytes([b[13], b[14], b[15], b[16]]),
        }
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.source.to_byte());
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        out.extend_from_slice(&self.target.to_le_bytes());
        out.extend_from_slice(&self.data.to_le_bytes());
    }
}

/// Parses a channel-1 payload (the record without its channel byte).
/// Returns `None` unless it is a whole, non-zero number of events.
pub fn parse_events(payload: &[u8]) -> Option<Vec<Event>> {
    if payload.is_empty() || !payload.len().is_multiple_of(EVENT_LEN) {
        return None;
    }
    Some(payload.chunks_exact(EVENT_LEN).map(|c| Event::parse(c.try_into().expect("chunk of EVENT_LEN"))).collect())
}

/// The firmware's build id, as `READY` reports it (at most 32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct BuildId {
    bytes: [u8; 32],
    len: u8,
}

impl BuildId {
    /// `s` cut to 32 bytes.
    pub fn new(s: &str) -> BuildId {
        let mut b = BuildId::default();
        let n = s.len().min(32);
        b.bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
        b.len = n as u8;
        b
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }
}

impl fmt::Debug for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The firmware's `READY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// Firmware clock at the start of the main loop, µs.
    pub boot_us: u64,
    pub cpu1_up: bool,
    /// Empty from firmware that predates build ids.
    pub build_id: BuildId,
}

impl Ready {
    pub fn parse(payload: &[u8]) -> Option<Ready> {
        if payload.len() < READY_LEN {
            return None;
        }
        let mut build_id = BuildId::default();
        if let Some(&n) = payload.get(READY_LEN) {
            let id = payload.get(READY_LEN + 1..READY_LEN + 1 + n as usize)?;
            build_id = BuildId::new(std::str::from_utf8(id).ok()?);
        }
        Some(Ready { boot_us: u64_at(payload, 0), cpu1_up: payload[8] != 0, build_id })
    }

    /// The whole record, channel byte included.
    pub fn encode(&self) -> Vec<u8> {
        let mut r = vec![CH_CONTROL, OP_READY];
        r.extend_from_slice(&self.boot_us.to_le_bytes());
        r.push(self.cpu1_up as u8);
        r.push(self.build_id.len);
        r.extend_from_slice(self.build_id.as_str().as_bytes());
        r
    }
}

/// The firmware's kernel CPU state in `STATS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelState {
    Idle,
    Loading,
    Loaded,
    Running,
    Dead,
    Unknown(u8),
}

impl KernelState {
    pub fn from_byte(b: u8) -> KernelState {
        match b {
            0 => KernelState::Idle,
            1 => KernelState::Loading,
            2 => KernelState::Loaded,
            3 => KernelState::Running,
            4 => KernelState::Dead,
            n => KernelState::Unknown(n),
        }
    }

    pub fn to_byte(self) -> u8 {
        match self {
            KernelState::Idle => 0,
            KernelState::Loading => 1,
            KernelState::Loaded => 2,
            KernelState::Running => 3,
            KernelState::Dead => 4,
            KernelState::Unknown(n) => n,
        }
    }
}

impl fmt::Display for KernelState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelState::Idle => f.write_str("idle"),
            KernelState::Loading => f.write_str("loading"),
            KernelState::Loaded => f.write_str("loaded"),
            KernelState::Running => f.write_str("running"),
            KernelState::Dead => f.write_str("dead"),
            KernelState::Unknown(n) => write!(f, "unknown({n})"),
        }
    }
}

/// The firmware's `STATS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub heap0_used: u64,
    pub heap1_used: u64,
    pub ddma_in_use: u64,
    pub ddma_traces: u32,
    pub kernel_state: KernelState,
    pub kernel_id: u32,
    pub kernels_finished: u64,
    pub kernels_failed: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub decode_errors: u64,
    pub rtio_events: u64,
    pub uptime_us: u64,
    /// The RTIO counter (mu) when the reply left; firmware without it:
    /// `uptime_us` × 1000.
    pub rtio_counter: i64,
    /// Wall-clock ns per mu of the counter (the QEMU model's RTIO clock runs
    /// slower than wall time, docs/qemu-link.md); 1 when not reported.
    pub rtio_slowdown: u32,
    /// CPU1's heap (bytes) right after the last kernel load, before it ran;
    /// `None`: not measured (before the first load, older firmware).
    pub heap1_loaded: Option<u64>,
    /// CPU1's heap (bytes) when the last kernel that ran ended by itself,
    /// read before the teardown recreated the heap; `None`: not measured
    /// (running, stopped by CPU0, older firmware). A run that freed all it
    /// allocated ends at `heap1_loaded`.
    pub heap1_ended: Option<u64>,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

impl Stats {
    /// Parses the payload after the op byte. Bytes past the documented
    /// fields are ignored (room for the firmware to add counters).
    pub fn parse(p: &[u8]) -> Option<Stats> {
        if p.len() < STATS_LEN {
            return None;
        }
        Some(Stats {
            heap0_used: u64_at(p, 0),
            heap1_used: u64_at(p, 8),
            ddma_in_use: u64_at(p, 16),
            ddma_traces: u32_at(p, 24),
            kernel_state: KernelState::from_byte(p[28]),
            kernel_id: u32_at(p, 29),
            kernels_finished: u64_at(p, 33),
            kernels_failed: u64_at(p, 41),
            packets_in: u64_at(p, 49),
            packets_out: u64_at(p, 57),
            decode_errors: u64_at(p, 65),
            rtio_events: u64_at(p, 73),
            uptime_us: u64_at(p, 81),
            rtio_counter: p.get(89..97).map_or(u64_at(p, 81).saturating_mul(1000) as i64, |b| u64_at(b, 0) as i64),
            rtio_slowdown: p.get(97..101).map_or(1, |b| u32_at(b, 0).max(1)),
            heap1_loaded: p.get(101..109).map(|b| u64_at(b, 0)).filter(|&v| v != u64::MAX),
            heap1_ended: p.get(109..117).map(|b| u64_at(b, 0)).filter(|&v| v != u64::MAX),
        })
    }

    /// The whole record, channel byte included.
    pub fn encode(&self) -> Vec<u8> {
        let mut r = vec![CH_CONTROL, OP_STATS_REPLY];
        for v in [self.heap0_used, self.heap1_used, self.ddma_in_use] {
            r.extend_from_slice(&v.to_le_bytes());
        }
        r.extend_from_slice(&self.ddma_traces.to_le_bytes());
        r.push(self.kernel_state.to_byte());
        r.extend_from_slice(&self.kernel_id.to_le_bytes());
        for v in [
            self.kernels_finished,
            self.kernels_failed,
            self.packets_in,
            self.packets_out,
            self.decode_errors,
            self.rtio_events,
            self.uptime_us,
            self.rtio_counter as u64,
        ] {
            r.extend_from_slice(&v.to_le_bytes());
        }
        r.extend_from_slice(&self.rtio_slowdown.to_le_bytes());
        for v in [self.heap1_loaded, self.heap1_ended] {
            r.extend_from_slice(&v.unwrap_or(u64::MAX).to_le_bytes());
        }
        r
    }
}

/// A host → firmware control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Stats,
    Exit(u32),
    Link(bool),
}

impl Control {
    /// The whole record, channel byte included.
    pub fn encode(&self) -> Vec<u8> {
        match *self {
            Control::Stats => vec![CH_CONTROL, OP_STATS],
            Control::Exit(code) => {
                let mut r = vec![CH_CONTROL, OP_EXIT];
                r.extend_from_slice(&code.to_le_bytes());
                r
            }
            Control::Link(up) => vec![CH_CONTROL, OP_LINK, up as u8],
        }
    }

    /// Parses a host → firmware control payload (after the channel byte).
    pub fn parse(p: &[u8]) -> Option<Control> {
        match (p.first()?, p.len()) {
            (&OP_STATS, 1) => Some(Control::Stats),
            (&OP_EXIT, 5) => Some(Control::Exit(u32_at(p, 1))),
            (&OP_LINK, 2) => Some(Control::Link(p[1] != 0)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_layout_round_trips() {
        let s = Stats {
            heap0_used: 1,
            heap1_used: 2,
            ddma_in_use: 3,
            ddma_traces: 4,
            kernel_state: KernelState::Running,
            kernel_id: 6,
            kernels_finished: 7,
            kernels_failed: 8,
            packets_in: 9,
            packets_out: 10,
            decode_errors: 11,
            rtio_events: 12,
            uptime_us: 13,
            rtio_counter: 14,
            rtio_slowdown: 15,
            heap1_loaded: Some(16),
            heap1_ended: Some(17),
        };
        let r = s.encode();
        assert_eq!(r.len(), 2 + STATS_LEN + 12 + 16);
        assert_eq!(r[2 + 28], 3, "kernel_state at offset 28");
        assert_eq!(Stats::parse(&r[2..]), Some(s));
        assert_eq!(Stats::parse(&r[2..2 + STATS_LEN - 1]), None);
        let old = Stats::parse(&r[2..2 + STATS_LEN]).unwrap();
        assert_eq!((old.rtio_counter, old.rtio_slowdown), (13_000, 1), "older firmware: the counter from uptime_us");
        assert_eq!((old.heap1_loaded, old.heap1_ended), (None, None));
        let before_heap1 = Stats::parse(&r[2..2 + STATS_LEN + 12]).unwrap();
        assert_eq!(before_heap1, Stats { heap1_loaded: None, heap1_ended: None, ..s }, "firmware without the heap1 figures");
        let unmeasured = Stats { heap1_loaded: Some(0), heap1_ended: None, ..s };
        assert_eq!(Stats::parse(&unmeasured.encode()[2..]), Some(unmeasured), "u64::MAX on the wire: not measured");
        let mut longer = r[2..].to_vec();
        longer.extend_from_slice(&[0xff; 8]);
        assert_eq!(Stats::parse(&longer), Some(s));
    }

    #[test]
    fn events_and_ready() {
        let e = Event { source: Source::Dma, timestamp: -5, target: 0x0100_0F00, data: 1 };
        let mut p = Vec::new();
        e.encode_into(&mut p);
        e.encode_into(&mut p);
        assert_eq!(p.len(), 2 * EVENT_LEN);
        assert_eq!(p[0], 1);
        assert_eq!(parse_events(&p), Some(vec![e, e]));
        assert_eq!(parse_events(&p[..20]), None);
        assert_eq!(parse_events(&[]), None);
        assert_eq!(e.channel(), 0x01_000F);

        let r = Ready { boot_us: 123_456, cpu1_up: true, build_id: BuildId::new("build-A") };
        let rec = r.encode();
        assert_eq!(rec.len(), 2 + READY_LEN + 1 + 7);
        assert_eq!(Ready::parse(&rec[2..]), Some(r));
        // Firmware without a build id, and a truncated id.
        assert_eq!(Ready::parse(&rec[2..2 + READY_LEN]).map(|r| r.build_id), Some(BuildId::default()));
        assert_eq!(Ready::parse(&rec[2..rec.len() - 1]), None);
    }

    #[test]
    fn control_records() {
        assert_eq!(Control::Stats.encode(), vec![2, 1]);
        assert_eq!(Control::Exit(0x0102_0304).encode(), vec![2, 2, 4, 3, 2, 1]);
        assert_eq!(Control::Link(true).encode(), vec![2, 3, 1]);
        for c in [Control::Stats, Control::Exit(7), Control::Link(false)] {
            assert_eq!(Control::parse(&c.encode()[1..]), Some(c));
        }
    }
}
