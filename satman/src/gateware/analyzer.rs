//! The RTIO analyzer (`rtio_analyzer`) and its DMA buffer.
//!
//! Register meanings (ARTIQ's analyzer gateware, as the reference satellite
//! drives it):
//!
//! - `dma_base_address`, `dma_last_address`: the first and the last byte
//!   of the ring in DDR the analyzer's DMA writes its 32-byte records to,
//!   wrapping at the end; `dma_reset` (strobe) restarts it at the base and
//!   zeroes `dma_byte_count`, the bytes written since (it keeps counting
//!   past the ring's size: ring position = count mod size).
//! - `enable`: capture on/off; `busy` stays 1 after `enable` falls until
//!   the DMA has written what it holds.
//! - `message_encoder_overflow` (reset by a strobe of
//!   `message_encoder_overflow_reset`) and `dma_bus_error`: records were
//!   lost.
//!
//! The DMA writes DDR behind the CPU caches: after the capture stops, the
//! ring is invalidated (cleaned and invalidated) before the CPU reads it.

use super::bus::Bus;
use super::csr::rtio_analyzer;
use super::wait_while;
use crate::hal::{AnalyzerHeader, RtioAnalyzer};

/// The longest `busy` may stay up after `enable` falls: the DMA drains a
/// few records, microseconds at most.
pub const STOP_LIMIT_US: u64 = 10_000;

/// The analyzer, writing into `ring` (`ring_len` bytes, a multiple of 32).
/// `invalidate(start, len)` must make DDR's content visible to the CPU
/// there (clean + invalidate every cache level); `clock` is microseconds.
pub struct GatewareAnalyzer<B: Bus, K = fn(usize, usize), C = fn() -> u64> {
    bus: B,
    ring: usize,
    ring_len: usize,
    invalidate: K,
    clock: C,
    /// Where the oldest byte of the stopped capture is, and how many bytes
    /// it holds.
    start: usize,
    len: usize,
    /// Stops whose `busy` never fell.
    pub stuck_stops: u32,
}

impl<B: Bus, K: Fn(usize, usize), C: Fn() -> u64> GatewareAnalyzer<B, K, C> {
    /// Arms the capture at once. `ring` must be 32-byte aligned, below
    /// 4 GiB, and stay reserved for the analyzer.
    pub fn new(bus: B, ring: usize, ring_len: usize, invalidate: K, clock: C) -> Self {
        let ring_len = ring_len - ring_len % 32;
        let mut a = GatewareAnalyzer { bus, ring, ring_len, invalidate, clock, start: 0, len: 0, stuck_stops: 0 };
        a.arm();
        a
    }

    pub fn bus(&self) -> &B {
        &self.bus
    }
}

impl<B: Bus, K: Fn(usize, usize), C: Fn() -> u64> RtioAnalyzer for GatewareAnalyzer<B, K, C> {
    fn stop(&mut self) -> AnalyzerHeader {
        let bus = &self.bus;
        rtio_analyzer::ENABLE.write(bus, 0);
        let stuck = !wait_while(&self.clock, STOP_LIMIT_US, || rtio_analyzer::BUSY.read(bus) & 1 != 0);
        if stuck {
            // Report what was counted, flagged: the last records may be
            // missing.
            self.stuck_stops = self.stuck_stops.wrapping_add(1);
        }
        (self.invalidate)(self.ring, self.ring_len);
        let overflow = rtio_analyzer::MESSAGE_ENCODER_OVERFLOW.read(bus) & 1 != 0;
        let bus_error = rtio_analyzer::DMA_BUS_ERROR.read(bus) & 1 != 0;
        let total = rtio_analyzer::DMA_BYTE_COUNT.read(bus) as u64;
        let wrapped = total >= self.ring_len as u64;
        self.len = if wrapped { self.ring_len } else { total as usize };
        self.start = if wrapped && self.ring_len > 0 { (total % self.ring_len as u64) as usize } else { 0 };
        AnalyzerHeader {
            sent_bytes: self.len as u32,
            total_byte_count: total,
            overflow: overflow || bus_error || stuck,
        }
    }

    fn read(&mut self, offset: u32, out: &mut [u8]) -> usize {
        let offset = offset as usize;
        if offset >= self.len {
            return 0;
        }
        let n = out.len().min(self.len - offset);
        for (i, b) in out[..n].iter_mut().enumerate() {
            let at = self.ring + (self.start + offset + i) % self.ring_len;
            // SAFETY: `at` is inside the ring the caller reserved for the
            // analyzer (`new`), which the stopped DMA no longer writes and
            // whose cache lines `stop` invalidated.
            *b = unsafe { core::ptr::read_volatile(at as *const u8) };
        }
        n
    }

    fn arm(&mut self) {
        let bus = &self.bus;
        rtio_analyzer::ENABLE.write(bus, 0);
        rtio_analyzer::DMA_BASE_ADDRESS.write(bus, self.ring as u32);
        rtio_analyzer::DMA_LAST_ADDRESS.write(bus, (self.ring + self.ring_len).saturating_sub(1) as u32);
        rtio_analyzer::MESSAGE_ENCODER_OVERFLOW_RESET.write(bus, 1);
        rtio_analyzer::DMA_RESET.write(bus, 1);
        rtio_analyzer::ENABLE.write(bus, 1);
        self.start = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateware::fake::{FakeBus, Mem, Model, Op};
    use alloc::vec;
    use alloc::vec::Vec;

    /// `busy` reads 1 for `busy_reads` reads after `enable` falls.
    #[derive(Default)]
    struct Gw {
        busy_reads: u32,
        remaining: u32,
    }

    impl Model for Gw {
        fn read(&mut self, _mem: &mut Mem, addr: usize) -> Option<u32> {
            if addr != rtio_analyzer::BUSY.addr() {
                return None;
            }
            if self.remaining > 0 {
                self.remaining -= 1;
                return Some(1);
            }
            Some(0)
        }
        fn write(&mut self, _mem: &mut Mem, addr: usize, value: u32) -> bool {
            if addr == rtio_analyzer::ENABLE.addr() && value == 0 {
                self.remaining = self.busy_reads;
            }
            false
        }
    }

    fn clock() -> u64 {
        0
    }

    fn analyzer(ring: &[u8], busy_reads: u32) -> GatewareAnalyzer<FakeBus<Gw>, fn(usize, usize), fn() -> u64> {
        let bus = FakeBus::new(Gw { busy_reads, remaining: 0 });
        GatewareAnalyzer::new(bus, ring.as_ptr() as usize, ring.len(), |_, _| {}, clock as fn() -> u64)
    }

    fn drain<A: RtioAnalyzer>(a: &mut A, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len + 7];
        let mut at = 0;
        loop {
            let end = (at + 100).min(out.len());
            let n = a.read(at as u32, &mut out[at..end]);
            if n == 0 {
                break;
            }
            at += n;
        }
        out.truncate(at);
        out
    }

    #[test]
    fn arm_programs_the_ring_and_starts_the_capture() {
        let ring = vec![0u8; 4096];
        let a = analyzer(&ring, 0);
        let base = ring.as_ptr() as usize as u32;
        assert_eq!(
            a.bus().writes(),
            [
                (rtio_analyzer::ENABLE.addr(), 0),
                (rtio_analyzer::DMA_BASE_ADDRESS.addr(), base),
                (rtio_analyzer::DMA_LAST_ADDRESS.addr(), base + 4095),
                (rtio_analyzer::MESSAGE_ENCODER_OVERFLOW_RESET.addr(), 1),
                (rtio_analyzer::DMA_RESET.addr(), 1),
                (rtio_analyzer::ENABLE.addr(), 1),
            ]
        );
    }

    #[test]
    fn stop_waits_for_busy_then_serves_the_ring_in_order() {
        let ring: Vec<u8> = (0..4096u32).map(|i| (i % 253) as u8).collect();
        let mut a = analyzer(&ring, 3);
        a.bus().set(rtio_analyzer::DMA_BYTE_COUNT.addr(), 96);
        a.bus().clear_ops();
        let h = a.stop();
        assert_eq!(h, AnalyzerHeader { sent_bytes: 96, total_byte_count: 96, overflow: false });
        assert_eq!(a.bus().reads_of(rtio_analyzer::BUSY.addr()), 4, "busy polled until it fell");
        assert_eq!(a.bus().ops()[0], Op::Write(rtio_analyzer::ENABLE.addr(), 0));
        assert_eq!(drain(&mut a, 96), ring[..96]);
        assert_eq!(a.stuck_stops, 0);
    }

    #[test]
    fn a_wrapped_ring_starts_at_the_oldest_record_and_errors_are_reported() {
        let ring: Vec<u8> = (0..4096u32).map(|i| (i % 253) as u8).collect();
        let mut a = analyzer(&ring, 0);
        a.bus().set(rtio_analyzer::DMA_BYTE_COUNT.addr(), 4096 * 2 + 320);
        a.bus().set(rtio_analyzer::DMA_BUS_ERROR.addr(), 1);
        let h = a.stop();
        assert_eq!(h, AnalyzerHeader { sent_bytes: 4096, total_byte_count: 4096 * 2 + 320, overflow: true });
        let d = drain(&mut a, 4096);
        assert_eq!(&d[..4096 - 320], &ring[320..]);
        assert_eq!(&d[4096 - 320..], &ring[..320]);
        a.arm();
        assert_eq!(a.read(0, &mut [0u8; 8]), 0, "nothing to read once re-armed");
    }

    #[test]
    fn a_busy_that_never_falls_is_bounded() {
        let ring = vec![0u8; 1024];
        let mut a = analyzer(&ring, u32::MAX);
        a.bus().set(rtio_analyzer::DMA_BYTE_COUNT.addr(), 64);
        let h = a.stop();
        assert_eq!((h.sent_bytes, h.overflow), (64, true));
        assert_eq!(a.stuck_stops, 1);
    }
}
