//! Body of the `bootimage` fuzz target, shared with `tests/fuzz_smoke.rs`.
//!
//! Parses arbitrary bytes as a Zynq boot image, and a valid image with the
//! input written over its headers. The parser must never panic, and what it
//! accepts must hold: every partition inside the image, the boot loader
//! first and for the PS, no two partitions overlapping.

use std::sync::OnceLock;

use libbootimage::testgen::{dummy_bitstream, firmware_elf, loader_elf};
use libbootimage::writer::{build, Input};
use libbootimage::{BootImage, Destination};

/// A valid boot image (loader, bitstream, firmware), built once.
pub fn valid() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let (l, b, f) = (loader_elf(), dummy_bitstream(8), firmware_elf(1));
        build(Input::new("l.elf", &l), Some(Input::new("t.bit", &b)), Input::new("f.elf", &f)).unwrap()
    })
}

fn check(image: &[u8]) {
    let Ok(p) = BootImage::parse_slice(image) else {
        return;
    };
    assert_eq!(p.len as usize, image.len());
    assert_eq!(p.bootloader().index, 0);
    assert_eq!(p.bootloader().destination, Destination::Ps);
    for (i, a) in p.partitions().iter().enumerate() {
        assert!(a.len > 0 && a.end() as usize <= image.len());
        for b in &p.partitions()[i + 1..] {
            assert!(a.end() <= b.offset || b.end() <= a.offset);
        }
    }
}

/// One fuzz input.
pub fn run(input: &[u8]) {
    check(input);
    // The input's first two bytes choose where the rest lands in a valid image.
    if input.len() > 2 {
        let mut image = valid().to_vec();
        let at = u16::from_le_bytes([input[0], input[1]]) as usize % 0x1700;
        let n = (input.len() - 2).min(image.len() - at);
        image[at..at + n].copy_from_slice(&input[2..2 + n]);
        check(&image);
    }
}
