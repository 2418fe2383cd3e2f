//! Link diagnostics: the RT link's protocol errors, the satellite's own
//! (`drtiosat.protocol_error`) and each repeater's (`drtiorepN`), read,
//! counted, logged and cleared from the main loop.
//!
//! These errors are not answered on the wire (the master learns of RTIO
//! errors through `DestinationStatusRequest`); they point at a link, a
//! clocking or a gateware problem, so the log is where a lab finds them.
//! A broken link can raise them on every pass: each source logs at most
//! one line per [`LOG_PERIOD_US`] and counts what it did not log, and the
//! counters in [`Stats`] see every one.

use log::{debug, error};

use crate::hal::{LinkErrors, Rtio};
use crate::stats::Stats;

/// Minimum time between two log lines of one source.
pub const LOG_PERIOD_US: u64 = 1_000_000;

/// What the diagnostics may touch for one pass.
pub struct Ctx<'a> {
    pub rtio: &'a mut dyn Rtio,
    pub stats: &'a mut Stats,
    pub now: u64,
    pub repeaters: usize,
    /// The master drives the RTIO core (no kernel, no DMA playback): only
    /// then is an underflow the RT link's (a kernel's or the DMA engine's
    /// underflow is reported to them by their own path).
    pub master_drives: bool,
}

/// One error source's log limiter.
#[derive(Debug, Clone, Copy, Default)]
struct Limiter {
    last: Option<u64>,
    suppressed: u32,
}

impl Limiter {
    /// Whether to log now; `Some(n)` with how many were not logged since.
    fn admit(&mut self, now: u64) -> Option<u32> {
        match self.last {
            Some(t) if now.saturating_sub(t) < LOG_PERIOD_US => {
                self.suppressed = self.suppressed.saturating_add(1);
                None
            }
            _ => {
                self.last = Some(now);
                Some(core::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// The diagnostics part: the log limiters of the satellite and of each
/// repeater.
#[derive(Debug, Default)]
pub struct Diag {
    own: Limiter,
    repeaters: [Limiter; MAX_REPEATERS],
}

/// Repeaters with their own limiter (the Kasli-SoC has 2); more share the last.
const MAX_REPEATERS: usize = 4;

impl Diag {
    /// One pass: takes, counts and logs the latched errors.
    pub fn poll(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(e) = ctx.rtio.take_link_errors() {
            ctx.stats.link_protocol_errors += 1;
            if e.underflow.is_some() {
                ctx.stats.underflows += 1;
            }
            if let Some(skipped) = self.own.admit(ctx.now) {
                log_errors(None, &e, skipped, ctx.master_drives);
            }
        }
        for i in 0..ctx.repeaters {
            if let Some(e) = ctx.rtio.take_repeater_errors(i) {
                ctx.stats.repeater_protocol_errors += 1;
                if let Some(skipped) = self.repeaters[i.min(MAX_REPEATERS - 1)].admit(ctx.now) {
                    log_errors(Some(i), &e, skipped, true);
                }
            }
        }
    }
}

/// One log line per error kind set in `e`, prefixed with its source.
fn log_errors(repeater: Option<usize>, e: &LinkErrors, skipped: u32, master_drives: bool) {
    let src = heapless_prefix(repeater);
    let who = src.as_str();
    if skipped > 0 {
        error!("{}{} more protocol error reports since the last one", who, skipped);
    }
    if e.unknown_packet {
        error!("{}received an RT packet of an unknown type", who);
    }
    if e.truncated_packet {
        error!("{}received a truncated RT packet", who);
    }
    if let Some(m) = e.command_missed {
        error!("{}CRI command missed, cmd={}, chan_sel={:#08x}", who, m.cmd, m.chan_sel);
    }
    if let Some(d) = e.buffer_space_timeout {
        error!("{}timeout getting buffer space, destination={:#04x}", who, d);
    }
    if let Some(u) = e.underflow {
        let slack = u.timestamp.wrapping_sub(u.counter);
        if master_drives {
            error!(
                "{}write underflow, channel={}, timestamp={}, counter={}, slack={}",
                who, u.channel, u.timestamp, u.counter, slack
            );
        } else {
            debug!("{}underflow while a kernel or the DMA engine drove the RTIO (reported to it), channel={}", who, u.channel);
        }
    }
    if e.overflow {
        error!("{}write overflow", who);
    }
}

/// `"[REP#i] "` or `""`, without allocating.
fn heapless_prefix(repeater: Option<usize>) -> Prefix {
    let mut p = Prefix { buf: [0; 16], len: 0 };
    if let Some(i) = repeater {
        use core::fmt::Write;
        let _ = write!(p, "[REP#{}] ", i);
    }
    p
}

struct Prefix {
    buf: [u8; 16],
    len: usize,
}

impl Prefix {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl core::fmt::Write for Prefix {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            Err(core::fmt::Error)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hal::{Initiator, RtioError, Underflow};
    use alloc::collections::VecDeque;

    #[derive(Default)]
    struct Rtio {
        own: VecDeque<LinkErrors>,
        rep: VecDeque<(usize, LinkErrors)>,
    }

    impl crate::hal::Rtio for Rtio {
        fn select(&mut self, _: Initiator) {}
        fn reset(&mut self) {}
        fn hold_reset(&mut self, _: bool) {}
        fn take_error(&mut self) -> Option<RtioError> {
            None
        }
        fn set_route(&mut self, _: u8, _: u8) {}
        fn take_tsc_loaded(&mut self) -> bool {
            false
        }
        fn take_link_errors(&mut self) -> Option<LinkErrors> {
            self.own.pop_front()
        }
        fn take_repeater_errors(&mut self, i: usize) -> Option<LinkErrors> {
            match self.rep.front() {
                Some(&(r, e)) if r == i => {
                    self.rep.pop_front();
                    Some(e)
                }
                _ => None,
            }
        }
    }

    #[test]
    fn limiter_logs_once_per_period_and_counts_the_rest() {
        let mut l = Limiter::default();
        assert_eq!(l.admit(0), Some(0));
        assert_eq!(l.admit(10), None);
        assert_eq!(l.admit(LOG_PERIOD_US - 1), None);
        assert_eq!(l.admit(LOG_PERIOD_US), Some(2));
        assert_eq!(l.admit(3 * LOG_PERIOD_US), Some(0));
    }

    #[test]
    fn every_error_is_counted_and_taken() {
        let under = LinkErrors {
            underflow: Some(Underflow { channel: 1, timestamp: 5, counter: 9 }),
            ..LinkErrors::default()
        };
        let mut rtio = Rtio::default();
        rtio.own.extend([under, LinkErrors { truncated_packet: true, ..LinkErrors::default() }]);
        rtio.rep.push_back((1, LinkErrors { unknown_packet: true, ..LinkErrors::default() }));
        let mut stats = Stats::default();
        let mut d = Diag::default();
        for now in [0, 1] {
            d.poll(&mut Ctx { rtio: &mut rtio, stats: &mut stats, now, repeaters: 2, master_drives: true });
        }
        assert_eq!((stats.link_protocol_errors, stats.underflows, stats.repeater_protocol_errors), (2, 1, 1));
        assert!(rtio.own.is_empty() && rtio.rep.is_empty());
        assert_eq!(d.own.suppressed, 1, "the second report within a period was not logged");
    }

    #[test]
    fn prefix_names_the_repeater() {
        assert_eq!(heapless_prefix(Some(1)).as_str(), "[REP#1] ");
        assert_eq!(heapless_prefix(None).as_str(), "");
    }
}
