//! CPU0's memory budget: everything the wire (and the kernels it uploads)
//! can make CPU0 hold on heap0, counted against one limit well below the
//! heap.
//!
//! heap0 is 64 MiB, and its exhaustion panics CPU0: on silicon that halts
//! the satellite until a power cycle. So no input may grow CPU0's memory
//! without first asking [`Budget::admit`]; over the limit the input is
//! refused explicitly (each request's failure reply, or no acknowledgement
//! where the wire has no failure reply) and a line is logged. The default
//! limit, [`DEFAULT_LIMIT`] = 16 MiB, leaves 48 MiB for what the firmware
//! itself needs (receive buffer, send queues, the log, the parts' fixed
//! state).
//!
//! What is counted ([`Kind`]):
//!
//! | kind | what | refused with |
//! |---|---|---|
//! | `Images` | uploaded kernel images, complete or in progress, of every id | `SubkernelAddDataReply { succeeded: false }` |
//! | `Inbox` | messages for the running kernel, queued or being reassembled | no `SubkernelMessageAck` (the sender's wait fails) |
//! | `Exceptions` | exceptions kept for the master, a remote exception being fetched | a short stand-in exception, itself admitted (older kept exceptions are dropped for it; if it still does not fit, it is made when the master fetches it and not held) / `OutOfMemory` to the kernel |
//! | `RemoteLists` | `SubkernelFinished` of remote subkernels not yet awaited, the kernel's remote trace parts' entries | dropped (logged) |
//! | `TraceIndex` | the DDMA store's index entries (the traces themselves are in the DDMA arena, which has its own budget) | `DmaAddTraceReply { succeeded: false }` / `OutOfMemory` to the kernel |
//! | `Mgmt` | a config write payload, a config value or log being served, a flash's SD card write buffer (32 KiB, from the flash request to the commit) | `CoreMgmtReply { succeeded: false }` (the log is never refused) |
//! | `Staging` | what a kernel makes CPU0 copy: a message being sent, trace parts for other destinations, cache values | `OutOfMemory` / `DmaOverBudget` to the kernel |
//!
//! Accounting is by measurement, not by matching takes and releases: each
//! part reports what it holds (the satellite refreshes the figures after
//! every call into a part, see `satellite::parts`), and [`Budget::admit`]
//! adds what an input would add on top. A figure can therefore never leak:
//! dropping the data is dropping its count.

use core::fmt;

use log::warn;

/// The budget the firmware runs with (see the module docs).
pub const DEFAULT_LIMIT: usize = 16 << 20;

/// Bytes counted per map or list entry on top of its payload (node and
/// allocator overhead), so that many tiny entries are not free.
pub const ENTRY_OVERHEAD: usize = 64;

/// What a counted byte is held for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Images,
    Inbox,
    Exceptions,
    RemoteLists,
    TraceIndex,
    Mgmt,
    Staging,
}

impl Kind {
    pub const ALL: [Kind; 7] =
        [Kind::Images, Kind::Inbox, Kind::Exceptions, Kind::RemoteLists, Kind::TraceIndex, Kind::Mgmt, Kind::Staging];

    fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Images => "kernel images",
            Kind::Inbox => "kernel inbox",
            Kind::Exceptions => "exceptions",
            Kind::RemoteLists => "remote subkernel lists",
            Kind::TraceIndex => "DMA trace index",
            Kind::Mgmt => "core management buffers",
            Kind::Staging => "kernel staging",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An input refused because it would take CPU0 over its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    pub kind: Kind,
    pub requested: usize,
    pub held: usize,
    pub limit: usize,
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CPU0 memory budget: {} more bytes for {} refused ({} of {} bytes held)",
            self.requested, self.kind, self.held, self.limit
        )
    }
}

/// The figures, per kind, and the refusals so far.
#[derive(Debug, Clone)]
pub struct Budget {
    limit: usize,
    held: [usize; 7],
    refusals: [u64; 7],
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget { limit, held: [0; 7], refusals: [0; 7] }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes counted, all kinds.
    pub fn held(&self) -> usize {
        self.held.iter().fold(0usize, |a, b| a.saturating_add(*b))
    }

    pub fn held_by(&self, kind: Kind) -> usize {
        self.held[kind.index()]
    }

    /// Bytes that can still be admitted.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.held())
    }

    /// Sets what a part measured it holds for `kind`.
    pub fn set(&mut self, kind: Kind, bytes: usize) {
        self.held[kind.index()] = bytes;
    }

    /// Asks for `bytes` more for `kind`. Admitted bytes are counted at once
    /// (so several admissions in one call add up) until the next
    /// measurement replaces the figure. A refusal is logged and counted.
    pub fn admit(&mut self, kind: Kind, bytes: usize) -> Result<(), OverBudget> {
        let held = self.held();
        if bytes <= self.limit.saturating_sub(held) {
            let h = &mut self.held[kind.index()];
            *h = h.saturating_add(bytes);
            return Ok(());
        }
        self.refusals[kind.index()] += 1;
        let e = OverBudget { kind, requested: bytes, held, limit: self.limit };
        warn!("{}", e);
        Err(e)
    }

    /// Inputs of `kind` refused so far.
    pub fn refusals(&self, kind: Kind) -> u64 {
        self.refusals[kind.index()]
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(DEFAULT_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admissions_add_up_until_the_limit_and_measurements_replace_them() {
        let mut b = Budget::new(1000);
        assert_eq!(b.admit(Kind::Images, 600), Ok(()));
        assert_eq!(b.admit(Kind::Inbox, 400), Ok(()));
        assert_eq!(b.room(), 0);
        let e = b.admit(Kind::Mgmt, 1).unwrap_err();
        assert_eq!((e.kind, e.requested, e.held, e.limit), (Kind::Mgmt, 1, 1000, 1000));
        assert_eq!(b.refusals(Kind::Mgmt), 1);
        assert_eq!(b.held_by(Kind::Mgmt), 0, "a refusal counts nothing");
        // The image was dropped: its part measures 0 again.
        b.set(Kind::Images, 0);
        assert_eq!(b.held(), 400);
        assert_eq!(b.admit(Kind::Mgmt, 600), Ok(()));
    }

    #[test]
    fn huge_requests_and_figures_saturate_instead_of_overflowing() {
        let mut b = Budget::new(usize::MAX);
        b.set(Kind::Images, usize::MAX);
        b.set(Kind::Inbox, usize::MAX);
        assert_eq!(b.held(), usize::MAX);
        assert!(b.admit(Kind::Staging, 1).is_err());
        let mut b = Budget::new(10);
        assert!(b.admit(Kind::Staging, usize::MAX).is_err());
        assert_eq!(b.held(), 0);
    }
}
