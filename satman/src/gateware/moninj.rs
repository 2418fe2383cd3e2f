//! The gateware's moninj core (`rtio_moninj`): the RTIO channels' monitor
//! probes and injection overrides, as ARTIQ's dashboard drives them.
//!
//! Register meanings (ARTIQ `gateware/rtio/moninj.py`; the widths come from
//! the CSR map, which sizes each selector for the gateware's channels):
//!
//! - monitor: write `mon_chan_sel` and `mon_probe_sel`, strobe
//!   `mon_value_update` to latch the probe, read `mon_value`;
//! - inject: write `inj_chan_sel` and `inj_override_sel`, then writing
//!   `inj_value` sets the override and reading it returns what it holds.
//!
//! A channel, probe or override number that does not fit its selector would
//! be truncated by the gateware and reach another channel: it is refused
//! here instead. Within the selectors, a channel without that probe reads
//! 0 and ignores the override, as the gateware does.

use super::bus::Bus;
use super::csr::rtio_moninj as reg;
use crate::hal::{Moninj, MoninjError};

pub struct GatewareMoninj<B: Bus> {
    bus: B,
}

/// Whether `value` fits a selector of `bits` bits.
fn fits(value: u32, bits: u32) -> bool {
    bits >= 32 || value < (1u32 << bits)
}

impl<B: Bus> GatewareMoninj<B> {
    pub fn new(bus: B) -> Self {
        GatewareMoninj { bus }
    }

    fn select_injection(&mut self, channel: u16, overrd: u8) -> Result<(), MoninjError> {
        if !fits(channel.into(), reg::INJ_CHAN_SEL.bits()) {
            return Err(MoninjError::NoSuchChannel);
        }
        if !fits(overrd.into(), reg::INJ_OVERRIDE_SEL.bits()) {
            return Err(MoninjError::NoSuchOverride);
        }
        reg::INJ_CHAN_SEL.write(&self.bus, channel.into());
        reg::INJ_OVERRIDE_SEL.write(&self.bus, overrd.into());
        Ok(())
    }
}

impl<B: Bus> Moninj for GatewareMoninj<B> {
    fn monitor(&mut self, channel: u16, probe: u8) -> Result<u64, MoninjError> {
        if !fits(channel.into(), reg::MON_CHAN_SEL.bits()) {
            return Err(MoninjError::NoSuchChannel);
        }
        if !fits(probe.into(), reg::MON_PROBE_SEL.bits()) {
            return Err(MoninjError::NoSuchProbe);
        }
        reg::MON_CHAN_SEL.write(&self.bus, channel.into());
        reg::MON_PROBE_SEL.write(&self.bus, probe.into());
        reg::MON_VALUE_UPDATE.write(&self.bus, 1);
        Ok(reg::MON_VALUE.read(&self.bus).into())
    }

    fn inject(&mut self, channel: u16, overrd: u8, value: u8) -> Result<(), MoninjError> {
        self.select_injection(channel, overrd)?;
        reg::INJ_VALUE.write(&self.bus, value.into());
        Ok(())
    }

    fn injection_status(&mut self, channel: u16, overrd: u8) -> Result<u8, MoninjError> {
        self.select_injection(channel, overrd)?;
        Ok(reg::INJ_VALUE.read(&self.bus) as u8)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;
    use crate::gateware::fake::{FakeBus, Mem, Model, Op};

    /// Sixteen channels, two of them TTL outputs (0 and 15): probe 0
    /// is the pad level, overrides 0 (enable) and 1 (level) drive it.
    #[derive(Default)]
    struct Ttls {
        kernel_level: [bool; 16],
        en: [bool; 16],
        o: [bool; 16],
        latched: u32,
    }

    impl Ttls {
        fn pad(&self, ch: usize) -> bool {
            if self.en[ch] {
                self.o[ch]
            } else {
                self.kernel_level[ch]
            }
        }
    }

    impl Model for Ttls {
        fn read(&mut self, mem: &mut Mem, addr: usize) -> Option<u32> {
            if addr == reg::MON_VALUE.addr() {
                return Some(self.latched);
            }
            if addr == reg::INJ_VALUE.addr() {
                let ch = mem.get(&reg::INJ_CHAN_SEL.addr()).copied().unwrap_or(0) as usize;
                let which = mem.get(&reg::INJ_OVERRIDE_SEL.addr()).copied().unwrap_or(0);
                return Some(match which {
                    0 => self.en[ch] as u32,
                    1 => self.o[ch] as u32,
                    _ => 0,
                });
            }
            None
        }

        fn write(&mut self, mem: &mut Mem, addr: usize, value: u32) -> bool {
            if addr == reg::MON_VALUE_UPDATE.addr() {
                let ch = mem.get(&reg::MON_CHAN_SEL.addr()).copied().unwrap_or(0) as usize;
                let probe = mem.get(&reg::MON_PROBE_SEL.addr()).copied().unwrap_or(0);
                self.latched = if probe == 0 && (ch == 0 || ch == 15) { self.pad(ch) as u32 } else { 0 };
                return true;
            }
            if addr == reg::INJ_VALUE.addr() {
                let ch = mem.get(&reg::INJ_CHAN_SEL.addr()).copied().unwrap_or(0) as usize;
                match mem.get(&reg::INJ_OVERRIDE_SEL.addr()).copied().unwrap_or(0) {
                    0 => self.en[ch] = value & 1 != 0,
                    1 => self.o[ch] = value & 1 != 0,
                    _ => {}
                }
                return true;
            }
            false
        }
    }

    #[test]
    fn monitor_selects_latches_then_reads() {
        let bus = FakeBus::new(Ttls::default());
        bus.model.borrow_mut().kernel_level[15] = true;
        let mut m = GatewareMoninj::new(&bus);
        assert_eq!(m.monitor(15, 0), Ok(1));
        let ops: Vec<Op> = bus.ops();
        assert_eq!(
            ops,
            vec![
                Op::Write(reg::MON_CHAN_SEL.addr(), 15),
                Op::Write(reg::MON_PROBE_SEL.addr(), 0),
                Op::Write(reg::MON_VALUE_UPDATE.addr(), 1),
                Op::Read(reg::MON_VALUE.addr(), 1),
            ]
        );
        assert_eq!(m.monitor(3, 0), Ok(0), "a channel without a probe reads 0");
        bus.assert_accesses_valid();
    }

    #[test]
    fn an_override_holds_the_pad_and_is_reported() {
        let bus = FakeBus::new(Ttls::default());
        let mut m = GatewareMoninj::new(&bus);
        m.inject(15, 1, 1).unwrap();
        m.inject(15, 0, 1).unwrap();
        assert_eq!(m.injection_status(15, 0), Ok(1));
        assert_eq!(m.injection_status(15, 1), Ok(1));
        // The kernel drives the channel low: the override wins.
        bus.model.borrow_mut().kernel_level[15] = false;
        assert_eq!(m.monitor(15, 0), Ok(1));
        m.inject(15, 0, 0).unwrap();
        assert_eq!(m.monitor(15, 0), Ok(0));
        assert_eq!(m.injection_status(15, 0), Ok(0));
    }

    #[test]
    fn numbers_past_the_selectors_are_refused_without_a_bus_access() {
        let bus = FakeBus::new(Ttls::default());
        let mut m = GatewareMoninj::new(&bus);
        let channels = 1u32 << reg::MON_CHAN_SEL.bits();
        assert_eq!(m.monitor(channels as u16, 0), Err(MoninjError::NoSuchChannel));
        assert_eq!(m.monitor(0xffff, 0), Err(MoninjError::NoSuchChannel));
        assert_eq!(m.monitor(0, 0xff), Err(MoninjError::NoSuchProbe));
        assert_eq!(m.inject(0xffff, 0, 1), Err(MoninjError::NoSuchChannel));
        assert_eq!(m.inject(0, 0xff, 1), Err(MoninjError::NoSuchOverride));
        assert_eq!(m.injection_status(0, 4), Err(MoninjError::NoSuchOverride));
        assert!(bus.ops().is_empty());
    }
}
