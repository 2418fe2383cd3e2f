//! Trees of satellites: a chain of three (master → 1 → 2 → 3) and a star
//! (master → 1 → {2, 3}), on simulated hardware. The master brings the
//! tree up as the reference does (echo, TSC load, routing table, rank);
//! every satellite passes the TSC down before it acknowledges (checked on
//! the bench's event trace), requests are routed hop by hop, and the
//! user's experiment runs on the farthest satellite.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use satman::hal::{Initiator, LinkErrors, Underflow};
use satman::{KernelState, RepeaterState};
use satman_systest::heap::TrackingAlloc;
use satman_systest::kernels::{self, check_pulses, check_pulses_on, ttl15_of};
use satman_systest::master::{DestinationStatus, Outcome};
use satman_systest::scenario::{self, AWAIT, IMAGE_SIZE};
use satman_systest::sim::trace::check_tsc_order;
use satman_systest::sim::{image, SimBench, SimOptions, TraceEvent};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

const SETTLE: Duration = Duration::from_secs(10);

/// Every repeater link of the bench is up.
fn all_up(b: &mut SimBench) -> bool {
    let children = b.children.clone();
    (0..children.len()).all(|n| (0..children[n].len()).all(|i| b.nth(n).repeater_state(i) == Some(RepeaterState::Up)))
}

/// A tree brought up by the master: repeaters up, then the reference
/// bring-up (echo, TSC load awaiting `TSCAck`, routing, rank). Returns the
/// index in the trace of the master's TSC load.
fn bring_up(parents: &[usize]) -> (SimBench, usize) {
    let mut b = SimBench::tree(SimOptions::default(), parents);
    scenario::register_kernels(&mut b);
    b.register("rtio_init", Arc::new(|api| api.rtio_init()));
    // The satellites bring their repeater links up by themselves (ping,
    // TSC, the routing table they have, rank).
    assert!(b.pump_until(SETTLE, all_up), "repeater links up: {:?}", b.trace.events());
    let routes: Vec<(u8, [u8; 32])> = (0..=parents.len()).map(|n| (n as u8 + 1, b.path(n))).collect();
    let load = b.trace.events().len();
    b.master.bring_up(&routes).unwrap();
    for n in 0..=parents.len() {
        assert_eq!(b.master.destination_status(n as u8 + 1).unwrap(), DestinationStatus::Ok, "destination {}", n + 1);
        assert_eq!(b.nth(n).own_destination(), n as u8 + 1);
    }
    (b, load)
}

/// After the master's TSC load, every satellite's TSC was loaded once and
/// each `TSCAck` came after the satellites below acknowledged theirs.
fn check_master_tsc_load(b: &SimBench, from: usize) {
    let events = b.trace.events()[from..].to_vec();
    assert_eq!(events[0], TraceEvent::TscLoaded { node: 0 }, "{events:?}");
    let acks = check_tsc_order(&events, &b.children).unwrap_or_else(|e| panic!("{e}: {events:?}"));
    let n = b.children.len();
    assert_eq!(acks, n, "one TSCAck per satellite: {events:?}");
    for node in 0..n {
        let loads = events.iter().filter(|e| **e == TraceEvent::TscLoaded { node }).count();
        assert_eq!(loads, 1, "satellite {node}: {events:?}");
    }
    // The master's own TSCAck is the last of them.
    let last_ack = events.iter().rposition(|e| matches!(e, TraceEvent::TscAck { .. })).unwrap();
    assert_eq!(events[last_ack], TraceEvent::TscAck { node: 0 });
}

/// The user's experiment on satellite `n`: subkernel A plays 100 pulses on
/// its TTL, subkernel B records them and plays them back through DMA; then
/// the original B, recording `ttl15` of destination 1, whose trace goes up
/// the tree to satellite 0 and plays there (DDMA).
fn experiment_on(b: &mut SimBench, n: usize, runs: usize) {
    let dest = n as u8 + 1;
    let target = ttl15_of(dest);
    let (a, bb) = (format!("standard_on_{dest}"), format!("ddma_on_{dest}"));
    b.register(&a, Arc::new(move |api| kernels::standard_on(api, target)));
    b.register(&bb, Arc::new(move |api| kernels::ddma_on(api, target)));
    let mut base = None;
    for run in 0..runs {
        b.master.upload_subkernel(dest, 1, &image(&a, IMAGE_SIZE)).unwrap();
        b.master.upload_subkernel(dest, 2, &image(&bb, IMAGE_SIZE)).unwrap();
        b.master.upload_subkernel(dest, 3, &image("ddma", IMAGE_SIZE)).unwrap();
        for (id, source) in [(1, Initiator::Kernel), (2, Initiator::Dma)] {
            b.master.reset().unwrap();
            b.master.load_run(dest, id, false, 0).unwrap();
            let now = b.downstream[n - 1].rtio.counter() as u64 + 125_000;
            b.master.load_run(dest, id, true, now).unwrap();
            assert_eq!(b.master.await_finish(id, AWAIT).unwrap(), Outcome::Finished, "run {run}, subkernel {id}");
            let events = b.downstream[n - 1].rtio.take_events();
            check_pulses_on(&events, target, source).unwrap_or_else(|e| panic!("run {run}, subkernel {id}: {e}"));
        }
        b.master.reset().unwrap();
        b.master.load_run(dest, 3, false, 0).unwrap();
        let now = b.rtio.counter() as u64 + 125_000;
        b.master.load_run(dest, 3, true, now).unwrap();
        assert_eq!(b.master.await_finish(3, AWAIT).unwrap(), Outcome::Finished, "run {run}, remote DDMA");
        check_pulses(&b.rtio.take_events(), Initiator::Dma).unwrap_or_else(|e| panic!("run {run}, DDMA on 1: {e}"));
        for k in 0..b.children.len() {
            assert!(b.nth(k).store().is_empty(), "run {run}: satellite {k}'s DMA store");
            assert_eq!(b.nth(k).kernel_state(), KernelState::Idle, "run {run}: satellite {k}");
        }
        b.master.clear_async();
        // From the second run on (the first sizes queues and logs), the
        // heap is back where it was after every run.
        let heap = b.heap.bytes();
        match base {
            None if run == 1 => base = Some(heap),
            Some(h) => assert_eq!(heap, h, "run {run}: heap"),
            None => {}
        }
    }
    for k in 0..b.children.len() {
        let rtio = if k == 0 { &b.rtio } else { &b.downstream[k - 1].rtio };
        assert_eq!(rtio.misrouted.load(Ordering::Relaxed), 0, "satellite {k}");
    }
}

#[test]
fn chain_of_three_syncs_bottom_up_and_runs_the_experiment_on_the_farthest() {
    let (mut b, load) = bring_up(&[0, 1]);
    assert_eq!(b.children, [vec![1], vec![2], vec![]]);
    assert_eq!(&b.path(2)[..5], &[1, 1, 1, 0, 0xff]);
    check_master_tsc_load(&b, load);
    // At link-up too, each repeater waited for the TSCAck from below
    // before handing down the routing table (set-up order in the trace).
    let events = b.trace.events();
    let first_set = events.iter().position(|e| *e == TraceEvent::SetTime { node: 1, repeater: 0 }).unwrap();
    assert!(events[first_set..].contains(&TraceEvent::TscAck { node: 2 }));
    experiment_on(&mut b, 2, 4);
    // A second TSC load (the master re-syncs) is passed down the same way.
    let from = b.trace.events().len();
    b.master.load_tsc().unwrap();
    check_master_tsc_load(&b, from);
}

#[test]
fn star_routes_to_both_branches_and_runs_the_experiment_on_the_last_repeater() {
    let (mut b, load) = bring_up(&[0, 0]);
    assert_eq!(b.children, [vec![1, 2], vec![], vec![]]);
    // Destination 3 is behind satellite 1's *last* repeater (the
    // reference's router never picks the last one for async packets).
    assert_eq!(&b.path(2)[..3], &[1, 2, 0]);
    check_master_tsc_load(&b, load);
    experiment_on(&mut b, 2, 4);
    experiment_on(&mut b, 1, 1);
}

#[test]
fn reset_pulses_every_repeater_before_the_reset_goes_down() {
    let (mut b, _) = bring_up(&[0, 0]);
    b.trace.clear();
    let resets: Vec<u64> = b.downstream.iter().map(|n| n.rtio.resets.load(Ordering::Relaxed)).collect();
    b.master.reset().unwrap();
    let events = b.trace.events();
    let ack = events.iter().position(|e| *e == TraceEvent::ResetAck { node: 0 }).unwrap();
    for r in 0..2 {
        let pulse = events.iter().position(|e| *e == TraceEvent::RepeaterReset { node: 0, repeater: r }).unwrap();
        assert!(pulse < ack, "{events:?}");
    }
    // The reset reached both satellites below.
    assert!(b.pump_until(SETTLE, |b| {
        b.downstream.iter().zip(&resets).all(|(n, &r)| n.rtio.resets.load(Ordering::Relaxed) == r + 1)
    }));
    assert_eq!(b.rtio.repeater_resets.load(Ordering::Relaxed), 2);
}

#[test]
fn a_stuck_set_time_fails_the_repeater_without_blocking_the_tsc_ack() {
    let mut b = SimBench::tree(SimOptions::default(), &[0]);
    b.rtio.set_time_stuck.store(true, Ordering::Relaxed);
    assert!(b.pump_until(SETTLE, |b| b.nth(0).repeater_state(0) == Some(RepeaterState::Failed)));
    // The master's TSC load is acknowledged at once: nothing below to wait for.
    b.master.echo().unwrap();
    b.master.load_tsc().unwrap();
    // The link dropping and coming back retries the set-up.
    b.rtio.set_time_stuck.store(false, Ordering::Relaxed);
    b.master.transport.downstream[0].hw.uplink.shared.set_up(false);
    assert!(b.pump_until(SETTLE, |b| b.nth(0).repeater_state(0) == Some(RepeaterState::Down)));
    b.master.transport.downstream[0].hw.uplink.shared.set_up(true);
    assert!(b.pump_until(SETTLE, |b| b.nth(0).repeater_state(0) == Some(RepeaterState::Up)));
}

#[test]
fn protocol_errors_are_counted_and_rtio_init_does_not_reset() {
    let (mut b, _) = bring_up(&[0]);
    b.rtio.inject_link_errors(LinkErrors {
        underflow: Some(Underflow { channel: 3, timestamp: 10, counter: 20 }),
        truncated_packet: true,
        ..LinkErrors::default()
    });
    b.rtio.inject_repeater_errors(0, LinkErrors { unknown_packet: true, ..LinkErrors::default() });
    assert!(b.pump_until(SETTLE, |b| {
        let s = b.nth(0).stats;
        (s.link_protocol_errors, s.underflows, s.repeater_protocol_errors) == (1, 1, 1)
    }));
    // A subkernel's rtio_init is acknowledged without an RTIO reset.
    b.master.upload_subkernel(2, 7, &image("rtio_init", IMAGE_SIZE)).unwrap();
    let resets = b.downstream[0].rtio.resets.load(Ordering::Relaxed);
    b.master.load_run(2, 7, true, 0).unwrap();
    assert_eq!(b.master.await_finish(7, AWAIT).unwrap(), Outcome::Finished);
    assert_eq!(b.downstream[0].rtio.resets.load(Ordering::Relaxed), resets);
}
