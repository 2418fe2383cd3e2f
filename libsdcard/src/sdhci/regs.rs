//! The SD host controller's registers (SD Host Controller Simplified
//! Specification 2.00 layout, as in the Zynq-7000's two controllers, UG585
//! ch. 13) and the trait the driver reaches them through.
//!
//! The driver only ever does aligned 32-bit accesses: the Zynq's AHB slave
//! accepts them for every register, and a 32-bit write at 0x0C sets the
//! transfer mode and issues the command in one access, as the controller
//! requires (the command starts when the command register's upper byte is
//! written).

/// Register access and time for the driver. The real implementation maps
/// the controller's MMIO window ([`super::Mmio`]); the tests implement it
/// with a model of a controller and a card.
pub trait Regs {
    /// Reads the 32-bit register at byte `offset`.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes the 32-bit register at byte `offset`.
    fn write32(&mut self, offset: usize, value: u32);
    /// Waits about `us` microseconds. Every wait of the driver is a bounded
    /// number of these, so a slow or missing timer only makes the bounds
    /// longer or shorter, never infinite.
    fn delay_us(&mut self, us: u32);
}

/// Block size (bits 11:0) and block count (bits 31:16).
pub const BLOCK: usize = 0x04;
pub const ARGUMENT: usize = 0x08;
/// Transfer mode (bits 15:0) and command (bits 31:16).
pub const XFER_CMD: usize = 0x0C;
pub const RESP0: usize = 0x10;
pub const BUFFER: usize = 0x20;
pub const PRESENT: usize = 0x24;
/// Host control (7:0), power control (15:8), block gap (23:16), wake-up (31:24).
pub const HOST_POWER: usize = 0x28;
/// Clock control (15:0), timeout control (19:16), software reset (26:24).
pub const CLOCK_RESET: usize = 0x2C;
/// Normal interrupt status (15:0) and error interrupt status (31:16), write 1 to clear.
pub const INT_STATUS: usize = 0x30;
pub const INT_STATUS_ENABLE: usize = 0x34;
pub const INT_SIGNAL_ENABLE: usize = 0x38;

// Transfer mode (low half of XFER_CMD).
pub const XM_BLOCK_COUNT_ENABLE: u32 = 1 << 1;
pub const XM_AUTO_CMD12: u32 = 1 << 2;
pub const XM_READ: u32 = 1 << 4;
pub const XM_MULTI: u32 = 1 << 5;

// Command (high half of XFER_CMD, already shifted).
pub const CMD_RESP_NONE: u32 = 0 << 16;
pub const CMD_RESP_136: u32 = 1 << 16;
pub const CMD_RESP_48: u32 = 2 << 16;
pub const CMD_RESP_48_BUSY: u32 = 3 << 16;
pub const CMD_RESP_MASK: u32 = 3 << 16;
pub const CMD_CRC_CHECK: u32 = 1 << 19;
pub const CMD_INDEX_CHECK: u32 = 1 << 20;
pub const CMD_DATA: u32 = 1 << 21;
pub const CMD_INDEX_SHIFT: u32 = 24;
/// Command type "abort" (CMD12 ending a transfer the host gave up on).
pub const CMD_TYPE_ABORT: u32 = 3 << 22;

// Present state.
pub const PS_CMD_INHIBIT: u32 = 1 << 0;
pub const PS_DAT_INHIBIT: u32 = 1 << 1;
pub const PS_CARD_INSERTED: u32 = 1 << 16;
/// Write-protect pin level: 1 = writable.
pub const PS_WRITE_ENABLED: u32 = 1 << 19;

// Host and power control.
pub const HC_4BIT: u32 = 1 << 1;
/// Card detect: use the test level (bit 6) instead of the pin, and say
/// "inserted". For boards whose slot has no card-detect line.
pub const HC_CD_TEST_INSERTED: u32 = (1 << 7) | (1 << 6);
/// Bus power on at 3.3 V.
pub const PWR_ON_3V3: u32 = 0x0F << 8;

// Clock control and software reset.
pub const CLK_INTERNAL_ENABLE: u32 = 1 << 0;
pub const CLK_INTERNAL_STABLE: u32 = 1 << 1;
pub const CLK_SD_ENABLE: u32 = 1 << 2;
pub const CLK_DIV_SHIFT: u32 = 8;
/// Data timeout counter value: TMCLK x 2^27, the largest.
pub const TIMEOUT_MAX: u32 = 0xE << 16;
pub const RST_ALL: u32 = 1 << 24;
pub const RST_CMD: u32 = 1 << 25;
pub const RST_DAT: u32 = 1 << 26;
pub const RST_MASK: u32 = 7 << 24;

// Interrupt status: normal (low half) and error (high half).
pub const INT_CMD_COMPLETE: u32 = 1 << 0;
pub const INT_XFER_COMPLETE: u32 = 1 << 1;
pub const INT_BUF_WRITE_READY: u32 = 1 << 4;
pub const INT_BUF_READ_READY: u32 = 1 << 5;
pub const INT_ERROR: u32 = 1 << 15;
pub const ERR_CMD_TIMEOUT: u32 = 1 << 16;
pub const ERR_CMD_CRC: u32 = 1 << 17;
pub const ERR_CMD_END_BIT: u32 = 1 << 18;
pub const ERR_CMD_INDEX: u32 = 1 << 19;
pub const ERR_DATA_TIMEOUT: u32 = 1 << 20;
pub const ERR_DATA_CRC: u32 = 1 << 21;
pub const ERR_DATA_END_BIT: u32 = 1 << 22;
pub const ERR_AUTO_CMD12: u32 = 1 << 24;
pub const ERR_ALL: u32 = 0x03FF_0000;
/// What the driver lets into the status register: without an enable bit
/// the controller never sets the status bit.
pub const INT_ENABLED: u32 = ERR_ALL | INT_CMD_COMPLETE | INT_XFER_COMPLETE | INT_BUF_WRITE_READY | INT_BUF_READ_READY;
