//! Core management over DRTIO on the host simulation, with the satellite's
//! configuration and boot image on a simulated SD card (the real FAT store,
//! over a memory block device): the log, configuration that survives a
//! reboot, reboot, and flashing a boot image (streamed to the card, CRC and
//! structure checked before it replaces BOOT.BIN). Without a card the
//! satellite serves with defaults and refuses every write.

use libbootimage::testgen::{dummy_bitstream, firmware_elf, loader_elf};
use libbootimage::writer::{build, Input};
use libdrtio::Packet;
use satman::budget::Kind;
use satman::Config;
use satman_systest::heap::TrackingAlloc;
use satman_systest::master::MasterError;
use satman_systest::scenario::DEST;
use satman_systest::sim::{SimBench, SimOptions};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

fn bench() -> SimBench {
    bench_with(SimOptions::default())
}

fn bench_with(o: SimOptions) -> SimBench {
    let mut b = SimBench::new(o);
    b.master.init_link(DEST).unwrap();
    b
}

/// A boot image: loader + bitstream of `words` words + firmware tagged `tag`.
fn boot_image(tag: u8, words: usize) -> Vec<u8> {
    let (l, bit, fw) = (loader_elf(), dummy_bitstream(words), firmware_elf(tag));
    build(Input::new("loader.elf", &l), Some(Input::new("top.bit", &bit)), Input::new("fw.elf", &fw)).unwrap()
}

/// The card's /BOOT.BIN, cut to `len` (a committed image may be padded).
/// Pumps the satellite until the reboot due after a reply has happened (or
/// a generous deadline passes: the count is asserted by the caller).
fn wait_reboots(b: &mut SimBench) {
    let before = b.sat().hw.system.reboots;
    b.pump_until(std::time::Duration::from_secs(2), |b| b.sat().hw.system.reboots > before);
}

fn card_boot(b: &mut SimBench, len: usize) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    b.sat().hw.config.card()?.read_file("BOOT.BIN", &mut v).ok()?;
    v.truncate(len);
    Some(v)
}

#[test]
fn log_is_served_in_slices_and_cleared() {
    let mut b = bench();
    for i in 0..300 {
        log::info!("filler line {i} to make the log longer than one aux packet");
    }
    let log = String::from_utf8(b.master.get_log(DEST, false).unwrap()).unwrap();
    assert!(log.len() > 1016, "log of {} bytes", log.len());
    assert!(log.contains("filler line 299"));
    b.master.mgmt(&Packet::CoreMgmtClearLogRequest { destination: DEST }, "clear log").unwrap();
    // Clearing leaves at most what was logged since.
    let after = b.master.get_log(DEST, true).unwrap();
    assert!(!String::from_utf8_lossy(&after).contains("filler line 299"));
}

#[test]
fn config_write_read_remove_erase() {
    let mut b = bench();
    b.master.config_write(DEST, "my_key", b"my value").unwrap();
    assert_eq!(b.master.config_read(DEST, "my_key").unwrap(), b"my value");
    // Values longer than one packet (a /CONFIG/<key>.BIN file) come back in slices.
    let long: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    b.master.config_write(DEST, "long", &long).unwrap();
    assert_eq!(b.master.config_read(DEST, "long").unwrap(), long);
    b.master.config_remove(DEST, "my_key").unwrap();
    assert_eq!(b.master.config_read(DEST, "my_key"), Err(MasterError::Refused("config read")));
    // Removing a missing key is not an error; erasing removes every key.
    b.master.config_remove(DEST, "nothing").unwrap();
    b.master.config_erase(DEST).unwrap();
    assert_eq!(b.master.config_read(DEST, "long"), Err(MasterError::Refused("config read")));
    // Keys that cannot be a line or a file name are refused.
    assert!(b.master.config_write(DEST, "a=b", b"x").is_err());
    // Log levels are checked and applied.
    b.master.config_write(DEST, "log_level", b"DEBUG").unwrap();
    assert_eq!(log::max_level(), log::LevelFilter::Debug);
    assert_eq!(b.master.config_write(DEST, "log_level", b"loud"), Err(MasterError::Refused("config write")));
    b.master.config_write(DEST, "log_level", b"info").unwrap();
}

#[test]
fn config_survives_a_reboot_and_is_applied_at_boot() {
    let mut b = bench();
    b.master.config_write(DEST, "uart_log_level", b"warn").unwrap();
    b.master.config_write(DEST, "device_map", &[0u8, 1, 2, 255]).unwrap();
    let card = b.card().unwrap();
    drop(b);
    // The same card in a new satellite: the keys are there and applied.
    let mut b = SimBench::with_card(SimOptions::default(), card);
    b.sat().apply_log_config();
    assert_eq!(b.sat().hw.system.uart_level, Some(log::LevelFilter::Warn));
    b.master.init_link(DEST).unwrap();
    assert_eq!(b.master.config_read(DEST, "device_map").unwrap(), [0u8, 1, 2, 255]);
    assert_eq!(b.master.config_read(DEST, "uart_log_level").unwrap(), b"warn");
}

#[test]
fn without_a_card_the_satellite_serves_and_refuses_every_write() {
    let mut b = bench_with(SimOptions { no_card: true, ..SimOptions::default() });
    assert_eq!(b.master.config_read(DEST, "log_level"), Err(MasterError::Refused("config read")));
    assert_eq!(b.master.config_write(DEST, "k", b"v"), Err(MasterError::Refused("config write")));
    assert!(b.master.config_remove(DEST, "k").is_err());
    assert!(b.master.config_erase(DEST).is_err());
    let image = boot_image(1, 64);
    assert!(b.master.flash(DEST, &image, |_, _| {}).is_err(), "a flash without a card must be refused");
    assert_eq!(b.sat().hw.system.reboots, 0);
    b.master.echo().unwrap();
    let log = String::from_utf8(b.master.get_log(DEST, false).unwrap()).unwrap();
    assert!(log.contains("no SD card"), "the cause is logged:\n{log}");
}

#[test]
fn flashing_checks_crc_and_structure_before_replacing_boot_bin() {
    let mut b = bench();
    let a = boot_image(0xA, 256);
    let bb = boot_image(0xB, 300);
    b.master.flash(DEST, &a, |_, _| {}).unwrap();
    wait_reboots(&mut b);
    assert_eq!(card_boot(&mut b, a.len()).as_deref(), Some(&a[..]));
    assert_eq!(b.sat().hw.system.reboots, 1);

    // A corrupted image (bad CRC) is refused on its last slice.
    let mut payload = bb.clone();
    payload.extend_from_slice(&libdrtio::checksum(&bb).to_le_bytes());
    payload[100] ^= 1;
    assert_eq!(b.master.flash_raw(DEST, &payload, &mut |_, _| {}), Err(MasterError::Refused("flash")));
    // A truncated image (good CRC of fewer bytes) is not a boot image.
    b.master.flash(DEST, &bb[..bb.len() / 2], |_, _| {}).unwrap();
    b.pump(std::time::Duration::from_millis(100));
    // Random bytes with a good CRC are not a boot image either.
    let junk: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    b.master.flash(DEST, &junk, |_, _| {}).unwrap();
    b.pump(std::time::Duration::from_millis(100));
    assert_eq!(card_boot(&mut b, a.len()).as_deref(), Some(&a[..]), "A is still the boot image");
    assert_eq!(b.sat().hw.system.reboots, 1, "and the satellite did not reboot");
    let log = String::from_utf8(b.master.get_log(DEST, false).unwrap()).unwrap();
    assert!(log.contains("CRC"), "{log}");
    assert!(log.contains("not a valid boot image"), "{log}");

    b.master.flash(DEST, &bb, |_, _| {}).unwrap();
    wait_reboots(&mut b);
    assert_eq!(card_boot(&mut b, bb.len()).as_deref(), Some(&bb[..]));
    assert_eq!(b.sat().hw.system.reboots, 2);
}

#[test]
fn a_20_mb_flash_streams_through_little_memory() {
    // 20 MB image: the card holds it twice (BOOT.BIN and its spare). 320 MiB
    // so that the card has 4 KiB clusters like a real one (a card under
    // 260 MiB gets 512-byte clusters, and creating the spare on the first
    // flash keeps a list of its clusters: 8x more of them).
    let mut b = bench_with(SimOptions { card_blocks: 320 << 11, ..SimOptions::default() });
    let image = boot_image(0xC, 5 << 20);
    assert!(image.len() > 20_000_000);
    let mut payload = image.clone();
    payload.extend_from_slice(&libdrtio::checksum(&image).to_le_bytes());
    let base = b.heap.bytes();
    b.heap.reset_peak();
    b.master.flash_raw(DEST, &payload, &mut |_, _| {}).unwrap();
    wait_reboots(&mut b);
    let growth = b.heap.peak() - base;
    eprintln!("peak heap growth during a {} byte flash: {} bytes", image.len(), growth);
    assert!(growth < 256 << 10, "peak heap growth {growth} bytes");
    assert_eq!(b.sat().hw.system.reboots, 1);
    assert_eq!(card_boot(&mut b, image.len()).map(|v| libdrtio::checksum(&v)), Some(libdrtio::checksum(&image)));
}

#[test]
fn a_flash_counts_its_card_write_buffer_in_the_budget() {
    let mut b = bench();
    let run = libsdcard::boot::WRITE_RUN_BYTES;
    b.master.mgmt(&Packet::CoreMgmtFlashRequest { destination: DEST, payload_length: 100_000 }, "flash").unwrap();
    let data = Packet::CoreMgmtFlashAddDataRequest { destination: DEST, last: false, data: &[0; 1000] };
    b.master.mgmt(&data, "flash data").unwrap();
    assert_eq!(b.sat().budget().held_by(Kind::Mgmt), run, "the run buffer is counted while the flash runs");
    // A new request abandons the first flash and holds one buffer, not two.
    b.master.mgmt(&Packet::CoreMgmtFlashRequest { destination: DEST, payload_length: 100_000 }, "flash").unwrap();
    assert_eq!(b.sat().budget().held_by(Kind::Mgmt), run);
    // A bad CRC ends the flash: the buffer goes with it.
    let data = Packet::CoreMgmtFlashAddDataRequest { destination: DEST, last: true, data: &[0; 8] };
    assert!(b.master.transact(&data, "flash data").is_ok());
    assert_eq!(b.sat().budget().held_by(Kind::Mgmt), 0);

    // Under a budget smaller than the buffer, the flash is refused up front.
    let config = Config { memory_budget: run / 2, ..Default::default() };
    let mut b = bench_with(SimOptions { config, ..SimOptions::default() });
    let image = boot_image(0xD, 64);
    assert_eq!(b.master.flash(DEST, &image, |_, _| {}), Err(MasterError::Refused("flash")));
    assert_eq!(b.sat().budget().refusals(Kind::Mgmt), 1);
}

#[test]
fn reboot_after_the_reply() {
    let mut b = bench();
    b.master.reboot(DEST).unwrap();
    wait_reboots(&mut b);
    assert_eq!(b.sat().hw.system.reboots, 1);
    b.master.mgmt(&Packet::CoreMgmtAllocatorDebugRequest { destination: DEST }, "allocator").unwrap();
}
