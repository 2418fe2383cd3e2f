//! The simulated satellite's I2C bus: libkasli's model of the Kasli-SoC
//! bus (two switches, the SFP I/O expanders, the Si5324) behind the real
//! bit-banged master and the firmware's adapter, so I2C over DRTIO is
//! tested down to the pins.

use std::cell::RefCell;
use std::rc::Rc;

use libkasli::model::{BoardSpec, ModelPins, ModelTimer, Sim};
use satman::gateware::board_i2c::BoardI2cBus;
use satman::hal::{I2cBus, I2cError};

pub struct SimI2c {
    /// The board model (devices, pins, violations), for tests.
    pub model: Sim,
    bus: BoardI2cBus<ModelPins, ModelTimer>,
}

impl SimI2c {
    pub fn new(spec: &BoardSpec) -> SimI2c {
        let model = Sim::new(spec);
        let mut bb = model.bitbang();
        // As the board start-up leaves it: idle, switches out of reset.
        let _ = bb.init();
        let bus = BoardI2cBus::new(Rc::new(RefCell::new(bb)), spec.switch);
        SimI2c { model, bus }
    }
}

impl I2cBus for SimI2c {
    fn start(&mut self) -> Result<(), I2cError> {
        self.bus.start()
    }
    fn restart(&mut self) -> Result<(), I2cError> {
        self.bus.restart()
    }
    fn stop(&mut self) -> Result<(), I2cError> {
        self.bus.stop()
    }
    fn write(&mut self, byte: u8) -> Result<bool, I2cError> {
        self.bus.write(byte)
    }
    fn read(&mut self, ack: bool) -> Result<u8, I2cError> {
        self.bus.read(ack)
    }
    fn switch_control(&self, address: u8, channel: Option<u8>) -> u8 {
        self.bus.switch_control(address, channel)
    }
}
