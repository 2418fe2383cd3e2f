//! The user's experiment: record the 100 pulses of `ttl_pulses` as the DDMA
//! trace "satellite_subkernel_ddma", then play it back.
//!
//! ```python
//! self.core.break_realtime()
//! with self.core_dma.record("satellite_subkernel_ddma"):   # enable_ddma=True
//!     for _ in range(100):
//!         self.ttl.pulse_mu(500000); delay_mu(500000)
//! handle = self.core_dma.get_handle("satellite_subkernel_ddma")
//! self.core.break_realtime()
//! self.core_dma.playback_handle(handle)
//! ```

#![no_std]

use satman_test_kernels::*;

pub const TTL: i32 = 0x0100_0F00;
const TRACE: Str = Str::new("satellite_subkernel_ddma");

#[no_mangle]
pub extern "C" fn __modinit__() {
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe {
        break_realtime();

        // `with core_dma.record(name)`: recording times are relative to 0.
        dma_record_start(TRACE);
        let saved = now_mu();
        at_mu(0);
        for _ in 0..100 {
            rtio_output(TTL, 1);
            delay_mu(500_000);
            rtio_output(TTL, 0);
            delay_mu(500_000);
        }
        dma_record_stop(now_mu(), true);
        at_mu(saved);

        // `get_handle` then `playback_handle`.
        break_realtime();
        let trace = dma_retrieve(TRACE);
        dma_playback(now_mu(), trace.address, trace.uses_ddma);
        delay_mu(trace.duration);
    }
}
