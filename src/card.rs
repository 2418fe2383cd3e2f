//! SD card images for the Kasli-SoC and QEMU's `-drive if=sd`, made with
//! libsdcard so their layout is the one the firmware writes: MBR, FAT32
//! partition 1, `/BOOT.BIN` with its spare `/BOOT.NEW` reserved (so the
//! first flash over DRTIO needs no allocation), `/CONFIG.TXT`,
//! `/CONFIG/<KEY>.BIN`. `satctl sdcard make` and the QEMU flash tests use
//! [`make_card`].

use std::path::Path;

use libsdcard::format::format_fat32;
use libsdcard::{Card, CommitError, FileDevice, ReadAt};

/// What a card holds.
#[derive(Debug, Clone, Default)]
pub struct CardSpec<'a> {
    /// Card size in bytes (at least 40 MiB: FAT32).
    pub size: u64,
    pub boot: Option<&'a [u8]>,
    /// Room reserved for BOOT.BIN and again for its spare (default: the
    /// larger of the image and min(32 MiB, (size - 8 MiB) / 8)).
    pub boot_capacity: Option<u64>,
    pub config: Vec<(String, Vec<u8>)>,
}

/// What [`make_card`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Made {
    pub boot_bytes: u64,
    pub boot_capacity: u32,
}

/// Writes a card image to `path` (overwriting it).
pub fn make_card(path: &Path, spec: &CardSpec) -> Result<Made, String> {
    let blocks = u32::try_from(spec.size / 512).map_err(|_| "card size too large".to_string())?;
    let mut dev = FileDevice::create(path, blocks).map_err(|e| format!("{}: {e}", path.display()))?;
    let serial = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32);
    format_fat32(&mut dev, serial).map_err(|e| format!("card of {} bytes: {e}", spec.size))?;
    let mut card = Card::mount(dev).map_err(|e| e.to_string())?;
    let boot_len = spec.boot.map_or(0, |b| b.len() as u64);
    // An eighth of the card, at most 32 MiB: room for BOOT.BIN and its
    // spare while the FAT stays short to scan on a small card (cards under
    // 260 MiB get 512-byte clusters; the first config write allocates
    // behind the two images, and the master waits only 200 ms).
    let capacity = spec.boot_capacity.unwrap_or_else(|| (32u64 << 20).min(spec.size.saturating_sub(8 << 20) / 8)).max(boot_len);
    let capacity = u32::try_from(capacity).map_err(|_| "boot capacity too large".to_string())?;
    if let Some(img) = spec.boot {
        if img.is_empty() {
            return Err("empty boot image".into());
        }
        card.reserve_boot_spare(capacity).map_err(|e| format!("reserving {capacity} bytes for BOOT.BIN: {e}"))?;
        let mut w = card.begin_boot_image(img.len() as u32).map_err(|e| e.to_string())?;
        card.boot_write(&mut w, img).map_err(|e| e.to_string())?;
        card.boot_commit(w, |r: &mut dyn ReadAt| {
            let mut back = vec![0; r.len() as usize];
            r.read_exact_at(0, &mut back).map_err(|e| e.to_string())?;
            if back == *img {
                Ok(())
            } else {
                Err("BOOT.BIN read back differs".to_string())
            }
        })
        .map_err(|e| match e {
            CommitError::Card(e) => e.to_string(),
            CommitError::Invalid(e) => e,
        })?;
        card.reserve_boot_spare(capacity).map_err(|e| format!("reserving the BOOT.BIN spare: {e}"))?;
    }
    for (k, v) in &spec.config {
        card.config_write(k, v).map_err(|e| format!("config {k}: {e}"))?;
    }
    card.device().sync().map_err(|e| e.to_string())?;
    Ok(Made { boot_bytes: boot_len, boot_capacity: capacity })
}

/// Reads a card image's `/BOOT.BIN` and configuration keys.
pub fn read_card(path: &Path) -> Result<(Vec<u8>, Vec<(String, Vec<u8>)>), String> {
    let dev = FileDevice::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut card = Card::mount(dev).map_err(|e| e.to_string())?;
    let mut boot = Vec::new();
    match card.read_file("BOOT.BIN", &mut boot) {
        Ok(()) | Err(libsdcard::CardError::NotFound) => {}
        Err(e) => return Err(e.to_string()),
    }
    let mut config = Vec::new();
    for k in card.config_keys().map_err(|e| e.to_string())? {
        let mut v = Vec::new();
        card.config_read(&k, &mut v).map_err(|e| e.to_string())?;
        config.push((k, v));
    }
    Ok((boot, config))
}

/// A BOOT.BIN for the QEMU board or the Kasli-SoC: `loader` (satboot, or
/// upstream's szl), an optional bitstream, and the satman firmware ELF with
/// its build id set to `build_id` (a copy is patched; see
/// `satman::build_id`).
pub fn boot_image(loader: &[u8], bitstream: Option<&[u8]>, firmware: &[u8], build_id: Option<&str>) -> Result<Vec<u8>, String> {
    use libbootimage::writer::{build, Input};
    let mut fw = firmware.to_vec();
    if let Some(id) = build_id {
        satman::build_id::patch(&mut fw, id).map_err(|e| format!("setting the build id: {e:?}"))?;
    }
    build(Input::new("satboot.elf", loader), bitstream.map(|b| Input::new("top.bit", b)), Input::new("satman.elf", &fw))
        .map_err(|e| format!("{e:?}"))
}
