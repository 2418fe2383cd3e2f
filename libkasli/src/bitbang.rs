//! A bit-banged I2C master over two open-drain lines.
//!
//! The Kasli-SoC wires its board I2C bus (switches, SFP I/O expanders,
//! Si5324) to MIO 50 (SCL) and 51 (SDA) as plain GPIOs, not to a PS I2C
//! controller, so the firmware clocks every bit itself. [`BitBang`] does that
//! over any [`OpenDrain`] pair and any [`DelayNs`], and implements the
//! `embedded-hal` 1.0 [`I2c`] trait, so every device driver in this crate is
//! written against that trait and runs on the host against the board model.
//!
//! Every wait is bounded: clock stretching ends after
//! [`Timing::stretch_limit_us`], bus recovery after nine clocks, and each
//! transfer is a fixed number of half-periods.

use core::fmt;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{
    self, ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation, SevenBitAddress,
};

/// Two open-drain lines: "high" releases a line (the pull-up takes it
/// high unless a device holds it low), "low" drives it low.
pub trait OpenDrain {
    fn set_scl(&mut self, high: bool);
    fn set_sda(&mut self, high: bool);
    /// The level on SCL (low while any device stretches the clock).
    fn scl(&mut self) -> bool;
    /// The level on SDA.
    fn sda(&mut self) -> bool;
}

impl<P: OpenDrain + ?Sized> OpenDrain for &mut P {
    fn set_scl(&mut self, high: bool) {
        (**self).set_scl(high)
    }
    fn set_sda(&mut self, high: bool) {
        (**self).set_sda(high)
    }
    fn scl(&mut self) -> bool {
        (**self).scl()
    }
    fn sda(&mut self) -> bool {
        (**self).sda()
    }
}

/// Why a transfer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Nobody acknowledged the address byte: no device at that address on
    /// the switch channels now selected.
    AddressNack,
    /// The device refused a data byte.
    DataNack,
    /// SDA read low while this master released it: another master, or a
    /// device out of step with the transfer.
    ArbitrationLost,
    /// SCL stayed low past the clock-stretching limit.
    SclStuckLow,
    /// SDA stayed low through the nine-clock bus recovery.
    SdaStuckLow,
}

impl i2c::Error for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::AddressNack => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address),
            Error::DataNack => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data),
            Error::ArbitrationLost => ErrorKind::ArbitrationLoss,
            Error::SclStuckLow | Error::SdaStuckLow => ErrorKind::Bus,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::AddressNack => "address not acknowledged",
            Error::DataNack => "data byte not acknowledged",
            Error::ArbitrationLost => "arbitration lost (SDA low while released)",
            Error::SclStuckLow => "SCL held low past the clock-stretching limit",
            Error::SdaStuckLow => "SDA stuck low after nine recovery clocks",
        })
    }
}

/// Bus timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Half a clock period. Each bit is about two of these.
    pub half_period_ns: u32,
    /// How long a device may stretch the clock before the transfer fails.
    pub stretch_limit_us: u32,
    /// Poll interval while waiting for a stretched clock.
    pub stretch_poll_ns: u32,
}

impl Timing {
    /// About 50 kHz: half the standard-mode rate, which every device on
    /// the Kasli-SoC bus supports (Si5324, PCA954x, MCP23017, PCA9539 are all
    /// 400 kHz parts), with margin for slow edges behind two switches.
    pub const KASLI: Timing = Timing {
        half_period_ns: 10_000,
        stretch_limit_us: 10_000,
        stretch_poll_ns: 1_000,
    };
}

impl Default for Timing {
    fn default() -> Self {
        Timing::KASLI
    }
}

/// Nine clocks free any device caught in the middle of a byte (eight data
/// bits and an acknowledge); one more round tries the STOP after the last.
const RECOVERY_CLOCKS: u32 = 9;

/// The master.
pub struct BitBang<P, D> {
    pins: P,
    delay: D,
    timing: Timing,
}

impl<P: OpenDrain, D: DelayNs> BitBang<P, D> {
    /// Takes the lines; releases both. Call [`BitBang::init`] before the
    /// first transfer.
    pub fn new(mut pins: P, delay: D, timing: Timing) -> Self {
        pins.set_sda(true);
        pins.set_scl(true);
        BitBang {
            pins,
            delay,
            timing,
        }
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The lines (for a board whose pin struct also holds other lines, such
    /// as the I2C switch reset).
    pub fn pins_mut(&mut self) -> &mut P {
        &mut self.pins
    }

    pub fn delay_mut(&mut self) -> &mut D {
        &mut self.delay
    }

    pub fn into_parts(self) -> (P, D) {
        (self.pins, self.delay)
    }

    /// Brings the bus to idle: checks SCL, clocks a device that holds SDA
    /// low out of its byte (up to nine clocks), and ends with a STOP, which
    /// resets every device's bus state machine.
    pub fn init(&mut self) -> Result<(), Error> {
        self.pins.set_sda(true);
        self.pins.set_scl(true);
        self.half();
        self.wait_scl_high()?;
        for _ in 0..=RECOVERY_CLOCKS {
            // SCL is high here: SDA high means nobody is driving a bit.
            if self.pins.sda() && self.stop_condition()? {
                return Ok(());
            }
            self.pins.set_scl(false);
            self.half();
            self.pins.set_sda(true);
            self.pins.set_scl(true);
            self.wait_scl_high()?;
            self.half();
        }
        Err(Error::SdaStuckLow)
    }

    fn half(&mut self) {
        self.delay.delay_ns(self.timing.half_period_ns);
    }

    /// Releases nothing; waits for SCL to read high (a device may stretch).
    fn wait_scl_high(&mut self) -> Result<(), Error> {
        let limit_ns = u64::from(self.timing.stretch_limit_us) * 1000;
        let poll = self.timing.stretch_poll_ns.max(1);
        let mut waited_ns = 0u64;
        while !self.pins.scl() {
            if waited_ns >= limit_ns {
                return Err(Error::SclStuckLow);
            }
            self.delay.delay_ns(poll);
            waited_ns += u64::from(poll);
        }
        Ok(())
    }

    /// From SCL high: SCL low, SDA low, SCL high, SDA high. Returns whether
    /// SDA then reads high (the STOP took).
    fn stop_condition(&mut self) -> Result<bool, Error> {
        self.pins.set_scl(false);
        self.half();
        self.pins.set_sda(false);
        self.half();
        self.pins.set_scl(true);
        self.wait_scl_high()?;
        self.half();
        self.pins.set_sda(true);
        self.half();
        Ok(self.pins.sda())
    }

    /// START, or repeated START after an acknowledge bit (SCL low).
    fn start(&mut self) -> Result<(), Error> {
        self.pins.set_sda(true);
        self.half();
        self.pins.set_scl(true);
        self.wait_scl_high()?;
        self.half();
        if !self.pins.sda() {
            return Err(Error::ArbitrationLost);
        }
        self.pins.set_sda(false);
        self.half();
        self.pins.set_scl(false);
        Ok(())
    }

    /// STOP after an acknowledge bit (SCL low).
    fn stop(&mut self) -> Result<(), Error> {
        self.pins.set_sda(false);
        self.half();
        self.pins.set_scl(true);
        self.wait_scl_high()?;
        self.half();
        self.pins.set_sda(true);
        self.half();
        if self.pins.sda() {
            Ok(())
        } else {
            Err(Error::ArbitrationLost)
        }
    }

    /// One bit out, SCL low before and after.
    fn write_bit(&mut self, bit: bool) -> Result<(), Error> {
        self.pins.set_sda(bit);
        self.half();
        self.pins.set_scl(true);
        self.wait_scl_high()?;
        if bit && !self.pins.sda() {
            return Err(Error::ArbitrationLost);
        }
        self.half();
        self.pins.set_scl(false);
        Ok(())
    }

    /// One bit in, sampled in the middle of the high phase.
    fn read_bit(&mut self) -> Result<bool, Error> {
        self.pins.set_sda(true);
        self.half();
        self.pins.set_scl(true);
        self.wait_scl_high()?;
        self.half();
        let bit = self.pins.sda();
        self.pins.set_scl(false);
        Ok(bit)
    }

    /// A byte out, most significant bit first; returns the acknowledge.
    fn write_byte(&mut self, byte: u8) -> Result<bool, Error> {
        for i in (0..8).rev() {
            self.write_bit(byte & (1 << i) != 0)?;
        }
        Ok(!self.read_bit()?)
    }

    /// A byte in, then ACK (`ack`) or NACK (the last byte of a read).
    fn read_byte(&mut self, ack: bool) -> Result<u8, Error> {
        let mut byte = 0u8;
        for _ in 0..8 {
            byte = byte << 1 | u8::from(self.read_bit()?);
        }
        self.write_bit(!ack)?;
        Ok(byte)
    }

    fn run(
        &mut self,
        address: SevenBitAddress,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Error> {
        let mut previous_read: Option<bool> = None;
        for i in 0..operations.len() {
            let read = matches!(operations[i], Operation::Read(_));
            if previous_read != Some(read) {
                self.start()?;
                if !self.write_byte((address & 0x7f) << 1 | u8::from(read))? {
                    return Err(Error::AddressNack);
                }
            }
            // The last byte of a run of reads is NACKed: the device then
            // releases SDA for the STOP or repeated START.
            let later_read_bytes = operations[i + 1..]
                .iter()
                .take_while(|op| matches!(op, Operation::Read(_)))
                .any(|op| matches!(op, Operation::Read(b) if !b.is_empty()));
            match &mut operations[i] {
                Operation::Write(bytes) => {
                    for &b in bytes.iter() {
                        if !self.write_byte(b)? {
                            return Err(Error::DataNack);
                        }
                    }
                }
                Operation::Read(buf) => {
                    let len = buf.len();
                    for (j, slot) in buf.iter_mut().enumerate() {
                        *slot = self.read_byte(later_read_bytes || j + 1 < len)?;
                    }
                }
            }
            previous_read = Some(read);
        }
        if previous_read.is_some() {
            self.stop()?;
        }
        Ok(())
    }
}

/// Byte-level access, for protocols that drive the bus one condition or
/// one byte at a time (ARTIQ's I2C requests over DRTIO: start, restart,
/// stop, write a byte, read a byte). Each call is bounded like a
/// transfer. A failed call leaves the bus idle (a STOP if the lines allow
/// it, then both lines released), so the caller starts over with
/// [`BitBang::raw_start`].
impl<P: OpenDrain, D: DelayNs> BitBang<P, D> {
    /// START on an idle bus, or a repeated START inside a transfer.
    pub fn raw_start(&mut self) -> Result<(), Error> {
        let r = self.start();
        self.release_on_error(r)
    }

    /// STOP. On an idle bus this is a START at once followed by a STOP,
    /// which devices ignore.
    pub fn raw_stop(&mut self) -> Result<(), Error> {
        let r = self.stop();
        if r.is_err() {
            self.pins.set_sda(true);
            self.pins.set_scl(true);
        }
        r
    }

    /// Writes one byte; `Ok(false)` when nobody acknowledged it (the
    /// transfer stays open: the caller decides).
    pub fn raw_write(&mut self, byte: u8) -> Result<bool, Error> {
        let r = self.write_byte(byte);
        self.release_on_error(r)
    }

    /// Reads one byte, then acknowledges it (`ack`) or not (the last byte
    /// of a read).
    pub fn raw_read(&mut self, ack: bool) -> Result<u8, Error> {
        let r = self.read_byte(ack);
        self.release_on_error(r)
    }

    fn release_on_error<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        if r.is_err() {
            let _ = self.stop();
            self.pins.set_sda(true);
            self.pins.set_scl(true);
        }
        r
    }
}

impl<P: OpenDrain, D: DelayNs> ErrorType for BitBang<P, D> {
    type Error = Error;
}

impl<P: OpenDrain, D: DelayNs> I2c<SevenBitAddress> for BitBang<P, D> {
    fn transaction(
        &mut self,
        address: SevenBitAddress,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Error> {
        let result = self.run(address, operations);
        if result.is_err() {
            // Leave the bus idle for the next transfer: a STOP if the lines
            // allow it (bounded like any other wait), then both released.
            let _ = self.stop();
            self.pins.set_sda(true);
            self.pins.set_scl(true);
        }
        result
    }
}
