//! `satctl <link> flash | config | reboot`: core management over the aux
//! link, as `artiq_coremgmt` does it through an ARTIQ master.

use std::path::Path;
use std::time::{Duration, Instant};

use super::commands::{Failed, Out};
use super::json::Json;
use super::progress::Progress;
use super::target::Target;
use super::ConfigCommand;

fn fail(what: String) -> Failed {
    (what, Json::obj())
}

/// A hint when the QEMU board runs without a card.
fn hint(e: &str) -> String {
    if e.contains("refused") {
        format!("{e} (the satellite's log says why: `satctl ... log`; in QEMU, config and flash need --card IMG)")
    } else {
        e.to_string()
    }
}

pub fn flash(target: &mut dyn Target, file: &Path, destination: u8, no_wait: bool, out: &Out, timeout: Duration) -> Result<Json, Failed> {
    let image = std::fs::read(file).map_err(|e| fail(format!("{}: {e}", file.display())))?;
    // Refuse locally what the satellite would refuse, with a better message.
    if let Err(e) = libbootimage::BootImage::parse_slice(&image) {
        return Err(fail(format!("{}: not a boot image: {e}", file.display())));
    }
    let readies = target.readies();
    let mut p = Progress::new("flash", image.len() + 4, !out.json);
    let t = Instant::now();
    target
        .bench()
        .flash(destination, &image, &mut |sent, _| p.tick(sent))
        .map_err(|e| fail(hint(&format!("flash: {e}"))))?;
    p.finish();
    let sent = t.elapsed();
    let rate = image.len() as f64 / sent.as_secs_f64().max(1e-9) / 1e3;
    out.status(&format!("{} bytes sent in {:.1} s ({rate:.0} kB/s); the satellite checks and writes it, then reboots", image.len(), sent.as_secs_f64()));
    let mut j = Json::obj().with("bytes", image.len()).with("send_ms", super::commands::ms(sent)).with("kB_per_s", rate.round());
    if let (Some(n), false) = (readies, no_wait) {
        let id = target.wait_reboot(n, timeout).map_err(|e| fail(format!("after the flash: {e}")))?;
        let back = t.elapsed() - sent;
        println!("flashed {} ({} bytes); back after {:.1} s running build {id}", file.display(), image.len(), back.as_secs_f64());
        j = j.with("reboot_ms", super::commands::ms(back)).with("build_id", id);
    } else {
        println!("flashed {} ({} bytes)", file.display(), image.len());
    }
    Ok(j)
}

pub fn config(target: &mut dyn Target, c: &ConfigCommand, _out: &Out) -> Result<Json, Failed> {
    let b = target.bench();
    match c {
        ConfigCommand::Read { key, destination } => {
            let t = Instant::now();
            let v = b.config_read(*destination, key).map_err(|e| fail(hint(&format!("config read {key}: {e}"))))?;
            let took = t.elapsed();
            match std::str::from_utf8(&v) {
                Ok(s) => println!("{key}={s}"),
                Err(_) => println!("{key}: {} bytes: {}", v.len(), v.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            }
            Ok(Json::obj().with("key", key.as_str()).with("bytes", v.len()).with("value", String::from_utf8_lossy(&v).into_owned()).with("ms", super::commands::ms(took)))
        }
        ConfigCommand::Write { key, value, file, destination } => {
            let v = match (value, file) {
                (Some(v), _) => v.as_bytes().to_vec(),
                (None, Some(f)) => std::fs::read(f).map_err(|e| fail(format!("{}: {e}", f.display())))?,
                (None, None) => return Err(fail("config write: a VALUE or --file".into())),
            };
            let t = Instant::now();
            b.config_write(*destination, key, &v).map_err(|e| fail(hint(&format!("config write {key}: {e}"))))?;
            let took = t.elapsed();
            println!("{key}: {} bytes written", v.len());
            Ok(Json::obj().with("key", key.as_str()).with("bytes", v.len()).with("ms", super::commands::ms(took)))
        }
        ConfigCommand::Remove { key, destination } => {
            b.config_remove(*destination, key).map_err(|e| fail(hint(&format!("config remove {key}: {e}"))))?;
            println!("{key}: removed");
            Ok(Json::obj().with("key", key.as_str()))
        }
        ConfigCommand::Erase { destination } => {
            b.config_erase(*destination).map_err(|e| fail(hint(&format!("config erase: {e}"))))?;
            println!("configuration erased");
            Ok(Json::obj())
        }
    }
}

pub fn reboot(target: &mut dyn Target, destination: u8, timeout: Duration) -> Result<Json, Failed> {
    let readies = target.readies();
    let t = Instant::now();
    target.bench().reboot(destination).map_err(|e| fail(format!("reboot: {e}")))?;
    match readies {
        Some(n) => {
            let id = target.wait_reboot(n, timeout).map_err(|e| fail(format!("after the reboot: {e}")))?;
            println!("rebooted in {:.1} s, running build {id}", t.elapsed().as_secs_f64());
            Ok(Json::obj().with("reboot_ms", super::commands::ms(t.elapsed())).with("build_id", id))
        }
        None => {
            println!("reboot requested");
            Ok(Json::obj())
        }
    }
}
