//! The DDMA store of a DRTIO satellite.
//!
//! A DMA *trace* is a run of RTIO output records that the gateware DMA engine
//! replays with a time offset. A satellite holds two kinds of trace:
//!
//! - traces uploaded by another node (the master, or a satellite whose
//!   subkernel recorded events for us), assembled from
//!   `DmaAddTraceRequest` chunks with [`Store::add_chunk`];
//! - traces recorded by a subkernel running on this satellite
//!   ([`Store::begin_recording`] ... [`Store::finish_recording`]), which are
//!   split by destination: our own events stay here, the rest is handed back
//!   to the caller to be uploaded to the other destinations.
//!
//! Both live in an [`Arena`]: one region of memory with its own allocator,
//! whose size is the store's byte budget. Every trace starts on a 128-byte
//! boundary because the Zynq DMA engine reads 128-byte bursts and ignores
//! address bits 6:0 (a 64-byte alignment makes playback start early, in the
//! previous allocation). Recording writes straight into arena memory lent to
//! the recorder ([`Lease`]) and grows it in place, so storing a recording
//! copies nothing when all events are local.
//!
//! Traces are keyed by [`Key`] (source destination, id) and carry an
//! [`Owner`], so that everything a kernel or a source created can be erased in
//! one call when it goes away.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

mod arena;
mod error;
pub mod record;
mod recorder;
mod split;
mod store;

pub use arena::{Arena, ArenaStats, Block};
pub use error::StoreError;
pub use recorder::{Recorder, RecorderFull};
pub use split::{split_in_place, split_in_place_within, RemotePart, Split, SplitError};
pub use store::{
    AddProgress, Key, Lease, Owner, PlaybackTrace, Recorded, Store, TraceInfo, INDEX_ENTRY_BYTES, INITIAL_LEASE, LEASE_ALIGNMENT,
};

/// Byte alignment of every trace: one 16-beat burst of the 64-bit HP0 port.
pub const TRACE_ALIGNMENT: usize = 128;
