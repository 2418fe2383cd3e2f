//! `log` backend: lines go to UART1 and into the in-memory
//! [`satman::logbuf::LogBuffer`] that the master reads (CoreMgmtGetLog).
//!
//! Line format: `[<seconds>.<microseconds>] C<cpu> <LEVEL> <target>: <message>`.
//!
//! Locking rules (root-cause.md: CPU0 must never wedge):
//! * CPU0 formats on its stack, then takes the sink lock with IRQs masked
//!   and with `try_lock` only. The lock is CPU0-only and always taken with
//!   IRQs masked, so it can only be found held if the logger itself
//!   panicked; then the line is dropped and counted, never waited for.
//! * CPU1 never takes that lock (it can be stopped at any instruction): its
//!   lines go, whole or not at all, into a lock-free SPSC ring in the
//!   `shared` region, which CPU0 drains into the sink from [`poll`] and
//!   before each of its own lines.
//! * UART output is bounded: the UART's TX ring absorbs bursts; a line that
//!   does not fit within [`UART_WAIT`] loses its tail on the UART (it is
//!   still complete in the log buffer).

use super::cpu::{self, Cpu};
use super::ring::{ByteRing, RingData};
use super::stats;
use super::time::{self, Instant};
use super::uart::Uart;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use log::{LevelFilter, Log, Metadata, Record};
use satman::logbuf::LogBuffer;

/// Size of the in-memory log the master can read.
pub const LOG_BUFFER_SIZE: usize = 64 * 1024;
/// UART1's software TX ring.
const UART_TX_RING: usize = 32 * 1024;
/// CPU1 → CPU0 log ring.
const CPU1_RING: usize = 16 * 1024;
/// Longest formatted line; longer ones are cut and end in "...".
const MAX_LINE: usize = 256;
/// Longest a log call waits for room in the UART ring.
const UART_WAIT: Duration = Duration::from_millis(1);

struct Sink {
    uart: Option<Uart>,
}

static SINK: spin::Mutex<Sink> = spin::Mutex::new(Sink { uart: None });
static LOG_BUFFER: spin::Mutex<LogBuffer<LOG_BUFFER_SIZE>> = spin::Mutex::new(LogBuffer::new());

#[unsafe(link_section = ".shared")]
static CPU1_LOG_DATA: RingData<CPU1_RING> = RingData::new();
static CPU1_LOG: ByteRing<CPU1_RING> = ByteRing::new(&CPU1_LOG_DATA, &CPU1_LOG_READ);
/// CPU1_LOG's read index: CPU0 writes it, CPU1 may only read it (`mmu.rs`).
#[unsafe(link_section = ".shared.cpu0")]
static CPU1_LOG_READ: AtomicUsize = AtomicUsize::new(0);

struct Logger;
static LOGGER: Logger = Logger;

/// Sets up UART1 and installs the logger at `level`. CPU0, once.
pub fn init(level: LevelFilter) {
    static mut RING: [u8; UART_TX_RING] = [0; UART_TX_RING];
    cpu::irq_free(|| {
        if let Some(mut s) = SINK.try_lock() {
            if s.uart.is_none() {
                // SAFETY: only here, guarded by `uart.is_none()` under the lock.
                s.uart = Some(unsafe { Uart::new(super::board::CONSOLE, &mut *(&raw mut RING)) });
            }
        }
    });
    // A second init only changes the level.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Changes the level at run time.
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// A line being formatted on the stack.
struct Line {
    buf: [u8; MAX_LINE],
    len: usize,
    truncated: bool,
}

impl Line {
    fn new() -> Line {
        Line {
            buf: [0; MAX_LINE],
            len: 0,
            truncated: false,
        }
    }

    fn finish(&mut self) -> &[u8] {
        if self.truncated {
            let tail = b"...\n";
            self.len = self.len.min(MAX_LINE - tail.len());
            self.buf[self.len..self.len + tail.len()].copy_from_slice(tail);
            self.len += tail.len();
        } else if self.len == MAX_LINE {
            self.buf[MAX_LINE - 1] = b'\n';
        } else {
            self.buf[self.len] = b'\n';
            self.len += 1;
        }
        &self.buf[..self.len]
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_LINE - 1 - self.len; // keep one byte for '\n'
        let n = s.len().min(room);
        // One record per line: embedded line breaks become spaces, so a
        // multi-line message cannot interleave with CPU1's lines.
        for (dst, &b) in self.buf[self.len..self.len + n]
            .iter_mut()
            .zip(s.as_bytes())
        {
            *dst = if b == b'\n' || b == b'\r' { b' ' } else { b };
        }
        self.len += n;
        if n < s.len() {
            self.truncated = true;
        }
        Ok(())
    }
}

fn format_line(
    line: &mut Line,
    cpu: Cpu,
    level: &dyn fmt::Display,
    target: &str,
    args: &fmt::Arguments,
) {
    let us = time::now_us();
    let _ = write!(
        line,
        "[{:6}.{:06}] C{} {:<5} {}: {}",
        us / 1_000_000,
        us % 1_000_000,
        cpu as u8,
        level,
        target,
        args
    );
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let cpu = cpu::current();
        let mut line = Line::new();
        format_line(
            &mut line,
            cpu,
            &record.level(),
            record.target(),
            record.args(),
        );
        emit(cpu, line.finish());
    }

    fn flush(&self) {}
}

/// Sends one finished line on its way: into the sink on CPU0, into the
/// lock-free ring on CPU1.
fn emit(cpu: Cpu, bytes: &[u8]) {
    match cpu {
        Cpu::Cpu1 => {
            // SAFETY: CPU1 is the ring's one producer, and with IRQs
            // masked no handler on CPU1 can push in the middle of this push
            // (a stop SGI waits until they are unmasked).
            let pushed = cpu::irq_free(|| unsafe { CPU1_LOG.push_all(bytes) });
            if !pushed {
                stats::CPU1_LOG_LINES_DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
        Cpu::Cpu0 => {
            let done = cpu::irq_free(|| {
                let Some(mut sink) = SINK.try_lock() else {
                    return false;
                };
                let Some(mut buf) = LOG_BUFFER.try_lock() else {
                    return false;
                };
                drain_cpu1(&mut sink, &mut buf);
                buf.write(bytes);
                if let Some(uart) = sink.uart.as_mut() {
                    let _ = uart.write_all(bytes, Instant::after(UART_WAIT));
                }
                true
            });
            if !done {
                stats::LOG_LINES_DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn drain_cpu1(sink: &mut Sink, buf: &mut LogBuffer<LOG_BUFFER_SIZE>) {
    // SAFETY: the one consumer: every caller holds the `SINK` lock, whose
    // guard `sink` is.
    unsafe { CPU1_LOG.drain(|part| {
        buf.write(part);
        if let Some(uart) = sink.uart.as_mut() {
            let _ = uart.write_all(part, Instant::after(UART_WAIT));
        }
    }) };
}

/// CPU0 main-loop hook: moves CPU1's lines into the log and feeds UART1.
/// Never waits beyond [`UART_WAIT`] per drained chunk.
pub fn poll() {
    if cpu::current() != Cpu::Cpu0 {
        return;
    }
    cpu::irq_free(|| {
        if let (Some(mut sink), Some(mut buf)) = (SINK.try_lock(), LOG_BUFFER.try_lock()) {
            drain_cpu1(&mut sink, &mut buf);
            if let Some(uart) = sink.uart.as_mut() {
                uart.poll();
            }
        }
    });
}

/// Drains everything (CPU1's ring, UART1's ring) until `deadline`. CPU0.
pub fn flush(deadline: Instant) -> Result<(), time::TimedOut> {
    time::wait_until(deadline, || {
        poll();
        cpu::irq_free(|| match SINK.try_lock() {
            Some(mut s) => s
                .uart
                .as_mut()
                .map_or(true, |u| u.flush(Instant::now()).is_ok()),
            None => false,
        }) && CPU1_LOG.len() == 0
    })
}

/// Runs `f` on the in-memory log (CPU0 only, IRQs masked while it runs;
/// keep `f` short, e.g. `|b| b.snapshot(clear)`). `None` if the log is busy
/// (only possible from inside the logger) or if called on CPU1.
pub fn with_log_buffer<R>(f: impl FnOnce(&mut LogBuffer<LOG_BUFFER_SIZE>) -> R) -> Option<R> {
    if cpu::current() != Cpu::Cpu0 {
        return None;
    }
    cpu::irq_free(|| LOG_BUFFER.try_lock().map(|mut b| f(&mut b)))
}

/// Panic path output (any CPU). On CPU0: through the sink if it is free,
/// else straight into UART1's FIFO with a per-byte bound. On CPU1: into the
/// ring like any line (CPU1 must not touch CPU0's UART or locks).
pub fn panic_write(cpu: Cpu, args: fmt::Arguments) {
    let mut line = Line::new();
    format_line(&mut line, cpu, &"PANIC", "satman", &args);
    let bytes = line.finish();
    match cpu {
        Cpu::Cpu1 => emit(Cpu::Cpu1, bytes),
        Cpu::Cpu0 => {
            let via_sink = cpu::irq_free(|| {
                let Some(mut sink) = SINK.try_lock() else {
                    return false;
                };
                if let Some(mut buf) = LOG_BUFFER.try_lock() {
                    drain_cpu1(&mut sink, &mut buf);
                    buf.write(bytes);
                }
                match sink.uart.as_mut() {
                    Some(uart) => {
                        let deadline = Instant::after(Duration::from_millis(200));
                        let _ = uart.write_all(bytes, deadline);
                        let _ = uart.flush(deadline);
                        true
                    }
                    None => false,
                }
            });
            if !via_sink {
                super::uart::emergency_write_console(bytes, 1000);
            }
        }
    }
}
