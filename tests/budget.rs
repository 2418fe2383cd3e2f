//! CPU0's memory budget (satman::budget): for each kind of input the wire
//! (or a kernel it uploaded) can make CPU0 hold, a flood is refused
//! explicitly once the budget is spent, CPU0's heap stays under the budget
//! (plus what the bench itself allocates), echo still answers, and after a
//! new link the user's experiment runs with the heaps back where they were.

use std::time::Duration;

use libdrtio::{Packet, PayloadStatus};
use satman::budget::Kind;
use satman::{Config, KernelState};
use satman_systest::heap::TrackingAlloc;
use satman_systest::master::{MasterError, Outcome};
use satman_systest::scenario::{self, experiment, now, preload_run_await, B, DEST, IMAGE_SIZE};
use satman_systest::sim::{image, SimBench, SimOptions};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

/// The budget the floods run against (the firmware's is 16 MiB; a small
/// one keeps the floods short).
const BUDGET: usize = 256 << 10;
/// What CPU0's account may hold beyond the budget: the master's side of the
/// bench runs on the same thread, the satellite's fixed buffers (receive
/// buffer, send queues, log) and what the budget does not count.
const SLACK: isize = 128 << 10;

struct Flood {
    b: SimBench,
    base: (isize, isize),
    /// CPU0's account before the flood (the baseline, plus what the test
    /// itself holds for the master).
    before: isize,
}

impl Flood {
    fn new() -> Flood {
        let config = Config { memory_budget: BUDGET, ..Default::default() };
        let mut b = SimBench::new(SimOptions { config, ..Default::default() });
        scenario::register_kernels(&mut b);
        b.master.init_link(DEST).unwrap();
        experiment(&mut b).unwrap();
        let base = (b.heap.bytes(), b.heap1.bytes());
        b.heap.reset_peak();
        Flood { b, base, before: base.0 }
    }

    /// Runs a kernel that never finishes (so a session exists) as B.
    fn running_kernel(&mut self) {
        let b = &mut self.b;
        b.master.upload_subkernel(DEST, B, &image("never_finishes", IMAGE_SIZE)).unwrap();
        b.master.load_run(DEST, B, true, now(b)).unwrap();
        assert!(b.pump_until(Duration::from_secs(1), |b| b.sat().kernel_state() == KernelState::Running(B)));
    }

    /// Waits until the satellite has worked through what was sent.
    fn drain(&mut self) {
        assert!(self.b.pump_until(Duration::from_secs(10), |b| b.link.pending_for_satellite() == 0));
        self.b.pump(Duration::from_millis(1));
    }

    /// The flood of `kind` was refused, CPU0 stayed under its budget, the
    /// satellite still answers, and a new link brings everything back.
    fn check(mut self, kind: Kind) {
        let b = &mut self.b;
        b.master.echo().expect("echo after the flood");
        let budget = b.sat().budget().clone();
        assert!(budget.refusals(kind) > 0, "no {kind} refusal: {budget:?}");
        assert!(budget.held() <= BUDGET, "{} bytes counted, budget {BUDGET}", budget.held());
        let peak = b.heap.peak() - self.before;
        assert!(peak <= BUDGET as isize + SLACK, "{kind}: CPU0's heap grew by {peak} bytes, budget {BUDGET} + slack {SLACK}");
        // A new link: the master starts afresh, and so does the satellite.
        b.link.set_up(false);
        b.pump(Duration::from_millis(5));
        b.link.set_up(true);
        b.master.init_link(DEST).unwrap();
        b.master.clear_async();
        b.rtio.take_events();
        experiment(b).unwrap();
        assert!(b.sat().store().is_empty());
        assert_eq!(b.sat().budget().held_by(Kind::Inbox), 0);
        assert_eq!((b.heap.bytes(), b.heap1.bytes()), self.base, "heaps (CPU0, CPU1) not back at their baselines");
        // Printed last: the test harness captures it on this thread's heap.
        eprintln!("{kind}: {} refusal(s), CPU0 heap peak {peak} bytes over the baseline (budget {BUDGET})", budget.refusals(kind));
    }
}

#[test]
fn images_of_many_ids_are_refused_over_the_budget() {
    let mut f = Flood::new();
    let chunk = [0u8; 1000];
    let mut refused = None;
    for id in 100..100 + 2 * (BUDGET / chunk.len()) as u32 {
        let p = Packet::SubkernelAddDataRequest { destination: DEST, id, status: PayloadStatus::FirstAndLast, data: &chunk };
        match f.b.master.transact(&p, "upload").unwrap().decode().unwrap() {
            Packet::SubkernelAddDataReply { succeeded: true } => {}
            Packet::SubkernelAddDataReply { succeeded: false } => {
                refused = Some(id - 100);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let n = refused.expect("an upload was refused") as usize;
    assert!(n * chunk.len() <= BUDGET && n * chunk.len() > BUDGET / 2, "{n} images accepted");
    f.check(Kind::Images);
}

#[test]
fn messages_over_the_budget_are_not_acknowledged() {
    let mut f = Flood::new();
    f.running_kernel();
    // The kernel never reads them: 64 KiB messages pile up in its inbox.
    let msg = vec![1u8; 64 << 10];
    let mut sent = 0;
    let err = loop {
        match f.b.master.send_message(DEST, B, &msg) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 64, "the inbox took {sent} messages of 64 KiB");
    };
    assert_eq!(err, MasterError::Timeout("subkernel message"), "no acknowledgement for a dropped slice");
    assert!(sent >= 1 && sent * msg.len() <= BUDGET);
    assert!(f.b.sat().stats.messages_dropped > 0);
    drop(msg);
    f.b.master.reset().unwrap();
    f.b.master.poll_async(Duration::from_millis(10)).unwrap();
    f.check(Kind::Inbox);
}

#[test]
fn a_message_for_a_full_inbox_is_not_acknowledged() {
    let config = Config { max_queued_messages: 4, ..Default::default() };
    let mut b = SimBench::new(SimOptions { config, ..Default::default() });
    scenario::register_kernels(&mut b);
    b.master.init_link(DEST).unwrap();
    b.master.upload_subkernel(DEST, B, &image("never_finishes", IMAGE_SIZE)).unwrap();
    b.master.load_run(DEST, B, true, now(&b)).unwrap();
    for i in 0..4 {
        b.master.send_message(DEST, B, &[1, i]).unwrap_or_else(|e| panic!("message {i}: {e}"));
    }
    assert_eq!(b.master.send_message(DEST, B, &[1, 4]), Err(MasterError::Timeout("subkernel message")));
    assert_eq!(b.sat().stats.messages_dropped, 1);
    b.master.reset().unwrap();
}

#[test]
fn finishes_of_remote_subkernels_are_dropped_over_the_budget() {
    let mut f = Flood::new();
    f.running_kernel();
    // `SubkernelFinished` for this satellite's kernel from "elsewhere",
    // every one a new id: nothing the kernel awaits.
    let mut id = 1000u32;
    while f.b.sat().budget().refusals(Kind::RemoteLists) == 0 {
        for _ in 0..256 {
            let p = Packet::SubkernelFinished { destination: DEST, id, with_exception: false, exception_src: 9 };
            f.b.master.send(&p).unwrap();
            id += 1;
        }
        f.drain();
        assert!(id < 1000 + BUDGET as u32, "{} finishes kept", id - 1000);
    }
    f.b.master.reset().unwrap();
    f.b.master.poll_async(Duration::from_millis(10)).unwrap();
    f.check(Kind::RemoteLists);
}

#[test]
fn dma_trace_index_entries_are_refused_over_the_budget() {
    let mut f = Flood::new();
    let mut refused = false;
    for id in 0..BUDGET as u32 {
        let p = Packet::DmaAddTraceRequest { source: 0, destination: DEST, id, status: PayloadStatus::FirstAndLast, data: &[] };
        match f.b.master.transact(&p, "trace").unwrap().decode().unwrap() {
            Packet::DmaAddTraceReply { succeeded: true, .. } => {}
            Packet::DmaAddTraceReply { succeeded: false, .. } => {
                refused = true;
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(refused);
    // Refused by CPU0's budget, long before the DDMA arena is full.
    assert!(f.b.sat().store().arena_stats().in_use < f.b.sat().store().arena_stats().capacity / 2);
    f.check(Kind::TraceIndex);
}

#[test]
fn a_config_write_over_the_budget_is_refused() {
    let mut f = Flood::new();
    // The master's side of a config write of twice the budget, built
    // before the measurement starts (the master runs on this thread).
    let value = vec![b'v'; 2 * BUDGET];
    let mut payload = Vec::new();
    payload.extend_from_slice(&3u32.to_le_bytes());
    payload.extend_from_slice(b"big");
    payload.extend_from_slice(&(value.len() as u32).to_le_bytes());
    payload.extend_from_slice(&value);
    drop(value);
    f.b.heap.reset_peak();
    f.before = f.b.heap.bytes();
    let chunks: Vec<&[u8]> = payload.chunks(libdrtio::MASTER_PAYLOAD_MAX_SIZE).collect();
    let mut refused_at = None;
    for (i, c) in chunks.iter().enumerate() {
        let p = Packet::CoreMgmtConfigWriteRequest { destination: DEST, last: i == chunks.len() - 1, data: c };
        match f.b.master.transact(&p, "config write").unwrap().decode().unwrap() {
            Packet::CoreMgmtReply { succeeded: true } => {}
            Packet::CoreMgmtReply { succeeded: false } => {
                refused_at = Some(i * libdrtio::MASTER_PAYLOAD_MAX_SIZE);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let at = refused_at.expect("the write was refused");
    assert!(at <= BUDGET, "refused after {at} bytes");
    assert_eq!(f.b.sat().budget().held_by(Kind::Mgmt), 0, "the refused payload was dropped");
    // Small writes still work.
    f.b.master.config_write(DEST, "small", b"1").unwrap();
    drop(chunks);
    drop(payload);
    f.check(Kind::Mgmt);
}

#[test]
fn an_exception_over_the_budget_is_replaced_by_a_short_one() {
    let mut f = Flood::new();
    f.b.master.upload_subkernel(DEST, B, &image("huge_exception", IMAGE_SIZE)).unwrap();
    let Outcome::Exception(e) = preload_run_await(&mut f.b, B).unwrap() else { panic!("expected an exception") };
    assert!(e.message.as_deref().unwrap().contains("too large for CPU0's memory budget"), "{:?}", e.message);
    drop(e);
    f.check(Kind::Exceptions);
}

#[test]
fn a_kernel_message_over_the_budget_raises_in_the_kernel() {
    let mut f = Flood::new();
    f.b.master.upload_subkernel(DEST, B, &image("huge_message", IMAGE_SIZE)).unwrap();
    let Outcome::Exception(e) = preload_run_await(&mut f.b, B).unwrap() else { panic!("expected an exception") };
    assert!(e.message.as_deref().unwrap().contains("out of memory"), "{:?}", e.message);
    drop(e);
    f.check(Kind::Staging);
}

#[test]
fn a_kernel_filling_the_cache_is_refused_over_the_budget() {
    let mut f = Flood::new();
    f.b.master.upload_subkernel(DEST, B, &image("cache_flood", IMAGE_SIZE)).unwrap();
    let Outcome::Exception(e) = preload_run_await(&mut f.b, B).unwrap() else { panic!("expected an exception") };
    assert!(e.message.as_deref().unwrap().contains("cache_put: out of memory"), "{:?}", e.message);
    drop(e);
    f.check(Kind::Staging);
}
