//! Programs the Kasli-SoC clock plan (`satboot::clocks`): the three PLLs
//! (UG585 25.10.4: bypass, multiplier and loop settings, reset pulse, lock,
//! bypass off), then the CPU, DDR, DCI, SDIO and UART clocks.
//!
//! Runs before the console exists and while the CPU clock changes under
//! it, so the lock waits are bounded by a poll count, not by the timer;
//! the outcome is returned and logged once the UART is up. A PLL that does
//! not lock is left bypassed (its clocks then run from PS_CLK), so the
//! loader can still report it.

use satboot::clocks::ClockPlan;
use zynq7000::slcr::clocks::{MmioClockControlRegisters, PllConfig, PllControl, PllStatus};

/// Status polls before a PLL counts as not locking. A lock takes at most
/// 750 reference clocks (22 µs); a poll is an uncached SLCR read (well over
/// 20 ns even at 1 GHz), so this is tens of milliseconds at least.
const LOCK_POLLS: u32 = 2_000_000;

/// Which PLL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Arm,
    Ddr,
    Io,
}

/// What the set-up did: lock results (`Err` = PLL_STATUS when giving up).
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub arm: Result<u32, u32>,
    pub ddr: Result<u32, u32>,
    pub io: Result<u32, u32>,
}

impl Report {
    /// The first PLL that did not lock, with PLL_STATUS.
    pub fn failure(&self) -> Option<(Which, u32)> {
        [(Which::Arm, self.arm), (Which::Ddr, self.ddr), (Which::Io, self.io)]
            .into_iter()
            .find_map(|(w, r)| r.err().map(|s| (w, s)))
    }
}

fn locked(status: PllStatus, which: Which) -> bool {
    match which {
        Which::Arm => status.arm_pll_lock(),
        Which::Ddr => status.drr_pll_lock(),
        Which::Io => status.io_pll_lock(),
    }
}

/// One PLL: returns the polls it took to lock, or PLL_STATUS on timeout.
fn pll(
    clk: &mut MmioClockControlRegisters<'static>,
    which: Which,
    settings: &satboot::clocks::Pll,
    before_unbypass: impl FnOnce(&mut MmioClockControlRegisters<'static>),
) -> Result<u32, u32> {
    let read_ctrl = |clk: &mut MmioClockControlRegisters<'static>| match which {
        Which::Arm => clk.read_arm_pll_ctrl(),
        Which::Ddr => clk.read_ddr_pll_ctrl(),
        Which::Io => clk.read_io_pll_ctrl(),
    };
    let write_ctrl = |clk: &mut MmioClockControlRegisters<'static>, v: PllControl| match which {
        Which::Arm => clk.write_arm_pll_ctrl(v),
        Which::Ddr => clk.write_ddr_pll_ctrl(v),
        Which::Io => clk.write_io_pll_ctrl(v),
    };
    let ctrl = settings.ctrl_bypassed(read_ctrl(clk));
    write_ctrl(clk, ctrl);
    let cfg = settings.cfg(PllConfig::new_with_raw_value(0));
    match which {
        Which::Arm => clk.write_arm_pll_cfg(cfg),
        Which::Ddr => clk.write_ddr_pll_cfg(cfg),
        Which::Io => clk.write_io_pll_cfg(cfg),
    }
    write_ctrl(clk, ctrl.with_reset(true));
    write_ctrl(clk, ctrl.with_reset(false));
    for polls in 0..LOCK_POLLS {
        if locked(clk.read_pll_status(), which) {
            before_unbypass(clk);
            write_ctrl(clk, ctrl.with_reset(false).with_bypass_force(false));
            return Ok(polls);
        }
    }
    Err(clk.read_pll_status().raw_value())
}

/// Applies `plan`. SLCR unlocked by the caller.
pub fn init(plan: &ClockPlan) -> Report {
    // SAFETY: the SLCR clock block; the loader is the only software running.
    let mut clk = unsafe { zynq7000::slcr::clocks::ClockControlRegisters::new_mmio_fixed() };
    // The CPU divisor goes in while the ARM PLL is still bypassed, so the
    // CPU never sees 2 GHz / the BootROM's divisor.
    let arm = pll(&mut clk, Which::Arm, &plan.arm_pll, |clk| {
        let v = plan.arm_clk_ctrl(clk.read_arm_clk_ctrl());
        clk.write_arm_clk_ctrl(v);
    });
    let ddr = pll(&mut clk, Which::Ddr, &plan.ddr_pll, |_| {});
    let io = pll(&mut clk, Which::Io, &plan.io_pll, |_| {});
    let v = plan.ddr_clk_ctrl(clk.read_ddr_clk_ctrl());
    clk.write_ddr_clk_ctrl(v);
    clk.write_dci_clk_ctrl(plan.dci_clk_ctrl());
    let v = plan.sdio_clk_ctrl(clk.read_sdio_clk_ctrl());
    clk.write_sdio_clk_ctrl(v);
    let mut uart = plan.uart_clk_ctrl(clk.read_uart_clk_ctrl());
    if io.is_err() {
        // The IO PLL is bypassed: run the UART from PS_CLK undivided so
        // that 115200 baud can still be made (see `uart_ref_hz`).
        uart = uart.with_divisor(arbitrary_int::u6::new(1));
    }
    clk.write_uart_clk_ctrl(uart);
    clk.modify_aper_clk_ctrl(|a| {
        a.with_sdio_0_1x_clk_act(true)
            .with_uart_0_1x_clk_act(true)
            .with_uart_1_1x_clk_act(true)
            .with_gpio_1x_clk_act(true)
    });
    Report { arm, ddr, io }
}

/// The UART reference clock `init` left.
pub fn uart_ref_hz(plan: &ClockPlan, report: &Report) -> u32 {
    if report.io.is_ok() {
        plan.uart_ref_hz()
    } else {
        plan.ps_clk_hz
    }
}
