//! Host-side system tests for satman: a DRTIO master that speaks the real
//! aux protocol ([`master`]), the satellite core on simulated hardware
//! ([`sim`]), the user's experiment as simulated kernels ([`kernels`]), and
//! heap accounting ([`heap`]), null hardware for a satellite without the
//! simulation ([`null`]), the master's moninj and I2C requests
//! ([`peripherals`]), and the firmware in QEMU behind the aux
//! link of docs/qemu-link.md ([`qemu`]).

pub mod card;
pub mod heap;
pub mod kernels;
pub mod master;
pub mod null;
pub mod peripherals;
pub mod qemu;
pub mod scenario;
pub mod sim;
pub mod vcd;
