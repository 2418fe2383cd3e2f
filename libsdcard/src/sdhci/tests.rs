//! The driver against a model of an SDHCI controller with an SD card behind
//! it: identification of SDHC and SDSC cards, block I/O, and every failure
//! ending in an error value within its bound.

extern crate std;

use super::card::set_csd_bits;
use super::regs::*;
use super::*;
use std::collections::BTreeMap;
use std::vec::Vec;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Ready,
    Ident,
    Stby,
    Tran,
    /// Sending the blocks of a CMD18 until the last one or CMD12.
    Data,
    /// Receiving the blocks of a CMD25 until the last one or CMD12.
    Rcv,
}

struct Card {
    blocks: u32,
    high_capacity: bool,
    /// Answers CMD8 (SD 2.00+).
    v2: bool,
    /// Model time at which ACMD41 reports power-up done (`u64::MAX`: never).
    ready_at_us: u64,
    state: State,
    app: bool,
    data: BTreeMap<u32, Vec<u8>>,
}

struct Xfer {
    read: bool,
    /// CMD18/25: the controller sends CMD12 after the last block.
    multi: bool,
    block: u32,
    remaining: u32,
    buf: Vec<u8>,
}

/// Controller registers plus card state; time advances only in `delay_us`.
struct Model {
    block: u32,
    arg: u32,
    resp: [u32; 4],
    host_power: u32,
    clock: u32,
    status: u32,
    status_en: u32,
    card: Option<Card>,
    write_protect: bool,
    clock_never_stable: bool,
    crc_error_at_block: Option<u32>,
    xfer: Option<Xfer>,
    now_us: u64,
    /// (index, argument) of every command issued.
    commands: Vec<(u32, u32)>,
}

const RCA: u16 = 0x4567;

impl Model {
    fn new(card: Option<Card>) -> Model {
        Model {
            block: 0,
            arg: 0,
            resp: [0; 4],
            host_power: 0,
            clock: 0,
            status: 0,
            status_en: 0,
            card,
            write_protect: false,
            clock_never_stable: false,
            crc_error_at_block: None,
            xfer: None,
            now_us: 0,
            commands: Vec::new(),
        }
    }

    fn raise(&mut self, bits: u32) {
        self.status |= bits & self.status_en;
    }

    fn card_status(&self) -> u32 {
        let state = match self.card.as_ref().map(|c| c.state) {
            Some(State::Idle) | None => 0,
            Some(State::Ready) => 1,
            Some(State::Ident) => 2,
            Some(State::Stby) => 3,
            Some(State::Tran) => 4,
            Some(State::Data) => 5,
            Some(State::Rcv) => 6,
        };
        (state << 9) | (1 << 8)
    }

    fn block_data(&self, lba: u32) -> Vec<u8> {
        let card = self.card.as_ref().unwrap();
        card.data
            .get(&lba)
            .cloned()
            .unwrap_or_else(|| std::vec![(lba & 0xFF) as u8; 512])
    }

    /// Runs the command just written; sets the response and status.
    fn command(&mut self, xfer_cmd: u32) {
        let index = xfer_cmd >> CMD_INDEX_SHIFT & 0x3F;
        let arg = self.arg;
        self.commands.push((index, arg));
        let status = self.card_status();
        let Some(card) = self.card.as_mut() else {
            // Nobody answers; a command without response completes anyway.
            if xfer_cmd & CMD_RESP_MASK == CMD_RESP_NONE {
                return self.raise(INT_CMD_COMPLETE);
            }
            return self.raise(ERR_CMD_TIMEOUT | INT_ERROR);
        };
        let app = core::mem::replace(&mut card.app, false);
        let resp = match (app, index, card.state) {
            (_, 0, _) => {
                card.state = State::Idle;
                Some(0)
            }
            (false, 8, State::Idle) if card.v2 => Some(arg & 0xFFF),
            (false, 55, _) => {
                card.app = true;
                Some(status | 1 << 5)
            }
            (true, 41, State::Idle) => {
                let done = self.now_us >= card.ready_at_us;
                let hcs = card.high_capacity && arg & (1 << 30) != 0;
                if done {
                    card.state = State::Ready;
                }
                Some(0x00FF_8000 | (done as u32) << 31 | (hcs as u32) << 30)
            }
            (false, 2, State::Ready) => {
                card.state = State::Ident;
                self.resp = [0x1111_1111, 0x2222_2222, 0x3333_3333, 0x0044_4444];
                None
            }
            (false, 3, State::Ident) => {
                card.state = State::Stby;
                Some((RCA as u32) << 16)
            }
            (false, 9, State::Stby) if arg >> 16 == RCA as u32 => {
                let mut r = [0; 4];
                if card.high_capacity {
                    set_csd_bits(&mut r, 127, 126, 1);
                    set_csd_bits(&mut r, 69, 48, card.blocks / 1024 - 1);
                } else {
                    // blocks = (c_size + 1) * 2^(mult + 2) with 512-byte blocks, mult = 7.
                    set_csd_bits(&mut r, 83, 80, 9);
                    set_csd_bits(&mut r, 73, 62, card.blocks / 512 - 1);
                    set_csd_bits(&mut r, 49, 47, 7);
                }
                self.resp = r;
                None
            }
            (false, 7, State::Stby) if arg >> 16 == RCA as u32 => {
                card.state = State::Tran;
                self.raise(INT_XFER_COMPLETE); // R1b: busy ends at once
                Some(status)
            }
            (false, 16, State::Tran) if arg == 512 => Some(status),
            (true, 6, State::Tran) if arg == 2 => Some(status),
            (false, 17 | 18 | 24 | 25, State::Tran) => {
                let lba = if card.high_capacity { arg } else { arg / 512 };
                let n = if index == 17 || index == 24 {
                    1
                } else {
                    self.block >> 16
                };
                if lba.checked_add(n).is_none_or(|end| end > card.blocks) {
                    Some(status | 1 << 31)
                } else {
                    let read = index == 17 || index == 18;
                    let multi = index == 18 || index == 25;
                    if multi {
                        card.state = if read { State::Data } else { State::Rcv };
                    }
                    self.xfer = Some(Xfer {
                        read,
                        multi,
                        block: lba,
                        remaining: n,
                        buf: Vec::new(),
                    });
                    self.resp[0] = status;
                    self.raise(INT_CMD_COMPLETE);
                    self.next_block();
                    return;
                }
            }
            (false, 12, State::Data | State::Rcv) => {
                card.state = State::Tran;
                self.raise(INT_XFER_COMPLETE); // R1b: busy ends at once
                Some(status)
            }
            _ => {
                // Illegal in this state: a real card stays silent.
                return self.raise(ERR_CMD_TIMEOUT | INT_ERROR);
            }
        };
        if let Some(r) = resp {
            self.resp[0] = r;
        }
        self.raise(INT_CMD_COMPLETE);
    }

    /// Offers the next block of the current transfer, or ends it.
    fn next_block(&mut self) {
        let Some(x) = self.xfer.as_ref() else { return };
        if x.remaining == 0 {
            if x.multi {
                // Auto CMD12.
                self.card.as_mut().unwrap().state = State::Tran;
            }
            self.xfer = None;
            return self.raise(INT_XFER_COMPLETE);
        }
        if x.read {
            if self.crc_error_at_block == Some(x.block) {
                self.xfer = None;
                return self.raise(ERR_DATA_CRC | INT_ERROR);
            }
            let data = self.block_data(x.block);
            self.xfer.as_mut().unwrap().buf = data;
            self.raise(INT_BUF_READ_READY);
        } else {
            self.raise(INT_BUF_WRITE_READY);
        }
    }
}

impl Regs for Model {
    fn read32(&mut self, offset: usize) -> u32 {
        match offset {
            RESP0 => self.resp[0],
            0x14 => self.resp[1],
            0x18 => self.resp[2],
            0x1C => self.resp[3],
            BUFFER => {
                let Some(x) = self.xfer.as_mut().filter(|x| x.read && !x.buf.is_empty()) else {
                    return 0;
                };
                let w: Vec<u8> = x.buf.drain(..4).collect();
                if x.buf.is_empty() {
                    x.block += 1;
                    x.remaining -= 1;
                    self.next_block();
                }
                u32::from_le_bytes([w[0], w[1], w[2], w[3]])
            }
            PRESENT => {
                let mut v = 0;
                if self.card.is_some() {
                    v |= PS_CARD_INSERTED;
                }
                if !self.write_protect {
                    v |= PS_WRITE_ENABLED;
                }
                if self.xfer.is_some() {
                    v |= PS_DAT_INHIBIT;
                }
                v
            }
            HOST_POWER => self.host_power,
            CLOCK_RESET => self.clock,
            INT_STATUS => self.status,
            _ => 0,
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        match offset {
            BLOCK => self.block = value,
            ARGUMENT => self.arg = value,
            XFER_CMD => self.command(value),
            BUFFER => {
                let Some(x) = self.xfer.as_mut().filter(|x| !x.read) else {
                    return;
                };
                x.buf.extend_from_slice(&value.to_le_bytes());
                if x.buf.len() == 512 && self.crc_error_at_block == Some(x.block) {
                    // The card answers the block with a CRC error token; a
                    // CMD25 leaves it waiting for more (until CMD12).
                    self.xfer = None;
                    return self.raise(ERR_DATA_CRC | INT_ERROR);
                }
                if x.buf.len() == 512 {
                    let (lba, data) = (x.block, core::mem::take(&mut x.buf));
                    x.block += 1;
                    x.remaining -= 1;
                    self.card.as_mut().unwrap().data.insert(lba, data);
                    self.next_block();
                }
            }
            HOST_POWER => self.host_power = value,
            CLOCK_RESET => {
                if value & RST_ALL != 0 {
                    let card = self.card.take();
                    let (wp, never, crc, now) = (
                        self.write_protect,
                        self.clock_never_stable,
                        self.crc_error_at_block,
                        self.now_us,
                    );
                    let commands = core::mem::take(&mut self.commands);
                    *self = Model::new(card);
                    (
                        self.write_protect,
                        self.clock_never_stable,
                        self.crc_error_at_block,
                        self.now_us,
                    ) = (wp, never, crc, now);
                    self.commands = commands;
                    return;
                }
                if value & (RST_CMD | RST_DAT) != 0 {
                    self.xfer = None;
                }
                let stable = value & CLK_INTERNAL_ENABLE != 0 && !self.clock_never_stable;
                self.clock = (value & 0xFFFF & !CLK_INTERNAL_STABLE) | (value & 0x000F_0000);
                if stable {
                    self.clock |= CLK_INTERNAL_STABLE;
                }
            }
            INT_STATUS => {
                self.status &= !value;
                if self.status & ERR_ALL == 0 {
                    self.status &= !INT_ERROR;
                }
            }
            INT_STATUS_ENABLE => self.status_en = value | INT_ERROR,
            _ => {}
        }
    }

    fn delay_us(&mut self, us: u32) {
        self.now_us += us as u64;
    }
}

fn sdhc(blocks: u32) -> Card {
    Card {
        blocks,
        high_capacity: true,
        v2: true,
        ready_at_us: 5_000,
        state: State::Idle,
        app: false,
        data: BTreeMap::new(),
    }
}

fn sdsc_v1(blocks: u32) -> Card {
    Card {
        high_capacity: false,
        v2: false,
        ..sdhc(blocks)
    }
}

fn driver(card: Option<Card>) -> Sdhci<Model> {
    Sdhci::new(Model::new(card), Config::QEMU)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn identifies_sdhc_card() {
    let mut sd = driver(Some(sdhc(8 * 1024 * 1024)));
    let info = sd.init().unwrap();
    assert_eq!(info.rca, RCA);
    assert!(info.high_capacity);
    assert_eq!(info.blocks, 8 * 1024 * 1024);
    assert_eq!(info.cid[0], 0x1111_1111);
    assert_eq!(sd.block_count(), Ok(8 * 1024 * 1024));
    assert_ne!(sd.regs_mut().host_power & HC_4BIT, 0, "4-bit bus selected");
    let m = sd.regs_mut();
    let acmd41 = m.commands.iter().filter(|c| c.0 == 41).count();
    assert!(acmd41 > 1, "ACMD41 repeated until the card is ready");
    assert!(
        m.commands.iter().all(|c| c.0 != 16),
        "no CMD16 on block-addressed cards"
    );
}

#[test]
fn identifies_v1_sdsc_card_and_addresses_bytes() {
    let mut sd = driver(Some(sdsc_v1(64 * 2048)));
    let info = sd.init().unwrap();
    assert!(!info.high_capacity);
    assert_eq!(info.blocks, 64 * 2048);
    let mut buf = [0u8; 1024];
    sd.read(10, &mut buf).unwrap();
    assert!(buf[..512].iter().all(|&b| b == 10) && buf[512..].iter().all(|&b| b == 11));
    let m = sd.regs_mut();
    assert!(m.commands.contains(&(16, 512)));
    assert!(m.commands.contains(&(18, 10 * 512)), "byte address on SDSC");
}

#[test]
fn reads_and_writes_single_and_multiple_blocks() {
    let mut sd = driver(Some(sdhc(1024 * 1024)));
    sd.init().unwrap();
    let one = pattern(512, 1);
    sd.write(7, &one).unwrap();
    let many = pattern(512 * 9, 2);
    sd.write(100, &many).unwrap();
    let mut b = std::vec![0u8; 512];
    sd.read(7, &mut b).unwrap();
    assert_eq!(b, one);
    let mut b = std::vec![0u8; 512 * 9];
    sd.read(100, &mut b).unwrap();
    assert_eq!(b, many);
    let m = sd.regs_mut();
    assert!(m.commands.contains(&(24, 7)) && m.commands.contains(&(25, 100)));
    assert!(m.commands.contains(&(17, 7)) && m.commands.contains(&(18, 100)));
}

#[test]
fn no_card_is_reported_quickly() {
    let mut sd = driver(None);
    let e = sd.init().unwrap_err();
    assert_eq!(e.cause, BlockError::NoCard);
    assert!(sd.regs_mut().now_us < 500_000);
    let mut b = [0u8; 512];
    assert_eq!(sd.read(0, &mut b), Err(BlockError::NoCard));
}

#[test]
fn card_that_never_powers_up_times_out_within_the_bound() {
    let mut sd = driver(Some(Card {
        ready_at_us: u64::MAX,
        ..sdhc(2048 * 1024)
    }));
    let e = sd.init().unwrap_err();
    assert_eq!(
        e,
        InitError {
            step: InitStep::OperatingCondition,
            cause: BlockError::Timeout
        }
    );
    let t = sd.regs_mut().now_us;
    assert!((1_000_000..1_200_000).contains(&t), "gave up after {t} us");
}

#[test]
fn clock_that_never_settles_times_out() {
    let mut m = Model::new(Some(sdhc(2048 * 1024)));
    m.clock_never_stable = true;
    let mut sd = Sdhci::new(m, Config::QEMU);
    let e = sd.init().unwrap_err();
    assert_eq!(
        e,
        InitError {
            step: InitStep::Controller,
            cause: BlockError::Timeout
        }
    );
}

#[test]
fn data_crc_error_is_reported_and_the_next_read_works() {
    let mut sd = driver(Some(sdhc(2048 * 1024)));
    sd.init().unwrap();
    sd.regs_mut().crc_error_at_block = Some(5);
    let mut b = std::vec![0u8; 512 * 4];
    assert_eq!(sd.read(3, &mut b), Err(BlockError::Crc));
    sd.regs_mut().crc_error_at_block = None;
    sd.read(3, &mut b).unwrap();
    assert!(b[1024..1536].iter().all(|&x| x == 5));
}

#[test]
fn a_failed_multi_block_transfer_is_stopped_so_the_card_takes_the_next() {
    let mut sd = driver(Some(sdhc(2048 * 1024)));
    sd.init().unwrap();
    // A read that fails in its third block: the card would go on sending
    // (its auto CMD12 never comes), so the driver stops it with CMD12.
    sd.regs_mut().crc_error_at_block = Some(5);
    let mut b = std::vec![0u8; 512 * 4];
    assert_eq!(sd.read(3, &mut b), Err(BlockError::Crc));
    assert_eq!(sd.regs_mut().commands.last(), Some(&(12, 0)));
    sd.regs_mut().crc_error_at_block = None;
    sd.read(3, &mut b).unwrap();
    // The same for a write (the card waits for more blocks of the CMD25).
    sd.regs_mut().crc_error_at_block = Some(20);
    let data = pattern(512 * 8, 3);
    assert_eq!(sd.write(16, &data), Err(BlockError::Crc));
    assert_eq!(sd.regs_mut().commands.last(), Some(&(12, 0)));
    sd.regs_mut().crc_error_at_block = None;
    sd.write(16, &data).unwrap();
    sd.read(16, &mut b).unwrap();
    assert_eq!(b, data[..2048]);
    // A single-block command needs no stop.
    sd.regs_mut().crc_error_at_block = Some(7);
    let n = sd.regs_mut().commands.len();
    assert_eq!(sd.read(7, &mut b[..512]), Err(BlockError::Crc));
    assert_eq!(sd.regs_mut().commands.len(), n + 1, "CMD17 only");
}

#[test]
fn bad_accesses_are_refused() {
    let mut sd = driver(Some(sdhc(1024 * 1024)));
    let mut b = [0u8; 512];
    assert_eq!(sd.read(0, &mut b), Err(BlockError::NoCard), "before init");
    sd.init().unwrap();
    assert_eq!(sd.read(1024 * 1024 - 1, &mut [0u8; 1024]), Err(BlockError::OutOfRange));
    assert_eq!(sd.read(u32::MAX, &mut b), Err(BlockError::OutOfRange));
    assert_eq!(sd.read(0, &mut [0u8; 100]), Err(BlockError::OutOfRange));
    assert_eq!(sd.write(0, &[]), Err(BlockError::OutOfRange));
    sd.regs_mut().write_protect = true;
    assert_eq!(sd.write(0, &b), Err(BlockError::WriteProtected));
}

#[test]
fn clock_divisors() {
    assert_eq!(clock_divisor(50_000_000, 400_000), 64); // 390 kHz
    assert_eq!(clock_divisor(50_000_000, 25_000_000), 1);
    assert_eq!(clock_divisor(50_000_000, 50_000_000), 0);
    assert_eq!(clock_divisor(200_000_000, 100_000), 0x80);
    assert_eq!(clock_divisor(0, 25_000_000), 0x80);
}
