//! Routes SD0 (MIO 40..46) and the console UART1 (MIO 48/49); pin values
//! and the reasons are in `satboot::pins`. Also pulses the SD0 and UART1
//! resets so both start from their new reference clocks.

use crate::fw::mmio;
use satboot::pins;
use zynq7000::slcr::mio::Config;

const SDIO_RST_CTRL: usize = 0xF800_0218;
const UART_RST_CTRL: usize = 0xF800_0228;
/// SDIO_RST_CTRL: SD0's REF_RST (4) and CPU1X_RST (0); UART_RST_CTRL:
/// UART1's REF_RST (2) and CPU1X_RST (0).
const SDIO0_RESETS: u32 = (1 << 4) | (1 << 0);
const UART1_RESETS: u32 = (1 << 2) | (1 << 0);

/// SLCR unlocked by the caller.
pub fn init() {
    // SAFETY: the SLCR block; the loader is the only software running.
    let mut slcr = unsafe { zynq7000::slcr::Registers::new_mmio_fixed() };
    let read = |slcr: &mut zynq7000::slcr::MmioRegisters<'static>, pin: usize| {
        slcr.read_mio_pins(pin).unwrap_or(Config::new_with_raw_value(0))
    };
    let io = pins::bank_io_type(read(&mut slcr, *pins::SD0_PINS.start()));
    for pin in pins::SD0_PINS {
        let v = pins::sd0(read(&mut slcr, pin), io);
        let _ = slcr.write_mio_pins(pin, v);
    }
    let _ = slcr.write_mio_pins(pins::SD0_CD_PIN, pins::sd0_cd(io));
    slcr.write_sd_0_wp_cd_sel(pins::SD0_WP_CD_SEL);
    let _ = slcr.write_mio_pins(pins::UART1_TX_PIN, pins::uart1_tx(io));
    let _ = slcr.write_mio_pins(pins::UART1_RX_PIN, pins::uart1_rx(io));

    mmio::modify(SDIO_RST_CTRL, SDIO0_RESETS, SDIO0_RESETS);
    mmio::modify(SDIO_RST_CTRL, SDIO0_RESETS, 0);
    mmio::modify(UART_RST_CTRL, UART1_RESETS, UART1_RESETS);
    mmio::modify(UART_RST_CTRL, UART1_RESETS, 0);
}
