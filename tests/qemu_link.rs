//! The firmware in QEMU (both CPUs) on the aux link of docs/qemu-link.md:
//! READY, STATS, echo, the master's link bring-up (destination status and
//! routing packets), reset, the uplink going down and up, the satellite
//! log, and a clean exit with
//! nothing unexpected in qemu.log. One QEMU for the whole file.
//!
//! Needs the firmware the build script builds; with SATMAN_SKIP_FIRMWARE
//! set it prints a loud skip and passes.

use std::time::{Duration, Instant};

use satman_systest::master::DestinationStatus;
use satman_systest::qemu::bench::Spread;
use satman_systest::qemu::{KernelState, Qemu};

const DEST: u8 = 1;

#[test]
fn qemu_link() {
    let Some(mut q) = Qemu::boot_for_test("qemu_link") else { return };
    let boot = q.boot_times();
    eprintln!(
        "boot: QEMU connected after {} ms, READY after {} ms (wall), firmware main loop at {} µs, CPU1 up: {}",
        boot.connect.as_millis(),
        boot.ready.as_millis(),
        boot.boot_us,
        boot.cpu1_up
    );
    assert!(boot.cpu1_up, "READY says CPU1 is not up\n{}", q.diagnostics());
    assert!(boot.ready < Duration::from_secs(20), "READY took {:?}", boot.ready);

    // STATS.
    let s0 = q.stats().unwrap_or_else(|e| panic!("STATS: {e}\n{}", q.diagnostics()));
    assert_eq!(s0.kernel_state, KernelState::Idle);
    assert_eq!((s0.ddma_in_use, s0.ddma_traces), (0, 0));
    assert!(s0.uptime_us >= boot.boot_us, "uptime {} before boot_us {}", s0.uptime_us, boot.boot_us);
    let s1 = q.stats().unwrap();
    assert!(s1.uptime_us > s0.uptime_us, "the firmware clock runs");

    // Echo round trips.
    let mut times = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        q.master.echo().unwrap_or_else(|e| panic!("echo {i}: {e}\n{}", q.diagnostics()));
        times.push(t.elapsed());
    }
    let p = Spread::of(&times).unwrap();
    eprintln!("echo: {} round trips, mean {:.0} µs, min {:.0} µs, max {:.0} µs", p.count, p.mean_us, p.min_us, p.max_us);
    let s2 = q.stats().unwrap();
    assert!(s2.packets_in >= s1.packets_in + 200 && s2.packets_out >= s1.packets_out + 200, "{s1:?} → {s2:?}");
    assert_eq!(s2.decode_errors, 0);

    // The master's link bring-up: echo, 256 RoutingSetPath, rank, destination status.
    let t = Instant::now();
    q.master.init_link(DEST).unwrap_or_else(|e| panic!("init_link: {e}\n{}", q.diagnostics()));
    eprintln!("init_link: {} ms", t.elapsed().as_millis());
    assert_eq!(q.master.destination_status(DEST).unwrap(), DestinationStatus::Ok);
    // A destination with no route (every hop invalid).
    assert_eq!(q.master.destination_status(7).unwrap(), DestinationStatus::Down);

    // Reset.
    q.master.reset().unwrap_or_else(|e| panic!("reset: {e}\n{}", q.diagnostics()));
    q.master.echo().unwrap();
    assert_eq!(q.master.destination_status(DEST).unwrap(), DestinationStatus::Ok);

    // The uplink going down (CONTROL LINK 0): the satellite hears nothing
    // and answers nothing; back up, the master brings the link up again.
    q.set_link(false).unwrap();
    let saved = q.master.timeout;
    q.master.timeout = Duration::from_millis(300);
    assert!(q.master.echo().is_err(), "an echo answered while the link is down");
    q.set_link(true).unwrap();
    q.master.timeout = saved;
    // Give the firmware a moment to see the link up, then drop anything
    // a late echo reply left behind.
    std::thread::sleep(Duration::from_millis(100));
    q.master.poll_async(Duration::from_millis(50)).ok();
    q.master.init_link(DEST).unwrap_or_else(|e| panic!("init_link after link up: {e}\n{}", q.diagnostics()));

    // The satellite log over aux.
    let log = q.master.get_log(DEST, false).unwrap();
    let log = String::from_utf8_lossy(&log);
    assert!(log.contains("ready"), "the satellite log:\n{log}");

    // No stray RTIO events from any of it.
    assert!(q.take_events().is_empty());
    let counters = q.master.transport.counters();
    assert_eq!((counters.bad_records, counters.slip_discarded), (0, 0), "{counters:?}");

    let r = q.exit(0).unwrap();
    assert_eq!(r.code, Some(0), "QEMU exit code\n{}", q.diagnostics());
    assert!(r.unexpected_log_lines.is_empty(), "unexpected qemu.log lines: {:#?}", r.unexpected_log_lines);
}
