//! Deploy and update in QEMU, end to end (issue #7): a card made like
//! `satctl sdcard make` holding BOOT.BIN v1 (the Kasli-SoC satboot in the
//! boot loader slot, a dummy bitstream, satman with build id A); QEMU, which
//! has no BootROM, runs the QEMU build of satboot as `-kernel`, which loads
//! satman from the card; config keys are written over the aux link; BOOT.BIN
//! v2 (build id B) is flashed over the aux link as an ARTIQ master does; the
//! satellite reboots (QEMU's system reset restarts the loader) and comes
//! back on B with the keys still there. Corrupted and truncated images are
//! refused and the running firmware stays. QEMU killed at several points of
//! a flash always restarts on A or B.
//!
//! Needs the firmware and satboot the build script builds; with
//! SATMAN_SKIP_FIRMWARE set it prints a loud skip and passes (and fails
//! under CI).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use satman_systest::card::{boot_image, make_card, read_card, CardSpec};
use satman_systest::master::MasterError;
use satman_systest::qemu::{firmware_elf, satboot_elf, skip_test, Qemu, QemuOptions};

const DEST: u8 = 1;
const A: &str = "flash-test-A";
const B: &str = "flash-test-B";

struct Images {
    dir: PathBuf,
    a: Vec<u8>,
    b: Vec<u8>,
    loader: PathBuf,
    elf: PathBuf,
}

fn images(test: &str) -> Option<Images> {
    if skip_test(test) {
        return None;
    }
    let loader = satboot_elf().expect("satboot built");
    let elf = firmware_elf().expect("firmware built");
    let card_loader = satman_systest::qemu::satboot_kasli_soc_elf().expect("satboot (kasli_soc) built");
    let (l, fw) = (std::fs::read(&card_loader).unwrap(), std::fs::read(&elf).unwrap());
    // A small dummy bitstream: the loader reads it (QEMU cannot program a PL).
    let bit = libbootimage::testgen::dummy_bitstream(16 << 10);
    let a = boot_image(&l, Some(&bit), &fw, Some(A)).unwrap();
    let b = boot_image(&l, Some(&bit), &fw, Some(B)).unwrap();
    let dir = std::env::temp_dir().join(format!("satman-flash-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Some(Images { dir, a, b, loader, elf })
}

fn card(img: &Images, name: &str) -> PathBuf {
    let path = img.dir.join(name);
    let spec = CardSpec { size: 64 << 20, boot: Some(&img.a), boot_capacity: Some(4 << 20), ..Default::default() };
    make_card(&path, &spec).unwrap();
    path
}

fn boot(img: &Images, card: &Path) -> Qemu {
    let mut o = QemuOptions::new(&img.elf);
    o.loader = Some(img.loader.clone());
    o.sd_card = Some(card.to_path_buf());
    o.reply_timeout = Duration::from_secs(2);
    o.ready_timeout = Duration::from_secs(60);
    Qemu::launch(o).unwrap_or_else(|e| panic!("QEMU did not come up through the loader: {e}"))
}

fn log_of(q: &mut Qemu) -> String {
    String::from_utf8_lossy(&q.master.get_log(DEST, false).unwrap_or_default()).into_owned()
}

#[test]
fn qemu_flash_and_reboot() {
    let Some(img) = images("qemu_flash_and_reboot") else { return };
    let card = card(&img, "card.img");
    let t = Instant::now();
    let mut q = boot(&img, &card);
    eprintln!("loader start -> satman READY: {} ms (wall)", t.elapsed().as_millis());
    assert_eq!(q.ready().build_id.as_str(), A, "v1 boots through the loader");
    assert!(q.ready().cpu1_up, "CPU1 is up after the loader\n{}", q.diagnostics());

    // Config keys over the aux link, on the card.
    q.master.config_write(DEST, "log_level", b"info").unwrap();
    q.master.config_write(DEST, "my_key", b"hello").unwrap();
    q.master.config_write(DEST, "device_map", &[0, 1, 2, 3, 255]).unwrap();
    let t = Instant::now();
    assert_eq!(q.master.config_read(DEST, "my_key").unwrap(), b"hello");
    eprintln!("config read: {} ms", t.elapsed().as_millis());

    // A corrupted image is refused on its last slice; a truncated one (good
    // CRC of fewer bytes) fails its structure check; A keeps running. (Short
    // prefixes: the link moves ~28 kB/s.)
    let part = &img.b[..64 << 10];
    let mut bad = part.to_vec();
    bad.extend_from_slice(&libdrtio::checksum(part).to_le_bytes());
    bad[4000] ^= 0x40;
    assert_eq!(q.master.flash_raw(DEST, &bad, &mut |_, _| {}), Err(MasterError::Refused("flash")));
    let readies = q.master.transport.ready_count();
    q.master.flash(DEST, part, |_, _| {}).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    q.master.echo().unwrap();
    assert_eq!(q.master.transport.ready_count(), readies, "no reboot after a refused image");
    let log = log_of(&mut q);
    assert!(log.contains("CRC"), "{log}");
    assert!(log.contains("not a valid boot image"), "{log}");

    // Flash B; the satellite reboots into it.
    let readies = q.master.transport.ready_count();
    let t = Instant::now();
    q.master.flash(DEST, &img.b, |_, _| {}).unwrap();
    let sent = t.elapsed();
    let r = q.wait_reboot(readies, Duration::from_secs(60)).unwrap();
    eprintln!(
        "flash of {} bytes: sent in {} ms ({:.0} kB/s), back on {} {} ms later",
        img.b.len(),
        sent.as_millis(),
        img.b.len() as f64 / sent.as_secs_f64() / 1e3,
        r.build_id,
        (t.elapsed() - sent).as_millis()
    );
    assert_eq!(r.build_id.as_str(), B, "the new firmware runs");
    q.master.echo().unwrap();
    assert_eq!(q.master.config_read(DEST, "my_key").unwrap(), b"hello", "keys survive the reboot");
    assert_eq!(q.master.config_read(DEST, "device_map").unwrap(), [0, 1, 2, 3, 255]);

    // Reboot on request: still B.
    let readies = q.master.transport.ready_count();
    q.master.reboot(DEST).unwrap();
    assert_eq!(q.wait_reboot(readies, Duration::from_secs(60)).unwrap().build_id.as_str(), B);
    let report = q.exit(0).unwrap();
    assert!(report.unexpected_log_lines.is_empty(), "qemu.log: {:?}", report.unexpected_log_lines);

    // The card as the host reads it.
    let (boot, config) = read_card(&card).unwrap();
    assert_eq!(&boot[..img.b.len()], &img.b[..]);
    assert!(config.iter().any(|(k, v)| k == "my_key" && v == b"hello"), "{config:?}");
    let _ = std::fs::remove_dir_all(&img.dir);
}

/// Sends the flash request and the slices of `payload` up to `upto` bytes,
/// as a master whose satellite loses power there.
fn partial_flash(q: &mut Qemu, payload: &[u8], upto: usize) {
    use libdrtio::Packet;
    q.master.mgmt(&Packet::CoreMgmtFlashRequest { destination: DEST, payload_length: payload.len() as u32 }, "flash").unwrap();
    let mut sent = 0;
    for c in payload.chunks(libdrtio::MASTER_PAYLOAD_MAX_SIZE) {
        if sent >= upto {
            break;
        }
        q.master.mgmt(&Packet::CoreMgmtFlashAddDataRequest { destination: DEST, last: false, data: c }, "flash data").unwrap();
        sent += c.len();
    }
}

#[test]
fn qemu_flash_killed_midway_boots_a_or_b() {
    let Some(img) = images("qemu_flash_killed_midway") else { return };
    let card = card(&img, "card.img");
    let mut payload = img.b.clone();
    payload.extend_from_slice(&libdrtio::checksum(&img.b).to_le_bytes());
    // Kill points: during the transfer, then 0 and 1.5 s after the
    // DropLinkAck, while the image is read back from the card and committed
    // (about 2.5 s in QEMU), and once well after it. (Each full transfer
    // takes 5-20 s over QEMU's UART, depending on the machine's load; the block-level sweep of every write is
    // libsdcard's power-cut test.)
    enum Kill {
        Transfer(usize),
        AfterAck(u64),
    }
    let points = [
        Kill::Transfer(payload.len() / 4),
        Kill::AfterAck(0),
        Kill::AfterAck(1500),
        // Well after the commit: B must boot.
        Kill::AfterAck(8000),
    ];
    let mut seen_b = false;
    for (i, k) in points.iter().enumerate() {
        let mut q = boot(&img, &card);
        let was = q.ready().build_id;
        match *k {
            Kill::Transfer(upto) => partial_flash(&mut q, &payload, upto),
            Kill::AfterAck(ms) => {
                q.master.flash_raw(DEST, &payload, &mut |_, _| {}).unwrap();
                std::thread::sleep(Duration::from_millis(ms));
            }
        }
        q.kill();
        drop(q);
        let mut q = boot(&img, &card);
        let now = q.ready().build_id;
        eprintln!("kill point {i}: was {was}, boots {now}");
        assert!(now.as_str() == A || now.as_str() == B, "kill point {i}: boots {now}");
        if matches!(k, Kill::Transfer(_)) {
            assert_eq!(now, was, "an interrupted transfer leaves the old image");
        }
        seen_b |= now.as_str() == B;
        q.master.echo().unwrap();
        q.kill();
    }
    assert!(seen_b, "the last kill point comes after the commit");
    let _ = std::fs::remove_dir_all(&img.dir);
}
