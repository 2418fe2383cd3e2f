//! Word access to the gateware, behind a trait so that drivers run on the
//! host against a fake.
//!
//! Only 32-bit accesses exist here, by design: the CSR bridge and the aux
//! controller's memories behind it must never see byte, halfword or burst
//! accesses (artiq-zynq#344: a `memcpy` into an aux buffer corrupts
//! frames). Drivers therefore copy buffers one word at a time through
//! [`Bus`], and there is no slice copy to reach for by mistake.

/// 32-bit register and memory access at byte addresses (word-aligned:
/// every address the drivers use comes from the generated map, whose
/// build-time check refuses unaligned addresses).
pub trait Bus {
    fn read32(&self, addr: usize) -> u32;
    fn write32(&self, addr: usize, value: u32);
}

impl<B: Bus + ?Sized> Bus for &B {
    fn read32(&self, addr: usize) -> u32 {
        (**self).read32(addr)
    }
    fn write32(&self, addr: usize, value: u32) {
        (**self).write32(addr, value)
    }
}

/// Reads `words.len()` consecutive words from `addr`, in address order. For
/// a multi-word CSR that is most significant word first.
pub fn read_wide<B: Bus + ?Sized>(bus: &B, addr: usize, words: &mut [u32]) {
    for (i, w) in words.iter_mut().enumerate() {
        *w = bus.read32(addr.wrapping_add(4 * i));
    }
}

/// Writes `words` to consecutive words from `addr`, in address order. For a
/// multi-word CSR that is most significant word first, so the least
/// significant word, whose write makes the gateware act, goes last.
pub fn write_wide<B: Bus + ?Sized>(bus: &B, addr: usize, words: &[u32]) {
    for (i, &w) in words.iter().enumerate() {
        bus.write32(addr.wrapping_add(4 * i), w);
    }
}

/// The real bus: volatile 32-bit loads and stores.
///
/// Volatile accesses are never merged, split or widened by the compiler, so
/// each call is exactly one `ldr`/`str` of a word. The platform maps the PL
/// (0x4000_0000..0xC000_0000) as shareable device memory, so the CPU keeps
/// them in program order and does not cache or combine them either.
#[cfg(target_arch = "arm")]
#[derive(Debug, Clone, Copy)]
pub struct Mmio {
    _private: (),
}

#[cfg(target_arch = "arm")]
impl Mmio {
    /// # Safety
    ///
    /// The PL must be configured with the gateware the CSR map describes
    /// (bitstream loaded, PS-PL level shifters enabled, AXI GP1 out of
    /// reset) and its window mapped as device memory; otherwise accesses
    /// fault or hang the interconnect. Drivers given an `Mmio` touch only
    /// the banks they own, so CPU0 and CPU1 may each hold one.
    pub const unsafe fn new() -> Mmio {
        Mmio { _private: () }
    }
}

#[cfg(target_arch = "arm")]
impl Bus for Mmio {
    #[inline(always)]
    fn read32(&self, addr: usize) -> u32 {
        // SAFETY: `Mmio::new`'s contract; `addr` comes from the validated map.
        unsafe { core::ptr::read_volatile(addr as *const u32) }
    }

    #[inline(always)]
    fn write32(&self, addr: usize, value: u32) {
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
    }
}
