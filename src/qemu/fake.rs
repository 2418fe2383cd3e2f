//! A stand-in for the firmware's end of the QEMU aux link: it connects to
//! the host's socket as QEMU does and speaks docs/qemu-link.md, with the
//! real satellite core on simulated hardware ([`crate::sim`]) behind it.
//!
//! It exists to test the host side (framing, demultiplexing, `satctl`)
//! without QEMU: `READY` until the host sends a record, aux frames to and
//! from the satellite core, the simulated RTIO's events on channel 1,
//! `STATS` from the simulation's counters (`heap0_used` is the satellite's
//! heap account, non-zero only in binaries that install
//! [`crate::heap::TrackingAlloc`]), `LINK` and `EXIT`. With `mangle` it
//! writes each record in small pieces and puts line noise, oversized and
//! badly escaped records and unknown channels between them.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use satman::KernelState as SatKernelState;
use satman::hal::Initiator;

use super::proto::{BuildId, Control, Event, KernelState, Ready, Source, Stats, CH_AUX, CH_CONTROL, CH_RTIO, EVENT_LEN};
use super::slip;
use crate::heap;
use crate::sim::{SimBench, SimOptions};

/// Events the simulated RTIO log is grown to hold before `READY`.
const EVENT_LOG_RESERVE: usize = 1 << 16;

#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// `READY.boot_us`.
    pub boot_us: u64,
    /// Wait this long before the first `READY`.
    pub ready_delay: Duration,
    /// Write records in pieces, with noise between them.
    pub mangle: bool,
    pub sim: SimOptions,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions { boot_us: 4242, ready_delay: Duration::ZERO, mangle: false, sim: SimOptions::default() }
    }
}

/// How the fake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeExit {
    /// The host sent `EXIT` with this code.
    Exit(u32),
    /// The host closed the link.
    Closed,
    Error(String),
}

struct Peer {
    stream: TcpStream,
    mangle: bool,
    rng: u64,
    out: Vec<u8>,
}

impl Peer {
    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn send(&mut self, record: &[u8]) -> io::Result<()> {
        self.out.clear();
        if self.mangle {
            match self.rand() % 8 {
                0 => self.out.extend_from_slice(&[0x55, 0xAA, 0x13]), // line noise, ended by our END
                1 => slip::encode_into(&vec![0x42; slip::MAX_RECORD + 10], &mut self.out),
                2 => self.out.extend_from_slice(&[slip::END, 0, 1, slip::ESC, 0x01, slip::END]),
                3 => slip::encode_into(&[9, 1, 2, 3], &mut self.out), // unknown channel
                _ => {}
            }
        }
        slip::encode_into(record, &mut self.out);
        if !self.mangle {
            return self.stream.write_all(&self.out);
        }
        let out = std::mem::take(&mut self.out);
        let mut pos = 0;
        while pos < out.len() {
            let n = 1 + (self.rand() % 9) as usize;
            let end = (pos + n).min(out.len());
            self.stream.write_all(&out[pos..end])?;
            self.stream.flush()?;
            pos = end;
        }
        self.out = out;
        Ok(())
    }
}

/// Connects to `addr` (the host's listener) and runs the fake firmware on
/// a thread until `EXIT` or until the host closes the link.
pub fn spawn(addr: SocketAddr, opts: FakeOptions) -> JoinHandle<FakeExit> {
    thread::Builder::new()
        .name("fake-firmware".into())
        .spawn(move || match run(addr, opts) {
            Ok(e) => e,
            Err(e) => FakeExit::Error(e.to_string()),
        })
        .expect("spawn the fake firmware")
}

fn source(i: Initiator) -> Source {
    match i {
        Initiator::Drtio => Source::Drtio,
        Initiator::Dma => Source::Dma,
        Initiator::Kernel => Source::Kernel,
    }
}

fn run(addr: SocketAddr, opts: FakeOptions) -> io::Result<FakeExit> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(1)))?;
    let mut peer = Peer { stream, mangle: opts.mangle, rng: 0x2545_F491_4F6C_DD1D, out: Vec::new() };
    let mut bench = SimBench::new(opts.sim);
    // The experiment's kernels, as the simulated kernel CPU knows them
    // (upload `experiment::Kernels::sim()`).
    crate::scenario::register_kernels(&mut bench);
    // Only the satellite's own work is charged to its heap account (the
    // fake's buffers are not the satellite's heap).
    heap::attach_slot(0);
    // The simulated RTIO's event log keeps its largest capacity: grow it
    // now, on the satellite's account, so that heap0_used stays flat across
    // playbacks of up to 64 Ki events (a simulation artefact, not the core's).
    bench.heap.attach();
    for _ in 0..EVENT_LOG_RESERVE {
        bench.rtio.kernel_output(i64::MAX / 2, 0, &[0]);
    }
    drop(bench.rtio.take_events());
    heap::attach_slot(0);
    let mut decoder = slip::Decoder::new();
    let mut buf = vec![0u8; 4096];
    let mut heard = false;
    let mut next_ready = Instant::now() + opts.ready_delay;
    let ready = Ready { boot_us: opts.boot_us, cpu1_up: true, build_id: BuildId::new("fake") }.encode();
    let (mut packets_in, mut packets_out, mut rtio_events) = (0u64, 0u64, 0u64);
    let mut records = Vec::new();
    loop {
        if !heard && Instant::now() >= next_ready {
            peer.send(&ready)?;
            next_ready = Instant::now() + Duration::from_secs(1);
        }
        match peer.stream.read(&mut buf) {
            Ok(0) => return Ok(FakeExit::Closed),
            Ok(n) => decoder.push(&buf[..n], |r| records.push(r.to_vec())),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
        for r in records.drain(..) {
            heard = true;
            match r[0] {
                CH_AUX => {
                    packets_in += 1;
                    // The satellite's receive buffer, freed by the satellite.
                    bench.heap.attach();
                    bench.link.master_send(&r[1..]);
                    heap::attach_slot(0);
                }
                CH_CONTROL => match Control::parse(&r[1..]) {
                    Some(Control::Stats) => {
                        let sat = bench.sat();
                        let arena = sat.store().arena_stats();
                        let traces = sat.store().len();
                        // Taken by the core from the simulated CPU1's heap
                        // account (`SimCpu::heap_in_use`).
                        let (heap1_loaded, heap1_ended) = (sat.stats.heap1_loaded, sat.stats.heap1_ended);
                        let (kernels_finished, kernels_failed, decode_errors) =
                            (sat.stats.kernels_finished, sat.stats.kernels_failed, sat.stats.decode_errors);
                        let (kernel_state, kernel_id) = match sat.kernel_state() {
                            SatKernelState::Idle => (KernelState::Idle, 0),
                            SatKernelState::Loading(id) => (KernelState::Loading, id),
                            SatKernelState::Loaded(id) => (KernelState::Loaded, id),
                            SatKernelState::Running(id) => (KernelState::Running, id),
                            SatKernelState::Dead => (KernelState::Dead, 0),
                        };
                        let stats = Stats {
                            heap0_used: bench.heap.bytes().max(0) as u64,
                            heap1_used: bench.heap1.bytes().max(0) as u64,
                            ddma_in_use: arena.in_use as u64,
                            ddma_traces: traces as u32,
                            kernel_state,
                            kernel_id,
                            kernels_finished,
                            kernels_failed,
                            packets_in,
                            packets_out,
                            decode_errors,
                            rtio_events,
                            uptime_us: bench.rtio.counter().max(0) as u64,
                            // The simulation's counter counts µs.
                            rtio_counter: bench.rtio.counter(),
                            rtio_slowdown: 1000,
                            heap1_loaded,
                            heap1_ended,
                        };
                        peer.send(&stats.encode())?;
                    }
                    Some(Control::Exit(code)) => {
                        let _ = peer.stream.shutdown(std::net::Shutdown::Both);
                        return Ok(FakeExit::Exit(code));
                    }
                    Some(Control::Link(up)) => bench.link.set_up(up),
                    None => {}
                },
                _ => {}
            }
        }
        bench.heap.attach();
        bench.sat().poll();
        heap::attach_slot(0);
        while let Some(frame) = bench.link.master_recv() {
            packets_out += 1;
            let mut rec = Vec::with_capacity(frame.len() + 1);
            rec.push(CH_AUX);
            rec.extend_from_slice(&frame);
            peer.send(&rec)?;
        }
        let events = bench.rtio.take_events();
        rtio_events += events.len() as u64;
        for group in events.chunks((slip::MAX_RECORD - 1) / EVENT_LEN) {
            let mut rec = Vec::with_capacity(1 + group.len() * EVENT_LEN);
            rec.push(CH_RTIO);
            for e in group {
                Event { source: source(e.source), timestamp: e.timestamp, target: e.target, data: e.data }.encode_into(&mut rec);
            }
            peer.send(&rec)?;
        }
    }
}

/// A master connected to a fake firmware on a loopback socket, after its
/// `READY`.
pub struct FakeLink {
    pub master: crate::master::Master<super::QemuTransport>,
    pub ready: Ready,
    pub thread: JoinHandle<FakeExit>,
}

impl FakeLink {
    pub fn start(opts: FakeOptions) -> io::Result<FakeLink> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let thread = spawn(listener.local_addr()?, opts);
        let (stream, _) = listener.accept()?;
        let transport = super::QemuTransport::from_tcp(stream)?;
        let ready = match transport.wait_ready(Instant::now() + Duration::from_secs(10)) {
            Ok(Some((r, _))) => r,
            Ok(None) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no READY from the fake firmware")),
            Err(e) => return Err(io::Error::other(e.to_string())),
        };
        Ok(FakeLink { master: crate::master::Master::new(transport), ready, thread })
    }

    /// Sends `EXIT` and returns how the fake ended.
    pub fn exit(mut self, code: u32) -> FakeExit {
        let _ = self.master.transport.send_control(Control::Exit(code));
        self.thread.join().unwrap_or_else(|_| FakeExit::Error("fake firmware panicked".into()))
    }
}
