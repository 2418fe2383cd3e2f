//! The user's experiment as the master runs it, over the simulated bench.

use std::sync::Arc;
use std::time::Duration;

use satman::hal::Initiator;

use crate::kernels::{self, check_pulses};
use crate::master::Outcome;
use crate::sim::{image, SimBench};

pub const DEST: u8 = 1;
/// Subkernel ids the compiler gave the two subkernels.
pub const A: u32 = 1;
pub const B: u32 = 2;
/// Size of every simulated kernel image (several upload chunks).
pub const IMAGE_SIZE: usize = 4096;
/// `subkernel_await(..., 5000)`.
pub const AWAIT: Duration = Duration::from_millis(5000);

/// Registers the experiment's kernels and the fault kernels.
pub fn register_kernels(b: &mut SimBench) {
    b.register("standard", Arc::new(kernels::standard));
    b.register("ddma", Arc::new(kernels::ddma));
    b.register("raise_while_recording", Arc::new(kernels::raise_while_recording));
    b.register("never_finishes", Arc::new(kernels::never_finishes));
    b.register("add_args", Arc::new(kernels::add_args));
    b.register("huge_recording", Arc::new(kernels::huge_recording));
    b.register("standard_dest2", Arc::new(kernels::standard_dest2));
    b.register("huge_exception", Arc::new(kernels::huge_exception));
    b.register("huge_message", Arc::new(kernels::huge_message));
    b.register("cache_flood", Arc::new(kernels::cache_flood));
}

/// A timeline start with `break_realtime`'s margin.
pub fn now(b: &SimBench) -> u64 {
    b.rtio.counter() as u64 + kernels::SLACK as u64
}

/// Where the first edge of a run must land, relative to the timestamp the
/// master requested (counter units, µs in the simulation): never before it
/// (the kernels take their time from the counter, after the request), and
/// at most this much after it (the kernel's start latency, and for the DMA
/// kernel its recording, on a loaded test machine).
pub const FIRST_EDGE_WINDOW: std::ops::RangeInclusive<i64> = 0..=500_000;

/// Uploads (preloads) and runs subkernel `id` and awaits it.
pub fn preload_run_await(b: &mut SimBench, id: u32) -> Result<Outcome, String> {
    preload_run_await_at(b, id).map(|(o, _)| o)
}

/// [`preload_run_await`], also returning the timestamp the run requested.
pub fn preload_run_await_at(b: &mut SimBench, id: u32) -> Result<(Outcome, i64), String> {
    b.master.reset().map_err(|e| format!("reset: {e}"))?;
    b.master.load_run(DEST, id, false, 0).map_err(|e| format!("preload {id}: {e}"))?;
    let t = now(b);
    b.master.load_run(DEST, id, true, t).map_err(|e| format!("run {id}: {e}"))?;
    let outcome = b.master.await_finish(id, AWAIT).map_err(|e| format!("await {id}: {e}"))?;
    Ok((outcome, t as i64))
}

/// The first edge against the requested timestamp ([`FIRST_EDGE_WINDOW`]).
pub fn check_first_edge(first: i64, requested: i64) -> Result<(), String> {
    let lead = first - requested;
    if FIRST_EDGE_WINDOW.contains(&lead) {
        Ok(())
    } else {
        Err(format!("first edge at {first}, {lead} after the requested timestamp {requested}: outside {FIRST_EDGE_WINDOW:?}"))
    }
}

/// After a kernel that finished: CPU1's heap at the end of the run (read
/// by the satellite before its teardown) is what it was after the load,
/// i.e. the run freed everything it allocated on CPU1. The simulated
/// CPU1's account is the bench's `heap1` tracker.
pub fn check_heap1_run(b: &mut SimBench) -> Result<(), String> {
    let s = b.sat().stats;
    match (s.heap1_loaded, s.heap1_ended) {
        (Some(l), Some(e)) if l == e => Ok(()),
        (l, e) => Err(format!("CPU1's heap after the load {l:?} bytes, at the end of the run {e:?} bytes")),
    }
}

/// One submission of the user's experiment; checks both subkernels'
/// output and that each run freed what it allocated on CPU1.
pub fn experiment(b: &mut SimBench) -> Result<(), String> {
    b.master.upload_subkernel(DEST, A, &image("standard", IMAGE_SIZE)).map_err(|e| format!("upload A: {e}"))?;
    b.master.upload_subkernel(DEST, B, &image("ddma", IMAGE_SIZE)).map_err(|e| format!("upload B: {e}"))?;
    let stray = b.rtio.take_events();
    if !stray.is_empty() {
        return Err(format!("{} stray RTIO events before the submission, first {:?}", stray.len(), stray[0]));
    }
    let t = match preload_run_await_at(b, A)? {
        (Outcome::Finished, t) => t,
        other => return Err(format!("subkernel A: {other:?}")),
    };
    check_heap1_run(b).map_err(|e| format!("subkernel A: {e}"))?;
    let first = check_pulses(&b.rtio.take_events(), Initiator::Kernel).map_err(|e| format!("subkernel A: {e}"))?;
    check_first_edge(first, t).map_err(|e| format!("subkernel A: {e}"))?;
    let t = match preload_run_await_at(b, B)? {
        (Outcome::Finished, t) => t,
        other => return Err(format!("subkernel B: {other:?}")),
    };
    check_heap1_run(b).map_err(|e| format!("subkernel B: {e}"))?;
    let first = check_pulses(&b.rtio.take_events(), Initiator::Dma).map_err(|e| format!("subkernel B playback: {e}"))?;
    check_first_edge(first, t).map_err(|e| format!("subkernel B playback: {e}"))?;
    b.master.clear_async();
    Ok(())
}
