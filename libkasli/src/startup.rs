//! The Kasli-SoC start-up in the reference order, and the uplink clocking.
//!
//! [`start`] runs, each step logged (target `kasli`):
//!
//! 1. read and check the gateware identifier (the CSR bus still runs on
//!    the bootstrap clock);
//! 2. I2C bus recovery; the switches' reset and type probe;
//! 3. both SFP I/O expanders: TX_DISABLE low on SFP0..3, EEM power on
//!    hw_rev v1.2;
//! 4. the Si5324: part number, the plan for the RTIO clock from CKIN1
//!    (crystal as free-run CKIN2), lock with a deadline;
//! 5. 100 ms, then `gt_drtio.stable_clkin = 1`, then **no PL access for
//!    50 ms** (the sys domain is in reset until the clock switch is done),
//!    then `sys_crg.current_clock` must read 1, then `gt_drtio.txenable`.
//!
//! If steps 1 to 4 fail, the cause is logged and [`start`] returns before
//! `stable_clkin` is written: the PL is never left in the dead window and
//! CPU0 keeps serving its UART log. Every wait has a deadline.
//!
//! [`Board::uplink_up`]/[`Board::uplink_down`] move the Si5324 between the
//! recovered and the local clock (with skew calibration on the way up).

use core::fmt;

use embedded_hal::i2c::I2c;

use crate::csr::BoardCsr;
use crate::expander::{ExpanderError, HwRev, IoExpander};
use crate::identifier::{Identifier, IdentifierCheck, IdentifierError};
use crate::si5324::{Input, RtioClock, Si5324, Si5324Error};
use crate::siphaser::{calibrate_skew, Calibration, SiphaserCsr, SiphaserError};
use crate::switch::{BoardI2c, Pca954x, SwitchError, SwitchSelect};
use crate::time::Timer;

/// The log target of every line of the bring-up.
pub const LOG_TARGET: &str = "kasli";

/// Wait between the Si5324's lock and `stable_clkin` (reference order).
pub const SETTLE_BEFORE_SWITCH_MS: u32 = 100;
/// The window after `stable_clkin` in which the PL is not touched.
pub const NO_PL_ACCESS_MS: u32 = 50;
/// Default deadline for the Si5324's lock (it can take seconds).
pub const LOCK_TIMEOUT_MS: u32 = 20_000;
/// Every transceiver's transmitter; the register keeps its width's bits.
pub const TXENABLE_ALL: u32 = u32::MAX;

/// Board settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardConfig {
    pub hw_rev: HwRev,
    pub rtio_clock: RtioClock,
    pub switch: SwitchSelect,
    pub identifier: IdentifierCheck,
    pub lock_timeout_ms: u32,
}

impl Default for BoardConfig {
    fn default() -> Self {
        BoardConfig {
            hw_rev: HwRev::default(),
            rtio_clock: RtioClock::default(),
            switch: SwitchSelect::Probe,
            identifier: IdentifierCheck::Text,
            lock_timeout_ms: LOCK_TIMEOUT_MS,
        }
    }
}

/// Why the start-up stopped. For every variant but
/// [`StartError::ClockSwitch`] the PL was left alone after the identifier
/// read; after `ClockSwitch` the sys domain may be dead. Either way the
/// firmware must make no further PL access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError<E> {
    Identifier(IdentifierError),
    /// Bus recovery failed (SDA or SCL stuck low).
    Bus(E),
    Switch(SwitchError<E>),
    Expander(ExpanderError<E>),
    Si5324(Si5324Error<E>),
    /// `sys_crg.current_clock` did not read 1 after the switch window.
    ClockSwitch {
        current_clock: u32,
    },
}

impl<E: fmt::Debug> fmt::Display for StartError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Identifier(e) => write!(f, "{e}"),
            StartError::Bus(e) => write!(f, "I2C bus: {e:?}"),
            StartError::Switch(e) => write!(f, "{e}"),
            StartError::Expander(e) => write!(f, "{e}"),
            StartError::Si5324(e) => write!(f, "{e}"),
            StartError::ClockSwitch { current_clock } => {
                write!(f, "sys clock did not switch (current_clock = {current_clock} after {NO_PL_ACCESS_MS} ms)")
            }
        }
    }
}

/// Why an uplink clock change failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UplinkError<E> {
    Si5324(Si5324Error<E>),
    Siphaser(SiphaserError),
}

impl<E: fmt::Debug> fmt::Display for UplinkError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UplinkError::Si5324(e) => write!(f, "{e}"),
            UplinkError::Siphaser(e) => write!(f, "{e}"),
        }
    }
}

/// The board after a successful start-up.
#[derive(Debug, Clone)]
pub struct Board {
    identifier: Identifier,
    switch: Pca954x,
    expanders: [IoExpander; 2],
    si5324: Si5324,
    lock_timeout_ms: u32,
    recovered: bool,
}

/// Logs the cause and returns it.
fn fail<E: fmt::Debug>(e: StartError<E>) -> StartError<E> {
    log::error!(target: LOG_TARGET, "start-up stopped: {e}; the PL is left alone, the UART log keeps running");
    e
}

/// Runs the start-up (see the module docs). On success the sys clock runs
/// on the transceiver clock and the transmitters are on.
pub fn start<I, C, T>(
    bus: &mut I,
    csr: &mut C,
    timer: &mut T,
    config: &BoardConfig,
) -> Result<Board, StartError<I::Error>>
where
    I: BoardI2c,
    C: BoardCsr + ?Sized,
    T: Timer,
{
    let identifier = Identifier::read(csr);
    log::info!(target: LOG_TARGET, "gateware identifier \"{}\"", identifier.as_str());
    if let Some(len) = identifier.truncated_from() {
        log::warn!(target: LOG_TARGET, "gateware identifier is {len} bytes, shown truncated");
    }
    identifier
        .check(config.identifier)
        .map_err(|e| fail(StartError::Identifier(e)))?;

    let board = bring_up_i2c(bus, timer, config, identifier).map_err(fail)?;

    timer.delay_ms(SETTLE_BEFORE_SWITCH_MS);
    log::info!(target: LOG_TARGET, "switching the sys clock to the transceiver clock (no PL access for {NO_PL_ACCESS_MS} ms)");
    csr.write_stable_clkin(1);
    // The sys domain is in reset until the transceivers' TX is up: any CSR
    // access now would stall the AXI port for good. Only the CPU timer.
    timer.delay_ms(NO_PL_ACCESS_MS);
    let current_clock = csr.read_current_clock();
    if current_clock != 1 {
        return Err(fail(StartError::ClockSwitch { current_clock }));
    }
    log::info!(target: LOG_TARGET, "sys clock switched (current_clock = 1)");
    csr.write_txenable(TXENABLE_ALL);
    log::info!(target: LOG_TARGET, "transceiver transmitters enabled");
    log::info!(target: LOG_TARGET, "board ready");
    Ok(board)
}

/// Steps 2 to 4: everything on the I2C bus.
fn bring_up_i2c<I: BoardI2c, T: Timer>(
    bus: &mut I,
    timer: &mut T,
    config: &BoardConfig,
    identifier: Identifier,
) -> Result<Board, StartError<I::Error>> {
    bus.recover().map_err(StartError::Bus)?;
    log::info!(target: LOG_TARGET, "I2C bus idle (SCL MIO 50, SDA MIO 51)");

    let (switch, probed) =
        Pca954x::reset_and_probe(bus, config.switch).map_err(StartError::Switch)?;
    match probed {
        Some(byte) => {
            log::info!(target: LOG_TARGET, "I2C switches: {} (probed: 0x71 control {byte:#04x} after reset)", switch.kind().name())
        }
        None => {
            log::info!(target: LOG_TARGET, "I2C switches: {} (board setting)", switch.kind().name())
        }
    }

    let mut expanders = [0u8, 1]
        .map(|i| IoExpander::new(i, crate::expander::ExpanderKind::Mcp23017, config.hw_rev));
    for (index, slot) in expanders.iter_mut().enumerate() {
        let mut e = IoExpander::probe(bus, &switch, index as u8, config.hw_rev)
            .map_err(StartError::Expander)?;
        e.init(bus, &switch).map_err(StartError::Expander)?;
        let [a, b] = e.sfps();
        log::info!(
            target: LOG_TARGET,
            "I/O expander {index}: {} at {:#04x}, SFP{a} and SFP{b} TX_DISABLE low",
            e.kind().name(),
            e.address()
        );
        if e.eem_power() {
            log::info!(target: LOG_TARGET, "EEM power on (hw_rev {})", config.hw_rev.name());
        }
        *slot = e;
    }

    let si5324 = Si5324::probe(bus, switch).map_err(StartError::Si5324)?;
    log::info!(target: LOG_TARGET, "Si5324 found (part number 0x0182)");
    let settings = config.rtio_clock.settings();
    log::info!(
        target: LOG_TARGET,
        "Si5324: {} MHz from CKIN1, crystal as free-run CKIN2; waiting for lock (up to {} ms)",
        config.rtio_clock.mhz(),
        config.lock_timeout_ms
    );
    let ms = si5324
        .setup(bus, timer, &settings, Input::Ckin1, config.lock_timeout_ms)
        .map_err(StartError::Si5324)?;
    log::info!(target: LOG_TARGET, "Si5324 locked after {ms} ms");

    Ok(Board {
        identifier,
        switch,
        expanders,
        si5324,
        lock_timeout_ms: config.lock_timeout_ms,
        recovered: false,
    })
}

impl Board {
    pub fn identifier(&self) -> &Identifier {
        &self.identifier
    }

    pub fn switch(&self) -> Pca954x {
        self.switch
    }

    pub fn expanders(&self) -> &[IoExpander; 2] {
        &self.expanders
    }

    pub fn si5324(&self) -> Si5324 {
        self.si5324
    }

    /// Whether the Si5324 follows the uplink's recovered clock.
    pub fn on_recovered_clock(&self) -> bool {
        self.recovered
    }

    /// The uplink's `rx_up` rose: Si5324 to the recovered clock, lock,
    /// then the siphaser skew calibration. Call before the aux reset and
    /// the release of the `drtiosat` resets.
    pub fn uplink_up<I: I2c, S: SiphaserCsr, T: Timer>(
        &mut self,
        bus: &mut I,
        siphaser: &mut S,
        timer: &mut T,
    ) -> Result<Calibration, UplinkError<I::Error>> {
        log::info!(target: LOG_TARGET, "uplink up: Si5324 to the recovered clock");
        let result = self.switch_to_recovered(bus, siphaser, timer);
        match &result {
            Ok(c) => log::info!(
                target: LOG_TARGET,
                "siphaser calibrated: lead {} shifts, window {} shifts ({} deg)",
                c.lead,
                c.width,
                c.width_degrees()
            ),
            Err(e) => log::error!(target: LOG_TARGET, "uplink clocking failed: {e}"),
        }
        result
    }

    fn switch_to_recovered<I: I2c, S: SiphaserCsr, T: Timer>(
        &mut self,
        bus: &mut I,
        siphaser: &mut S,
        timer: &mut T,
    ) -> Result<Calibration, UplinkError<I::Error>> {
        self.recovered = true;
        let ms = self
            .si5324
            .select_recovered_clock(bus, siphaser, timer, true, self.lock_timeout_ms)
            .map_err(UplinkError::Si5324)?;
        log::info!(target: LOG_TARGET, "Si5324 locked to the recovered clock after {ms} ms");
        calibrate_skew(siphaser, timer).map_err(UplinkError::Siphaser)
    }

    /// The uplink went down: Si5324 back to the local clock.
    pub fn uplink_down<I: I2c, S: SiphaserCsr, T: Timer>(
        &mut self,
        bus: &mut I,
        siphaser: &mut S,
        timer: &mut T,
    ) -> Result<(), UplinkError<I::Error>> {
        log::info!(target: LOG_TARGET, "uplink down: Si5324 back to the local clock");
        self.recovered = false;
        match self
            .si5324
            .select_recovered_clock(bus, siphaser, timer, false, self.lock_timeout_ms)
        {
            Ok(ms) => {
                log::info!(target: LOG_TARGET, "Si5324 locked to the local clock after {ms} ms");
                Ok(())
            }
            Err(e) => {
                log::error!(target: LOG_TARGET, "uplink clocking failed: {e}");
                Err(UplinkError::Si5324(e))
            }
        }
    }

    /// Main-loop service: the SFP LEDs from `leds` (bit n = SFPn, e.g.
    /// `virtual_leds.status`). Bus traffic only when an LED changes.
    pub fn service<I: I2c>(
        &mut self,
        bus: &mut I,
        leds: u8,
    ) -> Result<(), ExpanderError<I::Error>> {
        let switch = self.switch;
        for e in self.expanders.iter_mut() {
            e.service(bus, &switch, leds)?;
        }
        Ok(())
    }
}
