//! `satctl image`: build and inspect Zynq boot images (BOOT.BIN), and make a
//! dummy bitstream for QEMU demos and tests. No target: these work on files.
//!
//! ```text
//! satctl image build --loader L.elf [--bitstream top.bit] --firmware satman.elf -o BOOT.BIN
//! satctl image inspect BOOT.BIN
//! satctl image dummy-bitstream -o top.bit [--words N]
//! ```
//!
//! `build` writes what `bootgen -arch zynq` makes of
//! `the_ROM_image: { [bootloader]L.elf top.bit satman.elf }` (byte for byte
//! when each ELF has one PT_LOAD segment; an ELF of several goes in flat, as
//! upstream's mkbootimage does), then validates it and prints its table.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use libbootimage::writer::{Input, Writer};
use libbootimage::{testgen, BootImage, FileReader, ReadAt};

use super::json::Json;

#[derive(Subcommand, Debug, Clone)]
pub enum ImageCommand {
    /// Build a BOOT.BIN: boot loader ELF (szl, an FSBL or satboot; linked in
    /// OCM), optional bitstream (.bit), firmware ELF.
    Build {
        /// The boot loader ELF (the `[bootloader]` partition the BootROM runs).
        #[arg(long, value_name = "ELF")]
        loader: PathBuf,
        /// The PL bitstream (.bit file).
        #[arg(long, value_name = "BIT")]
        bitstream: Option<PathBuf>,
        /// The firmware ELF (e.g. satman, linked at 0x0010_0000).
        #[arg(long, value_name = "ELF")]
        firmware: PathBuf,
        /// Where to write the image.
        #[arg(long, short = 'o', value_name = "BOOT.BIN")]
        output: PathBuf,
        /// Set the satman firmware's build id (reported at boot and in the
        /// QEMU board's READY) in the image, without rebuilding.
        #[arg(long, value_name = "ID")]
        build_id: Option<String>,
    },
    /// Validate a BOOT.BIN and print its boot header, images and partitions.
    Inspect {
        #[arg(value_name = "BOOT.BIN")]
        image: PathBuf,
    },
    /// Write a small fake .bit file (real header, programs nothing).
    DummyBitstream {
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        /// Payload words of configuration data.
        #[arg(long, default_value_t = 256)]
        words: usize,
    },
}

impl ImageCommand {
    pub fn name(&self) -> &'static str {
        match self {
            ImageCommand::Build { .. } => "image build",
            ImageCommand::Inspect { .. } => "image inspect",
            ImageCommand::DummyBitstream { .. } => "image dummy-bitstream",
        }
    }
}

/// Runs an image command; returns the exit status (0 ok, 1 failed).
pub fn run(command: &ImageCommand, json: bool) -> i32 {
    let mut summary = Json::obj().with("ok", false).with("command", command.name());
    let result = match command {
        ImageCommand::Build { loader, bitstream, firmware, output, build_id } => {
            build(loader, bitstream.as_deref(), firmware, output, build_id.as_deref(), json)
        }
        ImageCommand::Inspect { image } => inspect(image, json),
        ImageCommand::DummyBitstream { output, words } => dummy_bitstream(output, *words),
    };
    let code = match result {
        Ok(r) => {
            summary.set("ok", true).set("result", r);
            0
        }
        Err(e) => {
            eprintln!("satctl: {} failed: {e}", command.name());
            summary.set("error", e);
            1
        }
    };
    if json {
        println!("{summary}");
    }
    code
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The file name bootgen would store as the image name.
fn image_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn build(loader: &Path, bitstream: Option<&Path>, firmware: &Path, output: &Path, build_id: Option<&str>, json: bool) -> Result<Json, String> {
    let (l, mut f) = (read(loader)?, read(firmware)?);
    if let Some(id) = build_id {
        satman::build_id::patch(&mut f, id).map_err(|e| format!("--build-id {id:?} in {}: {e:?}", firmware.display()))?;
    }
    let b = bitstream.map(read).transpose()?;
    let names = (image_name(loader), bitstream.map(image_name), image_name(firmware));
    let mut w = Writer::new();
    w.bootloader_elf(Input::new(&names.0, &l)).map_err(|e| format!("{}: {e}", loader.display()))?;
    if let (Some(b), Some(name), Some(path)) = (&b, &names.1, bitstream) {
        w.bitstream(Input::new(name, b)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    w.elf(Input::new(&names.2, &f)).map_err(|e| format!("{}: {e}", firmware.display()))?;
    let image = w.finish().map_err(|e| e.to_string())?;
    // What we write must read back.
    let parsed = BootImage::parse_slice(&image).map_err(|e| format!("the built image does not validate: {e}"))?;
    std::fs::write(output, &image).map_err(|e| format!("{}: {e}", output.display()))?;
    if !json {
        println!("wrote {} ({} bytes)", output.display(), image.len());
        print!("{}", table(&parsed));
    }
    Ok(describe(&parsed).with("output", output.display().to_string()))
}

fn inspect(path: &Path, json: bool) -> Result<Json, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut r = FileReader::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
    let parsed = BootImage::parse(&mut r).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut regs = Vec::new();
    for i in 0..parsed.header.register_init_count {
        if let Ok(Some((a, v))) = parsed.register_init(&mut r, i) {
            regs.push((a, v));
        }
    }
    if !json {
        println!("{}: valid Zynq boot image, {} bytes", path.display(), r.len());
        print!("{}", table(&parsed));
        for (a, v) in &regs {
            println!("register init: [{a:#010x}] = {v:#010x}");
        }
    }
    let regs: Vec<Json> = regs.iter().map(|&(a, v)| Json::obj().with("address", a).with("value", v)).collect();
    Ok(describe(&parsed).with("register_init", regs))
}

fn dummy_bitstream(output: &Path, words: usize) -> Result<Json, String> {
    let bit = testgen::dummy_bitstream(words);
    std::fs::write(output, &bit).map_err(|e| format!("{}: {e}", output.display()))?;
    println!("wrote {} ({} bytes, dummy bitstream)", output.display(), bit.len());
    Ok(Json::obj().with("output", output.display().to_string()).with("bytes", bit.len()))
}

/// The human-readable table of an image.
fn table(p: &BootImage) -> String {
    let h = &p.header;
    let mut s = format!(
        "boot loader: {} bytes at {:#x}, load {:#010x}, exec {:#010x}; header checksum {:#010x}\n",
        h.loader_len, h.source_offset, h.loader_load, h.loader_exec, h.checksum
    );
    s += &format!(
        "tables: image headers at {:#x}, partition headers at {:#x}; {} register-init entries\n",
        h.iht_offset, h.pht_offset, h.register_init_count
    );
    s += &format!(
        "{:>2}  {:<24} {:<4} {:>10} {:>10}  {:>10}  {:>10}  {:>6}\n",
        "#", "image", "dest", "offset", "bytes", "load", "exec", "attr"
    );
    for q in p.partitions() {
        s += &format!(
            "{:>2}  {:<24} {:<4} {:>#10x} {:>10}  {:#010x}  {:#010x}  {:>#6x}\n",
            q.index,
            p.image_of(q).name(),
            q.destination.name(),
            q.offset,
            q.len,
            q.load,
            q.exec,
            q.attributes
        );
    }
    s
}

/// The JSON description of an image.
fn describe(p: &BootImage) -> Json {
    let role = |q: &libbootimage::Partition| {
        if q.index == 0 {
            "bootloader"
        } else if p.first_ps_after_bootloader().is_some_and(|f| f.index == q.index) {
            "application"
        } else if q.destination == libbootimage::Destination::Pl {
            "bitstream"
        } else {
            "other"
        }
    };
    let parts: Vec<Json> = p
        .partitions()
        .iter()
        .map(|q| {
            Json::obj()
                .with("index", q.index)
                .with("image", p.image_of(q).name())
                .with("role", role(q))
                .with("destination", q.destination.name())
                .with("offset", q.offset)
                .with("bytes", q.len)
                .with("load", q.load)
                .with("exec", q.exec)
                .with("attributes", q.attributes)
        })
        .collect();
    Json::obj()
        .with("bytes", p.len)
        .with("loader_bytes", p.header.loader_len)
        .with("header_checksum", p.header.checksum)
        .with("partitions", parts)
}
