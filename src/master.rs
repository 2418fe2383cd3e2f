//! A DRTIO master, as far as a satellite can tell: it speaks the aux
//! protocol in real wire bytes over any [`Transport`] (the host simulation's
//! in-memory link, or the QEMU firmware's UART socket), with the ARTIQ 9
//! master's transaction model: one request at a time, 200 ms per reply, and
//! the unsolicited packets a master consumes while waiting
//! (`SubkernelFinished`, `DmaPlaybackStatus`, `SubkernelMessage`, which it
//! acknowledges) set aside for the operations that await them.
//!
//! Subkernels follow the ARTIQ 9 master's state machine (artiq-zynq
//! `runtime/src/subkernel.rs`), transition for transition:
//!
//! ```text
//!   NotLoaded ──upload ok──▶ Uploaded ──load(run) ok──▶ Running ──SubkernelFinished──▶ Finished(status)
//!       ▲                      ▲  │ load(preload) ok: stays                │ link down: Finished(CommLost)
//!       │                      │  ▼                                         ▼
//!       └── link down ─────────┴──────────── await_finish ◀──────────── Finished
//! ```
//!
//! - `load_run` needs `Uploaded` (a subkernel still `Running` or not yet
//!   awaited cannot be loaded: `IncorrectState`, without a packet sent);
//! - a `SubkernelFinished` counts only while its subkernel is `Running`:
//!   a late one (of a run that was replaced, after the master has moved on)
//!   is ignored and counted in [`MasterStats::late_finishes`], so it can
//!   never be taken for the next run's end;
//! - `await_finish` needs `Running` or `Finished`, and returns the
//!   subkernel to `Uploaded`; messages for a known subkernel that is not
//!   `Running` are dropped (still acknowledged, as the master does), and
//!   `await_message` fails once the subkernel finished with an exception
//!   or lost its link.

use std::fmt;
use std::time::{Duration, Instant};

use libdrtio::{Frame, Packet, PayloadStatus, MASTER_PAYLOAD_MAX_SIZE};
use libksupport::exception::{self, ParsedException};

/// A byte pipe carrying whole aux frames.
pub trait Transport {
    fn send(&mut self, frame: &[u8]) -> Result<(), MasterError>;
    /// The next frame, or `None` if none arrives before `deadline`.
    fn recv(&mut self, deadline: Instant) -> Result<Option<Frame>, MasterError>;
    /// Loads the satellite's timestamp counter over the RT link (the
    /// master gateware's `set_time`). Transports without an RT link cannot.
    fn set_time(&mut self) -> Result<(), MasterError> {
        Err(MasterError::Transport("this transport has no RT link to load the TSC over".into()))
    }
}

/// How long the master waits for `TSCAck` after loading a satellite's TSC
/// (the reference master's limit).
pub const TSC_ACK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterError {
    /// No reply within the transaction timeout.
    Timeout(&'static str),
    /// A reply of the wrong kind (packet id).
    Unexpected { waiting_for: &'static str, got: u8 },
    /// The satellite answered `succeeded: false`.
    Refused(&'static str),
    /// The master's own subkernel state forbids the operation (ARTIQ's
    /// `IncorrectState`); nothing was sent.
    IncorrectState(&'static str),
    /// No subkernel of that id was uploaded (ARTIQ's `SubkernelNotFound`).
    SubkernelNotFound(u32),
    /// The awaited subkernel finished with an exception.
    SubkernelException,
    /// The awaited subkernel's destination went down.
    CommLost,
    /// A frame that does not decode.
    Corrupt(String),
    Transport(String),
}

impl fmt::Display for MasterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterError::Timeout(what) => write!(f, "{}: timed out", what),
            MasterError::Unexpected { waiting_for, got } => {
                write!(f, "{}: unexpected reply {:#04x}", waiting_for, got)
            }
            MasterError::Refused(what) => write!(f, "{}: refused by the satellite", what),
            MasterError::IncorrectState(what) => write!(f, "{}: incorrect subkernel state", what),
            MasterError::SubkernelNotFound(id) => write!(f, "subkernel {} not found", id),
            MasterError::SubkernelException => f.write_str("subkernel finished with an exception"),
            MasterError::CommLost => f.write_str("subkernel destination lost"),
            MasterError::Corrupt(e) => write!(f, "corrupt frame: {}", e),
            MasterError::Transport(e) => write!(f, "transport: {}", e),
        }
    }
}

impl std::error::Error for MasterError {}

/// A `SubkernelFinished` the master received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    pub id: u32,
    pub with_exception: bool,
    pub exception_src: u8,
}

/// A `DmaPlaybackStatus` the master received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaStatus {
    pub source: u8,
    pub id: u32,
    pub error: u8,
    pub channel: u32,
    pub timestamp: u64,
}

/// How a finished subkernel ended, as the ARTIQ master records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishStatus {
    Ok,
    CommLost,
    /// With an exception to fetch from this destination.
    Exception(u8),
}

/// The ARTIQ 9 master's state of one subkernel (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubkernelState {
    NotLoaded,
    Uploaded,
    Running,
    Finished(FinishStatus),
}

/// How an awaited subkernel ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Exception(ParsedException),
}

/// An `AnalyzerHeader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyzerDump {
    pub sent_bytes: u32,
    pub total_byte_count: u64,
    pub overflow: bool,
}

/// The replies to `DestinationStatusRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationStatus {
    Down,
    Ok,
    SequenceError(u16),
    Collision(u16),
    Busy(u16),
}

/// Message values as the master encodes them for a subkernel (the wire
/// format of kernel-abi §4, written independently of the firmware's codec).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    I32(i32),
    I64(i64),
    F64(f64),
    Str(String),
    ListI32(Vec<i32>),
}

/// A message payload: value count, then each value.
pub fn encode_values(values: &[Value]) -> Vec<u8> {
    let mut out = vec![values.len() as u8];
    for v in values {
        match v {
            Value::Bool(b) => out.push(*b as u8),
            Value::I32(i) => out.extend_from_slice(&i.to_le_bytes()),
            Value::I64(i) => out.extend_from_slice(&i.to_le_bytes()),
            Value::F64(f) => out.extend_from_slice(&f.to_le_bytes()),
            Value::Str(s) => {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Value::ListI32(l) => {
                out.extend_from_slice(&(l.len() as u32).to_le_bytes());
                for i in l {
                    out.extend_from_slice(&i.to_le_bytes());
                }
            }
        }
    }
    out
}

/// Decodes a message payload (count byte, then values) with the ARTIQ
/// tags of its values: `b`, `i`, `I`, `f`, `s` (also `B`/`A`, bytes shown
/// as a string), `li` (a list of int32) and `n` (None, no bytes). The tags
/// may end with `:` and a return tag, as in `"i:"`, which is ignored.
/// Values beyond the tags are an error, as are bytes left over.
pub fn decode_values(tags: &str, data: &[u8]) -> Result<Vec<Value>, String> {
    let tags = tags.split(':').next().unwrap_or("");
    let (&count, mut rest) = data.split_first().ok_or("empty message (no value count)")?;
    fn take<'a>(rest: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
        if rest.len() < n {
            return Err(format!("{what}: {n} bytes needed, {} left", rest.len()));
        }
        let (head, tail) = rest.split_at(n);
        *rest = tail;
        Ok(head)
    }
    let mut values = Vec::with_capacity(count as usize);
    let mut t = tags.as_bytes();
    while values.len() < count as usize {
        let Some((&tag, tail)) = t.split_first() else {
            return Err(format!("{count} values in the message, but the tags {tags:?} describe {}", values.len()));
        };
        t = tail;
        let v = match tag {
            b'n' => continue,
            b'b' => Value::Bool(take(&mut rest, 1, "bool")?[0] != 0),
            b'i' => Value::I32(i32::from_le_bytes(take(&mut rest, 4, "int32")?.try_into().expect("4 bytes"))),
            b'I' => Value::I64(i64::from_le_bytes(take(&mut rest, 8, "int64")?.try_into().expect("8 bytes"))),
            b'f' => Value::F64(f64::from_le_bytes(take(&mut rest, 8, "float")?.try_into().expect("8 bytes"))),
            b's' | b'B' | b'A' => {
                let n = u32::from_le_bytes(take(&mut rest, 4, "string length")?.try_into().expect("4 bytes")) as usize;
                Value::Str(String::from_utf8_lossy(take(&mut rest, n, "string")?).into_owned())
            }
            b'l' if t.first() == Some(&b'i') => {
                t = &t[1..];
                let n = u32::from_le_bytes(take(&mut rest, 4, "list length")?.try_into().expect("4 bytes")) as usize;
                let bytes = take(&mut rest, n.checked_mul(4).ok_or("list too long")?, "list elements")?;
                Value::ListI32(bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
            }
            other => return Err(format!("tag {:?} is not supported here (b i I f s B A li n)", other as char)),
        };
        values.push(v);
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes left after {count} values", rest.len()));
    }
    Ok(values)
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{}", if *b { "True" } else { "False" }),
            Value::I32(i) => write!(f, "{i}"),
            Value::I64(i) => write!(f, "{i}"),
            Value::F64(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::ListI32(l) => write!(f, "{l:?}"),
        }
    }
}

/// Counters of what the master saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MasterStats {
    pub transactions: u64,
    pub frames_received: u64,
    pub async_packets: u64,
    pub timeouts: u64,
    /// `SubkernelFinished` packets ignored because their subkernel was not
    /// `Running` (late ones, of a run that was replaced or abandoned).
    pub late_finishes: u64,
    /// Subkernel messages dropped because their subkernel was not `Running`.
    pub dropped_messages: u64,
}

/// A routing table row: the hops from the master (link numbers, the last
/// one 0 = local), the rest 0xff.
pub fn path(hops: &[u8]) -> [u8; 32] {
    let mut p = [0xff; 32];
    p[..hops.len()].copy_from_slice(hops);
    p
}

pub struct Master<T: Transport> {
    pub transport: T,
    /// Per-reply timeout (the ARTIQ master uses 200 ms).
    pub timeout: Duration,
    pub stats: MasterStats,
    finished: Vec<Finished>,
    /// Every subkernel this master uploaded: (id, destination, state).
    subkernels: Vec<(u32, u8, SubkernelState)>,
    statuses: Vec<DmaStatus>,
    messages: Vec<(u8, u32, Vec<u8>)>,
    partial: Vec<(u8, u32, Vec<u8>)>,
}

fn status_flags(first: bool, last: bool) -> PayloadStatus {
    PayloadStatus::from_flags(first, last)
}

impl<T: Transport> Master<T> {
    pub fn new(transport: T) -> Self {
        Master {
            transport,
            timeout: Duration::from_millis(200),
            stats: MasterStats::default(),
            finished: Vec::new(),
            // Room for the ids a session uses, allocated once: heap
            // baselines taken after the first run stay put.
            subkernels: Vec::with_capacity(64),
            statuses: Vec::new(),
            messages: Vec::new(),
            partial: Vec::new(),
        }
    }

    pub fn send(&mut self, packet: &Packet<'_>) -> Result<(), MasterError> {
        let frame = Frame::encode(packet).map_err(|e| MasterError::Corrupt(e.to_string()))?;
        self.transport.send(frame.as_bytes())
    }

    /// Sends raw bytes (garbage-injection tests).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), MasterError> {
        self.transport.send(bytes)
    }

    /// The master's state of subkernel `id` (`None`: never uploaded).
    pub fn subkernel_state(&self, id: u32) -> Option<SubkernelState> {
        self.subkernels.iter().find(|s| s.0 == id).map(|s| s.2)
    }

    fn state_mut(&mut self, id: u32) -> Option<&mut SubkernelState> {
        self.subkernels.iter_mut().find(|s| s.0 == id).map(|s| &mut s.2)
    }

    /// A destination's link went down: its running subkernels finish with
    /// `CommLost`, the others must be uploaded again.
    pub fn destination_down(&mut self, destination: u8) {
        for (_, _, state) in self.subkernels.iter_mut().filter(|s| s.1 == destination) {
            *state = match *state {
                SubkernelState::Running => SubkernelState::Finished(FinishStatus::CommLost),
                _ => SubkernelState::NotLoaded,
            };
        }
    }

    /// Takes an unsolicited packet aside; returns false if it is a reply.
    fn consume_async(&mut self, packet: &Packet<'_>) -> Result<bool, MasterError> {
        match *packet {
            Packet::SubkernelFinished { destination: 0, id, with_exception, exception_src } => {
                match self.state_mut(id) {
                    Some(state) if *state == SubkernelState::Running => {
                        *state = SubkernelState::Finished(if with_exception {
                            FinishStatus::Exception(exception_src)
                        } else {
                            FinishStatus::Ok
                        });
                        self.finished.push(Finished { id, with_exception, exception_src });
                    }
                    // Unknown ids: not ours to track (a test driving the
                    // satellite directly); kept for it to look at.
                    None => self.finished.push(Finished { id, with_exception, exception_src }),
                    Some(_) => self.stats.late_finishes += 1,
                }
            }
            Packet::DmaPlaybackStatus { source, destination: 0, id, error, channel, timestamp } => {
                self.statuses.push(DmaStatus { source, id, error, channel, timestamp });
            }
            Packet::SubkernelMessage { source, destination: 0, id, status, data }
                if self.subkernel_state(id).is_some_and(|s| s != SubkernelState::Running) =>
            {
                // The master drops messages of a known subkernel that is not
                // running, and still acknowledges them.
                let _ = data;
                if status.is_last() {
                    self.stats.dropped_messages += 1;
                }
                self.send(&Packet::SubkernelMessageAck { destination: source })?;
            }
            Packet::SubkernelMessage { source, destination: 0, id, status, data } => {
                if status.is_first() {
                    self.partial.retain(|(s, i, _)| !(*s == source && *i == id));
                    self.partial.push((source, id, Vec::new()));
                }
                if let Some(p) = self.partial.iter_mut().find(|(s, i, _)| *s == source && *i == id) {
                    p.2.extend_from_slice(data);
                }
                if status.is_last() {
                    if let Some(i) = self.partial.iter().position(|(s, i, _)| *s == source && *i == id) {
                        let (s, i, d) = self.partial.swap_remove(i);
                        self.messages.push((s, i, d));
                    }
                }
                self.send(&Packet::SubkernelMessageAck { destination: source })?;
            }
            _ => return Ok(false),
        }
        self.stats.async_packets += 1;
        Ok(true)
    }

    /// Receives until a non-async frame arrives or `deadline` passes.
    fn recv_reply(&mut self, deadline: Instant) -> Result<Option<Frame>, MasterError> {
        while let Some(frame) = self.transport.recv(deadline)? {
            self.stats.frames_received += 1;
            let packet = frame.decode().map_err(|e| MasterError::Corrupt(e.to_string()))?;
            if !self.consume_async(&packet)? {
                return Ok(Some(frame));
            }
        }
        Ok(None)
    }

    /// Receives at most one frame before `deadline`: returns it if it is a
    /// reply, `None` if an unsolicited packet was taken aside (or nothing
    /// came), so awaiting loops re-check at once.
    fn recv_one(&mut self, deadline: Instant) -> Result<Option<Frame>, MasterError> {
        let Some(frame) = self.transport.recv(deadline)? else { return Ok(None) };
        self.stats.frames_received += 1;
        let packet = frame.decode().map_err(|e| MasterError::Corrupt(e.to_string()))?;
        if self.consume_async(&packet)? {
            return Ok(None);
        }
        Ok(Some(frame))
    }

    /// One transaction: send, then the first reply within the timeout.
    pub fn transact(&mut self, packet: &Packet<'_>, what: &'static str) -> Result<Frame, MasterError> {
        self.stats.transactions += 1;
        self.send(packet)?;
        match self.recv_reply(Instant::now() + self.timeout)? {
            Some(f) => Ok(f),
            None => {
                self.stats.timeouts += 1;
                Err(MasterError::Timeout(what))
            }
        }
    }

    /// Processes unsolicited packets for `d`; replies received meanwhile are
    /// unexpected and returned as an error.
    pub fn poll_async(&mut self, d: Duration) -> Result<(), MasterError> {
        let deadline = Instant::now() + d;
        match self.recv_reply(deadline)? {
            Some(f) => Err(MasterError::Unexpected { waiting_for: "nothing", got: f.as_bytes()[0] }),
            None => Ok(()),
        }
    }

    fn expect_ok(&mut self, packet: &Packet<'_>, what: &'static str, ok: impl Fn(&Packet<'_>) -> Option<bool>) -> Result<(), MasterError> {
        let frame = self.transact(packet, what)?;
        let reply = frame.decode().map_err(|e| MasterError::Corrupt(e.to_string()))?;
        match ok(&reply) {
            Some(true) => Ok(()),
            Some(false) => Err(MasterError::Refused(what)),
            None => Err(MasterError::Unexpected { waiting_for: what, got: reply.packet_id() }),
        }
    }

    // ---- link -------------------------------------------------------------

    pub fn echo(&mut self) -> Result<(), MasterError> {
        self.expect_ok(&Packet::EchoRequest, "echo", |p| matches!(p, Packet::EchoReply).then_some(true))
    }

    pub fn reset(&mut self) -> Result<(), MasterError> {
        self.expect_ok(&Packet::ResetRequest, "reset", |p| matches!(p, Packet::ResetAck).then_some(true))
    }

    /// Loads the satellite's TSC over the RT link and waits for its
    /// `TSCAck` (which it sends only once the satellites below it have
    /// theirs); any other reply is refused, as the reference master does.
    pub fn load_tsc(&mut self) -> Result<(), MasterError> {
        self.transport.set_time()?;
        match self.recv_reply(Instant::now() + TSC_ACK_TIMEOUT)? {
            None => {
                self.stats.timeouts += 1;
                Err(MasterError::Timeout("TSCAck"))
            }
            Some(f) => match f.decode().map_err(|e| MasterError::Corrupt(e.to_string()))? {
                Packet::TSCAck => Ok(()),
                other => Err(MasterError::Unexpected { waiting_for: "TSCAck", got: other.packet_id() }),
            },
        }
    }

    /// The reference master's bring-up of its link to a tree of
    /// satellites: echo, TSC load (awaiting `TSCAck`), every routing table
    /// row from `routes` (destination, hops; the others invalid), rank 1.
    pub fn bring_up(&mut self, routes: &[(u8, [u8; 32])]) -> Result<(), MasterError> {
        self.echo()?;
        self.load_tsc()?;
        self.set_routes(routes)
    }

    /// The routing table (all 256 rows: `routes`, every other destination
    /// unreachable) and rank 1, each acknowledged.
    pub fn set_routes(&mut self, routes: &[(u8, [u8; 32])]) -> Result<(), MasterError> {
        for d in 0..=255u8 {
            let hops = routes.iter().find(|r| r.0 == d).map_or([0xff; 32], |r| r.1);
            self.expect_ok(&Packet::RoutingSetPath { destination: d, hops }, "routing", |p| {
                matches!(p, Packet::RoutingAck).then_some(true)
            })?;
        }
        self.expect_ok(&Packet::RoutingSetRank { rank: 1 }, "rank", |p| matches!(p, Packet::RoutingAck).then_some(true))
    }


    /// The master's link bring-up for one satellite at `destination` on its
    /// first link: echo, the routing table (all 256 rows), rank 1, and a
    /// destination status check.
    pub fn init_link(&mut self, destination: u8) -> Result<(), MasterError> {
        self.echo()?;
        // Master: link 0 (hop 1); the satellite: local.
        self.set_routes(&[(destination, path(&[1, 0]))])?;
        match self.destination_status(destination)? {
            DestinationStatus::Ok => Ok(()),
            _ => Err(MasterError::Refused("destination status")),
        }
    }

    pub fn destination_status(&mut self, destination: u8) -> Result<DestinationStatus, MasterError> {
        let frame = self.transact(&Packet::DestinationStatusRequest { destination }, "destination status")?;
        Ok(match frame.decode().map_err(|e| MasterError::Corrupt(e.to_string()))? {
            Packet::DestinationDownReply => DestinationStatus::Down,
            Packet::DestinationOkReply => DestinationStatus::Ok,
            Packet::DestinationSequenceErrorReply { channel } => DestinationStatus::SequenceError(channel),
            Packet::DestinationCollisionReply { channel } => DestinationStatus::Collision(channel),
            Packet::DestinationBusyReply { channel } => DestinationStatus::Busy(channel),
            other => return Err(MasterError::Unexpected { waiting_for: "destination status", got: other.packet_id() }),
        })
    }

    // ---- analyzer -----------------------------------------------------------

    /// `artiq_coreanalyzer`'s exchange with a satellite: the header (which
    /// stops the capture), then data slices until the last one. Returns
    /// the header and the records' bytes (`sent_bytes` of them).
    pub fn analyzer_dump(&mut self, destination: u8) -> Result<(AnalyzerDump, Vec<u8>), MasterError> {
        let frame = self.transact(&Packet::AnalyzerHeaderRequest { destination }, "analyzer header")?;
        let header = match frame.decode().map_err(|e| MasterError::Corrupt(e.to_string()))? {
            Packet::AnalyzerHeader { sent_bytes, total_byte_count, overflow_occurred } => {
                AnalyzerDump { sent_bytes, total_byte_count, overflow: overflow_occurred }
            }
            other => return Err(MasterError::Unexpected { waiting_for: "analyzer header", got: other.packet_id() }),
        };
        let mut data = Vec::with_capacity(header.sent_bytes as usize);
        if header.sent_bytes == 0 {
            return Ok((header, data));
        }
        loop {
            let frame = self.transact(&Packet::AnalyzerDataRequest { destination }, "analyzer data")?;
            match frame.decode().map_err(|e| MasterError::Corrupt(e.to_string()))? {
                Packet::AnalyzerData { last, data: d } => {
                    data.extend_from_slice(d);
                    if data.len() > header.sent_bytes as usize {
                        return Err(MasterError::Corrupt(format!("analyzer sent more than the {} bytes announced", header.sent_bytes)));
                    }
                    if last {
                        return Ok((header, data));
                    }
                }
                other => return Err(MasterError::Unexpected { waiting_for: "analyzer data", got: other.packet_id() }),
            }
        }
    }

    // ---- subkernels ---------------------------------------------------------

    /// Adds subkernel `id` (state `NotLoaded`) and uploads it (`Uploaded`
    /// once every slice was accepted).
    pub fn upload_subkernel(&mut self, destination: u8, id: u32, image: &[u8]) -> Result<(), MasterError> {
        match self.subkernels.iter_mut().find(|s| s.0 == id) {
            Some(s) => *s = (id, destination, SubkernelState::NotLoaded),
            None => self.subkernels.push((id, destination, SubkernelState::NotLoaded)),
        }
        self.upload_image(destination, id, image)?;
        if let Some(state) = self.state_mut(id) {
            *state = SubkernelState::Uploaded;
        }
        Ok(())
    }

    fn upload_image(&mut self, destination: u8, id: u32, image: &[u8]) -> Result<(), MasterError> {
        let n = image.len().div_ceil(MASTER_PAYLOAD_MAX_SIZE).max(1);
        for i in 0..n {
            let chunk = &image[i * MASTER_PAYLOAD_MAX_SIZE..((i + 1) * MASTER_PAYLOAD_MAX_SIZE).min(image.len())];
            let status = status_flags(i == 0, i == n - 1);
            let p = Packet::SubkernelAddDataRequest { destination, id, status, data: chunk };
            self.expect_ok(&p, "subkernel upload", |r| match r {
                Packet::SubkernelAddDataReply { succeeded } => Some(*succeeded),
                _ => None,
            })?;
        }
        Ok(())
    }

    /// Loads (and with `run`, starts) subkernel `id`, which must be
    /// `Uploaded`; `Running` once the satellite accepted a run.
    pub fn load_run(&mut self, destination: u8, id: u32, run: bool, timestamp: u64) -> Result<(), MasterError> {
        let what = if run { "subkernel run" } else { "subkernel preload" };
        match self.subkernel_state(id) {
            None => return Err(MasterError::SubkernelNotFound(id)),
            Some(SubkernelState::Uploaded) => {}
            Some(_) => return Err(MasterError::IncorrectState(what)),
        }
        self.request_load_run(destination, id, run, timestamp)?;
        if run {
            if let Some(state) = self.state_mut(id) {
                *state = SubkernelState::Running;
            }
        }
        Ok(())
    }

    /// The `SubkernelLoadRunRequest` transaction alone, whatever the
    /// master's state (tests that probe what a satellite does with requests
    /// the ARTIQ master would not send).
    pub fn request_load_run(&mut self, destination: u8, id: u32, run: bool, timestamp: u64) -> Result<(), MasterError> {
        let p = Packet::SubkernelLoadRunRequest { source: 0, destination, id, run, timestamp };
        self.expect_ok(&p, if run { "subkernel run" } else { "subkernel preload" }, |r| match r {
            Packet::SubkernelLoadRunReply { destination: 0, succeeded } => Some(*succeeded),
            _ => None,
        })
    }

    /// Waits until subkernel `id` is `Finished`, returns it to `Uploaded`,
    /// then fetches its exception if it raised. A subkernel that is not
    /// `Running` or `Finished` cannot be awaited.
    pub fn await_finish(&mut self, id: u32, timeout: Duration) -> Result<Outcome, MasterError> {
        match self.await_finish_blob(id, timeout)? {
            None => Ok(Outcome::Finished),
            Some(blob) => exception::parse(&blob)
                .map(Outcome::Exception)
                .map_err(|e| MasterError::Corrupt(format!("exception: {}", e))),
        }
    }

    /// [`Master::await_finish`] with the exception as the satellite
    /// serialised it (`None`: finished without one).
    pub fn await_finish_blob(&mut self, id: u32, timeout: Duration) -> Result<Option<Vec<u8>>, MasterError> {
        match self.subkernel_state(id) {
            None => return Err(MasterError::SubkernelNotFound(id)),
            Some(SubkernelState::Running | SubkernelState::Finished(_)) => {}
            Some(_) => return Err(MasterError::IncorrectState("subkernel await")),
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(SubkernelState::Finished(status)) = self.subkernel_state(id) {
                if let Some(state) = self.state_mut(id) {
                    *state = SubkernelState::Uploaded;
                }
                self.finished.retain(|f| f.id != id);
                return match status {
                    FinishStatus::Ok => Ok(None),
                    FinishStatus::CommLost => Err(MasterError::CommLost),
                    FinishStatus::Exception(src) => self.fetch_exception(src).map(Some),
                };
            }
            if Instant::now() >= deadline {
                return Err(MasterError::Timeout("subkernel await"));
            }
            if let Some(f) = self.recv_one(deadline)? {
                return Err(MasterError::Unexpected { waiting_for: "subkernel finish", got: f.as_bytes()[0] });
            }
        }
    }

    pub fn fetch_exception(&mut self, destination: u8) -> Result<Vec<u8>, MasterError> {
        let mut blob = Vec::new();
        loop {
            let frame = self.transact(&Packet::SubkernelExceptionRequest { source: 0, destination }, "exception")?;
            match frame.decode().map_err(|e| MasterError::Corrupt(e.to_string()))? {
                Packet::SubkernelException { destination: 0, last, data } => {
                    blob.extend_from_slice(data);
                    if last {
                        return Ok(blob);
                    }
                }
                other => return Err(MasterError::Unexpected { waiting_for: "exception", got: other.packet_id() }),
            }
        }
    }

    /// Sends a message (count byte + values) to subkernel `id`, slice by slice.
    pub fn send_message(&mut self, destination: u8, id: u32, data: &[u8]) -> Result<(), MasterError> {
        let n = data.len().div_ceil(MASTER_PAYLOAD_MAX_SIZE).max(1);
        for i in 0..n {
            let chunk = &data[i * MASTER_PAYLOAD_MAX_SIZE..((i + 1) * MASTER_PAYLOAD_MAX_SIZE).min(data.len())];
            let p = Packet::SubkernelMessage { source: 0, destination, id, status: status_flags(i == 0, i == n - 1), data: chunk };
            self.expect_ok(&p, "subkernel message", |r| matches!(r, Packet::SubkernelMessageAck { destination: 0 }).then_some(true))?;
        }
        Ok(())
    }

    /// Waits for a complete message from subkernel `id`.
    /// For a subkernel's id, the subkernel must be `Running` or `Finished`;
    /// the wait fails once it finished with an exception or lost its link.
    pub fn await_message(&mut self, id: u32, timeout: Duration) -> Result<Vec<u8>, MasterError> {
        match self.subkernel_state(id) {
            None | Some(SubkernelState::Running | SubkernelState::Finished(FinishStatus::Ok | FinishStatus::Exception(_))) => {}
            Some(SubkernelState::Finished(FinishStatus::CommLost)) => return Err(MasterError::CommLost),
            Some(_) => return Err(MasterError::IncorrectState("subkernel message")),
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.messages.iter().position(|(_, m, _)| *m == id) {
                return Ok(self.messages.remove(i).2);
            }
            match self.subkernel_state(id) {
                Some(SubkernelState::Finished(FinishStatus::CommLost)) => return Err(MasterError::CommLost),
                Some(SubkernelState::Finished(FinishStatus::Exception(_))) => return Err(MasterError::SubkernelException),
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(MasterError::Timeout("subkernel message"));
            }
            if let Some(f) = self.recv_one(deadline)? {
                return Err(MasterError::Unexpected { waiting_for: "subkernel message", got: f.as_bytes()[0] });
            }
        }
    }

    /// Drops everything received asynchronously so far.
    pub fn clear_async(&mut self) {
        self.finished.clear();
        self.statuses.clear();
        self.messages.clear();
        self.partial.clear();
        self.finished.shrink_to_fit();
        self.statuses.shrink_to_fit();
        self.messages.shrink_to_fit();
        self.partial.shrink_to_fit();
    }

    pub fn finished(&self) -> &[Finished] {
        &self.finished
    }

    // ---- DDMA ---------------------------------------------------------------

    pub fn dma_add_trace(&mut self, destination: u8, id: u32, trace: &[u8]) -> Result<(), MasterError> {
        let n = trace.len().div_ceil(MASTER_PAYLOAD_MAX_SIZE).max(1);
        for i in 0..n {
            let chunk = &trace[i * MASTER_PAYLOAD_MAX_SIZE..((i + 1) * MASTER_PAYLOAD_MAX_SIZE).min(trace.len())];
            let p = Packet::DmaAddTraceRequest { source: 0, destination, id, status: status_flags(i == 0, i == n - 1), data: chunk };
            self.expect_ok(&p, "DMA trace upload", |r| match r {
                Packet::DmaAddTraceReply { destination: 0, id: rid, succeeded, .. } if *rid == id => Some(*succeeded),
                _ => None,
            })?;
        }
        Ok(())
    }

    pub fn dma_playback(&mut self, destination: u8, id: u32, timestamp: u64) -> Result<(), MasterError> {
        let p = Packet::DmaPlaybackRequest { source: 0, destination, id, timestamp };
        self.expect_ok(&p, "DMA playback", |r| match r {
            Packet::DmaPlaybackReply { destination: 0, succeeded } => Some(*succeeded),
            _ => None,
        })
    }

    pub fn dma_await_status(&mut self, id: u32, timeout: Duration) -> Result<DmaStatus, MasterError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.statuses.iter().position(|s| s.id == id) {
                return Ok(self.statuses.remove(i));
            }
            if Instant::now() >= deadline {
                return Err(MasterError::Timeout("DMA playback status"));
            }
            if let Some(f) = self.recv_one(deadline)? {
                return Err(MasterError::Unexpected { waiting_for: "DMA playback status", got: f.as_bytes()[0] });
            }
        }
    }

    pub fn dma_remove(&mut self, destination: u8, id: u32) -> Result<(), MasterError> {
        let p = Packet::DmaRemoveTraceRequest { source: 0, destination, id };
        self.expect_ok(&p, "DMA trace removal", |r| match r {
            Packet::DmaRemoveTraceReply { destination: 0, succeeded } => Some(*succeeded),
            _ => None,
        })
    }

    // ---- core management ----------------------------------------------------

    pub fn get_log(&mut self, destination: u8, clear: bool) -> Result<Vec<u8>, MasterError> {
        let mut log = Vec::new();
        loop {
            let frame = self.transact(&Packet::CoreMgmtGetLogRequest { destination, clear }, "log")?;
            match frame.decode().map_err(|e| MasterError::Corrupt(e.to_string()))? {
                Packet::CoreMgmtGetLogReply { last, data } => {
                    log.extend_from_slice(data);
                    if last {
                        return Ok(log);
                    }
                }
                Packet::CoreMgmtReply { succeeded: false } => return Err(MasterError::Refused("log")),
                other => return Err(MasterError::Unexpected { waiting_for: "log", got: other.packet_id() }),
            }
        }
    }

    pub fn mgmt(&mut self, packet: &Packet<'_>, what: &'static str) -> Result<(), MasterError> {
        self.expect_ok(packet, what, |r| match r {
            Packet::CoreMgmtReply { succeeded } => Some(*succeeded),
            _ => None,
        })
    }

    /// Writes a config key (one or more `ConfigWrite` slices).
    pub fn config_write(&mut self, destination: u8, key: &str, value: &[u8]) -> Result<(), MasterError> {
        let mut payload = Vec::new();
        payload.extend_from_slice(&(key.len() as u32).to_le_bytes());
        payload.extend_from_slice(key.as_bytes());
        payload.extend_from_slice(&(value.len() as u32).to_le_bytes());
        payload.extend_from_slice(value);
        let chunks: Vec<&[u8]> = payload.chunks(MASTER_PAYLOAD_MAX_SIZE).collect();
        for (i, c) in chunks.iter().enumerate() {
            let last = i == chunks.len() - 1;
            self.mgmt(&Packet::CoreMgmtConfigWriteRequest { destination, last, data: c }, "config write")?;
        }
        Ok(())
    }

    pub fn config_remove(&mut self, destination: u8, key: &str) -> Result<(), MasterError> {
        self.mgmt(&Packet::CoreMgmtConfigRemoveRequest { destination, key: key.as_bytes() }, "config remove")
    }

    pub fn config_erase(&mut self, destination: u8) -> Result<(), MasterError> {
        self.mgmt(&Packet::CoreMgmtConfigEraseRequest { destination }, "config erase")
    }

    pub fn reboot(&mut self, destination: u8) -> Result<(), MasterError> {
        self.mgmt(&Packet::CoreMgmtRebootRequest { destination }, "reboot")
    }

    /// `artiq_coremgmt flash`: sends `image` followed by its CRC-32 in
    /// 1010-byte slices, as the ARTIQ master relays it. The satellite
    /// answers every slice but the last with `CoreMgmtReply`; the last one
    /// with `CoreMgmtDropLink` when it took the image (then this sends
    /// `DropLinkAck` and returns `Ok`: the satellite now writes the image
    /// and reboots), or `CoreMgmtReply { false }` when it refused it.
    /// `progress` is called with the bytes sent so far.
    pub fn flash(&mut self, destination: u8, image: &[u8], mut progress: impl FnMut(usize, usize)) -> Result<(), MasterError> {
        let mut payload = image.to_vec();
        payload.extend_from_slice(&libdrtio::checksum(image).to_le_bytes());
        self.flash_raw(destination, &payload, &mut progress)
    }

    /// [`Self::flash`] of a payload as given (image + CRC, or anything a
    /// test wants to send).
    pub fn flash_raw(&mut self, destination: u8, payload: &[u8], progress: &mut dyn FnMut(usize, usize)) -> Result<(), MasterError> {
        self.mgmt(&Packet::CoreMgmtFlashRequest { destination, payload_length: payload.len() as u32 }, "flash")?;
        // Not collected into a Vec: a 20 MB image is 20 k slices, and the
        // heap tests measure this thread too.
        let n = payload.len().div_ceil(MASTER_PAYLOAD_MAX_SIZE);
        let mut sent = 0;
        for (i, c) in payload.chunks(MASTER_PAYLOAD_MAX_SIZE).enumerate() {
            let last = i == n - 1;
            let p = Packet::CoreMgmtFlashAddDataRequest { destination, last, data: c };
            sent += c.len();
            if !last {
                self.mgmt(&p, "flash data")?;
                progress(sent, payload.len());
                continue;
            }
            let reply = self.transact(&p, "flash data")?;
            progress(sent, payload.len());
            match reply.decode().map_err(|e| MasterError::Corrupt(e.to_string()))? {
                Packet::CoreMgmtDropLink => {
                    return self.send(&Packet::CoreMgmtDropLinkAck { destination });
                }
                Packet::CoreMgmtReply { succeeded: false } => return Err(MasterError::Refused("flash")),
                other => return Err(MasterError::Unexpected { waiting_for: "flash", got: other.packet_id() }),
            }
        }
        Err(MasterError::Refused("flash of an empty payload"))
    }

    pub fn config_read(&mut self, destination: u8, key: &str) -> Result<Vec<u8>, MasterError> {
        let mut value = Vec::new();
        let mut frame = self.transact(&Packet::CoreMgmtConfigReadRequest { destination, key: key.as_bytes() }, "config read")?;
        loop {
            match frame.decode().map_err(|e| MasterError::Corrupt(e.to_string()))? {
                Packet::CoreMgmtConfigReadReply { last, value: v } => {
                    value.extend_from_slice(v);
                    if last {
                        return Ok(value);
                    }
                }
                Packet::CoreMgmtReply { succeeded: false } => return Err(MasterError::Refused("config read")),
                other => return Err(MasterError::Unexpected { waiting_for: "config read", got: other.packet_id() }),
            }
            frame = self.transact(&Packet::CoreMgmtConfigReadContinue { destination }, "config read")?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_their_tags() {
        let values = vec![
            Value::Bool(true),
            Value::I32(-42),
            Value::I64(1 << 40),
            Value::F64(2.5),
            Value::Str("héllo".into()),
            Value::ListI32(vec![1, -2, 3]),
        ];
        let bytes = encode_values(&values);
        assert_eq!(decode_values("biIfsli:n", &bytes).unwrap(), values);
        assert_eq!(encode_values(&[Value::I32(7)]), [1, 7, 0, 0, 0]);
        assert!(decode_values("i", &bytes).unwrap_err().contains("6 values"));
        assert!(decode_values("bb", &[1, 1, 0]).unwrap_err().contains("left"));
        assert!(decode_values("i", &[1, 0, 0]).unwrap_err().contains("int32"));
        assert!(decode_values("i", &[]).is_err());
        assert_eq!(Value::Str("a".into()).to_string(), "\"a\"");
    }
}
