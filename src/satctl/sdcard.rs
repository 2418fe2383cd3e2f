//! `satctl sdcard make|ls`: SD card images for the Kasli-SoC (and QEMU's
//! `-drive if=sd`), made and read with libsdcard, so the card layout is
//! the one the firmware writes: MBR, FAT32 partition 1, `/BOOT.BIN` with
//! its spare `/BOOT.NEW` (so the first flash over DRTIO needs no
//! allocation), `/CONFIG.TXT` with its spare, `/CONFIG/<KEY>.BIN`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use libsdcard::{Card, FileDevice};

use super::json::Json;

#[derive(Subcommand, Debug, Clone)]
pub enum SdcardCommand {
    /// Make a card image: MBR + FAT32 partition 1 holding BOOT.BIN (and its
    /// spare for crash-safe flashing) and CONFIG.TXT.
    Make(MakeArgs),
    /// List a card image's files and configuration keys.
    Ls {
        /// The card image (or a raw device such as /dev/sdX).
        image: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
pub struct MakeArgs {
    /// The image file to write.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// The boot image to put in /BOOT.BIN.
    #[arg(long, value_name = "BOOT.BIN")]
    pub boot: Option<PathBuf>,
    /// Card size (K, M, G suffixes; at least 40M for FAT32).
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    pub size: u64,
    /// Space reserved for BOOT.BIN and again for its spare (default: the
    /// larger of the image and min(32M, (size - 8M) / 8)).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub boot_capacity: Option<u64>,
    /// A configuration key (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// A configuration key whose value is a file's content (repeatable).
    #[arg(long = "config-file", value_name = "KEY=FILE")]
    pub config_files: Vec<String>,
}

/// `64M` → bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num.parse().map_err(|e| format!("{s:?}: {e}"))?;
    n.checked_mul(mul).ok_or_else(|| format!("{s:?}: too large"))
}

/// Runs an `sdcard` command; returns the exit status.
pub fn main(cmd: &SdcardCommand, json: bool) -> i32 {
    let r = match cmd {
        SdcardCommand::Make(a) => make(a, json),
        SdcardCommand::Ls { image } => ls(image, json),
    };
    match r {
        Ok(summary) => {
            if json {
                println!("{}", summary.with("ok", true));
            }
            0
        }
        Err(e) => {
            eprintln!("satctl: sdcard: {e}");
            if json {
                println!("{}", Json::obj().with("ok", false).with("error", e));
            }
            1
        }
    }
}

fn make(a: &MakeArgs, json: bool) -> Result<Json, String> {
    let boot = match &a.boot {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    let mut config = Vec::new();
    for kv in &a.config {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--config {kv:?}: expected KEY=VALUE"))?;
        config.push((k.to_string(), v.as_bytes().to_vec()));
    }
    for kf in &a.config_files {
        let (k, f) = kf
            .split_once('=')
            .ok_or_else(|| format!("--config-file {kf:?}: expected KEY=FILE"))?;
        config.push((k.to_string(), std::fs::read(f).map_err(|e| format!("{f}: {e}"))?));
    }
    let made = satman_systest::card::make_card(
        &a.output,
        &satman_systest::card::CardSpec { size: a.size, boot: boot.as_deref(), boot_capacity: a.boot_capacity, config: config.clone() },
    )?;
    let (boot_len, capacity) = (made.boot_bytes, made.boot_capacity);
    if !json {
        println!(
            "{}: {} MiB, FAT32 partition 1{}, {} config key(s)",
            a.output.display(),
            a.size >> 20,
            if boot.is_some() {
                format!(", BOOT.BIN {boot_len} bytes (capacity {capacity})")
            } else {
                String::new()
            },
            config.len()
        );
    }
    Ok(Json::obj()
        .with("command", "sdcard make")
        .with("image", a.output.display().to_string())
        .with("size", a.size)
        .with("boot_bytes", boot_len)
        .with("boot_capacity", capacity)
        .with("config_keys", config.len()))
}

fn ls(image: &Path, json: bool) -> Result<Json, String> {
    let dev = FileDevice::open(image).map_err(|e| format!("{}: {e}", image.display()))?;
    let mut card = Card::mount(dev).map_err(|e| format!("{}: {e}", image.display()))?;
    let mut files = Vec::new();
    let mut dirs = vec![String::new()];
    while let Some(d) = dirs.pop() {
        for f in card
            .list(if d.is_empty() { "/" } else { &d })
            .map_err(|e| e.to_string())?
        {
            let path = format!("{d}/{}", f.name);
            if f.is_dir {
                dirs.push(path.clone());
            }
            files.push((path, f.size, f.is_dir));
        }
    }
    files.sort();
    let mut keys = Vec::new();
    for k in card.config_keys().map_err(|e| e.to_string())? {
        let mut v = Vec::new();
        card.config_read(&k, &mut v).map_err(|e| format!("config {k}: {e}"))?;
        keys.push((k, v));
    }
    if !json {
        let info = card.info();
        println!(
            "{}: {}, {} clusters of {} bytes, partition at block {}",
            image.display(),
            if info.fat32 { "FAT32" } else { "FAT16" },
            info.clusters,
            info.cluster_bytes,
            info.partition_lba
        );
        for (p, size, dir) in &files {
            if *dir {
                println!("  {p}/");
            } else {
                println!("  {p}  {size}");
            }
        }
        println!("config:");
        for (k, v) in &keys {
            println!("  {k} = {}", show(v));
        }
    }
    let files_json: Vec<Json> = files
        .iter()
        .map(|(p, s, d)| Json::obj().with("path", p.as_str()).with("size", *s).with("dir", *d))
        .collect();
    let keys_json: Vec<Json> = keys
        .iter()
        .map(|(k, v)| Json::obj().with("key", k.as_str()).with("value", show(v)))
        .collect();
    Ok(Json::obj()
        .with("command", "sdcard ls")
        .with("files", Json::Arr(files_json))
        .with("config", Json::Arr(keys_json)))
}

/// A value for humans: text as is, anything else as its length and hex head.
fn show(v: &[u8]) -> String {
    if libsdcard::config::is_text(v) {
        String::from_utf8_lossy(v).into_owned()
    } else {
        let head: String = v.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("<{} bytes: {head}{}>", v.len(), if v.len() > 16 { "…" } else { "" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("x").is_err());
    }
}
