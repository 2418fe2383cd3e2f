//! The Kasli-SoC start-up and uplink clocking on the board model, through
//! the bit-banged master at pin level, with every fault of issue 8 item 11.

use libkasli::bitbang::Error;
use libkasli::expander::{ExpanderError, ExpanderKind, HwRev};
use libkasli::identifier::{IdentifierCheck, IdentifierError};
use libkasli::model::devices::Si5324Config;
use libkasli::model::pl::PlConfig;
use libkasli::model::{logcap, BoardSpec, Sim};
use libkasli::si5324::Si5324Error;
use libkasli::startup::{start, Board, BoardConfig, StartError};
use libkasli::switch::{SwitchKind, SwitchSelect};
use libkasli::{BoardCsr, SiphaserCsr};

fn run(spec: &BoardSpec, config: &BoardConfig) -> (Sim, Result<Board, StartError<Error>>) {
    logcap::start();
    let sim = Sim::new(spec);
    let mut bus = sim.bitbang();
    let mut csr = sim.csr();
    let mut timer = sim.timer();
    let r = start(&mut bus, &mut csr, &mut timer, config);
    (sim, r)
}

/// The log lines' messages (without level and target), in order.
fn messages(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            l.split_once("kasli: ")
                .map_or(l.clone(), |(_, m)| m.to_string())
        })
        .collect()
}

/// PL accesses made after the identifier read.
fn pl_accesses_after_identifier(sim: &Sim) -> Vec<&'static str> {
    sim.world
        .borrow()
        .pl
        .accesses
        .iter()
        .map(|a| a.what)
        .filter(|w| !w.starts_with("identifier"))
        .collect()
}

#[test]
fn the_board_starts_in_the_reference_order() {
    let (sim, r) = run(&BoardSpec::default(), &BoardConfig::default());
    let board = r.expect("start-up");
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    let lines = logcap::take();
    let m = messages(&lines);
    let expected_prefixes = [
        "gateware identifier \"9.0+model;satellite\"",
        "I2C bus idle",
        "I2C switches: PCA9548 (probed: 0x71 control 0x00 after reset)",
        "I/O expander 0: MCP23017 at 0x20, SFP0 and SFP1 TX_DISABLE low",
        "I/O expander 1: MCP23017 at 0x21, SFP2 and SFP3 TX_DISABLE low",
        "Si5324 found (part number 0x0182)",
        "Si5324: 125 MHz from CKIN1, crystal as free-run CKIN2; waiting for lock (up to 20000 ms)",
        "Si5324 locked after ",
        "switching the sys clock to the transceiver clock (no PL access for 50 ms)",
        "sys clock switched (current_clock = 1)",
        "transceiver transmitters enabled",
        "board ready",
    ];
    assert_eq!(m.len(), expected_prefixes.len(), "{lines:#?}");
    for (line, prefix) in m.iter().zip(expected_prefixes) {
        assert!(
            line.starts_with(prefix),
            "{line:?} should start with {prefix:?}"
        );
    }

    let w = sim.world.borrow();
    // Lasers on in all four cages.
    for e in &w.expanders {
        assert!(e.laser_on(0) && e.laser_on(1));
    }
    assert_eq!(w.pl.txenable, 0b111);
    // Nothing between stable_clkin and current_clock, and at least 50 ms.
    let acc = &w.pl.accesses;
    let i = acc
        .iter()
        .position(|a| a.what == "gt_drtio.stable_clkin")
        .unwrap();
    assert_eq!(acc[i + 1].what, "sys_crg.current_clock");
    assert!(acc[i + 1].at_ns - acc[i].at_ns >= 50_000_000);
    assert_eq!(acc[i + 2].what, "gt_drtio.txenable");
    assert_eq!(acc.len(), i + 3);
    // The Si5324 was locked before stable_clkin, and 100 ms before it.
    let si = w.si5324.as_ref().unwrap();
    assert!(acc[i].at_ns >= si.relock_from + si.config.lock_ms * 1_000_000 + 100_000_000);
    assert_eq!(si.reg(21) & 1, 0);
    assert_eq!(si.plan_error, None);
    // 0x70 deselected before any use of 0x71 channel 3 (no collision with
    // the decoys behind it), and only whole-byte channel selects.
    assert!(w.switches[0].writes.iter().all(|&b| b == 0));
    assert!(w.switches[1].writes.iter().all(|&b| b == 0x08));
    assert!(!board.on_recovered_clock());
    // Lock 300 ms + 100 ms + 50 ms + the bus traffic.
    let t = sim.now_ms();
    assert!((450.0..1500.0).contains(&t), "{t} ms");
}

#[test]
fn pca9547_pca9539_and_hw_rev_1_2() {
    let spec = BoardSpec {
        switch: SwitchKind::Pca9547,
        expanders: [Some(ExpanderKind::Pca9539); 2],
        ..BoardSpec::default()
    };
    let config = BoardConfig {
        hw_rev: HwRev::V1_2,
        ..BoardConfig::default()
    };
    let (sim, r) = run(&spec, &config);
    let board = r.expect("start-up");
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    let m = messages(&logcap::take());
    assert!(
        m.iter()
            .any(|l| l == "I2C switches: PCA9547 (probed: 0x71 control 0x08 after reset)"),
        "{m:#?}"
    );
    assert!(m
        .iter()
        .any(|l| l.starts_with("I/O expander 1: PCA9539 at 0x75")));
    assert!(m.iter().any(|l| l == "EEM power on (hw_rev v1.2)"));
    let w = sim.world.borrow();
    assert!(w.switches[1].writes.iter().all(|&b| b == 0x0b));
    assert_eq!(w.expanders[1].output(0, 7), Some(true));
    assert_eq!(w.expanders[0].output(0, 7), Some(false), "SFP0 LED, off");
    assert!(w.expanders.iter().all(|e| e.laser_on(0) && e.laser_on(1)));
    assert!(board.expanders()[1].eem_power());
}

#[test]
fn a_fixed_switch_type_skips_the_probe() {
    let config = BoardConfig {
        switch: SwitchSelect::Fixed(SwitchKind::Pca9548),
        ..BoardConfig::default()
    };
    let (sim, r) = run(&BoardSpec::default(), &config);
    r.expect("start-up");
    assert!(messages(&logcap::take())
        .iter()
        .any(|l| l == "I2C switches: PCA9548 (board setting)"));
    assert!(sim.violations().is_empty());
}

/// A start-up fault: the error, its log line, no PL access past the
/// identifier, no violation, and bounded simulated time.
fn assert_stopped_cleanly(sim: &Sim, err_line: &str, max_ms: f64) {
    let errors = logcap::at_least(log::Level::Error);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains(err_line),
        "{:?} should contain {err_line:?}",
        errors[0]
    );
    assert!(errors[0].ends_with("the PL is left alone, the UART log keeps running"));
    assert!(
        pl_accesses_after_identifier(sim).is_empty(),
        "{:?}",
        pl_accesses_after_identifier(sim)
    );
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    assert!(sim.now_ms() < max_ms, "{} ms", sim.now_ms());
}

#[test]
fn no_si5324() {
    let (sim, r) = run(
        &BoardSpec {
            si5324: None,
            ..BoardSpec::default()
        },
        &BoardConfig::default(),
    );
    assert_eq!(
        r.unwrap_err(),
        StartError::Si5324(Si5324Error::I2c {
            reg: 134,
            error: Error::AddressNack
        })
    );
    assert_stopped_cleanly(&sim, "Si5324 register 134: AddressNack", 500.0);
}

#[test]
fn si5324_never_locks() {
    let si = Si5324Config {
        never_locks: true,
        ..Si5324Config::default()
    };
    let (sim, r) = run(
        &BoardSpec {
            si5324: Some(si),
            ..BoardSpec::default()
        },
        &BoardConfig::default(),
    );
    assert_eq!(
        r.unwrap_err(),
        StartError::Si5324(Si5324Error::LockTimeout { waited_ms: 20_000 })
    );
    assert_stopped_cleanly(
        &sim,
        "Si5324 not locked after 20000 ms (LOL_INT set)",
        21_000.0,
    );
    // About one status read per 10 ms poll, through the pins.
    let w = sim.world.borrow();
    assert!(
        sim.now_ms() > 20_000.0 && w.bytes > 4 * 1700 && w.pins.starts > 2 * 1700,
        "{} ms, {} bytes",
        sim.now_ms(),
        w.bytes
    );
}

#[test]
fn si5324_plan_for_the_wrong_rtio_clock_never_locks() {
    let si = Si5324Config {
        expected_out_hz: 100_000_000,
        ..Si5324Config::default()
    };
    let config = BoardConfig {
        lock_timeout_ms: 2_000,
        ..BoardConfig::default()
    };
    let (sim, r) = run(
        &BoardSpec {
            si5324: Some(si),
            ..BoardSpec::default()
        },
        &config,
    );
    assert_eq!(
        r.unwrap_err(),
        StartError::Si5324(Si5324Error::LockTimeout { waited_ms: 2_000 })
    );
    assert_stopped_cleanly(&sim, "not locked after 2000 ms", 3_000.0);
}

#[test]
fn si5324_without_crystal() {
    let si = Si5324Config {
        crystal: false,
        ..Si5324Config::default()
    };
    let (sim, r) = run(
        &BoardSpec {
            si5324: Some(si),
            ..BoardSpec::default()
        },
        &BoardConfig::default(),
    );
    assert_eq!(r.unwrap_err(), StartError::Si5324(Si5324Error::NoCrystal));
    assert_stopped_cleanly(&sim, "no crystal signal", 500.0);
}

#[test]
fn an_expander_missing() {
    let spec = BoardSpec {
        expanders: [Some(ExpanderKind::Mcp23017), None],
        ..BoardSpec::default()
    };
    let (sim, r) = run(&spec, &BoardConfig::default());
    assert_eq!(
        r.unwrap_err(),
        StartError::Expander(ExpanderError::NotFound { index: 1 })
    );
    assert_stopped_cleanly(
        &sim,
        "I/O expander 1 not found (no MCP23017 at 0x21, no PCA9539 at 0x75)",
        200.0,
    );
}

#[test]
fn sda_stuck_low() {
    let (sim, r) = run(
        &BoardSpec {
            sda_stuck_low: true,
            ..BoardSpec::default()
        },
        &BoardConfig::default(),
    );
    assert_eq!(r.unwrap_err(), StartError::Bus(Error::SdaStuckLow));
    assert_stopped_cleanly(&sim, "I2C bus: SdaStuckLow", 10.0);
}

#[test]
fn scl_stuck_low() {
    let (sim, r) = run(
        &BoardSpec {
            scl_stuck_low: true,
            ..BoardSpec::default()
        },
        &BoardConfig::default(),
    );
    assert_eq!(r.unwrap_err(), StartError::Bus(Error::SclStuckLow));
    assert_stopped_cleanly(&sim, "I2C bus: SclStuckLow", 20.0);
}

#[test]
fn identifier_mismatch() {
    let config = BoardConfig {
        identifier: IdentifierCheck::Contains("satellite"),
        ..BoardConfig::default()
    };
    let pl = PlConfig {
        identifier: b"9.0+model;master".to_vec(),
        ..PlConfig::default()
    };
    let (sim, r) = run(
        &BoardSpec {
            pl,
            ..BoardSpec::default()
        },
        &config,
    );
    assert_eq!(
        r.unwrap_err(),
        StartError::Identifier(IdentifierError::Mismatch {
            expected: "satellite"
        })
    );
    assert_stopped_cleanly(
        &sim,
        "gateware identifier does not contain \"satellite\"",
        1.0,
    );
    assert!(logcap::take()[0].ends_with("gateware identifier \"9.0+model;master\""));
    assert_eq!(sim.world.borrow().bytes, 0, "no I2C traffic");
}

#[test]
fn no_identifier_means_a_wrong_map_or_no_bitstream() {
    let pl = PlConfig {
        identifier: Vec::new(),
        ..PlConfig::default()
    };
    let (sim, r) = run(
        &BoardSpec {
            pl,
            ..BoardSpec::default()
        },
        &BoardConfig::default(),
    );
    assert_eq!(
        r.unwrap_err(),
        StartError::Identifier(IdentifierError::Empty)
    );
    assert_stopped_cleanly(&sim, "gateware identifier is empty", 1.0);
}

/// The model itself: an access in the dead window is caught.
#[test]
fn the_model_catches_a_pl_access_in_the_dead_window() {
    let sim = Sim::new(&BoardSpec::default());
    let mut csr = sim.csr();
    csr.write_stable_clkin(1);
    // Si5324 never programmed: the switch never completes.
    assert_eq!(csr.read_current_clock(), 0);
    let v = sim.violations();
    assert_eq!(v.len(), 1);
    assert!(
        v[0].contains("PL access sys_crg.current_clock 0.000 ms after stable_clkin"),
        "{v:?}"
    );
}

#[test]
fn uplink_up_recovered_clock_and_calibration_then_down() {
    let (sim, r) = run(&BoardSpec::default(), &BoardConfig::default());
    let mut board = r.expect("start-up");
    logcap::take();
    let mut bus = sim.bitbang();
    let mut csr = sim.csr();
    let mut timer = sim.timer();

    sim.set_link_rx_up(true);
    let t0 = sim.now_ms();
    let cal = board
        .uplink_up(&mut bus, &mut csr, &mut timer)
        .expect("uplink clocking");
    assert!(board.on_recovered_clock());
    {
        let w = sim.world.borrow();
        assert_eq!(w.pl.switch_clocks, 1);
        assert!(w.si5324_locked());
        // The model's window is 60 of 448 steps: the rest is error-free.
        assert_eq!(cal.width, 448 - 60);
        assert!(
            w.pl.margin() >= (448 - 60) / 2 - 2,
            "margin {}",
            w.pl.margin()
        );
    }
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    let m = messages(&logcap::take());
    assert_eq!(m[0], "uplink up: Si5324 to the recovered clock");
    assert!(m[1].starts_with("Si5324 locked to the recovered clock after "));
    assert!(m[2].starts_with("siphaser calibrated: lead "), "{m:?}");
    // About 900 shifts of 5.5 ms each.
    assert!(sim.now_ms() - t0 < 10_000.0);

    sim.set_link_rx_up(false);
    board
        .uplink_down(&mut bus, &mut csr, &mut timer)
        .expect("back to local");
    assert!(!board.on_recovered_clock());
    assert_eq!(sim.world.borrow().pl.switch_clocks, 0);
    assert!(sim.world.borrow().si5324_locked());
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    let m = messages(&logcap::take());
    assert_eq!(m[0], "uplink down: Si5324 back to the local clock");
}

#[test]
fn uplink_up_without_a_recovered_clock_times_out_and_reports() {
    let config = BoardConfig {
        lock_timeout_ms: 1_000,
        ..BoardConfig::default()
    };
    let (sim, r) = run(&BoardSpec::default(), &config);
    let mut board = r.expect("start-up");
    logcap::take();
    // rx_up seen but the signal gone again: no recovered clock.
    let mut bus = sim.bitbang();
    let err = board
        .uplink_up(&mut bus, &mut sim.csr(), &mut sim.timer())
        .unwrap_err();
    assert_eq!(
        err,
        libkasli::UplinkError::Si5324(Si5324Error::LockTimeout { waited_ms: 1_000 })
    );
    let errors = logcap::at_least(log::Level::Error);
    assert_eq!(
        errors,
        ["ERROR kasli: uplink clocking failed: Si5324 not locked after 1000 ms (LOL_INT set)"]
    );
    // Back to the local clock recovers.
    board
        .uplink_down(&mut bus, &mut sim.csr(), &mut sim.timer())
        .unwrap();
    assert!(sim.world.borrow().si5324_locked());
}

#[test]
fn leds_are_written_only_when_they_change() {
    let (sim, r) = run(&BoardSpec::default(), &BoardConfig::default());
    let mut board = r.expect("start-up");
    let mut bus = sim.bitbang();
    board.service(&mut bus, 0b1001).unwrap();
    {
        let w = sim.world.borrow();
        assert_eq!(
            w.expanders[0].output(0, 7),
            Some(true),
            "SFP0 LED (v1.1: pin 7)"
        );
        assert_eq!(w.expanders[0].output(1, 6), Some(false));
        assert_eq!(w.expanders[1].output(1, 6), Some(true), "SFP3 LED");
        assert!(w.expanders.iter().all(|e| e.laser_on(0) && e.laser_on(1)));
    }
    let bytes = sim.world.borrow().bytes;
    board.service(&mut bus, 0b1001).unwrap();
    assert_eq!(sim.world.borrow().bytes, bytes);
    // The siphaser CSRs are untouched by the LED service.
    let _ = sim.csr().read_error();
    assert!(sim.violations().is_empty());
}
