//! Raises in the middle of a DMA recording: `break_realtime`, start
//! recording "satellite_subkernel_ddma", ten pulses (recorded, not output),
//! then an uncaught `ValueError` (id 18) before `dma_record_stop`.
//!
//! ```python
//! self.core.break_realtime()
//! with self.core_dma.record("satellite_subkernel_ddma"):
//!     for _ in range(10):
//!         self.ttl.pulse_mu(500000); delay_mu(500000)
//!     raise ValueError("recording aborted after {0} pulses ({1} mu), code {2}")
//! ```
//!
//! The master must get the exception; the half-made recording must be
//! discarded (nothing in the DDMA store) and no event may reach the RTIO.

#![no_std]

use satman_test_kernels::*;

pub const TTL: i32 = 0x0100_0F00;
const TRACE: Str = Str::new("satellite_subkernel_ddma");
pub const PULSES: i64 = 10;

#[no_mangle]
pub extern "C" fn __modinit__() {
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe {
        break_realtime();
        dma_record_start(TRACE);
        at_mu(0);
        for _ in 0..PULSES {
            rtio_output(TTL, 1);
            delay_mu(500_000);
            rtio_output(TTL, 0);
            delay_mu(500_000);
        }
        let exception = Exception {
            id: exception_id::VALUE_ERROR,
            file: Str::new("raise_while_recording.py"),
            line: 17,
            column: 12,
            function: Str::new("_Z21raise_while_recordingv"),
            message: Str::new("recording aborted after {0} pulses ({1} mu), code {2}"),
            param: [PULSES, now_mu(), -3],
        };
        __artiq_raise(&exception)
    }
}
