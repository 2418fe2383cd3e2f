//! The QEMU board's aux link and RTIO model (docs/qemu-link.md).
//!
//! In QEMU there is no gateware: the DRTIO aux link is UART0 carried to a
//! host socket, with SLIP-framed records tagged by channel, and the RTIO
//! core and DMA engine are software models that keep time like the
//! gateware (counter in ns, minimum latency, lanes and FIFOs, asynchronous
//! errors, an analyzer ring) and report every event to the host, and
//! moninj watches those events (`moninj`).
//! Everything here is platform-independent and tested on the host;
//! the firmware supplies the UART and the clock.

pub mod analyzer;
mod aux;
mod moninj;
mod rtio;
pub mod sed;
pub mod slip;

pub use aux::{ByteStream, Control, QemuAux};
pub use moninj::QemuMoninj;
pub use rtio::{EventQueue, ModelStats, QemuAnalyzer, QemuDma, QemuRtio, RtioEvent, RtioModel, Submit, ANALYZER_RECORDS};

/// Record channels.
pub mod channel {
    pub const AUX: u8 = 0;
    pub const RTIO: u8 = 1;
    pub const CONTROL: u8 = 2;
}

/// Control operations.
pub mod op {
    pub const STATS: u8 = 0x01;
    pub const EXIT: u8 = 0x02;
    pub const LINK: u8 = 0x03;
    /// Test-only, QEMU board only: panic CPU0 (docs/qemu-link.md).
    pub const PANIC: u8 = 0x7E;
    pub const READY: u8 = 0x10;
}
