//! The satellite core on simulated hardware, and a bench that wires it to a
//! [`Master`] over an in-memory aux link.
//!
//! The satellite runs the real core (`satman::Satellite`) and the real
//! kernel-side runtime; only the hardware traits are simulated. The master
//! pumps the satellite's service loop whenever it waits for a frame, as the
//! satellite's CPU0 would be running anyway.

pub mod cpu;
pub mod i2c;
pub mod kasli;
pub mod link;
pub mod rtio;
pub mod system;
pub mod trace;

use std::sync::Arc;
use std::time::{Duration, Instant};

use libdma::{Arena, Store};
use libdrtio::Frame;
use satman::hal::{Hardware, Platform};
use libsdcard::{CardError, MemDevice};
use satman::mgmt::CardStore;
use satman::{Config, Satellite};

use crate::heap::Tracker;
use crate::master::{Master, MasterError, Transport};
pub use cpu::{image, KernelFn, SimCpu};
pub use i2c::SimI2c;
pub use link::{LinkShared, SimLink};
pub use rtio::{Event, RtioShared, SimDma, SimMoninj, SimRtio};
pub use system::{SimClock, SimSystem};
pub use trace::{Trace, TraceEvent};

/// The simulated board.
pub struct Sim;

impl Platform for Sim {
    type Link = SimLink;
    type Cpu = SimCpu;
    type Rtio = SimRtio;
    type Dma = SimDma;
    type Analyzer = satman::hal::NoAnalyzer;
    type Clock = SimClock;
    type Config = CardStore<MemDevice>;
    type System = SimSystem;
    type Moninj = SimMoninj;
    type I2c = SimI2c;
}

/// The master's side of the in-memory link; pumps the satellite while it
/// waits.
pub struct SimTransport {
    pub sat: Satellite<Sim>,
    pub link: Arc<LinkShared>,
    /// Satellites below `sat` (polled along with it).
    pub downstream: Vec<Satellite<Sim>>,
    /// The master's timestamp counter counts from here.
    pub origin: Instant,
}

impl SimTransport {
    /// One service-loop pass of every satellite.
    pub fn poll_all(&mut self) {
        self.sat.poll();
        for s in &mut self.downstream {
            s.poll();
        }
    }
}

impl Transport for SimTransport {
    fn send(&mut self, frame: &[u8]) -> Result<(), MasterError> {
        self.link.master_send(frame);
        Ok(())
    }

    fn set_time(&mut self) -> Result<(), MasterError> {
        if !self.link.is_up() {
            return Err(MasterError::Transport("set_time: the link is down".into()));
        }
        self.sat.hw.rtio.0.load_tsc(self.origin.elapsed().as_micros() as i64);
        Ok(())
    }

    fn recv(&mut self, deadline: Instant) -> Result<Option<Frame>, MasterError> {
        loop {
            self.poll_all();
            if let Some(bytes) = self.link.master_recv() {
                return Frame::from_bytes(&bytes).map(Some).map_err(|e| MasterError::Corrupt(e.to_string()));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::yield_now();
        }
    }
}

/// Blocks of a simulated SD card: 40 MiB, the smallest size comfortably
/// above FAT32's minimum cluster count (the memory is only touched where
/// written).
pub const CARD_BLOCKS: u32 = 40 << 11;

/// A blank card of `blocks` blocks as `satctl sdcard make` would format it
/// (MBR + FAT32).
pub fn blank_card(blocks: u32) -> MemDevice {
    let mut dev = MemDevice::new(blocks);
    libsdcard::format::format_fat32(&mut dev, 0x5A7_0001).expect("format a simulated card");
    dev
}

/// Options for [`SimBench::new`].
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    /// DDMA store budget in bytes.
    pub ddma_budget: usize,
    pub config: Config,
    /// Boot without an SD card (config writes and flashes must fail).
    pub no_card: bool,
    /// Size of the blank card each satellite gets, in blocks.
    pub card_blocks: u32,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions { ddma_budget: 4 << 20, config: Config::default(), no_card: false, card_blocks: CARD_BLOCKS }
    }
}

/// A master and one satellite (destination 1) on simulated hardware.
pub struct SimBench {
    pub master: Master<SimTransport>,
    pub rtio: Arc<RtioShared>,
    pub cpu: Arc<cpu::CpuShared>,
    pub link: Arc<LinkShared>,
    /// Heap account of the satellites' CPU0 (and this bench's thread: the
    /// master).
    pub heap: Tracker,
    /// Heap account of the satellites' kernel CPUs. Unlike the firmware's
    /// heap1, nothing recreates it between runs: what a kernel run leaks on
    /// CPU1 stays here, so a run-to-run comparison can see it.
    pub heap1: Tracker,
    /// RTIO and kernel CPU of each satellite below the first.
    pub downstream: Vec<Node>,
    /// The tree's timing events (TSC loads, `set_time`, `TSCAck`s).
    pub trace: Arc<Trace>,
    /// Satellite `n`'s children, repeater by repeater.
    pub children: Vec<Vec<usize>>,
}

/// Simulated hardware handles of one satellite.
pub struct Node {
    pub rtio: Arc<RtioShared>,
    pub cpu: Arc<cpu::CpuShared>,
}

impl SimBench {
    pub fn new(options: SimOptions) -> SimBench {
        Self::chain(options, 0)
    }

    /// A master, the satellite on its link and `below` more satellites, each
    /// on the single repeater link of the one above (destinations 1, 2, ...).
    pub fn chain(options: SimOptions, below: usize) -> SimBench {
        let parents: Vec<usize> = (0..below).collect();
        Self::build(options, &parents, None)
    }

    /// A master, satellite 0 on its link, and satellites 1, 2, ... where
    /// satellite `k` hangs off a repeater link of satellite `parents[k - 1]`
    /// (each parent's repeaters in the order of its children here). A chain
    /// is `[0, 1, 2]`, a star below satellite 0 is `[0, 0]`.
    pub fn tree(options: SimOptions, parents: &[usize]) -> SimBench {
        Self::build(options, parents, None)
    }

    /// The hops from the master to satellite `n` (`table[d]` of the
    /// routing table for its destination, `n + 1`): link 1 at the master,
    /// then the repeater (index + 1) at each satellite on the way, then 0.
    pub fn path(&self, n: usize) -> [u8; 32] {
        let mut up = vec![n];
        let mut k = n;
        while k != 0 {
            k = (0..self.children.len()).find(|&p| self.children[p].contains(&k)).expect("a parent");
            up.push(k);
        }
        up.reverse();
        let mut hops = [0xff; 32];
        hops[0] = 1;
        for (rank, w) in up.windows(2).enumerate() {
            hops[rank + 1] = self.children[w[0]].iter().position(|&c| c == w[1]).unwrap() as u8 + 1;
        }
        hops[up.len()] = 0;
        hops
    }

    /// A master and one satellite booting from `card` (e.g. the card of an
    /// earlier bench: a reboot).
    pub fn with_card(options: SimOptions, card: MemDevice) -> SimBench {
        Self::build(options, &[], Some(card))
    }

    /// The first satellite's card as it is now (a copy).
    pub fn card(&mut self) -> Option<MemDevice> {
        self.sat().hw.config.card().map(|c| c.device().clone())
    }

    fn build(options: SimOptions, parents: &[usize], mut card: Option<MemDevice>) -> SimBench {
        system::init_logger();
        let heap1 = Tracker::new();
        // Created last: the calling thread is charged to CPU0's account.
        let heap = Tracker::new();
        let trace = Trace::new();
        let n = parents.len() + 1;
        let mut children = vec![Vec::new(); n];
        for (k, &p) in parents.iter().enumerate() {
            assert!(p <= k, "satellite {} hangs off a later one", k + 1);
            children[p].push(k + 1);
        }
        // links[k]: satellite k's uplink (0: the master's link).
        let links: Vec<Arc<LinkShared>> = (0..n).map(|_| LinkShared::new()).collect();
        let link = links[0].clone();
        let mut sats = Vec::new();
        let mut shared: Vec<Node> = Vec::new();
        for (k, up) in links.iter().enumerate() {
            let rtio = RtioShared::new();
            rtio.set_trace(k, trace.clone());
            up.set_trace(k, trace.clone());
            let cpu = SimCpu::new(rtio.clone(), heap1.slot());
            shared.push(Node { rtio: rtio.clone(), cpu: cpu.shared.clone() });
            let repeaters = children[k].iter().map(|&c| SimLink::repeater(links[c].clone())).collect();
            let hw = Hardware::<Sim> {
                uplink: SimLink::new(up.clone()),
                repeaters,
                cpu,
                rtio: SimRtio(rtio.clone()),
                dma: SimDma::new(rtio.clone()),
                analyzer: satman::hal::NoAnalyzer,
                clock: SimClock::new(),
                config: CardStore::mount(match (options.no_card, card.take()) {
                    (true, _) => Err(CardError::NoCard),
                    (false, Some(c)) => Ok(c),
                    (false, None) => Ok(blank_card(options.card_blocks)),
                }),
                system: SimSystem::default(),
                moninj: SimMoninj(rtio),
                i2c: SimI2c::new(&libkasli::model::BoardSpec::default()),
            };
            let arena = Arena::with_capacity(options.ddma_budget).expect("DDMA arena");
            sats.push(Satellite::new(hw, Store::new(arena), options.config));
        }
        // Each repeater's `set_time` loads the TSC of the satellite below.
        for (p, cs) in children.iter().enumerate() {
            for &c in cs {
                shared[p].rtio.add_below(shared[c].rtio.clone());
            }
        }
        let sat = sats.remove(0);
        let first = shared.remove(0);
        let transport = SimTransport { sat, link: link.clone(), downstream: sats, origin: Instant::now() };
        let master = Master::new(transport);
        SimBench { master, rtio: first.rtio, cpu: first.cpu, link, heap, heap1, downstream: shared, trace, children }
    }

    /// Satellite `n` of a chain (0 = the one on the master's link).
    pub fn nth(&mut self, n: usize) -> &mut Satellite<Sim> {
        match n {
            0 => &mut self.master.transport.sat,
            n => &mut self.master.transport.downstream[n - 1],
        }
    }

    pub fn sat(&mut self) -> &mut Satellite<Sim> {
        &mut self.master.transport.sat
    }

    /// Makes kernel `name` loadable from an image made by [`image`].
    pub fn register(&mut self, name: &str, kernel: KernelFn) {
        self.sat().hw.cpu.register(name, kernel.clone());
        for s in &mut self.master.transport.downstream {
            s.hw.cpu.register(name, kernel.clone());
        }
    }

    /// Runs the satellite's service loop for `d` without a master request.
    pub fn pump(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            self.master.transport.poll_all();
            std::thread::yield_now();
        }
    }

    /// Pumps until `f` holds or `timeout` passes; returns whether it held.
    pub fn pump_until(&mut self, timeout: Duration, mut f: impl FnMut(&mut Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if f(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.master.transport.poll_all();
            std::thread::yield_now();
        }
    }
}
