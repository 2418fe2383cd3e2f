//! The platform self-test in QEMU (`--features qemu,selftest`): both CPUs
//! up, MMU/caches/VFP, heaps and their counters, 1000 mailbox round trips,
//! CPU1 stopped and restarted (and reported dead when it masks IRQs), data
//! aborts reported; the firmware exits with 0 only if every check passed,
//! and QEMU's guest-error log must show no invalid access.

use std::process::Command;

#[test]
fn platform_selftest_passes_in_qemu() {
    if satman_systest::qemu::skip_test("platform_selftest_passes_in_qemu") {
        return;
    }
    let elf = env!("SATMAN_SELFTEST_ELF");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/qemu-run");
    let out = Command::new("bash").args([script, "--elf", elf, "--timeout", "120"]).output().expect("run scripts/qemu-run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "self-test failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(stdout.contains("passed, 0 failed") || stderr.contains("passed, 0 failed"), "no self-test summary:\n{stdout}\n{stderr}");
}

/// The Kasli-SoC firmware builds (build.rs) into an ARM executable that
/// starts at the FSBL's load address.
#[test]
fn kasli_soc_firmware_is_built() {
    if satman_systest::qemu::skip_test("kasli_soc_firmware_is_built") {
        return;
    }
    let elf = std::fs::read(env!("SATMAN_KASLI_SOC_ELF")).expect("the Kasli-SoC firmware ELF");
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), 40, "EM_ARM");
    assert_eq!(u32::from_le_bytes([elf[24], elf[25], elf[26], elf[27]]) & !0xfff, 0x0010_0000, "entry near 0x0010_0000");
}
