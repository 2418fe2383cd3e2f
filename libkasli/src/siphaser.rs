//! The siphaser: the gateware block that feeds the Si5324's CKIN1 (local
//! clock or the uplink's recovered clock, `switch_clocks`) and can shift
//! the phase of the Si5324's output against the recovered clock
//! (`phase_shift`, `phase_shift_done`), with a sticky flag telling whether
//! sampling at the current phase saw timing errors (`error`, written 1 to
//! clear).
//!
//! Skew calibration: find the phase where errors stop (the lead), step a
//! jitter margin further, find where they start again (the width of the
//! error-free window, in shifts), then step back half the width: the
//! sampling point ends in the middle of the window. Without it a link can
//! come up and corrupt data intermittently.
//!
//! Every wait is bounded: a phase shift waits at most
//! [`PHASE_SHIFT_LIMIT_US`] for `phase_shift_done`, an edge search gives
//! up after [`MAX_SHIFTS`] shifts.

use core::fmt;

use crate::time::{poll_until, Timer};

/// The siphaser's CSRs, one method per register access.
pub trait SiphaserCsr {
    /// `siphaser.switch_clocks`: 1 feeds the Si5324 the recovered clock.
    fn write_switch_clocks(&mut self, value: u32);
    /// `siphaser.phase_shift`: 1 shifts later, 0 earlier, by one step.
    fn write_phase_shift(&mut self, direction: u32);
    /// `siphaser.phase_shift_done`.
    fn read_phase_shift_done(&mut self) -> u32;
    /// `siphaser.error`: write 1 to clear.
    fn write_error(&mut self, value: u32);
    /// `siphaser.error`: nonzero if errors were seen since the clear.
    fn read_error(&mut self) -> u32;
}

impl<S: SiphaserCsr + ?Sized> SiphaserCsr for &mut S {
    fn write_switch_clocks(&mut self, value: u32) {
        (**self).write_switch_clocks(value)
    }
    fn write_phase_shift(&mut self, direction: u32) {
        (**self).write_phase_shift(direction)
    }
    fn read_phase_shift_done(&mut self) -> u32 {
        (**self).read_phase_shift_done()
    }
    fn write_error(&mut self, value: u32) {
        (**self).write_error(value)
    }
    fn read_error(&mut self) -> u32 {
        (**self).read_error()
    }
}

/// Steps of one full turn: the MMCM's fine phase shift moves 1/56 of a
/// VCO period per step and the VCO runs at 8 times the clock.
pub const STEPS_PER_TURN: u32 = 56 * 8;
/// An edge search gives up after this many shifts (10 turns).
pub const MAX_SHIFTS: u32 = 10 * STEPS_PER_TURN;
/// Extra shifts past the first edge, so jitter cannot fake the second.
pub const JITTER_MARGIN: u32 = 32;
/// How long one phase shift may take.
pub const PHASE_SHIFT_LIMIT_US: u64 = 1_000;
/// After a shift, the Si5324's loop settles.
const SETTLE_US: u32 = 500;
/// Errors are sampled over this long after a clear.
const ERROR_WINDOW_US: u32 = 5_000;

/// Why calibration failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiphaserError {
    /// `phase_shift_done` stayed 0.
    PhaseShiftTimeout,
    /// No edge of the error-free window within [`MAX_SHIFTS`].
    NoEdge { looking_for_errors: bool },
}

impl fmt::Display for SiphaserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiphaserError::PhaseShiftTimeout => {
                write!(
                    f,
                    "siphaser phase shift not done within {PHASE_SHIFT_LIMIT_US} us"
                )
            }
            SiphaserError::NoEdge {
                looking_for_errors: false,
            } => {
                write!(
                    f,
                    "siphaser: no error-free phase within {MAX_SHIFTS} shifts"
                )
            }
            SiphaserError::NoEdge {
                looking_for_errors: true,
            } => {
                write!(
                    f,
                    "siphaser: errors never return within {MAX_SHIFTS} shifts"
                )
            }
        }
    }
}

/// A calibration's result, in phase-shift steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calibration {
    /// Shifts until the error-free window began.
    pub lead: u32,
    /// Width of the error-free window.
    pub width: u32,
}

impl Calibration {
    pub fn width_degrees(&self) -> u32 {
        self.width * 360 / STEPS_PER_TURN
    }
}

fn phase_shift<S: SiphaserCsr, T: Timer>(
    s: &mut S,
    timer: &mut T,
    later: bool,
) -> Result<(), SiphaserError> {
    s.write_phase_shift(u32::from(later));
    let done = poll_until(timer, PHASE_SHIFT_LIMIT_US, 1, |_| {
        Ok::<_, ()>(s.read_phase_shift_done() != 0)
    });
    if !matches!(done, Ok(Some(_))) {
        return Err(SiphaserError::PhaseShiftTimeout);
    }
    timer.delay_us(SETTLE_US);
    Ok(())
}

fn has_error<S: SiphaserCsr, T: Timer>(s: &mut S, timer: &mut T) -> bool {
    s.write_error(1);
    timer.delay_us(ERROR_WINDOW_US);
    s.read_error() != 0
}

/// Shifts later until `has_error` turns to `errors`; returns the shifts.
fn find_edge<S: SiphaserCsr, T: Timer>(
    s: &mut S,
    timer: &mut T,
    errors: bool,
) -> Result<u32, SiphaserError> {
    let mut previous = has_error(s, timer);
    for shifts in 1..=MAX_SHIFTS {
        phase_shift(s, timer, true)?;
        let current = has_error(s, timer);
        if previous != errors && current == errors {
            return Ok(shifts);
        }
        previous = current;
    }
    Err(SiphaserError::NoEdge {
        looking_for_errors: errors,
    })
}

/// Centres the sampling phase in the error-free window.
pub fn calibrate_skew<S: SiphaserCsr, T: Timer>(
    s: &mut S,
    timer: &mut T,
) -> Result<Calibration, SiphaserError> {
    let lead = find_edge(s, timer, false)?;
    for _ in 0..JITTER_MARGIN {
        phase_shift(s, timer, true)?;
    }
    let width = find_edge(s, timer, true)? + JITTER_MARGIN;
    for _ in 0..width / 2 {
        phase_shift(s, timer, false)?;
    }
    Ok(Calibration { lead, width })
}
