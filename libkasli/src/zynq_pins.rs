//! The Kasli-SoC's I2C lines on the Zynq GPIO: SCL on MIO 50, SDA on MIO 51,
//! the I2C switches' reset on MIO 33 (all GPIO bank 1: bits 18, 19 and 1).
//!
//! Open drain on a push-pull GPIO: the output data bit of SCL and SDA stays
//! 0 and the direction stays "output"; driving low enables the output
//! (`OEN` bit set), releasing disables it and the board's pull-up takes the
//! line high. The input register reads the pad whatever the output enable,
//! so [`OpenDrain::scl`]/[`OpenDrain::sda`] see a stretching device.
//!
//! Output data goes through the bank's `MASK_DATA_1_{LSW,MSW}` registers,
//! which change only the unmasked bits: no read-modify-write of `DATA_1`,
//! so nothing else on bank 1 is disturbed.

use zynq7000::gpio::{MaskedOutput, MmioRegisters, Registers};
use zynq7000::slcr;

use crate::bitbang::OpenDrain;
use crate::switch::ResetLine;

/// Bank 1 covers MIO 32..=53.
const BANK1_FIRST_MIO: u32 = 32;
const SCL_MIO: u32 = 50;
const SDA_MIO: u32 = 51;
const SWITCH_RESET_MIO: u32 = 33;

const fn bank1_bit(mio: u32) -> u32 {
    1 << (mio - BANK1_FIRST_MIO)
}

const SCL: u32 = bank1_bit(SCL_MIO);
const SDA: u32 = bank1_bit(SDA_MIO);
const SWITCH_RESET: u32 = bank1_bit(SWITCH_RESET_MIO);

/// SLCR `MIO_PIN_xx` values (UG585 B.28): every mux select 0 (GPIO),
/// `IO_Type` in bits 11:9, `PULLUP` bit 12, `DisableRcvr` bit 13.
/// The I2C lines are on the 1.8 V bank with the pull-up on; MIO 33 is on
/// the 3.3 V bank without pull-up: on the prototype board a floating MIO 33
/// leaked enough to assert the switch reset, so it is always driven.
/// `DisableRcvr` only matters for HSTL and is set as on the boards in use.
const MIO_GPIO_LVCMOS18_PULLUP: u32 = 1 << 13 | 1 << 12 | 0b001 << 9;
const MIO_GPIO_LVCMOS33: u32 = 1 << 13 | 0b011 << 9;

/// SLCR write-protection keys (UG585 `SLCR_UNLOCK`/`SLCR_LOCK`).
const SLCR_UNLOCK_KEY: u32 = 0xDF0D;
const SLCR_LOCK_KEY: u32 = 0x767B;

/// The I2C lines and the switch reset.
pub struct MioI2cPins {
    gpio: MmioRegisters<'static>,
}

impl MioI2cPins {
    /// Routes MIO 50, 51 and 33 to the GPIO, releases SCL and SDA and
    /// drives the switch reset inactive (low).
    ///
    /// # Safety
    ///
    /// Nothing else may use MIO 33, 50 or 51, or write GPIO bank 1's
    /// direction and output-enable registers, while this value lives; the
    /// SLCR must not be in use by another CPU during the call (it is
    /// unlocked and locked again).
    pub unsafe fn new() -> MioI2cPins {
        // SAFETY: the caller guarantees exclusive use of these pins and of
        // the SLCR during the call; the PAC's fixed addresses are the Zynq's.
        let mut slcr = unsafe { slcr::Registers::new_mmio_fixed() };
        slcr.write_unlock(SLCR_UNLOCK_KEY);
        for (mio, raw) in [
            (SCL_MIO, MIO_GPIO_LVCMOS18_PULLUP),
            (SDA_MIO, MIO_GPIO_LVCMOS18_PULLUP),
            (SWITCH_RESET_MIO, MIO_GPIO_LVCMOS33),
        ] {
            let _ = slcr.write_mio_pins(mio as usize, slcr::mio::Config::new_with_raw_value(raw));
        }
        slcr.write_lock(SLCR_LOCK_KEY);

        // SAFETY: as above; GPIO bank 1's pins used here are ours.
        let gpio = unsafe { Registers::new_mmio_fixed() };
        let mut pins = MioI2cPins { gpio };
        // Output data first (SCL/SDA 0, reset inactive), then directions,
        // then enables: no glitch on a line whose output turns on.
        pins.write_data(SCL | SDA | SWITCH_RESET, 0);
        let mut bank = pins.gpio.bank_1();
        bank.modify_dirm(|v| v | SCL | SDA | SWITCH_RESET);
        bank.modify_out_en(|v| (v & !(SCL | SDA)) | SWITCH_RESET);
        pins
    }

    /// Sets the output data of the bank-1 bits in `bits` to `value`'s.
    fn write_data(&mut self, bits: u32, value: u32) {
        // MASK_DATA: bits 31:16 are a write mask (1 = keep), 15:0 the data.
        let lsw_mask = !(bits & 0xffff) & 0xffff;
        if lsw_mask != 0xffff {
            let raw = lsw_mask << 16 | (value & 0xffff);
            self.gpio
                .write_masked_out_1_lsw(MaskedOutput::new_with_raw_value(raw));
        }
        let msw_mask = !(bits >> 16) & 0xffff;
        if msw_mask != 0xffff {
            let raw = msw_mask << 16 | (value >> 16 & 0xffff);
            self.gpio
                .write_masked_out_1_msw(MaskedOutput::new_with_raw_value(raw));
        }
    }

    fn drive_low(&mut self, bit: u32, low: bool) {
        self.gpio
            .bank_1()
            .modify_out_en(|v| if low { v | bit } else { v & !bit });
    }

    fn level(&mut self, bit: u32) -> bool {
        self.gpio.read_in_1() & bit != 0
    }
}

impl OpenDrain for MioI2cPins {
    fn set_scl(&mut self, high: bool) {
        self.drive_low(SCL, !high)
    }
    fn set_sda(&mut self, high: bool) {
        self.drive_low(SDA, !high)
    }
    fn scl(&mut self) -> bool {
        self.level(SCL)
    }
    fn sda(&mut self) -> bool {
        self.level(SDA)
    }
}

impl ResetLine for MioI2cPins {
    /// MIO 33 high turns on the transistor that pulls the switches'
    /// `RESET` low: high asserts the reset.
    fn set_reset(&mut self, asserted: bool) {
        self.write_data(SWITCH_RESET, if asserted { SWITCH_RESET } else { 0 })
    }
}
