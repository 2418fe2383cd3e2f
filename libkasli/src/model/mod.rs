//! The Kasli-SoC on the host: the I2C bus (two switches, the SFP I/O
//! expanders, the Si5324, and decoy devices behind switch 0x70 at the same
//! addresses, so a missing deselect shows as a collision), the gateware
//! CSRs with the dead sys-clock window, and simulated time.
//!
//! [`Sim`] owns one shared [`World`] and hands out the pieces the code
//! under test takes: [`ModelPins`] (pin level, for [`BitBang`]),
//! [`ModelI2c`] (transaction level), [`ModelCsr`] (`BoardCsr` and
//! `SiphaserCsr`) and [`ModelTimer`]. Time moves only when something
//! delays, so a test can assert how long a sequence took and that a fault
//! ends in bounded time.
//!
//! Hazards (a PL access in the dead window, an address answered by two
//! devices, an input switch without digital hold, `txenable` before the
//! clock switch was seen) are recorded in [`World::violations`].

pub mod devices;
pub mod logcap;
pub mod pins;
pub mod pl;

use std::cell::RefCell;
use std::format;
use std::rc::Rc;
use std::string::String;
use std::vec::Vec;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorType, I2c, Operation, SevenBitAddress};

use crate::bitbang::{self, BitBang, OpenDrain, Timing};
use crate::csr::BoardCsr;
use crate::expander::ExpanderKind;
use crate::siphaser::{SiphaserCsr, STEPS_PER_TURN};
use crate::switch::{BoardI2c, ResetLine, SwitchKind, SWITCH0, SWITCH1};
use crate::time::Timer;

use devices::{ExpanderModel, RegFile, Si5324Config, Si5324Model, SwitchModel};
use pins::{PinState, Transactions};
use pl::{PlConfig, PlModel};

/// The board to build.
#[derive(Debug, Clone)]
pub struct BoardSpec {
    pub switch: SwitchKind,
    /// Expander 0 and 1 (`None`: not fitted, or dead).
    pub expanders: [Option<ExpanderKind>; 2],
    /// `None`: no Si5324 answers.
    pub si5324: Option<Si5324Config>,
    pub pl: PlConfig,
    pub sda_stuck_low: bool,
    pub scl_stuck_low: bool,
    /// Clock stretching after each acknowledge.
    pub stretch_us: u64,
}

impl Default for BoardSpec {
    fn default() -> Self {
        BoardSpec {
            switch: SwitchKind::Pca9548,
            expanders: [Some(ExpanderKind::Mcp23017); 2],
            si5324: Some(Si5324Config::default()),
            pl: PlConfig::default(),
            sda_stuck_low: false,
            scl_stuck_low: false,
            stretch_us: 0,
        }
    }
}

/// Who answers an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Switch(usize),
    Expander(usize),
    Si5324,
    Decoy(usize),
}

/// A device behind switch 0x70 (the EEM side), at an address also used
/// behind 0x71 channel 3.
#[derive(Debug, Clone)]
pub struct Decoy {
    pub address: u8,
    pub channel: u8,
    pub file: RegFile,
}

/// Everything the model simulates.
#[derive(Debug)]
pub struct World {
    pub now_ns: u64,
    pub switches: [SwitchModel; 2],
    pub switch_reset: bool,
    pub expanders: Vec<ExpanderModel>,
    pub si5324: Option<Si5324Model>,
    pub decoys: Vec<Decoy>,
    pub pl: PlModel,
    pub pins: PinState,
    /// The uplink receiver has a signal (the recovered clock exists).
    pub link_rx_up: bool,
    pub violations: Vec<String>,
    current: Vec<Who>,
    /// Bytes moved on the bus (both directions), for cost checks.
    pub bytes: u64,
}

impl World {
    pub fn new(spec: &BoardSpec) -> World {
        let expanders = spec
            .expanders
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.map(|k| ExpanderModel::new(k, i as u8)))
            .collect();
        let decoys = [(0x20, 0), (0x21, 1), (0x68, 2), (0x74, 4)]
            .into_iter()
            .map(|(address, channel)| Decoy {
                address,
                channel,
                file: RegFile::default(),
            })
            .collect();
        let mut pins = PinState {
            stretch_ns: spec.stretch_us * 1000,
            ..PinState::default()
        };
        pins.sda_stuck_low = spec.sda_stuck_low;
        pins.scl_stuck_low = spec.scl_stuck_low;
        World {
            now_ns: 0,
            switches: [
                SwitchModel::new(SWITCH0, spec.switch),
                SwitchModel::new(SWITCH1, spec.switch),
            ],
            switch_reset: false,
            expanders,
            si5324: spec.si5324.clone().map(Si5324Model::new),
            decoys,
            pl: PlModel::new(spec.pl.clone()),
            pins,
            link_rx_up: false,
            violations: Vec::new(),
            current: Vec::new(),
            bytes: 0,
        }
    }

    pub fn violate(&mut self, what: String) {
        self.violations
            .push(format!("[{:.3} ms] {what}", self.now_ns as f64 / 1e6));
    }

    /// CKIN1 carries a clock: the local clock, or the recovered one while
    /// the uplink receives.
    pub fn ckin1(&self) -> bool {
        self.pl.switch_clocks == 0 || self.link_rx_up
    }

    pub fn si5324_locked(&self) -> bool {
        self.si5324
            .as_ref()
            .is_some_and(|s| s.locked(self.now_ns, self.ckin1()))
    }

    /// The uplink's receiver gains or loses the master's signal.
    pub fn set_link_rx_up(&mut self, up: bool) {
        if self.link_rx_up != up {
            self.link_rx_up = up;
            if self.pl.switch_clocks != 0 {
                let now = self.now_ns;
                if let Some(s) = self.si5324.as_mut() {
                    s.input_changed(now);
                }
            }
        }
    }

    fn reachable(&self, address: u8) -> Vec<Who> {
        let mut who = Vec::new();
        if self.switch_reset {
            return who;
        }
        for (i, s) in self.switches.iter().enumerate() {
            if s.address == address {
                who.push(Who::Switch(i));
            }
        }
        if self.switches[1].connects(3) {
            for (i, e) in self.expanders.iter().enumerate() {
                if e.address == address {
                    who.push(Who::Expander(i));
                }
            }
            if self.si5324.is_some() && address == crate::si5324::ADDRESS {
                who.push(Who::Si5324);
            }
        }
        for (i, d) in self.decoys.iter().enumerate() {
            if d.address == address && self.switches[0].connects(d.channel) {
                who.push(Who::Decoy(i));
            }
        }
        who
    }

    /// START and address byte: whether anyone acknowledged.
    pub fn i2c_start(&mut self, address: u8, read: bool) -> bool {
        self.bytes += 1;
        let who = self.reachable(address);
        if who.len() > 1 {
            self.violate(format!(
                "I2C address {address:#04x} answered by {who:?} at once"
            ));
        }
        for &w in &who {
            match w {
                Who::Switch(_) => {}
                Who::Expander(i) => self.expanders[i].file.start(read),
                Who::Si5324 => self.si5324.as_mut().expect("reachable").start(read),
                Who::Decoy(i) => self.decoys[i].file.start(read),
            }
        }
        self.current = who;
        !self.current.is_empty()
    }

    pub fn i2c_write(&mut self, byte: u8) -> bool {
        self.bytes += 1;
        let now = self.now_ns;
        let mut ack = false;
        for w in self.current.clone() {
            ack |= match w {
                Who::Switch(i) => {
                    let ok = self.switches[i].write(byte);
                    if self.switches[i].channels_on() > 1 {
                        self.violate(format!(
                            "switch {:#04x} has several channels on ({byte:#04x})",
                            self.switches[i].address
                        ));
                    }
                    ok
                }
                Who::Expander(i) => {
                    self.expanders[i].file.write(byte);
                    true
                }
                Who::Si5324 => self.si5324.as_mut().expect("reachable").write(now, byte),
                Who::Decoy(i) => {
                    self.decoys[i].file.write(byte);
                    true
                }
            };
        }
        ack
    }

    pub fn i2c_read(&mut self) -> u8 {
        self.bytes += 1;
        let now = self.now_ns;
        let ckin1 = self.ckin1();
        let mut value = 0xff;
        for w in self.current.clone() {
            value &= match w {
                Who::Switch(i) => self.switches[i].control,
                Who::Expander(i) => {
                    let f = &mut self.expanders[i].file;
                    let r = f.next_read();
                    f.regs[usize::from(r)]
                }
                Who::Si5324 => self.si5324.as_mut().expect("reachable").read(now, ckin1),
                Who::Decoy(i) => {
                    let f = &mut self.decoys[i].file;
                    let r = f.next_read();
                    f.regs[usize::from(r)]
                }
            };
        }
        value
    }

    pub fn i2c_stop(&mut self) {
        if let Some(s) = self.si5324.as_mut() {
            s.stop();
        }
        self.current.clear();
    }

    pub fn set_switch_reset(&mut self, asserted: bool) {
        self.switch_reset = asserted;
        if asserted {
            for s in self.switches.iter_mut() {
                s.reset();
            }
        }
    }

    fn pl_access(&mut self, what: &'static str, value: u32) -> bool {
        match self.pl.access(self.now_ns, what, value) {
            Some(v) => {
                self.violate(v);
                false
            }
            None => true,
        }
    }
}

impl Transactions for World {
    fn start(&mut self, address: u8, read: bool) -> bool {
        self.i2c_start(address, read)
    }
    fn write(&mut self, byte: u8) -> bool {
        self.i2c_write(byte)
    }
    fn read(&mut self) -> u8 {
        self.i2c_read()
    }
    fn stop(&mut self) {
        self.i2c_stop()
    }
}

/// One simulated board.
#[derive(Clone)]
pub struct Sim {
    pub world: Rc<RefCell<World>>,
}

impl Sim {
    pub fn new(spec: &BoardSpec) -> Sim {
        Sim {
            world: Rc::new(RefCell::new(World::new(spec))),
        }
    }

    pub fn pins(&self) -> ModelPins {
        ModelPins(self.world.clone())
    }
    pub fn timer(&self) -> ModelTimer {
        ModelTimer(self.world.clone())
    }
    pub fn i2c(&self) -> ModelI2c {
        ModelI2c(self.world.clone())
    }
    pub fn csr(&self) -> ModelCsr {
        ModelCsr(self.world.clone())
    }
    /// The bit-banged master on the model's pins, with the firmware's timing.
    pub fn bitbang(&self) -> BitBang<ModelPins, ModelTimer> {
        BitBang::new(self.pins(), self.timer(), Timing::KASLI)
    }
    pub fn now_ms(&self) -> f64 {
        self.world.borrow().now_ns as f64 / 1e6
    }
    pub fn violations(&self) -> Vec<String> {
        self.world.borrow().violations.clone()
    }
    pub fn set_link_rx_up(&self, up: bool) {
        self.world.borrow_mut().set_link_rx_up(up)
    }
}

/// The I2C lines and the switch reset, at pin level.
pub struct ModelPins(Rc<RefCell<World>>);

impl OpenDrain for ModelPins {
    fn set_scl(&mut self, high: bool) {
        let w = &mut *self.0.borrow_mut();
        let now = w.now_ns;
        let mut pins = w.pins.clone();
        pins::set_scl(&mut pins, w, now, high);
        w.pins = pins;
    }
    fn set_sda(&mut self, high: bool) {
        let w = &mut *self.0.borrow_mut();
        let now = w.now_ns;
        let mut pins = w.pins.clone();
        pins::set_sda(&mut pins, w, now, high);
        w.pins = pins;
    }
    fn scl(&mut self) -> bool {
        let w = self.0.borrow();
        w.pins.scl(w.now_ns)
    }
    fn sda(&mut self) -> bool {
        self.0.borrow().pins.sda()
    }
}

impl ResetLine for ModelPins {
    fn set_reset(&mut self, asserted: bool) {
        self.0.borrow_mut().set_switch_reset(asserted)
    }
}

/// Simulated time.
#[derive(Clone)]
pub struct ModelTimer(Rc<RefCell<World>>);

impl DelayNs for ModelTimer {
    fn delay_ns(&mut self, ns: u32) {
        self.0.borrow_mut().now_ns += u64::from(ns);
    }
}

impl Timer for ModelTimer {
    fn now_us(&self) -> u64 {
        self.0.borrow().now_ns / 1000
    }
}

/// The bus at transaction level (no pins), at about 50 kHz.
pub struct ModelI2c(Rc<RefCell<World>>);

/// Simulated time per byte on the transaction-level bus.
const BYTE_NS: u64 = 9 * 20_000;

impl ErrorType for ModelI2c {
    type Error = bitbang::Error;
}

impl I2c<SevenBitAddress> for ModelI2c {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), bitbang::Error> {
        let w = &mut *self.0.borrow_mut();
        if w.pins.sda_stuck_low {
            return Err(bitbang::Error::ArbitrationLost);
        }
        if w.pins.scl_stuck_low {
            return Err(bitbang::Error::SclStuckLow);
        }
        let mut previous = None;
        let result = (|| {
            for op in operations.iter_mut() {
                let read = matches!(op, Operation::Read(_));
                if previous != Some(read) {
                    w.now_ns += BYTE_NS;
                    if !w.i2c_start(address, read) {
                        return Err(bitbang::Error::AddressNack);
                    }
                }
                previous = Some(read);
                match op {
                    Operation::Write(bytes) => {
                        for &b in bytes.iter() {
                            w.now_ns += BYTE_NS;
                            if !w.i2c_write(b) {
                                return Err(bitbang::Error::DataNack);
                            }
                        }
                    }
                    Operation::Read(buf) => {
                        for b in buf.iter_mut() {
                            w.now_ns += BYTE_NS;
                            *b = w.i2c_read();
                        }
                    }
                }
            }
            Ok(())
        })();
        w.i2c_stop();
        result
    }
}

impl BoardI2c for ModelI2c {
    fn recover(&mut self) -> Result<(), bitbang::Error> {
        let w = self.0.borrow();
        if w.pins.scl_stuck_low {
            Err(bitbang::Error::SclStuckLow)
        } else if w.pins.sda_stuck_low {
            Err(bitbang::Error::SdaStuckLow)
        } else {
            Ok(())
        }
    }
    fn set_switch_reset(&mut self, asserted: bool) {
        self.0.borrow_mut().set_switch_reset(asserted)
    }
    fn delay_us(&mut self, us: u32) {
        self.0.borrow_mut().now_ns += u64::from(us) * 1000;
    }
}

/// The gateware CSRs the bring-up uses.
pub struct ModelCsr(Rc<RefCell<World>>);

impl BoardCsr for ModelCsr {
    fn write_identifier_address(&mut self, address: u8) {
        let w = &mut *self.0.borrow_mut();
        if w.pl_access("identifier.address", u32::from(address)) {
            w.pl.identifier_address = address;
        }
    }
    fn read_identifier_data(&mut self) -> u8 {
        let w = &mut *self.0.borrow_mut();
        let v = w.pl.identifier_byte();
        if w.pl_access("identifier.data", u32::from(v)) {
            v
        } else {
            0
        }
    }
    fn write_stable_clkin(&mut self, value: u32) {
        let w = &mut *self.0.borrow_mut();
        if w.pl_access("gt_drtio.stable_clkin", value)
            && value & 1 != 0
            && w.pl.stable_clkin_at.is_none()
        {
            let now = w.now_ns;
            w.pl.stable_clkin_at = Some(now);
            w.pl.switch_done_at = w
                .si5324_locked()
                .then_some(now + w.pl.config.switch_ms * 1_000_000);
        }
    }
    fn read_current_clock(&mut self) -> u32 {
        let w = &mut *self.0.borrow_mut();
        if !w.pl_access("sys_crg.current_clock", 0) {
            return 0;
        }
        let v = u32::from(w.pl.stable_clkin_at.is_some() && !w.pl.dead(w.now_ns));
        w.pl.current_clock_seen |= v == 1;
        v
    }
    fn write_txenable(&mut self, mask: u32) {
        let w = &mut *self.0.borrow_mut();
        if w.pl_access("gt_drtio.txenable", mask) {
            if !w.pl.current_clock_seen {
                w.violate(String::from(
                    "gt_drtio.txenable written before current_clock read 1",
                ));
            }
            w.pl.txenable = mask & 0b111;
        }
    }
}

impl SiphaserCsr for ModelCsr {
    fn write_switch_clocks(&mut self, value: u32) {
        let w = &mut *self.0.borrow_mut();
        if w.pl_access("siphaser.switch_clocks", value) && w.pl.switch_clocks != value & 1 {
            w.pl.switch_clocks = value & 1;
            let now = w.now_ns;
            let held = w.si5324.as_ref().is_some_and(|s| s.reg(3) & 0x20 != 0);
            if !held {
                w.violate(String::from("Si5324 input switched without digital hold"));
            }
            if let Some(s) = w.si5324.as_mut() {
                s.input_changed(now);
            }
        }
    }
    fn write_phase_shift(&mut self, direction: u32) {
        let w = &mut *self.0.borrow_mut();
        if w.pl_access("siphaser.phase_shift", direction) {
            w.pl.phase = if direction != 0 {
                (w.pl.phase + 1) % STEPS_PER_TURN
            } else {
                (w.pl.phase + STEPS_PER_TURN - 1) % STEPS_PER_TURN
            };
            w.pl.shift_done_at = w.now_ns + 2_000;
        }
    }
    fn read_phase_shift_done(&mut self) -> u32 {
        let w = &mut *self.0.borrow_mut();
        let done = w.now_ns >= w.pl.shift_done_at;
        if w.pl_access("siphaser.phase_shift_done", u32::from(done)) {
            u32::from(done)
        } else {
            0
        }
    }
    fn write_error(&mut self, value: u32) {
        let w = &mut *self.0.borrow_mut();
        w.pl_access("siphaser.error", value);
    }
    fn read_error(&mut self) -> u32 {
        let w = &mut *self.0.borrow_mut();
        let bad = w.pl.phase_bad();
        if w.pl_access("siphaser.error", u32::from(bad)) {
            u32::from(bad)
        } else {
            0
        }
    }
}
