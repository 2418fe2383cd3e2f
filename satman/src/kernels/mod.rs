//! Kernels: the kernel CPU's state machine and its one teardown
//! ([`subkernel`]), everything one running kernel owns ([`session`]), the
//! requests CPU1 makes and the packets that answer them ([`requests`]),
//! and a kernel's own DMA playbacks ([`playback`]).
//!
//! [`Kernels`] owns its state and sees the rest of the satellite only
//! through [`Ctx`]: CPU1, the RTIO core, the DDMA store (recordings), the
//! DMA engine as an [`Engine`] the satellite lends it, a [`Wire`] to send
//! packets, the limits and the counters.

mod memory;
mod playback;
mod requests;
pub mod session;
mod subkernel;

use libdma::{Key, Store, StoreError};
use libksupport::msg::PlaybackStatus;

use crate::budget::Budget;
use crate::config::Config;
use crate::hal::{Clock, KernelCpu, Rtio};
use crate::stats::Stats;
use crate::wire::Wire;

pub use subkernel::{End, KernelState, Kernels};

/// What the kernels may touch during one call.
pub struct Ctx<'a> {
    pub cpu: &'a mut dyn KernelCpu,
    pub rtio: &'a mut dyn Rtio,
    pub clock: &'a dyn Clock,
    pub store: &'a mut Store,
    pub engine: &'a mut dyn Engine,
    pub wire: &'a mut dyn Wire,
    pub config: &'a Config,
    pub stats: &'a mut Stats,
    /// CPU0's memory budget: asked before anything from the wire or the
    /// kernel is kept.
    pub budget: &'a mut Budget,
}

impl Ctx<'_> {
    fn now(&self) -> u64 {
        self.clock.now_us()
    }
}

/// The DMA engine as a kernel's playback uses it. The satellite implements
/// it over the DDMA part, which owns the engine's bookkeeping (a master's
/// playback, an abandoned trace still being read).
pub trait Engine {
    /// A playback runs, or an abandoned one is still draining.
    fn busy(&self, store: &Store) -> bool;
    /// Starts playing the kernel's trace `key`; the DMA engine drives the
    /// RTIO until [`Engine::finish`] or [`Engine::abandon`].
    fn start(&mut self, rtio: &mut dyn Rtio, store: &mut Store, key: Key, timestamp: u64) -> Result<(), StoreError>;
    /// `None` while playing; the outcome once the engine has stopped.
    fn poll(&mut self) -> Option<PlaybackStatus>;
    /// The playback ended: releases the trace; the kernel drives the RTIO.
    fn finish(&mut self, rtio: &mut dyn Rtio, store: &mut Store);
    /// Stops the engine; the trace is released once the engine is idle.
    fn abandon(&mut self, store: &mut Store);
}

#[cfg(test)]
mod tests {
    //! The kernels part alone, with a fake CPU1, engine, RTIO and wire.

    use alloc::collections::VecDeque;
    use alloc::vec::Vec;
    use core::cell::Cell;

    use libdma::Arena;
    use libdrtio::{Packet, PayloadStatus};
    use libksupport::msg::{Bytes, FromKernel, KernelError, ToKernel};

    use super::*;
    use crate::hal::{CpuError, Initiator};
    use crate::budget::Kind;
    use crate::testing::{FakeClock, FakeRtio, Sent};

    #[derive(Default)]
    struct FakeCpu {
        restarts: u32,
        to_kernel: Vec<ToKernel>,
        from_kernel: VecDeque<FromKernel>,
        fault: Option<crate::fault::CpuFault>,
        lent: Option<crate::lent::Lent>,
        /// Where the fake's CPU1 can lend from (`None`: anywhere).
        regions: Option<crate::lent::Regions>,
        /// CPU1's heap account, if it has one: recreated (0) by a restart.
        heap: Option<usize>,
    }

    impl KernelCpu for FakeCpu {
        fn restart(&mut self) -> Result<(), CpuError> {
            self.restarts += 1;
            self.heap = self.heap.map(|_| 0);
            Ok(())
        }
        fn send(&mut self, msg: ToKernel) -> Result<(), CpuError> {
            self.lent = None;
            self.to_kernel.push(msg);
            Ok(())
        }
        fn receive(&mut self) -> Option<FromKernel> {
            let msg = self.from_kernel.pop_front()?;
            let mut lent = crate::lent::Lent::new(self.regions);
            // SAFETY: every test keeps the data its queued messages point
            // to alive until the fake is dropped.
            unsafe { lent.hold(&msg) };
            self.lent = Some(lent);
            Some(msg)
        }
        fn lent(&self, range: Bytes) -> Result<&[u8], crate::hal::LentError> {
            self.lent.as_ref().map_or(Err(crate::hal::LentError::NotLent), |l| l.get(range))
        }
        fn fault(&mut self) -> Option<crate::fault::CpuFault> {
            self.fault.take()
        }
        fn heap_in_use(&mut self) -> Option<usize> {
            self.heap
        }
    }

    /// An engine nobody else uses.
    struct IdleEngine;

    impl Engine for IdleEngine {
        fn busy(&self, _: &Store) -> bool {
            false
        }
        fn start(&mut self, _: &mut dyn Rtio, _: &mut Store, _: Key, _: u64) -> Result<(), StoreError> {
            Err(StoreError::NotFound)
        }
        fn poll(&mut self) -> Option<PlaybackStatus> {
            None
        }
        fn finish(&mut self, _: &mut dyn Rtio, _: &mut Store) {}
        fn abandon(&mut self, _: &mut Store) {}
    }

    struct Bench {
        cpu: FakeCpu,
        rtio: FakeRtio,
        clock: FakeClock,
        store: Store,
        engine: IdleEngine,
        sent: Sent,
        config: Config,
        stats: Stats,
        budget: Budget,
    }

    impl Bench {
        fn new() -> Bench {
            Bench {
                cpu: FakeCpu::default(),
                rtio: FakeRtio::default(),
                clock: FakeClock(Cell::new(0)),
                store: Store::new(Arena::with_capacity(64 * 1024).unwrap()),
                engine: IdleEngine,
                sent: Sent::default(),
                config: Config::default(),
                stats: Stats::default(),
                budget: Budget::default(),
            }
        }

        fn ctx(&mut self) -> Ctx<'_> {
            Ctx {
                cpu: &mut self.cpu,
                rtio: &mut self.rtio,
                clock: &self.clock,
                store: &mut self.store,
                engine: &mut self.engine,
                wire: &mut self.sent,
                config: &self.config,
                stats: &mut self.stats,
                budget: &mut self.budget,
            }
        }

        fn last(&self) -> (u8, Packet<'_>) {
            let (d, f) = self.sent.0.last().expect("a packet was sent");
            (*d, f.decode().unwrap())
        }
    }

    /// Uploads, loads and starts kernel 1 for the master.
    fn running() -> (Bench, Kernels) {
        let mut b = Bench::new();
        let mut k = Kernels::new();
        k.upload(&mut b.ctx(), 1, PayloadStatus::FirstAndLast, b"image");
        assert!(matches!(b.last(), (0, Packet::SubkernelAddDataReply { succeeded: true })));
        k.load_run(&mut b.ctx(), 0, 1, true, 1234);
        assert_eq!(k.state(), KernelState::Loading(1));
        b.cpu.from_kernel.push_back(FromKernel::LoadDone);
        k.poll(&mut b.ctx());
        assert_eq!(k.state(), KernelState::Running(1));
        assert!(matches!(b.cpu.to_kernel.last(), Some(ToKernel::Start { timestamp: 1234 })));
        assert!(matches!(b.last(), (0, Packet::SubkernelLoadRunReply { succeeded: true, .. })));
        assert_eq!(b.rtio.0.last(), Some(&Initiator::Kernel));
        (b, k)
    }

    /// CPU1's heap is read after `LoadDone` and, for a kernel that ended by
    /// itself, before the teardown's restart recreates it: the only pair of
    /// figures that can show what a run leaked on CPU1.
    #[test]
    fn heap1_is_read_after_the_load_and_at_the_end_before_the_restart() {
        let mut b = Bench::new();
        b.cpu.heap = Some(0);
        let mut k = Kernels::new();
        k.upload(&mut b.ctx(), 1, PayloadStatus::FirstAndLast, b"image");
        let run = |b: &mut Bench, k: &mut Kernels| {
            k.load_run(&mut b.ctx(), 0, 1, true, 1234);
            b.cpu.heap = Some(984); // the image CPU1 loaded
            b.cpu.from_kernel.push_back(FromKernel::LoadDone);
            k.poll(&mut b.ctx());
            assert_eq!(k.state(), KernelState::Running(1));
            assert_eq!((b.stats.heap1_loaded, b.stats.heap1_ended), (Some(984), None));
        };
        // A run that frees all it allocated, then one that leaves 16 bytes.
        for (end, left) in [(984, 0), (1000, 16)] {
            run(&mut b, &mut k);
            b.cpu.heap = Some(end);
            b.cpu.from_kernel.push_back(FromKernel::Finished);
            k.poll(&mut b.ctx());
            assert_eq!(k.state(), KernelState::Idle);
            assert_eq!(b.cpu.heap, Some(0), "the teardown recreated the heap");
            assert_eq!((b.stats.heap1_loaded, b.stats.heap1_ended), (Some(984), Some(984 + left)));
        }
        // A run that raised: read with the exception CPU1 still holds.
        run(&mut b, &mut k);
        b.cpu.heap = Some(984 + 152);
        b.cpu.from_kernel.push_back(FromKernel::Exception { blob: Bytes::new(b"not parsed") });
        k.poll(&mut b.ctx());
        assert_eq!(b.stats.heap1_ended, Some(984 + 152));
        // A run CPU0 stopped: CPU1 was not waiting, nothing is read.
        run(&mut b, &mut k);
        b.cpu.heap = Some(2000);
        k.end(&mut b.ctx(), End::Reset);
        assert_eq!((b.stats.heap1_loaded, b.stats.heap1_ended), (Some(984), None));
    }

    /// Found by the `satellite` fuzz target: an exception refused by the
    /// budget was replaced by a stand-in that was kept without being
    /// admitted, taking CPU0's figures over the limit (8,302 of 8,192
    /// bytes). The stand-in must fit too, older exceptions making room.
    #[test]
    fn an_exception_over_the_budget_never_takes_cpu0_over_its_limit() {
        for others in [0, 1000 - 300, 1000 - 100] {
            let (mut b, mut k) = running();
            b.budget = Budget::new(1000);
            // Another part holds the rest of the budget.
            b.budget.set(Kind::Mgmt, others);
            let big = [0u8; 2000];
            b.cpu.from_kernel.push_back(FromKernel::Exception { blob: Bytes::new(&big) });
            k.poll(&mut b.ctx());
            assert_eq!(k.state(), KernelState::Idle);
            // What the satellite measures after every call into the part.
            k.account(&mut b.budget);
            assert!(b.budget.held() <= b.budget.limit(), "{} of {} bytes held", b.budget.held(), b.budget.limit());
            assert!(matches!(b.last(), (0, Packet::SubkernelFinished { id: 1, with_exception: true, .. })));
            // The stand-in is kept if it fits, else made when the master
            // asks: either way the master learns how large it was.
            let e = fetch_exception(&mut b, &mut k);
            assert_eq!(e.id, libksupport::exception::id::SUBKERNEL_ERROR);
            assert_eq!(e.param[..2], [1, 2000]);
            k.account(&mut b.budget);
            assert!(b.budget.held() <= b.budget.limit());
        }
    }

    #[test]
    fn a_reset_kernel_ends_once_with_an_exception_the_master_can_fetch() {
        let (mut b, mut k) = running();
        let restarts = b.cpu.restarts;
        k.end(&mut b.ctx(), End::Reset);
        assert_eq!(k.state(), KernelState::Idle);
        assert_eq!(b.cpu.restarts, restarts + 1);
        assert_eq!(b.rtio.0.last(), Some(&Initiator::Drtio));
        assert!(matches!(
            b.last(),
            (0, Packet::SubkernelFinished { destination: 0, id: 1, with_exception: true, exception_src: 5 })
        ));
        assert_eq!((b.stats.kernels_failed, b.stats.kernels_finished), (1, 0));
        // A second teardown finds nothing to end.
        let sent = b.sent.0.len();
        k.end(&mut b.ctx(), End::Reset);
        assert_eq!(b.sent.0.len(), sent);

        let mut blob = Vec::new();
        loop {
            k.exception_request(&mut b.ctx(), 0);
            let (_, Packet::SubkernelException { last, data, .. }) = b.last() else { panic!("not an exception slice") };
            blob.extend_from_slice(data);
            if last {
                break;
            }
        }
        let e = libksupport::exception::parse(&blob).unwrap();
        assert_eq!(e.message.as_deref(), Some("subkernel stopped by a reset request"));
        // Fetched: the next request gets an empty last slice.
        k.exception_request(&mut b.ctx(), 0);
        assert!(matches!(b.last(), (0, Packet::SubkernelException { last: true, data: &[], .. })));
    }

    /// Every exception slice kept for the master, parsed.
    fn fetch_exception(b: &mut Bench, k: &mut Kernels) -> libksupport::exception::ParsedException {
        let mut blob = Vec::new();
        loop {
            k.exception_request(&mut b.ctx(), 0);
            let (_, Packet::SubkernelException { last, data, .. }) = b.last() else { panic!("not an exception slice") };
            blob.extend_from_slice(data);
            if last {
                break;
            }
        }
        libksupport::exception::parse(&blob).unwrap()
    }

    #[test]
    fn a_cpu1_fault_ends_the_kernel_with_the_fault_pc_and_address() {
        use crate::fault::{CpuFault, Vector};
        let (mut b, mut k) = running();
        let restarts = b.cpu.restarts;
        let mut fault = CpuFault::classify(Vector::DataAbort, 0x0a00_0124, 0x0400_0010, 0x80D, 0..0);
        fault.image_base = 0x0a00_0000;
        fault.image_size = 0x1000;
        b.cpu.fault = Some(fault);
        k.poll(&mut b.ctx());
        assert_eq!(k.state(), KernelState::Idle);
        assert_eq!(b.cpu.restarts, restarts + 1, "CPU1 restarted by the teardown");
        assert_eq!(b.rtio.0.last(), Some(&Initiator::Drtio));
        assert!(matches!(b.last(), (0, Packet::SubkernelFinished { id: 1, with_exception: true, .. })));
        assert_eq!((b.stats.kernels_failed, b.stats.kernel_cpu_faults), (1, 1));
        let e = fetch_exception(&mut b, &mut k);
        assert_eq!(e.id, libksupport::exception::id::RUNTIME_ERROR);
        assert_eq!(e.message.as_deref(), Some(fault.message().as_str()));
        assert_eq!(e.param, [0x0a00_0124, 0x0400_0010, 0x80D]);
        // The next load works.
        k.load_run(&mut b.ctx(), 0, 1, true, 99);
        assert_eq!(k.state(), KernelState::Loading(1));
    }

    #[test]
    fn a_fault_while_loading_answers_the_load_false() {
        use crate::fault::{CpuFault, Vector};
        let mut b = Bench::new();
        let mut k = Kernels::new();
        k.upload(&mut b.ctx(), 1, PayloadStatus::FirstAndLast, b"image");
        k.load_run(&mut b.ctx(), 0, 1, false, 0);
        b.cpu.fault = Some(CpuFault::classify(Vector::UndefinedInstruction, 0x10_0000, 0, 0, 0..0));
        k.poll(&mut b.ctx());
        assert_eq!(k.state(), KernelState::Idle);
        assert!(matches!(b.last(), (0, Packet::SubkernelLoadRunReply { succeeded: false, .. })));
    }

    #[test]
    fn a_runaway_kernel_is_stopped_at_its_run_limit() {
        let (mut b, mut k) = running();
        b.config.kernel_run_limit_us = Some(2_000_000);
        b.clock.0.set(1_999_999);
        k.poll_deadlines(&mut b.ctx());
        assert_eq!(k.state(), KernelState::Running(1));
        b.clock.0.set(2_000_000);
        k.poll_deadlines(&mut b.ctx());
        assert_eq!(k.state(), KernelState::Idle);
        assert!(matches!(b.last(), (0, Packet::SubkernelFinished { id: 1, with_exception: true, .. })));
        let e = fetch_exception(&mut b, &mut k);
        assert_eq!(e.message.as_deref(), Some("kernel CPU fault: runaway kernel stopped after its run limit of 2000 ms"));
    }

    static CPU1_MEMORY: [u8; 8] = *b"cpu1 mem";

    fn cpu1_memory() -> (usize, usize) {
        let start = CPU1_MEMORY.as_ptr() as usize;
        (start, start + CPU1_MEMORY.len())
    }

    #[test]
    fn requests_lending_bytes_outside_cpu1_memory_are_refused_not_read() {
        static REGIONS: [fn() -> (usize, usize); 1] = [cpu1_memory];
        let (mut b, mut k) = running();
        b.cpu.regions = Some(&REGIONS);
        let sent = b.sent.0.len();
        let wild = Bytes::new(b"elsewhere");
        // A log line is acknowledged (the kernel goes on), not printed.
        b.cpu.from_kernel.push_back(FromKernel::Log { text: wild });
        k.poll(&mut b.ctx());
        assert!(matches!(b.cpu.to_kernel.last(), Some(ToKernel::Ack)));
        // A message is refused before anything goes on the wire.
        b.cpu.from_kernel.push_back(FromKernel::MessageSend { id: 9, destination: 2, is_return: false, data: wild });
        k.poll(&mut b.ctx());
        assert!(matches!(b.cpu.to_kernel.last(), Some(ToKernel::Error(KernelError::BadAddress))));
        assert_eq!(b.sent.0.len(), sent);
        // A cache_put with a readable key and a wild value stores nothing.
        let key = Bytes::new(&CPU1_MEMORY[..4]);
        b.cpu.from_kernel.push_back(FromKernel::CachePut { key, value: wild });
        k.poll(&mut b.ctx());
        assert!(matches!(b.cpu.to_kernel.last(), Some(ToKernel::Error(KernelError::BadAddress))));
        assert!(k.cache.is_empty());
        // The same request from inside CPU1's memory is served.
        b.cpu.from_kernel.push_back(FromKernel::CachePut { key, value: Bytes::new(&CPU1_MEMORY[4..]) });
        k.poll(&mut b.ctx());
        assert!(matches!(b.cpu.to_kernel.last(), Some(ToKernel::Ack)));
        assert_eq!(k.cache.get("cpu1").map(Vec::len), Some(1));
        assert_eq!(k.state(), KernelState::Running(1));
    }

    #[test]
    fn a_message_is_sent_one_acknowledged_slice_at_a_time() {
        let (mut b, mut k) = running();
        let data: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        b.cpu.from_kernel.push_back(FromKernel::MessageSend {
            id: 9,
            destination: 2,
            is_return: false,
            data: libksupport::msg::Bytes::new(&data),
        });
        k.poll(&mut b.ctx());
        let mut received = Vec::new();
        let mut slices = 0;
        loop {
            let (d, Packet::SubkernelMessage { source: 5, destination: 2, id: 9, status, data: slice }) = b.last() else {
                panic!("not a message slice")
            };
            assert_eq!(d, 2);
            assert_eq!(status.is_first(), slices == 0);
            received.extend_from_slice(slice);
            slices += 1;
            let last = status.is_last();
            let acks = b.cpu.to_kernel.len();
            k.message_acked(&mut b.ctx());
            if last {
                assert_eq!(b.cpu.to_kernel.len(), acks + 1, "the kernel is answered after the last slice");
                assert!(matches!(b.cpu.to_kernel.last(), Some(ToKernel::Ack)));
                break;
            }
            assert_eq!(b.cpu.to_kernel.len(), acks, "the kernel waits until the last slice");
        }
        assert!(slices > 1);
        assert_eq!(received, data);
    }
}
