//! The Kasli-SoC's two I2C switches (7-bit 0x70 and 0x71), PCA9548 or
//! PCA9547 depending on the board, and the bus trait the board start-up
//! needs beyond plain transfers (bus recovery, the switches' reset line).
//!
//! The two parts have different control registers: the PCA9548 has one
//! enable bit per channel, the PCA9547 a channel number in bits 2:0 with an
//! enable bit 3. Written with the wrong encoding, "channel 3" selects
//! channels 0 and 1 on a PCA9548, or channel 0 on a PCA9547, and every
//! device behind the switch vanishes. So the type is probed (or set by a
//! board setting) once, right after a reset, and every select goes through
//! [`Pca954x::select`].
//!
//! Probe rule (as the upstream firmware uses on these boards): just after
//! the reset, switch 0x71's control register reads 0x00 on a PCA9548 and
//! 0x08 on a PCA9547; anything else (or no answer) is an error.

use core::fmt;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use crate::bitbang::{self, BitBang, OpenDrain};

/// The I2C switch addresses (7-bit).
pub const SWITCH0: u8 = 0x70;
pub const SWITCH1: u8 = 0x71;

/// The switch reset line (MIO 33 on the Kasli-SoC).
pub trait ResetLine {
    fn set_reset(&mut self, asserted: bool);
}

impl<R: ResetLine + ?Sized> ResetLine for &mut R {
    fn set_reset(&mut self, asserted: bool) {
        (**self).set_reset(asserted)
    }
}

/// What the board start-up needs of its I2C bus beyond transfers.
pub trait BoardI2c: I2c {
    /// Frees a bus a device holds (bus recovery) and leaves it idle.
    fn recover(&mut self) -> Result<(), Self::Error>;
    /// Drives the switches' reset line.
    fn set_switch_reset(&mut self, asserted: bool);
    /// Busy-waits (the bus's own delay source).
    fn delay_us(&mut self, us: u32);
}

impl<P: OpenDrain + ResetLine, D: DelayNs> BoardI2c for BitBang<P, D> {
    fn recover(&mut self) -> Result<(), bitbang::Error> {
        self.init()
    }
    fn set_switch_reset(&mut self, asserted: bool) {
        self.pins_mut().set_reset(asserted)
    }
    fn delay_us(&mut self, us: u32) {
        self.delay_mut().delay_us(us)
    }
}

/// Which part a switch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchKind {
    Pca9548,
    Pca9547,
}

impl SwitchKind {
    /// The control byte that enables `channel` alone, or none.
    pub fn control(self, channel: Option<u8>) -> u8 {
        match (self, channel) {
            (_, None) => 0,
            (SwitchKind::Pca9548, Some(ch)) => 1 << (ch & 7),
            (SwitchKind::Pca9547, Some(ch)) => 0x08 | (ch & 7),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SwitchKind::Pca9548 => "PCA9548",
            SwitchKind::Pca9547 => "PCA9547",
        }
    }
}

/// A board setting: probe the switch type, or trust the board's bill of
/// materials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SwitchSelect {
    #[default]
    Probe,
    Fixed(SwitchKind),
}

/// Why the switches could not be set up or driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchError<E> {
    /// The transfer to switch `address` failed.
    I2c { address: u8, error: E },
    /// Switch 0x71's control register after reset read a value neither
    /// part has there.
    UnknownProbe(u8),
}

impl<E: fmt::Debug> fmt::Display for SwitchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchError::I2c { address, error } => {
                write!(f, "I2C switch {address:#04x}: {error:?}")
            }
            SwitchError::UnknownProbe(v) => {
                write!(
                    f,
                    "I2C switch 0x71 read {v:#04x} after reset (PCA9548 reads 0x00, PCA9547 0x08)"
                )
            }
        }
    }
}

/// Reset pulse and recovery times: the parts need 500 ns (tW(L)) and
/// 0 ns (trst); generous because the line goes through a transistor.
const RESET_PULSE_US: u32 = 100;
const RESET_RECOVERY_US: u32 = 100;

/// The pair of switches, once their type is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pca954x {
    kind: SwitchKind,
}

impl Pca954x {
    /// A driver for switches of a known type (no bus traffic).
    pub fn new(kind: SwitchKind) -> Pca954x {
        Pca954x { kind }
    }

    pub fn kind(&self) -> SwitchKind {
        self.kind
    }

    /// Pulses the reset line (every channel of both switches off), then
    /// settles the type: from `select`, or by reading 0x71's control
    /// register. Returns the driver and the byte read (`None` if fixed).
    pub fn reset_and_probe<B: BoardI2c>(
        bus: &mut B,
        select: SwitchSelect,
    ) -> Result<(Pca954x, Option<u8>), SwitchError<B::Error>> {
        bus.set_switch_reset(true);
        bus.delay_us(RESET_PULSE_US);
        bus.set_switch_reset(false);
        bus.delay_us(RESET_RECOVERY_US);
        match select {
            SwitchSelect::Fixed(kind) => Ok((Pca954x { kind }, None)),
            SwitchSelect::Probe => {
                let mut control = [0u8];
                bus.read(SWITCH1, &mut control)
                    .map_err(|error| SwitchError::I2c {
                        address: SWITCH1,
                        error,
                    })?;
                let kind = match control[0] {
                    0x00 => SwitchKind::Pca9548,
                    0x08 => SwitchKind::Pca9547,
                    other => return Err(SwitchError::UnknownProbe(other)),
                };
                Ok((Pca954x { kind }, Some(control[0])))
            }
        }
    }

    /// Enables `channel` (0..=7) alone on switch `address`, or none.
    pub fn select<I: I2c>(
        &self,
        bus: &mut I,
        address: u8,
        channel: Option<u8>,
    ) -> Result<(), SwitchError<I::Error>> {
        bus.write(address, &[self.kind.control(channel)])
            .map_err(|error| SwitchError::I2c { address, error })
    }

    /// The path to the Si5324 and the SFP I/O expanders: switch 0x70 off
    /// (its channels hold devices at the same addresses), 0x71 channel 3.
    pub fn select_clock_and_sfp<I: I2c>(&self, bus: &mut I) -> Result<(), SwitchError<I::Error>> {
        self.select(bus, SWITCH0, None)?;
        self.select(bus, SWITCH1, Some(3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_differ_by_part() {
        assert_eq!(SwitchKind::Pca9548.control(Some(3)), 0b0000_1000);
        assert_eq!(SwitchKind::Pca9547.control(Some(3)), 0b0000_1011);
        assert_eq!(SwitchKind::Pca9548.control(None), 0);
        assert_eq!(SwitchKind::Pca9547.control(None), 0);
        assert_eq!(SwitchKind::Pca9548.control(Some(7)), 0x80);
    }
}
