//! Moninj and I2C over DRTIO on the simulated satellite: the monitor
//! follows the outputs at their timestamps, an override holds the output
//! whatever the initiators emit, both are forwarded down a chain; I2C
//! requests drive the Kasli-SoC bus model (switches, Si5324) through the
//! real bit-banged master, with ARTIQ's reply semantics; bad bus numbers,
//! masks and unreachable destinations fail explicitly.

use std::time::Duration;

use libdrtio::Packet;
use satman_systest::heap::TrackingAlloc;
use satman_systest::master::{path, MasterError};
use satman_systest::peripherals::I2cReply;
use satman_systest::scenario;
use satman_systest::sim::{RtioShared, SimBench, SimOptions};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

const TTL15: u16 = 15;

fn target(destination: u8, channel: u16) -> u32 {
    ((destination as u32) << 16 | channel as u32) << 8
}

/// Emits `levels` on channel 15 as the kernel initiator would, the first
/// `lead` ms from now, then one every `step` ms. Returns the counter then.
fn emit(rtio: &RtioShared, destination: u8, levels: &[u32], lead_ms: i64, step_ms: i64) -> i64 {
    let now = rtio.counter();
    for (i, &v) in levels.iter().enumerate() {
        let ts = now + (lead_ms + i as i64 * step_ms) * 1000;
        rtio.kernel_output(ts, target(destination, TTL15), &[v]);
    }
    now
}

fn bench() -> SimBench {
    let mut b = SimBench::new(SimOptions::default());
    b.master.init_link(scenario::DEST).unwrap();
    b
}

/// Waits until the counter of `rtio` reaches `until` (µs).
fn wait_on(b: &mut SimBench, rtio: &std::sync::Arc<RtioShared>, until: i64) {
    let rtio = rtio.clone();
    assert!(b.pump_until(Duration::from_secs(5), |_| rtio.counter() >= until));
}

/// Waits until the first satellite's counter reaches `until` (µs).
fn wait_counter(b: &mut SimBench, until: i64) {
    let rtio = b.rtio.clone();
    assert!(b.pump_until(Duration::from_secs(5), |_| rtio.counter() >= until));
}

#[test]
fn the_monitor_follows_the_outputs_and_an_override_holds_them() {
    let mut b = bench();
    let d = scenario::DEST;
    assert_eq!(b.master.monitor(d, TTL15, 0).unwrap(), 0);
    // High at +40 ms, low at +120 ms.
    let t0 = emit(&b.rtio, d, &[1, 0], 40, 80);
    assert_eq!(b.master.monitor(d, TTL15, 0).unwrap(), 0, "not before its timestamp");
    wait_counter(&mut b, t0 + 60_000);
    assert_eq!(b.master.monitor(d, TTL15, 0).unwrap(), 1);
    wait_counter(&mut b, t0 + 140_000);
    assert_eq!(b.master.monitor(d, TTL15, 0).unwrap(), 0);

    // Override: level 1, enabled. The initiators keep toggling; the pad holds.
    b.master.inject(d, TTL15, 1, 1).unwrap();
    b.master.inject(d, TTL15, 0, 1).unwrap();
    assert_eq!(b.master.injection_status(d, TTL15, 0).unwrap(), 1);
    assert_eq!(b.master.injection_status(d, TTL15, 1).unwrap(), 1);
    let t1 = emit(&b.rtio, d, &[0, 1, 0], 10, 20);
    for k in 0..4 {
        wait_counter(&mut b, t1 + (20 + 20 * k) * 1000);
        assert_eq!(b.master.monitor(d, TTL15, 0).unwrap(), 1, "held at step {}", k);
    }
    // Released: the kernel's last level (low) shows again.
    b.master.inject(d, TTL15, 0, 0).unwrap();
    assert_eq!(b.master.injection_status(d, TTL15, 0).unwrap(), 0);
    assert_eq!(b.master.monitor(d, TTL15, 0).unwrap(), 0);

    // Bad numbers: answered (0, as the gateware reads for a missing probe), refused and counted.
    assert_eq!(b.master.monitor(d, 9999, 0).unwrap(), 0);
    assert_eq!(b.master.monitor(d, TTL15, 7).unwrap(), 0);
    b.master.inject(d, 0xffff, 0, 1).unwrap();
    assert_eq!(b.master.injection_status(d, TTL15, 3).unwrap(), 0);
    b.pump(Duration::from_millis(5));
    assert_eq!(b.sat().moninj_i2c_refused().0, 4);
    assert_eq!(b.master.stats.timeouts, 0);
}

#[test]
fn moninj_and_i2c_are_forwarded_down_a_chain_and_refused_for_unreachable_destinations() {
    let mut b = SimBench::chain(SimOptions::default(), 1);
    b.master.echo().unwrap();
    b.master.set_routes(&[(1, path(&[1, 0])), (2, path(&[1, 1, 0]))]).unwrap();
    assert!(b.pump_until(Duration::from_secs(5), |b| b.nth(0).repeater_state(0) == Some(satman::RepeaterState::Up)));

    let below = b.downstream[0].rtio.clone();
    let t0 = emit(&below, 2, &[1], 5, 0);
    wait_on(&mut b, &below, t0 + 20_000);
    assert_eq!(b.master.monitor(2, TTL15, 0).unwrap(), 1, "satellite 2's channel");
    assert_eq!(b.master.monitor(1, TTL15, 0).unwrap(), 0, "satellite 1's channel is untouched");
    b.master.inject(2, TTL15, 0, 1).unwrap();
    assert_eq!(b.master.injection_status(2, TTL15, 0).unwrap(), 1);
    assert_eq!(b.master.injection_status(1, TTL15, 0).unwrap(), 0);
    let r = b.master.i2c(&Packet::I2cStartRequest { destination: 2, busno: 0 }).unwrap();
    assert_eq!(r, I2cReply::Basic { succeeded: true });
    let r = b.master.i2c(&Packet::I2cStopRequest { destination: 2, busno: 0 }).unwrap();
    assert_eq!(r, I2cReply::Basic { succeeded: true });

    // Destination 9 has no route: I2C fails at once, moninj is not answered.
    let r = b.master.i2c(&Packet::I2cStartRequest { destination: 9, busno: 0 }).unwrap();
    assert_eq!(r, I2cReply::Basic { succeeded: false });
    let r = b.master.i2c(&Packet::I2cReadRequest { destination: 9, busno: 0, ack: false }).unwrap();
    assert_eq!(r, I2cReply::Read { succeeded: false, data: 0xff });
    assert!(matches!(b.master.monitor(9, TTL15, 0), Err(MasterError::Timeout(_))));
}

#[test]
fn i2c_requests_drive_the_board_bus_byte_by_byte() {
    let mut b = bench();
    let d = scenario::DEST;
    let mut i2c = |p: Packet<'_>| b.master.i2c(&p).unwrap();
    let ok = I2cReply::Basic { succeeded: true };
    let acked = I2cReply::Write { succeeded: true, ack: true };

    // Switch 0x71, channel 3 (one bit of the PCA9548-style mask): the Si5324.
    assert_eq!(i2c(Packet::I2cSwitchSelectRequest { destination: d, busno: 0, address: 0x71, mask: 1 << 3 }), ok);
    // Its part number, registers 134-135.
    assert_eq!(i2c(Packet::I2cStartRequest { destination: d, busno: 0 }), ok);
    assert_eq!(i2c(Packet::I2cWriteRequest { destination: d, busno: 0, data: 0x68 << 1 }), acked);
    assert_eq!(i2c(Packet::I2cWriteRequest { destination: d, busno: 0, data: 134 }), acked);
    assert_eq!(i2c(Packet::I2cRestartRequest { destination: d, busno: 0 }), ok);
    assert_eq!(i2c(Packet::I2cWriteRequest { destination: d, busno: 0, data: 0x68 << 1 | 1 }), acked);
    assert_eq!(i2c(Packet::I2cReadRequest { destination: d, busno: 0, ack: true }), I2cReply::Read { succeeded: true, data: 0x01 });
    assert_eq!(i2c(Packet::I2cReadRequest { destination: d, busno: 0, ack: false }), I2cReply::Read { succeeded: true, data: 0x82 });
    assert_eq!(i2c(Packet::I2cStopRequest { destination: d, busno: 0 }), ok);

    // Nobody at 0x33: the write succeeded, without an acknowledge.
    assert_eq!(i2c(Packet::I2cStartRequest { destination: d, busno: 0 }), ok);
    assert_eq!(i2c(Packet::I2cWriteRequest { destination: d, busno: 0, data: 0x33 << 1 }), I2cReply::Write { succeeded: true, ack: false });
    assert_eq!(i2c(Packet::I2cStopRequest { destination: d, busno: 0 }), ok);

    // Explicit failures: another bus, a two-bit mask, a byte outside a transfer.
    let failed = I2cReply::Basic { succeeded: false };
    assert_eq!(i2c(Packet::I2cStartRequest { destination: d, busno: 1 }), failed);
    assert_eq!(i2c(Packet::I2cSwitchSelectRequest { destination: d, busno: 0, address: 0x70, mask: 0x81 }), failed);
    assert_eq!(i2c(Packet::I2cReadRequest { destination: d, busno: 0, ack: false }), I2cReply::Read { succeeded: false, data: 0xff });
    assert_eq!(i2c(Packet::I2cWriteRequest { destination: d, busno: 3, data: 0 }), I2cReply::Write { succeeded: false, ack: false });
    // Deselect: mask 0.
    assert_eq!(i2c(Packet::I2cSwitchSelectRequest { destination: d, busno: 0, address: 0x71, mask: 0 }), ok);

    let model = b.sat().hw.i2c.model.clone();
    let w = model.world.borrow();
    assert_eq!(w.switches[1].control, 0);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    drop(w);
    assert_eq!(b.sat().moninj_i2c_refused().1, 4);
    assert!(!b.sat().i2c_in_transfer());
}
