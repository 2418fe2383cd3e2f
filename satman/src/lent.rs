//! The byte ranges CPU1 lends CPU0 with a message, readable until CPU0's
//! answer.
//!
//! A [`FromKernel`] message carries its strings as [`Bytes`]: addresses in
//! CPU1's memory, valid only while CPU1 waits for the reply to that request
//! (or, for `LoadFailed` and `Exception`, until CPU1 is restarted). The
//! satellite core never dereferences them: it asks the kernel CPU's link
//! ([`crate::hal::KernelCpu::lent`]), which hands out a slice borrowed from
//! the link itself. Sending the reply and restarting CPU1 take the link
//! mutably, so no slice can outlive the exchange it belongs to.
//!
//! [`Lent`] is that bookkeeping, shared by every link (firmware, host
//! simulation, test fakes): it remembers the ranges of the last message
//! received, forgets them at the next reply or restart, and answers only
//! for those ranges, each checked against the memory CPU1 could have lent.

use libksupport::msg::{Bytes, FromKernel};

/// The most byte ranges one message carries (`CachePut`: key and value).
const MAX_RANGES: usize = 2;

/// Where a lent range may lie: `(start, end)` address ranges.
pub type Regions = &'static [fn() -> (usize, usize)];

/// The ranges of the message CPU0 is serving. See the module docs.
pub struct Lent {
    ranges: [Option<Bytes>; MAX_RANGES],
    /// The memory CPU1 can lend from; `None`: any address (host links whose
    /// CPU1 shares the process's memory).
    regions: Option<Regions>,
}

/// Why [`Lent::get`] refused a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LentError {
    /// Not a range of the message being served, or its reply was sent.
    NotLent,
    /// The range does not lie inside memory CPU1 can lend (a wild pointer
    /// from the kernel): reading it could fault or hang CPU0.
    OutsideCpu1Memory,
}

impl Lent {
    /// Nothing lent; ranges are accepted anywhere in `regions` (`None`: any
    /// address).
    pub const fn new(regions: Option<Regions>) -> Lent {
        Lent { ranges: [None; MAX_RANGES], regions }
    }

    /// Remembers the ranges `msg` lends, forgetting earlier ones.
    ///
    /// # Safety
    /// Every `Bytes` in `msg` that lies inside the accepted regions must
    /// stay valid for reads and unchanged until [`Lent::release`] is called
    /// or this `Lent` is dropped: the sender keeps it while it waits for the
    /// reply, and the owner releases before it replies to, or restarts, the
    /// sender.
    pub unsafe fn hold(&mut self, msg: &FromKernel) {
        self.ranges = [None; MAX_RANGES];
        let carried: [Option<Bytes>; MAX_RANGES] = match *msg {
            FromKernel::LoadFailed { reason: b }
            | FromKernel::Exception { blob: b }
            | FromKernel::Log { text: b }
            | FromKernel::DmaRecordStart { name: b }
            | FromKernel::DmaErase { name: b }
            | FromKernel::DmaRetrieve { name: b }
            | FromKernel::MessageSend { data: b, .. }
            | FromKernel::CacheGet { key: b } => [Some(b), None],
            FromKernel::CachePut { key, value } => [Some(key), Some(value)],
            FromKernel::LoadDone
            | FromKernel::Finished
            | FromKernel::RtioInit
            | FromKernel::DestinationStatus { .. }
            | FromKernel::DmaRecordGrow { .. }
            | FromKernel::DmaRecordStop { .. }
            | FromKernel::DmaPlayback { .. }
            | FromKernel::MessageRecv { .. }
            | FromKernel::SubkernelLoadRun { .. }
            | FromKernel::SubkernelAwaitFinish { .. } => [None, None],
        };
        self.ranges = carried;
    }

    /// Forgets every range: the reply is about to be sent, or CPU1 restarted.
    pub fn release(&mut self) {
        self.ranges = [None; MAX_RANGES];
    }

    /// The bytes of `range`, one of the ranges of the message being served.
    pub fn get(&self, range: Bytes) -> Result<&[u8], LentError> {
        if range.is_empty() {
            return Ok(&[]);
        }
        if !self.ranges.contains(&Some(range)) {
            return Err(LentError::NotLent);
        }
        let start = range.addr();
        let end = start.checked_add(range.len()).ok_or(LentError::OutsideCpu1Memory)?;
        if let Some(regions) = self.regions {
            let inside = regions.iter().any(|r| {
                let (lo, hi) = r();
                start >= lo && end <= hi
            });
            if !inside {
                return Err(LentError::OutsideCpu1Memory);
            }
        }
        // SAFETY: `range` is one of the ranges `hold` recorded and not yet
        // released, and lies in the accepted memory: `hold`'s contract keeps
        // it valid and unchanged until `release`, which takes `&mut self`
        // and so cannot run while the returned slice (borrowing `self`)
        // lives.
        Ok(unsafe { range.as_slice() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static NAME: [u8; 5] = *b"trace";
    static VALUE: [u8; 8] = [1, 0, 0, 0, 2, 0, 0, 0];

    fn lent() -> Lent {
        Lent::new(None)
    }

    #[test]
    fn serves_the_ranges_of_the_message_until_released() {
        let mut l = lent();
        let (key, value) = (Bytes::new(&NAME), Bytes::new(&VALUE));
        // SAFETY: statics, valid for ever.
        unsafe { l.hold(&FromKernel::CachePut { key, value }) };
        assert_eq!(l.get(key), Ok(&b"trace"[..]));
        assert_eq!(l.get(value), Ok(&VALUE[..]));
        l.release();
        assert_eq!(l.get(key), Err(LentError::NotLent));
        assert_eq!(l.get(Bytes::EMPTY), Ok(&[][..]));
    }

    #[test]
    fn refuses_ranges_the_message_did_not_carry() {
        let mut l = lent();
        let name = Bytes::new(&NAME);
        // SAFETY: a static, valid for ever.
        unsafe { l.hold(&FromKernel::DmaErase { name }) };
        assert_eq!(l.get(Bytes::new(&VALUE)), Err(LentError::NotLent));
        assert_eq!(l.get(Bytes::new(&NAME[1..])), Err(LentError::NotLent));
        // A later message replaces the earlier one's ranges.
        // SAFETY: no ranges.
        unsafe { l.hold(&FromKernel::RtioInit) };
        assert_eq!(l.get(name), Err(LentError::NotLent));
    }

    fn name_region() -> (usize, usize) {
        let start = NAME.as_ptr() as usize;
        (start, start + NAME.len())
    }

    #[test]
    fn refuses_ranges_outside_cpu1_memory() {
        static REGIONS: [fn() -> (usize, usize); 1] = [name_region];
        let mut l = Lent::new(Some(&REGIONS));
        let (inside, outside) = (Bytes::new(&NAME), Bytes::new(&VALUE));
        // SAFETY: statics, valid for ever.
        unsafe { l.hold(&FromKernel::CachePut { key: inside, value: outside }) };
        assert_eq!(l.get(inside), Ok(&b"trace"[..]));
        assert_eq!(l.get(outside), Err(LentError::OutsideCpu1Memory));
    }
}
