//! CPU0's recovery from itself (issue 9 item 4): a panic keeps the log's
//! tail in the crash region ([`satman::crashlog`], survives a soft reset)
//! and resets the system through the SLCR instead of halting; the next boot
//! puts those lines back into the log `CoreMgmtGetLog` serves and counts the
//! crash. A panic loop (crashes within [`LOOP_WINDOW_US`] of boot, several
//! in a row) ends in a halt instead, with the reason on the console.
//!
//! The hardware watchdog (the SWDT, [`super::watchdog`]) resets a CPU0 that
//! hangs without panicking; it leaves no crash record, only the reboot.

use core::sync::atomic::{AtomicU32, Ordering};

use super::boot::regions;
use super::logger;
use super::time;

/// A crash this soon after boot counts towards a crash loop.
pub const LOOP_WINDOW_US: u64 = 10_000_000;
/// Crashes in a row, each within [`LOOP_WINDOW_US`] of its boot, before the
/// firmware halts instead of resetting once more.
pub const LOOP_LIMIT: u32 = 4;

/// The previous run's crash count (0: it did not crash). CPU0.
static PREVIOUS: AtomicU32 = AtomicU32::new(0);

/// The crash region.
///
/// # Safety
/// CPU0 only, and no slice an earlier call returned is used after this
/// call (the region has one user at a time).
unsafe fn region() -> &'static mut [u8] {
    let r = regions::crashlog();
    // SAFETY: the linker's crash region, used by nothing else; the caller
    // makes this the only live view of it.
    unsafe { core::slice::from_raw_parts_mut(r.start as *mut u8, r.len()) }
}

/// At boot, after the logger is up: a valid record becomes log lines (and
/// is then forgotten). Returns the crash count it held.
pub fn take_previous() -> u32 {
    // SAFETY: CPU0 at boot, the region's first user; a panic in here goes to
    // `save_and_reset`, which never returns to this frame.
    let region = unsafe { region() };
    let Some(record) = satman::crashlog::read(region) else { return 0 };
    let count = record.count;
    log::error!(
        "previous run crashed (crash {} in a row); its last {} bytes of log follow",
        count,
        record.text.len()
    );
    logger::with_log_buffer(|b| {
        b.write(b"----- previous run -----\n");
        b.write(record.text);
        b.write(b"\n----- end of previous run -----\n");
    });
    satman::crashlog::clear(region);
    PREVIOUS.store(count, Ordering::Relaxed);
    count
}

/// The crash count found at boot (0 if the previous run did not crash).
pub fn previous() -> u32 {
    PREVIOUS.load(Ordering::Relaxed)
}

/// From CPU0's panic handler, after the panic line is in the log: keep the
/// log's tail, then reset, unless this is a crash loop (returns to halt).
pub(super) fn save_and_reset() {
    let count = if time::now_us() < LOOP_WINDOW_US { previous() + 1 } else { 1 };
    // SAFETY: CPU0's panic handler: whatever used the region before (a
    // panic inside `take_previous`) is never returned to, since this ends in
    // a reset or a halt.
    let region = unsafe { region() };
    let saved = logger::with_log_buffer(|b| {
        let (a, c) = b.as_slices();
        satman::crashlog::write_parts(region, count, &[a, c])
    });
    if saved.is_none() {
        // The log's lock is held (the panic came from inside the logger):
        // keep at least that a crash happened.
        satman::crashlog::write(region, count, b"(log locked at the panic)");
    }
    super::cache::clean_range(region.as_ptr() as usize, region.len());
    if count >= LOOP_LIMIT {
        logger::panic_write(super::cpu::Cpu::Cpu0, format_args!("{count} crashes in a row within seconds of boot: halting"));
        return;
    }
    logger::panic_write(super::cpu::Cpu::Cpu0, format_args!("resetting the system (crash {count})"));
    let _ = logger::flush(time::Instant::after(core::time::Duration::from_millis(50)));
    super::slcr::soft_reset()
}
