//! The whole Kasli-SoC start-up on the host, up to link-up with the master
//! simulator: libkasli's start-up on its board model (identifier, I2C
//! switches, SFP expanders, Si5324, clock switch with the 50 ms PL
//! silence), then the satellite core over satman's gateware drivers
//! (`GatewareAux`, `GatewareRtio`, the uplink's recovered-clock step) on a
//! CSR bus model wired to the master's link, until the master's
//! `init_link` and TSC load succeed. No PL access may fall in the board
//! model's dead sys window, from the start-up or from the drivers.

use std::time::{Duration, Instant};

use libdma::{Arena, Store};
use libdrtio::Frame;
use libkasli::model::{BoardSpec, Sim as BoardSim};
use libkasli::{start, BoardConfig};
use satman::gateware::uplink::ClockedUplink;
use satman::gateware::{GatewareAux, GatewareRtio};
use satman::hal::Hardware;
use satman::mgmt::CardStore;
use satman::{Config, Satellite};
use satman_systest::master::{Master, MasterError, Transport};
use satman_systest::sim::kasli::{now_us, rtio_released, KasliBus, KasliHost, ModelClocking};
use satman_systest::sim::{blank_card, LinkShared, RtioShared, SimClock, SimCpu, SimDma, SimI2c, SimMoninj, SimSystem};
use std::sync::Arc;

struct KasliTransport {
    sat: Satellite<KasliHost>,
    link: Arc<LinkShared>,
    bus: KasliBus,
}

impl Transport for KasliTransport {
    fn send(&mut self, frame: &[u8]) -> Result<(), MasterError> {
        self.link.master_send(frame);
        Ok(())
    }
    fn recv(&mut self, deadline: Instant) -> Result<Option<Frame>, MasterError> {
        loop {
            self.sat.poll();
            if let Some(bytes) = self.link.master_recv() {
                return Frame::from_bytes(&bytes).map(Some).map_err(|e| MasterError::Corrupt(e.to_string()));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }
    fn set_time(&mut self) -> Result<(), MasterError> {
        self.bus.load_tsc();
        Ok(())
    }
}

/// Board start-up on the model, then the satellite on the gateware drivers.
fn boot() -> (BoardSim, Master<KasliTransport>) {
    satman_systest::sim::system::init_logger();
    let board_sim = BoardSim::new(&BoardSpec::default());
    let mut i2c = board_sim.bitbang();
    let mut csr = board_sim.csr();
    let mut timer = board_sim.timer();
    let board = start(&mut i2c, &mut csr, &mut timer, &BoardConfig::default()).expect("board start-up");
    assert!(board_sim.violations().is_empty(), "{:?}", board_sim.violations());

    let link = LinkShared::new();
    let bus = KasliBus::new(board_sim.world.clone(), link.clone());
    let aux = GatewareAux::new(bus.clone(), 0).expect("drtioaux0 in the map");
    let uplink = ClockedUplink::new(aux, ModelClocking { board, i2c, csr, timer }, now_us);
    let rtio = RtioShared::new();
    let heap = satman_systest::heap::Tracker::new();
    let hw = Hardware::<KasliHost> {
        uplink,
        repeaters: Vec::new(),
        cpu: SimCpu::new(rtio.clone(), heap.slot()),
        rtio: GatewareRtio::new(bus.clone(), now_us as fn() -> u64),
        dma: SimDma::new(rtio.clone()),
        analyzer: satman::hal::NoAnalyzer,
        clock: SimClock::new(),
        config: CardStore::mount(Ok(blank_card(satman_systest::sim::CARD_BLOCKS))),
        system: SimSystem::default(),
        moninj: SimMoninj(rtio),
        i2c: SimI2c::new(&BoardSpec::default()),
    };
    let sat = Satellite::new(hw, Store::new(Arena::with_capacity(1 << 20).unwrap()), Config::default());
    (board_sim, Master::new(KasliTransport { sat, link, bus }))
}

#[test]
fn kasli_start_up_then_link_up_with_the_master() {
    let (board, mut master) = boot();
    // No signal on the uplink yet: the satellite stays down, on its local
    // clock, with the RTIO core held.
    for _ in 0..100 {
        master.transport.sat.poll();
    }
    assert!(!rtio_released(&master.transport.bus));
    assert!(master.echo().is_err(), "nobody answers before rx_up");

    // The master's transmitter lights the uplink: the board switches to
    // the recovered clock and calibrates, the aux channel is reset, the
    // resets are released, and the master's bring-up goes through.
    board.set_link_rx_up(true);
    up(&mut master);
    master.init_link(1).unwrap();
    master.load_tsc().unwrap();
    let t = &master.transport;
    assert!(rtio_released(&t.bus));
    assert!(t.sat.hw.uplink.clocking.as_ref().unwrap().board.on_recovered_clock());
    let (frames_in, frames_out) = t.bus.frames();
    assert!(frames_in >= 259 && frames_out >= 259, "{frames_in} in, {frames_out} out");
    assert!(board.violations().is_empty(), "PL accesses in the dead window: {:?}", board.violations());

    // The link drops: back to the local clock, the core held again, and a
    // new link-up goes through the same steps.
    board.set_link_rx_up(false);
    let deadline = Instant::now() + Duration::from_secs(5);
    while rtio_released(&master.transport.bus) && Instant::now() < deadline {
        master.transport.sat.poll();
    }
    assert!(!rtio_released(&master.transport.bus));
    assert!(!master.transport.sat.hw.uplink.clocking.as_ref().unwrap().board.on_recovered_clock());
    board.set_link_rx_up(true);
    up(&mut master);
    master.init_link(1).unwrap();
    assert!(board.violations().is_empty(), "{:?}", board.violations());
}

/// Runs the satellite until its uplink is up (resets released). The
/// reference master pings up to 100 times for this: a ping sent while the
/// satellite is still switching clocks is dropped by its aux reset.
fn up(master: &mut Master<KasliTransport>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !rtio_released(&master.transport.bus) {
        assert!(Instant::now() < deadline, "the uplink did not come up");
        master.transport.sat.poll();
    }
}
