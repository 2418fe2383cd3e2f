//! A logger for tests: each thread's records go to that thread's own list,
//! so tests running in parallel each see only their own lines.

use std::cell::RefCell;
use std::format;
use std::string::String;
use std::sync::Once;
use std::vec::Vec;

use log::{Level, LevelFilter, Log, Metadata, Record};

std::thread_local! {
    static LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

struct Capture;

impl Log for Capture {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }
    fn log(&self, record: &Record) {
        let line = format!(
            "{:<5} {}: {}",
            record.level(),
            record.target(),
            record.args()
        );
        LINES.with(|l| l.borrow_mut().push(line));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;
static INSTALL: Once = Once::new();

/// Installs the capture (once per process) and empties this thread's list.
pub fn start() {
    INSTALL.call_once(|| {
        if log::set_logger(&CAPTURE).is_ok() {
            log::set_max_level(LevelFilter::Trace);
        }
    });
    LINES.with(|l| l.borrow_mut().clear());
}

/// This thread's lines since [`start`], emptied.
pub fn take() -> Vec<String> {
    LINES.with(|l| core::mem::take(&mut *l.borrow_mut()))
}

/// This thread's lines at `level` or more severe, without emptying.
pub fn at_least(level: Level) -> Vec<String> {
    LINES.with(|l| {
        l.borrow()
            .iter()
            .filter(|s| {
                Level::iter()
                    .take_while(|x| *x <= level)
                    .any(|x| s.starts_with(x.as_str()))
            })
            .cloned()
            .collect()
    })
}
