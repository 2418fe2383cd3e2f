//! DDR3 bring-up (UG585 10.6): DDR I/O buffers, DCI impedance calibration,
//! the controller's registers with the controller held in reset, then
//! release and wait for initialisation and training to finish; then the
//! self-check (`satboot::memcheck`) over three 1 MiB regions. Values come
//! from `satboot::ddr`; every wait has a deadline.
//!
//! The DDR PLL, DDR_CLK_CTRL and DCI_CLK_CTRL are set by `clocks`.

use super::super::timer;
use satboot::ddr::{Bus, Ddrc, Ddriob};
use satboot::memcheck::{self, Mismatch, Words};
use zynq7000::ddrc::{DramAddrMapBank, DramAddrMapColumn, DramAddrMapRow, OperatingMode};

/// DCI calibration takes 1-2 ms (UG585 10.6.2).
const DCI_TIMEOUT_US: u64 = 20_000;
/// DRAM initialisation plus the three training steps.
const INIT_TIMEOUT_US: u64 = 200_000;

/// The self-check regions: first MiB of DDR above OCM, the middle, the
/// last MiB of the 1 GiB (address lines up to the top row bit).
pub const CHECK_REGIONS: [usize; 3] = [0x0010_0000, 0x2000_0000, 0x3FF0_0000];
pub const CHECK_BYTES: usize = 1 << 20;

/// Why DDR did not come up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DdrFault {
    /// DDRIOB_DCI_STATUS never showed DONE.
    DciTimeout { status: u32 },
    /// The controller did not reach normal operation (MODE_STS).
    InitTimeout { mode_sts: u32 },
    /// The self-check read back something else.
    Check { address: u32, expected: u32, found: u32 },
}

impl core::fmt::Display for DdrFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            DdrFault::DciTimeout { status } => {
                write!(f, "DCI calibration timed out (DCI_STATUS {status:#010x})")
            }
            DdrFault::InitTimeout { mode_sts } => {
                write!(
                    f,
                    "controller not in normal operation after training (MODE_STS {mode_sts:#010x})"
                )
            }
            DdrFault::Check {
                address,
                expected,
                found,
            } => write!(
                f,
                "self-check: {address:#010x} read {found:#010x}, wrote {expected:#010x}"
            ),
        }
    }
}

/// Times of the steps, for the log.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub dci_us: u64,
    pub init_us: u64,
}

/// Polls `f` until true or `timeout_us`; bounded by a poll count as well.
fn wait(timeout_us: u64, mut f: impl FnMut() -> bool) -> Option<u64> {
    let t0 = timer::now_us();
    for _ in 0..50_000_000u32 {
        if f() {
            return Some(timer::now_us() - t0);
        }
        if timer::now_us() - t0 > timeout_us {
            break;
        }
    }
    f().then(|| timer::now_us() - t0)
}

/// Brings the DDR up. SLCR unlocked by the caller.
pub fn init(ddrc: &Ddrc, io: &Ddriob) -> Result<Report, DdrFault> {
    // SAFETY: the DDRC and SLCR DDRIOB blocks; nothing else uses them.
    let mut regs = unsafe { zynq7000::ddrc::Registers::new_mmio_fixed() };
    // SAFETY: as above.
    let mut slcr = unsafe { zynq7000::slcr::Registers::new_mmio_fixed() };
    regs.modify_ddrc_ctrl(|c| ddrc.ctrl(c, true));

    let mut iob = slcr.ddriob();
    iob.write_ddriob_addr0(io.addr);
    iob.write_ddriob_addr1(io.addr);
    iob.write_ddriob_data0(io.data);
    iob.write_ddriob_data1(io.data);
    iob.write_ddriob_diff0(io.diff);
    iob.write_ddriob_diff1(io.diff);
    iob.write_ddriob_clock(io.clock);
    iob.write_ddriob_drive_slew_addr(io.drive_slew_addr);
    iob.write_ddriob_drive_slew_data(io.drive_slew_data);
    iob.write_ddriob_drive_slew_diff(io.drive_slew_diff);
    iob.write_ddriob_drive_slew_clock(io.drive_slew_clock);
    iob.modify_ddr_control(|c| io.ddr_ctrl(c));

    // DCI (UG585 10.6.2): toggle RESET, DDR3 reference options, no
    // periodic update, enable; DONE is polled after the DDRC registers.
    iob.modify_dci_control(|c| c.with_reset(true));
    iob.modify_dci_control(|c| c.with_reset(false));
    iob.modify_dci_control(|c| c.with_reset(true));
    iob.modify_dci_control(|c| {
        use arbitrary_int::{u2, u3};
        c.with_pref_opt2(u3::new(0))
            .with_pref_opt1(u2::new(0))
            .with_nref_opt4(u3::new(1))
            .with_nref_opt2(u3::new(0))
            .with_nref_opt1(u2::new(0))
    });
    iob.modify_dci_control(|c| c.with_update_control(false));
    iob.modify_dci_control(|c| c.with_enable(true));

    regs.modify_two_rank_cfg(|v| ddrc.two_rank(v));
    regs.modify_dram_param_reg0(|v| ddrc.param0(v));
    regs.modify_dram_param_reg1(|v| ddrc.param1(v));
    regs.modify_dram_param_reg2(|v| ddrc.param2(v));
    regs.modify_dram_param_reg3(|v| ddrc.param3(v));
    regs.modify_dram_emr(|v| ddrc.emr(v));
    regs.modify_dram_emr_mr(|v| ddrc.emr_mr(v));
    let (bank, col, row) = ddrc.addr_map;
    regs.write_dram_addr_map_bank(DramAddrMapBank::new_with_raw_value(bank));
    regs.write_dram_addr_map_col(DramAddrMapColumn::new_with_raw_value(col));
    regs.write_dram_addr_map_row(DramAddrMapRow::new_with_raw_value(row));
    regs.modify_phy_cmd_timeout_rddata_cpt(|v| ddrc.phy_cmd_timeout(v));
    regs.modify_reg_2c(|v| ddrc.reg_2c(v));
    regs.modify_dfi_timing(|v| ddrc.dfi_timing(v));
    regs.modify_reg_65(|v| ddrc.reg_65(v));
    let slices = match ddrc.bus {
        Bus::Bits32 => 4,
        Bus::Bits16 => 2,
    };
    for i in 0..4 {
        let _ = regs.modify_phy_config(i, |v| v.with_data_slice_in_use(i < slices));
    }

    let iob = slcr.ddriob();
    let dci_us = wait(DCI_TIMEOUT_US, || iob.read_dci_status().done()).ok_or(DdrFault::DciTimeout {
        status: iob.read_dci_status().raw_value(),
    })?;
    regs.modify_ddrc_ctrl(|c| ddrc.ctrl(c, false));
    let init_us = wait(INIT_TIMEOUT_US, || {
        regs.read_mode_status().operating_mode() == OperatingMode::NormalOperation
    })
    .ok_or(DdrFault::InitTimeout {
        mode_sts: regs.read_mode_status().raw_value(),
    })?;
    Ok(Report { dci_us, init_us })
}

/// A DDR region as [`Words`] (volatile accesses; the MMU maps DDR normal,
/// uncached, so every access reaches the DRAM).
struct Region {
    base: usize,
    words: usize,
}

impl Words for Region {
    fn len(&self) -> usize {
        self.words
    }
    fn write(&mut self, index: usize, value: u32) {
        // SAFETY: index < words; the region lies in DDR that nothing uses
        // yet (the heap and the PS partition are filled after the check).
        unsafe { core::ptr::write_volatile((self.base as *mut u32).add(index), value) }
    }
    fn read(&mut self, index: usize) -> u32 {
        // SAFETY: as in `write`.
        unsafe { core::ptr::read_volatile((self.base as *const u32).add(index)) }
    }
}

/// The self-check; returns the bytes checked.
pub fn check() -> Result<u64, DdrFault> {
    let mut regions = CHECK_REGIONS.map(|base| {
        (
            base as u32,
            Region {
                base,
                words: CHECK_BYTES / 4,
            },
        )
    });
    memcheck::check(&mut regions).map(|words| words * 4 / 2).map_err(
        |Mismatch {
             region,
             word,
             expected,
             found,
         }| DdrFault::Check {
            address: (CHECK_REGIONS[region] + word * 4) as u32,
            expected,
            found,
        },
    )
}
