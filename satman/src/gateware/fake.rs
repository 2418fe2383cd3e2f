//! A fake [`Bus`] for the driver tests: plain memory plus a per-test
//! [`Model`] of the gateware behind it, recording every access.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use std::rc::Rc;

use super::bus::Bus;
use super::csr::{MEMORY, REGISTERS};

/// The fake's memory: word address -> value (absent words read 0).
pub type Mem = BTreeMap<usize, u32>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read(usize, u32),
    Write(usize, u32),
    /// Something a test hook did between accesses (a cache clean, say).
    #[cfg_attr(not(gateware_driver = "dma"), allow(dead_code))]
    Note(&'static str, usize, usize),
}

/// The gateware's behaviour on some addresses.
pub trait Model {
    /// The value of a read, or `None` to read plain memory.
    fn read(&mut self, _mem: &mut Mem, _addr: usize) -> Option<u32> {
        None
    }
    /// Handles a write; `false` stores it in plain memory.
    fn write(&mut self, _mem: &mut Mem, _addr: usize, _value: u32) -> bool {
        false
    }
}

/// No behaviour: registers are memory.
pub struct Plain;
impl Model for Plain {}

pub struct FakeBus<M = Plain> {
    pub mem: RefCell<Mem>,
    ops: RefCell<Vec<Op>>,
    pub model: RefCell<M>,
}

impl FakeBus<Plain> {
    pub fn plain() -> Self {
        FakeBus::new(Plain)
    }
}

impl<M: Model> Bus for FakeBus<M> {
    fn read32(&self, addr: usize) -> u32 {
        let mut mem = self.mem.borrow_mut();
        let v = match self.model.borrow_mut().read(&mut mem, addr) {
            Some(v) => v,
            None => mem.get(&addr).copied().unwrap_or(0),
        };
        self.ops.borrow_mut().push(Op::Read(addr, v));
        v
    }

    fn write32(&self, addr: usize, value: u32) {
        self.ops.borrow_mut().push(Op::Write(addr, value));
        let mut mem = self.mem.borrow_mut();
        if !self.model.borrow_mut().write(&mut mem, addr, value) {
            mem.insert(addr, value);
        }
    }
}

impl<M> FakeBus<M> {
    pub fn new(model: M) -> Self {
        FakeBus { mem: RefCell::new(Mem::new()), ops: RefCell::new(Vec::new()), model: RefCell::new(model) }
    }

    /// Sets a word without recording an access.
    pub fn set(&self, addr: usize, value: u32) {
        self.mem.borrow_mut().insert(addr, value);
    }

    /// Sets a 64-bit register's two words (MSW at `addr`).
    pub fn set64(&self, addr: usize, value: u64) {
        self.set(addr, (value >> 32) as u32);
        self.set(addr + 4, value as u32);
    }

    pub fn get(&self, addr: usize) -> u32 {
        self.mem.borrow().get(&addr).copied().unwrap_or(0)
    }

    #[cfg_attr(not(gateware_driver = "dma"), allow(dead_code))]
    pub fn note(&self, what: &'static str, a: usize, b: usize) {
        self.ops.borrow_mut().push(Op::Note(what, a, b));
    }

    pub fn ops(&self) -> Vec<Op> {
        self.ops.borrow().clone()
    }

    pub fn clear_ops(&self) {
        self.ops.borrow_mut().clear();
    }

    /// Every write, in order.
    pub fn writes(&self) -> Vec<(usize, u32)> {
        self.ops.borrow().iter().filter_map(|op| if let Op::Write(a, v) = *op { Some((a, v)) } else { None }).collect()
    }

    pub fn reads_of(&self, addr: usize) -> usize {
        self.ops.borrow().iter().filter(|op| matches!(op, Op::Read(a, _) if *a == addr)).count()
    }

    /// Panics unless every access so far was a word of a register of the
    /// map (writes: of a writable one) or inside a memory window (writes:
    /// of a writable one). Word granularity itself is the `Bus` trait's.
    pub fn assert_accesses_valid(&self) {
        for op in self.ops.borrow().iter() {
            let (addr, write) = match *op {
                Op::Read(a, _) => (a, false),
                Op::Write(a, _) => (a, true),
                Op::Note(..) => continue,
            };
            assert_eq!(addr % 4, 0, "unaligned access {:?}", op);
            let reg = REGISTERS.iter().find(|r| addr >= r.addr && addr < r.addr + 4 * r.words());
            let window = MEMORY.iter().filter(|m| m.name.contains('.')).find(|m| m.window.contains(addr));
            match (reg, window) {
                (Some(r), _) => assert!(!write || r.writable, "write to read-only {}: {:?}", r.name, op),
                (None, Some(m)) => assert!(!write || m.window.writable(), "write to read-only {}: {:?}", m.name, op),
                (None, None) => panic!("access outside the map: {:?}", op),
            }
        }
    }
}

/// A clock advancing by `step` microseconds per read, and a handle to it.
pub fn ticking_clock(step: u64) -> (Rc<Cell<u64>>, impl Fn() -> u64) {
    let now = Rc::new(Cell::new(0u64));
    let n = now.clone();
    (now, move || {
        n.set(n.get() + step);
        n.get()
    })
}

#[cfg(gateware_driver = "aux")]
pub use aux::AuxModel;

#[cfg(gateware_driver = "aux")]
mod aux {
    use super::*;
    use crate::gateware::csr;

    /// The aux controller of one link: an RX ring of slots with a read pointer,
    /// a sticky error flag and a transmitter that can be held busy.
    pub struct AuxModel {
        pub regs: csr::DrtioauxBank,
        pub ports: csr::Ports,
        pub slots: usize,
        pub read_pointer: usize,
        /// Slots holding a frame, from `read_pointer` on.
        pub pending: usize,
        pub rx_error: bool,
        pub tx_busy: bool,
        /// Frames sent, as (length register, bytes of the TX buffer up to it).
        pub sent: Vec<(u32, Vec<u8>)>,
        pub releases: usize,
    }

    impl AuxModel {
        pub fn new(link: usize) -> AuxModel {
            let ports = csr::DRTIOAUX_MEM[link];
            AuxModel {
                regs: csr::DRTIOAUX[link],
                ports,
                slots: ports.rx.size() / libdrtio::MAX_PACKET,
                read_pointer: 0,
                pending: 0,
                rx_error: false,
                tx_busy: false,
                sent: Vec::new(),
                releases: 0,
            }
        }
    }

    impl FakeBus<AuxModel> {
        /// The gateware receiving `bytes`: they fill the next free slot (the
        /// rest of the slot keeps whatever it held).
        pub fn inject(&self, bytes: &[u8]) {
            let (base, slot_len) = {
                let mut m = self.model.borrow_mut();
                assert!(m.pending < m.slots, "ring full");
                let slot = (m.read_pointer + m.pending) % m.slots;
                m.pending += 1;
                (m.ports.rx.base() + slot * libdrtio::MAX_PACKET, libdrtio::MAX_PACKET)
            };
            assert!(bytes.len() <= slot_len);
            for (i, chunk) in bytes.chunks(4).enumerate() {
                let mut w = self.get(base + 4 * i).to_le_bytes();
                w[..chunk.len()].copy_from_slice(chunk);
                self.set(base + 4 * i, u32::from_le_bytes(w));
            }
        }
    }

    impl Model for AuxModel {
        fn read(&mut self, _mem: &mut Mem, addr: usize) -> Option<u32> {
            let r = &self.regs;
            if addr == r.aux_rx_present.addr() {
                Some((self.pending > 0) as u32)
            } else if addr == r.aux_read_pointer.addr() {
                Some(self.read_pointer as u32)
            } else if addr == r.aux_rx_error.addr() {
                Some(self.rx_error as u32)
            } else if addr == r.aux_tx.addr() {
                Some(self.tx_busy as u32)
            } else {
                None
            }
        }

        fn write(&mut self, mem: &mut Mem, addr: usize, value: u32) -> bool {
            let r = &self.regs;
            if addr == r.aux_rx_present.addr() {
                // Releasing with nothing pending is a driver bug the tests catch.
                assert!(self.pending > 0, "released an empty slot");
                self.pending -= 1;
                self.read_pointer = (self.read_pointer + 1) % self.slots;
                self.releases += 1;
            } else if addr == r.aux_rx_error.addr() {
                self.rx_error = false;
            } else if addr == r.aux_tx.addr() {
                // The gateware sends `aux_tx_length` bytes (low 2 bits ignored).
                let len = mem.get(&r.aux_tx_length.addr()).copied().unwrap_or(0);
                let base = self.ports.tx.base();
                let bytes = (0..(len as usize & !3) / 4)
                    .flat_map(|i| mem.get(&(base + 4 * i)).copied().unwrap_or(0).to_le_bytes())
                    .collect();
                self.sent.push((len, bytes));
                self.tx_busy = true;
            } else {
                return false;
            }
            let _ = value;
            true
        }
    }
}
