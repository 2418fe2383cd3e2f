//! The PL's configuration port: PCAP DMA through the device configuration
//! interface (devcfg, 0xF800_7000; UG585 ch. 6.4.2 "PL configuration").
//!
//! Sequence: unlock devcfg, select PCAP, hold the PL resets and enable the
//! PS-PL level shifters for configuration, pulse PCFG_PROG_B (wait for
//! PCFG_INIT to fall and rise), DMA the bitstream to 0xFFFF_FFFF chunk by
//! chunk (the last with source address bit 0 set), wait for PCFG_DONE,
//! then enable all level shifters and release the PL resets.
//!
//! Not used in QEMU (see [`Discard`]): QEMU 10's `xlnx.ps7-dev-cfg` runs
//! its UNLOCK register's write hook at reset with the value 0, logs "failed
//! unlock" and disables its own register window, so every guest access is
//! rejected. Its model would not be usable anyway: STATUS never shows
//! PCFG_INIT, INT_STS never PCFG_DONE, and outside loopback it never counts
//! DMA_DST_LEN down, so a PCAP write with a non-zero destination length
//! (which silicon needs) would never complete.

use super::mmio::{self, read, write};
use super::timer;
use satboot::load::{Pcap, PcapError};

const BASE: usize = 0xF800_7000;
const CTRL: usize = BASE;
const INT_STS: usize = BASE + 0x0C;
const INT_MASK: usize = BASE + 0x10;
const STATUS: usize = BASE + 0x14;
const DMA_SRC_ADDR: usize = BASE + 0x18;
const DMA_DST_ADDR: usize = BASE + 0x1C;
const DMA_SRC_LEN: usize = BASE + 0x20;
const DMA_DST_LEN: usize = BASE + 0x24;
const UNLOCK: usize = BASE + 0x34;
const MCTRL: usize = BASE + 0x80;

const UNLOCK_KEY: u32 = 0x757B_DF0D;
const CTRL_PCFG_PROG_B: u32 = 1 << 30;
const CTRL_PCAP_PR: u32 = 1 << 27;
const CTRL_PCAP_MODE: u32 = 1 << 26;
const CTRL_PCAP_RATE_EN: u32 = 1 << 25;
const MCTRL_PCAP_LPBK: u32 = 1 << 4;
const STATUS_DMA_CMD_Q_F: u32 = 1 << 31;
const STATUS_PCFG_INIT: u32 = 1 << 4;
const INT_DMA_DONE: u32 = 1 << 13;
const INT_PCFG_DONE: u32 = 1 << 2;
/// AXI write/read timeouts and errors, RX FIFO overflow, DMA command
/// error, DMA queue overflow, PCAP-to-DMA length error.
const INT_ERRORS: u32 = 0x00F4_C800;

/// The PS-PL level shifters (SLCR LVL_SHFTR_EN) and PL resets (FPGA_RST_CTRL).
const LVL_SHFTR_EN: usize = 0xF800_0900;
const FPGA_RST_CTRL: usize = 0xF800_0240;

const INIT_TIMEOUT_US: u64 = 100_000;
/// One chunk's DMA (a 64 KiB chunk takes ~0.2 ms at the PCAP's 400 MB/s).
const DMA_TIMEOUT_US: u64 = 500_000;
const DONE_TIMEOUT_US: u64 = 500_000;

/// The PCAP driver (CPU0, MMU flat, caches off: DMA sees what the CPU wrote).
pub struct Devcfg;

/// Polls `f` until true or `timeout_us` passed.
fn wait(timeout_us: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = timer::now_us() + timeout_us;
    // The loop count bounds the wait even if the timer stands still.
    for _ in 0..50_000_000u32 {
        if f() {
            return true;
        }
        if timer::now_us() > end {
            return f();
        }
    }
    false
}

impl Pcap for Devcfg {
    fn begin(&mut self) -> Result<(), PcapError> {
        write(UNLOCK, UNLOCK_KEY);
        mmio::modify(
            CTRL,
            CTRL_PCAP_PR | CTRL_PCAP_MODE | CTRL_PCAP_RATE_EN,
            CTRL_PCAP_PR | CTRL_PCAP_MODE,
        );
        mmio::modify(MCTRL, MCTRL_PCAP_LPBK, 0);
        write(INT_MASK, 0xFFFF_FFFF);
        mmio::slcr_unlocked(|| {
            write(FPGA_RST_CTRL, 0xF);
            write(LVL_SHFTR_EN, 0xA);
        });
        mmio::modify(CTRL, CTRL_PCFG_PROG_B, CTRL_PCFG_PROG_B);
        mmio::modify(CTRL, CTRL_PCFG_PROG_B, 0);
        if !wait(INIT_TIMEOUT_US, || read(STATUS) & STATUS_PCFG_INIT == 0) {
            return Err(PcapError::InitTimeout);
        }
        mmio::modify(CTRL, CTRL_PCFG_PROG_B, CTRL_PCFG_PROG_B);
        if !wait(INIT_TIMEOUT_US, || read(STATUS) & STATUS_PCFG_INIT != 0) {
            return Err(PcapError::InitTimeout);
        }
        write(INT_STS, 0xFFFF_FFFF);
        Ok(())
    }

    fn write(&mut self, chunk: &[u8], last: bool) -> Result<(), PcapError> {
        if !wait(DMA_TIMEOUT_US, || read(STATUS) & STATUS_DMA_CMD_Q_F == 0) {
            return Err(PcapError::QueueFull);
        }
        let words = (chunk.len() / 4) as u32;
        write(INT_STS, INT_DMA_DONE);
        write(DMA_SRC_ADDR, chunk.as_ptr() as u32 | last as u32);
        write(DMA_DST_ADDR, 0xFFFF_FFFF);
        write(DMA_SRC_LEN, words);
        // Writing DMA_DST_LEN queues the command.
        write(DMA_DST_LEN, words);
        let mut sts = 0;
        let done = wait(DMA_TIMEOUT_US, || {
            sts = read(INT_STS);
            sts & (INT_DMA_DONE | INT_ERRORS) != 0
        });
        if sts & INT_ERRORS != 0 {
            return Err(PcapError::DmaError { int_sts: sts });
        }
        if !done {
            return Err(PcapError::DmaTimeout { int_sts: sts });
        }
        write(INT_STS, INT_DMA_DONE);
        Ok(())
    }

    fn finish(&mut self) -> Result<bool, PcapError> {
        if !wait(DONE_TIMEOUT_US, || read(INT_STS) & INT_PCFG_DONE != 0) {
            return Err(PcapError::NotDone { int_sts: read(INT_STS) });
        }
        mmio::slcr_unlocked(|| {
            write(LVL_SHFTR_EN, 0xF);
            write(FPGA_RST_CTRL, 0);
        });
        Ok(true)
    }
}

/// QEMU's stand-in for the PCAP: takes every chunk (so the whole PL
/// partition is still read from the card and its length checked) and
/// programs nothing.
pub struct Discard;

impl Pcap for Discard {
    fn begin(&mut self) -> Result<(), PcapError> {
        Ok(())
    }
    fn write(&mut self, _chunk: &[u8], _last: bool) -> Result<(), PcapError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<bool, PcapError> {
        Ok(false)
    }
}
