//! satman core: the platform-independent satellite manager.
//!
//! [`Satellite`] holds the whole state of a DRTIO satellite and is driven by
//! [`Satellite::poll`] over the hardware traits in [`hal`]. The same code
//! runs in the firmware (with the Kasli-SoC or QEMU implementations of the
//! traits) and on the host under test (with simulated ones).
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod build_id;
pub mod chunks;
mod ddma;
mod dispatch;
pub mod gateware;
pub mod hal;
mod kernel_requests;
pub mod logbuf;
pub mod mgmt;
mod repeater;
pub mod outbox;
pub mod qemu;
mod satellite;
mod session;
mod subkernel;

pub use dispatch::Origin;
pub use mgmt::{parse_level, RamConfig};
pub use satellite::{Config, Satellite, Stats};
pub use repeater::RepeaterState;
pub use subkernel::KernelState;
