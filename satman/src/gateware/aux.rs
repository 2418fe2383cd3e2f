//! One DRTIO aux channel: the `drtioauxN` controller and its buffers.
//!
//! The controller (drtio-aux-protocol.md §1, sheet §3 "drtioaux0..2" and
//! §4) has one transmit buffer of one frame and a receive ring of 8 slots
//! of 1 KiB, both behind the CSR bridge in the region `drtioauxN_mem`: the
//! `tx` window, then the `rx` window holding slot k at `rx + k * 0x400`.
//!
//! - Receive: `aux_rx_present` reads 1 while a slot waits, and
//!   `aux_read_pointer` names it; writing `aux_rx_present` releases it
//!   (the pointer moves on). `aux_rx_error` is sticky (frame too long, ring
//!   full, data after the end of a frame) and a write clears it.
//! - Transmit: `aux_tx` reads non-zero while the previous frame is going
//!   out; write the frame, then `aux_tx_length` (bytes, low 2 bits
//!   ignored), then strobe `aux_tx`.
//!
//! The memories take 32-bit accesses only (artiq-zynq#344), so frames are
//! copied a word at a time through the [`Bus`]. Link 0 is the uplink, whose
//! receiver state is `drtiosat.rx_up`; link n ≥ 1 faces repeater
//! `drtiorep(n-1)` and uses its `rx_up`.

use libdrtio::MAX_PACKET;

use super::bus::Bus;
use super::csr::{self, Ports, Reg, Ro};
use crate::hal::{AuxLink, LinkError};

/// The aux channel of one DRTIO link.
pub struct GatewareAux<B: Bus> {
    bus: B,
    link: usize,
    regs: csr::DrtioauxBank,
    ports: Ports,
    rx_up: Reg<Ro, 1>,
    /// Slots in the RX ring (8 on the Kasli-SoC).
    slots: usize,
}

impl<B: Bus> GatewareAux<B> {
    /// Number of aux channels in the gateware (1 uplink + repeaters).
    pub const LINKS: usize = csr::DRTIOAUX_LEN;

    /// The driver for aux channel `link` (0 = uplink, n = repeater n − 1).
    /// `None` if the gateware has no such channel, no receiver state for it,
    /// or buffers too small for one frame.
    pub fn new(bus: B, link: usize) -> Option<Self> {
        let regs = *csr::DRTIOAUX.get(link)?;
        let ports = *csr::DRTIOAUX_MEM.get(link)?;
        let rx_up = match link.checked_sub(1) {
            None => csr::drtiosat::RX_UP.read_only(),
            Some(repeater) => repeater_rx_up(repeater)?,
        };
        let slots = ports.rx.size() / MAX_PACKET;
        if slots == 0 || ports.tx.size() < MAX_PACKET {
            return None;
        }
        Some(GatewareAux { bus, link, regs, ports, rx_up, slots })
    }

    pub fn link(&self) -> usize {
        self.link
    }

    /// The bus, for diagnostics.
    pub fn bus(&self) -> &B {
        &self.bus
    }

    /// Resets the aux channel at link-up: clears a stale receive error and
    /// drops every slot received before (frames from a link that has just
    /// come up are noise or the previous master's). Bounded by the ring's
    /// slot count.
    pub fn reset(&mut self) {
        let bus = &self.bus;
        self.regs.aux_rx_error.write(bus, 1);
        let mut dropped = 0;
        while self.regs.aux_rx_present.read(bus) & 1 != 0 && dropped < self.slots.max(1) * 2 {
            self.regs.aux_rx_present.write(bus, 1);
            dropped += 1;
        }
        if dropped > 0 {
            log::debug!("aux {}: dropped {} stale frame(s) at link-up", self.link, dropped);
        }
    }

    /// Address of RX slot `pointer`, if the window has it.
    fn slot(&self, pointer: u32) -> Option<usize> {
        let k = pointer as usize;
        (k < self.slots).then(|| self.ports.rx.base() + k * MAX_PACKET)
    }
}

#[cfg(gateware_driver = "aux_repeaters")]
fn repeater_rx_up(repeater: usize) -> Option<Reg<Ro, 1>> {
    csr::DRTIOREP.get(repeater).map(|r| r.rx_up.read_only())
}

#[cfg(not(gateware_driver = "aux_repeaters"))]
fn repeater_rx_up(_repeater: usize) -> Option<Reg<Ro, 1>> {
    None
}

impl<B: Bus> AuxLink for GatewareAux<B> {
    fn is_up(&mut self) -> bool {
        self.rx_up.read(&self.bus) & 1 != 0
    }

    /// Takes the slot at `aux_read_pointer` if one is present.
    ///
    /// The error flag is looked at first and only cleared: frames already
    /// in the ring stay there for the next call. A slot is released as soon
    /// as it is copied, whatever it holds; the caller decodes the copy
    /// (and finds the frame's end: the gateware gives no length, so the
    /// whole slot is returned).
    fn receive(&mut self, buf: &mut [u8; MAX_PACKET]) -> Result<Option<usize>, LinkError> {
        let bus = &self.bus;
        if self.regs.aux_rx_error.read(bus) & 1 != 0 {
            self.regs.aux_rx_error.write(bus, 1);
            return Err(LinkError::Gateware);
        }
        if self.regs.aux_rx_present.read(bus) & 1 == 0 {
            return Ok(None);
        }
        let result = match self.slot(self.regs.aux_read_pointer.read(bus)) {
            Some(base) => {
                for (i, chunk) in buf.chunks_exact_mut(4).enumerate() {
                    chunk.copy_from_slice(&bus.read32(base + 4 * i).to_le_bytes());
                }
                Ok(Some(MAX_PACKET))
            }
            // A pointer past the window: the map and the gateware disagree.
            None => Err(LinkError::Gateware),
        };
        self.regs.aux_rx_present.write(bus, 1);
        result
    }

    /// Starts sending `frame`, or returns `Busy` at once if the previous
    /// frame is still going out.
    ///
    /// The last word is padded with zeros and the length written is rounded
    /// up to whole words, since the gateware ignores its low 2 bits (aux
    /// frames are multiples of 8 bytes anyway). A frame that is empty or
    /// longer than the transmit buffer is refused with `Invalid` without
    /// touching the hardware.
    fn transmit(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        if frame.is_empty() || frame.len() > MAX_PACKET {
            return Err(LinkError::Invalid);
        }
        let bus = &self.bus;
        if self.regs.aux_tx.read(bus) != 0 {
            return Err(LinkError::Busy);
        }
        let base = self.ports.tx.base();
        for (i, chunk) in frame.chunks(4).enumerate() {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            bus.write32(base + 4 * i, u32::from_le_bytes(word));
        }
        self.regs.aux_tx_length.write(bus, frame.len().next_multiple_of(4) as u32);
        self.regs.aux_tx.write(bus, 1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateware::fake::{AuxModel, FakeBus, Op};
    use alloc::vec::Vec;
    use libdrtio::{Frame, Packet, PayloadStatus, MASTER_PAYLOAD_MAX_SIZE};

    fn link(n: usize) -> (FakeBus<AuxModel>, usize) {
        (FakeBus::new(AuxModel::new(n)), n)
    }

    fn rx_slot(n: usize, k: usize) -> core::ops::Range<usize> {
        let base = csr::DRTIOAUX_MEM[n].rx.base() + k * MAX_PACKET;
        base..base + MAX_PACKET
    }

    /// Reads that touched the RX window.
    fn rx_reads(bus: &FakeBus<AuxModel>, n: usize) -> Vec<usize> {
        let rx = csr::DRTIOAUX_MEM[n].rx;
        bus.ops()
            .into_iter()
            .filter_map(|op| match op {
                Op::Read(a, _) if rx.contains(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn receives_an_echo_request_and_releases_its_slot() {
        let (bus, n) = link(0);
        let mut aux = GatewareAux::new(&bus, n).unwrap();
        let mut buf = [0u8; MAX_PACKET];
        assert_eq!(aux.receive(&mut buf), Ok(None));

        let echo = Frame::encode(&Packet::EchoRequest).unwrap();
        bus.inject(echo.as_bytes());
        assert_eq!(aux.receive(&mut buf), Ok(Some(MAX_PACKET)));
        assert_eq!(Packet::decode(&buf).unwrap(), (Packet::EchoRequest, 8));
        assert_eq!(&buf[..8], [0x00, 0x00, 0x00, 0x00, 0x1c, 0xdf, 0x44, 0x21]);

        // The whole of slot 0 was read, word by word, in order; then released.
        assert_eq!(rx_reads(&bus, n), rx_slot(n, 0).step_by(4).collect::<Vec<_>>());
        let m = bus.model.borrow();
        assert_eq!((m.releases, m.pending, m.read_pointer), (1, 0, 1));
        drop(m);
        let release = csr::DRTIOAUX[n].aux_rx_present.addr();
        assert_eq!(bus.writes(), [(release, 1)]);
        assert_eq!(aux.receive(&mut buf), Ok(None));
        bus.assert_accesses_valid();
    }

    #[test]
    fn a_bad_frame_is_returned_and_its_slot_released() {
        let (bus, n) = link(1);
        let mut aux = GatewareAux::new(&bus, n).unwrap();
        let mut buf = [0u8; MAX_PACKET];
        let mut bad = Frame::encode(&Packet::ResetRequest).unwrap().as_bytes().to_vec();
        bad[7] ^= 0xff; // broken CRC
        bus.inject(&bad);
        bus.inject(Frame::encode(&Packet::TSCAck).unwrap().as_bytes());
        assert_eq!(aux.receive(&mut buf), Ok(Some(MAX_PACKET)));
        assert!(Packet::decode(&buf).is_err());
        assert_eq!(bus.model.borrow().releases, 1);
        assert_eq!(aux.receive(&mut buf), Ok(Some(MAX_PACKET)));
        assert_eq!(Packet::decode(&buf).unwrap().0, Packet::TSCAck);
        assert_eq!(rx_reads(&bus, n).last(), Some(&(rx_slot(n, 1).end - 4)));
        assert_eq!(bus.model.borrow().releases, 2);
        bus.assert_accesses_valid();
    }

    #[test]
    fn the_ring_wraps() {
        let (bus, n) = link(2);
        let mut aux = GatewareAux::new(&bus, n).unwrap();
        let mut buf = [0u8; MAX_PACKET];
        for round in 0..20u8 {
            let p = Packet::RoutingSetRank { rank: round };
            bus.inject(Frame::encode(&p).unwrap().as_bytes());
            assert_eq!(aux.receive(&mut buf), Ok(Some(MAX_PACKET)));
            assert_eq!(Packet::decode(&buf).unwrap().0, p);
        }
        assert_eq!(bus.model.borrow().read_pointer, 20 % 8);
        assert!(rx_reads(&bus, n).iter().all(|a| csr::DRTIOAUX_MEM[n].rx.contains(*a)));
        bus.assert_accesses_valid();
    }

    #[test]
    fn an_error_is_cleared_and_reported_once_and_frames_wait() {
        let (bus, n) = link(0);
        let mut aux = GatewareAux::new(&bus, n).unwrap();
        let mut buf = [0u8; MAX_PACKET];
        bus.inject(Frame::encode(&Packet::EchoRequest).unwrap().as_bytes());
        bus.model.borrow_mut().rx_error = true;
        assert_eq!(aux.receive(&mut buf), Err(LinkError::Gateware));
        assert!(!bus.model.borrow().rx_error);
        assert_eq!(bus.writes(), [(csr::DRTIOAUX[n].aux_rx_error.addr(), 1)]);
        assert_eq!(bus.model.borrow().pending, 1);
        assert_eq!(aux.receive(&mut buf), Ok(Some(MAX_PACKET)));
        assert_eq!(Packet::decode(&buf).unwrap().0, Packet::EchoRequest);
        bus.assert_accesses_valid();
    }

    #[test]
    fn transmit_writes_words_then_length_then_strobe() {
        let (bus, n) = link(0);
        let mut aux = GatewareAux::new(&bus, n).unwrap();
        let data = [0x5au8; MASTER_PAYLOAD_MAX_SIZE];
        let packet =
            Packet::SubkernelMessage { source: 1, destination: 0, id: 7, status: PayloadStatus::First, data: &data };
        let frame = Frame::encode(&packet).unwrap();
        assert_eq!(frame.len(), MAX_PACKET);
        assert_eq!(aux.transmit(frame.as_bytes()), Ok(()));

        let regs = csr::DRTIOAUX[n];
        let tx = csr::DRTIOAUX_MEM[n].tx.base();
        let writes = bus.writes();
        assert_eq!(writes.len(), MAX_PACKET / 4 + 2);
        for (i, &(addr, _)) in writes[..MAX_PACKET / 4].iter().enumerate() {
            assert_eq!(addr, tx + 4 * i);
        }
        assert_eq!(writes[MAX_PACKET / 4..], [(regs.aux_tx_length.addr(), MAX_PACKET as u32), (regs.aux_tx.addr(), 1)]);
        let sent = &bus.model.borrow().sent;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1, frame.as_bytes());
        let decoded = Packet::decode(&sent[0].1).unwrap().0;
        assert_eq!(decoded, packet);
        bus.assert_accesses_valid();
    }

    #[test]
    fn transmit_refuses_when_busy_without_waiting() {
        let (bus, n) = link(1);
        let mut aux = GatewareAux::new(&bus, n).unwrap();
        let echo = Frame::encode(&Packet::EchoReply).unwrap();
        assert_eq!(aux.transmit(echo.as_bytes()), Ok(()));
        bus.clear_ops();
        assert_eq!(aux.transmit(echo.as_bytes()), Err(LinkError::Busy));
        assert_eq!(bus.ops(), [Op::Read(csr::DRTIOAUX[n].aux_tx.addr(), 1)]);
        bus.model.borrow_mut().tx_busy = false;
        assert_eq!(aux.transmit(echo.as_bytes()), Ok(()));
        assert_eq!(bus.model.borrow().sent.len(), 2);
        bus.assert_accesses_valid();
    }

    #[test]
    fn transmit_pads_the_last_word_and_refuses_bad_lengths() {
        let (bus, n) = link(0);
        let mut aux = GatewareAux::new(&bus, n).unwrap();
        assert_eq!(aux.transmit(&[1, 2, 3, 4, 5, 6]), Ok(()));
        let tx = csr::DRTIOAUX_MEM[n].tx.base();
        assert_eq!(
            bus.writes()[..3],
            [(tx, 0x0403_0201), (tx + 4, 0x0000_0605), (csr::DRTIOAUX[n].aux_tx_length.addr(), 8)]
        );
        bus.model.borrow_mut().tx_busy = false;
        bus.clear_ops();
        assert_eq!(aux.transmit(&[]), Err(LinkError::Invalid));
        assert_eq!(aux.transmit(&[0; MAX_PACKET + 1]), Err(LinkError::Invalid));
        assert!(bus.ops().is_empty());
        // Writes stay inside the transmit buffer's backed first 1 KiB.
        assert!(bus.writes().iter().all(|&(a, _)| !(tx..tx + 0x2000).contains(&a) || a < tx + MAX_PACKET));
    }

    #[test]
    fn link_state_comes_from_drtiosat_or_the_repeater() {
        let bus = FakeBus::plain();
        let mut up = GatewareAux::new(&bus, 0).unwrap();
        let mut rep0 = GatewareAux::new(&bus, 1).unwrap();
        let mut rep1 = GatewareAux::new(&bus, 2).unwrap();
        assert!(GatewareAux::new(&bus, 3).is_none());
        assert_eq!(GatewareAux::<&FakeBus>::LINKS, 3);
        bus.set(csr::drtiosat::RX_UP.addr(), 1);
        bus.set(csr::DRTIOREP[1].rx_up.addr(), 1);
        assert_eq!((up.is_up(), rep0.is_up(), rep1.is_up()), (true, false, true));
        assert_eq!(
            bus.ops(),
            [
                Op::Read(csr::drtiosat::RX_UP.addr(), 1),
                Op::Read(csr::drtiorep0::RX_UP.addr(), 0),
                Op::Read(csr::drtiorep1::RX_UP.addr(), 1)
            ]
        );
        bus.assert_accesses_valid();
    }
}
