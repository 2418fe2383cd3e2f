//! The controller's registers in the physical address space (MMU off, or
//! mapped as device memory).

use super::regs::Regs;

/// Volatile access to one controller's 256-byte register window.
pub struct Mmio {
    base: usize,
    delay_us: fn(u32),
}

impl Mmio {
    /// The controller at `base` ([`super::SD0_BASE`] or [`super::SD1_BASE`]);
    /// `delay_us` waits about that many microseconds (the platform's timer).
    ///
    /// # Safety
    /// `base` must be an SD host controller's register window, accessible
    /// as device memory, and nothing else may drive that controller while
    /// this value exists.
    pub const unsafe fn new(base: usize, delay_us: fn(u32)) -> Mmio {
        Mmio { base, delay_us }
    }
}

impl Regs for Mmio {
    fn read32(&mut self, offset: usize) -> u32 {
        debug_assert!(offset < 0x100 && offset % 4 == 0);
        // SAFETY: `new`'s contract makes base..base+0x100 this controller's
        // registers; the driver only passes aligned offsets inside the window.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        debug_assert!(offset < 0x100 && offset % 4 == 0);
        // SAFETY: as in `read32`; this value owns the controller exclusively.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }

    fn delay_us(&mut self, us: u32) {
        (self.delay_us)(us)
    }
}
