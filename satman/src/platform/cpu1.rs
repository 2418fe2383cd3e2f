//! CPU1: release, run, stop, restart, and the shared state words behind
//! them.
//!
//! # Model
//!
//! CPU1 runs one function, the *CPU1 main* given to [`start`] (the kernel
//! loop, later). CPU0 controls it only through words in the `shared` region
//! and SGIs; CPU1 never takes a lock CPU0 takes and CPU0 never waits for
//! CPU1 without a deadline.
//!
//! **Kernels run with IRQs enabled on CPU1.** That is what makes them
//! stoppable: SGI 0 ([`super::gic::Sgi::Stop`]) interrupts whatever CPU1
//! runs, and the IRQ stub abandons it (see `boot.rs`). Code on CPU1 that
//! masks IRQs must do so only briefly; if it masks them and hangs, the stop
//! times out and CPU0 falls back to a hard reset (silicon) or reports CPU1
//! dead (QEMU).
//!
//! # Stop / resume protocol (generation counters)
//!
//! * CPU0, [`stop`]: `stop_req += 1`, SGI 0 to CPU1, then waits until
//!   `stop_ack == stop_req` or the deadline.
//! * CPU1, IRQ handler: if `stop_req != stop_ack`, end the interrupt and
//!   abandon the interrupted context: fresh stacks for every mode, CLREX,
//!   then [`run_or_park`] with IRQs masked.
//! * CPU1, [`run_or_park`]: publish `stop_ack = stop_req`, state
//!   [`Cpu1State::Stopped`], and sleep in WFI (acknowledging wake-up
//!   interrupts by hand, IRQs stay masked) until CPU0 sets
//!   `run_gen == stop_ack`. Then state [`Cpu1State::Running`], IRQs on, and
//!   CPU1 main is called again from the top.
//! * CPU0, [`resume`]: `run_gen = stop_req`, SGI 1 (doorbell).
//!
//! Between a successful [`stop`] and [`resume`] CPU1 touches nothing but
//! its control words and its stack: CPU0 may then reset heap1
//! ([`super::heap::reset_heap1`]) and the CPU0/CPU1 mailboxes.
//! [`restart`] is stop + resume for callers with nothing to reset.
//!
//! # Hard reset fallback
//!
//! When a stop times out, on silicon CPU0 holds CPU1 in reset through
//! SLCR A9_CPU_RST_CTRL (0xF800_0244: CPU1 reset bit 1, clock stop bit 5,
//! SLCR unlocked with 0xDF0D), releases it, and re-releases it with the
//! BootROM protocol; CPU1 comes back through `__satman_cpu1_entry` and
//! acknowledges the pending stop from [`run_or_park`]. QEMU ignores the
//! SLCR, so there the result is [`Cpu1Error::Unresponsive`] and CPU1 is
//! marked [`Cpu1State::Dead`] for good.

use super::board;
use super::cpu;
use super::gic::{self, Sgi};
use super::time::{self, Deadline};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::time::Duration;

/// Where the BootROM (silicon) and our park loop (QEMU) look for CPU1's
/// start address (Zynq TRM, "Starting code on CPU 1"). Mapped normal
/// non-cacheable by `mmu.rs`, so a write plus DSB reaches the reader, which
/// runs with its MMU off. Nothing else in 0xFFFF_FE00..0xFFFF_FFEF (the
/// BootROM's loop) is ever touched.
const CPU1_START_ADDR: *mut u32 = 0xFFFF_FFF0 as *mut u32;

/// CPU1's life cycle as seen in the shared state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpu1State {
    /// Not released yet.
    Offline = 0,
    /// Released, setting itself up.
    Booting = 1,
    /// Running CPU1 main.
    Running = 2,
    /// Acknowledged a stop; waiting for [`resume`].
    Stopped = 3,
    /// Panicked (or took a fatal exception); waiting, IRQs on, for a stop.
    Panicked = 4,
    /// Did not answer a stop or boot within its deadline and could not be
    /// reset (QEMU) or did not come back from a hard reset.
    Dead = 5,
}

/// Why a CPU1 operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpu1Error {
    /// [`start`] called twice.
    AlreadyStarted,
    /// [`stop`]/[`resume`] before [`start`].
    NotStarted,
    /// No acknowledgement before the deadline (and no working hard reset).
    Unresponsive,
    /// CPU1 was already given up on.
    Dead,
}

/// CPU0's control words. All-zero is the initial state (not released, no
/// requests), as the `.shared` region requires. In `.shared.cpu0`: CPU1
/// (and so a kernel) can read them but not write them (`mmu.rs`).
#[repr(C)]
struct Cpu0Control {
    stop_req: AtomicU32,
    run_gen: AtomicU32,
    /// CPU1 main, as a `fn() -> !` address.
    entry: AtomicUsize,
    hard_resets: AtomicU32,
    /// CPU0 released CPU1 ([`start`]).
    released: AtomicBool,
    /// CPU0 gave up on CPU1 ([`Cpu1State::Dead`]).
    dead: AtomicBool,
}

#[unsafe(link_section = ".shared.cpu0")]
static CPU0: Cpu0Control = Cpu0Control {
    stop_req: AtomicU32::new(0),
    run_gen: AtomicU32::new(0),
    entry: AtomicUsize::new(0),
    hard_resets: AtomicU32::new(0),
    released: AtomicBool::new(false),
    dead: AtomicBool::new(false),
};

/// CPU1's control words (CPU1 writes them, CPU0 reads them). All-zero is
/// the initial state.
#[repr(C)]
struct Control {
    /// CPU1's own state: [`Cpu1State::Stopped`], `Running` or `Panicked`
    /// (0 before CPU1 first wrote it).
    state: AtomicU32,
    /// Times CPU1 main was (re-)entered.
    entries: AtomicU32,
    stop_ack: AtomicU32,
    panics: AtomicU32,
    /// The running kernel's image (CPU1 sets it at `Start`), for the fault
    /// record's image-relative PC.
    image_base: AtomicU32,
    image_size: AtomicU32,
    /// The last fatal exception: fields written first, then `fault_seq`
    /// bumped (Release); CPU0 reads each record once.
    fault_seq: AtomicU32,
    fault_kind: AtomicU32,
    fault_pc: AtomicU32,
    fault_address: AtomicU32,
    fault_status: AtomicU32,
    fault_image_base: AtomicU32,
    fault_image_size: AtomicU32,
}

#[unsafe(link_section = ".shared")]
static CONTROL: Control = Control {
    state: AtomicU32::new(0),
    entries: AtomicU32::new(0),
    stop_ack: AtomicU32::new(0),
    panics: AtomicU32::new(0),
    image_base: AtomicU32::new(0),
    image_size: AtomicU32::new(0),
    fault_seq: AtomicU32::new(0),
    fault_kind: AtomicU32::new(0),
    fault_pc: AtomicU32::new(0),
    fault_address: AtomicU32::new(0),
    fault_status: AtomicU32::new(0),
    fault_image_base: AtomicU32::new(0),
    fault_image_size: AtomicU32::new(0),
};

/// The fault record CPU0 has read up to (CPU0 only).
static FAULT_SEEN: AtomicU32 = AtomicU32::new(0);

/// CPU0: the fatal exception CPU1 recorded since the last call (or the last
/// [`forget_fault`]), if any.
pub fn take_fault() -> Option<satman::fault::CpuFault> {
    let seq = CONTROL.fault_seq.load(Ordering::Acquire);
    if seq == FAULT_SEEN.swap(seq, Ordering::Relaxed) {
        return None;
    }
    Some(satman::fault::CpuFault {
        kind: satman::fault::FaultKind::from_code(CONTROL.fault_kind.load(Ordering::Relaxed))?,
        pc: CONTROL.fault_pc.load(Ordering::Relaxed),
        address: CONTROL.fault_address.load(Ordering::Relaxed),
        status: CONTROL.fault_status.load(Ordering::Relaxed),
        image_base: CONTROL.fault_image_base.load(Ordering::Relaxed),
        image_size: CONTROL.fault_image_size.load(Ordering::Relaxed),
    })
}

/// CPU0, with CPU1 stopped: a record CPU0 did not read belongs to the run
/// that was just stopped, not to the next.
pub fn forget_fault() {
    FAULT_SEEN.store(CONTROL.fault_seq.load(Ordering::Acquire), Ordering::Relaxed);
}

/// CPU1: the kernel about to run is the image `base..base + size` (0, 0:
/// none).
pub fn set_kernel_image(base: u32, size: u32) {
    CONTROL.image_base.store(base, Ordering::Relaxed);
    CONTROL.image_size.store(size, Ordering::Relaxed);
}

/// CPU1: publishes a fatal exception for CPU0 (see [`take_fault`]).
pub(super) fn record_fault(mut f: satman::fault::CpuFault) {
    f.image_base = CONTROL.image_base.load(Ordering::Relaxed);
    f.image_size = CONTROL.image_size.load(Ordering::Relaxed);
    CONTROL.fault_kind.store(f.kind.code(), Ordering::Relaxed);
    CONTROL.fault_pc.store(f.pc, Ordering::Relaxed);
    CONTROL.fault_address.store(f.address, Ordering::Relaxed);
    CONTROL.fault_status.store(f.status, Ordering::Relaxed);
    CONTROL.fault_image_base.store(f.image_base, Ordering::Relaxed);
    CONTROL.fault_image_size.store(f.image_size, Ordering::Relaxed);
    CONTROL.fault_seq.fetch_add(1, Ordering::Release);
}

/// CPU1: publishes its state (Stopped, Running, Panicked).
fn set_state(s: Cpu1State) {
    CONTROL.state.store(s as u32, Ordering::Release);
}

/// CPU0: gives up on CPU1 for good.
fn give_up() {
    CPU0.dead.store(true, Ordering::Release);
}

/// CPU1's current state: CPU0's verdict (Dead), else CPU1's own word,
/// Booting between the release and CPU1's first word.
pub fn state() -> Cpu1State {
    if CPU0.dead.load(Ordering::Acquire) {
        return Cpu1State::Dead;
    }
    match CONTROL.state.load(Ordering::Acquire) {
        2 => Cpu1State::Running,
        3 => Cpu1State::Stopped,
        4 => Cpu1State::Panicked,
        _ if CPU0.released.load(Ordering::Acquire) => Cpu1State::Booting,
        _ => Cpu1State::Offline,
    }
}

/// Counters for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu1Counters {
    /// Times CPU1 main was entered (boot + every resume).
    pub entries: u32,
    /// Last stop generation CPU1 acknowledged.
    pub stop_ack: u32,
    pub panics: u32,
    pub hard_resets: u32,
}

pub fn counters() -> Cpu1Counters {
    Cpu1Counters {
        entries: CONTROL.entries.load(Ordering::Acquire),
        stop_ack: CONTROL.stop_ack.load(Ordering::Acquire),
        panics: CONTROL.panics.load(Ordering::Relaxed),
        hard_resets: CPU0.hard_resets.load(Ordering::Relaxed),
    }
}

/// The BootROM release: publish the entry address, make it visible, wake a
/// WFE (BootROM) with SEV and a WFI (our QEMU park) with an SGI.
fn release_by_bootrom_protocol() {
    let entry = super::boot::__satman_cpu1_entry as *const () as usize as u32;
    // SAFETY: the BootROM's start word, mapped (non-cacheable) by mmu.rs
    // and written by CPU0 only.
    unsafe { CPU1_START_ADDR.write_volatile(entry) };
    aarch32_cpu::asm::dsb();
    // Our QEMU park reads the gate with its MMU off: to the point of
    // coherency. SAFETY: a word only CPU0 writes.
    let gate = &raw mut super::boot::__satman_cpu1_gate;
    // SAFETY: the gate is a word in the shared region that only CPU0 writes (CPU1's park only
    // reads it), and a volatile store cannot tear it.
    unsafe { gate.write_volatile(super::boot::CPU1_GATE_OPEN) };
    super::cache::clean_range(gate as usize, 4);
    aarch32_cpu::asm::sev();
    gic::send_sgi(1, Sgi::Doorbell);
}

/// Releases CPU1 into `main` and waits until it runs, or `deadline`.
/// CPU0, once.
pub fn start(main: fn() -> !, deadline: Deadline) -> Result<(), Cpu1Error> {
    if state() != Cpu1State::Offline {
        return Err(Cpu1Error::AlreadyStarted);
    }
    CPU0.entry.store(main as usize, Ordering::Release);
    CPU0.released.store(true, Ordering::Release);
    release_by_bootrom_protocol();
    match time::wait_until(deadline, || CONTROL.entries.load(Ordering::Acquire) > 0) {
        Ok(()) => Ok(()),
        Err(_) => {
            give_up();
            Err(Cpu1Error::Unresponsive)
        }
    }
}

/// Stops CPU1 (see the module docs). On success CPU1 is parked in
/// [`Cpu1State::Stopped`] until [`resume`]. On timeout tries the hard reset
/// fallback where the board has one, else marks CPU1 dead.
pub fn stop(deadline: Deadline) -> Result<(), Cpu1Error> {
    match state() {
        Cpu1State::Offline => return Err(Cpu1Error::NotStarted),
        Cpu1State::Dead => return Err(Cpu1Error::Dead),
        _ => {}
    }
    let generation = CPU0.stop_req.load(Ordering::Relaxed).wrapping_add(1);
    CPU0.stop_req.store(generation, Ordering::Release);
    gic::send_sgi(1, Sgi::Stop);
    let acked = || CONTROL.stop_ack.load(Ordering::Acquire) == generation;
    if time::wait_until(deadline, acked).is_ok() {
        return Ok(());
    }
    log::error!("cpu1: no acknowledgement of stop #{generation} (IRQs masked or hung?)");
    if board::CPU1_HARD_RESET {
        log::warn!("cpu1: hard reset through SLCR");
        hard_reset();
        let retry = Deadline::after(Duration::from_millis(100));
        if time::wait_until(retry, acked).is_ok() {
            return Ok(());
        }
        log::error!("cpu1: did not come back from hard reset");
    }
    give_up();
    Err(Cpu1Error::Unresponsive)
}

/// CPU1 runs no code that touches heap1 or the mailboxes: it was never
/// released, or it acknowledged the latest stop and has not been resumed
/// (it waits in `run_or_park`).
pub fn is_parked() -> bool {
    if state() == Cpu1State::Offline {
        return true;
    }
    let req = CPU0.stop_req.load(Ordering::Acquire);
    CONTROL.stop_ack.load(Ordering::Acquire) == req && CPU0.run_gen.load(Ordering::Acquire) != req
}

/// Lets a stopped CPU1 enter its main function again.
pub fn resume() -> Result<(), Cpu1Error> {
    match state() {
        Cpu1State::Offline => return Err(Cpu1Error::NotStarted),
        Cpu1State::Dead => return Err(Cpu1Error::Dead),
        _ => {}
    }
    CPU0.run_gen.store(CPU0.stop_req.load(Ordering::Relaxed), Ordering::Release);
    gic::send_sgi(1, Sgi::Doorbell);
    Ok(())
}

/// Stops CPU1 and lets it re-enter its main function on a fresh stack.
/// Waits for the acknowledgement until `deadline` (see [`stop`]). Whoever
/// needs heap1 or the mailboxes reset calls [`stop`], resets, then
/// [`resume`] instead.
pub fn restart(deadline: Deadline) -> Result<(), Cpu1Error> {
    stop(deadline)?;
    resume()
}

/// Wakes CPU1 if it sleeps in [`wait_for_event`] (after a mailbox send).
pub fn notify() {
    if state() == Cpu1State::Running {
        gic::send_sgi(1, Sgi::Doorbell);
    }
}

/// The Zynq's side of [`satman::cpu1_reset::ResetOps`]; runs with the
/// SLCR unlocked.
struct SiliconReset;

impl satman::cpu1_reset::ResetOps for SiliconReset {
    fn cpu1_reset(&mut self, asserted: bool) {
        // SAFETY: the PAC's fixed SLCR reset block; CPU0 is its only user.
        let mut rst = unsafe { zynq7000::slcr::reset::ResetControl::new_mmio_fixed() };
        rst.modify_a9_cpu(|v| v.with_cpu1_reset(asserted));
    }
    fn cpu1_clock_stop(&mut self, stopped: bool) {
        // SAFETY: as above.
        let mut rst = unsafe { zynq7000::slcr::reset::ResetControl::new_mmio_fixed() };
        rst.modify_a9_cpu(|v| v.with_cpu1_clockstop(stopped));
    }
    fn write_word(&mut self, addr: u32, value: u32) {
        // Address 0 is the OCM on silicon (mapped by CPU0's first DDR
        // section); a Rust pointer to 0 would be null, hence the asm.
        // SAFETY: a store to the low OCM/DDR, which nothing of satman uses.
        unsafe { core::arch::asm!("str {v}, [{a}]", v = in(reg) value, a = in(reg) addr, options(nostack, preserves_flags)) };
    }
    fn clean_to_poc(&mut self, addr: u32, len: u32) {
        super::cache::clean_range(addr as usize, len as usize);
    }
    fn scu_invalidate_cpu1_tags(&mut self) {
        super::cache::invalidate_scu_tags_of_cpu1();
    }
}

/// Hard reset of CPU1 through SLCR A9_CPU_RST_CTRL (Zynq TRM), with the
/// reset vector CPU1 fetches at 0 and its SCU tags invalidated
/// ([`satman::cpu1_reset`]); then the BootROM release as well. Silicon only
/// (see [`board::CPU1_HARD_RESET`]).
fn hard_reset() {
    CPU0.hard_resets.fetch_add(1, Ordering::Relaxed);
    // CPU1's own state word, cleared while CPU1 is held in reset: Booting
    // (released) until it writes it again.
    CONTROL.state.store(0, Ordering::Release);
    let entry = super::boot::__satman_cpu1_entry as *const () as usize as u32;
    super::slcr::with_unlocked(|| satman::cpu1_reset::hard_reset(&mut SiliconReset, entry));
    release_by_bootrom_protocol();
}

// ---------------------------------------------------------------- CPU1 side

/// True if CPU0 asked for a stop CPU1 has not acknowledged yet (CPU1's
/// IRQ handler uses it to tell a real stop from a stale SGI 0).
pub(super) fn stop_requested() -> bool {
    CPU0.stop_req.load(Ordering::Acquire) != CONTROL.stop_ack.load(Ordering::Relaxed)
}

#[unsafe(link_section = ".cpu1")]
static CPU1_PANICKING: AtomicBool = AtomicBool::new(false);

/// CPU1's first Rust code (from `__satman_cpu1_entry`): MMU off, IRQs
/// masked, stacks set.
#[unsafe(no_mangle)]
extern "C" fn __satman_cpu1_rust() -> ! {
    // SAFETY: CPU1's first code, MMU off, after CPU0 built the tables (it releases CPU1 only after
    // `mmu::build_table`), which is `enable`'s contract.
    // CPU1's banked distributor registers first, with the MMU still off:
    // CPU1's table keeps the distributor out of its reach (`mmu.rs`).
    gic::init_cpu_interface();
    // SAFETY: as above.
    unsafe { super::mmu::enable() };
    run_or_park()
}

/// CPU1 after abandoning a context on a stop request (from the IRQ stub).
#[unsafe(no_mangle)]
extern "C" fn __satman_cpu1_restarted() -> ! {
    run_or_park()
}

/// Acknowledges pending stops and waits for permission to run, then calls
/// CPU1 main. IRQs masked on entry. Never returns.
fn run_or_park() -> ! {
    cpu::mask_irqs();
    loop {
        let req = CPU0.stop_req.load(Ordering::Acquire);
        if CONTROL.stop_ack.load(Ordering::Relaxed) != req {
            set_state(Cpu1State::Stopped);
            CONTROL.stop_ack.store(req, Ordering::Release);
        }
        if CPU0.run_gen.load(Ordering::Acquire) == req {
            break;
        }
        set_state(Cpu1State::Stopped);
        cpu::wfi();
        // IRQs are masked: take whatever woke us off the GIC by hand so the
        // next WFI sleeps (the loop re-reads the words anyway).
        gic::ack_pending();
    }
    CPU1_PANICKING.store(false, Ordering::Relaxed);
    set_kernel_image(0, 0);
    set_state(Cpu1State::Running);
    CONTROL.entries.fetch_add(1, Ordering::AcqRel);
    let entry = CPU0.entry.load(Ordering::Acquire);
    // SAFETY: `entry` was stored by `start` from a `fn() -> !` (Release, read here with Acquire),
    // so transmuting it back yields that same function pointer.
    let main: fn() -> ! = unsafe { core::mem::transmute::<usize, fn() -> !>(entry) };
    // SAFETY: CPU1 main's entry: not inside `irq_free` nor a handler (`run_or_park` is called from
    // the entry and the stop path, both in thread context).
    unsafe { cpu::unmask_irqs() };
    main()
}

/// Sleeps until an interrupt (typically the doorbell after a mailbox send,
/// or a stop). CPU1 main's idle wait; IRQs must be enabled.
pub fn wait_for_event() {
    cpu::wfi();
}

/// CPU1's end after a panic: counted, state [`Cpu1State::Panicked`], then
/// sleeps with IRQs enabled so that a stop from CPU0 can still restart it.
pub(super) fn panic_park() -> ! {
    CPU1_PANICKING.store(true, Ordering::Relaxed);
    CONTROL.panics.fetch_add(1, Ordering::Relaxed);
    set_state(Cpu1State::Panicked);
    // SAFETY: as above: the park after a panic runs in thread context, so unmasking lets a stop
    // SGI in.
    unsafe { cpu::unmask_irqs() };
    loop {
        cpu::wfi();
    }
}

/// True if the calling CPU1 is already handling a panic (a nested panic).
pub(super) fn cpu1_panicking() -> bool {
    CPU1_PANICKING.load(Ordering::Relaxed)
}

/// CPU1 marks itself as handling a fatal exception; true if it already was
/// (a fault inside the fault path: go straight to [`panic_park`]).
pub(super) fn cpu1_enter_fault() -> bool {
    CPU1_PANICKING.swap(true, Ordering::Relaxed)
}
