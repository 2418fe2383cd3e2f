//! Every way a kernel or a transfer can go wrong ends with an explicit error
//! to the master (never a silent timeout), leaks nothing, and leaves the
//! satellite able to run the user's experiment again.

use std::sync::atomic::Ordering;
use std::time::Duration;

use libdrtio::{Frame, Packet, PayloadStatus};
use libksupport::exception::id;
use satman::KernelState;
use satman_systest::heap::TrackingAlloc;
use satman_systest::master::{MasterError, Outcome};
use satman_systest::scenario::{self, experiment, now, preload_run_await, A, AWAIT, B, DEST, IMAGE_SIZE};
use satman_systest::sim::{image, SimBench, SimOptions};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

/// A bench that has run the experiment once; returns it and the heap
/// baseline.
fn bench(options: SimOptions) -> (SimBench, (isize, isize)) {
    let mut b = SimBench::new(options);
    scenario::register_kernels(&mut b);
    b.master.init_link(DEST).unwrap();
    experiment(&mut b).unwrap();
    let base = (b.heap.bytes(), b.heap1.bytes());
    (b, base)
}

/// The experiment runs again and the satellite is back where it was.
fn recovers(b: &mut SimBench, base: (isize, isize)) {
    for _ in 0..2 {
        experiment(b).unwrap();
    }
    assert!(b.sat().store().is_empty());
    assert_eq!(b.sat().kernel_state(), KernelState::Idle);
    assert_eq!((b.heap.bytes(), b.heap1.bytes()), base, "heaps (CPU0, CPU1) not back at their baselines");
    assert_eq!(b.rtio.misrouted.load(Ordering::Relaxed), 0);
    assert_eq!(b.rtio.misaligned.load(Ordering::Relaxed), 0);
}

fn exception(outcome: Outcome) -> libksupport::exception::ParsedException {
    match outcome {
        Outcome::Exception(e) => e,
        Outcome::Finished => panic!("expected an exception"),
    }
}

#[test]
fn link_drop_in_the_middle_of_an_upload() {
    let (mut b, base) = bench(SimOptions::default());
    {
        let img = image("ddma", IMAGE_SIZE);
        let first = Packet::SubkernelAddDataRequest { destination: DEST, id: B, status: PayloadStatus::First, data: &img[..1010] };
        b.master.transact(&first, "chunk").unwrap();
        b.link.set_up(false);
        b.pump(Duration::from_millis(5));
        b.link.set_up(true);
        b.pump(Duration::from_millis(5));
        // The master goes on with the next chunk: the satellite lost the
        // upload with the link and says so.
        let middle = Packet::SubkernelAddDataRequest { destination: DEST, id: B, status: PayloadStatus::Middle, data: &img[1010..2020] };
        let reply = b.master.transact(&middle, "chunk").unwrap();
        assert_eq!(reply.decode().unwrap(), Packet::SubkernelAddDataReply { succeeded: false });
        // And a run of the lost image is refused, not attempted.
        assert_eq!(b.master.load_run(DEST, B, true, 0), Err(MasterError::Refused("subkernel run")));
        b.master.init_link(DEST).unwrap();
    }
    recovers(&mut b, base);
}

#[test]
fn link_drop_while_a_kernel_runs() {
    let (mut b, base) = bench(SimOptions::default());
    {
        b.master.upload_subkernel(DEST, B, &image("never_finishes", IMAGE_SIZE)).unwrap();
        b.master.load_run(DEST, B, true, now(&b)).unwrap();
        b.pump(Duration::from_millis(5));
        assert_eq!(b.sat().kernel_state(), KernelState::Running(B));
        b.link.set_up(false);
        assert!(b.pump_until(Duration::from_secs(1), |b| b.sat().kernel_state() == KernelState::Idle));
        b.link.set_up(true);
        b.master.init_link(DEST).unwrap();
        b.master.clear_async();
    }
    recovers(&mut b, base);
}

#[test]
fn reset_while_a_kernel_runs() {
    let (mut b, base) = bench(SimOptions::default());
    {
        b.master.upload_subkernel(DEST, B, &image("never_finishes", IMAGE_SIZE)).unwrap();
        b.master.load_run(DEST, B, true, now(&b)).unwrap();
        b.pump(Duration::from_millis(5));
        b.master.reset().unwrap();
        let e = exception(b.master.await_finish(B, AWAIT).unwrap());
        assert_eq!(e.id, id::SUBKERNEL_ERROR);
        assert!(e.message.unwrap().contains("reset"));
        assert_eq!(b.sat().kernel_state(), KernelState::Idle);
    }
    recovers(&mut b, base);
}

#[test]
fn exception_while_recording_dma() {
    let (mut b, base) = bench(SimOptions::default());
    {
        b.master.upload_subkernel(DEST, B, &image("raise_while_recording", IMAGE_SIZE)).unwrap();
        let e = exception(preload_run_await(&mut b, B).unwrap());
        assert_eq!(e.id, id::VALUE_ERROR);
        assert_eq!(e.message.as_deref(), Some("raised while recording: {0}"));
        assert_eq!((e.file.as_str(), e.line, e.param[0]), ("ddma_satellite_demo.py", 42, 7));
        // The half-made recording is gone with the kernel.
        assert!(b.sat().store().is_empty());
        assert_eq!(b.sat().store().arena_stats().in_use, 0);
        assert_eq!(b.rtio.take_events().len(), 0, "recorded events must not be output");
    }
    recovers(&mut b, base);
}

#[test]
fn upload_over_a_running_kernel() {
    let (mut b, base) = bench(SimOptions::default());
    {
        b.master.upload_subkernel(DEST, B, &image("never_finishes", IMAGE_SIZE)).unwrap();
        b.master.load_run(DEST, B, true, now(&b)).unwrap();
        b.pump(Duration::from_millis(5));
        assert_eq!(b.sat().kernel_state(), KernelState::Running(B));
        // A new upload of the same id stops the old kernel through the
        // teardown. Its SubkernelFinished arrives while the master's state
        // of B is the new upload's: the ARTIQ master ignores it (a late
        // finish), so it cannot be taken for the next run's end.
        let late = b.master.stats.late_finishes;
        b.master.upload_subkernel(DEST, B, &image("ddma", IMAGE_SIZE)).unwrap();
        assert_eq!(b.sat().kernel_state(), KernelState::Idle);
        b.master.poll_async(Duration::from_millis(20)).unwrap();
        assert_eq!(b.master.stats.late_finishes, late + 1);
        assert_eq!(b.master.await_finish(B, AWAIT), Err(MasterError::IncorrectState("subkernel await")));
        // The new image runs, and its own end is what the master sees.
        assert_eq!(preload_run_await(&mut b, B).unwrap(), Outcome::Finished);
        b.rtio.take_events();
        b.master.clear_async();
    }
    recovers(&mut b, base);
}

#[test]
fn trace_over_the_byte_budget() {
    let (mut b, base) = bench(SimOptions { ddma_budget: 256 * 1024, ..Default::default() });
    {
        // From the master: 400 KB refused explicitly.
        let mut trace = Vec::new();
        let mut rec = [0u8; 17];
        for i in 0..24_000i64 {
            let n = libdma::record::encode(&mut rec, 0x0100_0F00, i * 1000, &[1]).unwrap();
            trace.extend_from_slice(&rec[..n]);
        }
        assert_eq!(b.master.dma_add_trace(DEST, 77, &trace), Err(MasterError::Refused("DMA trace upload")));
        assert!(b.sat().store().is_empty());
        // The rest of that upload is refused too, chunk by chunk, not stored.
        let p = Packet::DmaAddTraceRequest { source: 0, destination: DEST, id: 77, status: PayloadStatus::Last, data: &trace[..100] };
        let reply = b.master.transact(&p, "chunk").unwrap();
        assert!(matches!(reply.decode().unwrap(), Packet::DmaAddTraceReply { succeeded: false, .. }));
        assert_eq!(b.sat().store().arena_stats().in_use, 0);
    }
    recovers(&mut b, base);
}

#[test]
fn kernel_recording_over_the_byte_budget() {
    let (mut b, base) = bench(SimOptions { ddma_budget: 64 * 1024, ..Default::default() });
    {
        b.master.upload_subkernel(DEST, B, &image("huge_recording", IMAGE_SIZE)).unwrap();
        let e = exception(preload_run_await(&mut b, B).unwrap());
        assert_eq!(e.id, id::DMA_ERROR);
        assert!(e.message.unwrap().contains("budget"));
        assert!(b.sat().store().is_empty());
    }
    recovers(&mut b, base);
}

#[test]
fn kernel_that_never_finishes_is_replaced_by_the_next_run() {
    let (mut b, base) = bench(SimOptions::default());
    {
        b.master.upload_subkernel(DEST, B, &image("never_finishes", IMAGE_SIZE)).unwrap();
        b.master.load_run(DEST, B, true, now(&b)).unwrap();
        // The master's await times out: that is the master's own error.
        assert_eq!(b.master.await_finish(B, Duration::from_millis(300)), Err(MasterError::Timeout("subkernel await")));
        assert_eq!(b.sat().kernel_state(), KernelState::Running(B));
        // The next submission uploads and preloads A: the stuck kernel is
        // stopped through the teardown and reported, and A runs normally.
        b.master.upload_subkernel(DEST, A, &image("standard", IMAGE_SIZE)).unwrap();
        b.master.load_run(DEST, A, false, 0).unwrap();
        let stuck = b.master.finished().iter().find(|f| f.id == B).copied().expect("SubkernelFinished for the stuck kernel");
        assert!(stuck.with_exception);
        b.master.clear_async();
    }
    recovers(&mut b, base);
}

#[test]
fn garbage_and_truncated_packets_between_valid_ones() {
    let (mut b, base) = bench(SimOptions::default());
    {
        let echo = Frame::encode(&Packet::EchoRequest).unwrap();
        let mut load = Frame::encode(&Packet::SubkernelLoadRunRequest { source: 0, destination: DEST, id: A, run: false, timestamp: 0 })
            .unwrap()
            .as_bytes()
            .to_vec();
        let mut garbage: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xFF; 8],                         // unknown id
            vec![0x00, 0, 0, 0, 0, 0, 0, 0],       // bad CRC
            load[..load.len() - 3].to_vec(),       // truncated
            vec![0xB0; 1024],                      // DmaAddTraceRequest with a huge length
            vec![0x42; 2000],                      // oversized frame
        ];
        load[1] ^= 0x40; // corrupted in flight
        garbage.push(load);
        // PayloadStatus 7 with a valid CRC.
        let mut bad_status = Frame::encode(&Packet::SubkernelAddDataRequest { destination: DEST, id: A, status: PayloadStatus::First, data: b"x" })
            .unwrap()
            .as_bytes()
            .to_vec();
        bad_status[6] = 7;
        let n = bad_status.len();
        let crc = libdrtio::checksum(&bad_status[..n - 4]);
        bad_status[n - 4..].copy_from_slice(&crc.to_le_bytes());
        garbage.push(bad_status);
        // Random bytes.
        let mut x = 0x1234_5678u32;
        for len in [1usize, 7, 9, 64, 1023, 1024] {
            garbage.push((0..len).map(|_| { x ^= x << 13; x ^= x >> 17; x ^= x << 5; x as u8 }).collect());
        }
        for slots in [false, true] {
            b.link.set_gateware_slots(slots);
            for g in &garbage {
                b.master.send_raw(g).unwrap();
                b.master.send_raw(echo.as_bytes()).unwrap();
                // The valid packet after the garbage is answered.
                b.master.poll_async(Duration::ZERO).ok();
                let reply = b.master.transact(&Packet::EchoRequest, "echo").unwrap();
                assert_eq!(reply.decode().unwrap(), Packet::EchoReply);
                b.master.poll_async(Duration::from_millis(1)).ok();
            }
            b.pump(Duration::from_millis(5));
            b.master.poll_async(Duration::from_millis(5)).ok();
        }
        b.link.set_gateware_slots(false);
        let stats = b.sat().stats;
        assert!(stats.decode_errors + stats.link_errors >= garbage.len() as u64, "{stats:?}");
    }
    recovers(&mut b, base);
}

#[test]
fn unknown_kernel_image_fails_to_load_explicitly() {
    let (mut b, base) = bench(SimOptions::default());
    {
        b.master.upload_subkernel(DEST, B, &image("no_such_kernel", IMAGE_SIZE)).unwrap();
        assert_eq!(b.master.load_run(DEST, B, false, 0), Err(MasterError::Refused("subkernel preload")));
        assert_eq!(b.master.load_run(DEST, B, true, 0), Err(MasterError::Refused("subkernel run")));
        assert_eq!(b.sat().kernel_state(), KernelState::Idle);
    }
    recovers(&mut b, base);
}

#[test]
fn arguments_and_return_value() {
    let (mut b, base) = bench(SimOptions::default());
    {
        b.master.upload_subkernel(DEST, B, &image("add_args", IMAGE_SIZE)).unwrap();
        b.master.load_run(DEST, B, true, now(&b)).unwrap();
        let args = satman_systest::master::encode_values(&[
            satman_systest::master::Value::I32(40),
            satman_systest::master::Value::I32(2),
        ]);
        b.master.send_message(DEST, B, &args).unwrap();
        let ret = b.master.await_message(B, AWAIT).unwrap();
        assert_eq!(ret, [1, 42, 0, 0, 0]);
        assert_eq!(b.master.await_finish(B, AWAIT).unwrap(), Outcome::Finished);
        b.master.clear_async();
    }
    recovers(&mut b, base);
}

#[test]
fn preload_is_idempotent() {
    let (mut b, base) = bench(SimOptions::default());
    {
        b.master.upload_subkernel(DEST, A, &image("standard", IMAGE_SIZE)).unwrap();
        let runs_before = b.cpu.restarts.load(Ordering::Relaxed);
        b.master.load_run(DEST, A, false, 0).unwrap();
        let after_load = b.cpu.restarts.load(Ordering::Relaxed);
        b.master.load_run(DEST, A, false, 0).unwrap();
        b.master.load_run(DEST, A, true, now(&b)).unwrap();
        // One restart of the kernel CPU for the load, none for the repeated
        // preload or the run.
        assert_eq!(after_load, runs_before + 1);
        assert_eq!(b.cpu.restarts.load(Ordering::Relaxed), after_load);
        assert_eq!(b.master.await_finish(A, AWAIT).unwrap(), Outcome::Finished);
        b.rtio.take_events();
        b.master.clear_async();
    }
    recovers(&mut b, base);
}

#[test]
fn exception_of_a_replaced_kernel_can_still_be_fetched() {
    let (mut b, base) = bench(SimOptions::default());
    {
        b.master.upload_subkernel(DEST, B, &image("never_finishes", IMAGE_SIZE)).unwrap();
        b.master.load_run(DEST, B, true, now(&b)).unwrap();
        b.pump(Duration::from_millis(5));
        // The next submission runs A to completion before anyone awaits B.
        b.master.upload_subkernel(DEST, A, &image("standard", IMAGE_SIZE)).unwrap();
        assert_eq!(preload_run_await(&mut b, A).unwrap(), Outcome::Finished);
        b.rtio.take_events();
        // B's end (stopped by the reset that opened A's run) is still
        // explained to the master.
        let e = exception(b.master.await_finish(B, AWAIT).unwrap());
        assert!(e.message.unwrap().contains("stopped by a reset"));
        b.master.clear_async();
    }
    recovers(&mut b, base);
}

/// A kernel CPU fault (issue 9 item 1) on the host simulation: the master
/// gets `SubkernelFinished` with exactly the exception the firmware sends
/// (`CpuFault::message`, RuntimeError, params PC/address/status), and the
/// satellite runs the experiment again.
#[test]
fn kernel_cpu_fault_ends_the_kernel_with_the_firmware_s_exception() {
    use satman::fault::{CpuFault, Vector};
    let mut fault = CpuFault::classify(Vector::DataAbort, 0x0a00_0124, 0x0400_0010, 0x80D, 0..0);
    fault.image_base = 0x0a00_0000;
    fault.image_size = 0x1000;
    let mut b = SimBench::new(SimOptions::default());
    scenario::register_kernels(&mut b);
    b.register(
        "wild_write",
        std::sync::Arc::new(move |k: &mut dyn libksupport::runtime::KernelApi| {
            k.delay_mu(1000);
            satman_systest::sim::cpu::crash(fault)
        }),
    );
    b.master.init_link(DEST).unwrap();
    experiment(&mut b).unwrap();
    let base = (b.heap.bytes(), b.heap1.bytes());
    for _ in 0..2 {
        b.master.upload_subkernel(DEST, B, &image("wild_write", IMAGE_SIZE)).unwrap();
        let e = exception(preload_run_await(&mut b, B).unwrap());
        assert_eq!(e.id, id::RUNTIME_ERROR);
        assert_eq!(
            e.message.as_deref(),
            Some(
                "kernel CPU fault: data abort at PC 0x0a000124 (kernel image + 0x124), write of address 0x04000010: \
                 permission (not accessible to kernels)"
            )
        );
        assert_eq!(e.param, [0x0a00_0124, 0x0400_0010, 0x80D]);
        assert_eq!(b.sat().kernel_state(), KernelState::Idle);
    }
    recovers(&mut b, base);
}

/// A kernel that runs past `Config::kernel_run_limit_us` is stopped as a
/// runaway, reported, and the next run works.
#[test]
fn runaway_kernel_is_stopped_at_its_run_limit() {
    let mut options = SimOptions::default();
    options.config.kernel_run_limit_us = Some(200_000);
    let (mut b, base) = bench(options);
    {
        b.master.upload_subkernel(DEST, B, &image("never_finishes", IMAGE_SIZE)).unwrap();
        let e = exception(preload_run_await(&mut b, B).unwrap());
        assert_eq!(e.id, id::RUNTIME_ERROR);
        assert_eq!(e.message.as_deref(), Some("kernel CPU fault: runaway kernel stopped after its run limit of 200 ms"));
    }
    recovers(&mut b, base);
}

#[test]
fn a_new_run_replaces_a_kernel_whose_own_playback_runs() {
    let (mut b, base) = bench(SimOptions::default());
    {
        // B records and plays; the engine holds its playback.
        b.rtio.dma_stall.store(true, Ordering::Relaxed);
        b.master.reset().unwrap();
        b.master.load_run(DEST, B, true, now(&b)).unwrap();
        assert!(b.pump_until(Duration::from_secs(2), |b| b.sat().store().playing().is_some()));
        assert_eq!(b.sat().kernel_state(), KernelState::Running(B));
        // A run of A is not refused for B's playback: B ends through the
        // teardown (its playback abandoned) and A runs.
        let t = now(&b);
        b.master.load_run(DEST, A, true, t).unwrap();
        b.rtio.dma_stall.store(false, Ordering::Relaxed);
        let e = exception(b.master.await_finish(B, AWAIT).unwrap());
        assert!(e.message.unwrap().contains("replaced"));
        assert_eq!(b.master.await_finish(A, AWAIT).unwrap(), Outcome::Finished);
        // B's trace was never played out; A's pulses were.
        let events = b.rtio.take_events();
        satman_systest::kernels::check_pulses(&events, satman::hal::Initiator::Kernel).unwrap();
        assert!(b.sat().store().is_empty());
        b.master.clear_async();
    }
    recovers(&mut b, base);
}

#[test]
fn analyzer_requests_are_refused_not_answered_with_made_up_data() {
    let (mut b, base) = bench(SimOptions::default());
    {
        for p in [
            Packet::AnalyzerHeaderRequest { destination: DEST },
            Packet::AnalyzerDataRequest { destination: DEST },
        ] {
            let reply = b.master.transact(&p, "analyzer").unwrap();
            assert_eq!(reply.decode().unwrap(), Packet::CoreMgmtReply { succeeded: false }, "{p:?}");
        }
        b.master.echo().unwrap();
    }
    recovers(&mut b, base);
}
