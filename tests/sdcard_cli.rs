//! `satctl sdcard make|ls`: a card made here holds what was asked, reads
//! back with mtools and passes fsck.fat (skipped loudly without the tools,
//! failing under CI).

use std::process::Command;

fn tools() -> bool {
    let ok = Command::new("mtype").arg("--version").output().is_ok()
        && ["/usr/sbin/fsck.fat", "/sbin/fsck.fat"]
            .iter()
            .any(|p| std::path::Path::new(p).exists());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "mtools/dosfstools missing under CI");
        eprintln!("SKIPPED: mtools/dosfstools not installed");
    }
    ok
}

fn satctl(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_satctl")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn make_and_ls() {
    let dir = std::env::temp_dir().join(format!("sdcard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let boot: Vec<u8> = (0..700_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    let boot_path = dir.join("BOOT.BIN");
    std::fs::write(&boot_path, &boot).unwrap();
    let map_path = dir.join("map.bin");
    std::fs::write(&map_path, [0u8, 1, 2, 255]).unwrap();
    let img = dir.join("card.img");
    let (ok, out) = satctl(&[
        "sdcard",
        "make",
        "-o",
        img.to_str().unwrap(),
        "--boot",
        boot_path.to_str().unwrap(),
        "--size",
        "48M",
        "--config",
        "log_level=DEBUG",
        "--config",
        "rtio_clock=int_125",
        "--config-file",
        &format!("device_map={}", map_path.display()),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = satctl(&["--json", "sdcard", "ls", img.to_str().unwrap()]);
    assert!(ok, "{out}");
    let last = out.lines().find(|l| l.starts_with('{')).unwrap();
    assert!(last.contains(r#""key":"log_level","value":"DEBUG""#), "{last}");
    assert!(last.contains(r#""path":"/BOOT.BIN""#), "{last}");
    assert!(last.contains(r#""key":"device_map""#), "{last}");
    let (ok, out) = satctl(&[
        "sdcard",
        "make",
        "-o",
        dir.join("x.img").to_str().unwrap(),
        "--size",
        "8M",
    ]);
    assert!(!ok && out.contains("too small"), "{out}");

    if !tools() {
        return;
    }
    let at = format!("{}@@1M", img.display());
    let mtype = |f: &str| Command::new("mtype").args(["-i", &at, f]).output().unwrap().stdout;
    assert_eq!(mtype("::CONFIG.TXT"), b"log_level=DEBUG\nrtio_clock=int_125\n");
    assert_eq!(mtype("::CONFIG/device_map.BIN"), [0, 1, 2, 255]);
    let b = mtype("::BOOT.BIN");
    assert_eq!(&b[..boot.len()], &boot[..]);
    let part = dir.join("part.img");
    std::fs::write(&part, &std::fs::read(&img).unwrap()[1 << 20..]).unwrap();
    let fsck = ["/usr/sbin/fsck.fat", "/sbin/fsck.fat"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap();
    let out = Command::new(fsck).arg("-n").arg(&part).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}
