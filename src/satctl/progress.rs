//! A progress counter on stderr: redrawn in place on a terminal, a line
//! every 10 % otherwise, nothing with `--json`.

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    label: String,
    total: usize,
    enabled: bool,
    tty: bool,
    start: Instant,
    last_decile: usize,
    drawn: bool,
}

impl Progress {
    pub fn new(label: &str, total: usize, enabled: bool) -> Progress {
        let tty = std::io::stderr().is_terminal();
        Progress { label: label.to_string(), total, enabled: enabled && total > 1, tty, start: Instant::now(), last_decile: 0, drawn: false }
    }

    /// `done` of `total` finished.
    pub fn tick(&mut self, done: usize) {
        if !self.enabled {
            return;
        }
        let elapsed = self.start.elapsed().as_secs_f64();
        if self.tty {
            let width = 30;
            let filled = done * width / self.total.max(1);
            eprint!(
                "\r{} [{}{}] {}/{} {:.1} s",
                self.label,
                "#".repeat(filled),
                " ".repeat(width - filled),
                done,
                self.total,
                elapsed
            );
            let _ = std::io::stderr().flush();
            self.drawn = true;
        } else {
            let decile = done * 10 / self.total.max(1);
            if decile > self.last_decile {
                self.last_decile = decile;
                eprintln!("{} {}/{} ({:.1} s)", self.label, done, self.total, elapsed);
            }
        }
    }

    /// Ends the line on a terminal.
    pub fn finish(&mut self) {
        if self.enabled && self.tty && self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
