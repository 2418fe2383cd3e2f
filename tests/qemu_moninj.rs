//! Moninj and I2C over DRTIO against the firmware in QEMU: a kernel
//! (`ttl_pulses`) toggles TTL15 and the monitor follows it; an override
//! holds the output high whatever the kernel does, and is reported; bad
//! channels are answered without a hang; QEMU's missing I2C bus fails
//! explicitly. One QEMU for the file.
//!
//! Needs the firmware the build script builds; with SATMAN_SKIP_FIRMWARE
//! set it prints a loud skip and passes.

use std::time::{Duration, Instant};

use libdrtio::Packet;
use satman_systest::peripherals::I2cReply;
use satman_systest::qemu::bench::CounterEstimate;
use satman_systest::qemu::{kernels_dir, Qemu};

const DEST: u8 = 1;
const TTL15: u16 = 15;

/// Monitor samples of TTL15 for at most `limit`, until `enough` holds.
fn watch(q: &mut Qemu, limit: Duration, enough: impl Fn(&[u64]) -> bool) -> Vec<u64> {
    let start = Instant::now();
    let mut v = Vec::new();
    while start.elapsed() < limit && !enough(&v) {
        v.push(q.master.monitor(DEST, TTL15, 0).unwrap_or_else(|e| panic!("monitor: {e}\n{}", q.diagnostics())));
    }
    v
}

fn changes(v: &[u64]) -> usize {
    v.windows(2).filter(|w| w[0] != w[1]).count()
}

fn run_pulses(q: &mut Qemu, image: &[u8]) {
    let s = q.stats().unwrap();
    let ts = CounterEstimate::from_stats(&s).now() + 125_000;
    q.master.upload_subkernel(DEST, 1, image).unwrap();
    q.master.load_run(DEST, 1, true, ts as u64).unwrap_or_else(|e| panic!("run: {e}\n{}", q.diagnostics()));
}

#[test]
fn qemu_moninj_follows_a_kernel_and_an_override_holds_ttl15() {
    let Some(mut q) = Qemu::boot_for_test("qemu_moninj_follows_a_kernel_and_an_override_holds_ttl15") else { return };
    q.master.init_link(DEST).unwrap_or_else(|e| panic!("init_link: {e}\n{}", q.diagnostics()));
    let image = std::fs::read(kernels_dir().unwrap().join("ttl_pulses.elf")).unwrap();
    assert_eq!(q.master.monitor(DEST, TTL15, 0).unwrap(), 0);

    // The kernel toggles TTL15: the monitor sees it go up and down.
    run_pulses(&mut q, &image);
    let seen = watch(&mut q, Duration::from_secs(10), |v| changes(v) >= 4);
    assert!(changes(&seen) >= 4, "the monitor did not follow the kernel: {} samples, {} changes", seen.len(), changes(&seen));
    q.master.await_finish(1, Duration::from_secs(10)).ok();

    // Override high: the kernel toggles again, the output holds.
    q.master.inject(DEST, TTL15, 1, 1).unwrap();
    q.master.inject(DEST, TTL15, 0, 1).unwrap();
    assert_eq!(q.master.injection_status(DEST, TTL15, 0).unwrap(), 1);
    assert_eq!(q.master.injection_status(DEST, TTL15, 1).unwrap(), 1);
    q.master.clear_async();
    run_pulses(&mut q, &image);
    let held = watch(&mut q, Duration::from_millis(1500), |_| false);
    assert!(held.len() > 10 && held.iter().all(|&v| v == 1), "override did not hold: {:?}", &held[..held.len().min(40)]);
    q.master.inject(DEST, TTL15, 0, 0).unwrap();
    assert_eq!(q.master.injection_status(DEST, TTL15, 0).unwrap(), 0);
    q.master.await_finish(1, Duration::from_secs(10)).ok();

    // Bad channel and probe: answered (0), not hung.
    assert_eq!(q.master.monitor(DEST, 999, 0).unwrap(), 0);
    assert_eq!(q.master.monitor(DEST, TTL15, 9).unwrap(), 0);
    // QEMU has no I2C bus: explicit failures.
    let r = q.master.i2c(&Packet::I2cStartRequest { destination: DEST, busno: 0 }).unwrap();
    assert_eq!(r, I2cReply::Basic { succeeded: false });
    let r = q.master.i2c(&Packet::I2cReadRequest { destination: DEST, busno: 0, ack: false }).unwrap();
    assert_eq!(r, I2cReply::Read { succeeded: false, data: 0xff });
    assert_eq!(q.master.stats.timeouts, 0);
    eprintln!("moninj: {} samples while the kernel ran, {} changes; {} samples held by the override", seen.len(), changes(&seen), held.len());
}
