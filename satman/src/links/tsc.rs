//! Passing the master's timestamp counter down: when the master loads our
//! TSC, each repeater whose link is up loads the TSC of the satellite below
//! it (`drtiorepN.set_time`), and only once every one of them has answered
//! `TSCAck` (or its deadline passed) do we send our own `TSCAck` up. The
//! master takes our `TSCAck` to mean the whole subtree below us has its
//! time, so it must never go first.
//!
//! Nothing here waits: [`Links::tsc_loaded`] strobes the repeaters,
//! [`Links::tsc_ack_due`] is asked on every pass whether the `TSCAck` may
//! go, and the repeaters' `TSCAck`s arrive through [`Links::tsc_acked`].

use log::{error, info, warn};

use super::{Links, RepeaterState};
use crate::hal::Rtio;

/// How long a satellite below has to acknowledge its TSC (the reference
/// firmware's limit).
pub const TSC_ACK_TIMEOUT_US: u64 = 10_000_000;

/// A TSC load being passed down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TscSync {
    /// Bit `i`: repeater `i` has not acknowledged yet.
    waiting: u32,
    deadline: u64,
}

impl Links {
    /// The master loaded our TSC: loads it into every satellite below a
    /// repeater that is up. A load while an earlier one is still being
    /// passed down starts over.
    pub fn tsc_loaded(&mut self, rtio: &mut dyn Rtio, now: u64) {
        info!("TSC loaded from the uplink");
        let mut waiting = 0u32;
        for i in 0..self.repeaters.len().min(32) {
            if self.repeaters[i] != RepeaterState::Up {
                continue;
            }
            match rtio.repeater_set_time(i) {
                Ok(()) => waiting |= 1 << i,
                Err(e) => error!("repeater {}: TSC sync failed ({:?}): its subtree keeps its old time", i, e),
            }
        }
        self.tsc = Some(TscSync { waiting, deadline: now + TSC_ACK_TIMEOUT_US });
    }

    /// Whether our `TSCAck` may go up now (once per load): every repeater
    /// synced has acknowledged, or the deadline passed (each one missing is
    /// logged).
    pub fn tsc_ack_due(&mut self, now: u64) -> bool {
        let Some(sync) = &self.tsc else { return false };
        if sync.waiting != 0 && now < sync.deadline {
            return false;
        }
        for i in 0..32 {
            if sync.waiting & (1 << i) != 0 {
                error!("repeater {}: no TSCAck within {} s; acknowledging without it", i, TSC_ACK_TIMEOUT_US / 1_000_000);
            }
        }
        self.tsc = None;
        true
    }

    /// A `TSCAck` from repeater `i` whose link is up.
    pub fn tsc_acked(&mut self, i: usize) {
        match &mut self.tsc {
            Some(sync) if i < 32 && sync.waiting & (1 << i) != 0 => {
                sync.waiting &= !(1 << i);
                info!("repeater {}: TSC synced", i);
            }
            _ => warn!("repeater {}: TSCAck nobody waits for", i),
        }
    }

    /// Repeater `i`'s link dropped: nothing more to wait for from it.
    pub(super) fn tsc_link_lost(&mut self, i: usize) {
        if let Some(sync) = &mut self.tsc {
            if i < 32 && sync.waiting & (1 << i) != 0 {
                sync.waiting &= !(1 << i);
                warn!("repeater {}: link lost during the TSC sync", i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hal::{Initiator, RepeaterFault, RtioError};
    use alloc::vec::Vec;

    #[derive(Default)]
    struct Rtio {
        set_time: Vec<usize>,
        fail: Option<usize>,
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
        fn repeater_set_time(&mut self, i: usize) -> Result<(), RepeaterFault> {
            self.set_time.push(i);
            if self.fail == Some(i) {
                Err(RepeaterFault::Timeout)
            } else {
                Ok(())
            }
        }
    }

    fn links(states: &[RepeaterState]) -> Links {
        let mut l = Links::new(states.len());
        l.repeaters.copy_from_slice(states);
        l
    }

    #[test]
    fn ack_waits_for_every_repeater_that_is_up() {
        let mut l = links(&[RepeaterState::Up, RepeaterState::Down, RepeaterState::Up]);
        let mut rtio = Rtio::default();
        assert!(!l.tsc_ack_due(0), "nothing loaded yet");
        l.tsc_loaded(&mut rtio, 0);
        assert_eq!(rtio.set_time, [0, 2]);
        assert!(!l.tsc_ack_due(1));
        l.tsc_acked(2);
        assert!(!l.tsc_ack_due(2));
        l.tsc_acked(0);
        assert!(l.tsc_ack_due(3));
        assert!(!l.tsc_ack_due(4), "one TSCAck per load");
    }

    #[test]
    fn no_repeaters_acks_at_once_and_failures_do_not_block() {
        let mut l = links(&[]);
        l.tsc_loaded(&mut Rtio::default(), 0);
        assert!(l.tsc_ack_due(0));

        let mut l = links(&[RepeaterState::Up, RepeaterState::Up]);
        let mut rtio = Rtio { fail: Some(0), ..Default::default() };
        l.tsc_loaded(&mut rtio, 0);
        assert!(!l.tsc_ack_due(0));
        l.tsc_acked(1);
        assert!(l.tsc_ack_due(0), "a repeater whose set_time failed is not waited for");
    }

    #[test]
    fn deadline_and_link_loss_end_the_wait() {
        let mut l = links(&[RepeaterState::Up, RepeaterState::Up]);
        l.tsc_loaded(&mut Rtio::default(), 100);
        l.tsc_link_lost(1);
        assert!(!l.tsc_ack_due(100 + TSC_ACK_TIMEOUT_US - 1));
        assert!(l.tsc_ack_due(100 + TSC_ACK_TIMEOUT_US));
        // A stray TSCAck is only logged.
        l.tsc_acked(0);
        assert!(!l.tsc_ack_due(u64::MAX));
    }
}
