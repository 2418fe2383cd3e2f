//! The bit-banged master against the board model at pin level: every bit
//! goes through `OpenDrain` and the model's decoder.

use embedded_hal::i2c::{I2c, Operation};
use libkasli::bitbang::Error;
use libkasli::model::pins::Phase;
use libkasli::model::{BoardSpec, Sim};
use libkasli::switch::{SwitchKind, SWITCH0, SWITCH1};

fn idle(sim: &Sim) -> bool {
    let w = sim.world.borrow();
    w.pins.master_scl && w.pins.master_sda && w.pins.phase == Phase::Idle
}

#[test]
fn writes_reads_and_repeated_start_through_the_pins() {
    let sim = Sim::new(&BoardSpec::default());
    let mut i2c = sim.bitbang();
    i2c.init().unwrap();
    i2c.write(SWITCH0, &[0]).unwrap();
    i2c.write(SWITCH1, &[1 << 3]).unwrap();
    assert_eq!(sim.world.borrow().switches[1].control, 0x08);

    // Si5324 part number: write_read (repeated START), two bytes (ACK then NACK).
    let mut id = [0u8; 2];
    i2c.write_read(0x68, &[134], &mut id).unwrap();
    assert_eq!(id, [0x01, 0x82]);

    // Several operations of one transaction: two writes merge, then a read.
    let (mut a, mut b) = ([0u8; 1], [0u8; 2]);
    i2c.transaction(
        0x20,
        &mut [Operation::Write(&[0x12]), Operation::Write(&[0xa5, 0x5a])],
    )
    .unwrap();
    i2c.transaction(
        0x20,
        &mut [
            Operation::Write(&[0x12]),
            Operation::Read(&mut a),
            Operation::Read(&mut b),
        ],
    )
    .unwrap();
    assert_eq!((a, b[0]), ([0xa5], 0x5a));
    assert!(idle(&sim));
    let w = sim.world.borrow();
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_missing_device_is_an_address_nack_and_the_bus_is_left_idle() {
    let sim = Sim::new(&BoardSpec::default());
    let mut i2c = sim.bitbang();
    i2c.init().unwrap();
    // 0x71 channel 3 is off: nobody at 0x68.
    assert_eq!(i2c.write(0x68, &[0]), Err(Error::AddressNack));
    assert!(idle(&sim));
    // The bus still works.
    i2c.write(SWITCH1, &[0x08]).unwrap();
    let mut v = [0];
    i2c.write_read(0x68, &[135], &mut v).unwrap();
    assert_eq!(v, [0x82]);
}

#[test]
fn clock_stretching_is_waited_for() {
    let sim = Sim::new(&BoardSpec {
        stretch_us: 300,
        ..BoardSpec::default()
    });
    let mut i2c = sim.bitbang();
    i2c.init().unwrap();
    i2c.write(SWITCH1, &[0x08]).unwrap();
    let mut v = [0];
    i2c.write_read(0x68, &[134], &mut v).unwrap();
    assert_eq!(v, [0x01]);
}

#[test]
fn scl_stuck_low_fails_within_the_stretch_limit() {
    let sim = Sim::new(&BoardSpec {
        scl_stuck_low: true,
        ..BoardSpec::default()
    });
    let mut i2c = sim.bitbang();
    assert_eq!(i2c.init(), Err(Error::SclStuckLow));
    assert!(sim.now_ms() < 12.0, "{} ms", sim.now_ms());
    let t = sim.now_ms();
    assert_eq!(i2c.write(SWITCH1, &[0]), Err(Error::SclStuckLow));
    assert!(sim.now_ms() - t < 25.0);
}

#[test]
fn sda_stuck_low_fails_after_nine_clocks() {
    let sim = Sim::new(&BoardSpec {
        sda_stuck_low: true,
        ..BoardSpec::default()
    });
    let mut i2c = sim.bitbang();
    assert_eq!(i2c.init(), Err(Error::SdaStuckLow));
    assert!(sim.now_ms() < 2.0, "{} ms", sim.now_ms());
}

#[test]
fn recovery_frees_a_device_left_in_the_middle_of_a_read() {
    let sim = Sim::new(&BoardSpec::default());
    sim.world.borrow_mut().pins.stuck_mid_read();
    let mut i2c = sim.bitbang();
    assert!(!sim.world.borrow().pins.sda());
    i2c.init().unwrap();
    assert!(idle(&sim));
    let mut v = [0xff];
    i2c.read(SWITCH1, &mut v).unwrap();
    assert_eq!(v, [0x00]);
}

#[test]
fn a_refused_data_byte_is_a_data_nack() {
    let sim = Sim::new(&BoardSpec::default());
    let mut i2c = sim.bitbang();
    i2c.init().unwrap();
    i2c.write(SWITCH1, &[0x08]).unwrap();
    // The Si5324's soft reset: it refuses the value byte.
    assert_eq!(i2c.write(0x68, &[136, 0x80]), Err(Error::DataNack));
    assert!(idle(&sim));
}

#[test]
fn pca9547_switch_selects_one_channel_by_number() {
    let sim = Sim::new(&BoardSpec {
        switch: SwitchKind::Pca9547,
        ..BoardSpec::default()
    });
    let mut i2c = sim.bitbang();
    i2c.init().unwrap();
    i2c.write(SWITCH0, &[0]).unwrap();
    i2c.write(SWITCH1, &[SwitchKind::Pca9547.control(Some(3))])
        .unwrap();
    let mut v = [0];
    i2c.write_read(0x68, &[134], &mut v).unwrap();
    assert_eq!(v, [0x01]);
}

/// The byte-level API ARTIQ's I2C requests use: a switch select, then the
/// Si5324's part number one byte at a time, and a NACK that leaves the
/// transfer open.
#[test]
fn byte_level_start_write_read_stop_through_the_pins() {
    let sim = Sim::new(&BoardSpec::default());
    let mut i2c = sim.bitbang();
    i2c.init().unwrap();
    i2c.raw_start().unwrap();
    assert_eq!(i2c.raw_write(SWITCH1 << 1), Ok(true));
    assert_eq!(i2c.raw_write(1 << 3), Ok(true));
    i2c.raw_stop().unwrap();
    assert_eq!(sim.world.borrow().switches[1].control, 0x08);

    i2c.raw_start().unwrap();
    assert_eq!(i2c.raw_write(0x68 << 1), Ok(true));
    assert_eq!(i2c.raw_write(134), Ok(true));
    i2c.raw_start().unwrap(); // repeated START
    assert_eq!(i2c.raw_write(0x68 << 1 | 1), Ok(true));
    let id = [i2c.raw_read(true).unwrap(), i2c.raw_read(false).unwrap()];
    i2c.raw_stop().unwrap();
    assert_eq!(id, [0x01, 0x82]);
    assert!(idle(&sim));

    // Nobody at 0x33: a NACK, not an error; the caller stops.
    i2c.raw_start().unwrap();
    assert_eq!(i2c.raw_write(0x33 << 1), Ok(false));
    i2c.raw_stop().unwrap();
    assert!(idle(&sim));
    let w = sim.world.borrow();
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}
