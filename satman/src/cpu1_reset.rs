//! The hard reset of a wedged CPU1 on silicon (issue 8 item 8), as a
//! sequence over [`ResetOps`] so that it runs against a host model of the
//! SLCR, the OCM and the caches ([`tests`]).
//!
//! After `SLCR.A9_CPU_RST_CTRL` releases CPU1 from reset it does not go
//! back to the BootROM's wait loop: it fetches its reset vector at address
//! 0 (the OCM, mapped low after the BootROM) with its MMU and caches off.
//! So, in order:
//!
//! 1. CPU1 is held in reset with its clock stopped;
//! 2. a vector table is written at 0 whose every entry loads the PC from a
//!    literal pool right after it ([`vector_words`]): the entry CPU0 wants;
//! 3. those words are cleaned to the point of coherency, L1 *and* L2 (CPU1
//!    reads memory, not CPU0's caches);
//! 4. CPU1's SCU duplicate tags are invalidated: they describe the L1 it
//!    had before the reset, and the SCU would otherwise snoop lines CPU1 no
//!    longer holds once its D-cache comes back on;
//! 5. reset released, then the clock started.
//!
//! QEMU does not model A9_CPU_RST_CTRL (writes are stored, no CPU is
//! reset), so there the firmware reports CPU1 dead instead; this sequence
//! is tested only against the model below.

/// What the hard reset needs from the hardware.
pub trait ResetOps {
    /// Holds CPU1 in reset (`true`) or releases it.
    fn cpu1_reset(&mut self, asserted: bool);
    /// Stops (`true`) or starts CPU1's clock.
    fn cpu1_clock_stop(&mut self, stopped: bool);
    /// A word written by CPU0 (through its caches).
    fn write_word(&mut self, addr: u32, value: u32);
    /// Cleans `addr..addr + len` from L1 and L2 to the point of coherency.
    fn clean_to_poc(&mut self, addr: u32, len: u32);
    /// SCU Invalidate All Registers in Secure State for CPU1's four ways.
    fn scu_invalidate_cpu1_tags(&mut self);
}

/// `LDR PC, [PC, #24]`: PC reads as the instruction's address + 8, so the
/// entry at 4n loads the literal at 4n + 32.
const LDR_PC_PLUS_24: u32 = 0xE59F_F018;

/// Number of vectors (reset .. FIQ).
pub const VECTORS: usize = 8;

/// The table at address 0: eight `LDR PC, [PC, #24]`, then eight literals
/// holding `entry`. Every vector goes to `entry`, so whatever CPU1 takes
/// before its own VBAR is set lands in the same start-up code.
pub fn vector_words(entry: u32) -> [u32; 2 * VECTORS] {
    let mut w = [entry; 2 * VECTORS];
    w[..VECTORS].fill(LDR_PC_PLUS_24);
    w
}

/// The sequence of the module docs; the caller then releases CPU1 by the
/// BootROM protocol as well (harmless if CPU1 starts at 0).
pub fn hard_reset(ops: &mut impl ResetOps, entry: u32) {
    ops.cpu1_reset(true);
    ops.cpu1_clock_stop(true);
    for (i, w) in vector_words(entry).iter().enumerate() {
        ops.write_word(4 * i as u32, *w);
    }
    ops.clean_to_poc(0, (8 * VECTORS) as u32);
    ops.scu_invalidate_cpu1_tags();
    ops.cpu1_reset(false);
    ops.cpu1_clock_stop(false);
}

#[cfg(test)]
mod tests {
    //! A model of what matters on silicon: CPU0's write-back caches in front
    //! of memory, CPU1's stale SCU tags, and CPU1 fetching its reset vector
    //! from memory when it leaves reset with its clock running.

    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    #[derive(Default)]
    struct Model {
        /// Memory at the point of coherency.
        memory: BTreeMap<u32, u32>,
        /// Lines dirty in CPU0's L1/L2, not yet in memory.
        dirty: BTreeMap<u32, u32>,
        in_reset: bool,
        clock_stopped: bool,
        /// CPU1's SCU tags describe its pre-reset L1.
        stale_tags: bool,
        /// Where CPU1 went when it left reset, and whether its tags were
        /// clean then.
        started: Vec<(u32, bool)>,
    }

    impl Model {
        fn wedged() -> Model {
            // Whatever the OCM held at 0 before (the FSBL's code).
            let mut m = Model { stale_tags: true, ..Model::default() };
            m.memory.insert(0, 0xEAFF_FFFE); // b .
            m
        }

        fn read(&self, addr: u32) -> u32 {
            self.memory.get(&addr).copied().unwrap_or(0)
        }

        /// CPU1 runs from reset: fetch at 0, execute one `LDR PC, [PC, #24]`.
        fn cpu1_runs(&mut self) {
            let insn = self.read(0);
            let pc = if insn == LDR_PC_PLUS_24 { self.read(32) } else { 0 };
            self.started.push((pc, !self.stale_tags));
        }
    }

    impl ResetOps for Model {
        fn cpu1_reset(&mut self, asserted: bool) {
            let was = self.in_reset;
            self.in_reset = asserted;
            if was && !asserted && !self.clock_stopped {
                self.cpu1_runs();
            }
        }
        fn cpu1_clock_stop(&mut self, stopped: bool) {
            let was = self.clock_stopped;
            self.clock_stopped = stopped;
            if was && !stopped && !self.in_reset {
                self.cpu1_runs();
            }
        }
        fn write_word(&mut self, addr: u32, value: u32) {
            self.dirty.insert(addr, value);
        }
        fn clean_to_poc(&mut self, addr: u32, len: u32) {
            let cleaned: Vec<u32> = self.dirty.range(addr..addr + len).map(|(a, _)| *a).collect();
            for a in cleaned {
                let v = self.dirty.remove(&a).unwrap();
                self.memory.insert(a, v);
            }
        }
        fn scu_invalidate_cpu1_tags(&mut self) {
            assert!(self.in_reset, "CPU1's tags invalidated while its L1 may be live");
            self.stale_tags = false;
        }
    }

    #[test]
    fn cpu1_comes_back_at_the_entry_with_clean_tags() {
        let mut m = Model::wedged();
        hard_reset(&mut m, 0x0010_0400);
        assert_eq!(m.started, [(0x0010_0400, true)]);
    }

    #[test]
    fn without_the_clean_cpu1_runs_what_the_ocm_held() {
        // The same sequence minus step 3: CPU1 would fetch the old word.
        struct NoClean(Model);
        impl ResetOps for NoClean {
            fn cpu1_reset(&mut self, a: bool) {
                self.0.cpu1_reset(a)
            }
            fn cpu1_clock_stop(&mut self, s: bool) {
                self.0.cpu1_clock_stop(s)
            }
            fn write_word(&mut self, addr: u32, value: u32) {
                self.0.write_word(addr, value)
            }
            fn clean_to_poc(&mut self, _: u32, _: u32) {}
            fn scu_invalidate_cpu1_tags(&mut self) {
                self.0.scu_invalidate_cpu1_tags()
            }
        }
        let mut m = NoClean(Model::wedged());
        hard_reset(&mut m, 0x0010_0400);
        assert_eq!(m.0.started, [(0, true)], "the model must catch a missing clean");
    }

    #[test]
    fn the_vector_table_loads_the_entry_from_its_literal_pool() {
        let w = vector_words(0x1234_5678);
        for i in 0..VECTORS {
            // LDR (literal), U=1, Rt=PC, imm12 = 24: address 4i + 8 + 24.
            assert_eq!(w[i], LDR_PC_PLUS_24);
            assert_eq!(w[(4 * i + 8 + 24) / 4], 0x1234_5678);
        }
    }
}
