//! Packets waiting to be sent: upstream, to each downstream repeater, and to
//! ourselves (a routable packet whose destination is this satellite).
//!
//! The queues have a fixed capacity allocated once, so a burst of traffic
//! cannot grow the heap (and tests can compare heap usage across runs). A
//! full queue refuses the packet and the caller reports the failure.

use alloc::vec::Vec;

use heapless::Deque;
use libdrtio::{Frame, Packet};

/// Frames per queue. The satellite sends at most one unsolicited packet per
/// kernel event, and the master acknowledges as it goes; 32 is ample.
pub const QUEUE_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Upstream,
    Downstream(u8),
    Local,
}

/// The packet could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxError {
    Full(Queue),
    /// The packet does not encode (payload over its maximum).
    Encode,
}

pub struct Outbox {
    up: Deque<Frame, QUEUE_DEPTH>,
    down: Vec<Deque<Frame, QUEUE_DEPTH>>,
    local: Deque<Frame, QUEUE_DEPTH>,
}

impl Outbox {
    pub fn new(repeaters: usize) -> Outbox {
        let mut down = Vec::with_capacity(repeaters);
        down.resize_with(repeaters, Deque::new);
        Outbox { up: Deque::new(), down, local: Deque::new() }
    }

    fn queue(&mut self, q: Queue) -> Option<&mut Deque<Frame, QUEUE_DEPTH>> {
        match q {
            Queue::Upstream => Some(&mut self.up),
            Queue::Local => Some(&mut self.local),
            Queue::Downstream(i) => self.down.get_mut(i as usize),
        }
    }

    /// Queues `frame` at the back (`urgent` = at the front, for a reply that
    /// found the link busy).
    pub fn push(&mut self, q: Queue, frame: Frame, urgent: bool) -> Result<(), OutboxError> {
        let queue = self.queue(q).ok_or(OutboxError::Full(q))?;
        let res = if urgent { queue.push_front(frame) } else { queue.push_back(frame) };
        res.map_err(|_| OutboxError::Full(q))
    }

    pub fn push_packet(&mut self, q: Queue, packet: &Packet<'_>) -> Result<(), OutboxError> {
        let frame = Frame::encode(packet).map_err(|_| OutboxError::Encode)?;
        self.push(q, frame, false)
    }

    pub fn pop(&mut self, q: Queue) -> Option<Frame> {
        self.queue(q)?.pop_front()
    }

    /// Puts back a frame that could not be sent.
    pub fn unpop(&mut self, q: Queue, frame: Frame) {
        if let Some(queue) = self.queue(q) {
            let _ = queue.push_front(frame);
        }
    }

    pub fn len(&self, q: Queue) -> usize {
        match q {
            Queue::Upstream => self.up.len(),
            Queue::Local => self.local.len(),
            Queue::Downstream(i) => self.down.get(i as usize).map_or(0, |d| d.len()),
        }
    }

    /// Forgets everything queued upstream (the uplink went down: the master
    /// re-initialises this satellite when it comes back).
    pub fn clear_upstream(&mut self) {
        self.up.clear();
        self.local.clear();
    }

    pub fn clear_downstream(&mut self, i: u8) {
        if let Some(q) = self.down.get_mut(i as usize) {
            q.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_bounded_and_fifo() {
        let mut o = Outbox::new(1);
        for _ in 0..QUEUE_DEPTH {
            o.push_packet(Queue::Upstream, &Packet::EchoReply).unwrap();
        }
        assert_eq!(o.push_packet(Queue::Upstream, &Packet::ResetAck), Err(OutboxError::Full(Queue::Upstream)));
        assert_eq!(o.push_packet(Queue::Downstream(3), &Packet::ResetAck), Err(OutboxError::Full(Queue::Downstream(3))));
        let f = Frame::encode(&Packet::ResetAck).unwrap();
        o.pop(Queue::Upstream).unwrap();
        o.push(Queue::Upstream, f, true).unwrap();
        assert_eq!(o.pop(Queue::Upstream).unwrap().decode().unwrap(), Packet::ResetAck);
        o.clear_upstream();
        assert_eq!(o.len(Queue::Upstream), 0);
    }
}
