//! The aux packet dispatcher: link and routing management, forwarding, and
//! handing each request to the part of the satellite that owns it.
//!
//! Every request gets its reply before `dispatch` returns (or is forwarded
//! to the repeater that serves its destination); nothing here waits.

use libdrtio::{Packet, Route, MAX_HOPS};
use log::{debug, warn};

use crate::hal::{Platform, Rtio, RtioError};
use crate::outbox::Queue;
use crate::satellite::Satellite;

/// Where a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Uplink,
    /// A routable packet this satellite sent to itself.
    Local,
    Repeater(u8),
}

impl<P: Platform> Satellite<P> {
    /// Where `destination` is, seen from here.
    pub(crate) fn route(&self, destination: u8) -> Route {
        if destination == self.own {
            return Route::Local;
        }
        if destination == 0 {
            // The master: always upstream, whatever the table says.
            return Route::Unreachable;
        }
        match self.routing.route(destination, self.rank, self.hw.repeaters.len()) {
            // A satellite below a link that is not up is out of reach.
            Route::Repeater(i) if self.repeaters[i as usize] != crate::repeater::RepeaterState::Up => Route::Unreachable,
            r => r,
        }
    }

    /// Handles a request that names a destination hop by hop: returns true
    /// if it is for us (learning our own destination number on the way),
    /// false once it has been forwarded or refused.
    fn for_us(&mut self, destination: u8, packet: &Packet<'_>) -> bool {
        match self.route(destination) {
            Route::Local => {
                self.own = destination;
                true
            }
            Route::Repeater(i) => {
                if self.outbox.push_packet(Queue::Downstream(i), packet).is_err() {
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

    pub(crate) fn dispatch(&mut self, packet: Packet<'_>) {
        self.dispatch_from(Origin::Uplink, packet)
    }

    pub(crate) fn dispatch_from(&mut self, origin: Origin, packet: Packet<'_>) {
        // Routable packets for another destination only pass through.
        if let Some(dest) = packet.routable_destination() {
            if dest != self.own {
                match self.route(dest) {
                    Route::Local => {}
                    Route::Repeater(i) => {
                        let _ = self.outbox.push_packet(Queue::Downstream(i), &packet);
                        return;
                    }
                    Route::Unreachable if origin == Origin::Uplink => {
                        warn!("packet {:#04x} for unreachable destination {} dropped", packet.packet_id(), dest);
                        self.stats.unexpected_packets += 1;
                        return;
                    }
                    Route::Unreachable => {
                        self.send_upstream(&packet);
                        return;
                    }
                }
            }
        }

        match packet {
            Packet::EchoRequest => self.reply(&Packet::EchoReply),
            Packet::ResetRequest => self.handle_reset(),
            Packet::DestinationStatusRequest { destination } => self.handle_destination_status(destination, &packet),
            Packet::RoutingSetPath { destination, hops } => {
                self.routing.set_path(destination, hops);
                self.broadcast_downstream(&packet);
                self.reply(&Packet::RoutingAck);
            }
            Packet::RoutingSetRank { rank } => self.handle_set_rank(rank),

            Packet::MonitorRequest { destination, .. } => {
                if self.for_us(destination, &packet) {
                    self.reply(&Packet::MonitorReply { value: 0 });
                }
            }
            Packet::InjectionRequest { destination, .. } => {
                if self.for_us(destination, &packet) {
                    debug!("moninj injection ignored: no moninj core on this board");
                }
            }
            Packet::InjectionStatusRequest { destination, .. } => {
                if self.for_us(destination, &packet) {
                    self.reply(&Packet::InjectionStatusReply { value: 0 });
                }
            }

            Packet::I2cStartRequest { destination, .. }
            | Packet::I2cRestartRequest { destination, .. }
            | Packet::I2cStopRequest { destination, .. }
            | Packet::I2cSwitchSelectRequest { destination, .. } => {
                if self.for_us(destination, &packet) {
                    warn!("I2C over DRTIO is not supported by this firmware");
                    self.reply(&Packet::I2cBasicReply { succeeded: false });
                }
            }
            Packet::I2cWriteRequest { destination, .. } => {
                if self.for_us(destination, &packet) {
                    warn!("I2C over DRTIO is not supported by this firmware");
                    self.reply(&Packet::I2cWriteReply { succeeded: false, ack: false });
                }
            }
            Packet::I2cReadRequest { destination, .. } => {
                if self.for_us(destination, &packet) {
                    warn!("I2C over DRTIO is not supported by this firmware");
                    self.reply(&Packet::I2cReadReply { succeeded: false, data: 0xff });
                }
            }
            Packet::SpiSetConfigRequest { destination, .. } | Packet::SpiWriteRequest { destination, .. } => {
                if self.for_us(destination, &packet) {
                    self.reply(&Packet::SpiBasicReply { succeeded: false });
                }
            }
            Packet::SpiReadRequest { destination, .. } => {
                if self.for_us(destination, &packet) {
                    self.reply(&Packet::SpiReadReply { succeeded: false, data: 0 });
                }
            }

            Packet::AnalyzerHeaderRequest { destination } => {
                if self.for_us(destination, &packet) {
                    // No analyzer capture on this firmware yet: report an
                    // empty buffer so the master moves on.
                    self.reply(&Packet::AnalyzerHeader { sent_bytes: 0, total_byte_count: 0, overflow_occurred: false });
                }
            }
            Packet::AnalyzerDataRequest { destination } => {
                if self.for_us(destination, &packet) {
                    self.reply(&Packet::AnalyzerData { last: true, data: &[] });
                }
            }

            // Master-commanded DDMA, and replies to our own DDMA uploads.
            Packet::DmaAddTraceRequest { source, id, status, data, .. } => self.handle_add_trace(source, id, status, data),
            Packet::DmaRemoveTraceRequest { source, id, .. } => self.handle_remove_trace(source, id),
            Packet::DmaPlaybackRequest { source, id, timestamp, .. } => self.handle_playback(source, id, timestamp),
            Packet::DmaAddTraceReply { source, id, succeeded, .. } => self.remote_trace_added(source, id, succeeded),
            Packet::DmaRemoveTraceReply { succeeded, .. } => {
                if !succeeded {
                    debug!("a remote destination had already forgotten one of our traces");
                }
            }
            Packet::DmaPlaybackReply { succeeded, .. } => self.remote_playback_started(succeeded),
            Packet::DmaPlaybackStatus { source, id, error, channel, timestamp, .. } => {
                self.remote_playback_status(source, id, error, channel, timestamp)
            }

            // Subkernels.
            Packet::SubkernelAddDataRequest { destination, id, status, data } => {
                if self.for_us(destination, &packet) {
                    self.handle_add_data(id, status, data);
                } else if self.route(destination) == Route::Unreachable {
                    self.reply(&Packet::SubkernelAddDataReply { succeeded: false });
                }
            }
            Packet::SubkernelLoadRunRequest { source, id, run, timestamp, .. } => {
                self.handle_load_run(source, id, run, timestamp)
            }
            Packet::SubkernelExceptionRequest { source, .. } => self.handle_exception_request(source),
            Packet::SubkernelMessage { source, id, status, data, .. } => self.handle_message(source, id, status, data),
            Packet::SubkernelMessageAck { .. } => self.message_acked(),
            Packet::SubkernelFinished { id, with_exception, exception_src, .. } => {
                self.remote_subkernel_finished(id, with_exception, exception_src)
            }
            Packet::SubkernelLoadRunReply { succeeded, .. } => self.remote_load_run_reply(succeeded),
            Packet::SubkernelException { last, data, .. } => self.remote_exception_slice(last, data),

            // Core management.
            Packet::CoreMgmtGetLogRequest { destination, .. }
            | Packet::CoreMgmtClearLogRequest { destination }
            | Packet::CoreMgmtConfigReadRequest { destination, .. }
            | Packet::CoreMgmtConfigReadContinue { destination }
            | Packet::CoreMgmtConfigWriteRequest { destination, .. }
            | Packet::CoreMgmtConfigRemoveRequest { destination, .. }
            | Packet::CoreMgmtConfigEraseRequest { destination }
            | Packet::CoreMgmtRebootRequest { destination }
            | Packet::CoreMgmtAllocatorDebugRequest { destination }
            | Packet::CoreMgmtFlashRequest { destination, .. }
            | Packet::CoreMgmtFlashAddDataRequest { destination, .. }
            | Packet::CoreMgmtDropLinkAck { destination } => {
                if self.for_us(destination, &packet) {
                    self.handle_mgmt(packet);
                } else if self.route(destination) == Route::Unreachable && packet.expects_response() {
                    self.reply(&Packet::CoreMgmtReply { succeeded: false });
                }
            }

            // CoaXPress: no grabber in this firmware. Say so instead of
            // letting the master time out.
            Packet::CXPReadRequest { destination, .. }
            | Packet::CXPWrite32Request { destination, .. }
            | Packet::CXPROIViewerSetupRequest { destination, .. }
            | Packet::CXPROIViewerDataRequest { destination } => {
                if self.for_us(destination, &packet) {
                    self.reply(&Packet::CXPError { data: b"no CoaXPress grabber on this satellite" });
                }
            }

            // Replies and notifications only a master (or a repeater's
            // upstream) receives.
            Packet::EchoReply
            | Packet::ResetAck
            | Packet::TSCAck
            | Packet::DestinationDownReply
            | Packet::DestinationOkReply
            | Packet::DestinationSequenceErrorReply { .. }
            | Packet::DestinationCollisionReply { .. }
            | Packet::DestinationBusyReply { .. }
            | Packet::RoutingAck
            | Packet::MonitorReply { .. }
            | Packet::InjectionStatusReply { .. }
            | Packet::I2cWriteReply { .. }
            | Packet::I2cReadReply { .. }
            | Packet::I2cBasicReply { .. }
            | Packet::SpiReadReply { .. }
            | Packet::SpiBasicReply { .. }
            | Packet::AnalyzerHeader { .. }
            | Packet::AnalyzerData { .. }
            | Packet::SubkernelAddDataReply { .. }
            | Packet::CoreMgmtDropLink
            | Packet::CoreMgmtGetLogReply { .. }
            | Packet::CoreMgmtConfigReadReply { .. }
            | Packet::CoreMgmtReply { .. }
            | Packet::CXPError { .. }
            | Packet::CXPWaitReply
            | Packet::CXPReadReply { .. }
            | Packet::CXPWrite32Reply
            | Packet::CXPROIViewerSetupReply
            | Packet::CXPROIViewerPixelDataReply { .. }
            | Packet::CXPROIViewerFrameDataReply { .. } => {
                self.stats.unexpected_packets += 1;
                warn!("received unexpected aux packet {:#04x}", packet.packet_id());
            }
        }
    }

    fn handle_reset(&mut self) {
        self.end_everything(crate::subkernel::End::Reset);
        self.hw.rtio.reset();
        self.broadcast_downstream(&Packet::ResetRequest);
        self.reply(&Packet::ResetAck);
    }

    fn handle_destination_status(&mut self, destination: u8, packet: &Packet<'_>) {
        match self.route(destination) {
            Route::Local => {
                self.own = destination;
                let reply = match self.hw.rtio.take_error() {
                    Some(RtioError::Sequence(channel)) => Packet::DestinationSequenceErrorReply { channel },
                    Some(RtioError::Collision(channel)) => Packet::DestinationCollisionReply { channel },
                    Some(RtioError::Busy(channel)) => Packet::DestinationBusyReply { channel },
                    None => Packet::DestinationOkReply,
                };
                self.reply(&reply);
            }
            Route::Repeater(i) => {
                if self.outbox.push_packet(Queue::Downstream(i), packet).is_err() {
                    self.reply(&Packet::DestinationDownReply);
                }
            }
            _ => self.reply(&Packet::DestinationDownReply),
        }
    }

    fn handle_set_rank(&mut self, rank: u8) {
        self.rank = rank;
        let mut local = None;
        for d in 0..=255u8 {
            let hop = if (rank as usize) < MAX_HOPS { self.routing.hop(d, rank) } else { libdrtio::INVALID_HOP };
            self.hw.rtio.set_route(d, hop);
            if hop == 0 && d != 0 {
                local = if local.is_none() { Some(d) } else { Some(0) };
            }
        }
        // The table names us (hop 0 at our rank): that is our destination.
        if let Some(d) = local.filter(|&d| d != 0) {
            self.own = d;
        }
        if let Some(next) = rank.checked_add(1) {
            self.broadcast_downstream(&Packet::RoutingSetRank { rank: next });
        }
        self.reply(&Packet::RoutingAck);
    }

    /// Sends a management packet to every repeater whose link is up. Their
    /// acknowledgements come back through the repeater polling and are
    /// dropped there.
    fn broadcast_downstream(&mut self, packet: &Packet<'_>) {
        for i in 0..self.hw.repeaters.len() {
            if self.repeaters[i] == crate::repeater::RepeaterState::Up {
                let _ = self.outbox.push_packet(Queue::Downstream(i as u8), packet);
            }
        }
    }
}
