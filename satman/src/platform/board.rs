//! Per-board constants. Exactly one board feature (`qemu` or `kasli_soc`)
//! selects them; everything board-specific in the platform reads them here.

#[cfg(all(feature = "qemu", feature = "kasli_soc"))]
compile_error!("select exactly one board feature: `qemu` or `kasli_soc`");

/// Human-readable board name for the boot banner.
#[cfg(feature = "qemu")]
pub const NAME: &str = "qemu xilinx-zynq-a9";
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const NAME: &str = "Kasli-SoC";

/// DDR mapped cacheable from 0. QEMU is started with `-m 512M`; the
/// Kasli-SoC has 1 GiB. Everything above is left unmapped (faults).
#[cfg(feature = "qemu")]
pub const DDR_SIZE: usize = 512 << 20;
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const DDR_SIZE: usize = 1 << 30;

/// Where the global timer's rate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerClock {
    /// A fixed rate.
    Fixed(u64),
    /// CPU_3x2x as the SLCR's PLL and clock words give it
    /// (`satman::clocks`), from the board's PS_CLK.
    FromSlcr { ps_clk_hz: u64 },
}

/// QEMU's a9 global timer counts 10 ns per tick whatever the SLCR says
/// (its SLCR reset values would give CPU_3x2x = 108.3 MHz): 100 MHz.
#[cfg(feature = "qemu")]
pub const TIMER_CLOCK: TimerClock = TimerClock::Fixed(100_000_000);
/// The Kasli-SoC's PS_CLK is 33.333 MHz (as in zynq-rs's clock set-up for
/// `target_kasli_soc`); the PLLs are whatever its loader programmed.
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const TIMER_CLOCK: TimerClock = TimerClock::FromSlcr { ps_clk_hz: 33_333_333 };

/// The console (log) UART. QEMU: UART1 (UART0 is the aux byte channel,
/// docs/qemu-link.md). Kasli-SoC: UART1 as well, unconfirmed: the upstream
/// loader sources available here (zynq-rs's stdio) name the console UART
/// for the ZC706 (UART1) and the Cora Z7 / Red Pitaya (UART0) but not for
/// the Kasli-SoC; check the board's micro-USB bridge wiring (MIO 48/49 =
/// UART1, MIO 14/15 or 46/47 = UART0) and change it here.
pub const CONSOLE: super::uart::Port = super::uart::Port::Uart1;

/// Whether the UART baud rate generator is programmed by us. QEMU ignores
/// it (we still program 115200 8N1 from a 100 MHz reference so the values
/// are sane); on silicon the FSBL already configured the UART clocks and
/// baud rate for the board, which we keep rather than guess its clocks.
#[cfg(feature = "qemu")]
pub const UART_PROGRAM_BAUD: Option<(u32, u32)> = Some((100_000_000, 115_200));
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const UART_PROGRAM_BAUD: Option<(u32, u32)> = None;

/// Whether to program the Zynq-specific SLCR L2C RAM register
/// (0xF800_0A1C = 0x0002_0202, Zynq TRM "L2 cache" initialisation) before
/// enabling the PL310. QEMU does not model that register (the access would
/// be logged as unimplemented), so only silicon does it.
#[cfg(feature = "qemu")]
pub const SLCR_L2C_RAM_SETUP: bool = false;
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const SLCR_L2C_RAM_SETUP: bool = true;

/// Peripheral ranges CPU1 (kernels) may access besides the CPU-private
/// ones, `(base, len)`, all in one MiB; mapped as whole 4 KiB pages in
/// CPU1's translation table (`mmu.rs`). QEMU's kernel initiator is the
/// software RTIO model in `shared` memory: nothing.
#[cfg(feature = "qemu")]
pub const CPU1_PERIPHERALS: &[(usize, usize)] = &[];
/// The Kasli-SoC's kernel RTIO initiator (the `rtio` CSR bank, 2 KiB). Its
/// 4 KiB page also holds the `drtioaux2` bank (see `mmu.rs`).
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const CPU1_PERIPHERALS: &[(usize, usize)] = &[(satman::gateware::csr::rtio::BASE, satman::gateware::csr::rtio::SIZE)];

/// The system watchdog's timeout, `None` for none. QEMU 10 models neither
/// the SWDT nor a resetting A9 watchdog (its private "watchdog" is a plain
/// timer), so there a hung CPU0 stays hung.
#[cfg(feature = "qemu")]
pub const WATCHDOG_TIMEOUT_US: Option<u64> = None;
/// Ten seconds: far above any main-loop pass (each wait is bounded in
/// milliseconds), short enough for a lab not to notice.
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const WATCHDOG_TIMEOUT_US: Option<u64> = Some(10_000_000);

/// How long CPU1 gets to acknowledge a stop. On silicon it answers within
/// microseconds and a hard reset follows a miss. QEMU has no hard reset
/// (a miss leaves kernels disabled for good) and its CPU1 is a host thread
/// that a loaded host may not schedule for tens of milliseconds (measured:
/// 95 ms from an SGI to CPU1 running, under a load of 8 on 2 cores).
#[cfg(feature = "qemu")]
pub const CPU1_STOP_TIMEOUT: core::time::Duration = core::time::Duration::from_millis(1000);
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const CPU1_STOP_TIMEOUT: core::time::Duration = core::time::Duration::from_millis(100);

/// Whether a CPU1 hard reset through the SLCR can work. QEMU ignores
/// A9_CPU_RST_CTRL, so there an unresponsive CPU1 is reported as dead.
#[cfg(feature = "qemu")]
pub const CPU1_HARD_RESET: bool = false;
#[cfg(all(feature = "kasli_soc", not(feature = "qemu")))]
pub const CPU1_HARD_RESET: bool = true;
