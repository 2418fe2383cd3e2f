//! A soft reset of the firmware booted straight with `-kernel` (no loader):
//! `CoreMgmtReboot` resets the system through the SLCR; QEMU restarts both
//! CPUs at the ELF entry while 0xFFFF_FFF0 still holds the previous run's
//! CPU1 entry. CPU1's park must wait for CPU0's release (the gate word in
//! `.data`, boot.rs) instead of jumping there at once; the kernels of the
//! user's experiment then run on CPU1 after the reboot as before it, and
//! the boot banner gives the clocks.
//!
//! Needs the firmware the build script builds; with SATMAN_SKIP_FIRMWARE
//! set it prints a loud skip and passes.

use std::time::Duration;

use satman_systest::qemu::cases::Ctx;
use satman_systest::qemu::experiment::DEST;

#[test]
fn qemu_reboot_keeps_cpu1_parked_until_released() {
    let Some(mut c) = Ctx::boot("qemu_reboot", Duration::from_secs(5)) else { return };
    c.experiment().unwrap_or_else(|e| panic!("experiment before the reboot: {e}\n{}", c.q.diagnostics()));
    for round in 0..2 {
        let readies = c.q.master.transport.ready_count();
        c.q.master.reboot(DEST).unwrap();
        c.q.wait_reboot(readies, Duration::from_secs(30)).unwrap_or_else(|e| panic!("reboot {round}: {e}\n{}", c.q.diagnostics()));
        c.q.master.init_link(DEST).unwrap();
        // The satellite's counter restarted with it.
        c.counter = None;
        c.stats().unwrap();
        c.experiment().unwrap_or_else(|e| panic!("experiment after reboot {round}: {e}\n{}", c.q.diagnostics()));
        let log = c.log().unwrap();
        if let Some(l) = log.lines().find(|l| l.contains("cpu1: did not start") || l.contains("PANIC")) {
            panic!("after reboot {round}: {l}");
        }
        assert!(log.contains("clocks: global timer 100000000 Hz"), "no clock line in the boot log:\n{log}");
    }
    c.exit();
}

/// CPU0 recovers from its own panic (issue 9 item 4): the hidden test-only
/// control op `PANIC` (docs/qemu-link.md) panics CPU0; the firmware keeps
/// its log's tail in the crash region, resets through the SLCR, and after
/// the reboot serves the crashed run's lines (the panic message among them)
/// through `CoreMgmtGetLog`; the satellite runs the experiment again.
#[test]
fn qemu_cpu0_panic_reboots_and_serves_its_crash_log() {
    use satman_systest::qemu::proto::{CH_CONTROL, OP_PANIC};
    let Some(mut c) = Ctx::boot("qemu_cpu0_panic", Duration::from_secs(5)) else { return };
    c.experiment().unwrap_or_else(|e| panic!("experiment before the panic: {e}\n{}", c.q.diagnostics()));
    // The panic message, then "resetting the system (crash 1)".
    c.q.expect_panic_lines(2);
    let readies = c.q.master.transport.ready_count();
    c.q.master.transport.send_raw_record(&[CH_CONTROL, OP_PANIC]).unwrap();
    c.q.wait_reboot(readies, Duration::from_secs(30)).unwrap_or_else(|e| panic!("no reboot after the panic: {e}\n{}", c.q.diagnostics()));
    c.q.master.init_link(DEST).unwrap();
    // The satellite's counter restarted with it.
    c.counter = None;
    c.stats().unwrap();
    let log = c.log().unwrap();
    for want in [
        "previous run crashed (crash 1 in a row)",
        "----- previous run -----",
        "C0 PANIC satman: panic requested by the host (test trigger)",
        // A line from before the panic: the crashed run's history is kept.
        "subkernel 2: finished",
    ] {
        assert!(log.contains(want), "{want:?} missing from the log after the reboot:\n{log}");
    }
    c.experiment().unwrap_or_else(|e| panic!("experiment after the reboot: {e}\n{}", c.q.diagnostics()));
    // Served once: the record is gone after the next reboot.
    let readies = c.q.master.transport.ready_count();
    c.q.master.reboot(DEST).unwrap();
    c.q.wait_reboot(readies, Duration::from_secs(30)).unwrap();
    c.q.master.init_link(DEST).unwrap();
    let log = c.log().unwrap();
    assert!(!log.contains("previous run crashed"), "the crash record outlived its reboot:\n{log}");
    c.exit();
}
