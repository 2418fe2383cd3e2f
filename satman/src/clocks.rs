//! The Zynq-7000 CPU clock from the SLCR's PLL and clock control words
//! (Zynq TRM, "Clocks": ARM_PLL_CTRL 0xF800_0100, DDR_PLL_CTRL 0x104,
//! IO_PLL_CTRL 0x108, ARM_CLK_CTRL 0x120, CLK_621_TRUE 0x1C4), so the
//! firmware's time base follows whatever PLL settings the loader chose
//! instead of a constant that is right for one loader only.
//!
//! The Cortex-A9 global timer counts CPU_3x2x, half of CPU_6x4x in both the
//! 6:2:1 and the 4:2:1 ratio.

/// The SLCR words the CPU clock depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlcrClocks {
    pub arm_pll_ctrl: u32,
    pub ddr_pll_ctrl: u32,
    pub io_pll_ctrl: u32,
    pub arm_clk_ctrl: u32,
}

/// A PLL's output: PS_CLK × PLL_FDIV (bits 18:12), or PS_CLK itself when
/// bypassed (PLL_BYPASS_FORCE, bit 4). `None` for a zero divider.
fn pll_hz(ctrl: u32, ps_clk_hz: u64) -> Option<u64> {
    if ctrl & (1 << 4) != 0 {
        return Some(ps_clk_hz);
    }
    let fdiv = (ctrl >> 12) & 0x7F;
    (fdiv != 0).then(|| ps_clk_hz * fdiv as u64)
}

impl SlcrClocks {
    /// CPU_6x4x, the CPU clock: the PLL ARM_CLK_CTRL.SRCSEL (bits 5:4:
    /// 0x = ARM PLL, 10 = DDR PLL, 11 = IO PLL) picks, divided by
    /// ARM_CLK_CTRL.DIVISOR (bits 13:8). `None` if a divider is zero.
    pub fn cpu_hz(&self, ps_clk_hz: u64) -> Option<u64> {
        let pll = match (self.arm_clk_ctrl >> 4) & 0b11 {
            0b10 => self.ddr_pll_ctrl,
            0b11 => self.io_pll_ctrl,
            _ => self.arm_pll_ctrl,
        };
        let divisor = (self.arm_clk_ctrl >> 8) & 0x3F;
        if divisor == 0 {
            return None;
        }
        Some(pll_hz(pll, ps_clk_hz)? / divisor as u64)
    }

    /// The global timer's clock, CPU_3x2x = CPU_6x4x / 2.
    pub fn global_timer_hz(&self, ps_clk_hz: u64) -> Option<u64> {
        Some(self.cpu_hz(ps_clk_hz)? / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU 10's SLCR reset values (hw/misc/zynq_slcr.c): all PLLs
    /// FDIV = 26, ARM_CLK_CTRL divisor 4 from the ARM PLL.
    const QEMU: SlcrClocks =
        SlcrClocks { arm_pll_ctrl: 0x0001_A008, ddr_pll_ctrl: 0x0001_A008, io_pll_ctrl: 0x0001_A008, arm_clk_ctrl: 0x1F00_0400 };

    #[test]
    fn qemu_reset_values() {
        assert_eq!(QEMU.cpu_hz(33_333_333), Some(216_666_664));
        assert_eq!(QEMU.global_timer_hz(33_333_333), Some(108_333_332));
    }

    #[test]
    fn a_loader_s_settings_and_the_source_selection() {
        // ARM PLL ×40 = 1333 MHz, divisor 2: a 667 MHz CPU.
        let c = SlcrClocks { arm_pll_ctrl: 40 << 12, arm_clk_ctrl: (2 << 8), ..QEMU };
        assert_eq!(c.cpu_hz(33_333_333), Some(666_666_660));
        // From the IO PLL (×30) instead.
        let c = SlcrClocks { io_pll_ctrl: 30 << 12, arm_clk_ctrl: (2 << 8) | (0b11 << 4), ..c };
        assert_eq!(c.cpu_hz(33_333_333), Some(499_999_995));
        // Bypassed PLL: PS_CLK itself.
        let c = SlcrClocks { io_pll_ctrl: 1 << 4, ..c };
        assert_eq!(c.cpu_hz(33_333_333), Some(16_666_666));
        // Nonsense (zero divisor) is refused, not divided by.
        assert_eq!(SlcrClocks { arm_clk_ctrl: 0, ..QEMU }.cpu_hz(33_333_333), None);
        assert_eq!(SlcrClocks { arm_pll_ctrl: 0, ..QEMU }.cpu_hz(33_333_333), None);
    }
}
