//! The Kasli-SoC's MIO pins the loader routes (SLCR MIO_PIN_xx, UG585
//! table 2-4): SD0 on MIO 40..45 with card detect on MIO 46, and the
//! console, UART1, on MIO 48 (TX) / 49 (RX). MIO 50/51 (bit-banged I2C)
//! and MIO 33 (I2C switch reset) are left alone for satman.
//!
//! The loader does not know MIO bank 501's voltage, but the BootROM does:
//! it has just read BOOT.BIN through SD0 on this bank, so the I/O standard
//! it left on MIO 40 is the bank's. Every pin set here takes that standard
//! (LVCMOS 1.8 V, upstream's setting for the SD pins, if the BootROM left
//! none).

use arbitrary_int::u3;
use zynq7000::slcr::mio::{Config, IoType, Speed};

/// SD0: clock, command and data 0..3.
pub const SD0_PINS: core::ops::RangeInclusive<usize> = 40..=45;
/// SD0 card detect (SD0_WP_CD_SEL, upstream's kasli_soc value).
pub const SD0_CD_PIN: usize = 46;
pub const UART1_TX_PIN: usize = 48;
pub const UART1_RX_PIN: usize = 49;

/// L3 mux selections (UG585 table 2-4).
const L3_SDIO: u8 = 0b100;
const L3_UART: u8 = 0b111;

/// SD0_WP_CD_SEL: card detect on MIO 46 (bits 21:16), write protect left
/// on MIO 0 (bits 5:0; the microSD slot has no switch and the driver does
/// not honour it).
pub const SD0_WP_CD_SEL: u32 = (SD0_CD_PIN as u32) << 16;

/// The bank's I/O standard, from what the BootROM left on MIO 40.
pub fn bank_io_type(bootrom_mio40: Config) -> IoType {
    bootrom_mio40.io_type().unwrap_or(IoType::LvCmos18)
}

fn routed(l3: u8, io: IoType) -> Config {
    Config::new_with_raw_value(0)
        .with_l3_sel(u3::new(l3))
        .with_io_type(io)
        .with_speed(Speed::FastCmosEdge)
}

/// An SD0 signal pin; keeps the BootROM's pull-up choice.
pub fn sd0(current: Config, io: IoType) -> Config {
    routed(L3_SDIO, io).with_pullup(current.pullup())
}

/// The card detect pin: an input (GPIO function, output driver off).
pub fn sd0_cd(io: IoType) -> Config {
    Config::new_with_raw_value(0)
        .with_io_type(io)
        .with_tri_enable(true)
        .with_pullup(true)
}

pub fn uart1_tx(io: IoType) -> Config {
    routed(L3_UART, io).with_pullup(true)
}

pub fn uart1_rx(io: IoType) -> Config {
    routed(L3_UART, io).with_pullup(true).with_tri_enable(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_values() {
        // What the BootROM typically leaves on an SD pin of a 1.8 V bank:
        // L3 = SDIO, LVCMOS18, fast, pull-up.
        let bootrom = Config::new_with_raw_value(0x1280);
        let io = bank_io_type(bootrom);
        assert_eq!(io, IoType::LvCmos18);
        assert_eq!(sd0(bootrom, io).raw_value(), 0x1380);
        // UART1 TX: L3 = 111 (7:5), LVCMOS18 (11:9), fast (8), pull-up (12).
        assert_eq!(uart1_tx(io).raw_value(), 0x13E0);
        assert_eq!(uart1_rx(io).raw_value(), 0x13E1);
        assert_eq!(sd0_cd(io).raw_value(), 0x1201);
        // A 3.3 V bank keeps its standard.
        let io33 = bank_io_type(Config::new_with_raw_value(0x0680));
        assert_eq!(uart1_tx(io33).raw_value(), 0x17E0);
        // Nothing left by the BootROM: upstream's LVCMOS18.
        assert_eq!(bank_io_type(Config::new_with_raw_value(0)), IoType::LvCmos18);
        assert_eq!(SD0_WP_CD_SEL, 0x002E_0000);
    }
}
