//! The Kasli-SoC clock plan: PLL multipliers and loop settings, the CPU,
//! DDR, DCI, SDIO and UART dividers, and the UART baud-rate divisors, all
//! computed (and host-tested) here; `fw::clocks` only writes them.
//!
//! Facts behind the plan (public upstream sources, UG585):
//! - PS_CLK is 33.333 MHz on the Kasli-SoC (zynq-rs `clocks/source.rs`).
//! - szl runs the kasli_soc CPU at 1 GHz from a 2 GHz ARM PLL, and the IO
//!   PLL at 1 GHz (szl `main.rs`); the CPU clock runs in 6:3:2:1 mode
//!   (CLK_621_TRUE's reset value), so CPU_3x2x, the global timer's clock,
//!   is 500 MHz — the rate satman assumes on this board.
//! - zynq-rs derives the UART and SDIO reference clocks from the IO PLL with
//!   divisor 20: 50 MHz, which is what `libsdcard`'s `Config::KASLI_SOC`
//!   assumes for SD0.
//! - The DDR PLL runs at twice the DRAM clock, with DDR_3x = PLL / 2 and
//!   DDR_2x = PLL / 3 (zynq-rs `ddr/mod.rs`); the DCI clock must not exceed
//!   10 MHz (UG585 10.6.2).
//! - PLL charge pump, loop resistor and lock count per multiplier: UG585
//!   table 25-6 ("PLL frequency control settings").

use arbitrary_int::{u10, u4, u6, u7};
use zynq7000::slcr::clocks::{
    ArmClockControl, DciClockControl, DdrClockControl, DualCommonPeriphIoClockControl, PllConfig, PllControl,
    SrcSelArm, SrcSelIo,
};

/// The Kasli-SoC's PS reference clock.
pub const PS_CLK_HZ: u32 = 33_333_333;

/// Multiplier range of the PLLs (UG585 table 25-6).
pub const FDIV_MIN: u32 = 13;
pub const FDIV_MAX: u32 = 66;

/// Why no clock plan could be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockError {
    /// No PLL multiplier in 13..=66 gives this output from PS_CLK.
    PllOutOfRange { target_hz: u32 },
    /// No divider in the register's range brings `src_hz` to `target_hz`
    /// or below.
    NoDivider { src_hz: u32, target_hz: u32 },
    /// No (CD, BDIV) pair gives this baud rate within 1 %.
    NoBaudDivisors { ref_hz: u32, baud: u32 },
}

impl core::fmt::Display for ClockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            ClockError::PllOutOfRange { target_hz } => {
                write!(f, "no PLL multiplier gives {target_hz} Hz")
            }
            ClockError::NoDivider { src_hz, target_hz } => {
                write!(f, "no divider brings {src_hz} Hz to {target_hz} Hz")
            }
            ClockError::NoBaudDivisors { ref_hz, baud } => {
                write!(f, "no UART divisors for {baud} baud from {ref_hz} Hz")
            }
        }
    }
}

/// One PLL's settings: multiplier and loop filter (UG585 table 25-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pll {
    pub fdiv: u32,
    pub charge_pump: u32,
    pub loop_resistor: u32,
    pub lock_count: u32,
}

impl Pll {
    /// The settings for multiplier `fdiv` (13..=66).
    pub fn for_fdiv(fdiv: u32) -> Option<Pll> {
        // (largest FDIV of the row, PLL_CP, PLL_RES, LOCK_CNT)
        const TABLE: [(u32, u32, u32, u32); 20] = [
            (13, 2, 6, 750),
            (14, 2, 6, 700),
            (15, 2, 6, 650),
            (16, 2, 10, 625),
            (17, 2, 10, 575),
            (18, 2, 10, 550),
            (19, 2, 10, 525),
            (20, 2, 12, 500),
            (21, 2, 12, 475),
            (22, 2, 12, 450),
            (23, 2, 12, 425),
            (25, 2, 12, 400),
            (26, 2, 12, 375),
            (28, 2, 12, 350),
            (30, 2, 12, 325),
            (33, 2, 2, 300),
            (36, 2, 2, 275),
            (40, 2, 2, 250),
            (47, 3, 12, 250),
            (66, 2, 4, 250),
        ];
        if !(FDIV_MIN..=FDIV_MAX).contains(&fdiv) {
            return None;
        }
        let &(_, cp, res, lock) = TABLE.iter().find(|row| fdiv <= row.0)?;
        Some(Pll {
            fdiv,
            charge_pump: cp,
            loop_resistor: res,
            lock_count: lock,
        })
    }

    /// The multiplier whose output is nearest `target_hz` from `ps_clk_hz`.
    pub fn for_target(ps_clk_hz: u32, target_hz: u32) -> Result<Pll, ClockError> {
        let fdiv = (target_hz as u64 + ps_clk_hz as u64 / 2) / ps_clk_hz as u64;
        Pll::for_fdiv(fdiv as u32).ok_or(ClockError::PllOutOfRange { target_hz })
    }

    pub fn out_hz(&self, ps_clk_hz: u32) -> u32 {
        ps_clk_hz.saturating_mul(self.fdiv)
    }

    /// PLL_CTRL with the multiplier, powered up, the bypass forced (the
    /// state the PLL is reset in; UG585 25.10.4) and the bypass pin ignored.
    pub fn ctrl_bypassed(&self, current: PllControl) -> PllControl {
        current
            .with_fdiv(u7::new(self.fdiv as u8))
            .with_pwrdwn(false)
            .with_bypass_qual(false)
            .with_bypass_force(true)
    }

    /// PLL_CFG.
    pub fn cfg(&self, current: PllConfig) -> PllConfig {
        current
            .with_charge_pump(u4::new(self.charge_pump as u8))
            .with_loop_resistor(u4::new(self.loop_resistor as u8))
            .with_lock_count(u10::new(self.lock_count as u16))
    }
}

/// The smallest divider in `min..=max` that brings `src_hz` to at most
/// `target_hz`.
pub fn divider(src_hz: u32, target_hz: u32, min: u32, max: u32) -> Result<u32, ClockError> {
    let div = src_hz.div_ceil(target_hz.max(1)).max(min);
    if div > max {
        return Err(ClockError::NoDivider { src_hz, target_hz });
    }
    Ok(div)
}

/// DCI_CLK_CTRL's two dividers: the smallest product that keeps the DCI
/// clock at or below `max_hz` (UG585: 10 MHz), each divider 1..=63.
pub fn dci_divisors(src_hz: u32, max_hz: u32) -> Result<(u32, u32), ClockError> {
    let need = src_hz.div_ceil(max_hz.max(1));
    let mut best: Option<(u32, u32)> = None;
    for d0 in 1..=63u32 {
        for d1 in 1..=63u32 {
            let p = d0 * d1;
            if p >= need && best.is_none_or(|(b0, b1)| p < b0 * b1) {
                best = Some((d0, d1));
            }
        }
    }
    best.ok_or(ClockError::NoDivider {
        src_hz,
        target_hz: max_hz,
    })
}

/// UART baud-rate divisors: `baud = ref / (CD * (BDIV + 1))`, CD in
/// 1..=65535, BDIV in 4..=254 (UG585 19.2.3). Returns (CD, BDIV) with the
/// smallest error, the lowest BDIV on ties; refuses more than 1 % error.
pub fn uart_divisors(ref_hz: u32, baud: u32) -> Result<(u32, u32), ClockError> {
    let mut best: Option<(u32, u32, u64)> = None;
    for bdiv in 4..=254u32 {
        let per = baud as u64 * (bdiv as u64 + 1);
        let cd = ((ref_hz as u64 + per / 2) / per).clamp(1, 65535);
        let actual = ref_hz as u64 / (cd * (bdiv as u64 + 1));
        let err = actual.abs_diff(baud as u64);
        if best.is_none_or(|(_, _, e)| err < e) {
            best = Some((cd as u32, bdiv, err));
        }
    }
    match best {
        Some((cd, bdiv, err)) if err * 100 <= baud as u64 => Ok((cd, bdiv)),
        _ => Err(ClockError::NoBaudDivisors { ref_hz, baud }),
    }
}

/// Every clock the Kasli-SoC loader programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockPlan {
    pub ps_clk_hz: u32,
    pub arm_pll: Pll,
    pub io_pll: Pll,
    pub ddr_pll: Pll,
    /// ARM_CLK_CTRL divisor from the ARM PLL to CPU_6x4x.
    pub cpu_div: u32,
    /// DDR_CLK_CTRL divisors from the DDR PLL.
    pub ddr_3x_div: u32,
    pub ddr_2x_div: u32,
    /// DCI_CLK_CTRL divisors from the DDR PLL.
    pub dci_div: (u32, u32),
    /// SDIO_CLK_CTRL and UART_CLK_CTRL divisors from the IO PLL.
    pub sdio_div: u32,
    pub uart_div: u32,
    /// UART (CD, BDIV) for `baud`.
    pub uart_baud: (u32, u32),
    pub baud: u32,
}

/// The targets of the Kasli-SoC plan (module docs).
pub mod kasli_soc {
    pub const CPU_HZ: u32 = 1_000_000_000;
    pub const ARM_PLL_HZ: u32 = 2 * CPU_HZ;
    pub const IO_PLL_HZ: u32 = 1_000_000_000;
    pub const SDIO_REF_HZ: u32 = 50_000_000;
    pub const UART_REF_HZ: u32 = 50_000_000;
    pub const DCI_MAX_HZ: u32 = 10_000_000;
    pub const BAUD: u32 = 115_200;
}

impl ClockPlan {
    /// The plan for the Kasli-SoC with the DRAM clock `ddr_hz`.
    pub fn kasli_soc(ddr_hz: u32) -> Result<ClockPlan, ClockError> {
        use kasli_soc::*;
        let ps = PS_CLK_HZ;
        let arm_pll = Pll::for_target(ps, ARM_PLL_HZ)?;
        let io_pll = Pll::for_target(ps, IO_PLL_HZ)?;
        let ddr_pll = Pll::for_target(ps, 2 * ddr_hz)?;
        // ARM_CLK_CTRL: 1 and 3 are not valid divisors (UG585 25.3).
        let mut cpu_div = divider(arm_pll.out_hz(ps), CPU_HZ + CPU_HZ / 100, 2, 63)?;
        if cpu_div == 3 {
            cpu_div = 4;
        }
        let sdio_div = divider(io_pll.out_hz(ps), SDIO_REF_HZ + SDIO_REF_HZ / 100, 1, 63)?;
        let uart_div = divider(io_pll.out_hz(ps), UART_REF_HZ + UART_REF_HZ / 100, 1, 63)?;
        let uart_ref = io_pll.out_hz(ps) / uart_div;
        Ok(ClockPlan {
            ps_clk_hz: ps,
            arm_pll,
            io_pll,
            ddr_pll,
            cpu_div,
            ddr_3x_div: 2,
            ddr_2x_div: 3,
            dci_div: dci_divisors(ddr_pll.out_hz(ps), DCI_MAX_HZ)?,
            sdio_div,
            uart_div,
            uart_baud: uart_divisors(uart_ref, BAUD)?,
            baud: BAUD,
        })
    }

    pub fn cpu_hz(&self) -> u32 {
        self.arm_pll.out_hz(self.ps_clk_hz) / self.cpu_div
    }
    /// The global timer's clock: CPU_3x2x = CPU_6x4x / 2.
    pub fn global_timer_hz(&self) -> u32 {
        self.cpu_hz() / 2
    }
    pub fn ddr_hz(&self) -> u32 {
        self.ddr_pll.out_hz(self.ps_clk_hz) / self.ddr_3x_div
    }
    pub fn sdio_ref_hz(&self) -> u32 {
        self.io_pll.out_hz(self.ps_clk_hz) / self.sdio_div
    }
    pub fn uart_ref_hz(&self) -> u32 {
        self.io_pll.out_hz(self.ps_clk_hz) / self.uart_div
    }
    pub fn dci_hz(&self) -> u32 {
        self.ddr_pll.out_hz(self.ps_clk_hz) / (self.dci_div.0 * self.dci_div.1)
    }

    /// ARM_CLK_CTRL: the ARM PLL, [`Self::cpu_div`], every CPU clock on.
    pub fn arm_clk_ctrl(&self, current: ArmClockControl) -> ArmClockControl {
        current
            .with_srcsel(SrcSelArm::ArmPll)
            .with_divisor(u6::new(self.cpu_div as u8))
            .with_cpu_peri_clk_act(true)
            .with_cpu_1x_clk_act(true)
            .with_cpu_2x_clk_act(true)
            .with_cpu_3or2x_clk_act(true)
            .with_cpu_6or4x_clk_act(true)
    }

    /// DDR_CLK_CTRL: both DDR clocks on.
    pub fn ddr_clk_ctrl(&self, current: DdrClockControl) -> DdrClockControl {
        current
            .with_div_3x_clk(u6::new(self.ddr_3x_div as u8))
            .with_div_2x_clk(u6::new(self.ddr_2x_div as u8))
            .with_ddr_3x_clk_act(true)
            .with_ddr_2x_clk_act(true)
    }

    /// DCI_CLK_CTRL.
    pub fn dci_clk_ctrl(&self) -> DciClockControl {
        DciClockControl::new_with_raw_value(0)
            .with_divisor_0(u6::new(self.dci_div.0 as u8))
            .with_divisor_1(u6::new(self.dci_div.1 as u8))
            .with_clk_act(true)
    }

    /// SDIO_CLK_CTRL: from the IO PLL, SD0's clock on (SD1's left as found).
    pub fn sdio_clk_ctrl(&self, current: DualCommonPeriphIoClockControl) -> DualCommonPeriphIoClockControl {
        current
            .with_srcsel(SrcSelIo::IoPll)
            .with_divisor(u6::new(self.sdio_div as u8))
            .with_clk_0_act(true)
    }

    /// UART_CLK_CTRL: from the IO PLL, both UART clocks on (UART0 carries
    /// satman's aux channel in QEMU; on the board it costs nothing).
    pub fn uart_clk_ctrl(&self, current: DualCommonPeriphIoClockControl) -> DualCommonPeriphIoClockControl {
        current
            .with_srcsel(SrcSelIo::IoPll)
            .with_divisor(u6::new(self.uart_div as u8))
            .with_clk_0_act(true)
            .with_clk_1_act(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pll_table_rows() {
        // UG585 table 25-6, one row per band edge.
        assert_eq!(
            Pll::for_fdiv(13).map(|p| (p.charge_pump, p.loop_resistor, p.lock_count)),
            Some((2, 6, 750))
        );
        assert_eq!(
            Pll::for_fdiv(24).map(|p| (p.charge_pump, p.loop_resistor, p.lock_count)),
            Some((2, 12, 400))
        );
        assert_eq!(
            Pll::for_fdiv(30).map(|p| (p.charge_pump, p.loop_resistor, p.lock_count)),
            Some((2, 12, 325))
        );
        assert_eq!(
            Pll::for_fdiv(32).map(|p| (p.charge_pump, p.loop_resistor, p.lock_count)),
            Some((2, 2, 300))
        );
        assert_eq!(
            Pll::for_fdiv(41).map(|p| (p.charge_pump, p.loop_resistor, p.lock_count)),
            Some((3, 12, 250))
        );
        assert_eq!(
            Pll::for_fdiv(60).map(|p| (p.charge_pump, p.loop_resistor, p.lock_count)),
            Some((2, 4, 250))
        );
        assert_eq!(Pll::for_fdiv(12), None);
        assert_eq!(Pll::for_fdiv(67), None);
        assert_eq!(
            Pll::for_target(PS_CLK_HZ, 3_000_000_000),
            Err(ClockError::PllOutOfRange {
                target_hz: 3_000_000_000
            })
        );
    }

    #[test]
    fn kasli_soc_plan() {
        // DRAM at 533.33 MHz (DDR3-1066, see ddr.rs).
        let p = ClockPlan::kasli_soc(533_333_333).unwrap();
        // ARM PLL 2 GHz = 60 x 33.333 MHz, CPU 1 GHz, global timer 500 MHz.
        assert_eq!(p.arm_pll.fdiv, 60);
        assert_eq!(p.cpu_div, 2);
        assert_eq!(p.cpu_hz(), 999_999_990);
        assert_eq!(p.global_timer_hz(), 499_999_995);
        // IO PLL 1 GHz = 30 x PS_CLK; SDIO and UART references 50 MHz (/20).
        assert_eq!(p.io_pll.fdiv, 30);
        assert_eq!((p.sdio_div, p.uart_div), (20, 20));
        assert_eq!(p.sdio_ref_hz(), 49_999_999);
        // DDR PLL 1066.67 MHz = 32 x PS_CLK, DDR_3x 533 MHz, DDR_2x 355 MHz.
        assert_eq!(p.ddr_pll.fdiv, 32);
        assert_eq!((p.ddr_3x_div, p.ddr_2x_div), (2, 3));
        assert_eq!(p.ddr_hz(), 533_333_328);
        // DCI: 1066.67 MHz / 10 MHz needs a product >= 107 (prime): 108 = 2 x 54.
        assert_eq!(p.dci_div, (2, 54));
        assert!(p.dci_hz() <= 10_000_000);
        // UG585 table 19-1: 115200 baud from 50 MHz is CD 62, BDIV 6.
        assert_eq!(p.uart_baud, (62, 6));
    }

    #[test]
    fn register_values() {
        let p = ClockPlan::kasli_soc(533_333_333).unwrap();
        // PLL_CTRL: FDIV at 18:12, BYPASS_FORCE bit 4, from a reset value
        // with PWRDWN (bit 1) and RESET (bit 0) set.
        let ctrl = p.arm_pll.ctrl_bypassed(PllControl::new_with_raw_value(0x0001_A003));
        assert_eq!(ctrl.raw_value(), (60 << 12) | 0x10 | 0x1);
        // PLL_CFG: LOCK_CNT 21:12, PLL_CP 11:8, PLL_RES 7:4.
        assert_eq!(
            p.arm_pll.cfg(PllConfig::new_with_raw_value(0)).raw_value(),
            (250 << 12) | (2 << 8) | (4 << 4)
        );
        assert_eq!(
            p.ddr_pll.cfg(PllConfig::new_with_raw_value(0)).raw_value(),
            (300 << 12) | (2 << 8) | (2 << 4)
        );
        // ARM_CLK_CTRL: clock enables 28:24, DIVISOR 13:8, SRCSEL 5:4 = ARM PLL.
        assert_eq!(
            p.arm_clk_ctrl(ArmClockControl::new_with_raw_value(0)).raw_value(),
            0x1F00_0200
        );
        // DDR_CLK_CTRL: 2x divisor 31:26, 3x divisor 25:20, enables 1:0.
        assert_eq!(
            p.ddr_clk_ctrl(DdrClockControl::new_with_raw_value(0)).raw_value(),
            (3 << 26) | (2 << 20) | 0x3
        );
        assert_eq!(p.dci_clk_ctrl().raw_value(), (54 << 20) | (2 << 8) | 1);
        // SDIO_CLK_CTRL / UART_CLK_CTRL: DIVISOR 13:8 = 20, SRCSEL IO PLL.
        let zero = DualCommonPeriphIoClockControl::new_with_raw_value(0);
        assert_eq!(p.sdio_clk_ctrl(zero).raw_value(), 0x1401);
        assert_eq!(p.uart_clk_ctrl(zero).raw_value(), 0x1403);
    }

    #[test]
    fn dividers() {
        assert_eq!(divider(1_000_000_000, 50_000_000, 1, 63), Ok(20));
        assert_eq!(
            divider(1_000_000_000, 400_000, 1, 63),
            Err(ClockError::NoDivider {
                src_hz: 1_000_000_000,
                target_hz: 400_000
            })
        );
        // QEMU's 100 MHz reference: CD 124, BDIV 6 (the QEMU board's values).
        assert_eq!(uart_divisors(100_000_000, 115_200), Ok((124, 6)));
        assert!(uart_divisors(1_000, 115_200).is_err());
    }
}
