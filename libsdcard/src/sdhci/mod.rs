//! Polled driver for the Zynq-7000's SD host controllers (SDHCI 2.0, UG585
//! ch. 13): card identification, then 512-byte block reads and writes by
//! PIO through the buffer data port. It is the [`BlockDevice`] of the
//! firmware and of the boot loader.
//!
//! Written here rather than wrapping `zynq7000-hal`'s SD driver, which
//! waits in unbounded loops (command completion, buffer ready, ACMD41) and
//! brings async crates along. Here every wait is a bounded number of polls
//! with a [`Regs::delay_us`] between them, and every failure is a
//! [`BlockError`] value.
//!
//! All register traffic goes through [`Regs`], so the command and state
//! logic runs on the host against a model of a controller and card (the
//! tests); [`Mmio`] is the real thing.
//!
//! The platform sets up what is outside the controller: the SDIO reference
//! clock and MIO pins (the BootROM/FSBL on silicon; QEMU needs neither).
//! [`Config::base_clock_hz`] tells the driver that reference clock, since
//! the Zynq's capabilities register does not.

mod card;
#[cfg(target_arch = "arm")]
mod mmio;
pub mod regs;
#[cfg(test)]
mod tests;

pub use card::{csd_blocks, CardInfo, CsdError};
#[cfg(target_arch = "arm")]
pub use mmio::Mmio;
pub use regs::Regs;

use crate::block::{BlockDevice, BlockError, BLOCK_SIZE};
use regs::*;

/// Base address of SD0 (the Kasli-SoC's card slot; QEMU `-drive if=sd,index=0`).
pub const SD0_BASE: usize = 0xE010_0000;
/// Base address of SD1.
pub const SD1_BASE: usize = 0xE010_1000;

/// Board-dependent settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The controller's reference clock (SLCR SDIO_CLK_CTRL output), used to
    /// pick the SD clock divisors. 0 = unknown: the slowest clock is used
    /// throughout.
    pub base_clock_hz: u32,
    /// Data transfer clock after identification (at most 25 MHz: the driver
    /// does not switch the card to high speed).
    pub transfer_clock_hz: u32,
    /// Switch card and controller to the 4-bit bus after identification.
    pub bus_4bit: bool,
    /// Refuse writes when the write-protect pin says so. Off for slots
    /// without a write-protect switch (microSD), whose pin level means nothing.
    pub honor_write_protect: bool,
}

impl Config {
    /// QEMU's `xilinx-zynq-a9` (clocks are not modelled; the write-protect
    /// level follows the drive's `readonly` flag).
    pub const QEMU: Config = Config {
        base_clock_hz: 50_000_000,
        transfer_clock_hz: 25_000_000,
        bus_4bit: true,
        honor_write_protect: true,
    };
    /// The Kasli-SoC's microSD slot on SD0 with a 50 MHz SDIO reference
    /// clock (untested on silicon: see satboot/README.md).
    pub const KASLI_SOC: Config = Config {
        base_clock_hz: 50_000_000,
        transfer_clock_hz: 25_000_000,
        bus_4bit: true,
        honor_write_protect: false,
    };
}

/// The identification step that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitStep {
    /// Controller reset, power and clock.
    Controller,
    /// CMD0 (GO_IDLE_STATE).
    GoIdle,
    /// CMD8 (SEND_IF_COND): the card rejected 3.3 V or echoed a wrong pattern.
    InterfaceCondition,
    /// CMD55 + ACMD41 (SD_SEND_OP_COND) until the card is ready.
    OperatingCondition,
    /// CMD2 (ALL_SEND_CID).
    Identification,
    /// CMD3 (SEND_RELATIVE_ADDR).
    RelativeAddress,
    /// CMD9 (SEND_CSD) and its decoding.
    CardSpecificData,
    /// CMD7 (SELECT_CARD).
    Select,
    /// CMD16 (SET_BLOCKLEN) on byte-addressed cards.
    BlockLength,
    /// ACMD6 (SET_BUS_WIDTH).
    BusWidth,
}

/// Why [`Sdhci::init`] failed, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitError {
    pub step: InitStep,
    pub cause: BlockError,
}

/// How long the card gets to leave its power-up busy state (ACMD41): the
/// SD spec allows 1 s.
const OP_COND_TIMEOUT_US: u32 = 1_000_000;
const OP_COND_POLL_US: u32 = 1_000;
/// Controller reset and clock stabilisation.
const CONTROLLER_TIMEOUT_US: u32 = 100_000;
/// Command completion (the response arrives within 64 clocks; generous for 400 kHz).
const CMD_TIMEOUT_US: u32 = 100_000;
/// One block's data phase on reads.
const READ_TIMEOUT_US: u32 = 500_000;
/// One block's data phase on writes, and the busy after the last one (the
/// SD spec's write timeout is 250 ms for SDHC, 500 ms for SDXC).
const WRITE_TIMEOUT_US: u32 = 1_000_000;
/// Polls without delay before each wait starts to sleep: most waits end
/// within a few register reads.
const FAST_POLLS: u32 = 64;
const POLL_US: u32 = 10;
/// Largest block count one command moves (the block count register is 16 bits).
const MAX_BLOCKS_PER_CMD: u32 = 0xFFFF;

/// CMD8 argument: 2.7-3.6 V and the check pattern 0xAA.
const IF_COND_ARG: u32 = 0x1AA;
/// ACMD41 argument: 2.7-3.6 V window (OCR bits 23:15).
const OCR_VOLTAGES: u32 = 0x00FF_8000;
const OCR_HCS: u32 = 1 << 30;
const OCR_BUSY_DONE: u32 = 1 << 31;

/// One SD host controller and the card in its slot.
pub struct Sdhci<R: Regs> {
    regs: R,
    config: Config,
    card: Option<CardInfo>,
}

/// A command's response shape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resp {
    None,
    /// R1, R6, R7: 48 bits with CRC and index.
    R1,
    /// R1b: R1 then busy on DAT0.
    R1b,
    /// R2: 136 bits (CID, CSD), CRC checked by the controller.
    R2,
    /// R3: the OCR, with neither CRC nor index.
    R3,
}

impl Resp {
    fn flags(self) -> u32 {
        match self {
            Resp::None => CMD_RESP_NONE,
            Resp::R1 => CMD_RESP_48 | CMD_CRC_CHECK | CMD_INDEX_CHECK,
            Resp::R1b => CMD_RESP_48_BUSY | CMD_CRC_CHECK | CMD_INDEX_CHECK,
            Resp::R2 => CMD_RESP_136 | CMD_CRC_CHECK,
            Resp::R3 => CMD_RESP_48,
        }
    }
}

/// Maps the controller's error status to a block error.
fn status_error(status: u32) -> BlockError {
    if status & (ERR_CMD_TIMEOUT | ERR_DATA_TIMEOUT) != 0 {
        BlockError::Timeout
    } else if status & (ERR_CMD_CRC | ERR_DATA_CRC) != 0 {
        BlockError::Crc
    } else {
        BlockError::Device
    }
}

/// The SD clock divisor field for `target` Hz from `base` Hz: SDHCI 2.0
/// divides by 2N for N a power of two up to 128 (field 0 = undivided).
fn clock_divisor(base: u32, target: u32) -> u32 {
    if base == 0 {
        return 0x80;
    }
    if base <= target {
        return 0;
    }
    let mut n = 1;
    while n < 0x80 && base / (2 * n) > target {
        n <<= 1;
    }
    n
}

impl<R: Regs> Sdhci<R> {
    /// A driver for the controller behind `regs`; nothing is touched until
    /// [`Sdhci::init`].
    pub fn new(regs: R, config: Config) -> Self {
        Sdhci {
            regs,
            config,
            card: None,
        }
    }

    /// The identified card, after a successful [`Sdhci::init`].
    pub fn card(&self) -> Option<&CardInfo> {
        self.card.as_ref()
    }

    /// The register access (tests inspect their model through it).
    pub fn regs_mut(&mut self) -> &mut R {
        &mut self.regs
    }

    /// Resets the controller, powers the card and identifies it, leaving it
    /// selected in transfer state with 512-byte blocks. Safe to call again
    /// (after a card swap or an error).
    pub fn init(&mut self) -> Result<CardInfo, InitError> {
        self.card = None;
        let at = |step| move |cause| InitError { step, cause };
        self.init_controller().map_err(at(InitStep::Controller))?;

        self.command(0, 0, Resp::None).map_err(at(InitStep::GoIdle))?;
        // CMD8: version 2.00+ cards answer with the echo; 1.x cards stay silent.
        let v2 = match self.command(8, IF_COND_ARG, Resp::R1) {
            Ok(r) if r & 0xFFF == IF_COND_ARG => true,
            Ok(_) => return Err(at(InitStep::InterfaceCondition)(BlockError::Device)),
            Err(BlockError::Timeout) => false,
            Err(e) => return Err(at(InitStep::InterfaceCondition)(e)),
        };
        let ocr = self
            .wait_operating_condition(v2)
            .map_err(at(InitStep::OperatingCondition))?;
        let high_capacity = ocr & OCR_HCS != 0;

        self.command(2, 0, Resp::R2).map_err(at(InitStep::Identification))?;
        let cid = self.response136();
        let rca = (self.command(3, 0, Resp::R1).map_err(at(InitStep::RelativeAddress))? >> 16) as u16;
        let arg = (rca as u32) << 16;
        self.command(9, arg, Resp::R2).map_err(at(InitStep::CardSpecificData))?;
        let blocks = csd_blocks(&self.response136()).map_err(|_| at(InitStep::CardSpecificData)(BlockError::Device))?;

        self.set_clock(self.config.transfer_clock_hz)
            .map_err(at(InitStep::Controller))?;
        self.command_r1(7, arg, Resp::R1b).map_err(at(InitStep::Select))?;
        if !high_capacity {
            self.command_r1(16, BLOCK_SIZE as u32, Resp::R1)
                .map_err(at(InitStep::BlockLength))?;
        }
        if self.config.bus_4bit {
            self.app_command(rca, 6, 2, Resp::R1).map_err(at(InitStep::BusWidth))?;
            let hp = self.regs.read32(HOST_POWER);
            self.regs.write32(HOST_POWER, hp | HC_4BIT);
        }
        let info = CardInfo {
            rca,
            high_capacity,
            blocks,
            cid,
        };
        self.card = Some(info);
        Ok(info)
    }

    fn init_controller(&mut self) -> Result<(), BlockError> {
        self.regs.write32(CLOCK_RESET, RST_ALL);
        self.wait_reg(CLOCK_RESET, RST_ALL, 0, CONTROLLER_TIMEOUT_US)?;
        self.regs.write32(INT_STATUS_ENABLE, INT_ENABLED);
        self.regs.write32(INT_SIGNAL_ENABLE, 0);
        self.regs.write32(INT_STATUS, 0xFFFF_FFFF);
        let mut hp = PWR_ON_3V3;
        if self.regs.read32(PRESENT) & PS_CARD_INSERTED == 0 {
            // No card-detect line wired (or no card): tell the controller a
            // card is there; identification then finds out for real.
            hp |= HC_CD_TEST_INSERTED;
        }
        self.regs.write32(HOST_POWER, hp);
        self.set_clock(400_000)?;
        // The card needs 74 clocks after power-up before CMD0: ~200 us at 400 kHz.
        self.regs.delay_us(1_000);
        Ok(())
    }

    /// Stops the SD clock, sets its divisor for `hz`, waits for the internal
    /// clock to settle and starts it again.
    fn set_clock(&mut self, hz: u32) -> Result<(), BlockError> {
        let div = clock_divisor(self.config.base_clock_hz, hz);
        let v = CLK_INTERNAL_ENABLE | (div << CLK_DIV_SHIFT) | TIMEOUT_MAX;
        self.regs.write32(CLOCK_RESET, v);
        self.wait_reg(
            CLOCK_RESET,
            CLK_INTERNAL_STABLE,
            CLK_INTERNAL_STABLE,
            CONTROLLER_TIMEOUT_US,
        )?;
        self.regs.write32(CLOCK_RESET, v | CLK_SD_ENABLE);
        Ok(())
    }

    /// ACMD41 until the card reports power-up done; returns the OCR.
    fn wait_operating_condition(&mut self, v2: bool) -> Result<u32, BlockError> {
        let arg = OCR_VOLTAGES | if v2 { OCR_HCS } else { 0 };
        for i in 0..OP_COND_TIMEOUT_US / OP_COND_POLL_US {
            let ocr = match self.app_command(0, 41, arg, Resp::R3) {
                Ok(ocr) => ocr,
                // Nothing answers the first CMD55: no card in the slot.
                Err(BlockError::Timeout) if i == 0 => return Err(BlockError::NoCard),
                Err(e) => return Err(e),
            };
            if ocr & OCR_BUSY_DONE != 0 {
                return Ok(ocr);
            }
            self.regs.delay_us(OP_COND_POLL_US);
        }
        Err(BlockError::Timeout)
    }

    /// CMD55 then the application command `index`.
    fn app_command(&mut self, rca: u16, index: u32, arg: u32, resp: Resp) -> Result<u32, BlockError> {
        self.command_r1(55, (rca as u32) << 16, Resp::R1)?;
        if resp == Resp::R3 {
            self.command(index, arg, resp)
        } else {
            self.command_r1(index, arg, resp)
        }
    }

    /// A command with an R1/R1b response whose status must show no error.
    fn command_r1(&mut self, index: u32, arg: u32, resp: Resp) -> Result<u32, BlockError> {
        let status = self.command(index, arg, resp)?;
        card::r1_error(status).map_or(Ok(status), Err)
    }

    /// Issues a command without data and returns response word 0.
    fn command(&mut self, index: u32, arg: u32, resp: Resp) -> Result<u32, BlockError> {
        self.issue(index, arg, resp, 0)?;
        if resp == Resp::R1b {
            // Busy commands end with transfer complete once DAT0 is released.
            self.wait_int(INT_XFER_COMPLETE, WRITE_TIMEOUT_US)?;
            self.regs.write32(INT_STATUS, INT_XFER_COMPLETE);
        }
        Ok(self.regs.read32(RESP0))
    }

    /// Waits for the command (and, for data or busy commands, the data)
    /// lines, then writes argument and command; waits for command complete.
    fn issue(&mut self, index: u32, arg: u32, resp: Resp, mode: u32) -> Result<(), BlockError> {
        let uses_dat = mode != 0 || resp == Resp::R1b;
        let inhibit = PS_CMD_INHIBIT | if uses_dat { PS_DAT_INHIBIT } else { 0 };
        self.wait_reg(PRESENT, inhibit, 0, CMD_TIMEOUT_US)
            .inspect_err(|_| self.reset_lines())?;
        self.regs.write32(INT_STATUS, 0xFFFF_FFFF);
        self.regs.write32(ARGUMENT, arg);
        let data = if mode != 0 { CMD_DATA } else { 0 };
        self.regs
            .write32(XFER_CMD, mode | resp.flags() | data | (index << CMD_INDEX_SHIFT));
        self.wait_int(INT_CMD_COMPLETE, CMD_TIMEOUT_US)?;
        self.regs.write32(INT_STATUS, INT_CMD_COMPLETE);
        Ok(())
    }

    /// The 120 bits of a 136-bit response (CID, CSD), word 0 first.
    fn response136(&mut self) -> [u32; 4] {
        core::array::from_fn(|i| self.regs.read32(RESP0 + 4 * i))
    }

    /// Polls the interrupt status until `bit` is set. An error bit ends the
    /// wait with the mapped error (status cleared, lines reset); so does the
    /// time bound.
    fn wait_int(&mut self, bit: u32, timeout_us: u32) -> Result<(), BlockError> {
        for i in 0..FAST_POLLS + timeout_us / POLL_US {
            let status = self.regs.read32(INT_STATUS);
            if status & (ERR_ALL | INT_ERROR) != 0 {
                self.regs.write32(INT_STATUS, status & (ERR_ALL | INT_ERROR));
                self.reset_lines();
                return Err(status_error(status));
            }
            if status & bit != 0 {
                return Ok(());
            }
            if i >= FAST_POLLS {
                self.regs.delay_us(POLL_US);
            }
        }
        self.reset_lines();
        Err(BlockError::Timeout)
    }

    /// Polls `offset` until the bits in `mask` equal `value`, within the bound.
    fn wait_reg(&mut self, offset: usize, mask: u32, value: u32, timeout_us: u32) -> Result<(), BlockError> {
        for i in 0..FAST_POLLS + timeout_us / POLL_US {
            if self.regs.read32(offset) & mask == value {
                return Ok(());
            }
            if i >= FAST_POLLS {
                self.regs.delay_us(POLL_US);
            }
        }
        Err(BlockError::Timeout)
    }

    /// After an error: reset the command and data state machines so that
    /// the next command starts clean (the clock settings survive).
    fn reset_lines(&mut self) {
        let v = self.regs.read32(CLOCK_RESET) & !RST_MASK;
        self.regs.write32(CLOCK_RESET, v | RST_CMD | RST_DAT);
        let _ = self.wait_reg(CLOCK_RESET, RST_CMD | RST_DAT, 0, CONTROLLER_TIMEOUT_US);
    }

    /// Checks an access of `len` bytes at `lba` and returns the card.
    fn check(&self, lba: u32, len: usize) -> Result<CardInfo, BlockError> {
        let card = self.card.ok_or(BlockError::NoCard)?;
        if len == 0 || len % BLOCK_SIZE != 0 {
            return Err(BlockError::OutOfRange);
        }
        let n = u32::try_from(len / BLOCK_SIZE).map_err(|_| BlockError::OutOfRange)?;
        match lba.checked_add(n) {
            Some(end) if end <= card.blocks => Ok(card),
            _ => Err(BlockError::OutOfRange),
        }
    }

    /// Starts a data command for `n` blocks at `lba`.
    fn start_data(&mut self, card: &CardInfo, lba: u32, n: u32, read: bool) -> Result<(), BlockError> {
        let addr = if card.high_capacity {
            lba
        } else {
            lba * BLOCK_SIZE as u32
        };
        self.regs.write32(BLOCK, (n << 16) | BLOCK_SIZE as u32);
        let dir = if read { XM_READ } else { 0 };
        let (index, mode) = match (n, read) {
            (1, true) => (17, XM_BLOCK_COUNT_ENABLE | XM_READ),
            (1, false) => (24, XM_BLOCK_COUNT_ENABLE),
            (_, true) => (18, XM_BLOCK_COUNT_ENABLE | XM_AUTO_CMD12 | XM_MULTI | dir),
            (_, false) => (25, XM_BLOCK_COUNT_ENABLE | XM_AUTO_CMD12 | XM_MULTI | dir),
        };
        self.issue(index, addr, Resp::R1, mode)?;
        match card::r1_error(self.regs.read32(RESP0)) {
            None => Ok(()),
            Some(e) => {
                self.reset_lines();
                Err(e)
            }
        }
    }

    /// After a multi-block transfer failed part-way: the card is still
    /// sending or receiving (auto CMD12 follows the last block only) and
    /// would take no other command until power-up. CMD12 with the abort
    /// type returns it to the transfer state, then the lines are reset.
    /// Best effort: the caller reports the transfer's own error.
    fn abort_transfer(&mut self) {
        if self.wait_reg(PRESENT, PS_CMD_INHIBIT, 0, CMD_TIMEOUT_US).is_ok() {
            self.regs.write32(INT_STATUS, 0xFFFF_FFFF);
            self.regs.write32(ARGUMENT, 0);
            self.regs
                .write32(XFER_CMD, CMD_TYPE_ABORT | Resp::R1b.flags() | (12 << CMD_INDEX_SHIFT));
            if self.wait_int(INT_CMD_COMPLETE, CMD_TIMEOUT_US).is_ok() {
                // The busy of a write being programmed when it was stopped.
                let _ = self.wait_int(INT_XFER_COMPLETE, WRITE_TIMEOUT_US);
            }
            self.regs.write32(INT_STATUS, 0xFFFF_FFFF);
        }
        self.reset_lines();
    }

    /// Ends a data command: transfer complete (after the card's busy on writes).
    fn finish_data(&mut self, timeout_us: u32) -> Result<(), BlockError> {
        self.wait_int(INT_XFER_COMPLETE, timeout_us)?;
        self.regs.write32(INT_STATUS, INT_XFER_COMPLETE);
        Ok(())
    }
}

impl<R: Regs> Sdhci<R> {
    /// The data phase of a started read: every block through the data port.
    fn read_data(&mut self, part: &mut [u8]) -> Result<(), BlockError> {
        for block in part.chunks_mut(BLOCK_SIZE) {
            self.wait_int(INT_BUF_READ_READY, READ_TIMEOUT_US)?;
            self.regs.write32(INT_STATUS, INT_BUF_READ_READY);
            for word in block.chunks_mut(4) {
                word.copy_from_slice(&self.regs.read32(BUFFER).to_le_bytes());
            }
        }
        self.finish_data(READ_TIMEOUT_US)
    }

    /// The data phase of a started write, up to the card's busy after it.
    fn write_data(&mut self, part: &[u8]) -> Result<(), BlockError> {
        for block in part.chunks(BLOCK_SIZE) {
            self.wait_int(INT_BUF_WRITE_READY, WRITE_TIMEOUT_US)?;
            self.regs.write32(INT_STATUS, INT_BUF_WRITE_READY);
            for word in block.chunks(4) {
                self.regs
                    .write32(BUFFER, u32::from_le_bytes([word[0], word[1], word[2], word[3]]));
            }
        }
        self.finish_data(WRITE_TIMEOUT_US)
    }
}

impl<R: Regs> BlockDevice for Sdhci<R> {
    fn block_count(&mut self) -> Result<u32, BlockError> {
        self.card.map(|c| c.blocks).ok_or(BlockError::NoCard)
    }

    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), BlockError> {
        let card = self.check(lba, buf.len())?;
        let chunk = MAX_BLOCKS_PER_CMD as usize * BLOCK_SIZE;
        for (i, part) in buf.chunks_mut(chunk).enumerate() {
            let n = (part.len() / BLOCK_SIZE) as u32;
            self.start_data(&card, lba + i as u32 * MAX_BLOCKS_PER_CMD, n, true)?;
            let r = self.read_data(part);
            if r.is_err() && n > 1 {
                self.abort_transfer();
            }
            r?;
        }
        Ok(())
    }

    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), BlockError> {
        let card = self.check(lba, buf.len())?;
        if self.config.honor_write_protect && self.regs.read32(PRESENT) & PS_WRITE_ENABLED == 0 {
            return Err(BlockError::WriteProtected);
        }
        let chunk = MAX_BLOCKS_PER_CMD as usize * BLOCK_SIZE;
        for (i, part) in buf.chunks(chunk).enumerate() {
            let n = (part.len() / BLOCK_SIZE) as u32;
            self.start_data(&card, lba + i as u32 * MAX_BLOCKS_PER_CMD, n, false)?;
            let r = self.write_data(part);
            if r.is_err() && n > 1 {
                self.abort_transfer();
            }
            r?;
        }
        Ok(())
    }
}
