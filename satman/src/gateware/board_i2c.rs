//! The Kasli-SoC's board I2C bus (bit-banged on MIO 50/51 by libkasli's
//! [`BitBang`]) as the [`hal::I2cBus`](crate::hal::I2cBus) the master's
//! I2C requests drive. Not a gateware driver: the bus is on the PS side,
//! but it is this board's, and the board start-up and the SFP LED service
//! share it, hence the shared handle.
//!
//! The switches at 0x70 and 0x71 are the board's own: their control byte
//! is the one for the part the start-up found (PCA9548 or PCA9547), so a
//! master's `I2cSwitchSelectRequest` connects the channel it names on
//! either part.

use alloc::rc::Rc;
use core::cell::RefCell;

use embedded_hal::delay::DelayNs;
use libkasli::bitbang::{self, BitBang, OpenDrain};
use libkasli::switch::{SwitchKind, SWITCH0, SWITCH1};

use crate::hal::{I2cBus, I2cError};

/// The bus, shared with the board code that also uses it (CPU0 only).
pub type SharedBus<P, D> = Rc<RefCell<BitBang<P, D>>>;

pub struct BoardI2cBus<P, D> {
    bus: SharedBus<P, D>,
    switches: SwitchKind,
}

impl<P: OpenDrain, D: DelayNs> BoardI2cBus<P, D> {
    pub fn new(bus: SharedBus<P, D>, switches: SwitchKind) -> Self {
        BoardI2cBus { bus, switches }
    }

    fn with<T>(&mut self, f: impl FnOnce(&mut BitBang<P, D>) -> Result<T, bitbang::Error>) -> Result<T, I2cError> {
        // The board code borrows the bus only inside its own calls, never
        // across a main-loop pass, so the bus is always free here; refuse
        // rather than panic if that ever changes.
        let mut bus = self.bus.try_borrow_mut().map_err(|_| I2cError::NoBus)?;
        f(&mut bus).map_err(|e| match e {
            bitbang::Error::ArbitrationLost | bitbang::Error::AddressNack | bitbang::Error::DataNack => {
                I2cError::ArbitrationLost
            }
            bitbang::Error::SclStuckLow | bitbang::Error::SdaStuckLow => I2cError::Stuck,
        })
    }
}

impl<P: OpenDrain, D: DelayNs> I2cBus for BoardI2cBus<P, D> {
    fn start(&mut self) -> Result<(), I2cError> {
        self.with(|b| b.raw_start())
    }
    fn restart(&mut self) -> Result<(), I2cError> {
        self.with(|b| b.raw_start())
    }
    fn stop(&mut self) -> Result<(), I2cError> {
        self.with(|b| b.raw_stop())
    }
    fn write(&mut self, byte: u8) -> Result<bool, I2cError> {
        self.with(|b| b.raw_write(byte))
    }
    fn read(&mut self, ack: bool) -> Result<u8, I2cError> {
        self.with(|b| b.raw_read(ack))
    }
    fn switch_control(&self, address: u8, channel: Option<u8>) -> u8 {
        let kind = if address == SWITCH0 || address == SWITCH1 { self.switches } else { SwitchKind::Pca9548 };
        kind.control(channel)
    }
}
