//! Routing through a satellite to the one below it: the first satellite
//! brings its repeater link up and hands down the routing table, then
//! forwards the master's requests and relays the replies, for link
//! management, subkernels and DDMA alike.

use std::time::Duration;

use libdrtio::Packet;
use satman::hal::Initiator;
use satman::{KernelState, RepeaterState};
use satman_systest::heap::TrackingAlloc;
use satman_systest::kernels::{check_pulses, check_pulses_on, TTL15_DEST2};
use satman_systest::master::{path, DestinationStatus, MasterError, Outcome};
use satman_systest::scenario::{self, AWAIT, IMAGE_SIZE};
use satman_systest::sim::{image, SimBench, SimOptions};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

/// Master → satellite 1 (rank 1) → satellite 2 (rank 2).
fn chain() -> SimBench {
    let mut b = SimBench::chain(SimOptions::default(), 1);
    scenario::register_kernels(&mut b);
    b.master.echo().unwrap();
    b.master.set_routes(&[(1, path(&[1, 0])), (2, path(&[1, 1, 0]))]).unwrap();
    assert!(b.pump_until(Duration::from_secs(5), |b| b.nth(0).repeater_state(0) == Some(RepeaterState::Up)));
    b
}

#[test]
fn repeater_link_comes_up_and_destinations_answer() {
    let mut b = chain();
    assert_eq!(b.master.destination_status(1).unwrap(), DestinationStatus::Ok);
    assert_eq!(b.master.destination_status(2).unwrap(), DestinationStatus::Ok);
    assert_eq!(b.master.destination_status(3).unwrap(), DestinationStatus::Down);
    assert_eq!(b.nth(1).own_destination(), 2);
    // The lower satellite got the table (and rank 2) from the upper one.
    let stats = b.nth(1).stats;
    assert!(stats.packets_in >= 257, "{stats:?}");
    // Its link dropping makes it unreachable, explicitly.
    b.master.transport.downstream[0].hw.uplink.shared.set_up(false);
    assert!(b.pump_until(Duration::from_secs(1), |b| b.nth(0).repeater_state(0) == Some(RepeaterState::Down)));
    assert_eq!(b.master.destination_status(2).unwrap(), DestinationStatus::Down);
    let r = b.master.upload_subkernel(2, 1, &image("standard", IMAGE_SIZE));
    assert_eq!(r, Err(MasterError::Refused("subkernel upload")));
    b.master.transport.downstream[0].hw.uplink.shared.set_up(true);
    assert!(b.pump_until(Duration::from_secs(5), |b| b.nth(0).repeater_state(0) == Some(RepeaterState::Up)));
    assert_eq!(b.master.destination_status(2).unwrap(), DestinationStatus::Ok);
}

/// Subkernel A on satellite 2 plays its own TTL; subkernel B, also on
/// satellite 2, records the user's pulses on `ttl15` of destination 1, so
/// its trace goes up to satellite 1 (DDMA through the upper satellite) and
/// plays there.
#[test]
fn users_experiment_on_the_satellite_below() {
    let mut b = chain();
    let mut base = None;
    for run in 0..20 {
        b.master.upload_subkernel(2, 1, &image("standard_dest2", IMAGE_SIZE)).unwrap();
        b.master.upload_subkernel(2, 2, &image("ddma", IMAGE_SIZE)).unwrap();
        for id in [1, 2] {
            b.master.reset().unwrap();
            b.master.load_run(2, id, false, 0).unwrap();
            let now = b.downstream[0].rtio.counter() as u64 + 125_000;
            b.master.load_run(2, id, true, now).unwrap();
            assert_eq!(b.master.await_finish(id, AWAIT).unwrap(), Outcome::Finished, "run {run}, subkernel {id}");
        }
        let below = b.downstream[0].rtio.take_events();
        check_pulses_on(&below, TTL15_DEST2, Initiator::Kernel).unwrap_or_else(|e| panic!("run {run}, A: {e}"));
        let above = b.rtio.take_events();
        check_pulses(&above, Initiator::Dma).unwrap_or_else(|e| panic!("run {run}, B on destination 1: {e}"));
        // The event logs are sized by the run before; measure without them.
        drop((below, above));
        assert!(b.nth(0).store().is_empty(), "run {run}: the remote part was removed with the kernel");
        assert!(b.nth(1).store().is_empty());
        assert_eq!(b.nth(1).kernel_state(), KernelState::Idle);
        b.master.clear_async();
        // CPU0 and the kernel CPUs: the simulated CPU1 heap is not
        // recreated between runs, so a CPU1 leak shows here.
        let heap = (b.heap.bytes(), b.heap1.bytes());
        match base {
            None => base = Some(heap),
            Some(h) => assert_eq!(heap, h, "run {run}"),
        }
    }
}

#[test]
fn master_dma_on_the_satellite_below() {
    let mut b = chain();
    let mut trace = Vec::new();
    let mut rec = [0u8; 17];
    for i in 0..100i64 {
        for (dt, v) in [(0, 1), (500_000, 0)] {
            let n = libdma::record::encode(&mut rec, 0x0100_0F00, i * 1_000_000 + dt, &[v]).unwrap();
            trace.extend_from_slice(&rec[..n]);
        }
    }
    assert_eq!(b.master.destination_status(2).unwrap(), DestinationStatus::Ok);
    for _ in 0..10 {
        b.master.dma_add_trace(2, 5, &trace).unwrap();
        let ts = b.downstream[0].rtio.counter() as u64 + 125_000;
        b.master.dma_playback(2, 5, ts).unwrap();
        let status = b.master.dma_await_status(5, Duration::from_secs(5)).unwrap();
        assert_eq!((status.source, status.error), (2, 0));
        check_pulses(&b.downstream[0].rtio.take_events(), Initiator::Dma).unwrap();
        b.master.dma_remove(2, 5).unwrap();
        b.master.clear_async();
    }
    assert!(b.nth(1).store().is_empty());
}

/// Analyzer requests for the satellite below go through the upper one and
/// its answer comes back (the host simulation has no analyzer: refused).
#[test]
fn analyzer_requests_reach_the_satellite_below() {
    let mut b = chain();
    for d in [1, 2] {
        let reply = b.master.transact(&Packet::AnalyzerHeaderRequest { destination: d }, "analyzer").unwrap();
        assert_eq!(reply.decode().unwrap(), Packet::CoreMgmtReply { succeeded: false }, "destination {d}");
    }
}
