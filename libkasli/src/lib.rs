//! Kasli-SoC board bring-up: everything between "the bitstream is loaded"
//! and "the DRTIO transceivers run on a locked clock".
//!
//! | module | what |
//! |---|---|
//! | [`bitbang`] | I2C master over two open-drain lines (`embedded-hal` 1.0 `I2c`) |
//! | `zynq_pins` | those lines on the Zynq GPIO, MIO 50/51, switch reset MIO 33 (ARM only) |
//! | [`switch`] | the PCA9548/PCA9547 switches at 0x70/0x71, probed after a reset |
//! | [`expander`] | the SFP I/O expanders (MCP23017 or PCA9539): TX_DISABLE, LEDs, EEM power |
//! | [`si5324`] | the Si5324: part check, frequency plan, lock, recovered-clock input |
//! | [`siphaser`] | the siphaser CSRs and the skew calibration |
//! | [`csr`], [`identifier`] | the start-up's CSRs and the gateware identifier check |
//! | [`startup`] | the start-up sequence in the reference order, the uplink clocking |
//! | `model` | (feature `std`) the board on the host: I2C devices, CSR bus with the dead window, time |
//!
//! Every device driver is written against `embedded_hal::i2c::I2c` and every
//! gateware access goes through a small trait, so the whole sequence runs on
//! the host against the model. Every hardware wait has a deadline.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "std")]
extern crate std;

pub mod bitbang;
pub mod csr;
pub mod expander;
pub mod identifier;
pub mod si5324;
pub mod siphaser;
pub mod startup;
pub mod switch;
pub mod time;

#[cfg(target_arch = "arm")]
pub mod zynq_pins;

#[cfg(feature = "std")]
pub mod model;

pub use bitbang::{BitBang, OpenDrain, Timing};
pub use csr::BoardCsr;
pub use siphaser::SiphaserCsr;
pub use startup::{start, Board, BoardConfig, StartError, UplinkError};
pub use switch::{BoardI2c, ResetLine};
pub use time::Timer;
