//! The satellite's repeaters as CPU0 drives them (`drtiorepN`), for
//! [`GatewareRtio`](super::GatewareRtio)'s repeater methods.
//!
//! Register meanings (artiq `rt_controller_repeater.py`, read for facts):
//!
//! - `set_time`: writing 1 makes the repeater send the current timestamp
//!   counter down its RT link (the satellite below sees `tsc_loaded`); it
//!   reads 1 until the packet has gone, which takes a few RTIO cycles on a
//!   link that is up.
//! - `reset`: holds the repeater's RTIO side in reset while 1.
//! - `protocol_error`: sticky flags, bit 0 unknown packet type, bit 1
//!   truncated packet, bit 2 CRI command missed (`command_missed_cmd`,
//!   `command_missed_chan_sel`), bit 3 buffer space timeout
//!   (`buffer_space_timeout_dest`); writing 1s clears them.

use super::bus::Bus;
use super::csr::DRTIOREP;
use super::wait_while;
use crate::hal::{CommandMissed, LinkErrors, RepeaterFault};

/// How long `set_time` may stay set before the repeater is given up on: the
/// gateware clears it within microseconds when the link is up.
pub const SET_TIME_LIMIT_US: u64 = 1_000;

/// How long the repeater reset is held, as the reference firmware does.
pub const REPEATER_RESET_US: u64 = 100;

const UNKNOWN_PACKET: u32 = 1 << 0;
const TRUNCATED_PACKET: u32 = 1 << 1;
const COMMAND_MISSED: u32 = 1 << 2;
const BUFFER_SPACE_TIMEOUT: u32 = 1 << 3;

/// Strobes `set_time` on repeater `i` and waits, bounded, for it to clear.
pub fn set_time<B: Bus, C: Fn() -> u64>(bus: &B, clock: &C, i: usize) -> Result<(), RepeaterFault> {
    let regs = DRTIOREP.get(i).ok_or(RepeaterFault::Absent)?;
    regs.set_time.write(bus, 1);
    if wait_while(clock, SET_TIME_LIMIT_US, || regs.set_time.read(bus) & 1 != 0) {
        Ok(())
    } else {
        Err(RepeaterFault::Timeout)
    }
}

/// A [`REPEATER_RESET_US`] pulse of repeater `i`'s reset (bounded even if
/// the clock stops).
pub fn reset<B: Bus, C: Fn() -> u64>(bus: &B, clock: &C, i: usize) -> Result<(), RepeaterFault> {
    let regs = DRTIOREP.get(i).ok_or(RepeaterFault::Absent)?;
    regs.reset.write(bus, 1);
    let _ = wait_while(clock, REPEATER_RESET_US, || true);
    regs.reset.write(bus, 0);
    Ok(())
}

/// Reads repeater `i`'s protocol errors with their details, then clears
/// exactly the flags read (a flag raised meanwhile stays for the next call).
pub fn take_errors<B: Bus>(bus: &B, i: usize) -> Option<LinkErrors> {
    let regs = DRTIOREP.get(i)?;
    let flags = regs.protocol_error.read(bus);
    if flags == 0 {
        return None;
    }
    let errors = LinkErrors {
        unknown_packet: flags & UNKNOWN_PACKET != 0,
        truncated_packet: flags & TRUNCATED_PACKET != 0,
        command_missed: (flags & COMMAND_MISSED != 0).then(|| CommandMissed {
            cmd: regs.command_missed_cmd.read(bus) as u8,
            chan_sel: regs.command_missed_chan_sel.read(bus),
        }),
        buffer_space_timeout: (flags & BUFFER_SPACE_TIMEOUT != 0)
            .then(|| regs.buffer_space_timeout_dest.read(bus) as u8),
        ..LinkErrors::default()
    };
    regs.protocol_error.write(bus, flags);
    Some(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateware::fake::{ticking_clock, FakeBus, Mem, Model, Op};
    use crate::gateware::SPINS_PER_US;
    use core::cell::Cell;

    /// `set_time` clears after `busy_reads` reads (never if `None`);
    /// `protocol_error` is write-1-to-clear.
    struct Rep {
        busy_reads: Option<u32>,
    }

    impl Model for Rep {
        fn read(&mut self, mem: &mut Mem, addr: usize) -> Option<u32> {
            if addr == DRTIOREP[1].set_time.addr() {
                let v = mem.get(&addr).copied().unwrap_or(0);
                if v != 0 {
                    match self.busy_reads.as_mut() {
                        Some(0) => {
                            mem.insert(addr, 0);
                            return Some(0);
                        }
                        Some(n) => *n -= 1,
                        None => {}
                    }
                }
                return Some(v);
            }
            None
        }

        fn write(&mut self, mem: &mut Mem, addr: usize, value: u32) -> bool {
            if addr == DRTIOREP[1].protocol_error.addr() {
                *mem.entry(addr).or_default() &= !value;
                return true;
            }
            false
        }
    }

    #[test]
    fn set_time_strobes_then_waits_for_the_clear() {
        let bus = FakeBus::new(Rep { busy_reads: Some(3) });
        let (_, clock) = ticking_clock(1);
        assert_eq!(set_time(&bus, &clock, 1), Ok(()));
        let st = DRTIOREP[1].set_time.addr();
        assert_eq!(bus.writes(), [(st, 1)]);
        assert_eq!(bus.reads_of(st), 4);
        bus.assert_accesses_valid();
    }

    #[test]
    fn set_time_that_never_clears_times_out_bounded() {
        let bus = FakeBus::new(Rep { busy_reads: None });
        let (now, clock) = ticking_clock(1);
        assert_eq!(set_time(&bus, &clock, 1), Err(RepeaterFault::Timeout));
        assert!(now.get() >= SET_TIME_LIMIT_US);
        // A stopped clock: the spin cap ends it.
        let bus = FakeBus::new(Rep { busy_reads: None });
        let spins = Cell::new(0u64);
        let stopped = || {
            spins.set(spins.get() + 1);
            5
        };
        assert_eq!(set_time(&bus, &stopped, 1), Err(RepeaterFault::Timeout));
        assert!(spins.get() <= SET_TIME_LIMIT_US * SPINS_PER_US + 2);
        assert_eq!(set_time(&bus, &stopped, DRTIOREP.len()), Err(RepeaterFault::Absent));
    }

    #[test]
    fn reset_is_a_bounded_pulse() {
        let bus = FakeBus::plain();
        let (now, clock) = ticking_clock(1);
        assert_eq!(reset(&bus, &clock, 0), Ok(()));
        let r = DRTIOREP[0].reset.addr();
        assert_eq!(bus.writes(), [(r, 1), (r, 0)]);
        assert!(now.get() >= REPEATER_RESET_US);
        assert_eq!(reset(&bus, &clock, 9), Err(RepeaterFault::Absent));
        bus.assert_accesses_valid();
    }

    #[test]
    fn errors_are_read_with_details_and_cleared() {
        let bus = FakeBus::new(Rep { busy_reads: Some(0) });
        let regs = DRTIOREP[1];
        assert_eq!(take_errors(&bus, 1), None);
        bus.set(regs.protocol_error.addr(), 0b1101);
        bus.set(regs.command_missed_cmd.addr(), 2);
        bus.set(regs.command_missed_chan_sel.addr(), 0x01_0203);
        bus.set(regs.buffer_space_timeout_dest.addr(), 7);
        bus.clear_ops();
        let e = take_errors(&bus, 1).unwrap();
        assert_eq!(
            e,
            LinkErrors {
                unknown_packet: true,
                command_missed: Some(CommandMissed { cmd: 2, chan_sel: 0x01_0203 }),
                buffer_space_timeout: Some(7),
                ..LinkErrors::default()
            }
        );
        assert_eq!(bus.ops().last(), Some(&Op::Write(regs.protocol_error.addr(), 0b1101)));
        assert_eq!(take_errors(&bus, 1), None);
        bus.assert_accesses_valid();
    }
}
