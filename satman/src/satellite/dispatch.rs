//! The aux packet dispatcher: the one table of every packet, saying which
//! part of the satellite handles it — link and routing management and
//! forwarding here, kernels, DDMA and core management in their parts.
//!
//! Every request gets its reply before `dispatch` returns (or is forwarded
//! to the repeater that serves its destination); nothing here waits.

use libdrtio::{Packet, Route};
use log::{debug, warn};

use super::Satellite;
use crate::hal::{Platform, Rtio, RtioError};
use crate::kernels::End;

/// Where a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Uplink,
    /// A routable packet this satellite sent to itself.
    Local,
    Repeater(u8),
}

impl<P: Platform> Satellite<P> {
    pub(super) fn dispatch(&mut self, packet: Packet<'_>) {
        self.dispatch_from(Origin::Uplink, packet)
    }

    fn dispatch_from(&mut self, origin: Origin, packet: Packet<'_>) {
        // Routable packets for another destination only pass through.
        if let Some(dest) = packet.routable_destination() {
            if dest != self.links.own() {
                match self.links.route(dest) {
                    Route::Local => {}
                    Route::Repeater(i) => {
                        let _ = self.links.forward(i, &packet);
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
                self.links.set_path(destination, hops);
                self.links.broadcast_downstream(&packet);
                self.reply(&Packet::RoutingAck);
            }
            Packet::RoutingSetRank { rank } => self.handle_set_rank(rank),

            // Moninj for an unreachable destination gets no reply: its
            // replies have no failure code (`for_us` logs the drop).
            Packet::MonitorRequest { destination, channel, probe } => {
                if self.links.for_us(destination, &packet) {
                    self.with_moninj(|m, ctx| m.monitor(ctx, channel, probe));
                }
            }
            Packet::InjectionRequest { destination, channel, overrd, value } => {
                if self.links.for_us(destination, &packet) {
                    self.with_moninj(|m, ctx| m.inject(ctx, channel, overrd, value));
                }
            }
            Packet::InjectionStatusRequest { destination, channel, overrd } => {
                if self.links.for_us(destination, &packet) {
                    self.with_moninj(|m, ctx| m.injection_status(ctx, channel, overrd));
                }
            }

            Packet::I2cStartRequest { destination, .. }
            | Packet::I2cRestartRequest { destination, .. }
            | Packet::I2cStopRequest { destination, .. }
            | Packet::I2cSwitchSelectRequest { destination, .. }
            | Packet::I2cWriteRequest { destination, .. }
            | Packet::I2cReadRequest { destination, .. } => {
                if self.links.for_us(destination, &packet) {
                    self.handle_i2c(&packet);
                } else if self.links.route(destination) == Route::Unreachable {
                    // Say so at once rather than let the master's kernel
                    // wait out its timeout.
                    self.reply(&match packet {
                        Packet::I2cWriteRequest { .. } => Packet::I2cWriteReply { succeeded: false, ack: false },
                        Packet::I2cReadRequest { .. } => Packet::I2cReadReply { succeeded: false, data: 0xff },
                        _ => Packet::I2cBasicReply { succeeded: false },
                    });
                }
            }
            // SPI over DRTIO is refused, as the reference satellite does
            // (the Zynq master never sends it).
            Packet::SpiSetConfigRequest { destination, .. } | Packet::SpiWriteRequest { destination, .. } => {
                if self.links.for_us(destination, &packet) {
                    self.reply(&Packet::SpiBasicReply { succeeded: false });
                }
            }
            Packet::SpiReadRequest { destination, .. } => {
                if self.links.for_us(destination, &packet) {
                    self.reply(&Packet::SpiReadReply { succeeded: false, data: 0 });
                }
            }

            // The analyzer part: the header stops the capture, slices
            // follow until the last, which re-arms it.
            Packet::AnalyzerHeaderRequest { destination } => {
                if self.links.for_us(destination, &packet) {
                    let reply = self.analyzer.header(&mut self.hw.analyzer);
                    self.reply(&reply);
                }
            }
            Packet::AnalyzerDataRequest { destination } => {
                if self.links.for_us(destination, &packet) {
                    // The slice borrows the part; the reply goes out before
                    // the counts are taken.
                    let counts = {
                        let reply = self.analyzer.data(&mut self.hw.analyzer);
                        let mut net = self.links.net(&mut self.hw.uplink);
                        crate::wire::Wire::reply(&mut net, &reply);
                        net.counts()
                    };
                    self.count(counts);
                }
            }

            // Master-commanded DDMA, and replies to our own DDMA uploads.
            Packet::DmaAddTraceRequest { source, id, status, data, .. } => {
                self.with_ddma(|d, ctx| d.add_trace(ctx, source, id, status, data))
            }
            Packet::DmaRemoveTraceRequest { source, id, .. } => self.with_ddma(|d, ctx| d.remove_trace(ctx, source, id)),
            Packet::DmaPlaybackRequest { source, id, timestamp, .. } => self.master_playback(source, id, timestamp),
            Packet::DmaAddTraceReply { source, id, succeeded, .. } => {
                self.with_kernels(|k, ctx| k.remote_trace_added(ctx, source, id, succeeded))
            }
            Packet::DmaRemoveTraceReply { succeeded, .. } => {
                if !succeeded {
                    debug!("a remote destination had already forgotten one of our traces");
                }
            }
            Packet::DmaPlaybackReply { succeeded, .. } => self.with_kernels(|k, ctx| k.remote_playback_started(ctx, succeeded)),
            Packet::DmaPlaybackStatus { source, id, error, channel, timestamp, .. } => {
                self.with_kernels(|k, ctx| k.remote_playback_status(ctx, source, id, error, channel, timestamp))
            }

            // Subkernels.
            Packet::SubkernelAddDataRequest { destination, id, status, data } => {
                if self.links.for_us(destination, &packet) {
                    self.kernel_upload(id, status, data);
                } else if self.links.route(destination) == Route::Unreachable {
                    self.reply(&Packet::SubkernelAddDataReply { succeeded: false });
                }
            }
            Packet::SubkernelLoadRunRequest { source, id, run, timestamp, .. } => {
                self.with_kernels(|k, ctx| k.load_run(ctx, source, id, run, timestamp))
            }
            Packet::SubkernelExceptionRequest { source, .. } => self.with_kernels(|k, ctx| k.exception_request(ctx, source)),
            Packet::SubkernelMessage { source, id, status, data, .. } => {
                self.with_kernels(|k, ctx| k.message(ctx, source, id, status, data))
            }
            Packet::SubkernelMessageAck { .. } => self.with_kernels(|k, ctx| k.message_acked(ctx)),
            Packet::SubkernelFinished { id, with_exception, exception_src, .. } => {
                self.with_kernels(|k, ctx| k.remote_finished(ctx, id, with_exception, exception_src))
            }
            Packet::SubkernelLoadRunReply { succeeded, .. } => self.with_kernels(|k, ctx| k.remote_load_run_reply(ctx, succeeded)),
            Packet::SubkernelException { last, data, .. } => {
                self.with_kernels(|k, ctx| k.remote_exception_slice(ctx, last, data))
            }

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
                if self.links.for_us(destination, &packet) {
                    self.handle_mgmt(packet);
                } else if self.links.route(destination) == Route::Unreachable && packet.expects_response() {
                    self.reply(&Packet::CoreMgmtReply { succeeded: false });
                }
            }

            // CoaXPress: no grabber in this firmware. Say so instead of
            // letting the master time out.
            Packet::CXPReadRequest { destination, .. }
            | Packet::CXPWrite32Request { destination, .. }
            | Packet::CXPROIViewerSetupRequest { destination, .. }
            | Packet::CXPROIViewerDataRequest { destination } => {
                if self.links.for_us(destination, &packet) {
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

    /// A packet from a satellite below us whose link is up: routed by
    /// destination when it has one, else relayed upstream as the reply to
    /// a request we forwarded.
    pub(super) fn from_repeater(&mut self, i: usize, raw: &[u8]) {
        let (packet, len) = match Packet::decode(raw) {
            Ok(p) => p,
            Err(e) => {
                warn!("repeater {}: bad packet: {}", i, e);
                return;
            }
        };
        if packet.routable_destination().is_some() {
            return self.dispatch_from(Origin::Repeater(i as u8), packet);
        }
        match packet {
            // Acknowledgements of the management packets we broadcast.
            Packet::RoutingAck | Packet::ResetAck => {}
            // The satellite below has the TSC we passed down.
            Packet::TSCAck => self.links.tsc_acked(i),
            // Anything else answers a request we forwarded: relay it as is.
            _ => self.links.relay_upstream(i, &raw[..len]),
        }
    }

    fn handle_reset(&mut self) {
        self.end_everything(End::Reset);
        self.hw.rtio.reset();
        self.reset_repeaters();
        self.links.broadcast_downstream(&Packet::ResetRequest);
        self.reply(&Packet::ResetAck);
    }

    fn handle_destination_status(&mut self, destination: u8, packet: &Packet<'_>) {
        match self.links.route(destination) {
            Route::Local => {
                self.links.learn_own(destination);
                let reply = match self.hw.rtio.take_error() {
                    Some(RtioError::Sequence(channel)) => Packet::DestinationSequenceErrorReply { channel },
                    Some(RtioError::Collision(channel)) => Packet::DestinationCollisionReply { channel },
                    Some(RtioError::Busy(channel)) => Packet::DestinationBusyReply { channel },
                    None => Packet::DestinationOkReply,
                };
                self.reply(&reply);
            }
            Route::Repeater(i) => {
                if self.links.forward(i, packet).is_err() {
                    self.reply(&Packet::DestinationDownReply);
                }
            }
            _ => self.reply(&Packet::DestinationDownReply),
        }
    }

    fn handle_set_rank(&mut self, rank: u8) {
        self.links.set_rank(rank, &mut self.hw.rtio);
        if let Some(next) = rank.checked_add(1) {
            self.links.broadcast_downstream(&Packet::RoutingSetRank { rank: next });
        }
        self.reply(&Packet::RoutingAck);
    }
}
