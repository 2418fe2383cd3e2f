//! The Si5324 jitter attenuator (7-bit 0x68, behind switch 0x71 channel 3),
//! which makes the transceivers' reference clock.
//!
//! On the satellite its CKIN1 comes from the gateware's siphaser: the
//! board's local clock until the uplink is up, the clock recovered from the
//! uplink after. The crystal runs as CKIN2 in free-run mode. Without a
//! programmed, locked Si5324 the transceivers have no reference, the sys
//! clock switch never completes and the whole CSR bus is dead; so the
//! board start-up programs it, waits for lock with a deadline, and stops
//! (without touching the PL) if it does not lock.
//!
//! Register facts (Si5324 reference manual): 0 FREE_RUN (bit 6); 2
//! BWSEL_REG (7:4); 3 CKSEL_REG (7:6), DHOLD (5), SQ_ICAL (4); 4
//! AUTOSEL_REG (7:6); 6 SFOUT2_REG (5:3), SFOUT1_REG (2:0); 21 CKSEL_PIN
//! (0); 25 N1_HS (7:5); 31..33 NC1_LS, 34..36 NC2_LS (20 bits); 40 N2_HS
//! (7:5) and N2_LS (19:16) in 3:0, 41..42; 43..45 N31, 46..48 N32 (19
//! bits); 129 LOSX_INT (0), LOS1_INT (1), LOS2_INT (2); 130 LOL_INT (0);
//! 134..135 part number 0x0182; 136 RST_REG (7), ICAL (6); 137 FASTLOCK (0).
//! Divider registers hold the divider minus one; N1_HS/N2_HS hold the
//! divider minus four.

use core::fmt;

use embedded_hal::i2c::{Error as _, ErrorKind, I2c, NoAcknowledgeSource};

use crate::siphaser::SiphaserCsr;
use crate::switch::{Pca954x, SwitchError};
use crate::time::{poll_until, Timer};

/// The Si5324's 7-bit address.
pub const ADDRESS: u8 = 0x68;
/// The part number registers 134..135 must hold.
pub const PART_NUMBER: u16 = 0x0182;

/// How often the lock status is polled.
const LOCK_POLL_US: u32 = 10_000;
/// After a soft reset the part needs time before it answers.
const SOFT_RESET_US: u32 = 10_000;

/// A frequency plan, in the data sheet's logical divider values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencySettings {
    pub n1_hs: u8,
    pub nc1_ls: u32,
    pub n2_hs: u8,
    pub n2_ls: u32,
    pub n31: u32,
    pub n32: u32,
    pub bwsel: u8,
    pub crystal_as_ckin2: bool,
}

/// The RTIO clock the gateware was built for (its `rtio_frequency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtioClock {
    #[default]
    Mhz125,
    Mhz100,
}

impl RtioClock {
    /// The plans for a 125 MHz or 100 MHz CKIN1, giving the same frequency
    /// out: f_out = f_in / N31 * N2_HS * N2_LS / (N1_HS * NC1_LS), with the
    /// oscillator (f_in / N31 * N2) at 5 GHz.
    pub fn settings(self) -> FrequencySettings {
        match self {
            RtioClock::Mhz125 => FrequencySettings {
                n1_hs: 5,
                nc1_ls: 8,
                n2_hs: 7,
                n2_ls: 360,
                n31: 63,
                n32: 63,
                bwsel: 4,
                crystal_as_ckin2: true,
            },
            RtioClock::Mhz100 => FrequencySettings {
                n1_hs: 5,
                nc1_ls: 10,
                n2_hs: 10,
                n2_ls: 250,
                n31: 50,
                n32: 50,
                bwsel: 4,
                crystal_as_ckin2: true,
            },
        }
    }

    pub fn mhz(self) -> u32 {
        match self {
            RtioClock::Mhz125 => 125,
            RtioClock::Mhz100 => 100,
        }
    }
}

/// The register values of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mapped {
    n1_hs: u8,
    nc1_ls: u32,
    n2_hs: u8,
    n2_ls: u32,
    n31: u32,
    n32: u32,
}

fn map_hs(v: u8, what: &'static str) -> Result<u8, &'static str> {
    if (4..=11).contains(&v) {
        Ok(v - 4)
    } else {
        Err(what)
    }
}

fn map_settings(s: &FrequencySettings) -> Result<Mapped, &'static str> {
    if s.nc1_ls == 0 || s.nc1_ls > 1 << 20 || (s.nc1_ls != 1 && s.nc1_ls % 2 == 1) {
        return Err("NC1_LS must be 1 or even, at most 2^20");
    }
    if s.n2_ls == 0 || s.n2_ls > 1 << 20 || s.n2_ls % 2 == 1 {
        return Err("N2_LS must be even, at most 2^20");
    }
    if s.n31 == 0 || s.n31 > 1 << 19 || s.n32 == 0 || s.n32 > 1 << 19 {
        return Err("N31 and N32 must be in 1..=2^19");
    }
    if s.bwsel > 15 {
        return Err("BWSEL must fit 4 bits");
    }
    Ok(Mapped {
        n1_hs: map_hs(s.n1_hs, "N1_HS must be in 4..=11")?,
        nc1_ls: s.nc1_ls - 1,
        n2_hs: map_hs(s.n2_hs, "N2_HS must be in 4..=11")?,
        n2_ls: s.n2_ls - 1,
        n31: s.n31 - 1,
        n32: s.n32 - 1,
    })
}

/// The register writes of a plan, in order (the divider block 25..48).
fn divider_writes(m: &Mapped) -> [(u8, u8); 16] {
    let b = |v: u32, shift: u32| (v >> shift) as u8;
    [
        (25, m.n1_hs << 5),
        (31, b(m.nc1_ls, 16)),
        (32, b(m.nc1_ls, 8)),
        (33, b(m.nc1_ls, 0)),
        // NC2_LS like NC1_LS: the second output runs at the same rate.
        (34, b(m.nc1_ls, 16)),
        (35, b(m.nc1_ls, 8)),
        (36, b(m.nc1_ls, 0)),
        (40, m.n2_hs << 5 | b(m.n2_ls, 16)),
        (41, b(m.n2_ls, 8)),
        (42, b(m.n2_ls, 0)),
        (43, b(m.n31, 16)),
        (44, b(m.n31, 8)),
        (45, b(m.n31, 0)),
        (46, b(m.n32, 16)),
        (47, b(m.n32, 8)),
        (48, b(m.n32, 0)),
    ]
}

/// A clock input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Ckin1,
    Ckin2,
}

impl Input {
    fn cksel(self) -> u8 {
        match self {
            Input::Ckin1 => 0b00,
            Input::Ckin2 => 0b01,
        }
    }
    /// The LOSn_INT bit of register 129.
    fn los_bit(self) -> u8 {
        match self {
            Input::Ckin1 => 0x02,
            Input::Ckin2 => 0x04,
        }
    }
}

/// Why the Si5324 could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Si5324Error<E> {
    /// Selecting the path through the switches failed.
    Switch(SwitchError<E>),
    /// A transfer to register `reg` failed (a NACK of the address byte:
    /// no Si5324 on switch 0x71 channel 3).
    I2c { reg: u8, error: E },
    /// The part number registers did not read 0x0182.
    WrongPart(u16),
    /// The frequency plan cannot be written.
    Settings(&'static str),
    /// LOSX_INT: no crystal signal.
    NoCrystal,
    /// LOSn_INT: no clock on the selected input.
    NoInput(Input),
    /// LOL_INT still set at the deadline.
    LockTimeout { waited_ms: u32 },
}

impl<E: fmt::Debug> fmt::Display for Si5324Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Si5324Error::Switch(e) => write!(f, "Si5324 path: {e}"),
            Si5324Error::I2c { reg, error } => write!(f, "Si5324 register {reg}: {error:?}"),
            Si5324Error::WrongPart(id) => write!(
                f,
                "Si5324 part number {id:#06x}, expected {PART_NUMBER:#06x}"
            ),
            Si5324Error::Settings(why) => write!(f, "Si5324 frequency plan: {why}"),
            Si5324Error::NoCrystal => f.write_str("Si5324 has no crystal signal (LOSX_INT set)"),
            Si5324Error::NoInput(i) => write!(f, "Si5324 sees no clock on {i:?} (LOS_INT set)"),
            Si5324Error::LockTimeout { waited_ms } => {
                write!(f, "Si5324 not locked after {waited_ms} ms (LOL_INT set)")
            }
        }
    }
}

impl<E> From<SwitchError<E>> for Si5324Error<E> {
    fn from(e: SwitchError<E>) -> Self {
        Si5324Error::Switch(e)
    }
}

/// The Si5324 behind the board's switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Si5324 {
    switch: Pca954x,
}

impl Si5324 {
    /// Selects the path and checks the part number.
    pub fn probe<I: I2c>(bus: &mut I, switch: Pca954x) -> Result<Si5324, Si5324Error<I::Error>> {
        let si = Si5324 { switch };
        switch.select_clock_and_sfp(bus)?;
        let id = u16::from(si.read(bus, 134)?) << 8 | u16::from(si.read(bus, 135)?);
        if id != PART_NUMBER {
            return Err(Si5324Error::WrongPart(id));
        }
        Ok(si)
    }

    fn read<I: I2c>(&self, bus: &mut I, reg: u8) -> Result<u8, Si5324Error<I::Error>> {
        let mut v = [0u8];
        bus.write_read(ADDRESS, &[reg], &mut v)
            .map_err(|error| Si5324Error::I2c { reg, error })?;
        Ok(v[0])
    }

    fn write<I: I2c>(&self, bus: &mut I, reg: u8, value: u8) -> Result<(), Si5324Error<I::Error>> {
        bus.write(ADDRESS, &[reg, value])
            .map_err(|error| Si5324Error::I2c { reg, error })
    }

    fn rmw<I: I2c>(
        &self,
        bus: &mut I,
        reg: u8,
        f: impl FnOnce(u8) -> u8,
    ) -> Result<(), Si5324Error<I::Error>> {
        let v = self.read(bus, reg)?;
        self.write(bus, reg, f(v))
    }

    /// RST_REG: the part resets while the value byte is being received, so
    /// a NACK of that byte is expected.
    pub fn soft_reset<I: I2c, T: Timer>(
        &self,
        bus: &mut I,
        timer: &mut T,
    ) -> Result<(), Si5324Error<I::Error>> {
        let v = self.read(bus, 136)?;
        match bus.write(ADDRESS, &[136, v | 0x80]) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data) => {}
            Err(error) => return Err(Si5324Error::I2c { reg: 136, error }),
        }
        timer.delay_us(SOFT_RESET_US);
        Ok(())
    }

    /// Whether LOL_INT is clear.
    pub fn locked<I: I2c>(&self, bus: &mut I) -> Result<bool, Si5324Error<I::Error>> {
        Ok(self.read(bus, 130)? & 0x01 == 0)
    }

    /// Soft reset, then the plan `settings` with `input` selected by
    /// register (crystal as free-run CKIN2 if the plan says so), internal
    /// calibration, input checks, and the wait for lock. Returns the time
    /// lock took in milliseconds.
    pub fn setup<I: I2c, T: Timer>(
        &self,
        bus: &mut I,
        timer: &mut T,
        settings: &FrequencySettings,
        input: Input,
        lock_timeout_ms: u32,
    ) -> Result<u32, Si5324Error<I::Error>> {
        let m = map_settings(settings).map_err(Si5324Error::Settings)?;
        self.switch.select_clock_and_sfp(bus)?;
        self.soft_reset(bus, timer)?;
        if settings.crystal_as_ckin2 {
            self.rmw(bus, 0, |v| v | 0x40)?; // FREE_RUN
        }
        self.rmw(bus, 2, |v| (v & 0x0f) | settings.bwsel << 4)?;
        self.rmw(bus, 21, |v| v & !0x01)?; // CKSEL_PIN = 0: input chosen by register
        self.rmw(bus, 3, |v| (v & 0x2f) | input.cksel() << 6 | 0x10)?; // CKSEL_REG, SQ_ICAL
        self.rmw(bus, 4, |v| v & 0x3f)?; // AUTOSEL_REG = manual
        self.rmw(bus, 6, |v| (v & 0xc0) | 0b111_111)?; // SFOUT1/2 = LVDS
        for (reg, value) in divider_writes(&m) {
            self.write(bus, reg, value)?;
        }
        self.rmw(bus, 137, |v| v | 0x01)?; // FASTLOCK
        self.rmw(bus, 136, |v| v | 0x40)?; // ICAL: calibrate and lock
        let los = self.read(bus, 129)?;
        if los & 0x01 != 0 {
            return Err(Si5324Error::NoCrystal);
        }
        if los & input.los_bit() != 0 {
            return Err(Si5324Error::NoInput(input));
        }
        self.wait_lock(bus, timer, lock_timeout_ms)
    }

    /// Polls LOL_INT until clear or `timeout_ms`; returns the time taken.
    pub fn wait_lock<I: I2c, T: Timer>(
        &self,
        bus: &mut I,
        timer: &mut T,
        timeout_ms: u32,
    ) -> Result<u32, Si5324Error<I::Error>> {
        let waited = poll_until(timer, u64::from(timeout_ms) * 1000, LOCK_POLL_US, |_| {
            self.locked(bus)
        })?;
        match waited {
            Some(us) => Ok((us / 1000) as u32),
            None => Err(Si5324Error::LockTimeout {
                waited_ms: timeout_ms,
            }),
        }
    }

    /// Moves CKIN1 between the local clock and the uplink's recovered
    /// clock: digital hold on, the siphaser's `switch_clocks`, hold off,
    /// then the wait for lock. Returns the time lock took in milliseconds.
    pub fn select_recovered_clock<I: I2c, S: SiphaserCsr, T: Timer>(
        &self,
        bus: &mut I,
        siphaser: &mut S,
        timer: &mut T,
        recovered: bool,
        lock_timeout_ms: u32,
    ) -> Result<u32, Si5324Error<I::Error>> {
        self.switch.select_clock_and_sfp(bus)?;
        self.rmw(bus, 3, |v| v | 0x20)?; // DHOLD
        siphaser.write_switch_clocks(u32::from(recovered));
        self.rmw(bus, 3, |v| v & !0x20)?;
        self.wait_lock(bus, timer, lock_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_map_to_registers() {
        let m = map_settings(&RtioClock::Mhz125.settings()).unwrap();
        assert_eq!(
            m,
            Mapped {
                n1_hs: 1,
                nc1_ls: 7,
                n2_hs: 3,
                n2_ls: 359,
                n31: 62,
                n32: 62
            }
        );
        let w = divider_writes(&m);
        assert_eq!(w[0], (25, 0x20));
        assert_eq!(&w[1..4], &[(31, 0), (32, 0), (33, 7)]);
        assert_eq!(&w[7..10], &[(40, 0x60), (41, 0x01), (42, 0x67)]);
        assert_eq!(&w[10..13], &[(43, 0), (44, 0), (45, 62)]);
        let m = map_settings(&RtioClock::Mhz100.settings()).unwrap();
        assert_eq!((m.nc1_ls, m.n2_hs, m.n2_ls, m.n31), (9, 6, 249, 49));
    }

    #[test]
    fn bad_plans_are_refused() {
        let mut s = RtioClock::Mhz125.settings();
        s.nc1_ls = 7;
        assert!(map_settings(&s).is_err());
        s.nc1_ls = 1;
        assert!(map_settings(&s).is_ok());
        s.n1_hs = 12;
        assert!(map_settings(&s).is_err());
        let mut s = RtioClock::Mhz125.settings();
        s.n2_ls = 0;
        assert!(map_settings(&s).is_err());
        s.n2_ls = 361;
        assert!(map_settings(&s).is_err());
    }

    /// The plans give the RTIO frequency with the oscillator in range.
    #[test]
    fn plans_give_their_frequency() {
        for (clock, f_in) in [(RtioClock::Mhz125, 125e6), (RtioClock::Mhz100, 100e6)] {
            let s = clock.settings();
            let f_osc = f_in / f64::from(s.n31) * f64::from(s.n2_hs) * f64::from(s.n2_ls);
            assert!((4.85e9..=5.67e9).contains(&f_osc));
            let f_out = f_osc / (f64::from(s.n1_hs) * f64::from(s.nc1_ls));
            assert!((f_out - f64::from(clock.mhz()) * 1e6).abs() < 1.0);
        }
    }
}
