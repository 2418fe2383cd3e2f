//! The few gateware CSRs the board start-up touches, as a trait with one
//! method per register access, so the firmware passes its generated CSR
//! accessors and the tests pass the board model.
//!
//! Before `stable_clkin` the CSR bus runs on the bootstrap clock and
//! every access works. From the write of `stable_clkin` until the clock
//! switch completes (Si5324 locked, transceiver TX initialised), the
//! sys domain is held in reset and an access stalls CPU0 for good: the
//! start-up makes none in that window.

/// `identifier`, `gt_drtio` and `sys_crg`.
pub trait BoardCsr {
    /// `identifier.address`.
    fn write_identifier_address(&mut self, address: u8);
    /// `identifier.data`: the byte at the address last written (byte 0
    /// is the length of the string that follows).
    fn read_identifier_data(&mut self) -> u8;
    /// `gt_drtio.stable_clkin`: 1 tells the clock-switch FSM the
    /// transceivers' reference clock is stable.
    fn write_stable_clkin(&mut self, value: u32);
    /// `sys_crg.current_clock`: 1 once sys runs on the transceiver clock.
    fn read_current_clock(&mut self) -> u32;
    /// `gt_drtio.txenable`: one bit per transceiver.
    fn write_txenable(&mut self, mask: u32);
}

impl<C: BoardCsr + ?Sized> BoardCsr for &mut C {
    fn write_identifier_address(&mut self, address: u8) {
        (**self).write_identifier_address(address)
    }
    fn read_identifier_data(&mut self) -> u8 {
        (**self).read_identifier_data()
    }
    fn write_stable_clkin(&mut self, value: u32) {
        (**self).write_stable_clkin(value)
    }
    fn read_current_clock(&mut self) -> u32 {
        (**self).read_current_clock()
    }
    fn write_txenable(&mut self, mask: u32) {
        (**self).write_txenable(mask)
    }
}
