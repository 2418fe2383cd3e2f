//! `satctl image` end to end: a dummy bitstream, a BOOT.BIN built from a
//! generated boot loader and firmware (and from the real satman firmware
//! when the build script built it), `inspect` with and without `--json`,
//! `bootgen -arch zynq -read` on the result (loud skip without bootgen, a
//! failure in CI), and a corrupted image refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use libbootimage::testgen;

fn satctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_satctl")).args(args).output().expect("run satctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("satctl-image-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `bootgen -read` reads `image` without an error; false (after a loud
/// message) if bootgen is missing outside CI.
fn bootgen_reads(image: &Path) -> bool {
    let out = match Command::new("bootgen").args(["-arch", "zynq", "-read"]).arg(image).output() {
        Ok(o) => o,
        Err(e) => {
            let msg = format!("bootgen not runnable ({e}; Debian package xilinx-bootgen): bootgen check SKIPPED");
            assert!(std::env::var_os("CI").is_none(), "{msg}, and CI is set");
            eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
            return false;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !text.contains("ERROR"), "bootgen -read {}:\n{text}", image.display());
    assert!(text.contains("PARTITION HEADER TABLE"), "bootgen -read {}:\n{text}", image.display());
    true
}

fn build_and_inspect(dir: &Path, loader: &Path, firmware: &Path, expect_exec: u32) {
    let bit = dir.join("top.bit");
    let (code, out, err) = satctl(&["image", "dummy-bitstream", "-o", s(&bit)]);
    assert_eq!(code, 0, "dummy-bitstream:\n{out}\n{err}");
    let boot = dir.join("BOOT.BIN");
    let (code, out, err) =
        satctl(&["image", "build", "--loader", s(loader), "--bitstream", s(&bit), "--firmware", s(firmware), "-o", s(&boot)]);
    assert_eq!(code, 0, "image build:\n{out}\n{err}");
    assert!(out.contains("top.bit") && out.contains(" PL "), "the table:\n{out}");

    let (code, out, err) = satctl(&["--json", "image", "inspect", s(&boot)]);
    assert_eq!(code, 0, "image inspect:\n{out}\n{err}");
    let last = out.lines().last().unwrap_or("");
    assert!(last.starts_with('{') && last.ends_with('}'), "last line is not JSON: {last:?}");
    for want in [
        "\"ok\":true",
        "\"command\":\"image inspect\"",
        "\"role\":\"bootloader\"",
        "\"role\":\"bitstream\"",
        "\"role\":\"application\"",
        "\"load\":1048576",
        &format!("\"exec\":{expect_exec}"),
    ] {
        assert!(last.contains(want), "{want} not in {last}");
    }
    let (code, out, _) = satctl(&["image", "inspect", s(&boot)]);
    assert_eq!(code, 0);
    assert!(out.contains("valid Zynq boot image"), "{out}");
    bootgen_reads(&boot);

    // Corrupted (a partition header byte) and truncated: refused, exit 1.
    let mut img = std::fs::read(&boot).unwrap();
    img[0xCC0] ^= 0x40;
    let bad = dir.join("BAD.BIN");
    std::fs::write(&bad, &img).unwrap();
    let (code, out, err) = satctl(&["--json", "image", "inspect", s(&bad)]);
    assert_eq!(code, 1, "corrupted image accepted:\n{out}");
    assert!(err.contains("checksum") && out.contains("\"ok\":false"), "{err}\n{out}");
    let len = img.len();
    img[0xCC0] ^= 0x40;
    std::fs::write(&bad, &img[..len - 100]).unwrap();
    let (code, _, err) = satctl(&["image", "inspect", s(&bad)]);
    assert_eq!(code, 1);
    assert!(err.contains("do not fit"), "{err}");
}

#[test]
fn satctl_image_with_generated_elfs() {
    let dir = scratch("gen");
    let (loader, firmware) = (dir.join("szl.elf"), dir.join("satman.elf"));
    std::fs::write(&loader, testgen::loader_elf()).unwrap();
    std::fs::write(&firmware, testgen::firmware_elf(0xB)).unwrap();
    build_and_inspect(&dir, &loader, &firmware, 0x0010_0020);

    // The firmware in the loader slot is refused (not in OCM).
    let (code, _, err) =
        satctl(&["image", "build", "--loader", s(&firmware), "--firmware", s(&firmware), "-o", s(&dir.join("x.bin"))]);
    assert_eq!(code, 1);
    assert!(err.contains("OCM"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// With the real satman ELF (three PT_LOAD segments, flattened into one partition).
#[test]
fn satctl_image_with_the_firmware() {
    let Ok(elf) = satman_systest::qemu::firmware_elf() else {
        eprintln!("satctl_image_with_the_firmware: no firmware ELF built (SATMAN_SKIP_FIRMWARE): SKIPPED");
        return;
    };
    let dir = scratch("fw");
    let loader = dir.join("loader.elf");
    std::fs::write(&loader, testgen::loader_elf()).unwrap();
    let entry = {
        let b = std::fs::read(&elf).unwrap();
        u32::from_le_bytes(b[24..28].try_into().unwrap())
    };
    build_and_inspect(&dir, &loader, &elf, entry);
    std::fs::remove_dir_all(dir).unwrap();
}
