//! The user's experiment (user-report.md), repeated: subkernel A plays 100
//! TTL pulses; subkernel B records the same pulses as DMA and plays them
//! back. On the reference firmware the second run times out and every later
//! upload fails; here every run must pass, leave the DMA store empty and the
//! heap where it was.

use std::sync::atomic::Ordering;

use satman::KernelState;
use satman_systest::heap::TrackingAlloc;
use satman_systest::scenario::{self, DEST};
use satman_systest::sim::{SimBench, SimOptions};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

fn runs() -> usize {
    std::env::var("SATMAN_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(1000)
}

#[test]
fn users_experiment_passes_every_run() {
    let mut b = SimBench::new(SimOptions::default());
    scenario::register_kernels(&mut b);
    b.master.init_link(DEST).unwrap();

    let mut baseline = None;
    let n = runs();
    for run in 0..n {
        scenario::experiment(&mut b).unwrap_or_else(|e| panic!("run {run}: {e}"));
        // Nothing left behind: no trace, no kernel, no byte.
        assert!(b.sat().store().is_empty(), "run {run}: DMA store not empty");
        assert_eq!(b.sat().store().arena_stats().in_use, 0, "run {run}");
        assert_eq!(b.sat().kernel_state(), KernelState::Idle, "run {run}");
        // CPU0's heap and the kernel CPU's: the simulated CPU1 heap is not
        // recreated between runs, so what a run leaks on CPU1 shows here.
        let heap = (b.heap.bytes(), b.heap1.bytes());
        match baseline {
            None => baseline = Some(heap),
            Some(base) => assert_eq!(heap, base, "run {run}: heaps (CPU0, CPU1) {heap:?} bytes, baseline {base:?}"),
        }
    }
    // Nothing plays after the last run: no event the satellite emits late.
    b.pump(std::time::Duration::from_millis(50));
    let stray = b.rtio.take_events();
    assert!(stray.is_empty(), "{} stray RTIO events after the last run, first {:?}", stray.len(), stray.first());
    assert_eq!(b.rtio.misrouted.load(Ordering::Relaxed), 0, "events from an initiator that did not own the RTIO");
    assert_eq!(b.rtio.misaligned.load(Ordering::Relaxed), 0, "trace handed to the DMA engine misaligned");
    let stats = b.sat().stats;
    assert_eq!(stats.kernels_finished, 2 * n as u64);
    assert_eq!(stats.kernels_failed, 0);
    assert_eq!(stats.decode_errors, 0);
    eprintln!("{n} runs; satellite stats {stats:?}; master stats {:?}", b.master.stats);
}

/// The per-run check can fail: a kernel that leaves 48 bytes allocated on
/// the simulated CPU1 shows them at the end of its run, against its load.
#[test]
fn a_run_that_leaks_on_cpu1_is_seen_at_its_end() {
    let mut b = SimBench::new(SimOptions::default());
    scenario::register_kernels(&mut b);
    b.register(
        "leaky",
        std::sync::Arc::new(|_: &mut dyn libksupport::runtime::KernelApi| std::mem::forget(Vec::<u8>::with_capacity(48))),
    );
    b.master.init_link(DEST).unwrap();
    scenario::experiment(&mut b).unwrap();
    let s = b.sat().stats;
    assert_eq!(s.heap1_ended, s.heap1_loaded, "the experiment's B freed what it allocated");
    b.master.upload_subkernel(DEST, scenario::A, &satman_systest::sim::image("leaky", 64)).unwrap();
    let outcome = scenario::preload_run_await(&mut b, scenario::A).unwrap();
    assert!(matches!(outcome, satman_systest::master::Outcome::Finished), "{outcome:?}");
    let s = b.sat().stats;
    let (loaded, ended) = (s.heap1_loaded.unwrap(), s.heap1_ended.unwrap());
    assert_eq!(ended - loaded, 48, "heap1 after the load {loaded}, at the end {ended}");
    let e = scenario::check_heap1_run(&mut b).unwrap_err();
    assert!(e.contains("at the end of the run"), "{e}");
}
