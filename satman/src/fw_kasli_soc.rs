//! The Kasli-SoC board (`--features kasli_soc`): the satellite core's
//! hardware traits over the satellite gateware's CSRs (addresses from the
//! CSR map `satman/build.rs` consumes; see gateware/README.md).
//!
//! Assumes the FSBL has loaded the bitstream and enabled the PS-PL level
//! shifters, as BOOT.BIN does on the Kasli-SoC. Clock set-up beyond switching
//! the system clock to the transceiver (Si5324 programming over I2C, the
//! siphaser) is not done by this firmware yet: see the README's status.

use core::time::Duration;

use libksupport::runtime::{RtioInput, RtioStatus};
use satman::gateware::bus::Mmio;
use satman::gateware::csr::{gt_drtio, sys_crg};
use satman::gateware::{GatewareAux, GatewareDma, GatewareKernelRtio, GatewareRtio};
use satman::hal::{Hardware, Platform};
use satman::Satellite;

pub use crate::fw_common::store;
use crate::fw_common::{sd_card, FwClock, FwSystem, SdStore};
use crate::kernel_cpu::Cpu1Link;
use crate::platform::{self, cache, time};

fn now_us() -> u64 {
    time::now_us()
}

pub struct Board;

impl Platform for Board {
    type Link = GatewareAux<Mmio>;
    type Cpu = Cpu1Link;
    type Rtio = GatewareRtio<Mmio>;
    type Dma = GatewareDma<Mmio>;
    type Clock = FwClock;
    type Config = SdStore;
    type System = FwSystem;
}

fn clean(addr: usize, len: usize) {
    cache::clean_range(addr, len)
}

/// Switches the system clock to the first transceiver's TX clock and
/// enables the transceivers' transmitters (bounded wait).
fn clocks() {
    let bus = unsafe { Mmio::new() };
    gt_drtio::STABLE_CLKIN.write(&bus, 1);
    let deadline = platform::Instant::after(Duration::from_millis(100));
    while sys_crg::CURRENT_CLOCK.read(&bus) == 0 {
        if deadline.has_passed() {
            log::error!("system clock did not switch to the transceiver clock");
            break;
        }
    }
    gt_drtio::TXENABLE.write(&bus, 0b111);
}

pub fn hardware() -> Hardware<Board> {
    clocks();
    let mmio = unsafe { Mmio::new() };
    let uplink = GatewareAux::new(mmio, 0).expect("the CSR map has drtioaux0");
    let repeaters = (1..GatewareAux::<Mmio>::LINKS).filter_map(|n| GatewareAux::new(mmio, n)).collect();
    Hardware {
        uplink,
        repeaters,
        cpu: Cpu1Link,
        rtio: GatewareRtio::new(mmio, now_us as fn() -> u64),
        dma: GatewareDma::new(mmio, clean as fn(usize, usize)),
        clock: FwClock,
        config: sd_card(libsdcard::sdhci::Config::KASLI_SOC),
        system: FwSystem,
    }
}


/// Nothing board-specific to do per main-loop pass.
pub struct Service;

impl Service {
    pub fn new() -> Service {
        Service
    }

    pub fn poll(&mut self, _sat: &mut Satellite<Board>) {}
}

// ---- CPU1: the kernel initiator ------------------------------------------------

/// CPU1's own driver instance (only CPU1 touches the `rtio` bank).
static mut KERNEL_RTIO: Option<GatewareKernelRtio<Mmio>> = None;

fn kernel_rtio() -> &'static mut GatewareKernelRtio<Mmio> {
    // Safety: called on CPU1 only, never re-entered.
    let slot = unsafe { &mut *core::ptr::addr_of_mut!(KERNEL_RTIO) };
    slot.get_or_insert_with(|| GatewareKernelRtio::new(unsafe { Mmio::new() }, now_us as fn() -> u64))
}

pub fn rtio_counter() -> i64 {
    kernel_rtio().counter()
}

pub fn kernel_output(timestamp: i64, target: u32, data: &[u32]) -> RtioStatus {
    kernel_rtio().output(timestamp, target, data)
}

pub fn kernel_input(channel: u32, timeout: i64) -> RtioInput {
    kernel_rtio().input(channel, timeout)
}
