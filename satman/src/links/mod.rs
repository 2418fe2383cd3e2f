//! The links: the uplink's state, where each destination is, the queues of
//! packets waiting for a link, and each repeater link's state machine
//! ([`repeater`]).
//!
//! [`Links`] owns the routing state (our destination number and rank, the
//! routing table), the [`Outbox`] and the state of every link. It never
//! dispatches a packet: what arrives goes back to the satellite's
//! dispatcher. The other parts send through a [`Net`] — the links seen as a
//! [`Wire`] — borrowed for one call.

pub mod repeater;
pub mod tsc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use libdrtio::{Frame, Packet, Route, RoutingTable, MAX_HOPS};
use log::{debug, info, warn};

use crate::hal::{AuxLink, LinkError, Rtio};
use crate::outbox::{Outbox, Queue, QUEUE_DEPTH};
use crate::wire::Wire;
pub use repeater::RepeaterState;

/// Packets sent and dropped through the links during one call, for the
/// satellite's [`Stats`](crate::Stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    pub dropped: u64,
}

pub struct Links {
    /// Our destination number (learned from the master's requests).
    own: u8,
    rank: u8,
    routing: Box<RoutingTable>,
    outbox: Outbox,
    /// State of each downstream link.
    repeaters: Vec<RepeaterState>,
    uplink_up: bool,
    /// A TSC load from the master being passed down ([`tsc`]).
    tsc: Option<tsc::TscSync>,
}

impl Links {
    /// The links of a satellite with `repeaters` downstream links.
    pub fn new(repeaters: usize) -> Links {
        Links {
            own: 1,
            rank: 1,
            routing: Box::new(RoutingTable::new()),
            outbox: Outbox::new(repeaters),
            repeaters: alloc::vec![RepeaterState::Down; repeaters],
            uplink_up: false,
            tsc: None,
        }
    }

    pub fn own(&self) -> u8 {
        self.own
    }

    pub fn uplink_up(&self) -> bool {
        self.uplink_up
    }

    pub fn repeater_state(&self, i: usize) -> Option<RepeaterState> {
        self.repeaters.get(i).copied()
    }

    /// Follows the uplink's receiver; returns the new state when it
    /// changed (the satellite then starts afresh, see `Satellite::poll`).
    pub fn poll_uplink(&mut self, uplink: &mut dyn AuxLink) -> Option<bool> {
        let up = uplink.is_up();
        if up == self.uplink_up {
            return None;
        }
        self.uplink_up = up;
        if up {
            info!("uplink up");
        } else {
            warn!("uplink down: stopping kernels and DMA, dropping state");
        }
        Some(up)
    }

    /// Forgets everything queued upstream and to ourselves, and a TSC load
    /// being passed down (the uplink changed state: the master
    /// re-initialises this satellite).
    pub fn clear_upstream(&mut self) {
        self.outbox.clear_upstream();
        self.tsc = None;
    }

    // ---- routing ------------------------------------------------------------

    /// Where `destination` is, seen from here.
    pub fn route(&self, destination: u8) -> Route {
        if destination == self.own {
            return Route::Local;
        }
        if destination == 0 {
            // The master: always upstream, whatever the table says.
            return Route::Unreachable;
        }
        match self.routing.route(destination, self.rank, self.repeaters.len()) {
            // A satellite below a link that is not up is out of reach.
            Route::Repeater(i) if self.repeaters[i as usize] != RepeaterState::Up => Route::Unreachable,
            r => r,
        }
    }

    /// The queue a routable packet for `destination` goes to: ourselves, the
    /// repeater towards it, or upstream (the master knows every route).
    fn queue_for(&self, destination: u8) -> Queue {
        match self.route(destination) {
            Route::Local => Queue::Local,
            Route::Repeater(i) => Queue::Downstream(i),
            Route::Unreachable => Queue::Upstream,
        }
    }

    /// Our destination number is `destination` (a request for it reached us).
    pub fn learn_own(&mut self, destination: u8) {
        self.own = destination;
    }

    /// Handles a request that names a destination hop by hop: returns true
    /// if it is for us (learning our own destination number on the way),
    /// false once it has been forwarded or refused.
    pub fn for_us(&mut self, destination: u8, packet: &Packet<'_>) -> bool {
        match self.route(destination) {
            Route::Local => {
                self.own = destination;
                true
            }
            Route::Repeater(i) => {
                if self.forward(i, packet).is_err() {
                    warn!("repeater {} queue full: request {:#04x} dropped", i, packet.packet_id());
                }
                false
            }
            Route::Unreachable => {
                warn!("no route to destination {} for request {:#04x}", destination, packet.packet_id());
                false
            }
        }
    }

    /// Queues `packet` for repeater `i`.
    pub fn forward(&mut self, i: u8, packet: &Packet<'_>) -> Result<(), crate::outbox::OutboxError> {
        self.outbox.push_packet(Queue::Downstream(i), packet)
    }

    /// `RoutingSetPath`: one row of the routing table.
    pub fn set_path(&mut self, destination: u8, hops: [u8; MAX_HOPS]) {
        self.routing.set_path(destination, hops);
    }

    /// `RoutingSetRank`: programs the gateware's routing table for our rank
    /// and learns our destination number when the table names us.
    pub fn set_rank(&mut self, rank: u8, rtio: &mut dyn Rtio) {
        self.rank = rank;
        let mut local = None;
        for d in 0..=255u8 {
            let hop = if (rank as usize) < MAX_HOPS { self.routing.hop(d, rank) } else { libdrtio::INVALID_HOP };
            rtio.set_route(d, hop);
            if hop == 0 && d != 0 {
                local = if local.is_none() { Some(d) } else { Some(0) };
            }
        }
        // The table names us (hop 0 at our rank): that is our destination.
        if let Some(d) = local.filter(|&d| d != 0) {
            self.own = d;
        }
    }

    /// Sends a management packet to every repeater whose link is up. Their
    /// acknowledgements come back through the repeater polling and are
    /// dropped there.
    pub fn broadcast_downstream(&mut self, packet: &Packet<'_>) {
        for i in 0..self.repeaters.len() {
            if self.repeaters[i] == RepeaterState::Up {
                let _ = self.outbox.push_packet(Queue::Downstream(i as u8), packet);
            }
        }
    }

    // ---- queues ---------------------------------------------------------------

    /// The next routable packet this satellite sent to itself.
    pub fn pop_local(&mut self) -> Option<Frame> {
        self.outbox.pop(Queue::Local)
    }

    /// Sends one queued frame per link when the link is free.
    pub fn flush<L: AuxLink>(&mut self, uplink: &mut L, repeaters: &mut [L]) -> Counts {
        let mut counts = Counts::default();
        if self.uplink_up {
            if let Some(frame) = self.outbox.pop(Queue::Upstream) {
                match uplink.transmit(frame.as_bytes()) {
                    Ok(()) => counts.sent += 1,
                    Err(LinkError::Busy) => self.outbox.unpop(Queue::Upstream, frame),
                    Err(e) => warn!("uplink transmit failed: {:?}", e),
                }
            }
        }
        for (i, link) in repeaters.iter_mut().enumerate() {
            let q = Queue::Downstream(i as u8);
            let Some(frame) = self.outbox.pop(q) else { continue };
            if self.repeaters[i] != RepeaterState::Up {
                debug!("repeater {} not up, dropping its queue", i);
                self.outbox.clear_downstream(i as u8);
                continue;
            }
            match link.transmit(frame.as_bytes()) {
                Ok(()) => {}
                Err(LinkError::Busy) => self.outbox.unpop(q, frame),
                Err(e) => warn!("repeater {} transmit failed: {:?}", i, e),
            }
        }
        counts
    }

    /// The links as a [`Wire`], transmitting replies on `uplink`.
    pub fn net<'a>(&'a mut self, uplink: &'a mut dyn AuxLink) -> Net<'a> {
        Net { links: self, uplink, counts: Counts::default() }
    }
}

/// The links lent to a part for one call: sends, and counts what it sent.
pub struct Net<'a> {
    links: &'a mut Links,
    uplink: &'a mut dyn AuxLink,
    counts: Counts,
}

impl Net<'_> {
    /// What was sent and dropped through this `Net`.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// [`Wire::reply`] for a reply already encoded.
    pub fn reply_frame(&mut self, frame: Frame) {
        match self.uplink.transmit(frame.as_bytes()) {
            Ok(()) => self.counts.sent += 1,
            Err(LinkError::Busy) => {
                if self.links.outbox.push(Queue::Upstream, frame, true).is_err() {
                    self.counts.dropped += 1;
                    warn!("upstream queue full, reply dropped");
                }
            }
            Err(e) => warn!("reply not sent: {:?}", e),
        }
    }

    /// Queues an unsolicited packet for the master.
    pub fn send_upstream(&mut self, packet: &Packet<'_>) {
        if self.links.outbox.push_packet(Queue::Upstream, packet).is_err() {
            self.dropped("upstream", packet);
        }
    }

    fn dropped(&mut self, what: &str, packet: &Packet<'_>) {
        self.counts.dropped += 1;
        warn!("{} queue full, dropped packet {:#04x}", what, packet.packet_id());
    }
}

impl Wire for Net<'_> {
    fn own(&self) -> u8 {
        self.links.own
    }

    fn reply(&mut self, packet: &Packet<'_>) {
        match Frame::encode(packet) {
            Ok(f) => self.reply_frame(f),
            Err(e) => warn!("cannot encode reply {:#04x}: {}", packet.packet_id(), e),
        }
    }

    fn late_reply(&mut self, destination: u8, packet: &Packet<'_>) {
        match self.links.route(destination) {
            Route::Repeater(_) | Route::Local if destination != 0 => {
                self.send_routed(destination, packet);
            }
            // Upstream: the requester is waiting for exactly this packet.
            _ => self.reply(packet),
        }
    }

    fn send_routed(&mut self, destination: u8, packet: &Packet<'_>) -> bool {
        let q = self.links.queue_for(destination);
        if self.links.outbox.push_packet(q, packet).is_err() {
            self.dropped("routed", packet);
            return false;
        }
        true
    }

    fn room_towards(&self, destination: u8) -> usize {
        QUEUE_DEPTH - self.links.outbox.len(self.links.queue_for(destination))
    }
}
