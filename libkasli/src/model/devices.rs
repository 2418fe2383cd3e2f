//! Register models of the Kasli-SoC's I2C devices, each answering the
//! transaction-level calls of the bus ([`super::bus`]): start (address
//! acknowledge), write a byte (acknowledge), read a byte, stop.

use std::format;
use std::string::String;
use std::vec::Vec;

use crate::expander::{ExpanderKind, TX_DISABLE_PIN};
use crate::switch::SwitchKind;

/// An I2C switch: one control register.
#[derive(Debug, Clone)]
pub struct SwitchModel {
    pub address: u8,
    pub kind: SwitchKind,
    pub control: u8,
    /// What the control register reads after a reset.
    pub reset_control: u8,
    /// Every control byte written, in order.
    pub writes: Vec<u8>,
}

impl SwitchModel {
    pub fn new(address: u8, kind: SwitchKind) -> SwitchModel {
        // As the upstream probe sees them on Kasli-SoC boards.
        let reset_control = match kind {
            SwitchKind::Pca9548 => 0x00,
            SwitchKind::Pca9547 => 0x08,
        };
        SwitchModel {
            address,
            kind,
            control: reset_control,
            reset_control,
            writes: Vec::new(),
        }
    }

    pub fn reset(&mut self) {
        self.control = self.reset_control;
    }

    pub fn write(&mut self, byte: u8) -> bool {
        self.writes.push(byte);
        self.control = match self.kind {
            SwitchKind::Pca9548 => byte,
            SwitchKind::Pca9547 => byte & 0x0f,
        };
        true
    }

    /// Whether downstream channel `ch` is connected.
    pub fn connects(&self, ch: u8) -> bool {
        match self.kind {
            SwitchKind::Pca9548 => self.control & (1 << ch) != 0,
            SwitchKind::Pca9547 => self.control & 0x08 != 0 && self.control & 7 == ch,
        }
    }

    /// How many channels are on (more than one is a wiring hazard here).
    pub fn channels_on(&self) -> u32 {
        (0..8).filter(|&c| self.connects(c)).count() as u32
    }
}

/// A byte-addressed register file with an auto-incrementing pointer: the
/// first byte written after the address byte sets the pointer.
#[derive(Debug, Clone)]
pub struct RegFile {
    pub regs: [u8; 256],
    pub pointer: u8,
    expect_pointer: bool,
}

impl Default for RegFile {
    fn default() -> Self {
        RegFile {
            regs: [0; 256],
            pointer: 0,
            expect_pointer: true,
        }
    }
}

impl RegFile {
    pub fn start(&mut self, read: bool) {
        if !read {
            self.expect_pointer = true;
        }
    }

    /// Returns the register written, if the byte was data.
    pub fn write(&mut self, byte: u8) -> Option<u8> {
        if self.expect_pointer {
            self.pointer = byte;
            self.expect_pointer = false;
            None
        } else {
            let reg = self.pointer;
            self.regs[usize::from(reg)] = byte;
            self.pointer = self.pointer.wrapping_add(1);
            Some(reg)
        }
    }

    pub fn next_read(&mut self) -> u8 {
        let reg = self.pointer;
        self.pointer = self.pointer.wrapping_add(1);
        reg
    }
}

/// An MCP23017 or PCA9539.
#[derive(Debug, Clone)]
pub struct ExpanderModel {
    pub kind: ExpanderKind,
    pub address: u8,
    pub file: RegFile,
}

impl ExpanderModel {
    pub fn new(kind: ExpanderKind, index: u8) -> ExpanderModel {
        let mut file = RegFile::default();
        // Reset state: every pin an input.
        let (dir, _) = Self::regs(kind);
        file.regs[usize::from(dir[0])] = 0xff;
        file.regs[usize::from(dir[1])] = 0xff;
        if kind == ExpanderKind::Pca9539 {
            file.regs[2] = 0xff;
            file.regs[3] = 0xff;
        }
        ExpanderModel {
            kind,
            address: kind.address(index),
            file,
        }
    }

    fn regs(kind: ExpanderKind) -> ([u8; 2], [u8; 2]) {
        match kind {
            ExpanderKind::Mcp23017 => ([0x00, 0x01], [0x12, 0x13]),
            ExpanderKind::Pca9539 => ([0x06, 0x07], [0x02, 0x03]),
        }
    }

    /// The level a pin drives, or `None` while it is an input (the SFP
    /// module's pull-up then holds TX_DISABLE high: laser off).
    pub fn output(&self, port: u8, pin: u8) -> Option<bool> {
        let (dir, out) = Self::regs(self.kind);
        let p = usize::from(port & 1);
        let bit = 1 << pin;
        if self.file.regs[usize::from(dir[p])] & bit != 0 {
            None
        } else {
            Some(self.file.regs[usize::from(out[p])] & bit != 0)
        }
    }

    /// Whether the laser of the SFP on `port` is on (TX_DISABLE driven low).
    pub fn laser_on(&self, port: u8) -> bool {
        self.output(port, TX_DISABLE_PIN) == Some(false)
    }
}

/// Si5324 faults and timing.
#[derive(Debug, Clone)]
pub struct Si5324Config {
    /// Lock time after calibration or an input change.
    pub lock_ms: u64,
    pub never_locks: bool,
    pub crystal: bool,
    /// The frequency on CKIN1 (the local clock before the uplink).
    pub ckin1_hz: u64,
    /// The frequency the gateware's transceivers need.
    pub expected_out_hz: u64,
}

impl Default for Si5324Config {
    fn default() -> Self {
        Si5324Config {
            lock_ms: 300,
            never_locks: false,
            crystal: true,
            ckin1_hz: 125_000_000,
            expected_out_hz: 125_000_000,
        }
    }
}

/// The Si5324's registers and lock behaviour.
#[derive(Debug, Clone)]
pub struct Si5324Model {
    pub config: Si5324Config,
    pub file: RegFile,
    /// When calibration (ICAL) was last started.
    pub ical_at: Option<u64>,
    /// The last time the lock had to start over (input change without
    /// hold, or the end of a digital hold after an input change).
    pub relock_from: u64,
    /// Input changed while DHOLD was set: relock when it clears.
    pub changed_in_hold: bool,
    /// The last value byte received was a soft reset (NACKed).
    nack_next: bool,
    /// Frequency plan problems seen at ICAL.
    pub plan_error: Option<String>,
}

impl Si5324Model {
    pub fn new(config: Si5324Config) -> Si5324Model {
        let mut m = Si5324Model {
            config,
            file: RegFile::default(),
            ical_at: None,
            relock_from: 0,
            changed_in_hold: false,
            nack_next: false,
            plan_error: None,
        };
        m.defaults();
        m
    }

    fn defaults(&mut self) {
        self.file.regs = [0; 256];
        self.file.regs[134] = 0x01;
        self.file.regs[135] = 0x82;
        // CKSEL_PIN on, as after power-up: the register select needs it off.
        self.file.regs[21] = 0x01;
        self.ical_at = None;
        self.plan_error = None;
    }

    pub fn reg(&self, r: u8) -> u8 {
        self.file.regs[usize::from(r)]
    }

    fn dhold(&self) -> bool {
        self.reg(3) & 0x20 != 0
    }

    /// The output frequency the programmed plan gives from CKIN1, or why
    /// the plan is unusable.
    pub fn plan_output_hz(&self) -> Result<u64, String> {
        let r = |i: u8| u64::from(self.reg(i));
        let n1_hs = (r(25) >> 5) + 4;
        let nc1_ls = (r(31) & 0x0f) << 16 | r(32) << 8 | r(33);
        let nc1_ls = nc1_ls + 1;
        let n2_hs = (r(40) >> 5) + 4;
        let n2_ls = ((r(40) & 0x0f) << 16 | r(41) << 8 | r(42)) + 1;
        let n31 = ((r(43) & 0x07) << 16 | r(44) << 8 | r(45)) + 1;
        if n1_hs > 11 || n2_hs > 11 {
            return Err(format!(
                "HS divider out of range (N1_HS {n1_hs}, N2_HS {n2_hs})"
            ));
        }
        let f_osc = self.config.ckin1_hz * n2_hs * n2_ls / n31;
        if !(4_850_000_000..=5_670_000_000).contains(&f_osc) {
            return Err(format!("oscillator at {f_osc} Hz, outside 4.85..5.67 GHz"));
        }
        Ok(f_osc / (n1_hs * nc1_ls))
    }

    pub fn start(&mut self, read: bool) {
        self.file.start(read);
    }

    pub fn write(&mut self, now: u64, byte: u8) -> bool {
        if self.nack_next {
            return false;
        }
        let before3 = self.reg(3);
        let Some(reg) = self.file.write(byte) else {
            return true;
        };
        match reg {
            136 if byte & 0x80 != 0 => {
                // RST_REG: the part resets under the byte; no acknowledge.
                self.defaults();
                self.nack_next = true;
                return false;
            }
            136 if byte & 0x40 != 0 => {
                self.ical_at = Some(now);
                self.relock_from = now;
                self.plan_error = match self.plan_output_hz() {
                    Ok(hz) if hz.abs_diff(self.config.expected_out_hz) > 1000 => Some(format!(
                        "output {hz} Hz, transceivers need {} Hz",
                        self.config.expected_out_hz
                    )),
                    Ok(_) => None,
                    Err(e) => Some(e),
                };
                self.file.regs[136] &= !0x40; // self-clearing
            }
            3 if before3 & 0x20 != 0 && byte & 0x20 == 0 && self.changed_in_hold => {
                self.changed_in_hold = false;
                self.relock_from = now;
            }
            _ => {}
        }
        true
    }

    pub fn stop(&mut self) {
        self.nack_next = false;
    }

    /// CKIN1's source changed (siphaser switch or uplink state).
    pub fn input_changed(&mut self, now: u64) {
        if self.dhold() {
            self.changed_in_hold = true;
        } else {
            self.relock_from = now;
        }
    }

    /// The selected input carries a clock.
    fn input_present(&self, ckin1: bool) -> bool {
        match self.reg(3) >> 6 {
            0b00 => ckin1,
            // FREE_RUN routes the crystal to CKIN2.
            0b01 => self.config.crystal && self.reg(0) & 0x40 != 0,
            _ => false,
        }
    }

    pub fn locked(&self, now: u64, ckin1: bool) -> bool {
        let Some(_) = self.ical_at else { return false };
        !self.config.never_locks
            && self.config.crystal
            && self.plan_error.is_none()
            && self.reg(21) & 0x01 == 0
            && self.input_present(ckin1)
            && !self.changed_in_hold
            && now >= self.relock_from + self.config.lock_ms * 1_000_000
    }

    pub fn read(&mut self, now: u64, ckin1: bool) -> u8 {
        let reg = self.file.next_read();
        match reg {
            129 => {
                let crystal_los = !self.config.crystal;
                let ckin2 = self.config.crystal && self.reg(0) & 0x40 != 0;
                u8::from(crystal_los) | u8::from(!ckin1) << 1 | u8::from(!ckin2) << 2
            }
            130 => u8::from(!self.locked(now, ckin1)),
            r => self.reg(r),
        }
    }
}
