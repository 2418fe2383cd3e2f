//! ARM semihosting, only what the tests need: exiting QEMU with a status.
//!
//! QEMU (`-semihosting`) traps `SVC 0x123456` in ARM state. Without
//! semihosting (silicon with no debugger attached, or QEMU without the
//! flag) the same instruction would be an ordinary SVC into our vector, so
//! on the Kasli-SoC build [`exit`] does not issue it: it logs and halts.

/// SYS_EXIT_EXTENDED: exit with a reason and a status code.
#[cfg(feature = "qemu")]
const SYS_EXIT_EXTENDED: u32 = 0x20;
/// ADP_Stopped_ApplicationExit: "the program ended", the status follows.
#[cfg(feature = "qemu")]
const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x20026;

/// Ends the emulation with `code` as QEMU's exit status. On silicon, logs
/// the request and halts CPU0 (there is nothing to exit to).
pub fn exit(code: u32) -> ! {
    // Let queued log lines out first; bounded.
    let _ = super::logger::flush(super::time::Instant::after(
        core::time::Duration::from_millis(500),
    ));
    #[cfg(feature = "qemu")]
    {
        let block = [ADP_STOPPED_APPLICATION_EXIT, code];
        // SAFETY: the QEMU semihosting exit call reads the two-word block on this stack and ends
        // the emulation; it writes no memory.
        unsafe {
            core::arch::asm!(
                "svc 0x123456",
                inout("r0") SYS_EXIT_EXTENDED => _,
                in("r1") block.as_ptr(),
                options(nostack)
            );
        }
    }
    log::error!("semihosting exit({code}) unavailable; halting");
    super::panic::halt()
}
