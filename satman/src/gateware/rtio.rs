//! The satellite's RTIO core as CPU0 sees it: the `drtiosat` reset, error
//! and TSC registers, the CRI switch (`cri_con`) and the routing table.
//!
//! Register meanings (sheet §3, notes for `drtiosat`, `cri_con` and
//! `routing_table`; kernel-abi.md §5):
//!
//! - `drtiosat.reset` holds the satellite's RTIO core (`SyncRTIO`) in reset
//!   while 1; it comes out of gateware reset at 1. `reset_phy` likewise for
//!   the PHYs.
//! - `drtiosat.rtio_error`: sticky flags, bit 0 sequence error, bit 1
//!   collision, bit 2 busy; writing 1 to a bit clears it. The channel of
//!   each is in `sequence_error_channel`, `collision_channel`,
//!   `busy_channel`.
//! - `drtiosat.tsc_loaded` reads 1 once the master has loaded the
//!   timestamp counter; a write clears it.
//! - `cri_con.selected`: 0 = DRTIO (the master), 1 = the DMA engine,
//!   2 = the kernel CPU.
//! - `routing_table`: write `destination`, then write `hop` (a strobe) to
//!   store the entry.
//! - `drtiosat.protocol_error`: sticky flags, bit 0 unknown packet type,
//!   bit 1 truncated packet, bit 2 buffer space timeout
//!   (`buffer_space_timeout_dest`), bit 3 write underflow
//!   (`underflow_channel`, `underflow_timestamp_event`,
//!   `underflow_timestamp_counter`), bit 4 write overflow; writing 1s clears
//!   them (artiq `rt_errors_satellite.py`).
//!
//! The repeater methods (`drtiorepN`) are in [`super::repeater`], compiled
//! in when the map has the repeater banks.

use super::bus::Bus;
use super::csr::{cri_con, drtiosat, routing_table};
use super::wait_while;
use crate::hal::{Initiator, LinkErrors, Rtio, RtioError, Underflow};
#[cfg(gateware_driver = "repeaters")]
use crate::hal::RepeaterFault;

/// How long `reset` holds the RTIO core in reset, as the reference
/// firmware does.
pub const RESET_PULSE_US: u64 = 100;

/// `drtiosat.rtio_error` bits.
const SEQUENCE_ERROR: u32 = 1 << 0;
const COLLISION: u32 = 1 << 1;
const BUSY: u32 = 1 << 2;

/// `drtiosat.protocol_error` bits.
const UNKNOWN_PACKET: u32 = 1 << 0;
const TRUNCATED_PACKET: u32 = 1 << 1;
const BUFFER_SPACE_TIMEOUT: u32 = 1 << 2;
const UNDERFLOW: u32 = 1 << 3;
const OVERFLOW: u32 = 1 << 4;

/// The RTIO core. `clock` gives microseconds (the platform's global timer)
/// and only times the reset pulse.
pub struct GatewareRtio<B: Bus, C = fn() -> u64> {
    bus: B,
    clock: C,
}

impl<B: Bus, C: Fn() -> u64> GatewareRtio<B, C> {
    pub fn new(bus: B, clock: C) -> Self {
        GatewareRtio { bus, clock }
    }

    /// Holds (`true`) or releases the RTIO PHYs' reset (`drtiosat.reset_phy`,
    /// 1 out of gateware reset). The link bring-up releases it once the
    /// uplink is up and the recovered clock is in use, and holds it again
    /// when the link goes down.
    pub fn set_phy_reset(&mut self, hold: bool) {
        drtiosat::RESET_PHY.write(&self.bus, hold as u32);
    }

    /// The bus, for diagnostics.
    pub fn bus(&self) -> &B {
        &self.bus
    }
}

impl<B: Bus, C: Fn() -> u64> Rtio for GatewareRtio<B, C> {
    fn hold_reset(&mut self, held: bool) {
        if held {
            // The link went down: a TSC load seen before belongs to the
            // old link and must not be acknowledged on the new one.
            drtiosat::TSC_LOADED.write(&self.bus, 1);
        }
        drtiosat::RESET.write(&self.bus, held as u32);
        self.set_phy_reset(held);
    }

    fn select(&mut self, initiator: Initiator) {
        let selected = match initiator {
            Initiator::Drtio => 0,
            Initiator::Dma => 1,
            Initiator::Kernel => 2,
        };
        cri_con::SELECTED.write(&self.bus, selected);
    }

    /// Holds the core in reset for [`RESET_PULSE_US`] (bounded even if the
    /// clock stops: see [`wait_while`]), then releases it. This also
    /// releases the reset the gateware starts with.
    fn reset(&mut self) {
        drtiosat::RESET.write(&self.bus, 1);
        let _ = wait_while(&self.clock, RESET_PULSE_US, || true);
        drtiosat::RESET.write(&self.bus, 0);
    }

    /// Sequence errors first, then collisions, then busy errors, as the
    /// reference reports them. The channel is read before the flag is
    /// cleared, while it still belongs to that error.
    fn take_error(&mut self) -> Option<RtioError> {
        let bus = &self.bus;
        let flags = drtiosat::RTIO_ERROR.read(bus);
        let (bit, error) = if flags & SEQUENCE_ERROR != 0 {
            (SEQUENCE_ERROR, RtioError::Sequence(drtiosat::SEQUENCE_ERROR_CHANNEL.read(bus) as u16))
        } else if flags & COLLISION != 0 {
            (COLLISION, RtioError::Collision(drtiosat::COLLISION_CHANNEL.read(bus) as u16))
        } else if flags & BUSY != 0 {
            (BUSY, RtioError::Busy(drtiosat::BUSY_CHANNEL.read(bus) as u16))
        } else {
            return None;
        };
        drtiosat::RTIO_ERROR.write(bus, bit);
        Some(error)
    }

    fn set_route(&mut self, destination: u8, hop: u8) {
        routing_table::DESTINATION.write(&self.bus, destination as u32);
        routing_table::HOP.write(&self.bus, hop as u32);
    }

    fn take_tsc_loaded(&mut self) -> bool {
        if drtiosat::TSC_LOADED.read(&self.bus) & 1 == 0 {
            return false;
        }
        drtiosat::TSC_LOADED.write(&self.bus, 1);
        true
    }

    /// Reads the flags, then the details of each flag set (the gateware
    /// latches them with the first error and keeps them while the flag is
    /// set), then clears exactly the flags read.
    fn take_link_errors(&mut self) -> Option<LinkErrors> {
        let bus = &self.bus;
        let flags = drtiosat::PROTOCOL_ERROR.read(bus);
        if flags == 0 {
            return None;
        }
        let errors = LinkErrors {
            unknown_packet: flags & UNKNOWN_PACKET != 0,
            truncated_packet: flags & TRUNCATED_PACKET != 0,
            buffer_space_timeout: (flags & BUFFER_SPACE_TIMEOUT != 0)
                .then(|| drtiosat::BUFFER_SPACE_TIMEOUT_DEST.read(bus) as u8),
            underflow: (flags & UNDERFLOW != 0).then(|| Underflow {
                channel: drtiosat::UNDERFLOW_CHANNEL.read(bus) as u16,
                timestamp: drtiosat::UNDERFLOW_TIMESTAMP_EVENT.read(bus) as i64,
                counter: drtiosat::UNDERFLOW_TIMESTAMP_COUNTER.read(bus) as i64,
            }),
            overflow: flags & OVERFLOW != 0,
            command_missed: None,
        };
        drtiosat::PROTOCOL_ERROR.write(bus, flags);
        Some(errors)
    }

    #[cfg(gateware_driver = "repeaters")]
    fn repeater_set_time(&mut self, i: usize) -> Result<(), RepeaterFault> {
        super::repeater::set_time(&self.bus, &self.clock, i)
    }

    #[cfg(gateware_driver = "repeaters")]
    fn repeater_reset(&mut self, i: usize) -> Result<(), RepeaterFault> {
        super::repeater::reset(&self.bus, &self.clock, i)
    }

    #[cfg(gateware_driver = "repeaters")]
    fn take_repeater_errors(&mut self, i: usize) -> Option<LinkErrors> {
        super::repeater::take_errors(&self.bus, i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateware::fake::{ticking_clock, FakeBus, Mem, Model, Op};
    use crate::gateware::SPINS_PER_US;
    use core::cell::Cell;
    use std::rc::Rc;

    /// `rtio_error` and `tsc_loaded` as the gateware has them: writing 1s
    /// clears bits. Records the clock at each `reset` write.
    struct Core {
        clock: Rc<Cell<u64>>,
        reset_writes: alloc::vec::Vec<(u32, u64)>,
    }

    impl Model for Core {
        fn write(&mut self, mem: &mut Mem, addr: usize, value: u32) -> bool {
            if addr == drtiosat::RTIO_ERROR.addr()
                || addr == drtiosat::TSC_LOADED.addr()
                || addr == drtiosat::PROTOCOL_ERROR.addr()
            {
                *mem.entry(addr).or_default() &= !value;
                return true;
            }
            if addr == drtiosat::RESET.addr() {
                self.reset_writes.push((value, self.clock.get()));
            }
            false
        }
    }

    fn setup() -> (FakeBus<Core>, Rc<Cell<u64>>, impl Fn() -> u64) {
        let (now, clock) = ticking_clock(1);
        (FakeBus::new(Core { clock: now.clone(), reset_writes: alloc::vec::Vec::new() }), now, clock)
    }

    #[test]
    fn select_writes_the_cri_switch() {
        let (bus, _, clock) = setup();
        let mut rtio = GatewareRtio::new(&bus, clock);
        rtio.select(Initiator::Kernel);
        rtio.select(Initiator::Dma);
        rtio.select(Initiator::Drtio);
        let sel = cri_con::SELECTED.addr();
        assert_eq!(bus.writes(), [(sel, 2), (sel, 1), (sel, 0)]);
        bus.assert_accesses_valid();
    }

    #[test]
    fn reset_is_a_bounded_100us_pulse() {
        let (bus, _, clock) = setup();
        let mut rtio = GatewareRtio::new(&bus, clock);
        rtio.reset();
        let w = &bus.model.borrow().reset_writes;
        assert_eq!((w[0].0, w[1].0), (1, 0));
        assert!(w[1].1 - w[0].1 >= RESET_PULSE_US, "{:?}", w);
        assert!(w[1].1 - w[0].1 < RESET_PULSE_US + 5, "{:?}", w);
        assert_eq!(bus.writes(), [(drtiosat::RESET.addr(), 1), (drtiosat::RESET.addr(), 0)]);

        // With a stopped clock the pulse still ends.
        let spins = Cell::new(0u64);
        let stopped = || {
            spins.set(spins.get() + 1);
            0
        };
        let bus = FakeBus::plain();
        GatewareRtio::new(&bus, stopped).reset();
        assert_eq!(bus.writes(), [(drtiosat::RESET.addr(), 1), (drtiosat::RESET.addr(), 0)]);
        assert!(spins.get() <= RESET_PULSE_US * SPINS_PER_US + 1);
        bus.assert_accesses_valid();
    }

    #[test]
    fn errors_come_in_order_with_their_channels_and_are_cleared() {
        let (bus, _, clock) = setup();
        let mut rtio = GatewareRtio::new(&bus, clock);
        assert_eq!(rtio.take_error(), None);
        bus.set(drtiosat::RTIO_ERROR.addr(), 0b111);
        bus.set(drtiosat::SEQUENCE_ERROR_CHANNEL.addr(), 3);
        bus.set(drtiosat::COLLISION_CHANNEL.addr(), 0x1_0004); // 16-bit register
        bus.set(drtiosat::BUSY_CHANNEL.addr(), 5);
        bus.clear_ops();
        assert_eq!(rtio.take_error(), Some(RtioError::Sequence(3)));
        assert_eq!(
            bus.ops(),
            [
                Op::Read(drtiosat::RTIO_ERROR.addr(), 0b111),
                Op::Read(drtiosat::SEQUENCE_ERROR_CHANNEL.addr(), 3),
                Op::Write(drtiosat::RTIO_ERROR.addr(), 0b001),
            ]
        );
        assert_eq!(rtio.take_error(), Some(RtioError::Collision(4)));
        assert_eq!(rtio.take_error(), Some(RtioError::Busy(5)));
        assert_eq!(rtio.take_error(), None);
        assert_eq!(bus.get(drtiosat::RTIO_ERROR.addr()), 0);
        let clears: alloc::vec::Vec<u32> =
            bus.writes().into_iter().filter(|w| w.0 == drtiosat::RTIO_ERROR.addr()).map(|w| w.1).collect();
        assert_eq!(clears, [1, 2, 4]);
        bus.assert_accesses_valid();
    }

    #[test]
    fn routes_are_destination_then_hop() {
        let (bus, _, clock) = setup();
        let mut rtio = GatewareRtio::new(&bus, clock);
        rtio.set_route(7, 2);
        assert_eq!(bus.writes(), [(routing_table::DESTINATION.addr(), 7), (routing_table::HOP.addr(), 2)]);
        bus.assert_accesses_valid();
    }

    #[test]
    fn protocol_errors_come_with_their_details_and_are_cleared() {
        let (bus, _, clock) = setup();
        let mut rtio = GatewareRtio::new(&bus, clock);
        assert_eq!(rtio.take_link_errors(), None);
        bus.set(drtiosat::PROTOCOL_ERROR.addr(), 0b11110);
        bus.set(drtiosat::BUFFER_SPACE_TIMEOUT_DEST.addr(), 3);
        bus.set(drtiosat::UNDERFLOW_CHANNEL.addr(), 0x12);
        bus.set64(drtiosat::UNDERFLOW_TIMESTAMP_EVENT.addr(), 1000);
        bus.set64(drtiosat::UNDERFLOW_TIMESTAMP_COUNTER.addr(), 1500);
        let e = rtio.take_link_errors().unwrap();
        assert_eq!(
            e,
            LinkErrors {
                unknown_packet: false,
                truncated_packet: true,
                buffer_space_timeout: Some(3),
                underflow: Some(Underflow { channel: 0x12, timestamp: 1000, counter: 1500 }),
                overflow: true,
                command_missed: None,
            }
        );
        assert_eq!(bus.writes(), [(drtiosat::PROTOCOL_ERROR.addr(), 0b11110)]);
        bus.assert_accesses_valid();
    }

    #[test]
    fn tsc_loaded_is_taken_once() {
        let (bus, _, clock) = setup();
        let mut rtio = GatewareRtio::new(&bus, clock);
        assert!(!rtio.take_tsc_loaded());
        assert!(bus.writes().is_empty());
        bus.set(drtiosat::TSC_LOADED.addr(), 1);
        assert!(rtio.take_tsc_loaded());
        assert!(!rtio.take_tsc_loaded());
        assert_eq!(bus.writes(), [(drtiosat::TSC_LOADED.addr(), 1)]);
        rtio.set_phy_reset(false);
        assert_eq!(bus.writes()[1], (drtiosat::RESET_PHY.addr(), 0));
        bus.assert_accesses_valid();
    }
}
