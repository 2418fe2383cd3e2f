//! Lending the parts what they may touch, and the work two parts do
//! together.
//!
//! Each part is called with a context built here from the satellite's
//! fields, so a part cannot reach another part's state. The cooperations:
//!
//! - a kernel's DMA playback: the kernels part drives its stages and asks
//!   for the engine through [`kernels::Engine`], which [`KernelDma`]
//!   implements over the DDMA part's bookkeeping (the teardown abandons a
//!   playback the same way);
//! - a master's playback is refused while a kernel runs
//!   ([`Satellite::master_playback`]);
//! - a reset or link loss ends the kernel, then the master's playback
//!   ([`Satellite::end_everything`]);
//! - CPU0's memory budget: every part gets it in its context to admit what
//!   an input would add, and after every call the satellite measures what
//!   that part holds now ([`Satellite::measure`]), so the figures follow
//!   every free without the parts having to report it.

use libdma::{Key, Store, StoreError};
use libdrtio::{Packet, PayloadStatus};
use libksupport::msg::PlaybackStatus;
use log::warn;

use super::Satellite;
use crate::budget::Kind;
use crate::ddma::{self, Ddma};
use crate::hal::{Clock, DmaEngine, Initiator, Platform, Rtio};
use crate::kernels::{self, End, Kernels};
use crate::{i2c, mgmt, moninj};

/// The DMA engine lent to a kernel's playback: the engine and the DDMA
/// part that keeps its bookkeeping.
struct KernelDma<'a> {
    ddma: &'a mut Ddma,
    dma: &'a mut dyn DmaEngine,
}

impl kernels::Engine for KernelDma<'_> {
    fn busy(&self, store: &Store) -> bool {
        self.ddma.busy(store)
    }

    fn start(&mut self, rtio: &mut dyn Rtio, store: &mut Store, key: Key, timestamp: u64) -> Result<(), StoreError> {
        self.ddma.start_for_kernel(self.dma, rtio, store, key, timestamp)
    }

    fn poll(&mut self) -> Option<PlaybackStatus> {
        self.dma.poll()
    }

    fn finish(&mut self, rtio: &mut dyn Rtio, store: &mut Store) {
        self.ddma.finish_for_kernel(rtio, store)
    }

    fn abandon(&mut self, store: &mut Store) {
        self.ddma.abandon(self.dma, store)
    }
}

impl<P: Platform> Satellite<P> {
    /// Calls the kernels part with what it may touch.
    pub(super) fn with_kernels<R>(&mut self, f: impl FnOnce(&mut Kernels, &mut kernels::Ctx<'_>) -> R) -> R {
        let Satellite { hw, config, stats, links, store, kernels, ddma, budget, .. } = self;
        let mut net = links.net(&mut hw.uplink);
        let mut engine = KernelDma { ddma, dma: &mut hw.dma };
        let r = f(
            kernels,
            &mut kernels::Ctx {
                cpu: &mut hw.cpu,
                rtio: &mut hw.rtio,
                clock: &hw.clock,
                store,
                engine: &mut engine,
                wire: &mut net,
                config,
                stats: &mut *stats,
                budget: &mut *budget,
            },
        );
        kernels.account(budget);
        budget.set(Kind::TraceIndex, store.index_bytes());
        let counts = net.counts();
        stats.packets_out += counts.sent;
        stats.dropped_packets += counts.dropped;
        r
    }

    /// Calls the DDMA part with what it may touch.
    pub(super) fn with_ddma<R>(&mut self, f: impl FnOnce(&mut Ddma, &mut ddma::Ctx<'_>) -> R) -> R {
        let Satellite { hw, config, stats, links, store, ddma, budget, .. } = self;
        let mut net = links.net(&mut hw.uplink);
        let r = f(
            ddma,
            &mut ddma::Ctx {
                dma: &mut hw.dma,
                rtio: &mut hw.rtio,
                store,
                wire: &mut net,
                clock: &hw.clock,
                playback_timeout_us: config.playback_timeout_us,
                budget: &mut *budget,
            },
        );
        budget.set(Kind::TraceIndex, store.index_bytes());
        let counts = net.counts();
        stats.packets_out += counts.sent;
        stats.dropped_packets += counts.dropped;
        r
    }

    /// Calls the moninj part with the board's moninj core.
    pub(super) fn with_moninj<R>(&mut self, f: impl FnOnce(&mut moninj::Moninj, &mut moninj::Ctx<'_>) -> R) -> R {
        let Satellite { hw, stats, links, moninj, .. } = self;
        let mut net = links.net(&mut hw.uplink);
        let r = f(moninj, &mut moninj::Ctx { moninj: &mut hw.moninj, wire: &mut net });
        let counts = net.counts();
        stats.packets_out += counts.sent;
        stats.dropped_packets += counts.dropped;
        r
    }

    /// Hands an I2C request to the I2C part with the board's bus.
    pub(super) fn handle_i2c(&mut self, packet: &Packet<'_>) {
        let Satellite { hw, stats, links, i2c, .. } = self;
        let mut net = links.net(&mut hw.uplink);
        i2c.handle(&mut i2c::Ctx { bus: &mut hw.i2c, wire: &mut net }, packet);
        let counts = net.counts();
        stats.packets_out += counts.sent;
        stats.dropped_packets += counts.dropped;
    }

    /// Hands a core management request to its owner and sends the reply.
    pub(super) fn handle_mgmt(&mut self, packet: Packet<'_>) {
        let mut ctx = mgmt::Ctx {
            config: &mut self.hw.config,
            system: &mut self.hw.system,
            arena: self.store.arena_stats(),
            now_us: self.hw.clock.now_us(),
            budget: &mut self.budget,
        };
        let reply = self.mgmt.handle(packet, &mut ctx);
        self.budget.set(Kind::Mgmt, self.mgmt.held_bytes());
        if let Some(frame) = reply {
            self.reply_frame(frame);
        }
    }

    /// Measures what every part holds now (after a reset or link change,
    /// which drop much at once).
    pub(super) fn measure(&mut self) {
        self.kernels.account(&mut self.budget);
        self.budget.set(Kind::TraceIndex, self.store.index_bytes());
        self.budget.set(Kind::Mgmt, self.mgmt.held_bytes());
    }

    /// `DmaPlaybackRequest`: refused while a kernel runs (it drives the
    /// RTIO), else started by the DDMA part.
    pub(super) fn master_playback(&mut self, source: u8, id: u32, timestamp: u64) {
        let running = self.kernels.running();
        self.with_ddma(|d, ctx| {
            let succeeded = if running {
                warn!("DMA playback refused: a subkernel is running");
                false
            } else {
                d.start(ctx, source, id, timestamp)
            };
            ctx.wire.late_reply(source, &Packet::DmaPlaybackReply { destination: source, succeeded });
        });
    }

    /// Watches the DMA engine for whichever playback holds it: the
    /// master's, else the running kernel's.
    pub(super) fn poll_playbacks(&mut self) {
        if !self.with_ddma(|d, ctx| d.poll(ctx)) {
            self.with_kernels(|k, ctx| k.poll_playback(ctx));
        }
    }

    /// `SubkernelAddDataRequest` for this satellite.
    pub(super) fn kernel_upload(&mut self, id: u32, status: PayloadStatus, data: &[u8]) {
        self.with_kernels(|k, ctx| k.upload(ctx, id, status, data));
    }

    /// The one teardown of whatever kernel CPU1 holds (see
    /// [`Kernels::end`]).
    pub(super) fn end_kernel(&mut self, how: End) {
        self.with_kernels(|k, ctx| k.end(ctx, how));
    }

    /// `ResetRequest`, link loss: stop every kernel and playback and give the
    /// RTIO back to the master.
    pub(super) fn end_everything(&mut self, how: End) {
        self.end_kernel(how);
        self.with_ddma(|d, ctx| d.stop(ctx));
        self.hw.rtio.select(Initiator::Drtio);
    }
}
