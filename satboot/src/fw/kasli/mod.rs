//! The Kasli-SoC's first-stage set-up, the role szl plays upstream: PLLs
//! and clocks, MIO (SD0, console UART1), DDR3 with training and a
//! self-check. [`early`] runs before the console exists; [`late`] logs
//! what `early` did and brings DDR up. Never run on silicon
//! (satboot/README.md says what to check first).

pub mod clocks;
pub mod ddr;
pub mod mio;

use super::mmio;
use super::timer;
use satboot::clocks::{ClockError, ClockPlan};
use satboot::ddr::{DdrError, Ddrc, Ddriob, KASLI_SOC, KASLI_SOC_DDR_HZ};
use satboot::size::Size;

/// Why the board did not come up.
#[derive(Debug, Clone, Copy)]
pub enum BringUpError {
    /// The clock plan could not be made (a bug: it is host-tested).
    Plan(ClockError),
    /// A PLL did not lock (PLL_STATUS).
    PllLock {
        which: clocks::Which,
        status: u32,
    },
    /// The DDR parameters could not be encoded (a bug: host-tested).
    DdrParams(DdrError),
    Ddr(ddr::DdrFault),
}

impl core::fmt::Display for BringUpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BringUpError::Plan(e) => write!(f, "clock plan: {e}"),
            BringUpError::PllLock { which, status } => {
                write!(f, "{which:?} PLL did not lock (PLL_STATUS {status:#x}); left bypassed")
            }
            BringUpError::DdrParams(e) => write!(f, "DDR parameters: {e}"),
            BringUpError::Ddr(e) => write!(f, "DDR: {e}"),
        }
    }
}

/// What [`early`] did, for [`late`] and the UART.
pub struct Early {
    plan: Result<(ClockPlan, clocks::Report), ClockError>,
}

/// Clocks and pins, before the console: silent.
pub fn early() -> Early {
    let plan = ClockPlan::kasli_soc(KASLI_SOC_DDR_HZ);
    let plan = mmio::slcr_unlocked(|| {
        let plan = plan.map(|p| (p, clocks::init(&p)));
        mio::init();
        plan
    });
    Early { plan }
}

impl Early {
    /// UART (CD, BDIV) for 115200 baud from the clock `early` left.
    pub fn uart_divisors(&self) -> Option<(u32, u32)> {
        let (plan, report) = self.plan.as_ref().ok()?;
        let ref_hz = clocks::uart_ref_hz(plan, report);
        satboot::clocks::uart_divisors(ref_hz, plan.baud).ok()
    }
}

/// Hz to the nearest MHz, for the log.
fn mhz(hz: u32) -> u32 {
    (hz + 500_000) / 1_000_000
}

/// Logs the clocks, brings DDR up and checks it.
pub fn late(early: Early) -> Result<(), BringUpError> {
    let (plan, report) = early.plan.map_err(BringUpError::Plan)?;
    if let Some((which, status)) = report.failure() {
        return Err(BringUpError::PllLock { which, status });
    }
    log!(
        "satboot: clocks: CPU {} MHz (ARM PLL x{}), DDR {} MHz (DDR PLL x{}), IO PLL {} MHz; SDIO {} MHz, UART {} MHz, DCI {} kHz",
        mhz(plan.cpu_hz()),
        plan.arm_pll.fdiv,
        mhz(plan.ddr_hz()),
        plan.ddr_pll.fdiv,
        mhz(plan.io_pll.out_hz(plan.ps_clk_hz)),
        mhz(plan.sdio_ref_hz()),
        mhz(plan.uart_ref_hz()),
        plan.dci_hz() / 1_000
    );
    let ddrc = Ddrc::new(&KASLI_SOC, plan.ddr_hz()).map_err(BringUpError::DdrParams)?;
    let io = Ddriob::kasli_soc();
    let r = mmio::slcr_unlocked(|| ddr::init(&ddrc, &io)).map_err(BringUpError::Ddr)?;
    log!(
        "satboot: DDR3: {} MiB on 32 bits at {} MHz, CL {}, trained (DCI {} us, init {} us)",
        KASLI_SOC.size() >> 20,
        mhz(plan.ddr_hz()),
        ddrc.timing.read_latency,
        r.dci_us,
        r.init_us
    );
    let t0 = timer::now_us();
    let bytes = ddr::check().map_err(BringUpError::Ddr)?;
    log!(
        "satboot: DDR self-check: {} at {:#x}, {:#x}, {:#x} ok ({} ms)",
        Size(bytes as u32),
        ddr::CHECK_REGIONS[0],
        ddr::CHECK_REGIONS[1],
        ddr::CHECK_REGIONS[2],
        (timer::now_us() - t0) / 1000
    );
    Ok(())
}
