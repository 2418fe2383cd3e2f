//! [`QemuTransport`]: the master's end of the QEMU aux link. A reader
//! thread decodes the SLIP stream from the firmware and sorts records by
//! channel: aux frames (0) wait for [`Transport::recv`], RTIO events (1)
//! collect until [`QemuTransport::take_events`], control records (2)
//! answer [`QemuTransport::wait_ready`] and [`QemuTransport::stats`].

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use libdrtio::{Frame, MAX_PACKET};

use super::proto::{self, Control, Event, Ready, Stats, CH_AUX, CH_CONTROL, CH_RTIO, OP_READY, OP_STATS_REPLY};
use super::slip;
use crate::master::{MasterError, Transport};

/// What the reader thread has seen, for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub records_in: u64,
    pub records_out: u64,
    pub aux_in: u64,
    pub aux_out: u64,
    pub events_in: u64,
    pub ready_in: u64,
    pub stats_in: u64,
    /// Records that are not what the contract allows: unknown channel,
    /// unknown control op, wrong length.
    pub bad_records: u64,
    /// Records the SLIP decoder discarded (oversize, bad escape).
    pub slip_discarded: u64,
}

#[derive(Default)]
struct State {
    aux: VecDeque<Vec<u8>>,
    events: Vec<Event>,
    /// The first READY and when it arrived.
    ready: Option<(Ready, Instant)>,
    /// The latest READY (a reboot sends new ones).
    latest_ready: Option<(Ready, Instant)>,
    stats: VecDeque<(Stats, Instant)>,
    /// Why the firmware's side is gone (EOF, read error).
    closed: Option<String>,
    counters: LinkCounters,
    /// A few bad records, hex-dumped, for error messages.
    bad: Vec<String>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `ready` holds or `deadline` passes; returns the guard
    /// and whether `ready` held.
    fn wait_until<'a>(&'a self, deadline: Instant, mut ready: impl FnMut(&State) -> bool) -> (MutexGuard<'a, State>, bool) {
        let mut st = self.lock();
        loop {
            if ready(&st) {
                return (st, true);
            }
            let now = Instant::now();
            if now >= deadline {
                return (st, false);
            }
            st = self.changed.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s: String = bytes.iter().take(24).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
    if bytes.len() > 24 {
        s.push_str(&format!(" … ({} bytes)", bytes.len()));
    }
    s
}

fn dispatch(st: &mut State, record: &[u8], now: Instant) {
    st.counters.records_in += 1;
    let (channel, payload) = (record[0], &record[1..]);
    let ok = match channel {
        CH_AUX if !payload.is_empty() && payload.len() <= MAX_PACKET => {
            st.counters.aux_in += 1;
            st.aux.push_back(payload.to_vec());
            true
        }
        CH_RTIO => match proto::parse_events(payload) {
            Some(ev) => {
                st.counters.events_in += ev.len() as u64;
                st.events.extend(ev);
                true
            }
            None => false,
        },
        CH_CONTROL => match payload.first() {
            Some(&OP_READY) => match Ready::parse(&payload[1..]) {
                Some(r) => {
                    st.counters.ready_in += 1;
                    st.ready.get_or_insert((r, now));
                    st.latest_ready = Some((r, now));
                    true
                }
                None => false,
            },
            Some(&OP_STATS_REPLY) => match Stats::parse(&payload[1..]) {
                Some(s) => {
                    st.counters.stats_in += 1;
                    st.stats.push_back((s, now));
                    true
                }
                None => false,
            },
            _ => false,
        },
        _ => false,
    };
    if !ok {
        st.counters.bad_records += 1;
        if st.bad.len() < 16 {
            st.bad.push(hex(record));
        }
    }
}

fn reader(mut input: Box<dyn Read + Send>, shared: Arc<Shared>) {
    let mut decoder = slip::Decoder::new();
    let mut buf = vec![0u8; 8192];
    let mut records: Vec<Vec<u8>> = Vec::new();
    loop {
        let why = match input.read(&mut buf) {
            Ok(0) => Some("the firmware side closed the link (QEMU exited?)".to_string()),
            Ok(n) => {
                decoder.push(&buf[..n], |r| records.push(r.to_vec()));
                let now = Instant::now();
                let mut st = shared.lock();
                st.counters.bytes_in += n as u64;
                st.counters.slip_discarded = decoder.stats.oversize + decoder.stats.bad_escape;
                for r in records.drain(..) {
                    dispatch(&mut st, &r, now);
                }
                drop(st);
                shared.changed.notify_all();
                None
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
            Err(e) => Some(format!("link read error: {e}")),
        };
        if let Some(why) = why {
            shared.lock().closed.get_or_insert(why);
            shared.changed.notify_all();
            return;
        }
    }
}

/// The host's end of the QEMU aux link (UART0).
pub struct QemuTransport {
    writer: Box<dyn Write + Send>,
    shared: Arc<Shared>,
    shutdown: Option<Box<dyn Fn() + Send>>,
    out: Vec<u8>,
}

impl QemuTransport {
    /// Runs the link over a connected TCP stream (QEMU's `-serial tcp:`).
    pub fn from_tcp(stream: TcpStream) -> io::Result<QemuTransport> {
        stream.set_nodelay(true)?;
        stream.set_nonblocking(false)?;
        let input = stream.try_clone()?;
        let closer = stream.try_clone()?;
        Ok(Self::from_parts(Box::new(input), Box::new(stream), Some(Box::new(move || {
            let _ = closer.shutdown(Shutdown::Both);
        }))))
    }

    /// Runs the link over a connected unix stream (QEMU's `-serial unix:`).
    pub fn from_unix(stream: UnixStream) -> io::Result<QemuTransport> {
        let input = stream.try_clone()?;
        let closer = stream.try_clone()?;
        Ok(Self::from_parts(Box::new(input), Box::new(stream), Some(Box::new(move || {
            let _ = closer.shutdown(Shutdown::Both);
        }))))
    }

    /// Runs the link over any byte pipe; `shutdown` (if any) must make a
    /// blocked `input.read` return, and runs on drop.
    pub fn from_parts(input: Box<dyn Read + Send>, output: Box<dyn Write + Send>, shutdown: Option<Box<dyn Fn() + Send>>) -> QemuTransport {
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), changed: Condvar::new() });
        let s = shared.clone();
        thread::Builder::new()
            .name("qemu-link-reader".into())
            .spawn(move || reader(input, s))
            .expect("spawn the link reader thread");
        QemuTransport { writer: output, shared, shutdown, out: Vec::with_capacity(4096) }
    }

    fn send_record(&mut self, record: &[u8]) -> io::Result<()> {
        self.out.clear();
        slip::encode_into(record, &mut self.out);
        self.writer.write_all(&self.out)?;
        self.writer.flush()?;
        let mut st = self.shared.lock();
        st.counters.records_out += 1;
        st.counters.bytes_out += self.out.len() as u64;
        Ok(())
    }

    /// Sends a control record.
    pub fn send_control(&mut self, c: Control) -> Result<(), MasterError> {
        self.send_record(&c.encode()).map_err(|e| MasterError::Transport(format!("control write: {e}")))
    }

    /// Sends an arbitrary record (channel byte first): tests of the
    /// firmware's receiver.
    pub fn send_raw_record(&mut self, record: &[u8]) -> Result<(), MasterError> {
        self.send_record(record).map_err(|e| MasterError::Transport(format!("write: {e}")))
    }

    /// Writes raw bytes, no framing at all (line noise).
    pub fn send_raw_bytes(&mut self, bytes: &[u8]) -> Result<(), MasterError> {
        self.writer.write_all(bytes).and_then(|_| self.writer.flush()).map_err(|e| MasterError::Transport(format!("write: {e}")))
    }

    /// How many `READY` records have arrived so far.
    pub fn ready_count(&self) -> u64 {
        self.shared.lock().counters.ready_in
    }

    /// The first `READY` after the `count`-th one (see [`Self::ready_count`]),
    /// waiting for it until `deadline`: how a reboot is seen. The firmware
    /// repeats `READY` every second until the host speaks.
    pub fn wait_ready_after(&self, count: u64, deadline: Instant) -> Result<Option<(Ready, Instant)>, MasterError> {
        let (st, ok) = self.shared.wait_until(deadline, |s| s.counters.ready_in > count || s.closed.is_some());
        if ok {
            if let Some(r) = st.latest_ready {
                if st.counters.ready_in > count {
                    return Ok(Some(r));
                }
            }
        }
        match &st.closed {
            Some(why) => Err(MasterError::Transport(why.clone())),
            None => Ok(None),
        }
    }

    /// The first `READY`, waiting for it until `deadline`; also returns
    /// when it arrived.
    pub fn wait_ready(&self, deadline: Instant) -> Result<Option<(Ready, Instant)>, MasterError> {
        let (st, _) = self.shared.wait_until(deadline, |s| s.ready.is_some() || s.closed.is_some());
        if let Some(r) = st.ready {
            return Ok(Some(r));
        }
        match &st.closed {
            Some(why) => Err(MasterError::Transport(why.clone())),
            None => Ok(None),
        }
    }

    /// One `STATS` round trip.
    pub fn stats(&mut self, timeout: Duration) -> Result<Stats, MasterError> {
        self.stats_timed(timeout).map(|(s, _)| s)
    }

    /// One `STATS` round trip; also returns when the reply arrived.
    pub fn stats_timed(&mut self, timeout: Duration) -> Result<(Stats, Instant), MasterError> {
        self.shared.lock().stats.clear();
        self.send_control(Control::Stats)?;
        let (mut st, ok) = self.shared.wait_until(Instant::now() + timeout, |s| !s.stats.is_empty() || s.closed.is_some());
        if ok {
            if let Some(s) = st.stats.pop_front() {
                return Ok(s);
            }
        }
        match &st.closed {
            Some(why) => Err(MasterError::Transport(why.clone())),
            None => Err(MasterError::Timeout("STATS")),
        }
    }

    /// Takes the RTIO events received so far.
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.shared.lock().events)
    }

    /// Waits until at least `n` events are queued (or `deadline`); returns
    /// how many are.
    pub fn wait_events(&self, n: usize, deadline: Instant) -> usize {
        let (st, _) = self.shared.wait_until(deadline, |s| s.events.len() >= n || s.closed.is_some());
        st.events.len()
    }

    pub fn counters(&self) -> LinkCounters {
        self.shared.lock().counters
    }

    /// Up to 16 records that broke the contract, hex-dumped.
    pub fn bad_records(&self) -> Vec<String> {
        self.shared.lock().bad.clone()
    }

    /// Why the link is closed, if it is.
    pub fn closed(&self) -> Option<String> {
        self.shared.lock().closed.clone()
    }
}

impl Transport for QemuTransport {
    fn send(&mut self, frame: &[u8]) -> Result<(), MasterError> {
        let mut record = Vec::with_capacity(frame.len() + 1);
        record.push(CH_AUX);
        record.extend_from_slice(frame);
        self.send_record(&record).map_err(|e| MasterError::Transport(format!("aux write: {e}")))?;
        self.shared.lock().counters.aux_out += 1;
        Ok(())
    }

    fn recv(&mut self, deadline: Instant) -> Result<Option<Frame>, MasterError> {
        let (mut st, _) = self.shared.wait_until(deadline, |s| !s.aux.is_empty() || s.closed.is_some());
        if let Some(bytes) = st.aux.pop_front() {
            return Frame::from_bytes(&bytes).map(Some).map_err(|e| MasterError::Corrupt(e.to_string()));
        }
        match &st.closed {
            Some(why) => Err(MasterError::Transport(why.clone())),
            None => Ok(None),
        }
    }
}

impl Drop for QemuTransport {
    fn drop(&mut self) {
        if let Some(f) = self.shutdown.take() {
            f();
        }
    }
}
