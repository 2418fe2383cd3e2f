//! A bench-wide log of the timing events of a simulated DRTIO tree, in the
//! order they happened: TSC loads, `set_time` strobes, repeater resets and
//! `TSCAck`s sent up. Tests read it to check the order the reference
//! requires (every repeater below a satellite synced before its `TSCAck`).

use std::sync::{Arc, Mutex};

/// One event; `node` is the satellite's index in the bench (0 = the one
/// on the master's link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEvent {
    /// The satellite's TSC was loaded (by the master or the repeater above).
    TscLoaded { node: usize },
    /// The satellite strobed `set_time` on repeater `repeater`.
    SetTime { node: usize, repeater: usize },
    /// The satellite pulsed repeater `repeater`'s RTIO reset.
    RepeaterReset { node: usize, repeater: usize },
    /// The satellite sent `TSCAck` on its uplink.
    TscAck { node: usize },
    /// The satellite sent `ResetAck` on its uplink.
    ResetAck { node: usize },
}

#[derive(Debug, Default)]
pub struct Trace {
    events: Mutex<Vec<TraceEvent>>,
}

/// Events the trace holds before it grows: its growth would show in the
/// heap checks of long runs.
const CAPACITY: usize = 1 << 14;

impl Trace {
    pub fn new() -> Arc<Trace> {
        Arc::new(Trace { events: Mutex::new(Vec::with_capacity(CAPACITY)) })
    }

    pub fn push(&self, e: TraceEvent) {
        self.events.lock().unwrap().push(e);
    }

    pub fn events(&self) -> Vec<TraceEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Forgets the events (keeping the room).
    pub fn clear(&self) {
        self.events.lock().unwrap().clear();
    }
}

/// Checks, for every `TSCAck` of a satellite, that each of its `children`
/// (child satellite index per repeater) was sent the time after the
/// satellite's own TSC load and acknowledged it before this `TSCAck`.
/// `children[n]` lists satellite `n`'s children, repeater by repeater.
pub fn check_tsc_order(events: &[TraceEvent], children: &[Vec<usize>]) -> Result<usize, String> {
    let mut acks = 0;
    for (k, e) in events.iter().enumerate() {
        let TraceEvent::TscAck { node } = *e else { continue };
        acks += 1;
        let loaded = events[..k]
            .iter()
            .rposition(|e| *e == TraceEvent::TscLoaded { node })
            .ok_or_else(|| format!("satellite {node}: TSCAck at {k} without a TSC load before it"))?;
        for (repeater, &child) in children[node].iter().enumerate() {
            let set = events[loaded..k]
                .iter()
                .position(|e| *e == TraceEvent::SetTime { node, repeater })
                .map(|p| p + loaded)
                .ok_or_else(|| {
                    format!("satellite {node}: TSCAck at {k} before repeater {repeater} was synced (load at {loaded})")
                })?;
            events[set..k]
                .iter()
                .position(|e| *e == TraceEvent::TscAck { node: child })
                .ok_or_else(|| {
                    format!("satellite {node}: TSCAck at {k} before satellite {child} below acknowledged (set_time at {set})")
                })?;
        }
    }
    Ok(acks)
}

#[cfg(test)]
mod tests {
    use super::TraceEvent::*;
    use super::*;

    #[test]
    fn order_check_accepts_nested_syncs_and_names_what_is_missing() {
        let children = vec![vec![1], vec![]];
        let good = [TscLoaded { node: 0 }, SetTime { node: 0, repeater: 0 }, TscLoaded { node: 1 }, TscAck { node: 1 }, TscAck { node: 0 }];
        assert_eq!(check_tsc_order(&good, &children), Ok(2));
        let early = [TscLoaded { node: 0 }, TscAck { node: 0 }, SetTime { node: 0, repeater: 0 }];
        assert!(check_tsc_order(&early, &children).unwrap_err().contains("repeater 0"));
        let unacked = [TscLoaded { node: 0 }, SetTime { node: 0, repeater: 0 }, TscAck { node: 0 }];
        assert!(check_tsc_order(&unacked, &children).unwrap_err().contains("satellite 1"));
    }
}
