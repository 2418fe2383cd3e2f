//! The uplink as the satellite core sees it on a board whose clocking must
//! follow the link (the Kasli-SoC): "up" only once the board is ready for
//! the master's traffic.
//!
//! When the gateware reports `rx_up`, the board first switches the RTIO
//! clock to the clock recovered from the link and calibrates the siphaser
//! ([`LinkClocking::link_up`]), then the aux channel is reset (stale slots
//! and errors dropped); only then does [`AuxLink::is_up`] say so, and the
//! core releases the `drtiosat` resets. When `rx_up` drops, the board goes
//! back to its local clock. A failed clock switch or calibration is logged
//! and retried after [`RETRY_US`], the link staying down meanwhile.

use libdrtio::MAX_PACKET;
use log::{error, info, warn};

use crate::hal::{AuxLink, LinkError};

/// Wait before a failed link-up clocking is tried again.
pub const RETRY_US: u64 = 1_000_000;

/// The board's clocking steps at the uplink's edges.
pub trait LinkClocking {
    /// Recovered clock + calibration; false (logged) if it failed.
    fn link_up(&mut self) -> bool;
    /// Back to the local clock.
    fn link_down(&mut self);
}

/// An aux link whose channel can be reset at link-up.
pub trait ResettableAux: AuxLink {
    fn reset(&mut self);
}

#[cfg(gateware_driver = "aux")]
impl<B: crate::gateware::Bus> ResettableAux for crate::gateware::GatewareAux<B> {
    fn reset(&mut self) {
        crate::gateware::GatewareAux::reset(self)
    }
}

/// See the module docs. The board's links share one type: repeater links
/// are made with [`ClockedUplink::plain`] and follow `rx_up` directly.
pub struct ClockedUplink<A, C> {
    pub aux: A,
    /// `None` on repeater links.
    pub clocking: Option<C>,
    now_us: fn() -> u64,
    ready: bool,
    retry_at: u64,
}

impl<A: ResettableAux, C: LinkClocking> ClockedUplink<A, C> {
    pub fn new(aux: A, clocking: C, now_us: fn() -> u64) -> Self {
        ClockedUplink { aux, clocking: Some(clocking), now_us, ready: false, retry_at: 0 }
    }

    /// A link without clocking steps (a repeater's), still reset at link-up.
    pub fn plain(aux: A, now_us: fn() -> u64) -> Self {
        ClockedUplink { aux, clocking: None, now_us, ready: false, retry_at: 0 }
    }
}

impl<A: ResettableAux, C: LinkClocking> AuxLink for ClockedUplink<A, C> {
    fn is_up(&mut self) -> bool {
        let rx_up = self.aux.is_up();
        match (rx_up, self.ready) {
            (true, false) => {
                let now = (self.now_us)();
                if now < self.retry_at {
                    return false;
                }
                if self.clocking.as_mut().is_none_or(|c| c.link_up()) {
                    self.aux.reset();
                    self.ready = true;
                    if self.clocking.is_some() {
                        info!("uplink: on the recovered clock, aux channel reset");
                    }
                } else {
                    error!("uplink: rx_up but the recovered clock is not usable; retrying in 1 s");
                    if let Some(c) = self.clocking.as_mut() {
                        c.link_down();
                    }
                    self.retry_at = now + RETRY_US;
                }
            }
            (false, true) => {
                if let Some(c) = self.clocking.as_mut() {
                    warn!("uplink: rx_up lost, back to the local clock");
                    c.link_down();
                }
                self.ready = false;
                self.retry_at = 0;
            }
            _ => {}
        }
        self.ready
    }

    fn receive(&mut self, buf: &mut [u8; MAX_PACKET]) -> Result<Option<usize>, LinkError> {
        if !self.ready {
            return Err(LinkError::Down);
        }
        self.aux.receive(buf)
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        if !self.ready {
            return Err(LinkError::Down);
        }
        self.aux.transmit(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicU64, Ordering};

    static NOW: AtomicU64 = AtomicU64::new(0);
    fn now() -> u64 {
        NOW.load(Ordering::Relaxed)
    }

    #[derive(Default)]
    struct Aux {
        rx_up: bool,
        resets: u32,
        pending: Vec<u8>,
    }
    impl AuxLink for Aux {
        fn is_up(&mut self) -> bool {
            self.rx_up
        }
        fn receive(&mut self, buf: &mut [u8; MAX_PACKET]) -> Result<Option<usize>, LinkError> {
            Ok(self.pending.pop().map(|b| {
                buf[0] = b;
                1
            }))
        }
        fn transmit(&mut self, _: &[u8]) -> Result<(), LinkError> {
            Ok(())
        }
    }
    impl ResettableAux for Aux {
        fn reset(&mut self) {
            self.resets += 1;
            self.pending.clear();
        }
    }

    #[derive(Default)]
    struct Clocking {
        ok: bool,
        ups: u32,
        downs: u32,
        log: Vec<&'static str>,
    }
    impl LinkClocking for Clocking {
        fn link_up(&mut self) -> bool {
            self.ups += 1;
            self.log.push("up");
            self.ok
        }
        fn link_down(&mut self) {
            self.downs += 1;
            self.log.push("down");
        }
    }

    #[test]
    fn up_only_after_clocking_then_aux_reset() {
        let mut u = ClockedUplink::new(Aux::default(), Clocking { ok: true, ..Default::default() }, now);
        assert!(!u.is_up());
        assert_eq!(u.clocking.as_ref().unwrap().ups, 0, "nothing happens while rx_up is low");
        u.aux.rx_up = true;
        u.aux.pending = alloc::vec![1, 2, 3];
        assert!(u.is_up());
        assert_eq!((u.clocking.as_ref().unwrap().ups, u.aux.resets), (1, 1));
        let mut buf = [0; MAX_PACKET];
        assert_eq!(u.receive(&mut buf), Ok(None), "stale frames were dropped by the reset");
        assert!(u.is_up());
        assert_eq!(u.clocking.as_ref().unwrap().ups, 1, "clocking runs once per link-up");
        u.aux.rx_up = false;
        assert!(!u.is_up());
        assert_eq!(u.clocking.as_ref().unwrap().log, ["up", "down"]);
        assert_eq!(u.receive(&mut buf), Err(LinkError::Down));
    }

    #[test]
    fn plain_links_follow_rx_up_and_reset_their_channel() {
        let mut u: ClockedUplink<Aux, Clocking> = ClockedUplink::plain(Aux { rx_up: true, ..Default::default() }, now);
        assert!(u.is_up());
        assert_eq!(u.aux.resets, 1);
        u.aux.rx_up = false;
        assert!(!u.is_up());
    }

    #[test]
    fn failed_clocking_keeps_the_link_down_and_retries_later() {
        let mut u = ClockedUplink::new(Aux { rx_up: true, ..Default::default() }, Clocking::default(), now);
        NOW.store(10, Ordering::Relaxed);
        assert!(!u.is_up());
        assert!(!u.is_up(), "no retry before the back-off");
        assert_eq!(u.clocking.as_ref().unwrap().ups, 1);
        assert_eq!(u.aux.resets, 0);
        NOW.store(10 + RETRY_US, Ordering::Relaxed);
        u.clocking.as_mut().unwrap().ok = true;
        assert!(u.is_up());
        assert_eq!(u.clocking.as_ref().unwrap().ups, 2);
        assert_eq!(u.transmit(&[0; 8]), Ok(()));
    }
}
