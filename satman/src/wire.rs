//! How a part of the satellite sends packets: the [`Wire`] it is handed.
//!
//! The kernels and the DDMA part never see the links, the routing table or
//! the outbox. They say what to send and to whom; the links part
//! (`links::Net`) finds the way, queues or transmits, and counts what it
//! sent and dropped.

use libdrtio::Packet;

/// `DmaPlaybackStatus` error bit: destination unreachable (also what a
/// playback that ran out of time reports: the wire has no timeout code).
pub const ERROR_UNREACHABLE: u8 = 2;

/// Sending packets from a part of the satellite.
pub trait Wire {
    /// This satellite's destination number.
    fn own(&self) -> u8;
    /// Sends a reply to the packet being handled: at once if the uplink is
    /// free, else ahead of everything queued.
    fn reply(&mut self, packet: &Packet<'_>);
    /// Sends a reply to `destination`, which may be the master (directly, or
    /// ahead of anything queued) or another satellite (routed).
    fn late_reply(&mut self, destination: u8, packet: &Packet<'_>);
    /// Queues a routable packet towards its destination. Returns false (the
    /// drop is logged and counted) if it could not be queued.
    fn send_routed(&mut self, destination: u8, packet: &Packet<'_>) -> bool;
    /// Room left in the queue towards `destination`.
    fn room_towards(&self, destination: u8) -> usize;
}
