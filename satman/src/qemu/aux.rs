//! `AuxLink` over a byte stream with the SLIP record framing.

use heapless::Deque;
use libdrtio::MAX_PACKET;

use super::rtio::RtioEvent;
use super::{channel, op, slip};
use crate::hal::{AuxLink, LinkError};

/// A non-blocking byte pipe (the UART).
pub trait ByteStream {
    /// Reads what is available, up to `buf.len()` bytes.
    fn read(&mut self, buf: &mut [u8]) -> usize;
    /// Bytes that [`ByteStream::write`] would take right now.
    fn tx_space(&self) -> usize;
    /// Queues `data`; the caller checked `tx_space`.
    fn write(&mut self, data: &[u8]) -> usize;
}

/// A control request from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Stats,
    Exit(u32),
    /// Test-only: panic CPU0 (the crash-log and reboot tests).
    Panic,
}

/// Largest record: one aux frame plus its channel byte, with room to spare.
const RECORD_MAX: usize = 2048;

pub struct QemuAux<S: ByteStream> {
    pub stream: S,
    decoder: slip::Decoder<RECORD_MAX>,
    frames: Deque<([u8; MAX_PACKET], u16), 4>,
    control: Deque<Control, 8>,
    up: bool,
    /// The host has sent something (it is listening).
    pub heard_host: bool,
    pub bad_records: u32,
}

impl<S: ByteStream> QemuAux<S> {
    pub fn new(stream: S) -> Self {
        QemuAux {
            stream,
            decoder: slip::Decoder::new(),
            frames: Deque::new(),
            control: Deque::new(),
            up: true,
            heard_host: false,
            bad_records: 0,
        }
    }

    /// Moves received bytes through the decoder until a frame is queued or
    /// the input is drained.
    fn pump(&mut self) {
        let mut buf = [0u8; 64];
        while !self.frames.is_full() {
            let n = self.stream.read(&mut buf);
            if n == 0 {
                return;
            }
            for &b in &buf[..n] {
                let Some(record) = self.decoder.push(b) else { continue };
                self.heard_host = true;
                match record.split_first() {
                    Some((&channel::AUX, frame)) if frame.len() <= MAX_PACKET => {
                        let mut f = [0u8; MAX_PACKET];
                        f[..frame.len()].copy_from_slice(frame);
                        if self.frames.push_back((f, frame.len() as u16)).is_err() {
                            self.bad_records += 1;
                        }
                    }
                    Some((&channel::CONTROL, [op::STATS, ..])) => {
                        let _ = self.control.push_back(Control::Stats);
                    }
                    Some((&channel::CONTROL, [op::EXIT, c0, c1, c2, c3, ..])) => {
                        let _ = self.control.push_back(Control::Exit(u32::from_le_bytes([*c0, *c1, *c2, *c3])));
                    }
                    Some((&channel::CONTROL, [op::LINK, up, ..])) => self.up = *up != 0,
                    Some((&channel::CONTROL, [op::PANIC])) => {
                        let _ = self.control.push_back(Control::Panic);
                    }
                    _ => self.bad_records += 1,
                }
            }
        }
    }

    /// The next control request from the host.
    pub fn take_control(&mut self) -> Option<Control> {
        self.pump();
        self.control.pop_front()
    }

    /// Sends a record if the UART has room for all of it.
    pub fn send_record(&mut self, parts: &[&[u8]]) -> bool {
        let len: usize = parts.iter().map(|p| slip::encoded_len(p)).sum::<usize>();
        if self.stream.tx_space() < len {
            return false;
        }
        let mut buf = [0u8; 2 * RECORD_MAX + 2];
        let mut n = 0;
        slip::encode(parts, |b| {
            buf[n] = b;
            n += 1;
        });
        self.stream.write(&buf[..n]);
        true
    }

    pub fn send_control(&mut self, operation: u8, payload: &[u8]) -> bool {
        self.send_record(&[&[channel::CONTROL, operation], payload])
    }

    /// Reports RTIO events, as many as fit in one record and in the UART;
    /// returns how many were sent.
    pub fn send_events(&mut self, events: &[RtioEvent]) -> usize {
        let mut buf = [0u8; 60 * RtioEvent::SIZE];
        let n = events.len().min(60);
        for (i, e) in events[..n].iter().enumerate() {
            e.encode(&mut buf[i * RtioEvent::SIZE..(i + 1) * RtioEvent::SIZE]);
        }
        if n == 0 || !self.send_record(&[&[channel::RTIO], &buf[..n * RtioEvent::SIZE]]) {
            return 0;
        }
        n
    }
}

impl<S: ByteStream> AuxLink for QemuAux<S> {
    fn is_up(&mut self) -> bool {
        self.up
    }

    fn receive(&mut self, buf: &mut [u8; MAX_PACKET]) -> Result<Option<usize>, LinkError> {
        self.pump();
        match self.frames.pop_front() {
            Some((f, len)) => {
                let len = len as usize;
                buf[..len].copy_from_slice(&f[..len]);
                Ok(Some(len))
            }
            None => Ok(None),
        }
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        if !self.up {
            return Err(LinkError::Down);
        }
        if self.send_record(&[&[channel::AUX], frame]) {
            Ok(())
        } else {
            Err(LinkError::Busy)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::VecDeque;
    use alloc::vec::Vec;
    use libdrtio::{Frame, Packet};

    #[derive(Default)]
    struct Pipe {
        rx: VecDeque<u8>,
        tx: Vec<u8>,
        space: usize,
    }

    impl ByteStream for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> usize {
            let n = buf.len().min(self.rx.len());
            for b in buf.iter_mut().take(n) {
                *b = self.rx.pop_front().unwrap();
            }
            n
        }
        fn tx_space(&self) -> usize {
            self.space
        }
        fn write(&mut self, data: &[u8]) -> usize {
            self.tx.extend_from_slice(data);
            self.space -= data.len();
            data.len()
        }
    }

    fn record(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        slip::encode(parts, |b| v.push(b));
        v
    }

    #[test]
    fn receives_frames_and_control_and_sends_replies() {
        let echo = Frame::encode(&Packet::EchoRequest).unwrap();
        let mut pipe = Pipe { space: 4096, ..Default::default() };
        pipe.rx.extend(record(&[&[channel::CONTROL, op::STATS]]));
        pipe.rx.extend([0x55, 0xAA]); // noise
        pipe.rx.extend(record(&[&[channel::AUX], echo.as_bytes()]));
        pipe.rx.extend(record(&[&[channel::CONTROL, op::LINK, 0]]));
        let mut aux = QemuAux::new(pipe);
        let mut buf = [0u8; MAX_PACKET];
        let n = aux.receive(&mut buf).unwrap().unwrap();
        assert_eq!(Packet::decode(&buf[..n]).unwrap().0, Packet::EchoRequest);
        assert_eq!(aux.take_control(), Some(Control::Stats));
        assert!(!aux.is_up());
        assert_eq!(aux.transmit(echo.as_bytes()), Err(LinkError::Down));
        assert_eq!(aux.bad_records, 1);
        aux.up = true;
        aux.transmit(echo.as_bytes()).unwrap();
        let mut d: slip::Decoder<2048> = slip::Decoder::new();
        let recs: Vec<Vec<u8>> = aux.stream.tx.iter().filter_map(|&b| d.push(b).map(|r| r.to_vec())).collect();
        assert_eq!(recs[0][0], channel::AUX);
        assert_eq!(&recs[0][1..], echo.as_bytes());
    }

    #[test]
    fn busy_when_the_uart_is_full() {
        let mut aux = QemuAux::new(Pipe { space: 10, ..Default::default() });
        let echo = Frame::encode(&Packet::EchoRequest).unwrap();
        assert_eq!(aux.transmit(echo.as_bytes()), Err(LinkError::Busy));
        assert!(aux.stream.tx.is_empty());
        let ev = RtioEvent { source: 2, timestamp: 5, target: 0x100, data: 1 };
        assert_eq!(aux.send_events(&[ev]), 0);
        aux.stream.space = 100;
        assert_eq!(aux.send_events(&[ev, ev]), 2);
    }
}
