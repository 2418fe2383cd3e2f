//! The ARTIQ 9 kernel ABI as seen from a kernel, for satman's test kernels.
//!
//! Every function the firmware provides is declared here with the signature
//! the ARTIQ compiler uses (`shared/reference/kernel-abi.md` sections 2–4).
//! On `armv7a-none-eabihf`, `extern "C"` is AAPCS-VFP, the convention ARTIQ
//! kernels use: i32 and pointers in r0–r3, i64 in an even/odd register pair
//! (or an 8-aligned stack slot), f64 in d0–d7, results in r0, r0:r1 or d0, and
//! aggregates over 4 bytes returned through a hidden pointer in r0. A `str`
//! is passed by value as the two words `{ptr, len}` ([`Str`]), a list as a
//! pointer to `{ptr, len}`. The run-time ABI helpers (`__aeabi_*`) use the
//! base AAPCS, doubles in core registers: `extern "aapcs"`.
//!
//! None of these are defined in the kernel: they stay undefined in the
//! linked shared object, so each call goes through a PLT entry whose
//! `R_ARM_JUMP_SLOT` relocation the firmware's loader resolves.

#![no_std]

use core::ffi::c_void;

/// An ARTIQ `str` (also `bytes`, and the `{ptr, len}` of a list): not
/// NUL-terminated, unlike `core::ffi::CStr`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Str {
    pub ptr: *const u8,
    pub len: u32,
}

// SAFETY: only ever built from `&'static str`.
unsafe impl Sync for Str {}

impl Str {
    pub const fn new(s: &'static str) -> Self {
        Str {
            ptr: s.as_ptr(),
            len: s.len() as u32,
        }
    }
}

/// What `dma_retrieve` returns (through the hidden result pointer): 16 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DmaTrace {
    /// @0
    pub duration: i64,
    /// @8: the trace id to hand to `dma_playback`.
    pub address: i32,
    /// @12: traces for other destinations exist.
    pub uses_ddma: bool,
}

/// The 64-byte ARTIQ exception object (section 3).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Exception {
    /// @0
    pub id: u32,
    /// @4
    pub file: Str,
    /// @12
    pub line: u32,
    /// @16
    pub column: u32,
    /// @20: mangled name of the raising function.
    pub function: Str,
    /// @28: may contain `{0}`..`{2}`.
    pub message: Str,
    /// @40, @48, @56
    pub param: [i64; 3],
}

const _: () = {
    assert!(core::mem::size_of::<DmaTrace>() == 16);
    assert!(core::mem::size_of::<Exception>() == 64);
    assert!(core::mem::align_of::<Exception>() == 8);
    assert!(core::mem::offset_of!(Exception, message) == 28);
    assert!(core::mem::offset_of!(Exception, param) == 40);
};

/// A list of i32 as compiled kernels lay it out (`cache_get`/`cache_put`).
#[repr(C)]
pub struct List {
    pub ptr: *const i32,
    pub len: u32,
}

/// Fixed exception ids (section 3).
pub mod exception_id {
    pub const RUNTIME_ERROR: u32 = 15;
    pub const VALUE_ERROR: u32 = 18;
}

extern "C" {
    // Timeline.
    pub fn now_mu() -> i64;
    pub fn at_mu(t: i64);
    pub fn delay_mu(dt: i64);

    // RTIO.
    pub fn rtio_get_counter() -> i64;
    pub fn rtio_output(target: i32, data: i32);

    // DMA.
    pub fn dma_record_start(name: Str);
    pub fn dma_record_stop(duration: i64, enable_ddma: bool);
    pub fn dma_erase(name: Str);
    /// Returns through the hidden pointer in r0; `name` goes in r1/r2.
    pub fn dma_retrieve(name: Str) -> DmaTrace;
    pub fn dma_playback(timestamp: i64, address: i32, uses_ddma: bool);

    // Subkernel messages (section 4).
    pub fn subkernel_send_message(
        id: i32,
        is_return: bool,
        destination: i8,
        count: i8,
        tag: *const Str,
        data: *const *const c_void,
    );
    pub fn subkernel_await_message(
        id: i32,
        timeout_ms: i64,
        tags: *const Str,
        min: i8,
        max: i8,
    ) -> i8;
    pub fn rpc_recv(slot: *mut c_void) -> i32;

    // Cache (satellite-local key-value store).
    pub fn cache_get(key: Str) -> *const List;
    pub fn cache_put(key: Str, value: *const List);

    // Exceptions.
    pub fn __artiq_raise(exception: *const Exception) -> !;

    // Logging: printf-like, variable part in core registers.
    pub fn core_log(fmt: *const u8, ...);

    // libm (AAPCS-VFP: d0 in, d0 out).
    pub fn round(x: f64) -> f64;
    pub fn floor(x: f64) -> f64;
    /// LLVM's `powi` libcall (d0, r0 → d0).
    pub fn __powidf2(x: f64, n: i32) -> f64;
}

extern "aapcs" {
    /// f64 → i64, truncating; the double arrives in r0:r1.
    pub fn __aeabi_d2lz(x: f64) -> i64;
}

/// Mu the timeline is put ahead of the RTIO counter by `break_realtime`.
pub const BREAK_REALTIME_MU: i64 = 125_000;

/// `core.break_realtime()`: `at_mu(rtio_get_counter() + 125000)`.
#[inline(always)]
pub fn break_realtime() {
    // SAFETY: imports from the kernel ABI (kernel-abi.md), called with plain values and pointers
    // to live locals or 'static strings, as their declared signatures take; the firmware validates
    // every argument.
    unsafe { at_mu(rtio_get_counter() + BREAK_REALTIME_MU) }
}

/// Raises an ARTIQ exception, located at the caller.
#[track_caller]
pub fn raise(id: u32, message: &'static str, param: [i64; 3], function: &'static str) -> ! {
    let at = core::panic::Location::caller();
    let exception = Exception {
        id,
        file: Str {
            ptr: at.file().as_ptr(),
            len: at.file().len() as u32,
        },
        line: at.line(),
        column: at.column(),
        function: Str::new(function),
        message: Str::new(message),
        param,
    };
    // SAFETY: `exception` is a live local whose strings are 'static (or the caller's location,
    // also 'static); `__artiq_raise` does not return.
    unsafe { __artiq_raise(&exception) }
}

/// Storage handed out to `rpc_recv` while it decodes values that need more
/// than their slot (strings, lists), 8-aligned as the protocol requires.
pub struct RecvScratch<const WORDS: usize> {
    buf: [u64; WORDS],
    used: usize,
}

impl<const WORDS: usize> RecvScratch<WORDS> {
    pub const fn new() -> Self {
        RecvScratch {
            buf: [0; WORDS],
            used: 0,
        }
    }

    /// One `rpc_recv` sequence (section 4): the firmware decodes the next
    /// value into `slot`; while it answers with a byte count N > 0, give it N
    /// bytes of storage and call again. Values received this way stay valid
    /// while `self` lives.
    ///
    /// # Safety
    /// `slot` must be valid for the value the firmware decodes into it.
    pub unsafe fn recv(&mut self, slot: *mut c_void) {
        let mut target = slot;
        loop {
            // SAFETY: `target` is the caller's slot (valid for the value, `recv`'s contract) or
            // scratch storage of the size the firmware asked for.
            let n = unsafe { rpc_recv(target) };
            if n <= 0 {
                return;
            }
            let words = (n as usize).div_ceil(8);
            if words > WORDS - self.used {
                raise(
                    exception_id::RUNTIME_ERROR,
                    "received value of {0} bytes, too large for the test kernel",
                    [n as i64, 0, 0],
                    "RecvScratch::recv",
                );
            }
            // In bounds: checked just above.
            // SAFETY: `used + words <= WORDS` was checked just above, so the offset stays inside
            // `buf`.
            target = unsafe { self.buf.as_mut_ptr().add(self.used) }.cast();
            self.used += words;
        }
    }
}

impl<const WORDS: usize> Default for RecvScratch<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

/// Sends one value: `subkernel_send_message(id, is_return, dest, 1, tag, [&value])`.
///
/// # Safety
/// `tag` must describe `T` as the ARTIQ tag of the value followed by `:`.
pub unsafe fn send_one<T>(id: i32, is_return: bool, destination: i8, tag: &Str, value: &T) {
    let data = [value as *const T as *const c_void];
    // SAFETY: `data` holds one pointer to a live `T` that `tag` describes (the caller's contract).
    unsafe { subkernel_send_message(id, is_return, destination, 1, tag, data.as_ptr()) }
}

/// A kernel must not panic; if one does, it ends as an uncaught ARTIQ
/// RuntimeError rather than hanging CPU1.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    raise(
        exception_id::RUNTIME_ERROR,
        "test kernel panicked",
        [0; 3],
        "panic",
    )
}

// Declared at the end, so that the `raise` calls above keep their lines: the
// kernels embed them as `#[track_caller]` locations.
pub mod eh;
