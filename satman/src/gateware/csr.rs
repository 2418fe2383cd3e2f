//! The satellite gateware's CSR and memory map, generated at build time.
//!
//! `satman/build.rs` reads the map (`gateware/kasli-soc-satellite-csr.csv`,
//! the gateware build's `pl.rs`/`mem.rs`/`rustc-cfg` in the directory named
//! by `SATMAN_GATEWARE_DIR`, or the CSV named by `SATMAN_CSR_CSV`) and
//! generates the items below
//! the types of this module:
//!
//! - one module per CSR bank (`csr::rtio_dma`, ...) with `BASE`, `SIZE`
//!   and one [`Reg`] constant per register, named in upper case
//!   (`csr::rtio_dma::TIME_OFFSET`);
//! - for banks that differ only by an index, a struct and an array
//!   (`csr::DRTIOAUX: [DrtioauxBank; DRTIOAUX_LEN]`, `csr::DRTIOREP`, ...);
//! - `csr::mem`: the memory regions behind the CSR bridge and their
//!   windows as [`Window`]s, and for indexed regions with `tx`/`rx` windows
//!   an array of [`Ports`] (`csr::DRTIOAUX_MEM`);
//! - `csr::config`: the gateware's `rustc-cfg` lines as constants;
//! - [`REGISTERS`] and [`MEMORY`]: the whole map as tables, for
//!   diagnostics and tests; `SOURCE_FILE`/`SOURCE_HASH` identify the CSV.
//!
//! A [`Reg`] carries its address, its width and, in its type, whether it
//! may be written and how many 32-bit words it spans, so a driver cannot
//! write a status register or read a 64-bit one as a `u32`. Multi-word
//! registers keep their most significant word at the lowest address
//! (misoc's layout); [`Reg::read_words`]/[`Reg::write_words`] access the
//! words in address order, and the gateware acts on a write of the last,
//! least significant, word.
//!
//! The map shipped in the repository is derived by hand and unconfirmed
//! (see `gateware/README.md`): the drivers take every address from here so
//! that a real export only has to replace the CSV.

use core::fmt;
use core::marker::PhantomData;

use super::bus::{self, Bus};

/// Access marker: a status register, never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ro {}

/// Access marker: a storage or strobe register. Reads of a strobe register
/// return a gateware flag, not what was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rw {}

/// A CSR of `W` 32-bit words with access `A` ([`Ro`] or [`Rw`]).
pub struct Reg<A, const W: usize> {
    addr: usize,
    bits: u32,
    _access: PhantomData<A>,
}

impl<A, const W: usize> Clone for Reg<A, W> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, const W: usize> Copy for Reg<A, W> {}

impl<A, const W: usize> PartialEq for Reg<A, W> {
    fn eq(&self, other: &Self) -> bool {
        (self.addr, self.bits) == (other.addr, other.bits)
    }
}

impl<A, const W: usize> Eq for Reg<A, W> {}

impl<A, const W: usize> fmt::Debug for Reg<A, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reg({:#010x}, {} bits)", self.addr, self.bits)
    }
}

/// Mask of the low `bits` bits of a word.
const fn mask(bits: u32) -> u32 {
    if bits >= 32 {
        u32::MAX
    } else {
        (1 << bits) - 1
    }
}

impl<A, const W: usize> Reg<A, W> {
    /// Number of 32-bit words.
    pub const WORDS: usize = W;

    /// Only the generated map makes registers.
    pub(crate) const fn new(addr: usize, bits: u32) -> Self {
        Reg { addr, bits, _access: PhantomData }
    }

    /// Address of the first (most significant) word.
    pub const fn addr(self) -> usize {
        self.addr
    }

    /// Width in bits.
    pub const fn bits(self) -> u32 {
        self.bits
    }

    /// Number of 32-bit words.
    pub const fn words(self) -> usize {
        W
    }

    /// Address of word `significance` (0 = least significant, which is the
    /// last word, at the highest address), or `None` past the register.
    pub const fn word_addr(self, significance: usize) -> Option<usize> {
        if significance < W {
            Some(self.addr + 4 * (W - 1 - significance))
        } else {
            None
        }
    }

    /// The same register, typed read-only.
    pub const fn read_only(self) -> Reg<Ro, W> {
        Reg::new(self.addr, self.bits)
    }

    /// Reads every word in address order (most significant first); bits
    /// above the register's width read as 0.
    pub fn read_words<B: Bus + ?Sized>(self, bus: &B) -> [u32; W] {
        let mut words = [0; W];
        bus::read_wide(bus, self.addr, &mut words);
        if let Some(msw) = words.first_mut() {
            *msw &= mask(self.bits.saturating_sub(32 * (W as u32).saturating_sub(1)));
        }
        words
    }
}

impl<const W: usize> Reg<Rw, W> {
    /// Writes every word in address order: the least significant word, the
    /// one the gateware acts on, goes last.
    pub fn write_words<B: Bus + ?Sized>(self, bus: &B, words: &[u32; W]) {
        bus::write_wide(bus, self.addr, words);
    }

    /// Writes word `significance` (0 = least significant) alone; nothing if
    /// it is past the register.
    pub fn write_word<B: Bus + ?Sized>(self, bus: &B, significance: usize, value: u32) {
        if let Some(addr) = self.word_addr(significance) {
            bus.write32(addr, value);
        }
    }
}

impl<A> Reg<A, 1> {
    /// Reads the register; bits above its width read as 0.
    pub fn read<B: Bus + ?Sized>(self, bus: &B) -> u32 {
        bus.read32(self.addr) & mask(self.bits)
    }
}

impl Reg<Rw, 1> {
    pub fn write<B: Bus + ?Sized>(self, bus: &B, value: u32) {
        bus.write32(self.addr, value);
    }
}

impl<A> Reg<A, 2> {
    /// Reads both words, most significant first. Not atomic: the gateware's
    /// 64-bit status registers (`counter`, `i_timestamp`, ...) are
    /// snapshots that do not change while they are read.
    pub fn read<B: Bus + ?Sized>(self, bus: &B) -> u64 {
        let [hi, lo] = self.read_words(bus);
        (hi as u64) << 32 | lo as u64
    }
}

impl Reg<Rw, 2> {
    /// Writes both words, most significant first, so that the gateware sees
    /// the whole value when the least significant word lands.
    pub fn write<B: Bus + ?Sized>(self, bus: &B, value: u64) {
        self.write_words(bus, &[(value >> 32) as u32, value as u32]);
    }
}

/// A range of the address space: a memory region or one of its windows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Window {
    base: usize,
    size: usize,
    writable: bool,
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Window({:#010x}+{:#x}, {})", self.base, self.size, if self.writable { "rw" } else { "ro" })
    }
}

impl Window {
    /// Only the generated map makes windows.
    pub(crate) const fn new(base: usize, size: usize, writable: bool) -> Self {
        Window { base, size, writable }
    }

    pub const fn base(self) -> usize {
        self.base
    }

    /// Size in bytes.
    pub const fn size(self) -> usize {
        self.size
    }

    pub const fn writable(self) -> bool {
        self.writable
    }

    pub const fn contains(self, addr: usize) -> bool {
        addr >= self.base && addr - self.base < self.size
    }
}

/// A memory region made of a transmit and a receive window (the aux
/// controller's buffers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub region: Window,
    pub tx: Window,
    pub rx: Window,
}

/// One register of the map, for tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegInfo {
    /// `bank.register`
    pub name: &'static str,
    pub addr: usize,
    pub bits: u32,
    pub writable: bool,
}

impl RegInfo {
    pub const fn words(&self) -> usize {
        self.bits.div_ceil(32) as usize
    }
}

/// One memory region or window of the map, for tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    /// `region` or `region.window`
    pub name: &'static str,
    pub window: Window,
}

include!(concat!(env!("OUT_DIR"), "/csr.rs"));

#[cfg(all(
    test,
    any(gateware_csr_shipped, all(gateware_driver = "aux", gateware_driver = "dma", gateware_driver = "kernel_rtio"))
))]
mod tests {
    use super::*;

    /// Spot checks of the shipped map against the data sheet's tables
    /// (sections 3 to 5); only built against that map.
    #[cfg(gateware_csr_shipped)]
    #[test]
    fn addresses_match_the_sheet() {
        assert_eq!(drtiosat::RX_UP.addr(), 0x8000_2810);
        assert_eq!(drtioaux0::AUX_READ_POINTER.addr(), 0x8000_3010);
        assert_eq!(DRTIOAUX[2].aux_tx.addr(), 0x8000_5004);
        assert_eq!(DRTIOREP[1].rx_up.addr(), 0x8000_4800);
        assert_eq!((rtio::O_DATA.addr(), rtio::O_DATA.words()), (0x8000_580c, 16));
        assert_eq!(rtio::O_DATA.word_addr(0), Some(0x8000_5848));
        assert_eq!(rtio::O_DATA.word_addr(15), Some(0x8000_580c));
        assert_eq!(rtio::O_DATA.word_addr(16), None);
        assert_eq!(rtio::I_TIMEOUT.word_addr(0), Some(0x8000_5854));
        assert_eq!(rtio_dma::TIME_OFFSET.addr(), 0x8000_600c);
        assert_eq!(routing_table::HOP.addr(), 0x8000_7004);
        assert_eq!((DRTIOAUX_LEN, DRTIOREP_LEN, GRABBER_LEN), (3, 2, 1));
        assert_eq!(DRTIOAUX_MEM[0].rx.base(), 0x8001_4000);
        assert_eq!(DRTIOAUX_MEM[1].tx, mem::DRTIOAUX1_MEM_TX);
        assert_eq!((mem::DRTIOAUX2_MEM.base(), mem::DRTIOAUX2_MEM.size()), (0x8001_a000, 0x4000));
        assert!(!mem::DRTIOAUX0_MEM_RX.writable());
        assert_eq!(config::KI_IMPL, "csr");
        assert_eq!(config::RTIO_LOG_CHANNEL, "57");
        const { assert!(config::HAS_DRTIO_ROUTING) };
        assert_eq!(config::ALL.len(), 30);
        assert_eq!(REGISTERS.len(), 172);
        assert_eq!(REGISTERS.iter().map(RegInfo::words).sum::<usize>(), 209);
        assert_eq!(SOURCE_FILE, "kasli-soc-satellite-csr.csv");
    }

    #[cfg(all(gateware_driver = "aux", gateware_driver = "dma", gateware_driver = "kernel_rtio"))]
    #[test]
    fn wide_registers_are_most_significant_word_first() {
        use super::super::fake::{FakeBus, Op};
        let bus = FakeBus::plain();
        rtio::NOW.write(&bus, 0x1122_3344_5566_7788);
        assert_eq!(bus.ops(), [Op::Write(0x8000_5804, 0x1122_3344), Op::Write(0x8000_5808, 0x5566_7788)]);
        assert_eq!(rtio::NOW.read_only().read(&bus), 0x1122_3344_5566_7788);
        // Bits above a register's width read as 0.
        bus.set(drtioaux0::AUX_READ_POINTER.addr(), 0xffff_fff9);
        assert_eq!(drtioaux0::AUX_READ_POINTER.read(&bus), 1);
        bus.set(rtio_dma::ERROR_CHANNEL.addr(), 0xff12_3456);
        assert_eq!(rtio_dma::ERROR_CHANNEL.read(&bus), 0x12_3456);
    }
}
