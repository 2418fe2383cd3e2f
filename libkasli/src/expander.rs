//! The Kasli-SoC's two SFP I/O expanders, behind switch 0x71 channel 3:
//! MCP23017 at 7-bit 0x20/0x21 or, on boards that carry them, PCA9539 at
//! 0x74/0x75 (the MCP is probed first).
//!
//! Each expander port serves one SFP cage: expander 0 port 0 is SFP0,
//! port 1 SFP1; expander 1 port 0 SFP2, port 1 SFP3. Pin 1 of every port is
//! the cage's TX_DISABLE, which must be driven low or the laser stays off
//! and the master never hears this satellite. Pin 6 is the cage's LED
//! (pin 7 for SFP0 from hw_rev v1.1 on). On hw_rev v1.2, expander 1 port 0
//! pin 7 enables the EEM power.
//!
//! The output latch is written before the direction, so a pin that becomes
//! an output already drives its intended level.

use core::fmt;

use embedded_hal::i2c::{Error as _, ErrorKind, I2c};

use crate::switch::{Pca954x, SwitchError};

/// The board revision (a board setting: the expanders' pin use differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HwRev {
    V1_0,
    #[default]
    V1_1,
    V1_2,
}

impl HwRev {
    pub fn name(self) -> &'static str {
        match self {
            HwRev::V1_0 => "v1.0",
            HwRev::V1_1 => "v1.1",
            HwRev::V1_2 => "v1.2",
        }
    }
}

/// Which part an expander is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpanderKind {
    Mcp23017,
    Pca9539,
}

impl ExpanderKind {
    pub fn name(self) -> &'static str {
        match self {
            ExpanderKind::Mcp23017 => "MCP23017",
            ExpanderKind::Pca9539 => "PCA9539",
        }
    }

    /// (direction port 0, port 1, output port 0, port 1). MCP23017 with
    /// IOCON.BANK = 0 (its reset state): IODIRA/B, OLATs through GPIOA/B;
    /// PCA9539: configuration and output port registers. Both read a
    /// direction bit 1 as input.
    fn registers(self) -> ([u8; 2], [u8; 2]) {
        match self {
            ExpanderKind::Mcp23017 => ([0x00, 0x01], [0x12, 0x13]),
            ExpanderKind::Pca9539 => ([0x06, 0x07], [0x02, 0x03]),
        }
    }

    /// The 7-bit address of expander `index` (0 or 1).
    pub fn address(self, index: u8) -> u8 {
        match self {
            ExpanderKind::Mcp23017 => 0x20 + (index & 1),
            ExpanderKind::Pca9539 => 0x74 + (index & 1),
        }
    }
}

/// Why an expander could not be set up or serviced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpanderError<E> {
    /// Selecting the path through the switches failed.
    Switch(SwitchError<E>),
    /// Neither an MCP23017 nor a PCA9539 answered for expander `index`.
    NotFound { index: u8 },
    /// A transfer to the expander failed.
    I2c { index: u8, address: u8, error: E },
}

impl<E: fmt::Debug> fmt::Display for ExpanderError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpanderError::Switch(e) => write!(f, "{e}"),
            ExpanderError::NotFound { index } => write!(
                f,
                "I/O expander {index} not found (no MCP23017 at {:#04x}, no PCA9539 at {:#04x})",
                ExpanderKind::Mcp23017.address(*index),
                ExpanderKind::Pca9539.address(*index)
            ),
            ExpanderError::I2c {
                index,
                address,
                error,
            } => {
                write!(f, "I/O expander {index} at {address:#04x}: {error:?}")
            }
        }
    }
}

impl<E> From<SwitchError<E>> for ExpanderError<E> {
    fn from(e: SwitchError<E>) -> Self {
        ExpanderError::Switch(e)
    }
}

/// Pin numbers on each port.
pub const TX_DISABLE_PIN: u8 = 1;
pub const LED_PIN: u8 = 6;
pub const SFP0_LED_PIN_V1_1: u8 = 7;
pub const EEM_POWER_PIN: u8 = 7;

/// One expander.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoExpander {
    index: u8,
    kind: ExpanderKind,
    /// Direction bits per port (1 = input).
    iodir: [u8; 2],
    current: [u8; 2],
    target: [u8; 2],
    /// The LED pin of each port.
    led_pin: [u8; 2],
}

impl IoExpander {
    /// Finds expander `index` (0 or 1): selects the path, then an empty
    /// write to the MCP23017 address, then to the PCA9539 one.
    pub fn probe<I: I2c>(
        bus: &mut I,
        switch: &Pca954x,
        index: u8,
        rev: HwRev,
    ) -> Result<IoExpander, ExpanderError<I::Error>> {
        switch.select_clock_and_sfp(bus)?;
        let mut found = None;
        for kind in [ExpanderKind::Mcp23017, ExpanderKind::Pca9539] {
            let address = kind.address(index);
            match bus.write(address, &[]) {
                Ok(()) => {
                    found = Some(kind);
                    break;
                }
                Err(e) if matches!(e.kind(), ErrorKind::NoAcknowledge(_)) => {}
                Err(error) => {
                    return Err(ExpanderError::I2c {
                        index,
                        address,
                        error,
                    })
                }
            }
        }
        let kind = found.ok_or(ExpanderError::NotFound { index })?;
        Ok(IoExpander::new(index, kind, rev))
    }

    /// The expander's pin plan for board revision `rev` (no bus traffic).
    pub fn new(index: u8, kind: ExpanderKind, rev: HwRev) -> IoExpander {
        let index = index & 1;
        let sfp0_led = if rev == HwRev::V1_0 {
            LED_PIN
        } else {
            SFP0_LED_PIN_V1_1
        };
        let led_pin = if index == 0 {
            [sfp0_led, LED_PIN]
        } else {
            [LED_PIN, LED_PIN]
        };
        let mut outputs = [
            1 << TX_DISABLE_PIN | 1 << led_pin[0],
            1 << TX_DISABLE_PIN | 1 << led_pin[1],
        ];
        // TX_DISABLE low (lasers on), LEDs off.
        let mut target = [0u8; 2];
        if index == 1 && rev == HwRev::V1_2 {
            outputs[0] |= 1 << EEM_POWER_PIN;
            target[0] |= 1 << EEM_POWER_PIN;
        }
        IoExpander {
            index,
            kind,
            iodir: [!outputs[0], !outputs[1]],
            current: [0; 2],
            target,
            led_pin,
        }
    }

    pub fn index(&self) -> u8 {
        self.index
    }

    pub fn kind(&self) -> ExpanderKind {
        self.kind
    }

    pub fn address(&self) -> u8 {
        self.kind.address(self.index)
    }

    /// The SFP cages this expander serves (port 0, port 1).
    pub fn sfps(&self) -> [u8; 2] {
        [2 * self.index, 2 * self.index + 1]
    }

    /// Whether the board's EEM power is switched on by this expander.
    pub fn eem_power(&self) -> bool {
        self.iodir[0] & 1 << EEM_POWER_PIN == 0 && self.target[0] & 1 << EEM_POWER_PIN != 0
    }

    /// Writes the outputs (TX_DISABLE low, LEDs off, EEM power per the
    /// revision), then the directions.
    pub fn init<I: I2c>(
        &mut self,
        bus: &mut I,
        switch: &Pca954x,
    ) -> Result<(), ExpanderError<I::Error>> {
        switch.select_clock_and_sfp(bus)?;
        let (dir, out) = self.kind.registers();
        for (port, &reg) in out.iter().enumerate() {
            self.write(bus, reg, self.target[port])?;
            self.current[port] = self.target[port];
        }
        for (port, &reg) in dir.iter().enumerate() {
            self.write(bus, reg, self.iodir[port])?;
        }
        Ok(())
    }

    /// Sets an output pin's target level (written by [`IoExpander::service`]).
    pub fn set(&mut self, port: u8, pin: u8, high: bool) {
        let p = usize::from(port & 1);
        let bit = 1u8 << (pin & 7);
        if high {
            self.target[p] |= bit;
        } else {
            self.target[p] &= !bit;
        }
    }

    /// Drives the SFP LEDs from `leds` (bit n = SFPn, as the gateware's
    /// `virtual_leds.status` holds them) and writes any port whose outputs
    /// changed. No bus traffic when nothing changed.
    pub fn service<I: I2c>(
        &mut self,
        bus: &mut I,
        switch: &Pca954x,
        leds: u8,
    ) -> Result<(), ExpanderError<I::Error>> {
        for (port, sfp) in self.sfps().into_iter().enumerate() {
            self.set(port as u8, self.led_pin[port], leds >> sfp & 1 != 0);
        }
        if self.target == self.current {
            return Ok(());
        }
        switch.select_clock_and_sfp(bus)?;
        let (_, out) = self.kind.registers();
        for (port, &reg) in out.iter().enumerate() {
            if self.target[port] != self.current[port] {
                self.write(bus, reg, self.target[port])?;
                self.current[port] = self.target[port];
            }
        }
        Ok(())
    }

    fn write<I: I2c>(
        &self,
        bus: &mut I,
        reg: u8,
        value: u8,
    ) -> Result<(), ExpanderError<I::Error>> {
        let address = self.address();
        bus.write(address, &[reg, value])
            .map_err(|error| ExpanderError::I2c {
                index: self.index,
                address,
                error,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_plan_per_revision() {
        let e0 = IoExpander::new(0, ExpanderKind::Mcp23017, HwRev::V1_0);
        assert_eq!(e0.iodir, [!0x42, !0x42]);
        let e0 = IoExpander::new(0, ExpanderKind::Mcp23017, HwRev::V1_1);
        assert_eq!(e0.iodir, [!0x82, !0x42]);
        assert_eq!(e0.target, [0, 0]);
        let e1 = IoExpander::new(1, ExpanderKind::Pca9539, HwRev::V1_1);
        assert!(!e1.eem_power());
        assert_eq!(e1.address(), 0x75);
        let e1 = IoExpander::new(1, ExpanderKind::Mcp23017, HwRev::V1_2);
        assert_eq!(e1.iodir, [!0xc2, !0x42]);
        assert_eq!(e1.target, [0x80, 0]);
        assert!(e1.eem_power());
        assert_eq!(e1.sfps(), [2, 3]);
    }
}
