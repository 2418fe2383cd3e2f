//! Crash-consistency sweeps (issue 7 item 5): for every N, run a flash or a
//! config write on a card that loses power after N block writes (inside a
//! multi-block write if one crosses N: its first blocks land), then mount
//! what is left, check that it holds the old or the new content, and run
//! `fsck.fat -n` on it.
//!
//! Steady-state operations (flash with the spare in place, a `CONFIG.TXT`
//! write) must be fsck-clean at every N. Operations that allocate (the
//! first flash of a hand-made card, a `.BIN` value) may leave lost clusters
//! in their documented windows, and nothing else.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use libsdcard::format::format_fat32;
use libsdcard::{BlockDevice, BlockError, Card, CardError, FileDevice, MemDevice, PowerCut, ReadAt};

/// A copy-on-write card: cheap to clone per sweep point.
#[derive(Clone)]
struct Cow {
    base: Arc<Vec<u8>>,
    over: BTreeMap<u32, Box<[u8; 512]>>,
}

impl Cow {
    fn new(img: Vec<u8>) -> Self {
        Cow {
            base: Arc::new(img),
            over: BTreeMap::new(),
        }
    }
    fn block(&self, lba: u32) -> &[u8] {
        match self.over.get(&lba) {
            Some(b) => &b[..],
            None => &self.base[lba as usize * 512..lba as usize * 512 + 512],
        }
    }
}

impl BlockDevice for Cow {
    fn block_count(&mut self) -> Result<u32, BlockError> {
        Ok((self.base.len() / 512) as u32)
    }
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), BlockError> {
        for (i, c) in buf.chunks_mut(512).enumerate() {
            if (lba as usize + i + 1) * 512 > self.base.len() {
                return Err(BlockError::OutOfRange);
            }
            c.copy_from_slice(self.block(lba + i as u32));
        }
        Ok(())
    }
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), BlockError> {
        for (i, c) in buf.chunks(512).enumerate() {
            if (lba as usize + i + 1) * 512 > self.base.len() {
                return Err(BlockError::OutOfRange);
            }
            self.over.insert(lba + i as u32, Box::new(c.try_into().unwrap()));
        }
        Ok(())
    }
}

/// Keeps a file equal to partition 1 of a `Cow` card, rewriting only the
/// blocks that changed since the last sync, for fsck.
struct FsckFile {
    path: std::path::PathBuf,
    file: std::fs::File,
    shown: BTreeMap<u32, Box<[u8; 512]>>,
    base: Arc<Vec<u8>>,
}

impl FsckFile {
    fn new(card: &Cow) -> Self {
        let path = common::temp("sweep-part.img");
        std::fs::write(&path, &card.base[2048 * 512..]).unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        FsckFile {
            path,
            file,
            shown: BTreeMap::new(),
            base: card.base.clone(),
        }
    }

    fn check(&mut self, card: &Cow) -> Result<(), String> {
        assert!(Arc::ptr_eq(&self.base, &card.base));
        for (&lba, old) in &self.shown {
            if card.over.get(&lba).is_none_or(|b| b != old) {
                let now = card.block(lba);
                self.file.write_all_at(now, (lba as u64 - 2048) * 512).unwrap();
            }
        }
        for (&lba, b) in &card.over {
            if self.shown.get(&lba) != Some(b) {
                self.file.write_all_at(&b[..], (lba as u64 - 2048) * 512).unwrap();
            }
        }
        self.shown = card.over.clone();
        common::fsck_file(&self.path)
    }
}

fn image(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

fn flash<D: BlockDevice>(card: &mut Card<D>, img: &[u8]) -> Result<(), CardError> {
    let mut w = card.begin_boot_image(img.len() as u32)?;
    for c in img.chunks(1024) {
        card.boot_write(&mut w, c)?;
    }
    card.boot_commit(w, |_: &mut dyn ReadAt| Ok::<(), ()>(()))
        .map_err(|e| match e {
            libsdcard::CommitError::Card(e) => e,
            libsdcard::CommitError::Invalid(()) => unreachable!(),
        })
}

/// The file is `img` followed by zeros only.
fn holds(file: &[u8], img: &[u8]) -> bool {
    file.len() >= img.len() && &file[..img.len()] == img && file[img.len()..].iter().all(|&b| b == 0)
}

/// fsck's only complaints are lost clusters / differing FAT copies.
fn only_lost_clusters(report: &str) -> bool {
    report.lines().all(|l| {
        let l = l.trim();
        l.is_empty()
            || l.starts_with("fsck.fat")
            || l.starts_with("FATs differ")
            || l.starts_with("Using first FAT")
            || l.starts_with("Reclaimed")
            || l.starts_with("Free cluster summary uninitialized")
            || l.starts_with("Leaving filesystem unchanged")
            || l.contains(" files, ")
    })
}

struct Sweep {
    points: u64,
    windows: Vec<u64>,
}

/// Runs `op` on a copy of `base` cut after N writes for every N until it
/// completes; `check` judges the card left. `strict`: fsck must be clean.
fn sweep(
    base: &Cow,
    strict: bool,
    op: impl Fn(&mut Card<PowerCut<Cow>>) -> Result<(), CardError>,
    check: impl Fn(&mut Card<Cow>, u64),
) -> Sweep {
    let tools = common::tools();
    let mut fsck = tools.then(|| FsckFile::new(base));
    let mut windows = Vec::new();
    for n in 0.. {
        // Torn: a multi-block write (a boot image's 32 KiB runs) crossing
        // the cut point reaches the card up to it, as on a card that loses
        // power in the middle of a CMD25.
        let dev = PowerCut::new(base.clone(), Some(n)).tearing();
        let mut card = Card::mount(dev).unwrap();
        let r = op(&mut card);
        let dev = card.unmount();
        let done = !dev.was_cut();
        match &r {
            Ok(()) => assert!(done, "N={n}: success reported after a power cut"),
            Err(e) => assert_eq!(*e, CardError::Io(BlockError::PowerCut), "N={n}"),
        }
        let cow = dev.into_inner();
        let mut card = Card::mount(cow.clone()).unwrap();
        check(&mut card, n);
        if let Some(f) = &mut fsck {
            if let Err(report) = f.check(&cow) {
                assert!(
                    !strict && only_lost_clusters(&report),
                    "N={n}: fsck.fat -n failed:\n{report}"
                );
                windows.push(n);
            }
        }
        if done {
            return Sweep { points: n + 1, windows };
        }
    }
    unreachable!()
}

fn read_boot(card: &mut Card<Cow>) -> Vec<u8> {
    let mut v = Vec::new();
    card.read_file("/BOOT.BIN", &mut v).unwrap();
    v
}

fn key(card: &mut Card<Cow>, k: &str) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    match card.config_read(k, &mut v) {
        Ok(()) => Some(v),
        Err(CardError::NotFound) => None,
        Err(e) => panic!("{e}"),
    }
}

fn our_card() -> (Cow, Vec<u8>) {
    let mut d = MemDevice::new(40 * 2048);
    format_fat32(&mut d, 1).unwrap();
    let mut card = Card::mount(d).unwrap();
    card.reserve_boot_spare(300_000).unwrap();
    let a = image(200_000, 1);
    flash(&mut card, &a).unwrap();
    card.reserve_boot_spare(300_000).unwrap();
    card.config_write("log_level", b"INFO").unwrap();
    card.config_write("device_map", &[7; 300]).unwrap();
    (Cow::new(card.unmount().into_bytes()), a)
}

#[test]
fn flash_is_atomic_at_every_block_write() {
    let (base, a) = our_card();
    let b = image(250_000, 2);
    let s = sweep(
        &base,
        true,
        |c| flash(c, &b),
        |c, n| {
            let f = read_boot(c);
            assert!(holds(&f, &a) || holds(&f, &b), "N={n}: BOOT.BIN is neither image");
            assert_eq!(key(c, "log_level").unwrap(), b"INFO");
        },
    );
    // One cut point per data block of B (250 000 bytes) and the commit.
    assert!(s.points > 250_000 / 512, "{}", s.points);
    eprintln!("flash sweep: {} cut points, fsck clean at all", s.points);
}

#[test]
fn config_text_write_is_atomic() {
    let (base, _) = our_card();
    for (k, v, old) in [
        ("log_level", &b"DEBUG"[..], Some(&b"INFO"[..])),
        ("new_key", b"1", None),
        ("device_map", b"now text", Some(&[7u8; 300][..])),
    ] {
        let s = sweep(
            &base,
            k != "device_map",
            |c| c.config_write(k, v),
            |c, n| {
                let got = key(c, k);
                assert!(got.as_deref() == Some(v) || got.as_deref() == old, "N={n} {k}: {got:?}");
                if k != "log_level" {
                    assert_eq!(key(c, "log_level").unwrap(), b"INFO");
                }
            },
        );
        eprintln!(
            "config write {k}: {} cut points, lost-cluster windows at {:?}",
            s.points, s.windows
        );
    }
}

#[test]
fn config_bin_write_remove_and_erase_keep_old_or_new() {
    let (base, _) = our_card();
    let v = [9u8; 1500];
    let s = sweep(
        &base,
        false,
        |c| c.config_write("device_map", &v),
        |c, n| {
            let got = key(c, "device_map").unwrap();
            assert!(got == v || got == [7; 300], "N={n}");
        },
    );
    eprintln!(
        "config .BIN rewrite: {} cut points, lost-cluster windows at {:?}",
        s.points, s.windows
    );
    let s = sweep(
        &base,
        false,
        |c| c.config_write("Long_Binary_Key", &v),
        |c, n| {
            let got = key(c, "long_binary_key");
            assert!(got.is_none() || got.as_deref() == Some(&v[..]), "N={n}");
        },
    );
    eprintln!(
        "config new .BIN: {} cut points, lost-cluster windows at {:?}",
        s.points, s.windows
    );
    let s = sweep(
        &base,
        false,
        |c| c.config_remove("device_map"),
        |c, n| {
            let got = key(c, "device_map");
            assert!(got.is_none() || got.as_deref() == Some(&[7; 300][..]), "N={n}");
        },
    );
    eprintln!(
        "config remove: {} cut points, lost-cluster windows at {:?}",
        s.points, s.windows
    );
    let s = sweep(
        &base,
        false,
        |c| c.config_erase(),
        |c, n| {
            for (k, old) in [("device_map", &[7u8; 300][..]), ("log_level", b"INFO")] {
                let got = key(c, k);
                assert!(got.is_none() || got.as_deref() == Some(old), "N={n}");
            }
        },
    );
    eprintln!(
        "config erase: {} cut points, lost-cluster windows at {:?}",
        s.points, s.windows
    );
}

#[test]
fn first_flash_on_a_hand_made_card_keeps_the_old_image() {
    if !common::tools() {
        return;
    }
    let path = common::mkfs_card(8, 16);
    let a = image(100_000, 3);
    common::mcopy_bytes(&path, &a, "::BOOT.BIN");
    let base = Cow::new(std::fs::read(&path).unwrap());
    drop(FileDevice::open(&path).unwrap());
    let b = image(120_000, 4);
    let s = sweep(
        &base,
        false,
        |c| flash(c, &b),
        |c, n| {
            let f = read_boot(c);
            assert!(holds(&f, &a) || holds(&f, &b), "N={n}");
        },
    );
    eprintln!(
        "first flash (spare made): {} cut points, lost-cluster windows at {:?}",
        s.points, s.windows
    );
    assert!(s.windows.len() <= 4, "{:?}", s.windows);
}
