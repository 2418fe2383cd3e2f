//! The satellite's RTIO analyzer, served to the master (drtio-aux-protocol
//! §3.10): `AnalyzerHeaderRequest` stops the capture and says how many
//! bytes will follow (at most [`MAX_SENT_BYTES`]), how many were captured
//! and whether records were lost; `AnalyzerDataRequest`s then take it in
//! slices until the one marked `last`, after which the capture re-arms.
//!
//! The capture itself is the board's ([`RtioAnalyzer`]: the gateware's
//! `rtio_analyzer` and its DMA buffer on the Kasli-SoC, the RTIO model's
//! ring in QEMU). This part only keeps where the master is in the stopped
//! capture. Out-of-order requests get answers that cannot be mistaken for
//! data: a data request with nothing stopped gets an empty last slice, and
//! a second header request restarts the transfer of the same capture. A
//! board without an analyzer refuses both requests with a failed
//! `CoreMgmtReply` (the analyzer replies have no failure form; the ARTIQ
//! master logs it as an unexpected reply) rather than make up a capture.

use libdrtio::{Packet, SAT_PAYLOAD_MAX_SIZE};

use crate::hal::{AnalyzerHeader, RtioAnalyzer};

/// Most bytes one header announces: the reference's buffer (512 KiB).
pub const MAX_SENT_BYTES: u32 = 512 * 1024;

/// Where the master is in the stopped capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Capturing; no transfer under way.
    Capturing,
    /// Stopped: `sent` of `len` bytes went to the master.
    Sending { len: u32, sent: u32 },
}

/// The analyzer part.
pub struct Analyzer {
    state: State,
    /// The slice being answered (kept off the stack).
    slice: alloc::boxed::Box<[u8; SAT_PAYLOAD_MAX_SIZE]>,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer { state: State::Capturing, slice: alloc::boxed::Box::new([0; SAT_PAYLOAD_MAX_SIZE]) }
    }
}

impl Analyzer {
    /// `AnalyzerHeaderRequest`: stops the capture and answers its header.
    /// An empty capture re-arms at once (no data request will follow).
    pub fn header(&mut self, hw: &mut impl RtioAnalyzer) -> Packet<'static> {
        if !hw.exists() {
            log::warn!("analyzer request refused: no analyzer on this board");
            return Packet::CoreMgmtReply { succeeded: false };
        }
        let h = hw.stop();
        let len = h.sent_bytes.min(MAX_SENT_BYTES);
        if len == 0 {
            hw.arm();
            self.state = State::Capturing;
        } else {
            self.state = State::Sending { len, sent: 0 };
        }
        header_packet(AnalyzerHeader { sent_bytes: len, ..h })
    }

    /// `AnalyzerDataRequest`: the next slice; the last one re-arms the
    /// capture.
    pub fn data(&mut self, hw: &mut impl RtioAnalyzer) -> Packet<'_> {
        if !hw.exists() {
            log::warn!("analyzer request refused: no analyzer on this board");
            return Packet::CoreMgmtReply { succeeded: false };
        }
        let State::Sending { len, sent } = self.state else {
            return Packet::AnalyzerData { last: true, data: &[] };
        };
        let want = ((len - sent) as usize).min(SAT_PAYLOAD_MAX_SIZE);
        let got = hw.read(sent, &mut self.slice[..want]).min(want);
        let sent = sent + got as u32;
        // A short read ends the transfer rather than repeating forever.
        let last = sent == len || got < want;
        if last {
            if got < want {
                log::warn!("analyzer: the capture ended at {} of {} bytes", sent, len);
            }
            hw.arm();
            self.state = State::Capturing;
        } else {
            self.state = State::Sending { len, sent };
        }
        Packet::AnalyzerData { last, data: &self.slice[..got] }
    }
}

fn header_packet(h: AnalyzerHeader) -> Packet<'static> {
    Packet::AnalyzerHeader { sent_bytes: h.sent_bytes, total_byte_count: h.total_byte_count, overflow_occurred: h.overflow }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A capture of `bytes` (byte i = i mod 251), counting arms and stops.
    struct Fake {
        bytes: u32,
        total: u64,
        overflow: bool,
        capturing: bool,
        arms: u32,
        short_at: Option<u32>,
    }

    impl Fake {
        fn new(bytes: u32) -> Fake {
            Fake { bytes, total: bytes as u64, overflow: false, capturing: true, arms: 0, short_at: None }
        }
    }

    impl RtioAnalyzer for Fake {
        fn stop(&mut self) -> AnalyzerHeader {
            self.capturing = false;
            AnalyzerHeader { sent_bytes: self.bytes, total_byte_count: self.total, overflow: self.overflow }
        }
        fn read(&mut self, offset: u32, out: &mut [u8]) -> usize {
            assert!(!self.capturing, "read while capturing");
            let end = self.short_at.unwrap_or(self.bytes);
            let n = (end.saturating_sub(offset) as usize).min(out.len());
            for (i, b) in out[..n].iter_mut().enumerate() {
                *b = ((offset as usize + i) % 251) as u8;
            }
            n
        }
        fn arm(&mut self) {
            self.capturing = true;
            self.arms += 1;
        }
    }

    fn drain(a: &mut Analyzer, hw: &mut Fake) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        for n in 1..10_000 {
            match a.data(hw) {
                Packet::AnalyzerData { last, data } => {
                    assert!(data.len() <= SAT_PAYLOAD_MAX_SIZE);
                    out.extend_from_slice(data);
                    if last {
                        return (out, n);
                    }
                }
                p => panic!("{p:?}"),
            }
        }
        panic!("no last slice");
    }

    #[test]
    fn header_stops_then_slices_until_last_then_rearms() {
        let mut a = Analyzer::default();
        let mut hw = Fake::new(3000);
        hw.overflow = true;
        hw.total = 9000;
        let h = a.header(&mut hw);
        assert_eq!(h, Packet::AnalyzerHeader { sent_bytes: 3000, total_byte_count: 9000, overflow_occurred: true });
        assert!(!hw.capturing);
        let (data, slices) = drain(&mut a, &mut hw);
        assert_eq!(slices, 3);
        assert_eq!(data.len(), 3000);
        assert!(data.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        assert!(hw.capturing);
        assert_eq!(hw.arms, 1);
        // Another data request: nothing stopped, an empty last slice.
        assert_eq!(a.data(&mut hw), Packet::AnalyzerData { last: true, data: &[] });
        assert_eq!(hw.arms, 1);
    }

    #[test]
    fn an_empty_capture_rearms_at_the_header() {
        let mut a = Analyzer::default();
        let mut hw = Fake::new(0);
        assert_eq!(a.header(&mut hw), Packet::AnalyzerHeader { sent_bytes: 0, total_byte_count: 0, overflow_occurred: false });
        assert!(hw.capturing);
        assert_eq!(a.data(&mut hw), Packet::AnalyzerData { last: true, data: &[] });
    }

    #[test]
    fn at_most_512_kib_and_a_repeated_header_restarts() {
        let mut a = Analyzer::default();
        let mut hw = Fake::new(600 * 1024);
        match a.header(&mut hw) {
            Packet::AnalyzerHeader { sent_bytes, total_byte_count, .. } => {
                assert_eq!((sent_bytes, total_byte_count), (MAX_SENT_BYTES, 600 * 1024));
            }
            p => panic!("{p:?}"),
        }
        let _ = a.data(&mut hw);
        // The master starts over: the same capture from its beginning.
        let _ = a.header(&mut hw);
        let (data, _) = drain(&mut a, &mut hw);
        assert_eq!(data.len(), MAX_SENT_BYTES as usize);
        assert_eq!(data[0], 0);
    }

    #[test]
    fn a_board_without_an_analyzer_refuses() {
        let mut a = Analyzer::default();
        let mut hw = crate::hal::NoAnalyzer;
        assert_eq!(a.header(&mut hw), Packet::CoreMgmtReply { succeeded: false });
        assert_eq!(a.data(&mut hw), Packet::CoreMgmtReply { succeeded: false });
    }

    #[test]
    fn a_short_read_ends_the_transfer() {
        let mut a = Analyzer::default();
        let mut hw = Fake::new(5000);
        hw.short_at = Some(1500);
        let _ = a.header(&mut hw);
        let (data, _) = drain(&mut a, &mut hw);
        assert_eq!(data.len(), 1500);
        assert!(hw.capturing);
    }
}
