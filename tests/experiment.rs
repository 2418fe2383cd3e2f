//! The user's experiment (user-report.md), repeated: subkernel A plays 100
//! TTL pulses; subkernel B records the same pulses as DMA and plays them
//! back. On the reference firmware the second run times out and every later
//! upload fails; here every run must pass, leave the DMA store empty and the
//! heap where it was.

use std::sync::Arc;
use std::time::Duration;

use satman::hal::Initiator;
use satman::KernelState;
use satman_systest::heap::TrackingAlloc;
use satman_systest::kernels::{self, check_pulses};
use satman_systest::master::Outcome;
use satman_systest::sim::{image, SimBench, SimOptions};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

const DEST: u8 = 1;
const A: u32 = 1;
const B: u32 = 2;
const AWAIT: Duration = Duration::from_millis(5000);

fn runs() -> usize {
    std::env::var("SATMAN_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(1000)
}

/// One submission of the experiment, as the master runs it.
fn experiment(b: &mut SimBench, run: usize) {
    // compile_and_upload_subkernels: both images, before the kernel runs.
    b.master.upload_subkernel(DEST, A, &image("standard", 4096)).unwrap_or_else(|e| panic!("run {run}: upload A: {e}"));
    b.master.upload_subkernel(DEST, B, &image("ddma", 4096)).unwrap_or_else(|e| panic!("run {run}: upload B: {e}"));

    // Standard subkernel.
    b.master.reset().unwrap();
    b.master.load_run(DEST, A, false, 0).unwrap_or_else(|e| panic!("run {run}: preload A: {e}"));
    assert_eq!(b.sat().kernel_state(), KernelState::Loaded(A));
    let now = b.rtio.counter() as u64 + 125_000;
    b.master.load_run(DEST, A, true, now).unwrap_or_else(|e| panic!("run {run}: run A: {e}"));
    let outcome = b.master.await_finish(A, AWAIT).unwrap_or_else(|e| panic!("run {run}: await A: {e}"));
    assert_eq!(outcome, Outcome::Finished, "run {run}");
    let events = b.rtio.take_events();
    check_pulses(&events, Initiator::Kernel).unwrap_or_else(|e| panic!("run {run}, subkernel A: {e}"));

    // DDMA subkernel.
    b.master.reset().unwrap();
    b.master.load_run(DEST, B, false, 0).unwrap_or_else(|e| panic!("run {run}: preload B: {e}"));
    let now = b.rtio.counter() as u64 + 125_000;
    b.master.load_run(DEST, B, true, now).unwrap_or_else(|e| panic!("run {run}: run B: {e}"));
    let outcome = b.master.await_finish(B, AWAIT).unwrap_or_else(|e| panic!("run {run}: await B: {e}"));
    assert_eq!(outcome, Outcome::Finished, "run {run}");
    let events = b.rtio.take_events();
    check_pulses(&events, Initiator::Dma).unwrap_or_else(|e| panic!("run {run}, subkernel B playback: {e}"));
    b.master.clear_async();
}

#[test]
fn users_experiment_passes_every_run() {
    let mut b = SimBench::new(SimOptions::default());
    b.register("standard", Arc::new(kernels::standard));
    b.register("ddma", Arc::new(kernels::ddma));
    b.master.init_link(DEST).unwrap();

    let mut baseline = None;
    let n = runs();
    for run in 0..n {
        experiment(&mut b, run);
        // Nothing left behind: no trace, no kernel, no byte.
        assert!(b.sat().store().is_empty(), "run {run}: DMA store not empty");
        assert_eq!(b.sat().store().arena_stats().in_use, 0, "run {run}");
        assert_eq!(b.sat().kernel_state(), KernelState::Idle, "run {run}");
        let heap = b.heap.bytes();
        match baseline {
            None => baseline = Some(heap),
            Some(base) => assert_eq!(heap, base, "run {run}: heap {heap} bytes, baseline {base}"),
        }
    }
    assert_eq!(b.rtio.misrouted.load(std::sync::atomic::Ordering::Relaxed), 0, "events from an initiator that did not own the RTIO");
    assert_eq!(b.rtio.misaligned.load(std::sync::atomic::Ordering::Relaxed), 0, "trace handed to the DMA engine misaligned");
    let stats = b.sat().stats;
    assert_eq!(stats.kernels_finished, 2 * n as u64);
    assert_eq!(stats.kernels_failed, 0);
    assert_eq!(stats.decode_errors, 0);
    eprintln!("{n} runs; satellite stats {stats:?}; master stats {:?}", b.master.stats);
}
