//! satman core: the satellite manager, and the board support it runs on.
//!
//! [`Satellite`] owns the parts of a DRTIO satellite and is driven by
//! [`Satellite::poll`] over the hardware traits in [`hal`]. The same code
//! runs in the firmware (with the Kasli-SoC or QEMU implementations of the
//! traits) and on the host under test (with simulated ones).
//!
//! # Platform-independent (every board, and the host tests)
//!
//! | module | what |
//! |---|---|
//! | `satellite` | [`Satellite`]: owns the parts and the hardware, runs `poll`; `dispatch` is the one table of every aux packet; the cooperations between parts |
//! | `links` | the uplink's state, routing, the [`outbox`] queues, each repeater link's state machine |
//! | `kernels` | the kernel CPU's state machine and its one teardown, the running kernel's session, CPU1's requests, a kernel's DMA playbacks |
//! | `ddma` | master-commanded DMA and the DMA engine's bookkeeping |
//! | [`mgmt`] | core management: log, configuration, reboot, flashing |
//! | `moninj` | the master's monitor and injection requests, on the board's moninj core |
//! | `i2c` | I2C over DRTIO: the master's byte-level I2C requests on the board's bus |
//! | [`budget`] | CPU0's memory budget: what the wire can make CPU0 hold, counted against one limit |
//! | [`chunks`], [`outbox`], `wire` | the "next slice" type, the send queues, how a part sends |
//! | [`hal`] | the hardware traits every board implements |
//! | [`build_id`], [`logbuf`] | the firmware's build id, the in-memory log |
//!
//! # Board-specific
//!
//! | module | board | what |
//! |---|---|---|
//! | [`gateware`] | Kasli-SoC | drivers for the satellite gateware's CSRs (generated from its CSR map at build time); host-tested against a fake bus |
//! | [`qemu`] | QEMU | the aux link over UART0 (SLIP records) and the software RTIO and DMA models; host-tested |
//!
//! The firmware binary (`main.rs`, not part of this lib) adds the Zynq-7000
//! start-up and drivers (`platform/`, both boards; their differences are
//! the constants in `platform/board.rs`), the kernel CPU (`kernel_cpu.rs`)
//! and what both boards share (`fw_common.rs`), and one board file
//! (`fw_qemu.rs` or `fw_kasli_soc.rs`).
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod analyzer;
pub mod budget;
pub mod build_id;
pub mod chunks;
#[cfg(test)]
mod testing;
pub mod clocks;
pub mod crashlog;
pub mod cpu1_reset;
pub mod fault;
mod config;
mod ddma;
mod diag;
pub mod gateware;
pub mod hal;
pub mod lent;
mod i2c;
mod kernels;
mod links;
pub mod logbuf;
pub mod mgmt;
mod moninj;
pub mod outbox;
pub mod qemu;
mod satellite;
mod stats;
pub mod watchdog;
mod wire;

pub use budget::Budget;
pub use config::Config;
pub use kernels::KernelState;
pub use links::RepeaterState;
pub use mgmt::{parse_level, RamConfig};
pub use satellite::{Origin, Satellite};
pub use stats::Stats;
