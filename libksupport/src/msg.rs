//! Messages between CPU0 (satman) and CPU1 (the kernel CPU).
//!
//! Every exchange is started by CPU1 with a [`FromKernel`] request and
//! answered by CPU0 with exactly one [`ToKernel`] reply, except the
//! notifications (`Finished`, `Exception`, `LoadDone`, `LoadFailed`), which end
//! the kernel's run. CPU0 starts exchanges only with `Load` and `Start`.
//!
//! Messages are plain `Copy` data. Byte strings travel as [`Bytes`]: an
//! address range owned by the sender, which stays valid and unchanged until
//! the receiver's reply (for CPU1's requests) or the next request (for the
//! data CPU0 lends CPU1). The receiver copies what it needs to keep. This is
//! what lets CPU0 stop CPU1 at any instruction: nothing CPU0 owns ever points
//! into CPU1's heap after the exchange, and CPU1 never allocates from CPU0's.

use libdma::Lease;

/// A borrowed byte range crossing between the CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes {
    ptr: *const u8,
    len: usize,
}

// SAFETY: `Bytes` is an address range; the ownership rules in the module
// docs say when it may be dereferenced.
unsafe impl Send for Bytes {}

impl Bytes {
    pub const EMPTY: Bytes = Bytes { ptr: core::ptr::NonNull::<u8>::dangling().as_ptr(), len: 0 };

    pub fn new(s: &[u8]) -> Bytes {
        Bytes { ptr: s.as_ptr(), len: s.len() }
    }

    /// The words of `w`, as bytes (little-endian on both CPUs).
    pub fn of_words(w: &[i32]) -> Bytes {
        Bytes { ptr: w.as_ptr().cast::<u8>(), len: core::mem::size_of_val(w) }
    }

    /// The range's first address.
    pub fn addr(&self) -> usize {
        self.ptr as usize
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// # Safety
    /// The range must still be valid per the ownership rules of this module,
    /// and the returned slice must not outlive them.
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        if self.len == 0 {
            &[]
        } else {
            // SAFETY: the caller's contract: the range is still lent (the
            // module's ownership rules) and the slice does not outlive it.
            unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// Why CPU0 refused or failed a kernel's request. The runtime turns each into
/// the matching ARTIQ exception inside the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelError {
    /// A wait ran out of time (`SubkernelError: timed out`).
    Timeout,
    /// The request makes no sense in the current state.
    IncorrectState,
    /// The destination is unreachable or its link went down.
    CommLost,
    /// A subkernel this kernel awaited raised; the serialized exception is
    /// lent until the next request.
    Exception(Bytes),
    /// No DMA trace by that name.
    DmaNotFound,
    /// The DMA engine or a trace is busy.
    DmaBusy,
    /// The DMA store's byte budget is exhausted.
    DmaOverBudget,
    /// A recording held an event for destination 0, which a satellite
    /// cannot play.
    DmaDestinationZero,
    /// CPU0 ran out of memory serving the request.
    OutOfMemory,
    /// The cache key is in use by a kernel (`cache_put` over a borrowed value).
    CacheBusy,
    /// A string or list the request lends lies outside the kernel CPU's
    /// memory (a wild pointer): CPU0 refused to read it.
    BadAddress,
    /// Anything else; the code is for the log.
    Other(u32),
}

/// Outcome of a DMA playback, as the gateware and DDMA report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlaybackStatus {
    /// 0 = ok, bit 0 = underflow, bit 1 = destination unreachable.
    pub error: u8,
    /// Channel and timestamp of the failing event.
    pub channel: u32,
    pub timestamp: u64,
}

/// CPU1 → CPU0.
#[derive(Debug, Clone, Copy)]
pub enum FromKernel {
    /// The kernel loaded; CPU1 waits for `Start`.
    LoadDone,
    /// The image could not be loaded; `reason` is a UTF-8 message.
    LoadFailed { reason: Bytes },
    /// `__modinit__` returned.
    Finished,
    /// An exception escaped the kernel; `blob` is in ARTIQ's serialised
    /// form. CPU1 then waits to be restarted.
    Exception { blob: Bytes },

    /// `core_log`: a line for the firmware log. Reply: `Ack`.
    Log { text: Bytes },
    /// `rtio_init`. Reply: `Ack`.
    RtioInit,
    /// `rtio_get_destination_status`. Reply: `Bool`.
    DestinationStatus { destination: u8 },

    /// `dma_record_start`. Reply: `Lease` or `Error`.
    DmaRecordStart { name: Bytes },
    /// The recording lease is full. Reply: `Lease` (recorded bytes kept) or `Error`.
    DmaRecordGrow { used: usize, needed: usize },
    /// `dma_record_stop`: `used` bytes recorded. Reply: `Ack` or `Error`.
    DmaRecordStop { used: usize, duration: u64, enable_ddma: bool },
    /// `dma_erase`. Reply: `Ack` or `Error`.
    DmaErase { name: Bytes },
    /// `dma_retrieve`. Reply: `DmaTrace` or `Error`.
    DmaRetrieve { name: Bytes },
    /// `dma_playback`: play trace `id` (from `DmaTrace`) at `timestamp`.
    /// Reply: `PlaybackDone` or `Error`.
    DmaPlayback { id: u32, timestamp: u64, uses_ddma: bool },

    /// `subkernel_send_message`: `destination` is ignored for a return
    /// value, which goes to whoever started this kernel. Reply: `Ack` once
    /// every slice has been acknowledged, or `Error`.
    MessageSend { id: u32, destination: u8, is_return: bool, data: Bytes },
    /// `subkernel_await_message` (`id` −1 = this kernel's own arguments).
    /// Reply: `Message` or `Error`.
    MessageRecv { id: i32, timeout_ms: i64 },
    /// `subkernel_load_run` of another subkernel. Reply: `Ack` or `Error`.
    SubkernelLoadRun { id: u32, destination: u8, run: bool, timestamp: u64 },
    /// `subkernel_await_finish`. Reply: `Ack` or `Error`.
    SubkernelAwaitFinish { id: u32, timeout_ms: i64 },

    /// `cache_get`. Reply: `CacheValue`.
    CacheGet { key: Bytes },
    /// `cache_put` (`value` is the raw i32 words). Reply: `Ack` or `Error`.
    CachePut { key: Bytes, value: Bytes },
}

/// CPU0 → CPU1.
#[derive(Debug, Clone, Copy)]
pub enum ToKernel {
    /// Load the ELF image at `image` (CPU0 memory, unchanged until CPU1
    /// answers `LoadDone`/`LoadFailed`).
    Load { image: Bytes },
    /// Run the loaded kernel with the timeline at `timestamp`.
    Start { timestamp: u64 },

    Ack,
    Bool(bool),
    Error(KernelError),
    Lease(Lease),
    DmaTrace { id: u32, duration: u64, uses_ddma: bool },
    PlaybackDone(PlaybackStatus),
    /// A complete message (count byte + values), lent until the next request.
    Message { data: Bytes },
    /// Cached i32 words, lent until the kernel ends (the cache entry is
    /// marked borrowed meanwhile).
    CacheValue { data: Bytes },
}
