//! Simulated clock, board services and the process-wide log that
//! `CoreMgmtGetLogRequest` serves.

use std::sync::{Mutex, Once};
use std::time::Instant;

use satman::hal::{Clock, HeapSummary, System};
use satman::logbuf::LogBuffer;

static LOG: Mutex<LogBuffer<{ 64 * 1024 }>> = Mutex::new(LogBuffer::new());

struct SimLogger {
    echo: bool,
}

impl log::Log for SimLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let line = format!("[{:>5}] {}: {}\n", record.level(), record.target(), record.args());
        if self.echo {
            eprint!("{}", line);
        }
        if let Ok(mut log) = LOG.lock() {
            log.write(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

/// Installs the process-wide logger (once). `SATMAN_LOG=1` also prints it.
pub fn init_logger() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let echo = std::env::var_os("SATMAN_LOG").is_some();
        let logger = Box::leak(Box::new(SimLogger { echo }));
        let _ = log::set_logger(logger);
        log::set_max_level(log::LevelFilter::Info);
    });
}

pub struct SimClock(Instant);

impl SimClock {
    pub fn new() -> SimClock {
        SimClock(Instant::now())
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SimClock {
    fn now_us(&self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
}

#[derive(Default)]
pub struct SimSystem {
    pub reboots: u32,
    /// The UART log level last applied (`uart_log_level`).
    pub uart_level: Option<log::LevelFilter>,
}

impl System for SimSystem {
    fn log_snapshot(&mut self, clear: bool) -> Option<Vec<u8>> {
        LOG.lock().ok()?.snapshot(clear)
    }

    fn log_clear(&mut self) {
        if let Ok(mut log) = LOG.lock() {
            log.clear();
        }
    }

    fn set_uart_log_level(&mut self, level: log::LevelFilter) {
        self.uart_level = Some(level);
    }

    fn reboot(&mut self) {
        self.reboots += 1;
    }

    fn heap_summary(&mut self) -> HeapSummary {
        HeapSummary::default()
    }
}
