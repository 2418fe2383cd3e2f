//! Oracle tests against Xilinx `bootgen` (Debian package `xilinx-bootgen`):
//! for the same inputs, this crate's image and bootgen's hold the same
//! partitions (load/exec addresses, attributes, lengths, data), and
//! `bootgen -arch zynq -read` reads this crate's image cleanly.
//!
//! Without bootgen the tests print a loud skip message, and fail when the
//! `CI` environment variable is set.

use std::path::{Path, PathBuf};
use std::process::Command;

use libbootimage::testgen::{
    arm_elf, arm_elf_with, dummy_bitstream, firmware_elf, loader_elf, szl_like_elf, ElfSection,
};
use libbootimage::writer::{Input, Writer};
use libbootimage::{elf, BootImage, Destination, FileReader, Partition};

/// Whether bootgen is there; panics in CI when it is not.
fn have_bootgen() -> bool {
    let ok = Command::new("bootgen").arg("-help").output().is_ok_and(|o| o.status.success() || !o.stdout.is_empty());
    if !ok {
        let msg = "bootgen not found (Debian package xilinx-bootgen): bootgen oracle tests SKIPPED";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}, and CI is set");
        }
        eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
    }
    ok
}

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("libbootimage-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs bootgen on `files` (the first one `[bootloader]`) in `dir`; returns its image.
fn bootgen_image(dir: &Path, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut bif = String::from("the_ROM_image: {");
    for (i, (name, data)) in files.iter().enumerate() {
        std::fs::write(dir.join(name), data).unwrap();
        bif += if i == 0 { " [bootloader]" } else { " " };
        bif += name;
    }
    bif += " }\n";
    std::fs::write(dir.join("boot.bif"), bif).unwrap();
    let out = Command::new("bootgen")
        .current_dir(dir)
        .args(["-arch", "zynq", "-image", "boot.bif", "-o", "theirs.bin", "-w", "on"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !text.contains("ERROR"), "bootgen failed:\n{text}");
    std::fs::read(dir.join("theirs.bin")).unwrap()
}

/// `bootgen -arch zynq -read FILE`: its output, asserting it reads cleanly.
fn bootgen_read(dir: &Path, image: &[u8]) -> String {
    let path = dir.join("ours.bin");
    std::fs::write(&path, image).unwrap();
    let out = Command::new("bootgen").args(["-arch", "zynq", "-read"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bootgen -read failed:\n{text}");
    assert!(!text.contains("ERROR"), "bootgen -read reports an error:\n{text}");
    assert!(text.contains("PARTITION HEADER TABLE"), "bootgen -read printed no partition:\n{text}");
    text
}

/// The values bootgen -read prints for `field` (e.g. `load_addr`), in order.
fn read_fields(text: &str, field: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(i) = rest.find(field) {
            let after = &rest[i + field.len()..];
            // "load_addr (0x0c) : 0x00000000", not "fsbl_load_addr ..."
            let ok = after.starts_with(" (") && (i == 0 || rest.as_bytes()[i - 1] == b' ');
            if let (true, Some(c)) = (ok, after.find(": 0x")) {
                let hex: String = after[c + 4..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
                v.push(u32::from_str_radix(&hex, 16).unwrap());
            }
            rest = after;
        }
    }
    v
}

fn data<'a>(image: &'a [u8], p: &Partition) -> &'a [u8] {
    &image[p.offset as usize..p.end() as usize]
}

/// The two images are the same bytes (else ours is left in `dir`).
fn assert_identical(dir: &Path, ours: &[u8], theirs: &[u8], what: &str) {
    if ours != theirs {
        std::fs::write(dir.join("ours.bin"), ours).unwrap();
        let at = ours.iter().zip(theirs).position(|(a, b)| a != b);
        panic!(
            "{what}: our image differs from bootgen's (lengths {} and {}, first difference at {at:x?}); see {}",
            ours.len(),
            theirs.len(),
            dir.display()
        );
    }
}

/// The partitions of two images agree in everything but their offsets.
fn assert_same_partitions(ours: &[u8], theirs: &[u8]) {
    let (a, b) = (BootImage::parse_slice(ours).unwrap(), BootImage::parse_slice(theirs).unwrap());
    assert_eq!(a.partitions().len(), b.partitions().len());
    for (p, q) in a.partitions().iter().zip(b.partitions()) {
        let what = format!("partition {} ({})", p.index, a.image_of(p).name());
        assert_eq!(p.destination, q.destination, "{what}: destination");
        assert_eq!((p.load, p.exec), (q.load, q.exec), "{what}: load/exec");
        assert_eq!(p.attributes, q.attributes, "{what}: attributes");
        assert_eq!(p.section_count, q.section_count, "{what}: section count");
        assert_eq!(p.len, q.len, "{what}: length");
        assert!(data(ours, p) == data(theirs, q), "{what}: data differs");
        assert_eq!(a.image_of(p).name(), b.image_of(q).name(), "{what}: image name");
    }
    let (h, g) = (a.header, b.header);
    assert_eq!(
        (h.loader_len, h.loader_load, h.loader_exec, h.loader_total_len, h.header_version, h.qspi_config),
        (g.loader_len, g.loader_load, g.loader_exec, g.loader_total_len, g.header_version, g.qspi_config),
        "boot header"
    );
}

fn ours(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = Writer::new();
    w.bootloader_elf(Input::new(files[0].0, files[0].1)).unwrap();
    for (name, d) in &files[1..] {
        if name.ends_with(".bit") {
            w.bitstream(Input::new(name, d)).unwrap();
        } else {
            w.elf(Input::new(name, d)).unwrap();
        }
    }
    w.finish().unwrap()
}

#[test]
fn loader_bitstream_firmware_same_as_bootgen() {
    if !have_bootgen() {
        return;
    }
    let dir = scratch("lbf");
    let (l, b, f) = (loader_elf(), dummy_bitstream(100), firmware_elf(0xA5));
    let files: [(&str, &[u8]); 3] = [("loader.elf", &l), ("top.bit", &b), ("fw.elf", &f)];
    let theirs = bootgen_image(&dir, &files);
    let ours = ours(&files);
    assert_same_partitions(&ours, &theirs);
    // Same layout too: the files are byte-identical.
    assert_identical(&dir, &ours, &theirs, "loader + bitstream + firmware");

    let text = bootgen_read(&dir, &ours);
    let parsed = BootImage::parse_slice(&ours).unwrap();
    let ps = parsed.partitions();
    assert_eq!(read_fields(&text, "load_addr"), ps.iter().map(|p| p.load).collect::<Vec<_>>());
    assert_eq!(read_fields(&text, "exec_addr"), ps.iter().map(|p| p.exec).collect::<Vec<_>>());
    assert_eq!(read_fields(&text, "attributes"), ps.iter().map(|p| p.attributes).collect::<Vec<_>>());
    assert_eq!(read_fields(&text, "total_length"), ps.iter().map(|p| p.len / 4).collect::<Vec<_>>());
    assert_eq!(read_fields(&text, "partition_offset"), ps.iter().map(|p| p.offset / 4).collect::<Vec<_>>());
    assert_eq!(read_fields(&text, "fsbl_sourceoffset"), [parsed.header.source_offset]);
    assert_eq!(read_fields(&text, "checksum")[0], parsed.header.checksum);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn without_bitstream_and_odd_lengths_same_as_bootgen() {
    if !have_bootgen() {
        return;
    }
    let dir = scratch("odd");
    // Loader and firmware lengths 1..=3 bytes past a word: bootgen's tail
    // padding count lands in the attribute bits 1:0.
    for tail in 1..=4usize {
        let text = vec![0x5Au8; 0x100 + tail];
        let l = arm_elf(0x40, &[ElfSection::progbits(".text", 0, &text, true), ElfSection::nobits(".bss", 0x200, 64)]);
        let fwtext = vec![0xC3u8; 0x333 + tail];
        let f = arm_elf(0x0010_0000, &[ElfSection::progbits(".text", 0x0010_0000, &fwtext, true)]);
        let files: [(&str, &[u8]); 2] = [("l.elf", &l), ("satman.elf", &f)];
        let theirs = bootgen_image(&dir, &files);
        let ours = ours(&files);
        assert_same_partitions(&ours, &theirs);
        assert_identical(&dir, &ours, &theirs, &format!("tail {tail}"));
        bootgen_read(&dir, &ours);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bitstream_padding_same_as_bootgen() {
    if !have_bootgen() {
        return;
    }
    let dir = scratch("bits");
    let l = loader_elf();
    for words in [0, 1, 5, 8, 13, 300] {
        let b = dummy_bitstream(words);
        let files: [(&str, &[u8]); 2] = [("l.elf", &l), ("design_1_wrapper.bit", &b)];
        let theirs = bootgen_image(&dir, &files);
        let ours = ours(&files);
        assert_same_partitions(&ours, &theirs);
        assert_identical(&dir, &ours, &theirs, &format!("{words} payload words"));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// An ELF of several PT_LOAD segments (like satman's): bootgen makes one
/// partition per segment, this crate one flat partition. Laid out at their
/// load addresses, bootgen's partitions hold our partition's bytes.
#[test]
fn multi_segment_elf_flattens_to_bootgens_segments() {
    if !have_bootgen() {
        return;
    }
    let dir = scratch("segs");
    let text: Vec<u8> = (0..0x1234u32).map(|i| (i * 13) as u8).collect();
    let rodata = vec![0x77u8; 0x101];
    let f = arm_elf_with(
        0x0010_0020,
        &[
            ElfSection::progbits(".text", 0x0010_0000, &text, true),
            ElfSection::progbits(".rodata", 0x0010_1238, &rodata, false),
            ElfSection::progbits(".data", 0x0010_1340, b"0123456789", false),
            ElfSection::nobits(".bss", 0x0010_2000, 0x4000),
        ],
        true,
    );
    let l = loader_elf();
    let files: [(&str, &[u8]); 2] = [("l.elf", &l), ("satman.elf", &f)];
    let theirs = bootgen_image(&dir, &files);
    let ours = ours(&files);
    bootgen_read(&dir, &ours);
    let (a, b) = (BootImage::parse_slice(&ours).unwrap(), BootImage::parse_slice(&theirs).unwrap());
    assert_eq!((a.partitions().len(), b.partitions().len()), (2, 4));
    assert_eq!(b.image_partitions(1).len(), 3);
    let flat = a.first_ps_after_bootloader().unwrap();
    let mut laid = vec![0u8; flat.len as usize];
    for q in b.image_partitions(1) {
        let at = (q.load - flat.load) as usize;
        let d = data(&theirs, q);
        // bootgen pads the segment to a word; our flat copy may hold the next
        // segment's first bytes there.
        let n = d.len() - q.tail_pad() as usize;
        laid[at..at + n].copy_from_slice(&d[..n]);
    }
    assert!(laid == data(&ours, flat), "flattened data differs from bootgen's segments");
    assert_eq!(flat.exec, b.image_partitions(1)[0].exec);
    assert_eq!(elf::flatten(&f).unwrap().data.len(), 0x1340 + 10);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Our parser reads bootgen's images, also through the file reader.
#[test]
fn parser_reads_bootgen_images_from_a_file() {
    if !have_bootgen() {
        return;
    }
    let dir = scratch("file");
    let (l, b, f) = (loader_elf(), dummy_bitstream(64), firmware_elf(3));
    let files: [(&str, &[u8]); 3] = [("szl.elf", &l), ("top.bit", &b), ("satman.elf", &f)];
    bootgen_image(&dir, &files);
    let mut r = FileReader::new(std::fs::File::open(dir.join("theirs.bin")).unwrap()).unwrap();
    let p = BootImage::parse(&mut r).unwrap();
    assert_eq!(p.images().iter().map(|i| i.name()).collect::<Vec<_>>(), ["szl.elf", "top.bit", "satman.elf"]);
    assert_eq!(p.bitstream().unwrap().destination, Destination::Pl);
    assert_eq!(p.first_ps_after_bootloader().unwrap().exec, 0x0010_0020);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A loader laid out like upstream's szl (NOBITS in high OCM and DDR) in the
/// boot loader slot: same image as bootgen's.
#[test]
fn szl_like_loader_same_as_bootgen() {
    if !have_bootgen() {
        return;
    }
    let dir = scratch("szl");
    let (l, b, f) = (szl_like_elf(), dummy_bitstream(40), firmware_elf(0x5A));
    let files: [(&str, &[u8]); 3] = [("szl.elf", &l), ("top.bit", &b), ("satman.elf", &f)];
    let theirs = bootgen_image(&dir, &files);
    let ours = ours(&files);
    assert_same_partitions(&ours, &theirs);
    assert_identical(&dir, &ours, &theirs, "szl-like loader");
    bootgen_read(&dir, &ours);
    std::fs::remove_dir_all(dir).unwrap();
}
