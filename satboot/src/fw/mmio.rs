//! Volatile 32-bit register access at fixed physical addresses.

/// Reads the register at `addr`.
pub fn read(addr: usize) -> u32 {
    // SAFETY: callers pass the address of a Zynq PS register (constants in
    // this crate), which is always mapped (device memory, or MMU off).
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

/// Writes the register at `addr`.
pub fn write(addr: usize, value: u32) {
    // SAFETY: as in `read`; the loader is the only software running on
    // CPU0 and CPU1 touches none of these registers.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

/// Sets the bits of `mask` in the register at `addr` to `value`.
pub fn modify(addr: usize, mask: u32, value: u32) {
    write(addr, (read(addr) & !mask) | (value & mask));
}

/// SLCR write-protection keys (UG585 ch. 4.3).
const SLCR_LOCK: usize = 0xF800_0004;
const SLCR_UNLOCK: usize = 0xF800_0008;

/// Runs `f` with the SLCR unlocked.
pub fn slcr_unlocked<T>(f: impl FnOnce() -> T) -> T {
    write(SLCR_UNLOCK, 0xDF0D);
    let r = f();
    write(SLCR_LOCK, 0x767B);
    r
}
