//! What the kernels part holds on CPU0's heap, by [`Kind`], for CPU0's
//! memory budget ([`crate::budget`]).
//!
//! The satellite calls [`Kernels::account`] after every call into the part.
//! Collections the wire or a kernel can grow to many entries (images of
//! many ids, cache values, `SubkernelFinished` of remote subkernels) are
//! counted in constant time — running totals or capacities — so a full
//! budget does not slow the main loop down; the rest are bounded lists.

use core::mem::size_of;

use super::session::{RemoteFinish, RemoteTrace, Session};
use super::subkernel::Image;
use super::Kernels;
use crate::budget::{Budget, Kind, ENTRY_OVERHEAD};

/// Bytes one uploaded image (complete or not) is counted for.
pub(super) fn image_bytes(image: &Image) -> usize {
    ENTRY_OVERHEAD
        + match image {
            Image::Uploading(r) => r.capacity(),
            Image::Ready(v) => v.capacity(),
        }
}

/// Bytes one cache entry is counted for.
pub(super) fn cache_entry_bytes(key: &str, words: usize) -> usize {
    ENTRY_OVERHEAD + key.len() + words * size_of::<i32>()
}

impl Kernels {
    /// Sets the budget's figures for everything this part holds.
    pub fn account(&self, budget: &mut Budget) {
        let kept: usize = self.exceptions.iter().map(|e| ENTRY_OVERHEAD + e.blob.held()).sum();
        let (inbox, remote_exception, lists, staging) = match self.session_ref() {
            Some(s) => session_bytes(s),
            None => (0, 0, 0, 0),
        };
        budget.set(Kind::Images, self.images_bytes);
        budget.set(Kind::Inbox, inbox);
        budget.set(Kind::Exceptions, kept + remote_exception);
        budget.set(Kind::RemoteLists, lists);
        budget.set(Kind::Staging, staging + self.cache_bytes);
    }
}

/// (inbox, remote exception, remote lists, staging) bytes of a session.
fn session_bytes(s: &Session) -> (usize, usize, usize, usize) {
    let inbox = s.inbox.iter().map(|(_, m)| ENTRY_OVERHEAD + m.capacity()).sum::<usize>()
        + s.partial.iter().map(|(_, _, r)| ENTRY_OVERHEAD + r.capacity()).sum::<usize>()
        + s.lent.as_ref().map_or(0, |l| l.capacity());
    let lists = s.remote_finished.capacity() * size_of::<RemoteFinish>() + s.remote_traces.capacity() * size_of::<RemoteTrace>();
    let staging = s.remote_traces.iter().map(|t| t.data.held()).sum::<usize>()
        + s.outgoing.as_ref().map_or(0, |o| o.data.held())
        + s.cache_borrows.iter().map(|k| ENTRY_OVERHEAD + k.capacity()).sum::<usize>();
    (inbox, s.remote_exception.capacity(), lists, staging)
}
