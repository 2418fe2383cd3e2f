//! The QEMU board's RTIO analyzer: every event the RTIO model accepts, in
//! the record format ARTIQ's `artiq_coreanalyzer` decodes
//! (`artiq/coredevice/comm_analyzer.py`), in a bounded ring.
//!
//! A record is 32 bytes, big-endian whatever the CPU: the last word is
//! `channel << 2 | type` (type 0 output, 1 input, 2 exception, 3 stopped).
//! Outputs and inputs hold `data` u64 @0, `address` u32 @8 (0 for inputs),
//! the counter when the event was submitted u64 @12 and the event's
//! timestamp u64 @20; an exception holds its type u8 @11 and the counter
//! u64 @12; the stopped record only the counter @12.
//!
//! Like the gateware's analyzer the ring keeps capturing until it is
//! stopped, overwriting its oldest records when full; the header tells the
//! master how many bytes it gets (`sent_bytes`, at most the ring) out of how
//! many were captured (`total_byte_count`), and `overflow` says records
//! were lost on the way in (the gateware's message-encoder overflow). The
//! master's requests stop it ([`Analyzer::stop`], which appends the stopped
//! record), read it oldest first ([`Analyzer::read`]), and re-arm it
//! ([`Analyzer::arm`]).

/// Bytes in one record.
pub const RECORD_SIZE: usize = 32;

/// Message types (the low two bits of the last word).
pub mod message {
    pub const OUTPUT: u32 = 0b00;
    pub const INPUT: u32 = 0b01;
    pub const EXCEPTION: u32 = 0b10;
    pub const STOPPED: u32 = 0b11;
}

/// Exception types ARTIQ's decoder knows (`ExceptionType`).
pub mod exception {
    /// An output underflowed (the event was not written).
    pub const O_UNDERFLOW: u8 = 0b010100;
    /// An input FIFO overflowed.
    pub const I_OVERFLOW: u8 = 0b100001;
}

/// What `AnalyzerHeader` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bytes [`Analyzer::read`] returns: the whole ring once it wrapped.
    pub sent_bytes: u32,
    /// Bytes captured since the last [`Analyzer::arm`].
    pub total_byte_count: u64,
    /// Records were lost on the way in.
    pub overflow: bool,
}

/// An output event's record.
pub fn output_record(channel: u32, timestamp: i64, counter: i64, address: u32, data: u64) -> [u8; RECORD_SIZE] {
    let mut r = [0u8; RECORD_SIZE];
    r[0..8].copy_from_slice(&data.to_be_bytes());
    r[8..12].copy_from_slice(&address.to_be_bytes());
    r[12..20].copy_from_slice(&(counter as u64).to_be_bytes());
    r[20..28].copy_from_slice(&(timestamp as u64).to_be_bytes());
    r[28..32].copy_from_slice(&(channel << 2 | message::OUTPUT).to_be_bytes());
    r
}

/// An input event's record.
pub fn input_record(channel: u32, timestamp: i64, counter: i64, data: u64) -> [u8; RECORD_SIZE] {
    let mut r = output_record(channel, timestamp, counter, 0, data);
    r[28..32].copy_from_slice(&(channel << 2 | message::INPUT).to_be_bytes());
    r
}

/// An exception's record (`exception::*`).
pub fn exception_record(channel: u32, counter: i64, kind: u8) -> [u8; RECORD_SIZE] {
    let mut r = [0u8; RECORD_SIZE];
    r[11] = kind;
    r[12..20].copy_from_slice(&(counter as u64).to_be_bytes());
    r[28..32].copy_from_slice(&(channel << 2 | message::EXCEPTION).to_be_bytes());
    r
}

/// The record that ends a capture.
pub fn stopped_record(counter: i64) -> [u8; RECORD_SIZE] {
    let mut r = [0u8; RECORD_SIZE];
    r[12..20].copy_from_slice(&(counter as u64).to_be_bytes());
    r[28..32].copy_from_slice(&message::STOPPED.to_be_bytes());
    r
}

/// A ring of `N` records. All-zero is its initial state: empty and
/// capturing (the firmware arms the analyzer at boot).
pub struct Analyzer<const N: usize> {
    ring: [[u8; RECORD_SIZE]; N],
    /// Records captured since the last arm.
    total: u64,
    stopped: bool,
    overflow: bool,
}

impl<const N: usize> Analyzer<N> {
    /// The ring's size in bytes.
    pub const BYTES: usize = N * RECORD_SIZE;

    pub const fn new() -> Self {
        Analyzer { ring: [[0; RECORD_SIZE]; N], total: 0, stopped: false, overflow: false }
    }

    /// Appends a record unless the capture is stopped.
    pub fn record(&mut self, r: &[u8; RECORD_SIZE]) {
        if self.stopped || N == 0 {
            return;
        }
        self.ring[(self.total % N as u64) as usize] = *r;
        self.total += 1;
    }

    /// Notes that a record could not be captured.
    pub fn mark_overflow(&mut self) {
        if !self.stopped {
            self.overflow = true;
        }
    }

    pub fn is_capturing(&self) -> bool {
        !self.stopped
    }

    /// Ends the capture with a stopped record (once) and returns the header.
    pub fn stop(&mut self, counter: i64) -> Header {
        if !self.stopped {
            self.record(&stopped_record(counter));
            self.stopped = true;
        }
        self.header()
    }

    pub fn header(&self) -> Header {
        let kept = self.total.min(N as u64);
        Header {
            sent_bytes: (kept as usize * RECORD_SIZE) as u32,
            total_byte_count: self.total * RECORD_SIZE as u64,
            overflow: self.overflow,
        }
    }

    /// Copies the captured bytes from `offset` (0 = the oldest record kept)
    /// into `out`; returns how many were copied (0 at the end).
    pub fn read(&self, offset: usize, out: &mut [u8]) -> usize {
        let sent = self.header().sent_bytes as usize;
        let first = if self.total > N as u64 { (self.total % N as u64) as usize } else { 0 };
        let mut n = 0;
        let mut at = offset;
        while n < out.len() && at < sent {
            let rec = &self.ring[(first + at / RECORD_SIZE) % N];
            let within = at % RECORD_SIZE;
            let k = (RECORD_SIZE - within).min(out.len() - n);
            out[n..n + k].copy_from_slice(&rec[within..within + k]);
            n += k;
            at += k;
        }
        n
    }

    /// Empties the ring and starts capturing again.
    pub fn arm(&mut self) {
        self.total = 0;
        self.overflow = false;
        self.stopped = false;
    }
}

impl<const N: usize> Default for Analyzer<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn be64(b: &[u8]) -> u64 {
        u64::from_be_bytes(b.try_into().unwrap())
    }

    fn be32(b: &[u8]) -> u32 {
        u32::from_be_bytes(b.try_into().unwrap())
    }

    fn dump<const N: usize>(a: &Analyzer<N>) -> Vec<u8> {
        let mut out = vec![0u8; a.header().sent_bytes as usize + 5];
        // Odd chunk sizes cross record boundaries.
        let mut n = 0;
        loop {
            let end = (n + 7).min(out.len());
            let k = a.read(n, &mut out[n..end]);
            if k == 0 {
                break;
            }
            n += k;
        }
        out.truncate(n);
        out
    }

    #[test]
    fn records_follow_the_comm_analyzer_layout() {
        let r = output_record(0x01_000F, 1_000_136, 1_000_000, 0, 0x1_0000_0001);
        // struct.unpack(">QIQQ", data[:28]) = data, address, rtio_counter, timestamp
        assert_eq!(be64(&r[0..8]), 0x1_0000_0001);
        assert_eq!(be32(&r[8..12]), 0);
        assert_eq!(be64(&r[12..20]), 1_000_000);
        assert_eq!(be64(&r[20..28]), 1_000_136);
        // struct.unpack(">I", data[28:32]): type in bits 0-1, channel above
        assert_eq!(be32(&r[28..32]), 0x01_000F << 2);
        let i = input_record(3, 50, 40, 9);
        assert_eq!((be32(&i[28..32]) & 3, be32(&i[28..32]) >> 2, be64(&i[0..8])), (message::INPUT, 3, 9));
        // exception: struct.unpack(">BQ", data[11:20]) = type, rtio_counter
        let e = exception_record(0x0F, 777, exception::O_UNDERFLOW);
        assert_eq!((e[11], be64(&e[12..20]), be32(&e[28..32])), (0b010100, 777, 0x0F << 2 | 2));
        // stopped: struct.unpack(">Q", data[12:20])
        let s = stopped_record(888);
        assert_eq!((be64(&s[12..20]), be32(&s[28..32])), (888, 3));
    }

    #[test]
    fn capture_stop_read_and_rearm() {
        let mut a = Box::new(Analyzer::<4>::new());
        assert!(a.is_capturing());
        a.record(&output_record(15, 100, 10, 0, 1));
        a.record(&output_record(15, 200, 20, 0, 0));
        let h = a.stop(30);
        assert_eq!(h, Header { sent_bytes: 96, total_byte_count: 96, overflow: false });
        // Stopped: nothing more is captured, a second stop adds nothing.
        a.record(&output_record(15, 300, 40, 0, 1));
        assert_eq!(a.stop(50), h);
        let d = dump(&a);
        assert_eq!(d.len(), 96);
        assert_eq!(be64(&d[20..28]), 100);
        assert_eq!(be64(&d[32 + 20..32 + 28]), 200);
        assert_eq!((be32(&d[64 + 28..96]), be64(&d[64 + 12..64 + 20])), (3, 30));
        a.arm();
        assert_eq!(a.header(), Header { sent_bytes: 0, total_byte_count: 0, overflow: false });
        assert_eq!(dump(&a).len(), 0);
    }

    #[test]
    fn a_full_ring_keeps_the_newest_records_oldest_first() {
        let mut a = Box::new(Analyzer::<4>::new());
        for i in 0..10i64 {
            a.record(&output_record(15, 1000 + i, i, 0, i as u64));
        }
        a.mark_overflow();
        let h = a.stop(99);
        assert_eq!(h, Header { sent_bytes: 128, total_byte_count: 11 * 32, overflow: true });
        let d = dump(&a);
        let stamps: Vec<u64> = d.chunks(32).map(|r| be64(&r[20..28])).collect();
        assert_eq!(&stamps[..3], &[1007, 1008, 1009]);
        assert_eq!(be32(&d[96 + 28..128]), 3, "the stopped record is last");
        a.arm();
        assert!(!a.header().overflow);
    }

    use alloc::boxed::Box;
}
