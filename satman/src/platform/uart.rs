//! Cadence UART driver (Zynq UART0 at 0xE000_0000, UART1 at 0xE000_1000),
//! polled, never blocking without a bound.
//!
//! * RX: [`Uart::read_byte`] takes one byte from the 64-byte RX FIFO or
//!   returns `None`.
//! * TX: [`Uart::write`] puts what fits into the TX FIFO and a software ring
//!   and returns how much it took; [`Uart::poll`] moves the ring into the
//!   FIFO as it drains. [`Uart::write_all`] and [`Uart::flush`] wait, but
//!   only until a deadline.
//!
//! UART1 carries the logs (owned by [`super::logger`]); UART0 is the aux
//! byte channel, handed out once by [`take_aux`]. Both are CPU0-only.
//!
//! QEMU drops characters unless TX is enabled, so [`Uart::new`] writes
//! CR = 0x17 (TX/RX enable plus TX/RX FIFO reset, the resets self-clear).

use super::board;
use super::time::{Deadline, TimedOut};
use core::sync::atomic::{AtomicBool, Ordering};
use zynq7000::uart::{self, Registers};

/// Which controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// 0xE000_0000: the aux byte channel.
    Uart0,
    /// 0xE000_1000: logs.
    Uart1,
}

/// A fixed byte ring used as the TX queue.
struct Ring {
    buf: &'static mut [u8],
    start: usize,
    len: usize,
}

impl Ring {
    fn free(&self) -> usize {
        self.buf.len() - self.len
    }

    fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        let cap = self.buf.len();
        for (i, &b) in data[..n].iter().enumerate() {
            self.buf[(self.start + self.len + i) % cap] = b;
        }
        self.len += n;
        n
    }

    fn peek(&self) -> Option<u8> {
        (self.len > 0).then(|| self.buf[self.start])
    }

    fn pop(&mut self) {
        self.start = (self.start + 1) % self.buf.len();
        self.len -= 1;
    }
}

/// A Cadence UART with a software TX ring.
pub struct Uart {
    regs: uart::MmioRegisters<'static>,
    tx: Ring,
    rx_overruns: u32,
}

/// Control register value: TXEN | RXEN | TXRES | RXRES (resets self-clear).
const CR_ENABLE_AND_RESET: u32 = 0x17;
/// Mode: 8 data bits, no parity, 1 stop bit, normal mode, uart_ref_clk.
const MR_8N1: u32 = 0x20;

impl Uart {
    /// Resets and enables `port`, 8N1, all UART interrupts off; programs the
    /// baud rate only where the board says so ([`board::UART_PROGRAM_BAUD`]).
    /// `tx_ring` is the TX queue (its size bounds what [`Uart::write`] can
    /// absorb while the line is busy).
    ///
    /// # Safety
    /// At most one `Uart` per port may exist.
    pub unsafe fn new(port: Port, tx_ring: &'static mut [u8]) -> Uart {
        // SAFETY: the caller guarantees this is the one `Uart` of the port, so nothing else drives
        // these registers.
        let mut regs = unsafe {
            match port {
                Port::Uart0 => Registers::new_mmio_fixed_0(),
                Port::Uart1 => Registers::new_mmio_fixed_1(),
            }
        };
        regs.write_interrupt_disable(uart::InterruptControl::new_with_raw_value(0x1FFF));
        regs.write_mode(uart::Mode::new_with_raw_value(MR_8N1));
        if let Some((ref_hz, baud)) = board::UART_PROGRAM_BAUD {
            let (cd, bdiv) = baud_divisors(ref_hz, baud);
            // The divisors may only change with TX and RX disabled.
            regs.write_control(uart::Control::new_with_raw_value(0x28));
            regs.write_baudgen(uart::Baudgen::new_with_raw_value(cd as u32));
            regs.write_baud_rate_div(uart::BaudRateDivisor::new_with_raw_value(bdiv as u32));
        }
        regs.write_control(uart::Control::new_with_raw_value(CR_ENABLE_AND_RESET));
        regs.write_interrupt_status(uart::InterruptStatus::new_with_raw_value(0x1FFF));
        Uart {
            regs,
            tx: Ring {
                buf: tx_ring,
                start: 0,
                len: 0,
            },
            rx_overruns: 0,
        }
    }

    /// One received byte, if any.
    pub fn read_byte(&mut self) -> Option<u8> {
        self.check_rx_errors();
        if self.regs.read_status().rx_empty() {
            None
        } else {
            Some(self.regs.read_fifo().fifo())
        }
    }

    /// Reads what is available into `buf`; returns the count (maybe 0).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            match self.read_byte() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    /// Number of RX FIFO overruns seen (bytes lost because nobody read in time).
    pub fn rx_overruns(&self) -> u32 {
        self.rx_overruns
    }

    fn check_rx_errors(&mut self) {
        let isr = self.regs.read_interrupt_status();
        if isr.rx_over() || isr.rx_framing() || isr.rx_parity() {
            if isr.rx_over() {
                self.rx_overruns = self.rx_overruns.wrapping_add(1);
            }
            self.regs
                .write_interrupt_status(uart::InterruptStatus::new_for_clearing_rx_errors());
        }
    }

    /// Moves queued bytes into the TX FIFO while it has room. Never waits.
    pub fn poll(&mut self) {
        while let Some(b) = self.tx.peek() {
            if self.regs.read_status().tx_full() {
                break;
            }
            self.regs
                .write_fifo(uart::Fifo::new_with_raw_value(b as u32));
            self.tx.pop();
        }
    }

    /// Queues as much of `data` as fits (FIFO and ring) and returns how many
    /// bytes were taken. Never waits.
    pub fn write(&mut self, data: &[u8]) -> usize {
        self.poll();
        let mut n = 0;
        // Straight into the FIFO while nothing is queued ahead of us.
        if self.tx.len == 0 {
            while n < data.len() && !self.regs.read_status().tx_full() {
                self.regs
                    .write_fifo(uart::Fifo::new_with_raw_value(data[n] as u32));
                n += 1;
            }
        }
        n + self.tx.push(&data[n..])
    }

    /// Writes all of `data`, waiting for room until `deadline`. On timeout
    /// the bytes not taken are dropped and `Err(TimedOut)` is returned.
    pub fn write_all(&mut self, mut data: &[u8], deadline: Deadline) -> Result<(), TimedOut> {
        loop {
            let n = self.write(data);
            data = &data[n..];
            if data.is_empty() {
                return Ok(());
            }
            if deadline.has_passed() {
                return Err(TimedOut);
            }
            core::hint::spin_loop();
        }
    }

    /// Bytes queued in the software ring (not yet in the FIFO).
    pub fn tx_queued(&self) -> usize {
        self.tx.len
    }

    /// Waits until everything queued has left the TX FIFO, or `deadline`.
    pub fn flush(&mut self, deadline: Deadline) -> Result<(), TimedOut> {
        super::time::wait_until(deadline, || {
            self.poll();
            self.tx.len == 0 && self.regs.read_status().tx_empty()
        })
    }
}

/// Chooses CD and BDIV for `baud` from `ref_hz`: baud = ref / (CD * (BDIV + 1))
/// with 1 <= CD <= 65535 and 4 <= BDIV <= 254 (Zynq TRM, UART baud rate
/// generator), minimising the error.
fn baud_divisors(ref_hz: u32, baud: u32) -> (u16, u8) {
    let mut best = (0u16, 4u8, u32::MAX);
    for bdiv in 4u32..=254 {
        let div = baud * (bdiv + 1);
        let cd = (ref_hz + div / 2) / div;
        if cd == 0 || cd > 0xFFFF {
            continue;
        }
        let actual = ref_hz / (cd * (bdiv + 1));
        let err = actual.abs_diff(baud);
        if err < best.2 {
            best = (cd as u16, bdiv as u8, err);
        }
    }
    (best.0, best.1)
}

static AUX_TAKEN: AtomicBool = AtomicBool::new(false);

/// Size of the aux channel's TX ring.
pub const AUX_TX_RING: usize = 16 * 1024;

/// Hands out the UART0 (aux channel) driver, once. CPU0 only.
pub fn take_aux() -> Option<Uart> {
    if board::CONSOLE == Port::Uart0 || AUX_TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    static mut RING: [u8; AUX_TX_RING] = [0; AUX_TX_RING];
    // SAFETY: reached once (AUX_TAKEN), so the ring and the port are unique.
    Some(unsafe { Uart::new(Port::Uart0, &mut *(&raw mut RING)) })
}

/// Last-resort output for the panic path when the logger's UART is
/// unavailable (its lock is held by the code that panicked): writes straight
/// into UART1's FIFO, waiting at most `per_byte_us` per byte for room.
pub fn emergency_write_console(data: &[u8], per_byte_us: u64) {
    // SAFETY: the PAC's fixed register block of the console UART; this
    // write path is the panic's, which runs with IRQs masked on CPU0.
    let mut regs = unsafe {
        match board::CONSOLE {
            Port::Uart0 => Registers::new_mmio_fixed_0(),
            Port::Uart1 => Registers::new_mmio_fixed_1(),
        }
    };
    // A panic before the logger's init: enable TX (QEMU drops otherwise).
    let cr = regs.read_control();
    if !cr.tx_enable() || cr.tx_disable() {
        regs.write_control(uart::Control::new_with_raw_value(CR_ENABLE_AND_RESET));
    }
    for &b in data {
        let deadline = super::time::Instant::after(core::time::Duration::from_micros(per_byte_us));
        if super::time::wait_until(deadline, || !regs.read_status().tx_full()).is_err() {
            return;
        }
        regs.write_fifo(uart::Fifo::new_with_raw_value(b as u32));
    }
}
