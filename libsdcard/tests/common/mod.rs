//! Card images made and checked with the host's FAT tools (mtools,
//! dosfstools): independent implementations to test ours against.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether mkfs.fat, fsck.fat and mtools are installed. Missing tools skip
/// loudly, and fail under CI (`CI` set), where `.ci/run` installs them.
pub fn tools() -> bool {
    let ok = ["mkfs.fat", "fsck.fat", "mcopy", "mtype", "mdir", "mmd"]
        .iter()
        .all(|t| {
            Command::new(t).arg("--help").output().is_ok()
                || Command::new(format!("/usr/sbin/{t}")).arg("--help").output().is_ok()
                || Command::new(format!("/sbin/{t}")).arg("--help").output().is_ok()
        });
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("mtools/dosfstools missing under CI");
        }
        eprintln!("SKIPPED: mtools/dosfstools not installed (apt install mtools dosfstools)");
    }
    ok
}

fn tool(name: &str) -> Command {
    for dir in ["/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Command::new(p);
        }
    }
    Command::new(name)
}

/// A fresh temporary path.
pub fn temp(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("libsdcard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}-{}", N.fetch_add(1, Ordering::Relaxed), name))
}

/// An MBR with one partition from block 2048 to the end, type `kind`.
pub fn mbr(total_blocks: u32, kind: u8) -> [u8; 512] {
    let mut m = [0u8; 512];
    let e = &mut m[446..462];
    e[4] = kind;
    e[8..12].copy_from_slice(&2048u32.to_le_bytes());
    e[12..16].copy_from_slice(&(total_blocks - 2048).to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xAA;
    m
}

/// A card image made with mkfs.fat (`fat` 16 or 32) in partition 1.
pub fn mkfs_card(mib: u32, fat: u32) -> PathBuf {
    let path = temp("card.img");
    let blocks = mib * 2048;
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(blocks as u64 * 512).unwrap();
    drop(f);
    let kind = if fat == 32 { 0x0C } else { 0x0E };
    let mut img = std::fs::read(&path).unwrap();
    img[..512].copy_from_slice(&mbr(blocks, kind));
    std::fs::write(&path, img).unwrap();
    // One block per cluster, so small FAT16 test cards have enough clusters.
    let out = tool("mkfs.fat")
        .args(["-F", &fat.to_string(), "-s", "1", "--offset", "2048", "-n", "CARD"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mkfs.fat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn img_arg(path: &Path) -> String {
    format!("{}@@1M", path.display())
}

/// `mcopy` bytes to `dst` (e.g. `::CONFIG/device_map.bin`).
pub fn mcopy_bytes(img: &Path, data: &[u8], dst: &str) {
    let src = temp("src");
    std::fs::write(&src, data).unwrap();
    let out = Command::new("mcopy")
        .args(["-o", "-i", &img_arg(img)])
        .arg(&src)
        .arg(dst)
        .output()
        .unwrap();
    assert!(out.status.success(), "mcopy: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn mmd(img: &Path, dir: &str) {
    let out = Command::new("mmd").args(["-i", &img_arg(img), dir]).output().unwrap();
    assert!(out.status.success(), "mmd: {}", String::from_utf8_lossy(&out.stderr));
}

/// `mtype` a file's bytes (None if mtools cannot find it).
pub fn mtype(img: &Path, file: &str) -> Option<Vec<u8>> {
    let dst = temp("out");
    let out = Command::new("mcopy")
        .args(["-n", "-i", &img_arg(img)])
        .arg(file)
        .arg(&dst)
        .output()
        .unwrap();
    out.status.success().then(|| std::fs::read(&dst).unwrap())
}

/// `mdir -b` listing of a directory.
pub fn mdir(img: &Path, dir: &str) -> String {
    let out = Command::new("mdir")
        .args(["-b", "-i", &img_arg(img), dir])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `fsck.fat -n` on partition 1 of an image: Ok or its report.
pub fn fsck(img: &[u8]) -> Result<(), String> {
    let part = temp("part.img");
    std::fs::write(&part, &img[2048 * 512..]).unwrap();
    let r = fsck_file(&part);
    let _ = std::fs::remove_file(&part);
    r
}

/// `fsck.fat -n` on a bare volume image file.
pub fn fsck_file(part: &Path) -> Result<(), String> {
    let out = tool("fsck.fat").arg("-n").arg(part).output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
