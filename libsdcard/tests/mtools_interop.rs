//! Cards made by hand with mtools read here.

mod common;

use libsdcard::{Card, FileDevice, ReadAt};

#[test]
fn reads_files_made_by_mcopy() {
    if !common::tools() {
        return;
    }
    for fat in [16, 32] {
        let img = common::mkfs_card(if fat == 32 { 40 } else { 8 }, fat);
        let boot: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 511) as u8).collect();
        common::mcopy_bytes(&img, &boot, "::BOOT.BIN");
        common::mmd(&img, "::CONFIG");
        common::mcopy_bytes(
            &img,
            b"log_level=INFO\nrtio_clock=ext0_synth0_10to125\n",
            "::CONFIG.TXT",
        );
        common::mcopy_bytes(&img, &[1, 2, 3, 0, 255], "::CONFIG/device_map.bin");
        let mut card = Card::mount(FileDevice::open(&img).unwrap()).unwrap();
        assert_eq!(card.info().fat32, fat == 32);
        let mut v = Vec::new();
        card.read_file("/BOOT.BIN", &mut v).unwrap();
        assert_eq!(v, boot);
        let mut r = card.open("/boot.bin").unwrap();
        let mut b = [0u8; 1000];
        r.read_exact_at(123_457, &mut b).unwrap();
        assert_eq!(&b[..], &boot[123_457..124_457]);
        v.clear();
        card.read_file("/CONFIG/DEVICE_MAP.BIN", &mut v).unwrap();
        assert_eq!(v, [1, 2, 3, 0, 255]);
        let names: Vec<String> = card.list("/").unwrap().into_iter().map(|f| f.name).collect();
        assert!(names.contains(&"BOOT.BIN".to_string()), "{names:?}");
        assert_eq!(card.read_file("/NOPE", &mut v), Err(libsdcard::CardError::NotFound));
    }
}
