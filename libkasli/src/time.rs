//! Time for the bring-up: a microsecond clock plus the `embedded-hal` delay.
//!
//! Every wait in this crate has a deadline on [`Timer::now_us`] and an
//! iteration cap derived from it, so a wait ends even if the clock stops.

use embedded_hal::delay::DelayNs;

/// A monotonic microsecond clock that can also busy-wait.
pub trait Timer: DelayNs {
    fn now_us(&self) -> u64;
}

impl<T: Timer + ?Sized> Timer for &mut T {
    fn now_us(&self) -> u64 {
        (**self).now_us()
    }
}

/// Polls `done` every `poll_us` until it returns `Ok(true)`, an error, or
/// `timeout_us` has passed (or `timeout_us / poll_us + 1` polls were made,
/// whichever comes first). Returns the time waited on success, `Ok(None)`
/// on the deadline.
pub fn poll_until<T: Timer + ?Sized, E>(
    timer: &mut T,
    timeout_us: u64,
    poll_us: u32,
    mut done: impl FnMut(&mut T) -> Result<bool, E>,
) -> Result<Option<u64>, E> {
    let start = timer.now_us();
    let poll = poll_us.max(1);
    let max_polls = timeout_us / u64::from(poll) + 1;
    for _ in 0..=max_polls {
        if done(timer)? {
            return Ok(Some(timer.now_us().saturating_sub(start)));
        }
        if timer.now_us().saturating_sub(start) >= timeout_us {
            break;
        }
        timer.delay_us(poll);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that moves only when delayed, or never.
    struct Fake {
        now: u64,
        frozen: bool,
    }
    impl DelayNs for Fake {
        fn delay_ns(&mut self, ns: u32) {
            if !self.frozen {
                self.now += u64::from(ns).div_ceil(1000);
            }
        }
    }
    impl Timer for Fake {
        fn now_us(&self) -> u64 {
            self.now
        }
    }

    #[test]
    fn poll_ends_on_success_deadline_or_poll_cap() {
        let mut t = Fake {
            now: 0,
            frozen: false,
        };
        let mut n = 0;
        let r: Result<_, ()> = poll_until(&mut t, 1000, 10, |_| {
            n += 1;
            Ok(n == 5)
        });
        assert_eq!(r, Ok(Some(40)));

        let r: Result<_, ()> = poll_until(&mut t, 1000, 10, |_| Ok(false));
        assert_eq!(r, Ok(None));

        let mut t = Fake {
            now: 0,
            frozen: true,
        };
        let mut n = 0u64;
        let r: Result<_, ()> = poll_until(&mut t, 1000, 10, |_| {
            n += 1;
            Ok(false)
        });
        assert_eq!(r, Ok(None));
        assert_eq!(n, 102);

        let r = poll_until(&mut t, 1000, 10, |_| Err::<bool, _>("bus"));
        assert_eq!(r, Err("bus"));
    }
}
