//! The CSR kernel initiator (`rtio` bank), which CPU1 drives while a
//! kernel runs: what `libksupport::runtime::KernelHost`'s `rtio_*` methods
//! forward to.
//!
//! Register meanings (sheet §3 note on `rtio`; kernel-abi.md §5):
//!
//! - `target` = channel << 8 | register address; writing it clears
//!   `o_data`. `now` (64 bits) is the timestamp of the next output.
//! - `o_data` (16 words, most significant at the lowest address): an
//!   output is submitted when its least significant word, the last one,
//!   is written. Narrower payloads go into the tail words only, so data
//!   word `i` (0 = least significant, as in the kernel API and DMA records)
//!   lives at the register's `i`-th word from the end; they are written
//!   highest `i` first so that word 0 goes last.
//! - `o_status`: bit 0 wait (the event is still being accepted), bit 1
//!   underflow, bit 2 destination unreachable.
//! - `i_timeout` (64 bits, absolute RTIO time; `i64::MAX` = forever): an
//!   input request is submitted when its least significant word is written.
//! - `i_status`: bit 0 no event before the timeout, bit 1 overflow, bit 2
//!   waiting for the result ("poll while 4"), bit 3 destination
//!   unreachable. `i_timestamp`/`i_data` hold the event.
//! - `counter` (64 bits) is a copy of the timestamp counter taken when
//!   `counter_update` is written.
//!
//! # Bounds
//!
//! The reference firmware waits on `o_status` and `i_status` for as long
//! as the gateware says so. Here both waits are bounded ([`Limits`]):
//!
//! - An output held in "wait" for more than `output_wait_us` is reported as
//!   [`RtioStatus::DestinationUnreachable`]: an event the gateware neither
//!   takes nor refuses for that long has nowhere to go (a destination whose
//!   buffer space never comes back). The kernel then raises
//!   `RTIODestinationUnreachable` on its channel. The event may still be
//!   played later by the gateware.
//! - An input waits until its own timeout (converted to microseconds with
//!   `mu_per_us`, from the counter when the wait starts) plus
//!   `input_grace_us`; past that it returns [`RtioInput::Timeout`], as the
//!   gateware should have. A kernel that waits forever (`i64::MAX`) is
//!   bounded only in name (months): CPU0 stopping CPU1 ends such a wait,
//!   which is the intended way.
//!
//! Both cases are counted in [`KernelRtioStats`].

use libksupport::runtime::{RtioInput, RtioStatus};

use super::bus::Bus;
use super::csr::rtio;
use super::wait_while;

const O_STATUS_WAIT: u32 = 1 << 0;
const O_STATUS_UNDERFLOW: u32 = 1 << 1;
const O_STATUS_DESTINATION_UNREACHABLE: u32 = 1 << 2;

const I_STATUS_WAIT_EVENT: u32 = 1 << 0;
const I_STATUS_OVERFLOW: u32 = 1 << 1;
const I_STATUS_WAIT_STATUS: u32 = 1 << 2;
const I_STATUS_DESTINATION_UNREACHABLE: u32 = 1 << 3;

/// The bounds of the initiator's waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest an output may stay in "wait".
    pub output_wait_us: u64,
    /// How long past its own timeout an input may stay in "wait".
    pub input_grace_us: u64,
    /// RTIO machine units per microsecond: 1000 on the Kasli-SoC, whose
    /// machine unit is 1 ns (125 MHz RTIO clock, 8 fine timestamp steps).
    pub mu_per_us: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits { output_wait_us: 1_000_000, input_grace_us: 1_000_000, mu_per_us: 1000 };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Waits that hit their bound (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelRtioStats {
    pub stuck_outputs: u32,
    pub stuck_inputs: u32,
}

/// The kernel initiator. `clock` gives microseconds (the global timer,
/// which CPU1 reads as well as CPU0) and only bounds waits.
pub struct GatewareKernelRtio<B: Bus, C = fn() -> u64> {
    bus: B,
    clock: C,
    limits: Limits,
    stats: KernelRtioStats,
}

impl<B: Bus, C: Fn() -> u64> GatewareKernelRtio<B, C> {
    pub fn new(bus: B, clock: C) -> Self {
        Self::with_limits(bus, clock, Limits::DEFAULT)
    }

    pub fn with_limits(bus: B, clock: C, limits: Limits) -> Self {
        GatewareKernelRtio { bus, clock, limits, stats: KernelRtioStats::default() }
    }

    pub fn stats(&self) -> KernelRtioStats {
        self.stats
    }

    /// The bus, for diagnostics.
    pub fn bus(&self) -> &B {
        &self.bus
    }

    /// `rtio_init`: nothing to do here. The satellite's CSR initiator has no
    /// reset of its own (there is no `rtio_core` bank); the RTIO core is
    /// reset by CPU0 (`drtiosat.reset`) when the runtime sends it
    /// `RtioInit` right after this call.
    pub fn init(&mut self) {}

    /// The timestamp counter, sampled now.
    pub fn counter(&mut self) -> i64 {
        self.read_counter()
    }

    fn read_counter(&self) -> i64 {
        rtio::COUNTER_UPDATE.write(&self.bus, 1);
        rtio::COUNTER.read(&self.bus) as i64
    }

    /// Submits one event at `timestamp` to `target` with `data` (word 0
    /// least significant; at most as many words as `o_data` has, 16, the
    /// rest is ignored; none sends a zero word).
    pub fn output(&mut self, timestamp: i64, target: u32, data: &[u32]) -> RtioStatus {
        let bus = &self.bus;
        rtio::NOW.write(bus, timestamp as u64);
        rtio::TARGET.write(bus, target);
        let n = data.len().min(rtio::O_DATA.words());
        if n == 0 {
            rtio::O_DATA.write_word(bus, 0, 0);
        }
        for (i, &word) in data.iter().take(n).enumerate().rev() {
            rtio::O_DATA.write_word(bus, i, word);
        }
        let mut status = rtio::O_STATUS.read(bus);
        if status & O_STATUS_WAIT != 0 {
            // Keep every flag seen along the way: the outcome may come with
            // the end of the wait or before it.
            let mut seen = status;
            let done = wait_while(&self.clock, self.limits.output_wait_us, || {
                let s = rtio::O_STATUS.read(bus);
                seen |= s;
                s & O_STATUS_WAIT != 0
            });
            if !done {
                self.stats.stuck_outputs = self.stats.stuck_outputs.wrapping_add(1);
                return RtioStatus::DestinationUnreachable;
            }
            status = seen;
        }
        if status & O_STATUS_UNDERFLOW != 0 {
            let slack = timestamp.wrapping_sub(self.read_counter());
            return RtioStatus::Underflow { slack };
        }
        if status & O_STATUS_DESTINATION_UNREACHABLE != 0 {
            return RtioStatus::DestinationUnreachable;
        }
        RtioStatus::Ok
    }

    /// Waits for an event on `channel` until `timeout` (RTIO time).
    pub fn input(&mut self, channel: u32, timeout: i64) -> RtioInput {
        let bus = &self.bus;
        rtio::TARGET.write(bus, channel << 8);
        rtio::I_TIMEOUT.write(bus, timeout as u64);
        let mut status = rtio::I_STATUS.read(bus);
        if status & I_STATUS_WAIT_STATUS != 0 {
            let remaining_mu = timeout.saturating_sub(self.read_counter()).max(0) as u64;
            let limit = (remaining_mu / self.limits.mu_per_us.max(1)).saturating_add(self.limits.input_grace_us);
            let done = wait_while(&self.clock, limit, || {
                status = rtio::I_STATUS.read(bus);
                status & I_STATUS_WAIT_STATUS != 0
            });
            if !done {
                self.stats.stuck_inputs = self.stats.stuck_inputs.wrapping_add(1);
                return RtioInput::Timeout;
            }
        }
        // The reference's order: overflow, then no event, then unreachable.
        if status & I_STATUS_OVERFLOW != 0 {
            RtioInput::Overflow
        } else if status & I_STATUS_WAIT_EVENT != 0 {
            RtioInput::Timeout
        } else if status & I_STATUS_DESTINATION_UNREACHABLE != 0 {
            RtioInput::DestinationUnreachable
        } else {
            let timestamp = rtio::I_TIMESTAMP.read(bus) as i64;
            let data = rtio::I_DATA.read(bus) as i32;
            RtioInput::Event { timestamp, data }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateware::fake::{ticking_clock, FakeBus, Mem, Model, Op};
    use alloc::collections::VecDeque;
    use alloc::vec::Vec;

    /// The initiator: scripted status sequences (the last value sticks, so
    /// a one-value script is a stuck register) and a counter that
    /// `counter_update` samples.
    #[derive(Default)]
    struct Initiator {
        tsc: u64,
        o_status: VecDeque<u32>,
        i_status: VecDeque<u32>,
    }

    fn next(q: &mut VecDeque<u32>) -> u32 {
        if q.len() > 1 {
            q.pop_front().unwrap_or(0)
        } else {
            q.front().copied().unwrap_or(0)
        }
    }

    impl Model for Initiator {
        fn read(&mut self, _mem: &mut Mem, addr: usize) -> Option<u32> {
            if addr == rtio::O_STATUS.addr() {
                Some(next(&mut self.o_status))
            } else if addr == rtio::I_STATUS.addr() {
                Some(next(&mut self.i_status))
            } else {
                None
            }
        }

        fn write(&mut self, mem: &mut Mem, addr: usize, _value: u32) -> bool {
            if addr == rtio::COUNTER_UPDATE.addr() {
                mem.insert(rtio::COUNTER.addr(), (self.tsc >> 32) as u32);
                mem.insert(rtio::COUNTER.addr() + 4, self.tsc as u32);
            }
            false
        }
    }

    fn initiator(tsc: u64, o: &[u32], i: &[u32]) -> FakeBus<Initiator> {
        FakeBus::new(Initiator { tsc, o_status: o.iter().copied().collect(), i_status: i.iter().copied().collect() })
    }

    const LIMITS: Limits = Limits { output_wait_us: 50, input_grace_us: 50, mu_per_us: 1000 };

    /// Writes to `o_data`, as (word index from the register's start, value).
    fn o_data_writes(bus: &FakeBus<Initiator>) -> Vec<(usize, u32)> {
        let base = rtio::O_DATA.addr();
        bus.writes()
            .into_iter()
            .filter(|&(a, _)| (base..base + 64).contains(&a))
            .map(|(a, v)| ((a - base) / 4, v))
            .collect()
    }

    #[test]
    fn output_writes_now_target_then_data_lsw_last() {
        let bus = initiator(0, &[0], &[]);
        let (_, clock) = ticking_clock(1);
        let mut ki = GatewareKernelRtio::with_limits(&bus, clock, LIMITS);
        assert_eq!(ki.output(0x1_0000_0010, 0x0100_0f00, &[0xaa]), RtioStatus::Ok);
        assert_eq!(
            bus.ops(),
            [
                Op::Write(rtio::NOW.addr(), 1),
                Op::Write(rtio::NOW.addr() + 4, 0x10),
                Op::Write(rtio::TARGET.addr(), 0x0100_0f00),
                Op::Write(rtio::O_DATA.addr() + 60, 0xaa),
                Op::Read(rtio::O_STATUS.addr(), 0),
            ]
        );
        bus.clear_ops();
        assert_eq!(ki.output(5, 0x0100_0f01, &[1, 2, 3]), RtioStatus::Ok);
        assert_eq!(o_data_writes(&bus), [(13, 3), (14, 2), (15, 1)]);
        // The target is written before any data word (it clears o_data).
        assert_eq!(bus.writes()[2], (rtio::TARGET.addr(), 0x0100_0f01));
        bus.clear_ops();
        assert_eq!(ki.output(5, 0x0100_0f02, &[]), RtioStatus::Ok);
        assert_eq!(o_data_writes(&bus), [(15, 0)]);
        bus.clear_ops();
        let wide: Vec<u32> = (0..20).collect();
        assert_eq!(ki.output(5, 0x0100_0f03, &wide), RtioStatus::Ok);
        let w = o_data_writes(&bus);
        assert_eq!(w.len(), 16);
        assert_eq!((w[0], w[15]), ((0, 15), (15, 0)));
        bus.assert_accesses_valid();
    }

    #[test]
    fn output_status_bits() {
        let (_, clock) = ticking_clock(1);
        let bus = initiator(1000, &[O_STATUS_UNDERFLOW], &[]);
        let mut ki = GatewareKernelRtio::with_limits(&bus, &clock, LIMITS);
        assert_eq!(ki.output(900, 0x100, &[1]), RtioStatus::Underflow { slack: -100 });
        // The counter was sampled for the slack.
        assert_eq!(bus.writes().last(), Some(&(rtio::COUNTER_UPDATE.addr(), 1)));

        let bus = initiator(0, &[O_STATUS_DESTINATION_UNREACHABLE], &[]);
        let mut ki = GatewareKernelRtio::with_limits(&bus, &clock, LIMITS);
        assert_eq!(ki.output(900, 0x100, &[1]), RtioStatus::DestinationUnreachable);

        // Wait, then fine.
        let bus = initiator(0, &[1, 1, 1, 0], &[]);
        let mut ki = GatewareKernelRtio::with_limits(&bus, &clock, LIMITS);
        assert_eq!(ki.output(900, 0x100, &[1]), RtioStatus::Ok);
        assert_eq!(bus.reads_of(rtio::O_STATUS.addr()), 4);

        // Wait, then underflow.
        let bus = initiator(1000, &[1, 1, O_STATUS_UNDERFLOW], &[]);
        let mut ki = GatewareKernelRtio::with_limits(&bus, &clock, LIMITS);
        assert_eq!(ki.output(1500, 0x100, &[1]), RtioStatus::Underflow { slack: 500 });
        assert_eq!(ki.stats(), KernelRtioStats::default());
        bus.assert_accesses_valid();
    }

    #[test]
    fn a_stuck_output_ends_after_its_bound() {
        let (now, clock) = ticking_clock(1);
        let bus = initiator(0, &[O_STATUS_WAIT], &[]);
        let mut ki = GatewareKernelRtio::with_limits(&bus, clock, LIMITS);
        assert_eq!(ki.output(1, 0x100, &[1]), RtioStatus::DestinationUnreachable);
        assert_eq!(ki.stats().stuck_outputs, 1);
        let reads = bus.reads_of(rtio::O_STATUS.addr());
        assert!((40..=60).contains(&reads), "{}", reads);
        assert!(now.get() >= LIMITS.output_wait_us);
    }

    #[test]
    fn input_writes_target_then_timeout_lsw_last_and_reads_the_event() {
        let (_, clock) = ticking_clock(1);
        let bus = initiator(0, &[], &[I_STATUS_WAIT_STATUS, I_STATUS_WAIT_STATUS, 0]);
        bus.set64(rtio::I_TIMESTAMP.addr(), 0x2_0000_0003);
        bus.set(rtio::I_DATA.addr(), 0xffff_fffe);
        let mut ki = GatewareKernelRtio::with_limits(&bus, clock, LIMITS);
        assert_eq!(ki.input(0x01_0002, 0x7_0000_0009), RtioInput::Event { timestamp: 0x2_0000_0003, data: -2 });
        assert_eq!(
            bus.writes()[..3],
            [(rtio::TARGET.addr(), 0x0100_0200), (rtio::I_TIMEOUT.addr(), 7), (rtio::I_TIMEOUT.addr() + 4, 9)]
        );
        assert_eq!(bus.reads_of(rtio::I_STATUS.addr()), 3);
        bus.assert_accesses_valid();
    }

    #[test]
    fn input_status_mapping() {
        let (_, clock) = ticking_clock(1);
        for (status, want) in [
            (I_STATUS_WAIT_EVENT, RtioInput::Timeout),
            (I_STATUS_OVERFLOW, RtioInput::Overflow),
            (I_STATUS_OVERFLOW | I_STATUS_WAIT_EVENT, RtioInput::Overflow),
            (I_STATUS_DESTINATION_UNREACHABLE, RtioInput::DestinationUnreachable),
        ] {
            let bus = initiator(0, &[], &[I_STATUS_WAIT_STATUS, status]);
            let mut ki = GatewareKernelRtio::with_limits(&bus, &clock, LIMITS);
            assert_eq!(ki.input(3, 100), want, "{:#x}", status);
            // No event registers read when there is no event.
            assert_eq!(bus.reads_of(rtio::I_TIMESTAMP.addr()), 0);
            bus.assert_accesses_valid();
        }
    }

    #[test]
    fn a_stuck_input_ends_after_its_timeout_plus_grace() {
        // Timeout 30 µs of RTIO time ahead of the counter: 30 + 50 µs.
        let (now, clock) = ticking_clock(1);
        let bus = initiator(10_000, &[], &[I_STATUS_WAIT_STATUS]);
        let mut ki = GatewareKernelRtio::with_limits(&bus, clock, LIMITS);
        assert_eq!(ki.input(3, 40_000), RtioInput::Timeout);
        assert_eq!(ki.stats().stuck_inputs, 1);
        assert!((80..90).contains(&now.get()), "{}", now.get());
        // A timeout already past gets the grace only.
        now.set(0);
        assert_eq!(ki.input(3, 0), RtioInput::Timeout);
        assert!((50..60).contains(&now.get()), "{}", now.get());
        bus.assert_accesses_valid();
    }

    #[test]
    fn counter_strobes_then_reads_both_words() {
        let (_, clock) = ticking_clock(1);
        let bus = initiator(0x1234_5678_9abc_def0, &[], &[]);
        let mut ki = GatewareKernelRtio::new(&bus, clock);
        ki.init();
        assert!(bus.ops().is_empty());
        assert_eq!(ki.counter(), 0x1234_5678_9abc_def0);
        assert_eq!(
            bus.ops(),
            [
                Op::Write(rtio::COUNTER_UPDATE.addr(), 1),
                Op::Read(rtio::COUNTER.addr(), 0x1234_5678),
                Op::Read(rtio::COUNTER.addr() + 4, 0x9abc_def0),
            ]
        );
        bus.assert_accesses_valid();
    }
}
