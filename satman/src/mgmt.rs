//! Core management over DRTIO: the log, configuration, reboot and flashing
//! a new boot image.
//!
//! Long values (the log, a config value) are served in slices from a copy
//! staged on the first request, so concurrent logging cannot tear them. A
//! boot image is verified against its CRC-32 before anything is written; a
//! bad image or a failed write is logged and the satellite keeps running
//! its current firmware.

use alloc::string::String;
use alloc::vec::Vec;

use libdrtio::{Packet, SAT_PAYLOAD_MAX_SIZE};
use libio::{Cursor, Read};
use log::{error, info, warn, LevelFilter};

use crate::hal::{ConfigError, ConfigStore, Platform, System};
use crate::satellite::Satellite;

/// Largest config value or boot image accepted.
const MAX_UPLOAD: usize = 64 << 20;
/// Delay between the reply and the reboot, so the reply leaves first.
const REBOOT_DELAY_US: u64 = 20_000;

#[derive(Default)]
pub struct Mgmt {
    /// Log copy being served, and how much of it was sent.
    log: Option<(Vec<u8>, usize)>,
    /// Config value being served.
    value: Option<(Vec<u8>, usize)>,
    /// `ConfigWrite` payload being received.
    write: Vec<u8>,
    /// Boot image being received (BOOT.BIN + CRC-32).
    flash: Option<Vec<u8>>,
    /// The whole image arrived; waiting for `DropLinkAck` to apply it.
    flash_complete: bool,
    reboot_at: Option<u64>,
}

/// Parses a log level name, as `log_level` / `uart_log_level` take it.
pub fn parse_level(s: &[u8]) -> Option<LevelFilter> {
    let s = core::str::from_utf8(s).ok()?.trim();
    Some(match () {
        _ if s.eq_ignore_ascii_case("off") => LevelFilter::Off,
        _ if s.eq_ignore_ascii_case("error") => LevelFilter::Error,
        _ if s.eq_ignore_ascii_case("warn") => LevelFilter::Warn,
        _ if s.eq_ignore_ascii_case("info") => LevelFilter::Info,
        _ if s.eq_ignore_ascii_case("debug") => LevelFilter::Debug,
        _ if s.eq_ignore_ascii_case("trace") => LevelFilter::Trace,
        _ => return None,
    })
}

/// Splits a `ConfigWrite` payload: u32 key length, key, u32 value length, value.
fn parse_write(payload: &[u8]) -> Option<(&str, &[u8])> {
    let mut r = Cursor::new(payload);
    let klen = r.read_u32().ok()? as usize;
    let key = core::str::from_utf8(r.take(klen).ok()?).ok()?;
    let vlen = r.read_u32().ok()? as usize;
    let value = r.take(vlen).ok()?;
    Some((key, value))
}

fn append(buf: &mut Vec<u8>, data: &[u8]) -> bool {
    if buf.len() + data.len() > MAX_UPLOAD || buf.try_reserve(data.len()).is_err() {
        return false;
    }
    buf.extend_from_slice(data);
    true
}

impl<P: Platform> Satellite<P> {
    fn mgmt_reply(&mut self, succeeded: bool) {
        self.reply(&Packet::CoreMgmtReply { succeeded });
    }

    pub(crate) fn handle_mgmt(&mut self, packet: Packet<'_>) {
        match packet {
            Packet::CoreMgmtGetLogRequest { clear, .. } => {
                if self.mgmt.log.is_none() {
                    match self.hw.system.log_snapshot(clear) {
                        Some(log) => self.mgmt.log = Some((log, 0)),
                        None => return self.mgmt_reply(false),
                    }
                }
                let Some((log, sent)) = self.mgmt.log.as_mut() else { return };
                let end = (*sent + SAT_PAYLOAD_MAX_SIZE).min(log.len());
                let chunk = log[*sent..end].to_vec();
                *sent = end;
                let last = end == log.len();
                if last {
                    self.mgmt.log = None;
                }
                self.reply(&Packet::CoreMgmtGetLogReply { last, data: &chunk });
            }
            Packet::CoreMgmtClearLogRequest { .. } => {
                self.hw.system.log_clear();
                self.mgmt_reply(true);
            }
            Packet::CoreMgmtConfigReadRequest { key, .. } => {
                let mut value = Vec::new();
                let ok = key.is_ascii()
                    && core::str::from_utf8(key).is_ok_and(|k| self.hw.config.read(k, &mut value).is_ok());
                if !ok {
                    return self.mgmt_reply(false);
                }
                self.mgmt.value = Some((value, 0));
                self.serve_value();
            }
            Packet::CoreMgmtConfigReadContinue { .. } => {
                if self.mgmt.value.is_none() {
                    return self.mgmt_reply(false);
                }
                self.serve_value();
            }
            Packet::CoreMgmtConfigWriteRequest { last, data, .. } => {
                if !append(&mut self.mgmt.write, data) {
                    self.mgmt.write = Vec::new();
                    warn!("config write too large or out of memory");
                    return self.mgmt_reply(false);
                }
                if !last {
                    return self.mgmt_reply(true);
                }
                let payload = core::mem::take(&mut self.mgmt.write);
                let ok = self.config_write(&payload);
                self.mgmt_reply(ok);
            }
            Packet::CoreMgmtConfigRemoveRequest { key, .. } => {
                let ok = match core::str::from_utf8(key) {
                    Ok(k) => matches!(self.hw.config.remove(k), Ok(()) | Err(ConfigError::NotFound)),
                    Err(_) => false,
                };
                self.mgmt_reply(ok);
            }
            Packet::CoreMgmtConfigEraseRequest { .. } => {
                let ok = self.hw.config.erase().is_ok();
                self.mgmt_reply(ok);
            }
            Packet::CoreMgmtRebootRequest { .. } => {
                info!("reboot requested");
                self.mgmt_reply(true);
                self.mgmt.reboot_at = Some(self.now() + REBOOT_DELAY_US);
            }
            Packet::CoreMgmtAllocatorDebugRequest { .. } => {
                let h = self.hw.system.heap_summary();
                let a = self.store.arena_stats();
                info!(
                    "heap: CPU0 {}/{} bytes, CPU1 {}/{} bytes; DMA store {}/{} bytes in {} blocks (peak {})",
                    h.cpu0_used, h.cpu0_capacity, h.cpu1_used, h.cpu1_capacity, a.in_use, a.capacity, a.blocks, a.peak
                );
                self.mgmt_reply(true);
            }
            Packet::CoreMgmtFlashRequest { payload_length, .. } => {
                // The length is only a hint: memory is taken chunk by chunk
                // as the image arrives, so a bogus request reserves nothing.
                let ok = payload_length as usize <= MAX_UPLOAD;
                self.mgmt.flash = ok.then(Vec::new);
                self.mgmt.flash_complete = false;
                self.mgmt_reply(ok);
            }
            Packet::CoreMgmtFlashAddDataRequest { last, data, .. } => {
                let ok = match self.mgmt.flash.as_mut() {
                    Some(buf) => append(buf, data),
                    None => false,
                };
                if !ok {
                    warn!("flash data refused (no flash request, too large, or out of memory)");
                    self.mgmt.flash = None;
                    return self.mgmt_reply(false);
                }
                if last {
                    self.mgmt.flash_complete = true;
                    self.reply(&Packet::CoreMgmtDropLink);
                } else {
                    self.mgmt_reply(true);
                }
            }
            Packet::CoreMgmtDropLinkAck { .. } if self.mgmt.flash_complete => self.apply_flash(),
            _ => {}
        }
    }

    fn serve_value(&mut self) {
        let Some((value, sent)) = self.mgmt.value.as_mut() else { return };
        let end = (*sent + SAT_PAYLOAD_MAX_SIZE).min(value.len());
        let chunk = value[*sent..end].to_vec();
        *sent = end;
        let last = end == value.len();
        if last {
            self.mgmt.value = None;
        }
        self.reply(&Packet::CoreMgmtConfigReadReply { last, value: &chunk });
    }

    fn config_write(&mut self, payload: &[u8]) -> bool {
        let Some((key, value)) = parse_write(payload) else {
            warn!("malformed config write");
            return false;
        };
        let level = match key {
            "log_level" | "uart_log_level" => match parse_level(value) {
                Some(l) => Some(l),
                None => {
                    warn!("invalid log level for {}", key);
                    return false;
                }
            },
            _ => None,
        };
        if let Err(e) = self.hw.config.write(key, value) {
            warn!("config write of {} failed: {:?}", key, e);
            return false;
        }
        match (key, level) {
            ("log_level", Some(l)) => log::set_max_level(l),
            ("uart_log_level", Some(l)) => self.hw.system.set_uart_log_level(l),
            _ => {}
        }
        true
    }

    fn apply_flash(&mut self) {
        self.mgmt.flash_complete = false;
        let Some(image) = self.mgmt.flash.take() else { return };
        if image.len() < 4 {
            error!("flash image too short; keeping the current firmware");
            return;
        }
        let (body, crc) = image.split_at(image.len() - 4);
        let expected = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let actual = libdrtio::checksum(body);
        if expected != actual {
            error!("flash image CRC mismatch ({:#010x} != {:#010x}); keeping the current firmware", actual, expected);
            return;
        }
        match self.hw.config.write_boot_image(body) {
            Ok(()) => {
                info!("new boot image written ({} bytes), rebooting", body.len());
                self.mgmt.reboot_at = Some(self.now() + REBOOT_DELAY_US);
            }
            Err(e) => error!("writing the boot image failed: {:?}; keeping the current firmware", e),
        }
    }

    pub(crate) fn poll_mgmt(&mut self) {
        if let Some(at) = self.mgmt.reboot_at {
            if self.now() >= at {
                self.mgmt.reboot_at = None;
                self.hw.system.reboot();
            }
        }
    }

    /// Reads `log_level` / `uart_log_level` from the configuration (boot).
    pub fn apply_log_config(&mut self) {
        let mut v = Vec::new();
        if self.hw.config.read("log_level", &mut v).is_ok() {
            if let Some(l) = parse_level(&v) {
                log::set_max_level(l);
            }
        }
        v.clear();
        if self.hw.config.read("uart_log_level", &mut v).is_ok() {
            if let Some(l) = parse_level(&v) {
                self.hw.system.set_uart_log_level(l);
            }
        }
    }
}

/// A config store in RAM, for boards without an SD card driver (QEMU) and
/// tests.
#[derive(Default)]
pub struct RamConfig {
    entries: alloc::collections::BTreeMap<String, Vec<u8>>,
    pub boot_image: Option<Vec<u8>>,
}

impl ConfigStore for RamConfig {
    fn read(&mut self, key: &str, out: &mut Vec<u8>) -> Result<(), ConfigError> {
        let v = self.entries.get(key).ok_or(ConfigError::NotFound)?;
        out.extend_from_slice(v);
        Ok(())
    }

    fn write(&mut self, key: &str, value: &[u8]) -> Result<(), ConfigError> {
        if key == "boot" {
            return self.write_boot_image(value);
        }
        self.entries.insert(String::from(key), value.to_vec());
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Result<(), ConfigError> {
        self.entries.remove(key).map(|_| ()).ok_or(ConfigError::NotFound)
    }

    fn write_boot_image(&mut self, image: &[u8]) -> Result<(), ConfigError> {
        self.boot_image = Some(image.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_case_insensitively() {
        assert_eq!(parse_level(b"TRACE"), Some(LevelFilter::Trace));
        assert_eq!(parse_level(b"warn"), Some(LevelFilter::Warn));
        assert_eq!(parse_level(b"Off"), Some(LevelFilter::Off));
        assert_eq!(parse_level(b"loud"), None);
        assert_eq!(parse_level(&[0xff]), None);
    }

    #[test]
    fn write_payload_parses_and_rejects_truncation() {
        let mut p = Vec::new();
        p.extend_from_slice(&9u32.to_le_bytes());
        p.extend_from_slice(b"log_level");
        p.extend_from_slice(&4u32.to_le_bytes());
        p.extend_from_slice(b"info");
        assert_eq!(parse_write(&p), Some(("log_level", &b"info"[..])));
        for n in 0..p.len() {
            assert_eq!(parse_write(&p[..n]), None);
        }
    }
}
