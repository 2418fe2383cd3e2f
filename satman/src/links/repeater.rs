//! Downstream links: bringing up a satellite below us, and relaying what it
//! sends.
//!
//! Each repeater link goes through these states (the master does the same
//! for its own links):
//!
//! ```text
//!   Down ──rx up──▶ Ping ──EchoReply──▶ Tsc ──TSCAck──▶ Routing(0..=255) ──▶ Rank ──RoutingAck──▶ Up
//!    ▲               │ 200 pings unanswered   │ set_time stuck, no TSCAck or RoutingAck in time
//!    └─── rx down ───┴──────▶ Failed ◀────────┘   (until the link drops)
//! ```
//!
//! `Tsc` loads the timestamp counter of the satellite below
//! (`drtiorepN.set_time`, [`Rtio::repeater_set_time`]) and waits for its
//! `TSCAck` (10 s, as the reference), so that the routing set-up, and the
//! master's traffic after it, find the satellite below on the master's
//! time. Later TSC loads from the master are passed down by [`super::tsc`].
//!
//! While a link is Up, packets from below go to the satellite's dispatcher:
//! routed by destination when they have one, and otherwise relayed upstream
//! ([`Links::relay_upstream`]) as the reply to the request we forwarded.
//! Nothing here waits: each step sends one packet and expects its answer by
//! a deadline checked on every pass.
//!
//! Not done: the reference drains the link for 200 ms after the first
//! `EchoReply`; here late `EchoReply`s are only logged as unexpected.

use libdrtio::{Frame, Packet, MAX_PACKET};
use log::{debug, error, info, warn};

use super::tsc::TSC_ACK_TIMEOUT_US;
use super::Links;
use crate::hal::{AuxLink, LinkError, RepeaterFault, Rtio};
use crate::outbox::Queue;

/// Ping period and how many pings a link gets to answer.
const PING_PERIOD_US: u64 = 100_000;
const MAX_PINGS: u32 = 200;
/// Time a downstream satellite has to acknowledge one routing packet.
const ACK_TIMEOUT_US: u64 = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeaterState {
    Down,
    Ping { sent: u32, next: u64 },
    /// The TSC was sent down; the satellite below acknowledges by
    /// `deadline`.
    Tsc { deadline: u64 },
    /// Sending routing table row `row`, acknowledged by `deadline`.
    Routing { row: u16, deadline: u64 },
    Rank { deadline: u64 },
    Up,
    Failed,
}

impl Links {
    /// One pass over downstream link `i`: follows its state, then takes one
    /// packet from it. Returns the length of a packet from a link that is
    /// up, left in `buf` for the dispatcher; packets of the set-up are
    /// handled here.
    pub fn poll_repeater(
        &mut self,
        i: usize,
        link: &mut dyn AuxLink,
        rtio: &mut dyn Rtio,
        now: u64,
        buf: &mut [u8; MAX_PACKET],
    ) -> Option<usize> {
        let up = link.is_up();
        let state = self.repeaters[i];
        let next = match (up, state) {
            (false, RepeaterState::Down) => return None,
            (false, _) => {
                info!("repeater {}: link down", i);
                self.outbox.clear_downstream(i as u8);
                self.tsc_link_lost(i);
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
                    let ok = send_now(link, &Packet::EchoRequest);
                    RepeaterState::Ping { sent: sent + ok as u32, next: now + PING_PERIOD_US }
                }
            }
            (true, RepeaterState::Tsc { deadline }) if now >= deadline => {
                error!("repeater {}: no TSCAck from below, giving up until the link drops", i);
                RepeaterState::Failed
            }
            (true, RepeaterState::Routing { deadline, .. } | RepeaterState::Rank { deadline }) if now >= deadline => {
                warn!("repeater {}: routing set-up not acknowledged, giving up until the link drops", i);
                RepeaterState::Failed
            }
            (true, s) => s,
        };
        self.repeaters[i] = next;
        self.receive_repeater(i, link, rtio, now, buf)
    }

    /// Takes one packet from repeater `i`.
    fn receive_repeater(
        &mut self,
        i: usize,
        link: &mut dyn AuxLink,
        rtio: &mut dyn Rtio,
        now: u64,
        buf: &mut [u8; MAX_PACKET],
    ) -> Option<usize> {
        let n = match link.receive(buf) {
            Ok(Some(n)) => n.min(MAX_PACKET),
            Ok(None) => return None,
            Err(e) => {
                warn!("repeater {}: link error {:?}", i, e);
                return None;
            }
        };
        if self.repeaters[i] == RepeaterState::Up {
            return Some(n);
        }
        let packet = match Packet::decode(&buf[..n]) {
            Ok((p, _)) => p,
            Err(e) => {
                warn!("repeater {}: bad packet: {}", i, e);
                return None;
            }
        };
        match (self.repeaters[i], packet) {
            (RepeaterState::Ping { .. }, Packet::EchoReply) => match rtio.repeater_set_time(i) {
                Ok(()) => {
                    info!("repeater {}: answered, TSC sent down", i);
                    self.repeaters[i] = RepeaterState::Tsc { deadline: now + TSC_ACK_TIMEOUT_US };
                }
                Err(RepeaterFault::Absent) => {
                    warn!("repeater {}: answered; this board cannot set the TSC below it, sending the routing table", i);
                    self.send_routing_row(i, link, 0, now);
                }
                Err(e) => {
                    error!("repeater {}: TSC sync failed ({:?}), giving up until the link drops", i, e);
                    self.repeaters[i] = RepeaterState::Failed;
                }
            },
            (RepeaterState::Tsc { .. }, Packet::TSCAck) => {
                info!("repeater {}: TSC synced, sending the routing table", i);
                self.send_routing_row(i, link, 0, now);
            }
            (state, Packet::TSCAck) => debug!("repeater {}: TSCAck in state {:?} ignored", i, state),
            (RepeaterState::Routing { row, .. }, Packet::RoutingAck) => self.send_routing_row(i, link, row + 1, now),
            (RepeaterState::Rank { .. }, Packet::RoutingAck) => {
                info!("repeater {}: up", i);
                self.repeaters[i] = RepeaterState::Up;
            }
            (state, p) => warn!("repeater {}: unexpected packet {:#04x} in state {:?}", i, p.packet_id(), state),
        }
        None
    }

    fn send_routing_row(&mut self, i: usize, link: &mut dyn AuxLink, row: u16, now: u64) {
        let deadline = now + ACK_TIMEOUT_US;
        if row < 256 {
            let destination = row as u8;
            let hops = *self.routing.path(destination);
            send_now(link, &Packet::RoutingSetPath { destination, hops });
            self.repeaters[i] = RepeaterState::Routing { row, deadline };
        } else {
            let rank = self.rank.saturating_add(1);
            send_now(link, &Packet::RoutingSetRank { rank });
            self.repeaters[i] = RepeaterState::Rank { deadline };
        }
    }

    /// Relays upstream, as it is, a packet from repeater `i` that answers a
    /// request we forwarded.
    pub fn relay_upstream(&mut self, i: usize, raw: &[u8]) {
        match Frame::from_bytes(raw) {
            Ok(frame) => {
                if self.outbox.push(Queue::Upstream, frame, true).is_err() {
                    warn!("upstream queue full: reply from repeater {} dropped", i);
                }
            }
            Err(e) => warn!("cannot relay a reply from repeater {}: {}", i, e),
        }
    }
}

/// Sends a management packet on a repeater link now, bypassing its queue.
fn send_now(link: &mut dyn AuxLink, packet: &Packet<'_>) -> bool {
    let Ok(frame) = Frame::encode(packet) else { return false };
    !matches!(link.transmit(frame.as_bytes()), Err(LinkError::Busy))
}
