//! The Zynq-7000 system watchdog (SWDT, 0xF800_5000; Zynq TRM, "System
//! Watchdog Timer"): the register values that arm it for a timeout and
//! restart it, computed here so they are tested on the host. QEMU 10 models
//! neither the SWDT nor a resetting A9 private watchdog (its `wdt` at
//! 0xF8F0_0620 is a plain timer raising PPI 30), so only this arithmetic is
//! tested; the Kasli-SoC firmware writes these values (platform/watchdog.rs).
//!
//! The counter counts down from `((CRV << 12) | 0xFFF) + 1` ticks of the
//! prescaled clock (CLKSEL: /8, /64, /512, /4096); at zero, with RSTEN set,
//! the SWDT resets the whole system, which reboots through the BootROM.
//! Every write needs its key: MODE ZKEY 0xABC (bits 23:12), CONTROL CKEY
//! 0x248 (bits 25:14), RESTART 0x1999.

/// Register offsets.
pub const MODE: usize = 0x0;
pub const CONTROL: usize = 0x4;
pub const RESTART: usize = 0x8;

/// The RESTART key: writing it reloads the counter (a kick).
pub const RESTART_KEY: u32 = 0x1999;

/// MODE: key, WDEN (bit 0), RSTEN (bit 1), IRQ off, reset pulse length
/// RSTLN (bits 6:4) at its longest.
pub const MODE_ENABLE_RESET: u32 = (0xABC << 12) | (0b111 << 4) | 0b11;
/// MODE: key, everything off.
pub const MODE_OFF: u32 = 0xABC << 12;

/// CONTROL for the shortest setting that lasts at least `timeout_us` with
/// the SWDT clocked at `clock_hz`, and the timeout it gives; `None` if the
/// longest setting is still shorter.
pub fn control_for(timeout_us: u64, clock_hz: u64) -> Option<(u32, u64)> {
    for (clksel, prescale) in [(0u32, 8u64), (1, 64), (2, 512), (3, 4096)] {
        let tick_hz = clock_hz / prescale;
        if tick_hz == 0 {
            continue;
        }
        // Ticks needed, rounded up; the counter holds (crv + 1) << 12.
        let ticks = (timeout_us as u128 * tick_hz as u128).div_ceil(1_000_000) as u64;
        let crv = ticks.div_ceil(1 << 12).saturating_sub(1);
        if crv <= 0xFFF {
            let actual_us = (((crv + 1) << 12) as u128 * 1_000_000 / tick_hz as u128) as u64;
            let control = (0x248 << 14) | ((crv as u32) << 2) | clksel;
            return Some((control, actual_us));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_is_never_shorter_than_asked_and_close_to_it() {
        // CPU_1x of a 667 MHz Zynq (6:2:1): 111 MHz.
        for timeout_us in [100_000u64, 1_000_000, 10_000_000, 60_000_000] {
            let (control, actual) = control_for(timeout_us, 111_111_111).unwrap();
            assert!(actual >= timeout_us, "{timeout_us}: {actual}");
            assert!(actual < timeout_us * 2 + 1000, "{timeout_us}: {actual} is far too long");
            assert_eq!(control >> 14, 0x248, "the key");
        }
        // 10 s at 111 MHz: /512 gives 217 kHz ticks, 2 170 139 ticks, CRV 529.
        let (control, _) = control_for(10_000_000, 111_111_111).unwrap();
        assert_eq!((control & 3, (control >> 2) & 0xFFF), (2, 529));
    }

    #[test]
    fn an_impossible_timeout_is_refused() {
        // The longest: 2^24 ticks of clock / 4096 = 619 s at 111 MHz.
        assert!(control_for(600_000_000, 111_111_111).is_some());
        assert_eq!(control_for(700_000_000, 111_111_111), None);
        assert_eq!(control_for(1_000, 0), None);
    }

    #[test]
    fn mode_words_carry_the_key() {
        assert_eq!(MODE_ENABLE_RESET >> 12, 0xABC);
        assert_eq!(MODE_ENABLE_RESET & 0b11, 0b11);
        assert_eq!(MODE_OFF & 0xFFF, 0);
    }
}
