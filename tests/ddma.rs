//! Distributed DMA on the host simulation: traces commanded by the master,
//! and a subkernel's recording whose events for another destination are
//! uploaded, played and removed there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use libdrtio::Packet;
use libksupport::runtime::KernelApi;
use satman::hal::Initiator;
use satman_systest::heap::TrackingAlloc;
use satman_systest::kernels::{self, check_pulses, HALF_PERIOD, PULSES, TTL15};
use satman_systest::master::{Outcome, Transport};
use satman_systest::scenario::{self, now, DEST};
use satman_systest::sim::{image, SimBench, SimOptions};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

fn pulse_trace(n: usize) -> Vec<u8> {
    let mut t = Vec::new();
    let mut rec = [0u8; 17];
    for i in 0..n as i64 {
        for (dt, v) in [(0, 1), (HALF_PERIOD, 0)] {
            let len = libdma::record::encode(&mut rec, TTL15 as u32, 2 * i * HALF_PERIOD + dt, &[v]).unwrap();
            t.extend_from_slice(&rec[..len]);
        }
    }
    t
}

#[test]
fn master_commanded_trace_round_trip_100_times() {
    let mut b = SimBench::new(SimOptions::default());
    b.master.init_link(DEST).unwrap();
    let trace = pulse_trace(PULSES);
    let mut base = None;
    for run in 0..100u32 {
        let id = run % 7;
        b.master.dma_add_trace(DEST, id, &trace).unwrap();
        let ts = now(&b);
        b.master.dma_playback(DEST, id, ts).unwrap();
        let status = b.master.dma_await_status(id, Duration::from_secs(5)).unwrap();
        assert_eq!((status.source, status.error), (DEST, 0), "run {run}");
        let t0 = check_pulses(&b.rtio.take_events(), Initiator::Dma).unwrap_or_else(|e| panic!("run {run}: {e}"));
        assert_eq!(t0, ts as i64);
        assert_eq!(b.rtio.selected(), Initiator::Drtio, "RTIO given back to the master");
        b.master.dma_remove(DEST, id).unwrap();
        assert!(b.sat().store().is_empty());
        b.master.clear_async();
        // CPU0 and the kernel CPUs: the simulated CPU1 heap is not
        // recreated between runs, so a CPU1 leak shows here.
        let heap = (b.heap.bytes(), b.heap1.bytes());
        match base {
            None => base = Some(heap),
            Some(h) => assert_eq!(heap, h, "run {run}"),
        }
    }
    // Unknown traces and playback while busy are refused explicitly.
    assert!(b.master.dma_remove(DEST, 999).is_err());
    assert!(b.master.dma_playback(DEST, 999, 0).is_err());
}

#[test]
fn playback_refused_while_a_kernel_runs_and_vice_versa() {
    let mut b = SimBench::new(SimOptions::default());
    scenario::register_kernels(&mut b);
    b.master.init_link(DEST).unwrap();
    b.master.dma_add_trace(DEST, 1, &pulse_trace(3)).unwrap();
    b.master.upload_subkernel(DEST, 5, &image("never_finishes", 2048)).unwrap();
    b.master.load_run(DEST, 5, true, now(&b)).unwrap();
    assert!(b.master.dma_playback(DEST, 1, now(&b)).is_err());
    b.master.reset().unwrap();
    b.rtio.dma_stall.store(true, std::sync::atomic::Ordering::Relaxed);
    b.master.dma_playback(DEST, 1, now(&b)).unwrap();
    // A kernel cannot start while the engine plays.
    assert!(b.master.load_run(DEST, 5, true, now(&b)).is_err());
    // Reset stops the playback and frees the engine.
    b.master.reset().unwrap();
    b.rtio.dma_stall.store(false, std::sync::atomic::Ordering::Relaxed);
    b.master.dma_remove(DEST, 1).unwrap();
    assert!(b.sat().store().is_empty());
}

/// Destination 2 as seen through the master: accepts uploads, plays,
/// reports status, removes.
struct RemoteDestination {
    bytes: usize,
    played: bool,
    removed: bool,
}

fn serve_remote(
    b: &mut SimBench,
    remote: &mut RemoteDestination,
    until: impl Fn(&Packet<'_>, &RemoteDestination) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if until(&Packet::EchoRequest, remote) {
            return true;
        }
        let Some(frame) = b.master.transport.recv(deadline).unwrap() else { return false };
        let p = frame.decode().unwrap();
        if until(&p, remote) {
            return true;
        }
        match p {
            Packet::DmaAddTraceRequest { source: 1, destination: 2, id, data, .. } => {
                remote.bytes += data.len();
                b.master.send(&Packet::DmaAddTraceReply { source: 2, destination: 1, id, succeeded: true }).unwrap();
            }
            Packet::DmaPlaybackRequest { source: 1, destination: 2, id, .. } => {
                remote.played = true;
                b.master.send(&Packet::DmaPlaybackReply { destination: 1, succeeded: true }).unwrap();
                let status = Packet::DmaPlaybackStatus { source: 2, destination: 1, id, error: 0, channel: 0, timestamp: 0 };
                b.master.send(&status).unwrap();
            }
            Packet::DmaRemoveTraceRequest { source: 1, destination: 2, .. } => {
                remote.removed = true;
                b.master.send(&Packet::DmaRemoveTraceReply { destination: 1, succeeded: true }).unwrap();
            }
            other => panic!("unexpected {:?}", other),
        }
    }
}

#[test]
fn subkernel_recording_for_another_destination() {
    let mut b = SimBench::new(SimOptions::default());
    b.register(
        "two_destinations",
        Arc::new(|api: &mut dyn KernelApi| {
            kernels::break_realtime(api);
            api.dma_record_start(b"both");
            let saved = api.now_mu();
            api.at_mu(0);
            for _ in 0..10 {
                api.rtio_output(TTL15, 1); // ours
                api.rtio_output(0x0200_0300, 1); // destination 2
                api.delay_mu(HALF_PERIOD);
                api.rtio_output(TTL15, 0);
                api.delay_mu(HALF_PERIOD);
            }
            let d = api.now_mu();
            api.dma_record_stop(d, true);
            api.at_mu(saved);
            kernels::break_realtime(api);
            let t = api.dma_retrieve(b"both");
            assert!(t.uses_ddma);
            let now = api.now_mu();
            api.dma_playback(now, t.address, t.uses_ddma);
        }),
    );
    b.master.init_link(DEST).unwrap();
    b.master.upload_subkernel(DEST, 9, &image("two_destinations", 2048)).unwrap();
    b.master.load_run(DEST, 9, true, now(&b)).unwrap();
    let mut remote = RemoteDestination { bytes: 0, played: false, removed: false };
    let finished = serve_remote(&mut b, &mut remote, |p, _| matches!(p, Packet::SubkernelFinished { id: 9, .. }));
    assert!(finished, "kernel did not finish");
    // The kernel's end removes its trace on destination 2 too.
    assert!(serve_remote(&mut b, &mut remote, |_, r| r.removed));
    assert_eq!(remote.bytes, 10 * 17);
    assert!(remote.played && remote.removed);
    let events = b.rtio.take_events();
    assert_eq!(events.len(), 20, "only our own events play here");
    assert!(events.iter().all(|e| e.source == Initiator::Dma && e.target == TTL15 as u32));
    assert!(b.sat().store().is_empty());
    let _ = Outcome::Finished;
}
