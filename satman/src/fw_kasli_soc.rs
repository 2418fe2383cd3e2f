//! The Kasli-SoC board (`--features kasli_soc`): the satellite core's
//! hardware traits over the satellite gateware's CSRs (addresses from the
//! CSR map `satman/build.rs` consumes; see gateware/README.md), and the
//! board start-up in the reference order (docs/bringup.md): gateware
//! identifier, I2C (bit-banged on MIO 50/51), the I2C switches, the I/O
//! expanders (SFP transmitters on), the Si5324, the clock switch with no PL
//! access for 50 ms, `txenable`. At every uplink `rx_up` the Si5324 follows
//! the recovered clock and the siphaser is calibrated before the core sees
//! the link up ([`ClockedUplink`]).
//!
//! Assumes the loader has programmed the bitstream and enabled the PS-PL
//! level shifters, as BOOT.BIN does on the Kasli-SoC. Nothing here has run
//! on silicon yet.

use core::time::Duration;

use embedded_hal::delay::DelayNs;
use libkasli::zynq_pins::MioI2cPins;
use libkasli::{BitBang, BoardConfig, BoardCsr, SiphaserCsr, Timing};
use libksupport::runtime::{RtioInput, RtioStatus};
use satman::gateware::bus::Mmio;
use satman::gateware::csr::{gt_drtio, identifier, siphaser, sys_crg, virtual_leds};
use satman::gateware::uplink::{ClockedUplink, LinkClocking};
use satman::gateware::board_i2c::{BoardI2cBus, SharedBus};
use satman::gateware::{GatewareAnalyzer, GatewareAux, GatewareDma, GatewareKernelRtio, GatewareMoninj, GatewareRtio};
use satman::hal::{Hardware, Platform};
use satman::Satellite;

pub use crate::fw_common::store;
use crate::fw_common::{sd_card, FwClock, FwSystem, SdStore};
use crate::kernel_cpu::Cpu1Link;
use crate::platform::{self, cache, time};

fn now_us() -> u64 {
    time::now_us()
}

/// The global timer as libkasli's clock and delay.
#[derive(Clone, Copy)]
pub struct FwTimer;

impl DelayNs for FwTimer {
    fn delay_ns(&mut self, ns: u32) {
        let end = platform::Instant::after(Duration::from_nanos(ns as u64));
        while !end.has_passed() {
            core::hint::spin_loop();
        }
    }
}

impl libkasli::Timer for FwTimer {
    fn now_us(&self) -> u64 {
        time::now_us()
    }
}

/// The CSRs the board start-up and the siphaser use.
pub struct Csr(Mmio);

impl BoardCsr for Csr {
    fn write_identifier_address(&mut self, address: u8) {
        identifier::ADDRESS.write(&self.0, address as u32)
    }
    fn read_identifier_data(&mut self) -> u8 {
        identifier::DATA.read(&self.0) as u8
    }
    fn write_stable_clkin(&mut self, value: u32) {
        gt_drtio::STABLE_CLKIN.write(&self.0, value)
    }
    fn read_current_clock(&mut self) -> u32 {
        sys_crg::CURRENT_CLOCK.read(&self.0)
    }
    fn write_txenable(&mut self, mask: u32) {
        gt_drtio::TXENABLE.write(&self.0, mask)
    }
}

impl SiphaserCsr for Csr {
    fn write_switch_clocks(&mut self, value: u32) {
        siphaser::SWITCH_CLOCKS.write(&self.0, value)
    }
    fn write_phase_shift(&mut self, direction: u32) {
        siphaser::PHASE_SHIFT.write(&self.0, direction)
    }
    fn read_phase_shift_done(&mut self) -> u32 {
        siphaser::PHASE_SHIFT_DONE.read(&self.0)
    }
    fn write_error(&mut self, value: u32) {
        siphaser::ERROR.write(&self.0, value)
    }
    fn read_error(&mut self) -> u32 {
        siphaser::ERROR.read(&self.0)
    }
}

/// The board's I2C bus, shared by the clocking, the SFP LED service and
/// the master's I2C requests (all on CPU0, none across a main-loop pass).
type I2cBus = SharedBus<MioI2cPins, FwTimer>;

/// The board's clocking at uplink edges, and the I2C bus it needs.
pub struct KasliClocking {
    pub board: libkasli::Board,
    pub i2c: I2cBus,
    csr: Csr,
}

impl LinkClocking for KasliClocking {
    fn link_up(&mut self) -> bool {
        // libkasli logs the cause of a failure.
        self.board.uplink_up(&mut *self.i2c.borrow_mut(), &mut self.csr, &mut FwTimer).is_ok()
    }
    fn link_down(&mut self) {
        let _ = self.board.uplink_down(&mut *self.i2c.borrow_mut(), &mut self.csr, &mut FwTimer);
    }
}

pub struct Board;

impl Platform for Board {
    type Link = ClockedUplink<GatewareAux<Mmio>, KasliClocking>;
    type Cpu = Cpu1Link;
    type Rtio = GatewareRtio<Mmio>;
    type Dma = GatewareDma<Mmio>;
    type Analyzer = GatewareAnalyzer<Mmio>;
    type Clock = FwClock;
    type Config = SdStore;
    type System = FwSystem;
    type Moninj = GatewareMoninj<Mmio>;
    type I2c = BoardI2cBus<MioI2cPins, FwTimer>;
}

fn clean(addr: usize, len: usize) {
    cache::clean_range(addr, len)
}

fn clean_invalidate(addr: usize, len: usize) {
    cache::clean_invalidate_range(addr, len)
}

/// The analyzer's DMA ring: the reference's size.
const ANALYZER_RING: usize = 512 * 1024;

/// The ring, in heap0 for the firmware's life (the image must fit its first
/// MiB, so not in `.bss`): written by the gateware only, read by CPU0
/// after each stop.
fn analyzer_ring() -> usize {
    let layout = core::alloc::Layout::from_size_align(ANALYZER_RING, 64).expect("a valid layout");
    // SAFETY: a non-zero size; the block is never freed.
    let ring = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if ring.is_null() {
        alloc::alloc::handle_alloc_error(layout);
    }
    ring as usize
}

/// The board revision, from the CSR map the firmware was built for.
fn hw_rev() -> libkasli::expander::HwRev {
    use libkasli::expander::HwRev;
    match satman::gateware::csr::config::HW_REV {
        "v1.2" => HwRev::V1_2,
        "v1.1" => HwRev::V1_1,
        _ => HwRev::V1_0,
    }
}

/// Board start-up; on failure the cause is logged and CPU0 only serves
/// its UART log from then on: the PL must not be touched (a CSR access
/// while the system clock is not running stalls CPU0 for good).
pub fn hardware() -> Hardware<Board> {
    // SAFETY: the firmware's only users of MIO 33/50/51 and GPIO bank 1 are
    // here; CPU1 does not touch the SLCR during start-up.
    let pins = unsafe { MioI2cPins::new() };
    let mut i2c = BitBang::new(pins, FwTimer, Timing::KASLI);
    // SAFETY: the CSR window is mapped as device memory by the MMU set-up;
    // every address comes from the generated map.
    let mmio = unsafe { Mmio::new() };
    let mut csr = Csr(mmio);
    let config = BoardConfig { hw_rev: hw_rev(), ..BoardConfig::default() };
    let board = match libkasli::start(&mut i2c, &mut csr, &mut FwTimer, &config) {
        Ok(b) => b,
        Err(_) => {
            log::error!("kasli_soc: board start-up failed (cause above); the satellite will not serve the link");
            loop {
                platform::poll();
            }
        }
    };
    let aux = GatewareAux::new(mmio, 0).expect("the CSR map has drtioaux0");
    let switches = board.switch().kind();
    let i2c = alloc::rc::Rc::new(core::cell::RefCell::new(i2c));
    let master_i2c = BoardI2cBus::new(i2c.clone(), switches);
    let uplink = ClockedUplink::new(aux, KasliClocking { board, i2c, csr }, now_us);
    let repeaters = (1..GatewareAux::<Mmio>::LINKS)
        .filter_map(|n| GatewareAux::new(mmio, n))
        .map(|aux| ClockedUplink::plain(aux, now_us))
        .collect();
    Hardware {
        uplink,
        repeaters,
        cpu: Cpu1Link::new(),
        rtio: GatewareRtio::new(mmio, now_us as fn() -> u64),
        dma: GatewareDma::new(mmio, clean as fn(usize, usize)),
        analyzer: GatewareAnalyzer::new(
            mmio,
            analyzer_ring(),
            ANALYZER_RING,
            clean_invalidate as fn(usize, usize),
            now_us as fn() -> u64,
        ),
        clock: FwClock,
        config: sd_card(libsdcard::sdhci::Config::KASLI_SOC),
        system: FwSystem,
        moninj: GatewareMoninj::new(mmio),
        i2c: master_i2c,
    }
}

/// The board's share of a main-loop pass: the SFP LEDs.
pub struct Service {
    next_leds_us: u64,
}

impl Service {
    pub fn new() -> Service {
        Service { next_leds_us: 0 }
    }

    pub fn poll(&mut self, sat: &mut Satellite<Board>) {
        let now = now_us();
        // Never between a master's I2C START and STOP: the LED update
        // would select other switch channels under its transfer.
        if now < self.next_leds_us || sat.i2c_in_transfer() {
            return;
        }
        self.next_leds_us = now + 100_000;
        let Some(c) = sat.hw.uplink.clocking.as_mut() else { return };
        let leds = virtual_leds::STATUS.read(&c.csr.0) as u8;
        if let Err(e) = c.board.service(&mut *c.i2c.borrow_mut(), leds) {
            log::warn!("kasli_soc: SFP LED update failed: {:?}", e);
        }
    }
}

// ---- CPU1: the kernel initiator ------------------------------------------------

/// CPU1's own driver instance (only CPU1 touches the `rtio` bank).
#[unsafe(link_section = ".cpu1")]
static mut KERNEL_RTIO: Option<GatewareKernelRtio<Mmio>> = None;

/// Runs `f` with CPU1's driver. A safe fn because the `&mut` cannot alias:
/// it is checked to run on CPU1 (CPU0 never reaches the driver), it does not
/// outlive `f`, and CPU1's IRQ handlers never call here, so nothing on CPU1
/// can start a second borrow while `f` runs (a stop abandons the interrupted
/// context for good; the next run's borrow starts afresh).
fn with_kernel_rtio<R>(f: impl FnOnce(&mut GatewareKernelRtio<Mmio>) -> R) -> R {
    assert_eq!(platform::cpu::id(), 1, "the kernel RTIO driver is CPU1's");
    // SAFETY: see above: the one live reference to `KERNEL_RTIO`, on the one
    // CPU that uses it, scoped to this call.
    let slot = unsafe { &mut *core::ptr::addr_of_mut!(KERNEL_RTIO) };
    let rtio = slot.get_or_insert_with(|| {
        // SAFETY: the driver touches only the `rtio` CSR bank, which no CPU0
        // code drives (CPU0 has its own banks), and `KERNEL_RTIO` holds the
        // one instance.
        GatewareKernelRtio::new(unsafe { Mmio::new() }, now_us as fn() -> u64)
    });
    f(rtio)
}

pub fn rtio_counter() -> i64 {
    with_kernel_rtio(|r| r.counter())
}

pub fn kernel_output(timestamp: i64, target: u32, data: &[u32]) -> RtioStatus {
    with_kernel_rtio(|r| r.output(timestamp, target, data))
}

pub fn kernel_input(channel: u32, timeout: i64) -> RtioInput {
    with_kernel_rtio(|r| r.input(channel, timeout))
}
