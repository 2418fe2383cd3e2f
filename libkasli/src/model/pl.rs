//! The gateware side of the model: the identifier ROM, the clock switch
//! (`gt_drtio`, `sys_crg`) with its dead window, and the siphaser.
//!
//! From the write of `stable_clkin` until the clock switch completes, the
//! sys domain is in reset: on the board a CSR access then stalls CPU0 for
//! good. The model records every such access as a violation (and answers
//! 0), so a test fails instead of hanging. The switch completes a fixed
//! time after `stable_clkin` if the Si5324 was locked then, and never if
//! it was not.

use std::format;
use std::string::String;
use std::vec::Vec;

use crate::siphaser::STEPS_PER_TURN;

/// The gateware's behaviour.
#[derive(Debug, Clone)]
pub struct PlConfig {
    /// The identifier string (the ROM holds its length first).
    pub identifier: Vec<u8>,
    /// Time from `stable_clkin` to a completed clock switch.
    pub switch_ms: u64,
    /// The siphaser's error window: it starts at this phase step...
    pub bad_start: u32,
    /// ...and is this many steps wide.
    pub bad_len: u32,
    /// The initial phase step.
    pub phase: u32,
}

impl Default for PlConfig {
    fn default() -> Self {
        PlConfig {
            identifier: b"9.0+model;satellite".to_vec(),
            switch_ms: 20,
            bad_start: 100,
            bad_len: 60,
            phase: 40,
        }
    }
}

/// One PL access, for order checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub at_ns: u64,
    pub what: &'static str,
    pub value: u32,
}

#[derive(Debug, Clone)]
pub struct PlModel {
    pub config: PlConfig,
    pub identifier_address: u8,
    pub stable_clkin_at: Option<u64>,
    /// When the switch completes (`None` with `stable_clkin` set: never).
    pub switch_done_at: Option<u64>,
    pub current_clock_seen: bool,
    pub txenable: u32,
    pub switch_clocks: u32,
    pub phase: u32,
    pub shift_done_at: u64,
    pub accesses: Vec<Access>,
}

impl PlModel {
    pub fn new(config: PlConfig) -> PlModel {
        let phase = config.phase;
        PlModel {
            config,
            identifier_address: 0,
            stable_clkin_at: None,
            switch_done_at: None,
            current_clock_seen: false,
            txenable: 0,
            switch_clocks: 0,
            phase,
            shift_done_at: 0,
            accesses: Vec::new(),
        }
    }

    /// Whether the sys domain (and so the CSR bus) is dead at `now`.
    pub fn dead(&self, now: u64) -> bool {
        match (self.stable_clkin_at, self.switch_done_at) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(_), Some(done)) => now < done,
        }
    }

    /// Records an access; returns a violation if it falls in the window.
    pub fn access(&mut self, now: u64, what: &'static str, value: u32) -> Option<String> {
        self.accesses.push(Access {
            at_ns: now,
            what,
            value,
        });
        if self.dead(now) {
            let since = (now - self.stable_clkin_at.unwrap_or(now)) as f64 / 1e6;
            Some(format!(
                "PL access {what} {since:.3} ms after stable_clkin, with the sys domain in reset"
            ))
        } else {
            None
        }
    }

    pub fn identifier_byte(&self) -> u8 {
        let id = &self.config.identifier;
        match self.identifier_address {
            0 => id.len().min(255) as u8,
            a => id.get(usize::from(a) - 1).copied().unwrap_or(0),
        }
    }

    /// Whether sampling at the current phase sees timing errors.
    pub fn phase_bad(&self) -> bool {
        let rel =
            (self.phase + STEPS_PER_TURN - self.config.bad_start % STEPS_PER_TURN) % STEPS_PER_TURN;
        rel < self.config.bad_len
    }

    /// Distance in steps from the current phase to the nearest edge of the
    /// error window (0 inside it).
    pub fn margin(&self) -> u32 {
        if self.phase_bad() {
            return 0;
        }
        let end = (self.config.bad_start + self.config.bad_len) % STEPS_PER_TURN;
        let after = (self.phase + STEPS_PER_TURN - end) % STEPS_PER_TURN;
        let before =
            (self.config.bad_start % STEPS_PER_TURN + STEPS_PER_TURN - self.phase) % STEPS_PER_TURN;
        after.min(before)
    }
}
