//! The kernel CPU: CPU0's handle on it ([`Cpu1Link`], the satellite core's
//! `KernelCpu`) and what runs on CPU1 ([`cpu1_main`]: load a kernel ELF, run
//! it on the kernel-side runtime, report).
//!
//! The two CPUs share two mailboxes in the `shared` region and nothing else
//! but the memory CPU0 lends (kernel images, messages, DMA leases). CPU1
//! allocates only from heap1, which CPU0 resets while CPU1 is stopped, so a
//! restart can never leak or wedge anything: stop CPU1 (bounded), reset
//! heap1 and the mailboxes, let it run its main again from the top.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;

use libksupport::abi;
use libksupport::api;
use libksupport::eh::target as eh;
use libksupport::loader::Kernel;
use libksupport::mailbox::{Consumer, Mailbox, Producer, ReadIndex, Ring};
use libksupport::msg::{Bytes, FromKernel, ToKernel};
use libksupport::runtime::{KernelHost, RtioInput, RtioStatus, Runtime};
use satman::hal::{CpuError, KernelCpu, LentError};
use satman::lent::Lent;

use crate::board;
use crate::platform::{boot, cache, cpu1, heap, mmu, time, Instant};

// The mailboxes' halves: what CPU0 writes (`.shared.cpu0`) is read-only for
// CPU1 (platform/mmu.rs), what CPU1 writes is in the rest of `.shared`.
#[unsafe(link_section = ".shared.cpu0")]
static TO_KERNEL_RING: Ring<ToKernel, 4> = Ring::new();
#[unsafe(link_section = ".shared")]
static TO_KERNEL_READ: ReadIndex = ReadIndex::new();
#[unsafe(link_section = ".shared")]
static FROM_KERNEL_RING: Ring<FromKernel, 4> = Ring::new();
#[unsafe(link_section = ".shared.cpu0")]
static FROM_KERNEL_READ: ReadIndex = ReadIndex::new();

static TO_KERNEL: Mailbox<'static, ToKernel, 4> = Mailbox::new(&TO_KERNEL_RING, &TO_KERNEL_READ);
static FROM_KERNEL: Mailbox<'static, FromKernel, 4> = Mailbox::new(&FROM_KERNEL_RING, &FROM_KERNEL_READ);

/// Global timer ticks when CPU0 sent the last `Start`, for the
/// call-to-start latency CPU1 logs when the kernel's entry is reached.
#[unsafe(link_section = ".shared.cpu0")]
static START_SENT: AtomicU64 = AtomicU64::new(0);

/// CPU0 took its handles ([`Cpu1Link::new`]).
static CPU0_ENDS_TAKEN: AtomicBool = AtomicBool::new(false);

/// CPU1's handles, taken afresh each time CPU1 main starts ([`cpu1_ends`]).
struct Cpu1Ends {
    from_cpu0: Consumer<'static, ToKernel, 4>,
    to_cpu0: Producer<'static, FromKernel, 4>,
}

#[unsafe(link_section = ".cpu1")]
static CPU1_ENDS: spin::Mutex<Option<Cpu1Ends>> = spin::Mutex::new(None);

/// CPU1 main's start: takes CPU1's mailbox handles. A stop may have
/// abandoned the previous run while it held them (and the lock).
fn take_cpu1_ends() {
    // SAFETY: CPU1 main's first code after a (re)start: whatever held the lock ran on CPU1 and
    // was abandoned by the stop, so nothing uses it now.
    unsafe { CPU1_ENDS.force_unlock() };
    // SAFETY: CPU1's handles of the previous run were abandoned with it (CPU1 restarts from the
    // top) and CPU0 reset both mailboxes while CPU1 was stopped; CPU0 holds the other ends.
    let ends = unsafe { Cpu1Ends { from_cpu0: TO_KERNEL.consumer(), to_cpu0: FROM_KERNEL.producer() } };
    *CPU1_ENDS.lock() = Some(ends);
}

/// CPU1's handles (taken by [`take_cpu1_ends`] before any use).
fn cpu1_ends() -> spin::MutexGuard<'static, Option<Cpu1Ends>> {
    CPU1_ENDS.lock()
}

/// How long CPU1 gets to acknowledge a stop before it counts as stuck.
const STOP_TIMEOUT: Duration = crate::platform::board::CPU1_STOP_TIMEOUT;

/// The memory CPU1 can lend CPU0 a byte range from: its heap (kernel
/// images, the runtime's buffers), its stack, the shared region, and the
/// firmware's read-only data (the runtime's own messages).
static CPU1_LENDS_FROM: [fn() -> (usize, usize); 4] = [
    || span(boot::regions::heap1()),
    || span(boot::regions::stack1()),
    || span(boot::regions::shared()),
    || span(boot::regions::code()),
];

fn span(r: boot::Region) -> (usize, usize) {
    (r.start, r.end)
}

/// CPU0's side.
pub struct Cpu1Link {
    lent: Lent,
    to_cpu1: Producer<'static, ToKernel, 4>,
    from_cpu1: Consumer<'static, FromKernel, 4>,
}

impl Cpu1Link {
    /// CPU0, once (a second call panics): holds CPU0's mailbox handles.
    pub fn new() -> Cpu1Link {
        assert!(!CPU0_ENDS_TAKEN.swap(true, Ordering::Relaxed), "Cpu1Link::new called twice");
        // SAFETY: CPU0's handles, taken once (checked just above) and kept for good; CPU1 takes
        // the other ends.
        let (to_cpu1, from_cpu1) = unsafe { (TO_KERNEL.producer(), FROM_KERNEL.consumer()) };
        Cpu1Link { lent: Lent::new(Some(&CPU1_LENDS_FROM)), to_cpu1, from_cpu1 }
    }
}

impl KernelCpu for Cpu1Link {
    fn restart(&mut self) -> Result<(), CpuError> {
        cpu1::stop(Instant::after(STOP_TIMEOUT)).map_err(|e| {
            log::error!("kernel CPU did not stop: {:?}", e);
            CpuError::Unresponsive
        })?;
        self.lent.release();
        // CPU1 touches nothing now: its heap and the mailboxes start afresh,
        // a lease it held is no longer writable, an unread fault record was
        // the stopped run's.
        mmu::unmap_lease();
        cpu1::forget_fault();
        heap::reset_heap1();
        // SAFETY: CPU1 is stopped (not inside a mailbox operation) and takes fresh handles when
        // it resumes; CPU0's handles are not in use during this call.
        unsafe {
            TO_KERNEL.reset();
            FROM_KERNEL.reset();
        }
        cpu1::resume().map_err(|_| CpuError::Unresponsive)
    }

    fn send(&mut self, msg: ToKernel) -> Result<(), CpuError> {
        // CPU1 may free what it lent as soon as it sees the reply.
        self.lent.release();
        if matches!(msg, ToKernel::Start { .. }) {
            START_SENT.store(time::ticks(), Ordering::Release);
        }
        if let ToKernel::Lease(lease) = msg {
            // CPU1 waits for this reply: the window is writable before it
            // can use it.
            mmu::map_lease(lease.ptr as usize, lease.cap);
        }
        self.to_cpu1.try_send(msg).map_err(|_| CpuError::MailboxFull)?;
        cpu1::notify();
        Ok(())
    }

    fn receive(&mut self) -> Option<FromKernel> {
        let msg = self.from_cpu1.try_recv()?;
        if matches!(msg, FromKernel::DmaRecordStop { .. } | FromKernel::DmaRecordGrow { .. }) {
            // The recording is handed back (or is about to be moved): CPU1
            // waits for the reply and writes the lease no more.
            mmu::unmap_lease();
        }
        // SAFETY: CPU1 keeps a request's ranges unchanged while it waits for
        // the reply, and a `LoadFailed`/`Exception`'s until it is restarted
        // (`libksupport::msg`); `send` and `restart` release them first.
        // `Lent` reads only ranges inside CPU1's memory.
        unsafe { self.lent.hold(&msg) };
        Some(msg)
    }

    fn lent(&self, range: Bytes) -> Result<&[u8], LentError> {
        self.lent.get(range)
    }

    fn fault(&mut self) -> Option<satman::fault::CpuFault> {
        cpu1::take_fault()
    }

    fn heap_in_use(&mut self) -> Option<usize> {
        // heap1's counters as CPU1 last mirrored them: exact when CPU1 is
        // not inside its allocator, which is when the kernel manager asks.
        Some(heap::stats().heap1.allocated_bytes)
    }
}

/// CPU1's side of the runtime.
struct Cpu1Host;

impl KernelHost for Cpu1Host {
    fn request(&mut self, msg: FromKernel) -> ToKernel {
        // The QEMU DMA model starts a kernel's playback when it asked.
        #[cfg(feature = "qemu")]
        if matches!(msg, FromKernel::DmaPlayback { .. }) {
            board::kernel_dma_requested();
        }
        let mut guard = cpu1_ends();
        let ends = guard.as_mut().expect("CPU1's mailbox handles");
        send_to_cpu0(ends, msg);
        loop {
            if let Some(reply) = ends.from_cpu0.try_recv() {
                return reply;
            }
            cpu1::wait_for_event();
        }
    }

    fn notify(&mut self, msg: FromKernel) {
        send_to_cpu0(cpu1_ends().as_mut().expect("CPU1's mailbox handles"), msg);
    }

    fn halt(&mut self) -> ! {
        loop {
            cpu1::wait_for_event();
        }
    }

    fn rtio_init(&mut self) {}

    fn rtio_counter(&mut self) -> i64 {
        board::rtio_counter()
    }

    fn rtio_output(&mut self, timestamp: i64, target: u32, data: &[u32]) -> RtioStatus {
        board::kernel_output(timestamp, target, data)
    }

    fn rtio_input(&mut self, channel: u32, timeout: i64) -> RtioInput {
        board::kernel_input(channel, timeout)
    }

    fn unwind(&mut self, exn: &libksupport::exception::Exception, backtrace: &mut [(u32, u32)]) -> usize {
        // Raised by the firmware inside an API call: the kernel may catch it.
        // SAFETY: this runs on CPU1 inside an API call the kernel entered through
        // `eh::target::entry` (every `KernelHost` call comes from such a call), and `exn`'s
        // message is firmware-owned and readable.
        unsafe { libksupport::eh::target::unwind_api_exception(exn, backtrace) }
    }
}

fn send_to_cpu0(ends: &mut Cpu1Ends, msg: FromKernel) {
    let mut msg = msg;
    // CPU0 drains its mailbox on every pass of its loop.
    while let Err(m) = ends.to_cpu0.try_send(msg) {
        msg = m;
        core::hint::spin_loop();
    }
}

/// The host handle (zero-sized: nothing is allocated or aliased).
fn host() -> &'static mut Cpu1Host {
    alloc::boxed::Box::leak(alloc::boxed::Box::new(Cpu1Host))
}

/// A kernel loaded on CPU1, ready to start.
struct Loaded {
    entry: extern "C" fn(),
    /// The image and its `.ARM.exidx`, for the unwinder.
    base: u32,
    size: u32,
    exidx: core::ops::Range<u32>,
    /// Global timer ticks spent parsing, copying and relocating.
    load_ticks: u64,
}


/// Loads the ELF image CPU0 lends into heap1.
fn load(image: &[u8]) -> Result<Loaded, alloc::string::String> {
    use alloc::string::ToString;
    let t0 = time::ticks();
    let kernel = Kernel::parse(image).map_err(|e| e.to_string())?;
    let layout = kernel.layout();
    // Heap1 memory: freed by the heap reset when the kernel CPU restarts.
    // SAFETY: `Kernel::parse` refuses an image whose entry is not inside its loaded size, so the
    // layout is never zero-sized.
    let base = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if base.is_null() {
        return Err(alloc::format!("no room for a {} byte kernel image", layout.size()));
    }
    // SAFETY: `base` is a fresh, non-null, zeroed allocation of `layout.size()` bytes that nothing
    // else references.
    let dest = unsafe { core::slice::from_raw_parts_mut(base, layout.size()) };
    // The hashed resolver takes the hash the loader computed for each import.
    let loaded = kernel.load_with(dest, base as u32, &api::Resolver).map_err(|e| e.to_string())?;
    cache::sync_instructions(base as usize, layout.size());
    // SAFETY: the loader checked that the entry lies in the image it just relocated into `dest`,
    // and the instruction side was synchronised above, so the address is this kernel's
    // `__modinit__`, an `extern "C" fn()`.
    let entry = unsafe { core::mem::transmute::<usize, extern "C" fn()>(loaded.entry as usize) };
    Ok(Loaded { entry, base: loaded.load_addr, size: loaded.size, exidx: loaded.exidx, load_ticks: time::ticks() - t0 })
}

/// QEMU only, once per boot: runs the kernel API's timeline and RTIO
/// output entry points (resolved as a kernel's imports are) on CPU1, so
/// that QEMU has translated them before the first kernel's slack depends
/// on them (see `board::warm_up_begin`). The outputs are a second of RTIO
/// time ahead, on channel 0, and CPU0 resets the RTIO model afterwards.
#[cfg(feature = "qemu")]
fn warm_up() {
    if !board::warm_up_begin() {
        return;
    }
    type Get = extern "C" fn() -> i64;
    type Set = extern "C" fn(i64);
    type Output = extern "C" fn(i32, i32);
    let entry = |name: &[u8]| api::resolve(name).filter(|&a| a != 0).map(|a| a as usize);
    if let (Some(counter), Some(now), Some(at), Some(delay), Some(output)) =
        (entry(b"rtio_get_counter"), entry(b"now_mu"), entry(b"at_mu"), entry(b"delay_mu"), entry(b"rtio_output"))
    {
        // SAFETY: the API table's entries have these kernel ABI signatures
        // (libksupport::api::artiq); a runtime is installed before any call
        // and nothing else runs on CPU1 yet.
        unsafe {
            abi::install(Runtime::new(host() as &'static mut dyn KernelHost));
            let (counter, now) = (core::mem::transmute::<usize, Get>(counter), core::mem::transmute::<usize, Get>(now));
            let (at, delay) = (core::mem::transmute::<usize, Set>(at), core::mem::transmute::<usize, Set>(delay));
            let output = core::mem::transmute::<usize, Output>(output);
            at(counter() + 1_000_000_000);
            for i in 0..16 {
                output(0, i & 1);
                delay(1000);
            }
            let _ = now();
        }
    }
    board::warm_up_done();
}

/// CPU1 main: entered from the top after every restart.
pub fn cpu1_main() -> ! {
    take_cpu1_ends();
    #[cfg(feature = "qemu")]
    warm_up();
    let mut loaded: Option<Loaded> = None;
    // Kept alive until the next restart: CPU0 reads it after LoadFailed.
    let mut reason: Option<alloc::string::String> = None;
    loop {
        let next = cpu1_ends().as_mut().and_then(|e| e.from_cpu0.try_recv());
        let Some(msg) = next else {
            cpu1::wait_for_event();
            continue;
        };
        match msg {
            // SAFETY: CPU0 lends the image until it receives `LoadDone` or `LoadFailed` (msg.rs
            // ownership rules) and does not write it meanwhile; `load` keeps no reference past its
            // return, which is before either reply.
            ToKernel::Load { image } => match load(unsafe { image.as_slice() }) {
                Ok(k) => {
                    log::info!(
                        "kernel loaded: {} byte image, {} µs ({} timer ticks)",
                        image.len(),
                        time::ticks_to_us(k.load_ticks),
                        k.load_ticks
                    );
                    loaded = Some(k);
                    host().notify(FromKernel::LoadDone);
                }
                Err(e) => {
                    let text = reason.insert(e);
                    host().notify(FromKernel::LoadFailed { reason: Bytes::new(text.as_bytes()) });
                }
            },
            ToKernel::Start { timestamp } => {
                let dequeued = time::ticks();
                let Some(k) = loaded.take() else { continue };
                let mut rt = Runtime::new(host() as &'static mut dyn KernelHost);
                rt.set_now(timestamp as i64);
                // SAFETY: CPU1, between kernels: the previous kernel's entry has returned or was
                // abandoned by a restart, so no entry point runs.
                unsafe { abi::install(rt) };
                let stack = crate::platform::boot::regions::stack1();
                // SAFETY: CPU1, before the kernel's entry is called: no kernel code runs.
                unsafe { eh::set_kernel(k.base, k.size, k.exidx.clone(), stack.start as u32..stack.end as u32) };
                cpu1::set_kernel_image(k.base, k.size);
                let now = time::ticks();
                let latency = now.saturating_sub(START_SENT.load(Ordering::Acquire));
                log::info!(
                    "kernel start: {} µs after CPU0 sent Start ({} timer ticks, {} of them on CPU1 after the wake-up)",
                    time::ticks_to_us(latency),
                    latency,
                    now - dequeued
                );
                (k.entry)();
                // SAFETY: CPU1, the kernel's entry returned and every request it made was answered.
                // The runtime's buffers are freed before `Finished`: the run ends with heap1 as the
                // load left it (the kernel manager compares the two).
                unsafe { abi::uninstall() };
                host().notify(FromKernel::Finished);
                host().halt();
            }
            other => log::warn!("kernel CPU: unexpected {:?}", other),
        }
    }
}
