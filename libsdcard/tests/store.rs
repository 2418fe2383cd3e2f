//! The store against mtools and fsck.fat: what we write reads back there,
//! and what they write reads back here.

mod common;

use libsdcard::format::format_fat32;
use libsdcard::{Card, CardError, CommitError, FileDevice, MemDevice, ReadAt};

fn image(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

fn flash<D: libsdcard::BlockDevice>(card: &mut Card<D>, img: &[u8]) -> Result<(), CommitError<()>> {
    let mut w = card.begin_boot_image(img.len() as u32)?;
    for c in img.chunks(1000) {
        card.boot_write(&mut w, c)?;
    }
    let expect = img.to_vec();
    card.boot_commit(w, |r: &mut dyn ReadAt| {
        let mut back = vec![0; r.len() as usize];
        r.read_exact_at(0, &mut back).map_err(|_| ())?;
        if back == expect {
            Ok(())
        } else {
            Err(())
        }
    })
}

fn read(card: &mut Card<impl libsdcard::BlockDevice>, key: &str) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    match card.config_read(key, &mut v) {
        Ok(()) => Some(v),
        Err(CardError::NotFound) => None,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn our_card_reads_back_in_mtools_and_passes_fsck() {
    let mut d = MemDevice::new(40 * 2048);
    format_fat32(&mut d, 7).unwrap();
    let mut card = Card::mount(d).unwrap();
    card.reserve_boot_spare(400_000).unwrap();
    let a = image(300_000, 1);
    flash(&mut card, &a).unwrap();
    card.config_write("log_level", b"INFO").unwrap();
    card.config_write("device_map", &[0u8, 1, 2, 3, 10]).unwrap();
    card.config_write("rtio_clock", &[b'x'; 150]).unwrap();
    card.config_write("RTIO_clock", b"int_125").unwrap();
    assert_eq!(read(&mut card, "rtio_clock").unwrap(), b"int_125");
    assert_eq!(read(&mut card, "DEVICE_MAP").unwrap(), [0, 1, 2, 3, 10]);
    let b = image(350_000, 2);
    flash(&mut card, &b).unwrap();
    // A refused image changes nothing.
    let mut w = card.begin_boot_image(1000).unwrap();
    card.boot_write(&mut w, &[9; 1000]).unwrap();
    assert_eq!(
        card.boot_commit(w, |_| Err::<(), _>("bad")),
        Err(CommitError::Invalid("bad"))
    );
    let mut v = Vec::new();
    card.read_file("/BOOT.BIN", &mut v).unwrap();
    assert_eq!(&v[..b.len()], &b[..]);
    assert!(v[b.len()..].iter().all(|&x| x == 0));

    if !common::tools() {
        return;
    }
    let img = card.unmount().into_bytes();
    common::fsck(&img).unwrap();
    let path = common::temp("ours.img");
    std::fs::write(&path, &img).unwrap();
    let boot = common::mtype(&path, "::BOOT.BIN").unwrap();
    assert_eq!(&boot[..b.len()], &b[..]);
    let txt = common::mtype(&path, "::CONFIG.TXT").unwrap();
    assert_eq!(txt, b"log_level=INFO\nRTIO_clock=int_125\n");
    assert_eq!(
        common::mtype(&path, "::CONFIG/device_map.BIN").unwrap(),
        [0, 1, 2, 3, 10]
    );
    assert!(
        common::mdir(&path, "::CONFIG").contains("device_map.BIN"),
        "{}",
        common::mdir(&path, "::CONFIG")
    );
    assert!(common::mtype(&path, "::CONFIG/rtio_clock.bin").is_none());
}

#[test]
fn hand_made_card_works() {
    if !common::tools() {
        return;
    }
    let path = common::mkfs_card(40, 32);
    let a = image(200_000, 3);
    common::mcopy_bytes(&path, &a, "::BOOT.BIN");
    common::mmd(&path, "::CONFIG");
    common::mcopy_bytes(&path, b"log_level=WARN\r\n", "::CONFIG.TXT");
    common::mcopy_bytes(&path, b"map\nwith newline", "::CONFIG/device_map.bin");
    let mut card = Card::mount(FileDevice::open(&path).unwrap()).unwrap();
    assert_eq!(read(&mut card, "LOG_LEVEL").unwrap(), b"WARN");
    assert_eq!(read(&mut card, "device_map").unwrap(), b"map\nwith newline");
    assert_eq!(card.config_keys().unwrap(), ["device_map", "log_level"]);
    // Flash onto a card with no spare yet, twice.
    let b = image(250_000, 4);
    flash(&mut card, &b).unwrap();
    let c = image(220_000, 5);
    flash(&mut card, &c).unwrap();
    card.config_write("device_map", b"short").unwrap();
    card.config_write("sed_spread_enable", &[1; 200]).unwrap();
    card.config_remove("log_level").unwrap();
    drop(card);
    let img = std::fs::read(&path).unwrap();
    common::fsck(&img).unwrap();
    assert_eq!(&common::mtype(&path, "::BOOT.BIN").unwrap()[..c.len()], &c[..]);
    assert!(common::mtype(&path, "::CONFIG/device_map.bin").is_none());
    assert_eq!(common::mtype(&path, "::CONFIG.TXT").unwrap(), b"device_map=short\n");
    assert_eq!(
        common::mtype(&path, "::CONFIG/sed_spread_enable.bin").unwrap(),
        [1; 200]
    );
    let mut card = Card::mount(FileDevice::open(&path).unwrap()).unwrap();
    card.config_erase().unwrap();
    assert_eq!(card.config_keys().unwrap(), Vec::<String>::new());
    drop(card);
    common::fsck(&std::fs::read(&path).unwrap()).unwrap();
}
