//! Fakes the parts' unit tests share: an RTIO core that records which
//! initiator was selected, a settable clock, and wires that keep what the
//! part sent.

use alloc::vec::Vec;
use core::cell::Cell;

use libdrtio::{Frame, Packet};

use crate::hal::{Clock, Initiator, Rtio, RtioError};
use crate::wire::Wire;

/// Records every initiator selected; nothing else happens.
#[derive(Default)]
pub struct FakeRtio(pub Vec<Initiator>);

impl Rtio for FakeRtio {
    fn select(&mut self, initiator: Initiator) {
        self.0.push(initiator);
    }
    fn reset(&mut self) {}
    fn hold_reset(&mut self, _: bool) {}
    fn take_error(&mut self) -> Option<RtioError> {
        None
    }
    fn set_route(&mut self, _: u8, _: u8) {}
    fn take_tsc_loaded(&mut self) -> bool {
        false
    }
}

/// A clock the test moves.
pub struct FakeClock(pub Cell<u64>);

impl Clock for FakeClock {
    fn now_us(&self) -> u64 {
        self.0.get()
    }
}

/// Every packet sent, with its destination (0 for a reply upstream); our
/// own destination is 5 and every queue has room.
#[derive(Default)]
pub struct Sent(pub Vec<(u8, Frame)>);

impl Wire for Sent {
    fn own(&self) -> u8 {
        5
    }
    fn reply(&mut self, packet: &Packet<'_>) {
        self.0.push((0, Frame::encode(packet).unwrap()));
    }
    fn late_reply(&mut self, destination: u8, packet: &Packet<'_>) {
        self.0.push((destination, Frame::encode(packet).unwrap()));
    }
    fn send_routed(&mut self, destination: u8, packet: &Packet<'_>) -> bool {
        self.0.push((destination, Frame::encode(packet).unwrap()));
        true
    }
    fn room_towards(&self, _: u8) -> usize {
        32
    }
}

/// Replies only (destination 1, nothing routable leaves), as encoded bytes.
#[derive(Default)]
pub struct Replies(pub Vec<Vec<u8>>);

impl Replies {
    pub fn packets(&self) -> Vec<Packet<'_>> {
        self.0.iter().map(|b| Packet::decode(b).unwrap().0).collect()
    }
}

impl Wire for Replies {
    fn own(&self) -> u8 {
        1
    }
    fn reply(&mut self, packet: &Packet<'_>) {
        let mut b = [0u8; libdrtio::MAX_PACKET];
        let n = packet.encode(&mut b).unwrap();
        self.0.push(b[..n].to_vec());
    }
    fn late_reply(&mut self, _: u8, packet: &Packet<'_>) {
        self.reply(packet)
    }
    fn send_routed(&mut self, _: u8, _: &Packet<'_>) -> bool {
        false
    }
    fn room_towards(&self, _: u8) -> usize {
        0
    }
}
