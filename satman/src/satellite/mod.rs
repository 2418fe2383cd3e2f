//! The satellite: owns the parts and the hardware, and runs the main loop.
//!
//! [`Satellite::poll`] is one pass of the service loop. It never waits: it
//! takes at most one aux packet from the uplink, handles what CPU1 and the
//! DMA engine have reported, expires deadlines, and sends at most one queued
//! packet on each link. The firmware calls it in a tight loop; tests call it
//! until the state they want is reached.
//!
//! The parts — [`Links`], [`Kernels`], [`Ddma`], [`Mgmt`], [`Moninj`],
//! [`I2c`], [`Analyzer`] — own their state
//! and never see each other: each call gets a context holding only what it
//! may touch (hardware handles, the DDMA store, a [`Wire`](crate::wire::Wire)
//! to send through). Where two parts cooperate, the satellite does it
//! ([`parts`]); which part handles which packet is [`dispatch`].

mod dispatch;
mod parts;

use alloc::boxed::Box;

use libdma::Store;
use libdrtio::{Frame, Packet, MAX_PACKET};
use log::{debug, warn};

use crate::analyzer::Analyzer;
use crate::budget::Budget;
use crate::config::Config;
use crate::ddma::Ddma;
use crate::diag::{self, Diag};
use crate::hal::{AuxLink, Clock, Hardware, Platform, Rtio};
use crate::kernels::{End, KernelState, Kernels};
use crate::i2c::I2c;
use crate::links::{Counts, Links, RepeaterState};
use crate::mgmt::Mgmt;
use crate::moninj::Moninj;
use crate::stats::Stats;

pub use dispatch::Origin;

pub struct Satellite<P: Platform> {
    pub hw: Hardware<P>,
    pub config: Config,
    pub stats: Stats,
    links: Links,
    /// The DDMA trace store: the master's traces and the kernels' recordings.
    store: Store,
    kernels: Kernels,
    ddma: Ddma,
    mgmt: Mgmt,
    diag: Diag,
    moninj: Moninj,
    i2c: I2c,
    /// CPU0's memory budget, lent to the parts in their contexts.
    budget: Budget,
    analyzer: Analyzer,
    /// Receive buffer; taken out while its packet is being handled.
    rx: Option<Box<[u8; MAX_PACKET]>>,
}

impl<P: Platform> Satellite<P> {
    pub fn new(hw: Hardware<P>, store: Store, config: Config) -> Self {
        let repeaters = hw.repeaters.len();
        Satellite {
            hw,
            config,
            stats: Stats::default(),
            links: Links::new(repeaters),
            store,
            kernels: Kernels::new(),
            ddma: Ddma::default(),
            mgmt: Mgmt::default(),
            diag: Diag::default(),
            moninj: Moninj::default(),
            i2c: I2c::default(),
            budget: Budget::new(config.memory_budget),
            analyzer: Analyzer::default(),
            rx: Some(Box::new([0; MAX_PACKET])),
        }
    }

    pub fn own_destination(&self) -> u8 {
        self.links.own()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn kernel_state(&self) -> KernelState {
        self.kernels.state()
    }

    pub fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    /// Whether the master holds an I2C transfer open on the board's bus:
    /// the board must leave the bus alone meanwhile.
    pub fn i2c_in_transfer(&self) -> bool {
        self.i2c.in_transfer()
    }

    /// Moninj and I2C requests refused or failed (bad channel, bus, mask,
    /// bus fault), for the state dump and tests.
    pub fn moninj_i2c_refused(&self) -> (u64, u64) {
        (self.moninj.refused(), self.i2c.refused())
    }

    /// CPU0's memory budget: its figures as of the last call into a part,
    /// and the refusals so far.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    pub fn repeater_state(&self, i: usize) -> Option<RepeaterState> {
        self.links.repeater_state(i)
    }

    /// Applies the configuration keys read at boot (`log_level`,
    /// `uart_log_level`).
    pub fn apply_log_config(&mut self) {
        Mgmt::apply_log_config(&mut self.hw.config, &mut self.hw.system);
    }

    /// Checks flashed images with `check` before they replace the boot image.
    pub fn set_image_check(&mut self, check: crate::mgmt::ImageCheck) {
        self.mgmt = Mgmt::new(Some(check));
    }

    /// One pass of the service loop.
    pub fn poll(&mut self) {
        if let Some(up) = self.links.poll_uplink(&mut self.hw.uplink) {
            self.uplink_changed(up);
        }
        if self.links.uplink_up() {
            let now = self.hw.clock.now_us();
            if self.hw.rtio.take_tsc_loaded() {
                // Passed down first: our TSCAck waits for the repeaters'.
                self.links.tsc_loaded(&mut self.hw.rtio, now);
            }
            if self.links.tsc_ack_due(now) {
                self.send_upstream(&Packet::TSCAck);
            }
            if !self.receive_uplink() {
                self.process_local();
            }
        }
        self.poll_repeaters();
        self.poll_diagnostics();
        self.with_kernels(|k, ctx| k.poll(ctx));
        self.poll_playbacks();
        self.with_kernels(|k, ctx| k.poll_deadlines(ctx));
        let now = self.hw.clock.now_us();
        self.mgmt.poll(now, &mut self.hw.system);
        let counts = self.links.flush(&mut self.hw.uplink, &mut self.hw.repeaters);
        self.count(counts);
    }

    /// The uplink came up or went down: either way the master starts afresh
    /// with us. Same clean-up as a reset, plus everything the master
    /// uploaded.
    fn uplink_changed(&mut self, up: bool) {
        self.end_everything(End::LinkLost);
        self.hw.rtio.hold_reset(!up);
        self.links.clear_upstream();
        self.store.clear();
        self.kernels.forget_images();
        self.mgmt.reset(&mut self.hw.config);
        self.measure();
    }

    /// Takes one packet from the uplink. Returns whether there was one.
    fn receive_uplink(&mut self) -> bool {
        let Some(mut rx) = self.rx.take() else { return false };
        let n = match self.hw.uplink.receive(&mut rx) {
            Ok(Some(n)) => n.min(MAX_PACKET),
            Ok(None) => {
                self.rx = Some(rx);
                return false;
            }
            Err(e) => {
                self.rx = Some(rx);
                self.stats.link_errors += 1;
                warn!("aux link error: {:?}", e);
                return true;
            }
        };
        self.stats.packets_in += 1;
        match Packet::decode(&rx[..n]) {
            Ok((packet, _)) => self.dispatch(packet),
            Err(e) => {
                self.stats.decode_errors += 1;
                warn!("aux packet error: {}", e);
            }
        }
        self.rx = Some(rx);
        true
    }

    fn process_local(&mut self) {
        if let Some(frame) = self.links.pop_local() {
            match frame.decode() {
                Ok(packet) => self.dispatch(packet),
                Err(e) => warn!("bad local packet: {}", e),
            }
        }
    }

    /// One pass over every downstream link; what a link that is up sends
    /// goes to the dispatcher.
    fn poll_repeaters(&mut self) {
        let now = self.hw.clock.now_us();
        let mut buf = [0u8; MAX_PACKET];
        for i in 0..self.hw.repeaters.len() {
            if let Some(n) = self.links.poll_repeater(i, &mut self.hw.repeaters[i], &mut self.hw.rtio, now, &mut buf) {
                self.from_repeater(i, &buf[..n]);
            }
        }
    }

    /// Reads, counts, logs and clears the RT links' protocol errors.
    fn poll_diagnostics(&mut self) {
        let master_drives = !self.kernels.running() && !self.ddma.busy(&self.store);
        self.diag.poll(&mut diag::Ctx {
            rtio: &mut self.hw.rtio,
            stats: &mut self.stats,
            now: self.hw.clock.now_us(),
            repeaters: self.hw.repeaters.len(),
            master_drives,
        });
    }

    /// Pulses every repeater's RTIO reset (before a `ResetRequest` goes
    /// down), as the reference does whether or not the link is up.
    fn reset_repeaters(&mut self) {
        for i in 0..self.hw.repeaters.len() {
            match self.hw.rtio.repeater_reset(i) {
                Ok(()) => {}
                Err(crate::hal::RepeaterFault::Absent) => debug!("repeater {}: no reset on this board", i),
                Err(e) => warn!("repeater {}: RTIO reset failed: {:?}", i, e),
            }
        }
    }

    /// Adds what the links sent and dropped to the counters.
    fn count(&mut self, counts: Counts) {
        self.stats.packets_out += counts.sent;
        self.stats.dropped_packets += counts.dropped;
    }

    /// Sends a reply to the packet being handled.
    fn reply(&mut self, packet: &Packet<'_>) {
        use crate::wire::Wire;
        let mut net = self.links.net(&mut self.hw.uplink);
        net.reply(packet);
        let counts = net.counts();
        self.count(counts);
    }

    /// [`Satellite::reply`] for a reply already encoded.
    fn reply_frame(&mut self, frame: Frame) {
        let mut net = self.links.net(&mut self.hw.uplink);
        net.reply_frame(frame);
        let counts = net.counts();
        self.count(counts);
    }

    /// Queues an unsolicited packet for the master.
    fn send_upstream(&mut self, packet: &Packet<'_>) {
        let mut net = self.links.net(&mut self.hw.uplink);
        net.send_upstream(packet);
        let counts = net.counts();
        self.count(counts);
    }
}
