//! A simulated kernel CPU: a thread running the real kernel-side runtime
//! (`libksupport::runtime::Runtime`) with kernels written as Rust closures
//! against the same [`KernelApi`] the firmware's C ABI implements.
//!
//! It talks to CPU0 through the firmware's own mailboxes. A restart is what
//! SGI 0 does on silicon: CPU0 raises a flag, the kernel thread abandons the
//! kernel at its next API call (by unwinding out of the closure), resets the
//! mailboxes and acknowledges with a new generation number. A kernel that
//! never calls the API cannot be stopped, like a CPU1 with IRQs masked, and
//! the restart reports `Unresponsive` after its deadline.
//!
//! A kernel "crashes" with [`crash`]: the thread records the [`CpuFault`]
//! the firmware's exception vectors would record and waits for CPU0's
//! restart, as CPU1 does; CPU0 finds it through `KernelCpu::fault`, so the
//! master gets exactly the exception the firmware sends.
//!
//! Kernel "images" are ordinary uploads whose bytes name a registered
//! closure (`SIMK` + name + padding), so uploads cross the wire in real
//! chunks.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libksupport::exception::{self, id};
use libksupport::mailbox::{Consumer, Mailbox, Producer, ReadIndex, Ring};
use libksupport::msg::{Bytes, FromKernel, ToKernel};
use libksupport::runtime::{KernelApi, KernelHost, RtioInput, RtioStatus, Runtime};
use satman::fault::CpuFault;
use satman::hal::{CpuError, KernelCpu, LentError};
use satman::lent::Lent;

use super::rtio::RtioShared;

/// A kernel: what `__modinit__` would do.
pub type KernelFn = Arc<dyn Fn(&mut dyn KernelApi) + Send + Sync>;

const MAGIC: &[u8] = b"SIMK";

/// An upload image naming kernel `name`, padded to `size` bytes so uploads
/// take several chunks like real kernels.
pub fn image(name: &str, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size.max(MAGIC.len() + name.len() + 1));
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(name.as_bytes());
    v.push(0);
    while v.len() < size {
        v.push((v.len() * 7) as u8);
    }
    v
}

fn image_name(image: &[u8]) -> Option<&str> {
    let rest = image.strip_prefix(MAGIC)?;
    let end = rest.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// The unwinding payload that ends a kernel run when CPU0 restarts CPU1.
struct Stopped;

/// The unwinding payload of [`crash`].
struct Crashed(CpuFault);

/// Ends the calling simulated kernel as if CPU1 took `fault` (an undefined
/// instruction, an abort...): nothing after it runs, CPU0 is told.
pub fn crash(fault: CpuFault) -> ! {
    std::panic::panic_any(Crashed(fault))
}

fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            if !p.is::<Stopped>() && !p.is::<Crashed>() {
                default(info);
            }
        }));
    });
}

pub struct CpuShared {
    to_kernel: (Ring<ToKernel, 4>, ReadIndex),
    from_kernel: (Ring<FromKernel, 4>, ReadIndex),
    stop: AtomicBool,
    generation: AtomicU64,
    exit: AtomicBool,
    registry: Mutex<HashMap<String, KernelFn>>,
    rtio: Arc<RtioShared>,
    /// Kernel runs started, and CPU0 restarts acknowledged.
    pub runs: AtomicU64,
    pub restarts: AtomicU64,
    /// The kernel thread is running (its start-up allocations are done).
    started: AtomicBool,
    /// The fault the kernel thread took, until CPU0 reads it.
    fault: Mutex<Option<CpuFault>>,
}

/// The mailboxes' handles, taken for one operation each: CPU0's side is
/// used only through `SimCpu` (`&mut self`), CPU1's only on the kernel
/// thread, so one handle per side is in use at a time.
impl CpuShared {
    fn mailbox_to_kernel(&self) -> Mailbox<'_, ToKernel, 4> {
        Mailbox::new(&self.to_kernel.0, &self.to_kernel.1)
    }

    fn mailbox_from_kernel(&self) -> Mailbox<'_, FromKernel, 4> {
        Mailbox::new(&self.from_kernel.0, &self.from_kernel.1)
    }

    /// CPU0 (`SimCpu`) only.
    fn tx_to_cpu1(&self) -> Producer<'_, ToKernel, 4> {
        // SAFETY: CPU0's side, one operation (see above).
        unsafe { self.mailbox_to_kernel().producer() }
    }

    /// CPU0 (`SimCpu`) only.
    fn rx_from_cpu1(&self) -> Consumer<'_, FromKernel, 4> {
        // SAFETY: CPU0's side, one operation (see above).
        unsafe { self.mailbox_from_kernel().consumer() }
    }

    /// The kernel thread only.
    fn rx_from_cpu0(&self) -> Consumer<'_, ToKernel, 4> {
        // SAFETY: CPU1's side, one operation (see above).
        unsafe { self.mailbox_to_kernel().consumer() }
    }

    /// The kernel thread only.
    fn tx_to_cpu0(&self) -> Producer<'_, FromKernel, 4> {
        // SAFETY: CPU1's side, one operation (see above).
        unsafe { self.mailbox_from_kernel().producer() }
    }
}

/// CPU0's handle on the simulated CPU1.
pub struct SimCpu {
    pub shared: Arc<CpuShared>,
    thread: Option<JoinHandle<()>>,
    /// How long a restart may take before CPU1 counts as unresponsive.
    pub restart_timeout: Duration,
    /// The ranges of the message being served (`KernelCpu::lent`).
    lent: Lent,
    /// The kernel thread's heap account (`crate::heap`), for `heap_in_use`.
    heap_slot: u8,
}

impl SimCpu {
    /// Starts the kernel thread; its allocations are charged to heap slot
    /// `heap_slot` (see `crate::heap`).
    pub fn new(rtio: Arc<RtioShared>, heap_slot: u8) -> SimCpu {
        quiet_panics();
        let shared = Arc::new(CpuShared {
            to_kernel: (Ring::new(), ReadIndex::new()),
            from_kernel: (Ring::new(), ReadIndex::new()),
            stop: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            exit: AtomicBool::new(false),
            registry: Mutex::new(HashMap::new()),
            rtio,
            runs: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            started: AtomicBool::new(false),
            fault: Mutex::new(None),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sim-cpu1".into())
            .spawn(move || {
                crate::heap::attach_slot(heap_slot);
                kernel_loop(s)
            })
            .expect("spawn kernel thread");
        // The spawn closure is freed by the new thread when it starts: wait
        // for that, so heap baselines taken later are not off by its size.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !shared.started.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::yield_now();
        }
        SimCpu { shared, thread: Some(thread), restart_timeout: Duration::from_millis(500), lent: Lent::new(None), heap_slot }
    }

    pub fn register(&self, name: &str, kernel: KernelFn) {
        self.shared.registry.lock().unwrap().insert(name.to_string(), kernel);
    }
}

impl Drop for SimCpu {
    fn drop(&mut self) {
        self.shared.exit.store(true, Ordering::SeqCst);
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // A kernel that never yields keeps its thread; do not hang the test.
            let deadline = Instant::now() + Duration::from_millis(200);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl KernelCpu for SimCpu {
    fn restart(&mut self) -> Result<(), CpuError> {
        self.lent.release();
        let gen = self.shared.generation.load(Ordering::SeqCst);
        self.shared.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + self.restart_timeout;
        while self.shared.generation.load(Ordering::SeqCst) == gen {
            if Instant::now() >= deadline {
                return Err(CpuError::Unresponsive);
            }
            std::thread::yield_now();
        }
        Ok(())
    }

    fn send(&mut self, msg: ToKernel) -> Result<(), CpuError> {
        self.lent.release();
        self.shared.tx_to_cpu1().try_send(msg).map_err(|_| CpuError::MailboxFull)
    }

    fn receive(&mut self) -> Option<FromKernel> {
        let msg = self.shared.rx_from_cpu1().try_recv()?;
        // SAFETY: the kernel thread keeps a request's ranges while it waits
        // for the reply, and a `LoadFailed`/`Exception`'s until it is
        // stopped (the runtime's protocol, `libksupport::msg`); `send` and
        // `restart` release them first.
        unsafe { self.lent.hold(&msg) };
        Some(msg)
    }

    fn lent(&self, range: Bytes) -> Result<&[u8], LentError> {
        self.lent.get(range)
    }

    fn fault(&mut self) -> Option<CpuFault> {
        self.shared.fault.lock().unwrap().take()
    }

    /// The kernel thread's heap account: unlike the firmware's heap1 it is
    /// never recreated, so it also holds what earlier runs leaked.
    fn heap_in_use(&mut self) -> Option<usize> {
        (self.heap_slot != 0).then(|| crate::heap::slot_bytes(self.heap_slot).max(0) as usize)
    }
}

/// What the runtime uses on the simulated CPU1.
struct SimHost {
    shared: Arc<CpuShared>,
}

impl SimHost {
    fn check_stop(&self) {
        if self.shared.stop.load(Ordering::Relaxed) {
            std::panic::panic_any(Stopped);
        }
    }
}

impl KernelHost for SimHost {
    fn request(&mut self, msg: FromKernel) -> ToKernel {
        self.notify(msg);
        loop {
            self.check_stop();
            if let Some(reply) = self.shared.rx_from_cpu0().try_recv() {
                return reply;
            }
            std::thread::yield_now();
        }
    }

    fn notify(&mut self, msg: FromKernel) {
        let mut msg = msg;
        loop {
            self.check_stop();
            match self.shared.tx_to_cpu0().try_send(msg) {
                Ok(()) => return,
                Err(m) => msg = m,
            }
            std::thread::yield_now();
        }
    }

    /// Like CPU1 after an uncaught exception: wait for CPU0 to restart us.
    /// Whatever the last notification pointed to stays alive meanwhile.
    fn halt(&mut self) -> ! {
        loop {
            self.check_stop();
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    fn rtio_init(&mut self) {
        self.check_stop();
    }

    fn rtio_counter(&mut self) -> i64 {
        self.check_stop();
        self.shared.rtio.counter()
    }

    fn rtio_output(&mut self, timestamp: i64, target: u32, data: &[u32]) -> RtioStatus {
        self.check_stop();
        // The RTIO model's event log is the simulated hardware (the host's
        // capture of the outputs), not CPU1's memory: its growth is not
        // charged to the kernel CPU's heap account, which must show only
        // what the runtime and the kernel hold.
        let slot = crate::heap::current();
        crate::heap::attach_slot(0);
        let status = self.shared.rtio.kernel_output(timestamp, target, data);
        crate::heap::attach_slot(slot);
        status
    }

    fn rtio_input(&mut self, channel: u32, timeout: i64) -> RtioInput {
        self.check_stop();
        self.shared.rtio.kernel_input(channel, timeout)
    }
}

fn kernel_loop(shared: Arc<CpuShared>) {
    shared.started.store(true, Ordering::SeqCst);
    let mut loaded: Option<KernelFn> = None;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            if shared.exit.load(Ordering::SeqCst) {
                return;
            }
            // Restart: forget the kernel, empty the mailboxes, acknowledge.
            loaded = None;
            *shared.fault.lock().unwrap() = None;
            // SAFETY: CPU0 waits for the acknowledgement below (it takes no handle meanwhile)
            // and this thread holds none.
            unsafe {
                shared.mailbox_to_kernel().reset();
                shared.mailbox_from_kernel().reset();
            }
            shared.stop.store(false, Ordering::SeqCst);
            shared.restarts.fetch_add(1, Ordering::Relaxed);
            shared.generation.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        let Some(msg) = shared.rx_from_cpu0().try_recv() else {
            std::thread::sleep(Duration::from_micros(20));
            continue;
        };
        match msg {
            ToKernel::Load { image } => {
                // SAFETY: the simulated CPU0 lends the image until it receives
                // `LoadDone`/`LoadFailed` (msg.rs ownership rules); `img` is not kept past the
                // reply below.
                let img = unsafe { image.as_slice() };
                let kernel = image_name(img).and_then(|n| shared.registry.lock().unwrap().get(n).cloned());
                let reply = match kernel {
                    Some(k) => {
                        loaded = Some(k);
                        FromKernel::LoadDone
                    }
                    None => {
                        static REASON: &str = "not a simulated kernel image, or unknown kernel name";
                        FromKernel::LoadFailed { reason: Bytes::new(REASON.as_bytes()) }
                    }
                };
                let _ = shared.tx_to_cpu0().try_send(reply);
            }
            ToKernel::Start { timestamp } => {
                let Some(kernel) = loaded.clone() else { continue };
                shared.runs.fetch_add(1, Ordering::Relaxed);
                run_kernel(&shared, &kernel, timestamp);
                // Finished, raised or stopped: wait for CPU0's restart.
                loaded = None;
            }
            other => {
                // A reply with no request outstanding: CPU0 broke the protocol.
                eprintln!("sim cpu1: unexpected message {:?}", other);
            }
        }
    }
}

fn run_kernel(shared: &Arc<CpuShared>, kernel: &KernelFn, timestamp: u64) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut rt = Runtime::new(SimHost { shared: shared.clone() });
        rt.set_now(timestamp as i64);
        kernel(&mut rt);
        // As on the firmware (`abi::uninstall`): the runtime and its buffers
        // go before `Finished`, so the run ends with the load's heap.
        let mut host = SimHost { shared: shared.clone() };
        drop(rt);
        host.notify(FromKernel::Finished);
    }));
    if let Err(payload) = result {
        if let Some(Crashed(fault)) = payload.downcast_ref::<Crashed>() {
            // Like CPU1's exception vectors: record, then touch nothing
            // until CPU0 restarts us.
            *shared.fault.lock().unwrap() = Some(*fault);
            while !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_micros(50));
            }
        } else if !payload.is::<Stopped>() {
            // A bug in a test kernel: report it like an uncaught exception.
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "kernel panicked".into());
            let mut blob = Vec::new();
            exception::serialize_message(id::RUNTIME_ERROR, &msg, [0; 3], &mut blob);
            let _ = shared.tx_to_cpu0().try_send(FromKernel::Exception { blob: Bytes::new(&blob) });
            // CPU0 copies the blob before restarting us; keep it alive until then.
            while !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
}
