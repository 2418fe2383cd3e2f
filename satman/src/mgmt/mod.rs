//! Core management over DRTIO: the log, configuration, reboot, and
//! flashing a new boot image.
//!
//! `Mgmt` owns its state and sees the rest of the satellite only through
//! [`Ctx`]: the configuration store, the board services, the DDMA store's
//! figures and the clock. Each request gets at most one reply, returned to
//! the caller to send.
//!
//! - Long values (the log, a config value) are served in slices from a copy
//!   staged on the first request ([`Chunks`]), so concurrent logging cannot
//!   tear them.
//! - A config write is answered `succeeded: true` only once the store says
//!   the value is on the card; `log_level` / `uart_log_level` take effect
//!   only after that.
//! - A boot image is streamed to the store as it arrives ([`flash`]), its
//!   CRC checked on the last slice (a mismatch is refused at once), then,
//!   after the master's `DropLinkAck`, read back from the card, checked
//!   again (CRC and boot image structure) and only then made the boot image;
//!   the satellite reboots only after that succeeded. Every failure is
//!   logged with its cause and the current firmware keeps running.

mod card;
mod config;
mod image;
pub mod flash;
mod ram;

use alloc::vec::Vec;

use libdma::ArenaStats;
use libdrtio::{Frame, Packet, SAT_PAYLOAD_MAX_SIZE};
use log::{error, info, warn};

pub use config::{parse_level, parse_write, valid_key};
pub use flash::{FlashError, FlashStream};
pub use card::CardStore;
pub use image::check_boot_image;
pub use ram::RamConfig;

use crate::budget::{Budget, Kind};
use crate::chunks::Chunks;
use crate::hal::{ConfigError, ConfigStore, ImageReader, System};

/// Largest `ConfigWrite` payload accepted (key + value + lengths): what CPU0
/// may be made to hold for one write.
pub const MAX_CONFIG_WRITE: usize = 1 << 20;
/// Delay between the reply and the reboot, so the reply leaves first.
const REBOOT_DELAY_US: u64 = 20_000;

/// Checks a boot image's structure before it may replace the current one
/// (the board passes the boot image parser; `None` skips the check).
pub type ImageCheck = fn(&mut dyn ImageReader) -> Result<(), &'static str>;

/// What core management may touch.
pub struct Ctx<'a> {
    pub config: &'a mut dyn ConfigStore,
    pub system: &'a mut dyn System,
    /// The DDMA store's figures, for `CoreMgmtAllocatorDebugRequest`.
    pub arena: ArenaStats,
    pub now_us: u64,
    /// CPU0's memory budget: a config write's payload and a config value
    /// are admitted first (the log is bounded by its ring and always
    /// served: it is how a refusal is diagnosed).
    pub budget: &'a mut Budget,
}

enum Flash {
    Idle,
    Receiving(FlashStream),
    /// The whole image arrived with a good CRC; waiting for `DropLinkAck`.
    Complete { len: u32, crc: u32 },
    /// A slice was refused: later slices are refused too, until the next
    /// `CoreMgmtFlashRequest`.
    Failed,
}

pub struct Mgmt {
    log: Option<Chunks>,
    value: Option<Chunks>,
    /// `ConfigWrite` payload being received.
    write: Vec<u8>,
    flash: Flash,
    /// What the store holds while a flash is received and committed (its
    /// write buffer), admitted at the flash request.
    flash_buffer: usize,
    reboot_at: Option<u64>,
    image_check: Option<ImageCheck>,
}

impl Default for Mgmt {
    /// With the boot image structure check.
    fn default() -> Self {
        Mgmt::new(Some(check_boot_image))
    }
}

impl Mgmt {
    pub fn new(image_check: Option<ImageCheck>) -> Mgmt {
        Mgmt { log: None, value: None, write: Vec::new(), flash: Flash::Idle, flash_buffer: 0, reboot_at: None, image_check }
    }

    /// Drops every transfer in progress (link loss): an unfinished boot
    /// image is abandoned, the current one stays.
    pub fn reset(&mut self, config: &mut dyn ConfigStore) {
        if matches!(self.flash, Flash::Receiving(_) | Flash::Complete { .. }) {
            warn!("flash abandoned: the link went down before it completed");
            config.boot_abort();
        }
        *self = Mgmt::new(self.image_check);
    }

    /// Bytes CPU0 holds for transfers in progress (a flash's: the store's
    /// write buffer, until the commit or abort drops it).
    pub fn held_bytes(&self) -> usize {
        let flash = match self.flash {
            Flash::Receiving(_) | Flash::Complete { .. } => self.flash_buffer,
            Flash::Idle | Flash::Failed => 0,
        };
        self.log.as_ref().map_or(0, Chunks::held) + self.value.as_ref().map_or(0, Chunks::held) + self.write.capacity() + flash
    }

    /// Handles one core management request; returns the reply to send.
    pub fn handle(&mut self, packet: Packet<'_>, ctx: &mut Ctx<'_>) -> Option<Frame> {
        let ok = |succeeded| encode(&Packet::CoreMgmtReply { succeeded });
        match packet {
            Packet::CoreMgmtGetLogRequest { clear, .. } => {
                if self.log.is_none() {
                    match ctx.system.log_snapshot(clear) {
                        Some(log) => self.log = Some(Chunks::new(log)),
                        None => return ok(false),
                    }
                }
                let chunks = self.log.as_mut()?;
                let (data, last) = chunks.next_slice(SAT_PAYLOAD_MAX_SIZE);
                let reply = encode(&Packet::CoreMgmtGetLogReply { last, data });
                if last {
                    // Served in full: the next request takes a new copy.
                    self.log = None;
                }
                reply
            }
            Packet::CoreMgmtClearLogRequest { .. } => {
                ctx.system.log_clear();
                ok(true)
            }
            Packet::CoreMgmtConfigReadRequest { key, .. } => {
                self.value = None;
                let Some(key) = core::str::from_utf8(key).ok().filter(|k| valid_key(k)) else {
                    warn!("config read: invalid key");
                    return ok(false);
                };
                let mut value = Vec::new();
                match ctx.config.read(key, &mut value) {
                    Ok(()) => {}
                    Err(ConfigError::NotFound) => return ok(false),
                    Err(e) => {
                        warn!("config read of {} failed: {:?}", key, e);
                        return ok(false);
                    }
                }
                if ctx.budget.admit(Kind::Mgmt, value.capacity()).is_err() {
                    warn!("config read of {} refused: CPU0 memory budget", key);
                    return ok(false);
                }
                self.value = Some(Chunks::new(value));
                self.value_reply()
            }
            Packet::CoreMgmtConfigReadContinue { .. } => {
                if self.value.is_none() {
                    return ok(false);
                }
                self.value_reply()
            }
            Packet::CoreMgmtConfigWriteRequest { last, data, .. } => {
                // What `try_reserve` may add: it grows geometrically.
                let size = self.write.len().saturating_add(data.len());
                let cap = self.write.capacity();
                let growth = if size > cap { cap.saturating_mul(2).max(size) - cap } else { 0 };
                if size > MAX_CONFIG_WRITE
                    || ctx.budget.admit(Kind::Mgmt, growth).is_err()
                    || self.write.try_reserve(data.len()).is_err()
                {
                    self.write = Vec::new();
                    warn!("config write refused: over {} bytes, over CPU0's memory budget or out of memory", MAX_CONFIG_WRITE);
                    return ok(false);
                }
                self.write.extend_from_slice(data);
                if !last {
                    return ok(true);
                }
                let payload = core::mem::take(&mut self.write);
                ok(config_write(ctx, &payload))
            }
            Packet::CoreMgmtConfigRemoveRequest { key, .. } => {
                let Some(key) = core::str::from_utf8(key).ok().filter(|k| valid_key(k)) else {
                    warn!("config remove: invalid key");
                    return ok(false);
                };
                match ctx.config.remove(key) {
                    Ok(()) | Err(ConfigError::NotFound) => ok(true),
                    Err(e) => {
                        warn!("config remove of {} failed: {:?}", key, e);
                        ok(false)
                    }
                }
            }
            Packet::CoreMgmtConfigEraseRequest { .. } => match ctx.config.erase() {
                Ok(()) => {
                    info!("configuration erased");
                    ok(true)
                }
                Err(e) => {
                    warn!("config erase failed: {:?}", e);
                    ok(false)
                }
            },
            Packet::CoreMgmtRebootRequest { .. } => {
                info!("reboot requested");
                self.reboot_at = Some(ctx.now_us + REBOOT_DELAY_US);
                ok(true)
            }
            Packet::CoreMgmtAllocatorDebugRequest { .. } => {
                let h = ctx.system.heap_summary();
                let a = ctx.arena;
                info!(
                    "heap: CPU0 {}/{} bytes, CPU1 {}/{} bytes; DMA store {}/{} bytes in {} blocks (peak {})",
                    h.cpu0_used, h.cpu0_capacity, h.cpu1_used, h.cpu1_capacity, a.in_use, a.capacity, a.blocks, a.peak
                );
                ok(true)
            }
            Packet::CoreMgmtFlashRequest { payload_length, .. } => {
                if matches!(self.flash, Flash::Receiving(_) | Flash::Complete { .. }) {
                    ctx.config.boot_abort();
                }
                self.flash = Flash::Failed;
                self.flash_buffer = ctx.config.boot_buffer_bytes();
                if ctx.budget.admit(Kind::Mgmt, self.flash_buffer).is_err() {
                    error!("flash refused: CPU0 memory budget; keeping the current firmware");
                    return ok(false);
                }
                match FlashStream::begin(ctx.config, payload_length) {
                    Ok(s) => {
                        info!("flash: receiving a boot image of {} bytes", payload_length.saturating_sub(4));
                        self.flash = Flash::Receiving(s);
                        ok(true)
                    }
                    Err(e) => {
                        error!("flash refused: {:?}; keeping the current firmware", e);
                        self.flash = Flash::Failed;
                        ok(false)
                    }
                }
            }
            Packet::CoreMgmtFlashAddDataRequest { last, data, .. } => {
                let Flash::Receiving(stream) = &mut self.flash else {
                    if !matches!(self.flash, Flash::Failed) {
                        warn!("flash data without a flash request refused");
                    }
                    return ok(false);
                };
                if let Err(e) = stream.push(ctx.config, data) {
                    error!("flash failed: {:?}; keeping the current firmware", e);
                    ctx.config.boot_abort();
                    self.flash = Flash::Failed;
                    return ok(false);
                }
                if !last {
                    return ok(true);
                }
                let Flash::Receiving(stream) = core::mem::replace(&mut self.flash, Flash::Failed) else { return ok(false) };
                match stream.finish() {
                    Ok((len, crc)) => {
                        info!("flash: {} bytes received, CRC {:#010x} good", len, crc);
                        self.flash = Flash::Complete { len, crc };
                        encode(&Packet::CoreMgmtDropLink)
                    }
                    Err(e) => {
                        error!("flash refused: {:?}; keeping the current firmware", e);
                        ctx.config.boot_abort();
                        ok(false)
                    }
                }
            }
            Packet::CoreMgmtDropLinkAck { .. } => {
                if let Flash::Complete { len, crc } = core::mem::replace(&mut self.flash, Flash::Idle) {
                    self.apply_flash(ctx, len, crc);
                }
                None
            }
            _ => None,
        }
    }

    fn value_reply(&mut self) -> Option<Frame> {
        let chunks = self.value.as_mut()?;
        let (value, last) = chunks.next_slice(SAT_PAYLOAD_MAX_SIZE);
        let reply = encode(&Packet::CoreMgmtConfigReadReply { last, value });
        if last {
            self.value = None;
        }
        reply
    }

    /// Reads the image back from the card, checks it and makes it the boot
    /// image; reboots only if all of that succeeded.
    fn apply_flash(&mut self, ctx: &mut Ctx<'_>, len: u32, crc: u32) {
        let structure = self.image_check;
        let mut check = |r: &mut dyn ImageReader| -> Result<(), ConfigError> {
            if r.len() != len {
                error!("flash: {} bytes on the card, {} received", r.len(), len);
                return Err(ConfigError::BadImage);
            }
            let back = flash::crc_of(r)?;
            if back != crc {
                error!("flash: the image read back from the card has CRC {:#010x}, not {:#010x}", back, crc);
                return Err(ConfigError::BadImage);
            }
            if let Some(structure) = structure {
                if let Err(why) = structure(r) {
                    error!("flash: not a valid boot image: {}", why);
                    return Err(ConfigError::BadImage);
                }
            }
            Ok(())
        };
        match ctx.config.boot_commit(&mut check) {
            Ok(()) => {
                info!("new boot image written ({} bytes), rebooting", len);
                self.reboot_at = Some(ctx.now_us + REBOOT_DELAY_US);
            }
            Err(e) => {
                ctx.config.boot_abort();
                error!("flash: writing the boot image failed: {:?}; keeping the current firmware", e)
            }
        }
    }

    /// Reboots when a reboot is due.
    pub fn poll(&mut self, now_us: u64, system: &mut dyn System) {
        if self.reboot_at.is_some_and(|at| now_us >= at) {
            self.reboot_at = None;
            system.reboot();
        }
    }

    /// Applies `log_level` / `uart_log_level` from the store (boot).
    pub fn apply_log_config(config: &mut dyn ConfigStore, system: &mut dyn System) {
        let mut v = Vec::new();
        match config.read("log_level", &mut v) {
            Ok(()) => match parse_level(&v) {
                Some(l) => log::set_max_level(l),
                None => warn!("config: log_level {:?} is not a level; ignored", core::str::from_utf8(&v)),
            },
            Err(ConfigError::NotFound) => {}
            Err(e) => warn!("config: cannot read log_level: {:?}", e),
        }
        v.clear();
        match config.read("uart_log_level", &mut v) {
            Ok(()) => match parse_level(&v) {
                Some(l) => system.set_uart_log_level(l),
                None => warn!("config: uart_log_level {:?} is not a level; ignored", core::str::from_utf8(&v)),
            },
            Err(ConfigError::NotFound) => {}
            Err(e) => warn!("config: cannot read uart_log_level: {:?}", e),
        }
    }
}

/// The wire form of a reply (encoding only fails on an internal error,
/// which is logged).
fn encode(packet: &Packet<'_>) -> Option<Frame> {
    match Frame::encode(packet) {
        Ok(f) => Some(f),
        Err(e) => {
            error!("cannot encode reply {:#04x}: {}", packet.packet_id(), e);
            None
        }
    }
}

/// Writes one key; applies the log levels once the value is stored.
fn config_write(ctx: &mut Ctx<'_>, payload: &[u8]) -> bool {
    let Some((key, value)) = parse_write(payload) else {
        warn!("malformed config write");
        return false;
    };
    if !valid_key(key) {
        warn!("config write: invalid key {:?}", key);
        return false;
    }
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
    if let Err(e) = ctx.config.write(key, value) {
        warn!("config write of {} failed: {:?}", key, e);
        return false;
    }
    match (key, level) {
        ("log_level", Some(l)) => log::set_max_level(l),
        ("uart_log_level", Some(l)) => ctx.system.set_uart_log_level(l),
        _ => {}
    }
    true
}
