//! Polled log output on the board's console UART (Cadence UART, UG585 ch. 19).

use super::board;
use super::mmio;
use core::fmt;

const CR: usize = 0x00;
const MR: usize = 0x04;
const IDR: usize = 0x0C;
const BAUDGEN: usize = 0x18;
const SR: usize = 0x2C;
const FIFO: usize = 0x30;
const BAUDDIV: usize = 0x34;
const SR_TXFULL: u32 = 1 << 4;

/// Resets and enables the UART, 8N1, with the baud-rate divisors (CD,
/// BDIV) the board computed for its reference clock (none: leave them).
pub fn init(divisors: Option<(u32, u32)>) {
    let base = board::UART_BASE;
    mmio::write(base + IDR, 0x1FFF);
    mmio::write(base + MR, 0x20);
    if let Some((cd, bdiv)) = divisors {
        mmio::write(base + CR, 0x28); // TX and RX disabled while the divisors change
        mmio::write(base + BAUDGEN, cd);
        mmio::write(base + BAUDDIV, bdiv);
    }
    // TX/RX enable and FIFO resets (QEMU drops characters without TXEN).
    mmio::write(base + CR, 0x17);
}

fn put(b: u8) {
    let base = board::UART_BASE;
    // At 115200 baud a byte leaves in ~87 us; give up on a stuck FIFO.
    for _ in 0..100_000 {
        if mmio::read(base + SR) & SR_TXFULL == 0 {
            break;
        }
    }
    mmio::write(base + FIFO, b as u32);
}

/// The console as a `fmt::Write`.
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                put(b'\r');
            }
            put(b);
        }
        Ok(())
    }
}

/// `log!("...", args)`: one line on the console.
macro_rules! log {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::fw::uart::Console, $($arg)*);
    }};
}
