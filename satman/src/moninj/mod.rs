//! Moninj: the master's monitor and injection requests for this
//! satellite's RTIO channels, carried out on the board's moninj core
//! ([`hal::Moninj`]: the gateware's `rtio_moninj` on the Kasli-SoC, the RTIO
//! model's TTLs in QEMU).
//!
//! The wire has no failure code for moninj. A channel, probe or override
//! the board does not have is refused by name in the log and counted
//! ([`Moninj::refused`]); a monitor of it reads 0 and its injection status
//! 0, which is what the gateware answers for a channel without that probe
//! (so the dashboard does not wait 200 ms per bad channel), and an
//! injection into it changes nothing.

use libdrtio::Packet;
use log::warn;

use crate::hal;
use crate::wire::Wire;

/// What the moninj part may touch during one call.
pub struct Ctx<'a> {
    pub moninj: &'a mut dyn hal::Moninj,
    pub wire: &'a mut dyn Wire,
}

/// The moninj part: stateless but for its count of refused requests.
#[derive(Debug, Default)]
pub struct Moninj {
    refused: u64,
}

impl Moninj {
    /// Requests refused because the board has no such channel, probe or
    /// override.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    fn refuse(&mut self, what: &str, channel: u16, number: u8, e: hal::MoninjError) {
        self.refused += 1;
        warn!("moninj: {} {} of channel {} refused: {:?}", what, number, channel, e);
    }

    /// `MonitorRequest` for this satellite.
    pub fn monitor(&mut self, ctx: &mut Ctx<'_>, channel: u16, probe: u8) {
        let value = ctx.moninj.monitor(channel, probe).unwrap_or_else(|e| {
            self.refuse("probe", channel, probe, e);
            0
        });
        ctx.wire.reply(&Packet::MonitorReply { value });
    }

    /// `InjectionRequest` for this satellite (no reply).
    pub fn inject(&mut self, ctx: &mut Ctx<'_>, channel: u16, overrd: u8, value: u8) {
        if let Err(e) = ctx.moninj.inject(channel, overrd, value) {
            self.refuse("override", channel, overrd, e);
        }
    }

    /// `InjectionStatusRequest` for this satellite.
    pub fn injection_status(&mut self, ctx: &mut Ctx<'_>, channel: u16, overrd: u8) {
        let value = ctx.moninj.injection_status(channel, overrd).unwrap_or_else(|e| {
            self.refuse("override status", channel, overrd, e);
            0
        });
        ctx.wire.reply(&Packet::InjectionStatusReply { value });
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::testing::Replies;
    use crate::hal::MoninjError;

    /// One channel (7) with one probe and one override.
    #[derive(Default)]
    struct One {
        o: u8,
    }

    impl hal::Moninj for One {
        fn monitor(&mut self, channel: u16, probe: u8) -> Result<u64, MoninjError> {
            match (channel, probe) {
                (7, 0) => Ok(0x1_0000_0001),
                (7, _) => Err(MoninjError::NoSuchProbe),
                _ => Err(MoninjError::NoSuchChannel),
            }
        }
        fn inject(&mut self, channel: u16, overrd: u8, value: u8) -> Result<(), MoninjError> {
            match (channel, overrd) {
                (7, 0) => Ok(self.o = value),
                (7, _) => Err(MoninjError::NoSuchOverride),
                _ => Err(MoninjError::NoSuchChannel),
            }
        }
        fn injection_status(&mut self, channel: u16, overrd: u8) -> Result<u8, MoninjError> {
            match (channel, overrd) {
                (7, 0) => Ok(self.o),
                (7, _) => Err(MoninjError::NoSuchOverride),
                _ => Err(MoninjError::NoSuchChannel),
            }
        }
    }

    fn decode(b: &[u8]) -> Packet<'_> {
        Packet::decode(b).unwrap().0
    }

    #[test]
    fn requests_reach_the_board_and_bad_numbers_are_refused_and_counted() {
        let mut part = Moninj::default();
        let mut hw = One::default();
        let mut wire = Replies::default();
        let mut ctx = Ctx { moninj: &mut hw, wire: &mut wire };
        part.monitor(&mut ctx, 7, 0);
        part.inject(&mut ctx, 7, 0, 1);
        part.injection_status(&mut ctx, 7, 0);
        assert_eq!(part.refused(), 0);
        part.monitor(&mut ctx, 8, 0);
        part.monitor(&mut ctx, 7, 3);
        part.inject(&mut ctx, 7, 5, 1);
        part.injection_status(&mut ctx, 300, 0);
        assert_eq!(part.refused(), 4);
        let got: Vec<Packet<'_>> = wire.0.iter().map(|b| decode(b)).collect();
        assert_eq!(
            got,
            [
                Packet::MonitorReply { value: 0x1_0000_0001 },
                Packet::InjectionStatusReply { value: 1 },
                Packet::MonitorReply { value: 0 },
                Packet::MonitorReply { value: 0 },
                Packet::InjectionStatusReply { value: 0 },
            ]
        );
    }
}
