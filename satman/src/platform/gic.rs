//! The GIC (PL390-compatible, 96 interrupts) of the Cortex-A9 MPCore:
//! distributor at 0xF8F0_1000, per-CPU interfaces at 0xF8F0_0100 (banked:
//! each CPU sees its own). Register access through the `zynq7000` PAC.
//!
//! Interrupt use:
//! * SGI 0 ([`Sgi::Stop`]): CPU0 asks CPU1 to abandon what it runs and
//!   restart (see [`super::cpu1`]).
//! * SGI 1 ([`Sgi::Doorbell`]): "look at your mailbox / release word"; the
//!   handler does nothing, its only effect is to end a WFI.
//! * Shared peripheral interrupts: all routed to CPU0, disabled until a
//!   handler is registered with [`register`].
//!
//! Everything runs in the secure world, group 0; FIQ is not used.

use core::sync::atomic::{AtomicUsize, Ordering};
use zynq7000::gic::{
    CpuInterfaceRegisters, DistributorRegisters, InterruptProcessorTargetRegister,
    MmioCpuInterfaceRegisters, MmioDistributorRegisters, SoftwareGeneratedInterruptRegister,
    TargetListFilter,
};

/// Number of interrupt ids the Zynq's GIC implements.
pub const NUM_IRQS: usize = 96;
/// Id the CPU interface returns when nothing is pending.
const SPURIOUS: u16 = 1023;
/// Priority mask: interrupts with a priority value below this are signalled.
const PRIORITY_MASK: u8 = 0xF0;
/// Priority of SGIs (higher urgency than peripherals).
const SGI_PRIORITY: u8 = 0x80;
/// Priority of peripheral interrupts.
const SPI_PRIORITY: u8 = 0xA0;

/// Software-generated interrupts used between the CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sgi {
    /// Stop CPU1's current work and restart its main function.
    Stop = 0,
    /// Wake-up only.
    Doorbell = 1,
}

fn gicd() -> MmioDistributorRegisters<'static> {
    // SAFETY: the GIC distributor's fixed MPCore address; the PAC's accessors are volatile, CPU0
    // configures it and CPU1 only touches its banked SGI/PPI words.
    unsafe { DistributorRegisters::new_mmio_fixed() }
}

fn gicc() -> MmioCpuInterfaceRegisters<'static> {
    // SAFETY: the GIC CPU interface is banked per CPU at this fixed address, so each CPU reaches
    // only its own.
    unsafe { CpuInterfaceRegisters::new_mmio_fixed() }
}

/// Sets up the distributor. CPU0 only, once, IRQs masked, before CPU1 is
/// released. Leaves every SPI disabled and targeted at CPU0.
pub fn init_distributor() {
    let mut d = gicd();
    d.write_dcr(zynq7000::gic::DistributorControlRegister::new_with_raw_value(0));
    // SPIs (ids 32..96): disabled, not pending, CPU0, level-triggered.
    for i in 1..NUM_IRQS / 32 {
        let _ = d.write_icer(i, 0xFFFF_FFFF);
        let _ = d.write_icpr(i, 0xFFFF_FFFF);
    }
    let spi_prio = u32::from_ne_bytes([SPI_PRIORITY; 4]);
    for i in 8..NUM_IRQS / 4 {
        let _ = d.write_ipr(i, spi_prio);
    }
    for i in 0..(NUM_IRQS - 32) / 4 {
        let _ = d.write_iptr_spi(
            i,
            InterruptProcessorTargetRegister::new_with_raw_value(0x0101_0101),
        );
    }
    d.write_dcr(zynq7000::gic::DistributorControlRegister::new_with_raw_value(1));
    aarch32_cpu::asm::dsb();
}

/// Sets up the calling CPU's interface and its banked SGI/PPI state: SGIs
/// enabled at [`SGI_PRIORITY`], PPIs disabled. Each CPU calls it for itself;
/// CPU1 before its MMU is on, since its translation table does not map the
/// distributor (`mmu.rs`). CPU1 touches the distributor nowhere else.
pub fn init_cpu_interface() {
    let mut d = gicd();
    // Banked per CPU: ICDICER0/ICDISER0 and ICDIPR0..7.
    let _ = d.write_icer(0, 0xFFFF_0000); // PPIs off
    let _ = d.write_iser(0, 0x0000_FFFF); // SGIs on
    let sgi_prio = u32::from_ne_bytes([SGI_PRIORITY; 4]);
    for i in 0..4 {
        let _ = d.write_ipr(i, sgi_prio);
    }
    let mut c = gicc();
    c.write_pmr(zynq7000::gic::PriorityRegister::new_with_raw_value(
        PRIORITY_MASK as u32,
    ));
    c.write_bpr(0);
    c.write_icr(zynq7000::gic::InterfaceControl::new_with_raw_value(1));
    aarch32_cpu::asm::dsb();
}

/// Raises `sgi` on CPU `target` (0 or 1). The DSB first makes every write
/// before it visible to the target before the interrupt arrives.
pub fn send_sgi(target: usize, sgi: Sgi) {
    aarch32_cpu::asm::dsb();
    gicd().write_sgir(
        SoftwareGeneratedInterruptRegister::new_with_raw_value(0)
            .with_target_list_filter(TargetListFilter::SendToCpusInTargetList)
            .with_cpu_target_list(1 << target)
            .with_interrupt_id(arbitrary_int::u4::new(sgi as u8)),
    );
}

/// Handlers of CPU0's interrupts, as `fn()` addresses (0 = none).
static HANDLERS: [AtomicUsize; NUM_IRQS] = [const { AtomicUsize::new(0) }; NUM_IRQS];

/// Registers `handler` for peripheral interrupt `irq` (32..96) and enables
/// it, targeted at CPU0. Handlers run on CPU0 in IRQ mode with IRQs masked;
/// they must be short, must not wait and must not allocate (an allocation
/// that interrupts one in progress on CPU0 fails rather than deadlock).
pub fn register(irq: usize, handler: fn()) {
    assert!(
        (32..NUM_IRQS).contains(&irq),
        "not a shared peripheral interrupt: {irq}"
    );
    HANDLERS[irq].store(handler as usize, Ordering::Release);
    let _ = gicd().write_iser(irq / 32, 1 << (irq % 32));
}

/// Disables peripheral interrupt `irq` and forgets its handler.
pub fn unregister(irq: usize) {
    if (32..NUM_IRQS).contains(&irq) {
        let _ = gicd().write_icer(irq / 32, 1 << (irq % 32));
        HANDLERS[irq].store(0, Ordering::Release);
    }
}

/// Acknowledges and ends whatever interrupts are pending on this CPU,
/// without handling them. For code that sleeps in WFI with IRQs masked
/// (CPU1's park): a pending interrupt would otherwise end every WFI at once.
pub fn ack_pending() {
    let mut c = gicc();
    for _ in 0..NUM_IRQS {
        let iar = c.read_iar();
        if iar.ack_int_id().value() == SPURIOUS {
            break;
        }
        c.write_eoir(iar);
    }
}

/// What the IRQ stub should do after [`dispatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqOutcome {
    Resume,
    /// CPU1 only: abandon the interrupted context and restart.
    AbandonAndRestart,
}

/// Acknowledges and handles one interrupt (called from the IRQ stub).
pub fn dispatch() -> IrqOutcome {
    let mut c = gicc();
    let iar = c.read_iar();
    let id = iar.ack_int_id().value();
    if id == SPURIOUS {
        return IrqOutcome::Resume;
    }
    let mut outcome = IrqOutcome::Resume;
    match (super::cpu::current(), id) {
        (super::cpu::Cpu::Cpu1, 0) => {
            if super::cpu1::stop_requested() {
                outcome = IrqOutcome::AbandonAndRestart;
            }
        }
        (_, id) if id < 16 => {} // doorbell or stale SGI: waking was the point
        (_, id) => {
            let h = HANDLERS[id as usize].load(Ordering::Acquire);
            if h != 0 {
                // SAFETY: `HANDLERS` holds only 0 or values `register` stored from a `fn()`, so a
                // non-zero entry transmutes back to that function pointer.
                let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(h) };
                f();
            } else {
                super::stats::UNHANDLED_IRQS.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // End of interrupt before a possible abandon: an un-EOI'd SGI would keep
    // the CPU interface's running priority raised and block the next one.
    c.write_eoir(iar);
    outcome
}

/// Rust half of the IRQ vector (see `boot.rs`): 0 = return to the
/// interrupted code, 1 = abandon it (CPU1 restart).
#[unsafe(no_mangle)]
extern "C" fn __satman_irq_rust() -> u32 {
    match dispatch() {
        IrqOutcome::Resume => 0,
        IrqOutcome::AbandonAndRestart => 1,
    }
}
