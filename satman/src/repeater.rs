//! Downstream links: bringing up a satellite below us, and relaying what it
//! sends.
//!
//! Each repeater link goes through these states (the master does the same
//! for its own links):
//!
//! ```text
//!   Down ──rx up──▶ Ping ──EchoReply──▶ Routing(0..=255) ──▶ Rank ──RoutingAck──▶ Up
//!    ▲               │ 200 pings unanswered     │ no RoutingAck in time
//!    └─── rx down ───┴──────▶ Failed ◀──────────┘   (until the link drops)
//! ```
//!
//! While a link is Up, packets from below are routed by destination when
//! they have one, and otherwise relayed upstream as the reply to the request
//! we forwarded. Nothing here waits: each step sends one packet and expects
//! its answer by a deadline checked on every pass.
//!
//! Not done: the timestamp counter sync of the downstream satellite
//! (`drtiorep.set_time`), which needs a gateware hook the board does not
//! offer yet.

use libdrtio::{Frame, Packet, MAX_PACKET};
use log::{info, warn};

use crate::dispatch::Origin;
use crate::hal::{AuxLink, LinkError, Platform};
use crate::outbox::Queue;
use crate::satellite::Satellite;

/// Ping period and how many pings a link gets to answer.
const PING_PERIOD_US: u64 = 100_000;
const MAX_PINGS: u32 = 200;
/// Time a downstream satellite has to acknowledge one routing packet.
const ACK_TIMEOUT_US: u64 = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeaterState {
    Down,
    Ping { sent: u32, next: u64 },
    /// Sending routing table row `row`, acknowledged by `deadline`.
    Routing { row: u16, deadline: u64 },
    Rank { deadline: u64 },
    Up,
    Failed,
}

impl<P: Platform> Satellite<P> {
    pub fn repeater_state(&self, i: usize) -> Option<RepeaterState> {
        self.repeaters.get(i).copied()
    }

    /// Sends a management packet to repeater `i` now, bypassing its queue.
    fn send_to_repeater(&mut self, i: usize, packet: &Packet<'_>) -> bool {
        let Ok(frame) = Frame::encode(packet) else { return false };
        !matches!(self.hw.repeaters[i].transmit(frame.as_bytes()), Err(LinkError::Busy))
    }

    /// One pass over every downstream link.
    pub(crate) fn poll_repeaters(&mut self) {
        let now = self.now();
        for i in 0..self.hw.repeaters.len() {
            let up = self.hw.repeaters[i].is_up();
            let state = self.repeaters[i];
            let next = match (up, state) {
                (false, RepeaterState::Down) => continue,
                (false, _) => {
                    info!("repeater {}: link down", i);
                    self.outbox.clear_downstream(i as u8);
                    RepeaterState::Down
                }
                (true, RepeaterState::Down) => {
                    info!("repeater {}: link up, pinging", i);
                    RepeaterState::Ping { sent: 0, next: now }
                }
                (true, RepeaterState::Ping { sent, next }) if now >= next => {
                    if sent >= MAX_PINGS {
                        warn!("repeater {}: no answer to {} pings, giving up until the link drops", i, sent);
                        RepeaterState::Failed
                    } else {
                        let ok = self.send_to_repeater(i, &Packet::EchoRequest);
                        RepeaterState::Ping { sent: sent + ok as u32, next: now + PING_PERIOD_US }
                    }
                }
                (true, RepeaterState::Routing { deadline, .. } | RepeaterState::Rank { deadline }) if now >= deadline => {
                    warn!("repeater {}: routing set-up not acknowledged, giving up until the link drops", i);
                    RepeaterState::Failed
                }
                (true, s) => s,
            };
            self.repeaters[i] = next;
            self.receive_repeater(i);
        }
    }

    /// Takes one packet from repeater `i`.
    fn receive_repeater(&mut self, i: usize) {
        let mut buf = [0u8; MAX_PACKET];
        let n = match self.hw.repeaters[i].receive(&mut buf) {
            Ok(Some(n)) => n.min(MAX_PACKET),
            Ok(None) => return,
            Err(e) => {
                warn!("repeater {}: link error {:?}", i, e);
                return;
            }
        };
        let (packet, len) = match Packet::decode(&buf[..n]) {
            Ok(p) => p,
            Err(e) => {
                warn!("repeater {}: bad packet: {}", i, e);
                return;
            }
        };
        let now = self.now();
        match (self.repeaters[i], packet) {
            (RepeaterState::Ping { .. }, Packet::EchoReply) => {
                info!("repeater {}: answered, sending the routing table", i);
                self.send_routing_row(i, 0, now);
            }
            (RepeaterState::Routing { row, .. }, Packet::RoutingAck) => self.send_routing_row(i, row + 1, now),
            (RepeaterState::Rank { .. }, Packet::RoutingAck) => {
                info!("repeater {}: up", i);
                self.repeaters[i] = RepeaterState::Up;
            }
            (RepeaterState::Up, p) => self.from_repeater(i, p, &buf[..len]),
            (state, p) => warn!("repeater {}: unexpected packet {:#04x} in state {:?}", i, p.packet_id(), state),
        }
    }

    fn send_routing_row(&mut self, i: usize, row: u16, now: u64) {
        let deadline = now + ACK_TIMEOUT_US;
        if row < 256 {
            let destination = row as u8;
            let hops = *self.routing.path(destination);
            self.send_to_repeater(i, &Packet::RoutingSetPath { destination, hops });
            self.repeaters[i] = RepeaterState::Routing { row, deadline };
        } else {
            let rank = self.rank.saturating_add(1);
            self.send_to_repeater(i, &Packet::RoutingSetRank { rank });
            self.repeaters[i] = RepeaterState::Rank { deadline };
        }
    }

    /// A packet from a satellite below us that is up.
    fn from_repeater(&mut self, i: usize, packet: Packet<'_>, raw: &[u8]) {
        if packet.routable_destination().is_some() {
            return self.dispatch_from(Origin::Repeater(i as u8), packet);
        }
        match packet {
            // Acknowledgements of the management packets we broadcast.
            Packet::RoutingAck | Packet::ResetAck => {}
            // Anything else answers a request we forwarded: relay it as is.
            _ => match Frame::from_bytes(raw) {
                Ok(frame) => {
                    if self.outbox.push(Queue::Upstream, frame, true).is_err() {
                        warn!("upstream queue full: reply from repeater {} dropped", i);
                    }
                }
                Err(e) => warn!("cannot relay a reply from repeater {}: {}", i, e),
            },
        }
    }
}
