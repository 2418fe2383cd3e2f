//! An aux link in memory: frames queued both ways, a link-up flag, and
//! optionally the gateware's habit of handing over whole 1 KiB slots with
//! stale bytes after the frame.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use libdrtio::{Packet, MAX_PACKET};
use satman::hal::{AuxLink, LinkError};

use super::trace::{Trace, TraceEvent};

#[derive(Default)]
pub struct LinkShared {
    to_satellite: Mutex<VecDeque<Vec<u8>>>,
    to_master: Mutex<VecDeque<Vec<u8>>>,
    down: AtomicBool,
    /// Deliver frames as full 1024-byte slots, like the gateware.
    slots: AtomicBool,
    /// The satellite below this link and the trace its `TSCAck`s and
    /// `ResetAck`s go to.
    trace: Mutex<Option<(usize, Arc<Trace>)>>,
}

impl LinkShared {
    pub fn new() -> Arc<LinkShared> {
        Arc::new(LinkShared::default())
    }

    pub fn set_up(&self, up: bool) {
        self.down.store(!up, Ordering::SeqCst);
        if !up {
            self.to_satellite.lock().unwrap().clear();
            self.to_master.lock().unwrap().clear();
        }
    }

    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::SeqCst)
    }

    /// Records the `TSCAck`s and `ResetAck`s the satellite below sends up
    /// this link, as satellite `node`.
    pub fn set_trace(&self, node: usize, trace: Arc<Trace>) {
        *self.trace.lock().unwrap() = Some((node, trace));
    }

    pub fn set_gateware_slots(&self, on: bool) {
        self.slots.store(on, Ordering::SeqCst);
    }

    /// Master side: queue bytes for the satellite (dropped if the link is down).
    pub fn master_send(&self, bytes: &[u8]) {
        if self.is_up() {
            self.to_satellite.lock().unwrap().push_back(bytes.to_vec());
        }
    }

    pub fn master_recv(&self) -> Option<Vec<u8>> {
        pop(&self.to_master)
    }

    pub fn pending_for_satellite(&self) -> usize {
        self.to_satellite.lock().unwrap().len()
    }

    pub fn pending_for_master(&self) -> usize {
        self.to_master.lock().unwrap().len()
    }
}

/// Pops a frame; a queue a burst made large gives its memory back once
/// drained, so the simulated wire does not blur heap accounting.
fn pop(q: &Mutex<VecDeque<Vec<u8>>>) -> Option<Vec<u8>> {
    let mut q = q.lock().unwrap();
    let f = q.pop_front();
    if q.is_empty() && q.capacity() > 4 {
        q.shrink_to(4);
    }
    f
}

/// One end of a link as a satellite sees it: its uplink (the master is at
/// the other end), or a repeater link to a satellite below it.
pub struct SimLink {
    pub shared: Arc<LinkShared>,
    /// This end is the upper one (a repeater link of the satellite above).
    upper: bool,
    /// What the last slot held, for the stale-bytes mode.
    stale: Box<[u8; MAX_PACKET]>,
}

impl SimLink {
    /// A satellite's uplink.
    pub fn new(shared: Arc<LinkShared>) -> SimLink {
        SimLink { shared, upper: false, stale: Box::new([0xA5; MAX_PACKET]) }
    }

    /// The satellite above's repeater end of a link.
    pub fn repeater(shared: Arc<LinkShared>) -> SimLink {
        SimLink { shared, upper: true, stale: Box::new([0xA5; MAX_PACKET]) }
    }

    fn incoming(&self) -> &Mutex<VecDeque<Vec<u8>>> {
        if self.upper {
            &self.shared.to_master
        } else {
            &self.shared.to_satellite
        }
    }

    fn outgoing(&self) -> &Mutex<VecDeque<Vec<u8>>> {
        if self.upper {
            &self.shared.to_satellite
        } else {
            &self.shared.to_master
        }
    }
}

impl AuxLink for SimLink {
    fn is_up(&mut self) -> bool {
        self.shared.is_up()
    }

    fn receive(&mut self, buf: &mut [u8; MAX_PACKET]) -> Result<Option<usize>, LinkError> {
        if !self.shared.is_up() {
            return Err(LinkError::Down);
        }
        let Some(frame) = pop(self.incoming()) else { return Ok(None) };
        if frame.len() > MAX_PACKET {
            // The gateware flags frames longer than a slot and drops the rest.
            return Err(LinkError::Gateware);
        }
        if self.shared.slots.load(Ordering::Relaxed) {
            self.stale[..frame.len()].copy_from_slice(&frame);
            buf.copy_from_slice(&self.stale[..]);
            Ok(Some(MAX_PACKET))
        } else {
            buf[..frame.len()].copy_from_slice(&frame);
            Ok(Some(frame.len()))
        }
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        if !self.shared.is_up() {
            return Err(LinkError::Down);
        }
        if !self.upper {
            if let Some((node, trace)) = &*self.shared.trace.lock().unwrap() {
                match Packet::decode(frame) {
                    Ok((Packet::TSCAck, _)) => trace.push(TraceEvent::TscAck { node: *node }),
                    Ok((Packet::ResetAck, _)) => trace.push(TraceEvent::ResetAck { node: *node }),
                    _ => {}
                }
            }
        }
        self.outgoing().lock().unwrap().push_back(frame.to_vec());
        Ok(())
    }
}
