//! The satellite: every piece of state, and the main loop that drives it.
//!
//! [`Satellite::poll`] is one pass of the service loop. It never waits: it
//! takes at most one aux packet from the uplink, handles what CPU1 and the
//! DMA engine have reported, expires deadlines, and sends at most one queued
//! packet on each link. The firmware calls it in a tight loop; tests call it
//! until the state they want is reached.

use alloc::boxed::Box;

use libdma::Store;
use libdrtio::{Frame, Packet, RoutingTable, MAX_PACKET};
use log::{debug, info, warn};

use crate::hal::{AuxLink, Clock, Hardware, Initiator, LinkError, Platform, Rtio};
use crate::mgmt::Mgmt;
use crate::outbox::{Outbox, Queue};
use crate::subkernel::Subkernels;
use crate::ddma::MasterDma;

/// Limits and timeouts; the defaults suit the Kasli-SoC.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Largest kernel image accepted (the master itself accepts 1 MiB).
    pub max_kernel_size: usize,
    /// Largest subkernel message accepted.
    pub max_message_size: usize,
    /// Messages queued for a kernel before new ones are refused.
    pub max_queued_messages: usize,
    /// How long CPU1 may take to load a kernel.
    pub load_timeout_us: u64,
    /// How long a peer may take to acknowledge one message or trace slice,
    /// or to answer a subkernel request.
    pub peer_timeout_us: u64,
    /// How long a DMA playback may run before it is aborted.
    pub playback_timeout_us: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_kernel_size: 1 << 20,
            max_message_size: 1 << 20,
            max_queued_messages: 64,
            load_timeout_us: 2_000_000,
            peer_timeout_us: 10_000_000,
            playback_timeout_us: 60_000_000,
        }
    }
}

/// Counters for the state dump and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub packets_in: u64,
    pub packets_out: u64,
    pub decode_errors: u64,
    pub link_errors: u64,
    pub unexpected_packets: u64,
    pub dropped_packets: u64,
    pub kernels_finished: u64,
    pub kernels_failed: u64,
}

pub struct Satellite<P: Platform> {
    pub hw: Hardware<P>,
    pub config: Config,
    pub stats: Stats,
    /// Our destination number (learned from the master's requests).
    pub(crate) own: u8,
    pub(crate) rank: u8,
    pub(crate) routing: Box<RoutingTable>,
    pub(crate) outbox: Outbox,
    pub(crate) store: Store,
    pub(crate) kernels: Subkernels,
    pub(crate) master_dma: MasterDma,
    /// State of each downstream link.
    pub(crate) repeaters: alloc::vec::Vec<crate::repeater::RepeaterState>,
    pub(crate) mgmt: Mgmt,
    uplink_up: bool,
    /// The DMA engine still reads an abandoned trace.
    pub(crate) dma_draining: bool,
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
            own: 1,
            rank: 1,
            routing: Box::new(RoutingTable::new()),
            outbox: Outbox::new(repeaters),
            store,
            kernels: Subkernels::new(),
            master_dma: MasterDma::default(),
            repeaters: alloc::vec![crate::repeater::RepeaterState::Down; repeaters],
            mgmt: Mgmt::default(),
            uplink_up: false,
            dma_draining: false,
            rx: Some(Box::new([0; MAX_PACKET])),
        }
    }

    pub fn own_destination(&self) -> u8 {
        self.own
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn now(&self) -> u64 {
        self.hw.clock.now_us()
    }

    /// One pass of the service loop.
    pub fn poll(&mut self) {
        self.poll_uplink_state();
        if self.uplink_up {
            if self.hw.rtio.take_tsc_loaded() {
                self.send_upstream(&Packet::TSCAck);
            }
            if !self.receive_uplink() {
                self.process_local();
            }
        }
        self.poll_repeaters();
        self.poll_kernel();
        self.poll_master_dma();
        self.poll_deadlines();
        let now = self.now();
        self.mgmt.poll(now, &mut self.hw.system);
        self.flush();
    }

    fn poll_uplink_state(&mut self) {
        let up = self.hw.uplink.is_up();
        if up == self.uplink_up {
            return;
        }
        self.uplink_up = up;
        if up {
            info!("uplink up");
        } else {
            warn!("uplink down: stopping kernels and DMA, dropping state");
        }
        // Either way the master starts afresh with us: same clean-up as a
        // reset, plus everything the master uploaded.
        self.end_everything(crate::subkernel::End::LinkLost);
        self.hw.rtio.hold_reset(!up);
        self.outbox.clear_upstream();
        self.store.clear();
        self.kernels.forget_images();
        self.mgmt.reset(&mut self.hw.config);
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
        if let Some(frame) = self.outbox.pop(Queue::Local) {
            match frame.decode() {
                Ok(packet) => self.dispatch(packet),
                Err(e) => warn!("bad local packet: {}", e),
            }
        }
    }

    /// Sends one queued frame per link when the link is free.
    fn flush(&mut self) {
        if self.uplink_up {
            if let Some(frame) = self.outbox.pop(Queue::Upstream) {
                match self.hw.uplink.transmit(frame.as_bytes()) {
                    Ok(()) => self.stats.packets_out += 1,
                    Err(LinkError::Busy) => self.outbox.unpop(Queue::Upstream, frame),
                    Err(e) => warn!("uplink transmit failed: {:?}", e),
                }
            }
        }
        for i in 0..self.hw.repeaters.len() {
            let q = Queue::Downstream(i as u8);
            let Some(frame) = self.outbox.pop(q) else { continue };
            if self.repeaters[i] != crate::repeater::RepeaterState::Up {
                debug!("repeater {} not up, dropping its queue", i);
                self.outbox.clear_downstream(i as u8);
                continue;
            }
            match self.hw.repeaters[i].transmit(frame.as_bytes()) {
                Ok(()) => {}
                Err(LinkError::Busy) => self.outbox.unpop(q, frame),
                Err(e) => warn!("repeater {} transmit failed: {:?}", i, e),
            }
        }
    }

    /// Sends a reply to the packet being handled: at once if the uplink is
    /// free, else ahead of everything queued.
    pub(crate) fn reply(&mut self, packet: &Packet<'_>) {
        match Frame::encode(packet) {
            Ok(f) => self.reply_frame(f),
            Err(e) => warn!("cannot encode reply {:#04x}: {}", packet.packet_id(), e),
        }
    }

    /// [`Satellite::reply`] for a reply already encoded.
    pub(crate) fn reply_frame(&mut self, frame: Frame) {
        match self.hw.uplink.transmit(frame.as_bytes()) {
            Ok(()) => self.stats.packets_out += 1,
            Err(LinkError::Busy) => {
                if self.outbox.push(Queue::Upstream, frame, true).is_err() {
                    self.stats.dropped_packets += 1;
                    warn!("upstream queue full, reply dropped");
                }
            }
            Err(e) => warn!("reply not sent: {:?}", e),
        }
    }

    /// Hands a core management request to its owner and sends the reply.
    pub(crate) fn handle_mgmt(&mut self, packet: Packet<'_>) {
        let mut ctx = crate::mgmt::Ctx {
            config: &mut self.hw.config,
            system: &mut self.hw.system,
            arena: self.store.arena_stats(),
            now_us: self.hw.clock.now_us(),
        };
        if let Some(frame) = self.mgmt.handle(packet, &mut ctx) {
            self.reply_frame(frame);
        }
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

    /// Queues an unsolicited packet for the master.
    pub(crate) fn send_upstream(&mut self, packet: &Packet<'_>) {
        if self.outbox.push_packet(Queue::Upstream, packet).is_err() {
            self.dropped("upstream", packet);
        }
    }

    /// Queues a routable packet towards its destination. Returns false if it
    /// could not be queued.
    pub(crate) fn send_routed(&mut self, destination: u8, packet: &Packet<'_>) -> bool {
        let q = self.queue_for(destination);
        if self.outbox.push_packet(q, packet).is_err() {
            self.dropped("routed", packet);
            return false;
        }
        true
    }

    /// The queue a routable packet for `destination` goes to: ourselves, the
    /// repeater towards it, or upstream (the master knows every route).
    fn queue_for(&self, destination: u8) -> Queue {
        match self.route(destination) {
            libdrtio::Route::Local => Queue::Local,
            libdrtio::Route::Repeater(i) => Queue::Downstream(i),
            libdrtio::Route::Unreachable => Queue::Upstream,
        }
    }

    fn dropped(&mut self, what: &str, packet: &Packet<'_>) {
        self.stats.dropped_packets += 1;
        warn!("{} queue full, dropped packet {:#04x}", what, packet.packet_id());
    }

    /// Room left in the queue towards `destination`.
    pub(crate) fn room_towards(&self, destination: u8) -> usize {
        crate::outbox::QUEUE_DEPTH - self.outbox.len(self.queue_for(destination))
    }

    /// `ResetRequest`, link loss: stop every kernel and playback and give the
    /// RTIO back to the master.
    pub(crate) fn end_everything(&mut self, how: crate::subkernel::End) {
        self.end_kernel(how);
        self.stop_master_dma();
        self.hw.rtio.select(Initiator::Drtio);
    }
}
