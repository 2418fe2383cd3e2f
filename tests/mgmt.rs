//! Core management over DRTIO on the host simulation: the log, the
//! configuration, reboot, and flashing a boot image (with its CRC checked
//! before anything is written).

use libdrtio::Packet;
use satman_systest::heap::TrackingAlloc;
use satman_systest::master::MasterError;
use satman_systest::scenario::DEST;
use satman_systest::sim::{SimBench, SimOptions};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

fn bench() -> SimBench {
    let mut b = SimBench::new(SimOptions::default());
    b.master.init_link(DEST).unwrap();
    b
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
fn config_write_read_remove() {
    let mut b = bench();
    b.master.config_write(DEST, "my_key", b"my value").unwrap();
    assert_eq!(b.master.config_read(DEST, "my_key").unwrap(), b"my value");
    // Values longer than one packet come back in slices.
    let long: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    b.master.config_write(DEST, "long", &long).unwrap();
    assert_eq!(b.master.config_read(DEST, "long").unwrap(), long);
    b.master.mgmt(&Packet::CoreMgmtConfigRemoveRequest { destination: DEST, key: b"my_key" }, "remove").unwrap();
    assert_eq!(b.master.config_read(DEST, "my_key"), Err(MasterError::Refused("config read")));
    // Removing a missing key is not an error; erasing removes every key.
    b.master.mgmt(&Packet::CoreMgmtConfigRemoveRequest { destination: DEST, key: b"nothing" }, "remove").unwrap();
    b.master.mgmt(&Packet::CoreMgmtConfigEraseRequest { destination: DEST }, "erase").unwrap();
    assert_eq!(b.master.config_read(DEST, "long"), Err(MasterError::Refused("config read")));
    // Log levels are checked and applied.
    b.master.config_write(DEST, "log_level", b"DEBUG").unwrap();
    assert_eq!(log::max_level(), log::LevelFilter::Debug);
    assert_eq!(b.master.config_write(DEST, "log_level", b"loud"), Err(MasterError::Refused("config write")));
    b.master.config_write(DEST, "log_level", b"info").unwrap();
}

/// Flashes `image` (BOOT.BIN + CRC); returns whether the satellite accepted
/// it (`CoreMgmtDropLink` on the last slice, then `DropLinkAck`) rather
/// than refusing the last slice.
fn flash(b: &mut SimBench, image: &[u8]) -> bool {
    b.master.mgmt(&Packet::CoreMgmtFlashRequest { destination: DEST, payload_length: image.len() as u32 }, "flash").unwrap();
    let chunks: Vec<&[u8]> = image.chunks(1010).collect();
    for (i, c) in chunks.iter().enumerate() {
        let last = i == chunks.len() - 1;
        let p = Packet::CoreMgmtFlashAddDataRequest { destination: DEST, last, data: c };
        if !last {
            b.master.mgmt(&p, "flash data").unwrap();
        } else {
            let reply = b.master.transact(&p, "flash data").unwrap();
            match reply.decode().unwrap() {
                Packet::CoreMgmtDropLink => {}
                Packet::CoreMgmtReply { succeeded: false } => return false,
                other => panic!("unexpected reply to the last slice: {other:?}"),
            }
        }
    }
    b.master.send(&Packet::CoreMgmtDropLinkAck { destination: DEST }).unwrap();
    b.pump(std::time::Duration::from_millis(50));
    true
}

#[test]
fn flashing_checks_the_crc_before_writing() {
    let mut b = bench();
    let boot: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    let mut good = boot.clone();
    good.extend_from_slice(&libdrtio::checksum(&boot).to_le_bytes());
    let mut bad = good.clone();
    bad[100] ^= 1;

    assert!(!flash(&mut b, &bad), "a bad CRC is refused on the last slice");
    assert!(b.sat().hw.config.boot_image.is_none(), "a corrupted image must not be written");
    assert_eq!(b.sat().hw.system.reboots, 0, "and the satellite keeps running");
    b.master.echo().unwrap();

    assert!(flash(&mut b, &good));
    assert_eq!(b.sat().hw.config.boot_image.as_deref(), Some(&boot[..]));
    assert_eq!(b.sat().hw.system.reboots, 1);
}

#[test]
fn reboot_after_the_reply() {
    let mut b = bench();
    b.master.mgmt(&Packet::CoreMgmtRebootRequest { destination: DEST }, "reboot").unwrap();
    b.pump(std::time::Duration::from_millis(50));
    assert_eq!(b.sat().hw.system.reboots, 1);
    b.master.mgmt(&Packet::CoreMgmtAllocatorDebugRequest { destination: DEST }, "allocator").unwrap();
}
