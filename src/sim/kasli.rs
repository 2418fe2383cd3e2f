//! The Kasli-SoC on the host, end to end: libkasli's board model (I2C
//! devices, Si5324, clock switch with its dead sys window, siphaser) under
//! libkasli's start-up, and satman's gateware drivers (`GatewareAux`,
//! `GatewareRtio`) on a CSR bus model wired to the master simulator's link.
//!
//! [`KasliBus`] answers the `drtiosat` and `drtioaux0` registers and the
//! aux buffers as the gateware does (RX slots filled from the simulated
//! link, TX frames sent on it, `rx_up` = the link is up and the board
//! model's receiver has a signal, write-1-to-clear flags), and checks every
//! access against the board model's dead window: a driver touching the PL
//! while the sys domain is in reset is a violation of the model, as it
//! would stall CPU0 on the board. The kernel CPU, DMA engine, SD card,
//! moninj and I2C-over-DRTIO stay the host simulation's.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use libdrtio::MAX_PACKET;
use libkasli::bitbang::BitBang;
use libkasli::model::{self, ModelCsr, ModelPins, ModelTimer};
use libkasli::Board;
use libsdcard::MemDevice;
use satman::gateware::csr::{self, drtiosat};
use satman::gateware::uplink::{ClockedUplink, LinkClocking};
use satman::gateware::{Bus, GatewareAux, GatewareRtio};
use satman::hal::{AuxLink, Platform};
use satman::mgmt::CardStore;

use super::link::{LinkShared, SimLink};
use super::{SimClock, SimCpu, SimDma, SimI2c, SimMoninj, SimSystem};

/// Wall-clock microseconds (the drivers' clock: bounded waits, retries).
pub fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

struct BusState {
    mem: BTreeMap<usize, u32>,
    world: Rc<RefCell<model::World>>,
    /// The satellite's end of the master's link.
    link: SimLink,
    read_pointer: usize,
    /// A frame waits in the slot at `read_pointer`.
    present: bool,
    slots: usize,
    /// Frames sent and received through the aux buffers.
    frames_out: u64,
    frames_in: u64,
}

/// The satellite gateware's CSR bus (see the module docs). Clones share
/// the bus.
#[derive(Clone)]
pub struct KasliBus(Rc<RefCell<BusState>>);

impl KasliBus {
    pub fn new(world: Rc<RefCell<model::World>>, link: Arc<LinkShared>) -> KasliBus {
        let slots = csr::DRTIOAUX_MEM[0].rx.size() / MAX_PACKET;
        // The RTIO core and PHYs come out of gateware reset held.
        let mem = BTreeMap::from([(drtiosat::RESET.addr(), 1), (drtiosat::RESET_PHY.addr(), 1)]);
        KasliBus(Rc::new(RefCell::new(BusState {
            mem,
            world,
            link: SimLink::new(link),
            read_pointer: 0,
            present: false,
            slots,
            frames_out: 0,
            frames_in: 0,
        })))
    }

    /// The master's `set_time`: the RT link loads the TSC.
    pub fn load_tsc(&self) {
        self.0.borrow_mut().mem.insert(drtiosat::TSC_LOADED.addr(), 1);
    }

    /// A register's or memory word's value, without an access.
    pub fn peek(&self, addr: usize) -> u32 {
        self.0.borrow().mem.get(&addr).copied().unwrap_or(0)
    }

    /// (frames received by the satellite, frames it sent).
    pub fn frames(&self) -> (u64, u64) {
        let s = self.0.borrow();
        (s.frames_in, s.frames_out)
    }
}

impl BusState {
    /// Checks the access against the board model's dead sys window.
    fn check(&mut self, what: &'static str, value: u32) {
        let w = &mut *self.world.borrow_mut();
        let now = w.now_ns;
        if let Some(v) = w.pl.access(now, what, value) {
            w.violate(v);
        }
    }

    /// Fills the slot at the read pointer with the next frame, if any.
    fn fill(&mut self) {
        if self.present {
            return;
        }
        let mut buf = [0u8; MAX_PACKET];
        let Ok(Some(n)) = self.link.receive(&mut buf) else { return };
        let base = csr::DRTIOAUX_MEM[0].rx.base() + self.read_pointer * MAX_PACKET;
        for (i, chunk) in buf[..n].chunks(4).enumerate() {
            let mut w = [0u8; 4];
            w[..chunk.len()].copy_from_slice(chunk);
            self.mem.insert(base + 4 * i, u32::from_le_bytes(w));
        }
        self.present = true;
        self.frames_in += 1;
    }
}

impl Bus for KasliBus {
    fn read32(&self, addr: usize) -> u32 {
        let s = &mut *self.0.borrow_mut();
        s.check("satman read", 0);
        let aux = &csr::DRTIOAUX[0];
        if addr == drtiosat::RX_UP.addr() {
            (s.link.shared.is_up() && s.world.borrow().link_rx_up) as u32
        } else if addr == aux.aux_rx_present.addr() {
            s.fill();
            s.present as u32
        } else if addr == aux.aux_read_pointer.addr() {
            s.read_pointer as u32
        } else if addr == aux.aux_tx.addr() || addr == aux.aux_rx_error.addr() {
            0 // the transmitter is done at once; no receive errors
        } else {
            s.mem.get(&addr).copied().unwrap_or(0)
        }
    }

    fn write32(&self, addr: usize, value: u32) {
        let s = &mut *self.0.borrow_mut();
        s.check("satman write", value);
        let aux = &csr::DRTIOAUX[0];
        if addr == aux.aux_rx_present.addr() {
            assert!(s.present, "aux driver released an empty slot");
            s.present = false;
            s.read_pointer = (s.read_pointer + 1) % s.slots;
        } else if addr == aux.aux_tx.addr() {
            let len = s.mem.get(&aux.aux_tx_length.addr()).copied().unwrap_or(0) as usize;
            let base = csr::DRTIOAUX_MEM[0].tx.base();
            let bytes: Vec<u8> =
                (0..len.div_ceil(4)).flat_map(|i| s.mem.get(&(base + 4 * i)).copied().unwrap_or(0).to_le_bytes()).collect();
            let _ = s.link.transmit(&bytes[..len.min(bytes.len())]);
            s.frames_out += 1;
        } else if addr == drtiosat::TSC_LOADED.addr()
            || addr == drtiosat::RTIO_ERROR.addr()
            || addr == drtiosat::PROTOCOL_ERROR.addr()
        {
            *s.mem.entry(addr).or_default() &= !value;
        } else if addr == aux.aux_rx_error.addr() {
            // Write 1 to clear; never set here.
        } else {
            s.mem.insert(addr, value);
        }
    }
}

/// libkasli's link-up clocking on the board model: Si5324 to the recovered
/// clock and siphaser calibration, and back.
pub struct ModelClocking {
    pub board: Board,
    pub i2c: BitBang<ModelPins, ModelTimer>,
    pub csr: ModelCsr,
    pub timer: ModelTimer,
}

impl LinkClocking for ModelClocking {
    fn link_up(&mut self) -> bool {
        self.board.uplink_up(&mut self.i2c, &mut self.csr, &mut self.timer).is_ok()
    }
    fn link_down(&mut self) {
        let _ = self.board.uplink_down(&mut self.i2c, &mut self.csr, &mut self.timer);
    }
}

/// The Kasli-SoC on the host: gateware drivers on [`KasliBus`] for the
/// link and the RTIO core, the host simulation for the rest.
pub struct KasliHost;

impl Platform for KasliHost {
    type Link = ClockedUplink<GatewareAux<KasliBus>, ModelClocking>;
    type Cpu = SimCpu;
    type Rtio = GatewareRtio<KasliBus, fn() -> u64>;
    type Dma = SimDma;
    type Analyzer = satman::hal::NoAnalyzer;
    type Clock = SimClock;
    type Config = CardStore<MemDevice>;
    type System = SimSystem;
    type Moninj = SimMoninj;
    type I2c = SimI2c;
}

/// Whether the satellite released the RTIO core (`drtiosat.reset` 0 after
/// the uplink came up; the gateware starts it at 1).
pub fn rtio_released(bus: &KasliBus) -> bool {
    bus.peek(drtiosat::RESET.addr()) == 0 && bus.peek(drtiosat::RESET_PHY.addr()) == 0
}

