//! I2C over DRTIO: the master's `I2c*Request`s, each one bus condition or
//! one byte, carried out on this satellite's I2C bus ([`hal::I2cBus`]; the
//! board's bit-banged bus on the Kasli-SoC, none in QEMU).
//!
//! ARTIQ's numbering: a kernel names a satellite's bus as
//! `destination << 16 | busno` and the master sends the low byte as
//! `busno`. A satellite has one bus, number 0; any other number is refused
//! (the reference ignores it and drives bus 0 anyway). Replies follow the
//! reference: a write the device does not acknowledge succeeded
//! (`succeeded: true, ack: false`); any other failure is
//! `succeeded: false` (a read's data is then 0xff).
//!
//! Beyond the reference, bytes are only clocked inside a transfer the
//! master opened with a START: a write, read or repeated START on an idle
//! bus is refused, since it would clock devices out of step. A failed
//! operation ends the transfer (the bus driver releases the lines).
//! `I2cSwitchSelectRequest` is a whole transfer of its own: START, the
//! switch's address, its control byte for the one channel in `mask` (or
//! none), STOP; a mask with more than one bit is refused, as the
//! reference does (the Kasli-SoC's PCA9547 connects one channel at a time).

use libdrtio::Packet;
use log::warn;

use crate::hal::{I2cBus, I2cError};
use crate::wire::Wire;

/// What the I2C part may touch during one call.
pub struct Ctx<'a> {
    pub bus: &'a mut dyn I2cBus,
    pub wire: &'a mut dyn Wire,
}

/// Why a request was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not bus 0.
    NoSuchBus(u8),
    /// A byte or repeated START outside a transfer.
    NoTransfer,
    /// A switch select whose mask has more than one bit.
    BadMask(u8),
    /// A switch address that is not a 7-bit address.
    BadAddress(u8),
    /// The switch did not acknowledge its address or control byte.
    SwitchNack,
    /// The bus driver failed.
    Bus(I2cError),
}

/// The I2C part: whether a transfer is open, and counts.
#[derive(Debug, Default)]
pub struct I2c {
    open: bool,
    refused: u64,
}

impl I2c {
    /// Whether the master has a transfer open (START seen, no STOP yet):
    /// the board must not use the bus for itself meanwhile.
    pub fn in_transfer(&self) -> bool {
        self.open
    }

    /// Requests refused or failed.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Handles one `I2c*Request` for this satellite and replies. Other
    /// packets are ignored.
    pub fn handle(&mut self, ctx: &mut Ctx<'_>, packet: &Packet<'_>) {
        let reply = match *packet {
            Packet::I2cStartRequest { busno, .. } => basic(self.run(busno, "start", |s| s.start(ctx.bus))),
            Packet::I2cRestartRequest { busno, .. } => basic(self.run(busno, "restart", |s| s.restart(ctx.bus))),
            Packet::I2cStopRequest { busno, .. } => basic(self.run(busno, "stop", |s| s.stop(ctx.bus))),
            Packet::I2cSwitchSelectRequest { busno, address, mask, .. } => {
                basic(self.run(busno, "switch select", |s| s.switch_select(ctx.bus, address, mask)))
            }
            Packet::I2cWriteRequest { busno, data, .. } => match self.run(busno, "write", |s| s.write(ctx.bus, data)) {
                Some(ack) => Packet::I2cWriteReply { succeeded: true, ack },
                None => Packet::I2cWriteReply { succeeded: false, ack: false },
            },
            Packet::I2cReadRequest { busno, ack, .. } => match self.run(busno, "read", |s| s.read(ctx.bus, ack)) {
                Some(data) => Packet::I2cReadReply { succeeded: true, data },
                None => Packet::I2cReadReply { succeeded: false, data: 0xff },
            },
            _ => return,
        };
        ctx.wire.reply(&reply);
    }

    /// Runs one operation on bus `busno`; a refusal or failure is logged,
    /// counted and ends any open transfer.
    fn run<T>(&mut self, busno: u8, what: &str, op: impl FnOnce(&mut Self) -> Result<T, Refusal>) -> Option<T> {
        let result = if busno != 0 { Err(Refusal::NoSuchBus(busno)) } else { op(self) };
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.refused += 1;
                if !matches!(e, Refusal::NoSuchBus(_)) {
                    self.open = false;
                }
                warn!("I2C {} on bus {} failed: {:?}", what, busno, e);
                None
            }
        }
    }

    fn start(&mut self, bus: &mut dyn I2cBus) -> Result<(), Refusal> {
        bus.start().map_err(Refusal::Bus)?;
        self.open = true;
        Ok(())
    }

    fn restart(&mut self, bus: &mut dyn I2cBus) -> Result<(), Refusal> {
        if !self.open {
            return Err(Refusal::NoTransfer);
        }
        bus.restart().map_err(Refusal::Bus)
    }

    fn stop(&mut self, bus: &mut dyn I2cBus) -> Result<(), Refusal> {
        self.open = false;
        bus.stop().map_err(Refusal::Bus)
    }

    fn write(&mut self, bus: &mut dyn I2cBus, byte: u8) -> Result<bool, Refusal> {
        if !self.open {
            return Err(Refusal::NoTransfer);
        }
        bus.write(byte).map_err(Refusal::Bus)
    }

    fn read(&mut self, bus: &mut dyn I2cBus, ack: bool) -> Result<u8, Refusal> {
        if !self.open {
            return Err(Refusal::NoTransfer);
        }
        bus.read(ack).map_err(Refusal::Bus)
    }

    fn switch_select(&mut self, bus: &mut dyn I2cBus, address: u8, mask: u8) -> Result<(), Refusal> {
        if address > 0x7f {
            return Err(Refusal::BadAddress(address));
        }
        let channel = match mask {
            0 => None,
            m if m.is_power_of_two() => Some(m.trailing_zeros() as u8),
            m => return Err(Refusal::BadMask(m)),
        };
        let control = bus.switch_control(address, channel);
        self.start(bus)?;
        let acked = self.write(bus, address << 1)? && self.write(bus, control)?;
        if !acked {
            // Leave the bus idle; the NACK is the error reported.
            let _ = self.stop(bus);
            return Err(Refusal::SwitchNack);
        }
        self.stop(bus)
    }
}

fn basic(result: Option<()>) -> Packet<'static> {
    Packet::I2cBasicReply { succeeded: result.is_some() }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;
    use crate::testing::Replies;
    use crate::hal::NoI2c;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Op {
        Start,
        Restart,
        Stop,
        Write(u8),
        Read(bool),
    }

    /// A bus with one device at 0x50 answering reads with 0xa5, a switch
    /// at 0x70, and a fault switch.
    #[derive(Default)]
    struct Log {
        ops: Vec<Op>,
        fail: bool,
        first: bool,
    }

    impl I2cBus for Log {
        fn start(&mut self) -> Result<(), I2cError> {
            self.ops.push(Op::Start);
            self.first = true;
            Ok(())
        }
        fn restart(&mut self) -> Result<(), I2cError> {
            self.ops.push(Op::Restart);
            self.first = true;
            Ok(())
        }
        fn stop(&mut self) -> Result<(), I2cError> {
            self.ops.push(Op::Stop);
            Ok(())
        }
        fn write(&mut self, byte: u8) -> Result<bool, I2cError> {
            self.ops.push(Op::Write(byte));
            if self.fail {
                return Err(I2cError::ArbitrationLost);
            }
            let first = core::mem::take(&mut self.first);
            Ok(!first || matches!(byte >> 1, 0x50 | 0x70))
        }
        fn read(&mut self, ack: bool) -> Result<u8, I2cError> {
            self.ops.push(Op::Read(ack));
            if self.fail {
                return Err(I2cError::Stuck);
            }
            Ok(0xa5)
        }
    }

    fn run(part: &mut I2c, bus: &mut dyn I2cBus, packets: &[Packet<'_>]) -> Replies {
        let mut wire = Replies::default();
        let mut ctx = Ctx { bus, wire: &mut wire };
        for p in packets {
            part.handle(&mut ctx, p);
        }
        wire
    }

    #[test]
    fn a_register_read_goes_through_byte_by_byte() {
        let mut part = I2c::default();
        let mut bus = Log::default();
        let d = 1;
        let wire = run(
            &mut part,
            &mut bus,
            &[
                Packet::I2cStartRequest { destination: d, busno: 0 },
                Packet::I2cWriteRequest { destination: d, busno: 0, data: 0x50 << 1 },
                Packet::I2cWriteRequest { destination: d, busno: 0, data: 0x10 },
                Packet::I2cRestartRequest { destination: d, busno: 0 },
                Packet::I2cWriteRequest { destination: d, busno: 0, data: 0x50 << 1 | 1 },
                Packet::I2cReadRequest { destination: d, busno: 0, ack: false },
                Packet::I2cStopRequest { destination: d, busno: 0 },
            ],
        );
        assert!(!part.in_transfer());
        assert_eq!(
            bus.ops,
            [Op::Start, Op::Write(0xa0), Op::Write(0x10), Op::Restart, Op::Write(0xa1), Op::Read(false), Op::Stop]
        );
        assert_eq!(
            wire.packets(),
            [
                Packet::I2cBasicReply { succeeded: true },
                Packet::I2cWriteReply { succeeded: true, ack: true },
                Packet::I2cWriteReply { succeeded: true, ack: true },
                Packet::I2cBasicReply { succeeded: true },
                Packet::I2cWriteReply { succeeded: true, ack: true },
                Packet::I2cReadReply { succeeded: true, data: 0xa5 },
                Packet::I2cBasicReply { succeeded: true },
            ]
        );
        assert_eq!(part.refused(), 0);
    }

    #[test]
    fn a_nack_succeeds_and_bus_errors_fail_as_the_reference_says() {
        let mut part = I2c::default();
        let mut bus = Log::default();
        let wire = run(
            &mut part,
            &mut bus,
            &[
                Packet::I2cStartRequest { destination: 1, busno: 0 },
                Packet::I2cWriteRequest { destination: 1, busno: 0, data: 0x33 << 1 },
            ],
        );
        assert_eq!(wire.packets()[1], Packet::I2cWriteReply { succeeded: true, ack: false });
        bus.fail = true;
        let wire = run(
            &mut part,
            &mut bus,
            &[
                Packet::I2cWriteRequest { destination: 1, busno: 0, data: 1 },
                // The failure ended the transfer: a read is refused.
                Packet::I2cReadRequest { destination: 1, busno: 0, ack: true },
                Packet::I2cStartRequest { destination: 1, busno: 0 },
                Packet::I2cReadRequest { destination: 1, busno: 0, ack: true },
            ],
        );
        assert_eq!(
            wire.packets(),
            [
                Packet::I2cWriteReply { succeeded: false, ack: false },
                Packet::I2cReadReply { succeeded: false, data: 0xff },
                Packet::I2cBasicReply { succeeded: true },
                Packet::I2cReadReply { succeeded: false, data: 0xff },
            ]
        );
        assert_eq!(bus.ops.iter().filter(|o| matches!(o, Op::Read(_))).count(), 1, "no read on an idle bus");
    }

    #[test]
    fn switch_select_takes_one_bit_or_none() {
        let mut part = I2c::default();
        let mut bus = Log::default();
        let sel = |address, mask| Packet::I2cSwitchSelectRequest { destination: 1, busno: 0, address, mask };
        let wire = run(&mut part, &mut bus, &[sel(0x70, 0x08), sel(0x70, 0), sel(0x70, 0x18), sel(0x71, 1), sel(0xe0, 1)]);
        assert_eq!(
            wire.packets(),
            vec![
                Packet::I2cBasicReply { succeeded: true },
                Packet::I2cBasicReply { succeeded: true },
                Packet::I2cBasicReply { succeeded: false },
                Packet::I2cBasicReply { succeeded: false },
                Packet::I2cBasicReply { succeeded: false },
            ]
        );
        assert_eq!(
            &bus.ops[..8],
            [Op::Start, Op::Write(0xe0), Op::Write(0x08), Op::Stop, Op::Start, Op::Write(0xe0), Op::Write(0), Op::Stop]
        );
        // 0x71 did not answer: the bus was stopped after its address.
        assert_eq!(&bus.ops[8..], [Op::Start, Op::Write(0xe2), Op::Stop]);
        assert!(!part.in_transfer());
    }

    #[test]
    fn other_buses_and_boards_without_a_bus_fail_explicitly() {
        let mut part = I2c::default();
        let mut bus = Log::default();
        let wire = run(
            &mut part,
            &mut bus,
            &[
                Packet::I2cStartRequest { destination: 1, busno: 1 },
                Packet::I2cWriteRequest { destination: 1, busno: 7, data: 0 },
                Packet::I2cReadRequest { destination: 1, busno: 0xff, ack: false },
            ],
        );
        assert!(bus.ops.is_empty());
        assert_eq!(
            wire.packets(),
            [
                Packet::I2cBasicReply { succeeded: false },
                Packet::I2cWriteReply { succeeded: false, ack: false },
                Packet::I2cReadReply { succeeded: false, data: 0xff },
            ]
        );
        let mut none = NoI2c;
        let wire = run(&mut part, &mut none, &[Packet::I2cStartRequest { destination: 1, busno: 0 }]);
        assert_eq!(wire.packets(), [Packet::I2cBasicReply { succeeded: false }]);
        assert_eq!(part.refused(), 4);
    }
}
