//! System Level Control Registers: the write-protection unlock/lock dance.
//!
//! The PAC has the SLCR block (`zynq7000::slcr`) with its `unlock`/`lock`
//! registers; this wraps them so that every SLCR write happens between an
//! unlock and a lock. CPU0 only (there is one lock state for both CPUs).

/// SLCR_UNLOCK key (Zynq TRM, SLCR register summary).
const UNLOCK_KEY: u32 = 0xDF0D;
/// SLCR_LOCK key.
const LOCK_KEY: u32 = 0x767B;

/// Runs `f` with the SLCR unlocked, with IRQs masked so no handler sees the
/// unlocked state.
pub fn with_unlocked<T>(f: impl FnOnce() -> T) -> T {
    super::cpu::irq_free(|| {
        // SAFETY: the SLCR's fixed address; CPU0 alone writes it (module docs), with IRQs masked
        // here, so the unlock/lock pair cannot interleave with another writer.
        let mut slcr = unsafe { zynq7000::slcr::Registers::new_mmio_fixed() };
        slcr.write_unlock(UNLOCK_KEY);
        let r = f();
        slcr.write_lock(LOCK_KEY);
        r
    })
}

/// Resets the whole processing system (PSS_RST_CTRL.SOFT_RST, Zynq TRM
/// 26.2.2): a reboot through the BootROM on silicon, a machine reset in QEMU.
pub fn soft_reset() -> ! {
    with_unlocked(|| {
        // SAFETY: the SLCR reset block at its fixed address, reached only with the SLCR unlocked
        // by CPU0; the reset ends this program.
        let mut rst = unsafe { zynq7000::slcr::reset::ResetControl::new_mmio_fixed() };
        rst.write_pss(zynq7000::slcr::reset::PsResetControl::new_with_raw_value(1));
    });
    loop {
        super::cpu::wfi();
    }
}
