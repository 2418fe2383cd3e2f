//! DDR3 parameters → DDR controller (DDRC) and DDR I/O (DDRIOB) register
//! values, computed from a DRAM description and the DRAM clock; `fw::ddr`
//! writes them (read-modify-write: fields not listed here keep their reset
//! values, as upstream zynq-rs does).
//!
//! # The Kasli-SoC's DRAM
//! 1 GiB of DDR3 on a 32-bit bus: 8 banks, 15 row and 10 column address
//! bits (2 x16 devices of 4 Gbit, or 4 x8 devices of 2 Gbit: the same
//! geometry, hence the same address map, as the ZC706 branch of zynq-rs,
//! whose DDR settings upstream's kasli_soc build shares as far as the
//! public sources show). It is run at 533.33 MHz (DDR3-1066, CL 7, CWL 6),
//! the speed bin every upstream register value in zynq-rs was computed
//! for (see the `zc706_facts` test), with JEDEC DDR3-1066 timings and the
//! 4 Gbit refresh time (260 ns), which also covers 2 Gbit parts. Nothing
//! here has run on a Kasli-SoC (satboot/README.md).
//!
//! # Training
//! Write levelling, read DQS gate training and read data eye training are
//! enabled (`reg_2c`, `reg_65`), with upstream's PHY command timeout and
//! DFI timing settings; the PHY's initial ratios (board trace lengths) keep
//! their reset values, which upstream does on every board but the ZC706.

use arbitrary_int::{u10, u12, u2, u4, u5, u6};
use zynq7000::ddrc::{
    DataBusWidth, DdrcControl, DfiTiming, DramEmr, DramEmrMr, DramParamReg0, DramParamReg1, DramParamReg2,
    DramParamReg3, MobileSetting, PhyCmdTimeoutRdDataCpt, Reg2c, Reg65, SoftReset, TwoRankConfig,
};
use zynq7000::slcr::ddriob::{DciType, DdrControl, DdriobConfig, InputType, OutputEnable, VRefSel};

/// Data bus width between the Zynq and the DRAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    Bits32,
    Bits16,
}

/// A DDR3 memory system: geometry, latencies (cycles at the chosen clock)
/// and the data-sheet timings (picoseconds; where JEDEC also sets a
/// minimum in clocks, the cycle count is the larger of both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dram {
    pub bus: Bus,
    pub row_bits: u32,
    pub col_bits: u32,
    pub bank_bits: u32,
    pub cl: u32,
    pub cwl: u32,
    pub t_rcd_ps: u32,
    pub t_rp_ps: u32,
    pub t_ras_ps: u32,
    pub t_rc_ps: u32,
    pub t_rfc_ps: u32,
    pub t_faw_ps: u32,
    pub t_rrd_ps: u32,
    pub t_wr_ps: u32,
    pub t_wtr_ps: u32,
    pub t_rtp_ps: u32,
    pub t_xp_ps: u32,
    pub t_cke_ps: u32,
    /// Average refresh interval (7.8 µs up to 85 °C).
    pub t_refi_ps: u32,
}

/// The Kasli-SoC's DRAM clock (DDR_3x).
pub const KASLI_SOC_DDR_HZ: u32 = 533_333_333;

/// The Kasli-SoC's DRAM (module docs).
pub const KASLI_SOC: Dram = Dram {
    bus: Bus::Bits32,
    row_bits: 15,
    col_bits: 10,
    bank_bits: 3,
    cl: 7,
    cwl: 6,
    t_rcd_ps: 13_125,
    t_rp_ps: 13_125,
    t_ras_ps: 37_500,
    t_rc_ps: 50_625,
    t_rfc_ps: 260_000,
    t_faw_ps: 50_000,
    t_rrd_ps: 10_000,
    t_wr_ps: 15_000,
    t_wtr_ps: 7_500,
    t_rtp_ps: 7_500,
    t_xp_ps: 7_500,
    t_cke_ps: 7_500,
    t_refi_ps: 7_800_000,
};

impl Dram {
    /// Bytes addressed by this geometry.
    pub fn size(&self) -> u64 {
        let bytes_per_word = match self.bus {
            Bus::Bits32 => 4,
            Bus::Bits16 => 2,
        };
        bytes_per_word << (self.row_bits + self.col_bits + self.bank_bits)
    }
}

/// Why a DRAM description cannot be programmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DdrError {
    /// A timing does not fit its register field at this clock.
    FieldOverflow { field: &'static str, value: u32 },
    /// CL or CWL outside what MR0/MR2 can encode (CL 5..=11, CWL 5..=8).
    Latency { cl: u32, cwl: u32 },
    /// tWR does not round to a write-recovery value MR0 can encode.
    WriteRecovery { cycles: u32 },
    /// No address map is known for this geometry.
    Geometry {
        bus: Bus,
        row_bits: u32,
        col_bits: u32,
        bank_bits: u32,
    },
}

impl core::fmt::Display for DdrError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            DdrError::FieldOverflow { field, value } => write!(f, "{field} = {value} does not fit its register field"),
            DdrError::Latency { cl, cwl } => write!(f, "CL {cl} / CWL {cwl} cannot be encoded"),
            DdrError::WriteRecovery { cycles } => write!(f, "tWR of {cycles} clocks cannot be encoded"),
            DdrError::Geometry {
                bus,
                row_bits,
                col_bits,
                bank_bits,
            } => write!(
                f,
                "no address map for {bus:?}, {row_bits} row / {col_bits} column / {bank_bits} bank bits"
            ),
        }
    }
}

/// The computed timings, in DRAM clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub t_rc: u32,
    pub t_rfc_min: u32,
    pub t_rfc_nom_x32: u32,
    pub post_selfref_gap_x32: u32,
    pub wr2pre: u32,
    pub t_faw: u32,
    pub t_ras_max_x1024: u32,
    pub t_ras_min: u32,
    pub t_cke: u32,
    pub write_latency: u32,
    pub rd2wr: u32,
    pub wr2rd: u32,
    pub t_xp: u32,
    pub rd2pre: u32,
    pub t_rcd: u32,
    pub t_rrd: u32,
    pub t_rp: u32,
    pub read_latency: u32,
    pub mr0: u32,
    pub mr2: u32,
}

/// Burst length 8: four clocks of data.
const BL_CLOCKS: u32 = 4;
/// tXSDLL: 512 clocks from self-refresh exit to a command needing the DLL.
const T_XSDLL: u32 = 512;

fn cycles(ps: u32, t_ck_ps: u32, min_clocks: u32) -> u32 {
    ps.div_ceil(t_ck_ps).max(min_clocks)
}

fn fit(field: &'static str, value: u32, bits: u32) -> Result<u32, DdrError> {
    if value >> bits != 0 {
        return Err(DdrError::FieldOverflow { field, value });
    }
    Ok(value)
}

impl Timing {
    /// The timings of `dram` at `ddr_hz`.
    pub fn new(dram: &Dram, ddr_hz: u32) -> Result<Timing, DdrError> {
        let t_ck = (1_000_000_000_000u64 / ddr_hz as u64) as u32;
        let (cl, cwl) = (dram.cl, dram.cwl);
        if !(5..=11).contains(&cl) || !(5..=8).contains(&cwl) {
            return Err(DdrError::Latency { cl, cwl });
        }
        let t_wr = cycles(dram.t_wr_ps, t_ck, 0);
        // MR0 A11:A9, write recovery for autoprecharge (JEDEC JESD79-3).
        let wr_code = match t_wr {
            0..=5 => 1,
            6..=8 => t_wr - 4,
            9..=10 => 5,
            11..=12 => 6,
            13..=14 => 7,
            15..=16 => 0,
            _ => return Err(DdrError::WriteRecovery { cycles: t_wr }),
        };
        let t_wr_mr = match wr_code {
            0 => 16,
            1..=4 => wr_code + 4,
            c => 2 * c,
        };
        // MR0: burst length 8 (A1:A0 = 0), CL at A6:A4 (A2 = 0 for CL <= 11),
        // DLL reset (A8), write recovery at A11:A9.
        let mr0 = ((cl - 4) << 4) | (1 << 8) | (wr_code << 9);
        // MR2: CAS write latency at A5:A3.
        let mr2 = (cwl - 5) << 3;
        let t_wtr = cycles(dram.t_wtr_ps, t_ck, 4);
        let t_rtp = cycles(dram.t_rtp_ps, t_ck, 4);
        Ok(Timing {
            t_rc: fit("t_rc", cycles(dram.t_rc_ps, t_ck, 0), 6)?,
            t_rfc_min: fit("t_rfc_min", cycles(dram.t_rfc_ps, t_ck, 0), 8)?,
            t_rfc_nom_x32: fit("t_rfc_nom_x32", dram.t_refi_ps / t_ck / 32, 12)?,
            post_selfref_gap_x32: T_XSDLL.div_ceil(32),
            wr2pre: fit("wr2pre", cwl + BL_CLOCKS + t_wr_mr, 5)?,
            t_faw: fit("t_faw", cycles(dram.t_faw_ps, t_ck, 0), 6)?,
            // tRAS(max) = 9 x tREFI, in units of 1024 clocks.
            t_ras_max_x1024: fit("t_ras_max", (9 * dram.t_refi_ps as u64 / t_ck as u64 / 1024) as u32, 6)?,
            t_ras_min: fit("t_ras_min", cycles(dram.t_ras_ps, t_ck, 0), 5)?,
            t_cke: fit("t_cke", cycles(dram.t_cke_ps, t_ck, 3), 4)?,
            write_latency: cwl - 1,
            rd2wr: fit("rd2wr", cl + BL_CLOCKS + 2 - cwl, 5)?,
            wr2rd: fit("wr2rd", cwl + BL_CLOCKS + t_wtr, 5)?,
            t_xp: fit("t_xp", cycles(dram.t_xp_ps, t_ck, 3), 5)?,
            rd2pre: fit("rd2pre", t_rtp, 5)?,
            t_rcd: fit("t_rcd", cycles(dram.t_rcd_ps, t_ck, 0), 4)?,
            t_rrd: fit("t_rrd", cycles(dram.t_rrd_ps, t_ck, 4), 3)?,
            t_rp: fit("t_rp", cycles(dram.t_rp_ps, t_ck, 0), 4)?,
            read_latency: cl,
            mr0,
            mr2,
        })
    }
}

/// The DRAM address map registers (bank, column, row) for a geometry.
/// Upstream's two geometries, as facts: zynq-rs writes these for the ZC706
/// (32-bit, 15/10/8) and for the Cora Z7 and Red Pitaya (16-bit, 15/10/8).
pub fn address_map(dram: &Dram) -> Result<(u32, u32, u32), DdrError> {
    match (dram.bus, dram.row_bits, dram.col_bits, dram.bank_bits) {
        (Bus::Bits32, 15, 10, 3) => Ok((0x0000_0777, 0xFFF0_0000, 0x0F66_6666)),
        (Bus::Bits16, 15, 10, 3) => Ok((0x0000_0666, 0xFFFF_0000, 0x0F55_5555)),
        (bus, row_bits, col_bits, bank_bits) => Err(DdrError::Geometry {
            bus,
            row_bits,
            col_bits,
            bank_bits,
        }),
    }
}

/// Every DDRC value the loader programs, as functions of the registers'
/// current contents (so unlisted fields keep their reset values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ddrc {
    pub bus: Bus,
    pub timing: Timing,
    pub addr_map: (u32, u32, u32),
    /// EMR (MR1): output drive RZQ/6, RTT_nom RZQ/4 (upstream's 0x4).
    pub mr1: u32,
}

impl Ddrc {
    pub fn new(dram: &Dram, ddr_hz: u32) -> Result<Ddrc, DdrError> {
        Ok(Ddrc {
            bus: dram.bus,
            timing: Timing::new(dram, ddr_hz)?,
            addr_map: address_map(dram)?,
            mr1: 0x4,
        })
    }

    /// DDRC_CTRL with the controller held in (`reset`) or out of reset.
    pub fn ctrl(&self, current: DdrcControl, reset: bool) -> DdrcControl {
        current
            .with_data_bus_width(match self.bus {
                Bus::Bits32 => DataBusWidth::_32Bit,
                Bus::Bits16 => DataBusWidth::_16Bit,
            })
            .with_power_down_enable(false)
            .with_soft_reset(if reset { SoftReset::Reset } else { SoftReset::Active })
    }

    pub fn two_rank(&self, current: TwoRankConfig) -> TwoRankConfig {
        current.with_rfc_nom_x32(u12::new(self.timing.t_rfc_nom_x32 as u16))
    }

    pub fn param0(&self, current: DramParamReg0) -> DramParamReg0 {
        let t = &self.timing;
        current
            .with_t_rc(u6::new(t.t_rc as u8))
            .with_t_rfc_min(t.t_rfc_min as u8)
            .with_post_selfref_gap_x32(arbitrary_int::u7::new(t.post_selfref_gap_x32 as u8))
    }

    pub fn param1(&self, current: DramParamReg1) -> DramParamReg1 {
        let t = &self.timing;
        current
            .with_wr2pre(u5::new(t.wr2pre as u8))
            .with_powerdown_to_x32(u5::new(6))
            .with_t_faw(u6::new(t.t_faw as u8))
            .with_t_ras_max(u6::new(t.t_ras_max_x1024 as u8))
            .with_t_ras_min(u5::new(t.t_ras_min as u8))
            .with_t_cke(u4::new(t.t_cke as u8))
    }

    pub fn param2(&self, current: DramParamReg2) -> DramParamReg2 {
        let t = &self.timing;
        current
            .with_write_latency(u5::new(t.write_latency as u8))
            .with_rd2wr(u5::new(t.rd2wr as u8))
            .with_wr2rd(u5::new(t.wr2rd as u8))
            .with_t_xp(u5::new(t.t_xp as u8))
            .with_pad_pd(arbitrary_int::u3::new(0))
            .with_rd2pre(u5::new(t.rd2pre as u8))
            .with_t_rcd(u4::new(t.t_rcd as u8))
    }

    pub fn param3(&self, current: DramParamReg3) -> DramParamReg3 {
        let t = &self.timing;
        current
            .with_t_ccd(arbitrary_int::u3::new(4))
            .with_t_rrd(arbitrary_int::u3::new(t.t_rrd as u8))
            .with_refresh_margin(u4::new(2))
            .with_t_rp(u4::new(t.t_rp as u8))
            .with_refresh_to_x32(u5::new(8))
            .with_mobile(MobileSetting::Ddr2Ddr3)
            .with_read_latency(u5::new(t.read_latency as u8))
    }

    pub fn emr_mr(&self, current: DramEmrMr) -> DramEmrMr {
        current.with_mr(self.timing.mr0 as u16).with_emr(self.mr1 as u16)
    }

    pub fn emr(&self, current: DramEmr) -> DramEmr {
        current.with_emr2(self.timing.mr2 as u16).with_emr3(0)
    }

    /// PHY command timeouts (upstream's values, all boards).
    pub fn phy_cmd_timeout(&self, current: PhyCmdTimeoutRdDataCpt) -> PhyCmdTimeoutRdDataCpt {
        current
            .with_rd_cmd_to_data(u4::new(0))
            .with_wr_cmd_to_data(u4::new(0))
            .with_rdc_we_to_re_delay(u4::new(8))
            .with_use_fixed_re(true)
            .with_rdc_fifo_rst_err_cnt_clr(false)
            .with_dis_phy_ctrl_rstn(false)
            .with_clk_stall_level(false)
            .with_gatelvl_num_of_dq0(u4::new(7))
            .with_wrlvl_num_of_dq0(u4::new(7))
    }

    /// Training enables and timeouts.
    pub fn reg_2c(&self, current: Reg2c) -> Reg2c {
        current
            .with_dfi_wrlvl_max_x1024(u12::new(0xFFF))
            .with_dfi_rdlvl_max_x1024(u12::new(0xFFF))
            .with_twrlvl_max_error(false)
            .with_trdlvl_max_error(false)
            .with_dfi_wr_level_enable(true)
            .with_dfi_rd_dqs_gate_level(true)
            .with_dfi_rd_data_eye_train(true)
    }

    /// DFI timing: read data enable at CL - 1.
    pub fn dfi_timing(&self, current: DfiTiming) -> DfiTiming {
        current
            .with_dfi_t_rddata_enable(u5::new((self.timing.read_latency - 1) as u8))
            .with_dfi_t_ctrlup_min(u10::new(3))
            .with_dfi_t_ctrlup_max(u10::new(0x40))
    }

    /// Use the trained levels.
    pub fn reg_65(&self, current: Reg65) -> Reg65 {
        current
            .with_wr_rl_delay(u5::new(2))
            .with_rd_rl_delay(u5::new(4))
            .with_dll_lock_diff(u4::new(0xF))
            .with_use_wr_level(true)
            .with_use_rd_dqs_gate_level(true)
            .with_use_rd_data_eye_level(true)
            .with_dis_calib_rst(false)
            .with_ctrl_slave_delay(u2::new(0))
    }
}

/// DDR I/O buffer settings (UG585 10.6.3), the ZC706 branch of zynq-rs:
/// address and clock outputs only; data and differential (DQS) pins with
/// VREF / differential receivers and DCI termination; DDR3 internal VREF
/// 0.75 V. The four drive/slew words are the ps7_init values upstream
/// writes on every board.
#[derive(Debug, Clone, Copy)]
pub struct Ddriob {
    pub addr: DdriobConfig,
    pub data: DdriobConfig,
    pub diff: DdriobConfig,
    pub clock: DdriobConfig,
    pub drive_slew_addr: u32,
    pub drive_slew_data: u32,
    pub drive_slew_diff: u32,
    pub drive_slew_clock: u32,
}

impl Ddriob {
    pub fn kasli_soc() -> Ddriob {
        let out = DdriobConfig::new_with_raw_value(0).with_output_enable(OutputEnable::OBuf);
        let term = out.with_termination_enable(true).with_dci_type(DciType::DciTermination);
        Ddriob {
            addr: out,
            data: term.with_inp_type(InputType::VRefBasedDifferentialReceiverForSstlHstl),
            diff: term.with_inp_type(InputType::DifferentialInputReceiver),
            clock: out,
            drive_slew_addr: 0x0018_C61C,
            drive_slew_data: 0x00F9_861C,
            drive_slew_diff: 0x00F9_861C,
            drive_slew_clock: 0x00F9_861C,
        }
    }

    /// DDRIOB_DDR_CTRL: internal VREF at 0.75 V (DDR3), external VREF off.
    pub fn ddr_ctrl(&self, current: DdrControl) -> DdrControl {
        current
            .with_vref_int_en(true)
            .with_vref_sel(VRefSel::Ddr3)
            .with_vref_ext_en_lower_bits(false)
            .with_vref_ext_en_upper_bits(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Micron MT41J256M8HX-15E (ZC706): 2 Gbit x8, four of them on 32 bits;
    /// DDR3-1066 timings (tRC 49.5 ns, tRFC 160 ns, tFAW 37.5 ns for 1 KiB
    /// pages) at 533.33 MHz.
    const ZC706: Dram = Dram {
        bus: Bus::Bits32,
        t_rc_ps: 49_500,
        t_rfc_ps: 160_000,
        t_faw_ps: 37_500,
        t_ras_ps: 36_000,
        ..KASLI_SOC
    };

    /// The register fields zynq-rs writes for the ZC706 (libboard_zynq
    /// `ddr/mod.rs`): t_rc 0x1b, t_rfc_min 0x56, post_selfref_gap_x32 0x10,
    /// write_latency 5, rd2wr 7, wr2rd 0xe, t_xp 4, rd2pre 4, t_rcd 7,
    /// MR 0x930, EMR 0x4, DFI rddata_en 6 — all reproduced from the
    /// ZC706's DRAM timings at 533.33 MHz.
    #[test]
    fn zc706_facts() {
        let d = Ddrc::new(&ZC706, 533_333_333).unwrap();
        let p0 = d.param0(DramParamReg0::new_with_raw_value(0));
        assert_eq!(
            (p0.t_rc().value(), p0.t_rfc_min(), p0.post_selfref_gap_x32().value()),
            (0x1b, 0x56, 0x10)
        );
        let p2 = d.param2(DramParamReg2::new_with_raw_value(0));
        assert_eq!(p2.write_latency().value(), 5);
        assert_eq!(p2.rd2wr().value(), 7);
        assert_eq!(p2.wr2rd().value(), 0xe);
        assert_eq!(p2.t_xp().value(), 4);
        assert_eq!(p2.rd2pre().value(), 4);
        assert_eq!(p2.t_rcd().value(), 7);
        let m = d.emr_mr(DramEmrMr::new_with_raw_value(0));
        assert_eq!((m.mr(), m.emr()), (0x930, 0x4));
        assert_eq!(
            d.dfi_timing(DfiTiming::new_with_raw_value(0))
                .dfi_t_rddata_enable()
                .value(),
            6
        );
        assert_eq!(d.addr_map, (0x777, 0xFFF0_0000, 0x0F66_6666));
        assert_eq!(ZC706.size(), 1 << 30);
    }

    /// Red Pitaya (Alliance AS4C256M16D3B, 16-bit, 4 Gbit x16, DDR3-1600
    /// part at 533.33 MHz): zynq-rs writes wr2pre 0x12, t_faw 0x16,
    /// t_ras_max 0x24, t_ras_min 0x13, t_rrd 6, t_rp 7, read_latency 7.
    #[test]
    fn redpitaya_facts() {
        let rp = Dram {
            bus: Bus::Bits16,
            t_ras_ps: 35_000,
            t_faw_ps: 40_000,
            ..KASLI_SOC
        };
        let d = Ddrc::new(&rp, 533_333_333).unwrap();
        let p1 = d.param1(DramParamReg1::new_with_raw_value(0));
        assert_eq!(p1.wr2pre().value(), 0x12);
        assert_eq!(p1.t_faw().value(), 0x16);
        assert_eq!(p1.t_ras_max().value(), 0x24);
        assert_eq!(p1.t_ras_min().value(), 0x13);
        assert_eq!(p1.powerdown_to_x32().value(), 6);
        let p3 = d.param3(DramParamReg3::new_with_raw_value(0));
        assert_eq!(
            (p3.t_rrd().value(), p3.t_rp().value(), p3.read_latency().value()),
            (6, 7, 7)
        );
        assert_eq!(
            (
                p3.t_ccd().value(),
                p3.refresh_margin().value(),
                p3.refresh_to_x32().value()
            ),
            (4, 2, 8)
        );
        assert_eq!(d.addr_map, (0x666, 0xFFFF_0000, 0x0F55_5555));
        assert_eq!(rp.size(), 512 << 20);
    }

    /// The Kasli-SoC's values, derived by hand from the timings in
    /// `KASLI_SOC` at tCK = 1.875 ns.
    #[test]
    fn kasli_soc_registers() {
        let d = Ddrc::new(&KASLI_SOC, KASLI_SOC_DDR_HZ).unwrap();
        // t_rc = ceil(50.625 / 1.875) = 27, t_rfc_min = ceil(260 / 1.875) = 139.
        let p0 = d.param0(DramParamReg0::new_with_raw_value(0));
        assert_eq!(p0.raw_value(), (0x10 << 14) | (139 << 6) | 27);
        // wr2pre = 6 + 4 + 8 = 18, t_faw = ceil(50 / 1.875) = 27, t_ras_max =
        // 9 x 7.8 us / 1024 clocks = 36, t_ras_min = 20, t_cke = 4.
        let p1 = d.param1(DramParamReg1::new_with_raw_value(0));
        assert_eq!(
            p1.raw_value(),
            (4 << 28) | (20 << 22) | (36 << 16) | (27 << 10) | (6 << 5) | 18
        );
        // rd2wr 7, wr2rd 14, t_xp 4, rd2pre 4, t_rcd 7, write_latency 5.
        let p2 = d.param2(DramParamReg2::new_with_raw_value(0));
        assert_eq!(
            p2.raw_value(),
            (7 << 28) | (4 << 23) | (4 << 15) | (14 << 10) | (7 << 5) | 5
        );
        // From DRAM_param_reg3's reset value 0x250882D0 (bit 29, DDR3 mode,
        // is not a PAC field and must survive): t_rp 7, read_latency 7.
        let p3 = d.param3(DramParamReg3::new_with_raw_value(0x2508_82D0));
        assert_eq!(p3.raw_value(), 0x2708_72D0);
        // Refresh: 7.8 us / 1.875 ns / 32 = 130.
        assert_eq!(
            d.two_rank(TwoRankConfig::new_with_raw_value(0)).rfc_nom_x32().value(),
            130
        );
        // MR2: CWL 6 -> A5:A3 = 1.
        assert_eq!(d.emr(DramEmr::new_with_raw_value(0)).raw_value(), 0x8);
        assert_eq!(d.emr_mr(DramEmrMr::new_with_raw_value(0)).raw_value(), 0x0004_0930);
        // DDRC_CTRL: 32-bit bus (00 at 3:2), power-down off, soft reset bit 0.
        let c = DdrcControl::new_with_raw_value(0x0000_0203);
        assert_eq!(d.ctrl(c, true).raw_value(), 0x200);
        assert_eq!(d.ctrl(c, false).raw_value(), 0x201);
        assert_eq!(KASLI_SOC.size(), 1 << 30);
    }

    #[test]
    fn training_registers() {
        let d = Ddrc::new(&KASLI_SOC, KASLI_SOC_DDR_HZ).unwrap();
        assert_eq!(d.reg_2c(Reg2c::new_with_raw_value(0)).raw_value(), 0x1CFF_FFFF);
        assert_eq!(
            d.reg_65(Reg65::new_with_raw_value(0)).raw_value(),
            (1 << 16) | (1 << 15) | (1 << 14) | (0xF << 10) | (4 << 5) | 2
        );
        assert_eq!(
            d.phy_cmd_timeout(PhyCmdTimeoutRdDataCpt::new_with_raw_value(0))
                .raw_value(),
            0x7701_0800
        );
        assert_eq!(
            d.dfi_timing(DfiTiming::new_with_raw_value(0)).raw_value(),
            (0x40 << 15) | (3 << 5) | 6
        );
    }

    #[test]
    fn ddriob_values() {
        let io = Ddriob::kasli_soc();
        // OUTPUT_EN 10:9 = 11; data: INP_TYPE 01 (2:1), TERM_EN (4), DCI_TYPE 11 (6:5).
        assert_eq!(io.addr.raw_value(), 0x600);
        assert_eq!(io.clock.raw_value(), 0x600);
        assert_eq!(io.data.raw_value(), 0x672);
        assert_eq!(io.diff.raw_value(), 0x674);
        // VREF_INT_EN (0), VREF_SEL 0100 at 4:1; REFIO_EN (9) kept.
        assert_eq!(io.ddr_ctrl(DdrControl::new_with_raw_value(0x260)).raw_value(), 0x209);
    }

    #[test]
    fn errors() {
        let fast = Dram { cl: 12, ..KASLI_SOC };
        assert_eq!(
            Timing::new(&fast, KASLI_SOC_DDR_HZ),
            Err(DdrError::Latency { cl: 12, cwl: 6 })
        );
        let slow_refresh = Dram {
            t_rfc_ps: 600_000,
            ..KASLI_SOC
        };
        assert_eq!(
            Timing::new(&slow_refresh, KASLI_SOC_DDR_HZ),
            Err(DdrError::FieldOverflow {
                field: "t_rfc_min",
                value: 320
            })
        );
        let odd = Dram {
            row_bits: 14,
            ..KASLI_SOC
        };
        assert!(matches!(
            address_map(&odd),
            Err(DdrError::Geometry { row_bits: 14, .. })
        ));
    }
}
