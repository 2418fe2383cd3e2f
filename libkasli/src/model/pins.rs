//! The I2C bus at pin level: decodes what a master does to SCL and SDA
//! (START, STOP, bits on SCL edges) into the bus's transaction calls, and
//! drives SDA for acknowledges and read data, so a bit-banged master is
//! tested through its pins.
//!
//! A device changes SDA only just after SCL falls and samples it when SCL
//! rises, as the I2C specification has it; START and STOP are SDA edges
//! while SCL is high. A device may hold SCL low (clock stretching) for a
//! configured time after each byte's acknowledge.

/// What the devices are doing on the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a START.
    Idle,
    /// Receiving a byte from the master (`address`: the first after START).
    Recv { byte: u8, bits: u8, address: bool },
    /// Driving (or not) the acknowledge bit; then `read` data or more writes.
    Ack { read: bool },
    /// Sending a byte; `bit` is the bit on SDA now (7 = first).
    Send { byte: u8, bit: u8 },
    /// The master's acknowledge of a sent byte.
    MasterAck { acked: bool },
    /// After a NACK, until START or STOP.
    Ignore,
}

/// The lines and the decoder's state.
#[derive(Debug, Clone)]
pub struct PinState {
    pub master_scl: bool,
    pub master_sda: bool,
    /// SDA as the devices drive it (true = released).
    pub device_sda: bool,
    pub phase: Phase,
    /// A device holds SCL low until then.
    pub stretch_until_ns: u64,
    /// Clock stretching after each acknowledge.
    pub stretch_ns: u64,
    pub sda_stuck_low: bool,
    pub scl_stuck_low: bool,
    pub starts: u64,
    pub stops: u64,
}

impl Default for PinState {
    fn default() -> Self {
        PinState {
            master_scl: true,
            master_sda: true,
            device_sda: true,
            phase: Phase::Idle,
            stretch_until_ns: 0,
            stretch_ns: 0,
            sda_stuck_low: false,
            scl_stuck_low: false,
            starts: 0,
            stops: 0,
        }
    }
}

impl PinState {
    pub fn scl(&self, now: u64) -> bool {
        self.master_scl && !self.scl_stuck_low && now >= self.stretch_until_ns
    }

    pub fn sda(&self) -> bool {
        self.master_sda && self.device_sda && !self.sda_stuck_low
    }

    /// A device caught in the middle of a read, driving a 0 bit (what a
    /// CPU reset during a transfer leaves behind).
    pub fn stuck_mid_read(&mut self) {
        self.phase = Phase::Send { byte: 0x00, bit: 5 };
        self.device_sda = false;
    }
}

/// What the decoder asks of the bus.
pub trait Transactions {
    fn start(&mut self, address: u8, read: bool) -> bool;
    fn write(&mut self, byte: u8) -> bool;
    fn read(&mut self) -> u8;
    fn stop(&mut self);
}

/// The master sets SCL.
pub fn set_scl<T: Transactions>(p: &mut PinState, bus: &mut T, now: u64, high: bool) {
    let was = p.master_scl;
    p.master_scl = high;
    if high && !was {
        rising(p);
    } else if !high && was {
        falling(p, bus, now);
    }
}

/// The master sets SDA.
pub fn set_sda<T: Transactions>(p: &mut PinState, bus: &mut T, now: u64, high: bool) {
    let before = p.sda();
    p.master_sda = high;
    let after = p.sda();
    if !p.scl(now) || before == after {
        return;
    }
    if !after {
        // START (or repeated START).
        p.starts += 1;
        p.device_sda = true;
        p.phase = Phase::Recv {
            byte: 0,
            bits: 0,
            address: true,
        };
    } else {
        p.stops += 1;
        p.device_sda = true;
        if p.phase != Phase::Idle {
            bus.stop();
        }
        p.phase = Phase::Idle;
    }
}

fn rising(p: &mut PinState) {
    let sda = p.sda();
    match p.phase {
        Phase::Recv {
            byte,
            bits,
            address,
        } if bits < 8 => {
            p.phase = Phase::Recv {
                byte: byte << 1 | u8::from(sda),
                bits: bits + 1,
                address,
            };
        }
        Phase::MasterAck { .. } => p.phase = Phase::MasterAck { acked: !sda },
        _ => {}
    }
}

fn falling<T: Transactions>(p: &mut PinState, bus: &mut T, now: u64) {
    match p.phase {
        Phase::Recv {
            byte,
            bits: 8,
            address,
        } => {
            let (ack, read) = if address {
                let read = byte & 1 != 0;
                (bus.start(byte >> 1, read), read)
            } else {
                (bus.write(byte), false)
            };
            if ack {
                p.device_sda = false;
                p.phase = Phase::Ack { read };
            } else {
                p.device_sda = true;
                p.phase = Phase::Ignore;
            }
        }
        Phase::Ack { read } => {
            p.stretch_until_ns = now + p.stretch_ns;
            if read {
                send(p, bus.read());
            } else {
                p.device_sda = true;
                p.phase = Phase::Recv {
                    byte: 0,
                    bits: 0,
                    address: false,
                };
            }
        }
        Phase::Send { byte, bit: 0 } => {
            let _ = byte;
            p.device_sda = true;
            p.phase = Phase::MasterAck { acked: false };
        }
        Phase::Send { byte, bit } => {
            p.device_sda = byte & (1 << (bit - 1)) != 0;
            p.phase = Phase::Send { byte, bit: bit - 1 };
        }
        Phase::MasterAck { acked: true } => send(p, bus.read()),
        Phase::MasterAck { acked: false } => {
            p.device_sda = true;
            p.phase = Phase::Ignore;
        }
        _ => {}
    }
}

fn send(p: &mut PinState, byte: u8) {
    p.device_sda = byte & 0x80 != 0;
    p.phase = Phase::Send { byte, bit: 7 };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Records the calls; acknowledges address 0x42 only; reads 0xa5.
    #[derive(Default)]
    struct Log(Vec<(char, u8)>);
    impl Transactions for Log {
        fn start(&mut self, address: u8, read: bool) -> bool {
            self.0.push((if read { 'R' } else { 'W' }, address));
            address == 0x42
        }
        fn write(&mut self, byte: u8) -> bool {
            self.0.push(('w', byte));
            true
        }
        fn read(&mut self) -> u8 {
            self.0.push(('r', 0xa5));
            0xa5
        }
        fn stop(&mut self) {
            self.0.push(('P', 0));
        }
    }

    fn clock_out(p: &mut PinState, bus: &mut Log, byte: u8) -> bool {
        for i in (0..8).rev() {
            set_sda(p, bus, 0, byte >> i & 1 != 0);
            set_scl(p, bus, 0, true);
            set_scl(p, bus, 0, false);
        }
        set_sda(p, bus, 0, true);
        set_scl(p, bus, 0, true);
        let ack = !p.sda();
        set_scl(p, bus, 0, false);
        ack
    }

    #[test]
    fn decodes_start_address_data_read_and_stop() {
        let (mut p, mut bus) = (PinState::default(), Log::default());
        set_sda(&mut p, &mut bus, 0, false); // START
        set_scl(&mut p, &mut bus, 0, false);
        assert!(clock_out(&mut p, &mut bus, 0x42 << 1));
        assert!(clock_out(&mut p, &mut bus, 0x17));
        // Repeated START, read one byte, NACK, STOP.
        set_scl(&mut p, &mut bus, 0, true);
        set_sda(&mut p, &mut bus, 0, false);
        set_scl(&mut p, &mut bus, 0, false);
        assert!(clock_out(&mut p, &mut bus, 0x42 << 1 | 1));
        let mut byte = 0u8;
        for _ in 0..8 {
            set_scl(&mut p, &mut bus, 0, true);
            byte = byte << 1 | u8::from(p.sda());
            set_scl(&mut p, &mut bus, 0, false);
        }
        assert_eq!(byte, 0xa5);
        set_scl(&mut p, &mut bus, 0, true); // NACK (SDA released)
        set_scl(&mut p, &mut bus, 0, false);
        set_sda(&mut p, &mut bus, 0, false);
        set_scl(&mut p, &mut bus, 0, true);
        set_sda(&mut p, &mut bus, 0, true); // STOP
        assert_eq!(
            bus.0,
            [('W', 0x42), ('w', 0x17), ('R', 0x42), ('r', 0xa5), ('P', 0)]
        );
        assert_eq!(p.phase, Phase::Idle);
        // Another address is not acknowledged.
        set_sda(&mut p, &mut bus, 0, false);
        set_scl(&mut p, &mut bus, 0, false);
        assert!(!clock_out(&mut p, &mut bus, 0x43 << 1));
    }
}
