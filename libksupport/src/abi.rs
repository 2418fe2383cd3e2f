//! The ARTIQ 9 kernel ABI on the kernel CPU: the runtime of the kernel that
//! runs there, and the `extern "C"` entry points compiled kernels call.
//!
//! Each entry point follows the signature and calling convention in
//! kernel-abi.md §2 (AAPCS-VFP): strings by value as two words, lists by
//! pointer to `{ptr, len}`, `i8`/`bool` arguments trusted in their low byte
//! only. They forward to the [`Runtime`] installed for the current kernel.
//!
//! Two entries cannot be written as plain Rust functions and are small
//! naked stubs on ARM: `rtio_input_timestamped_data`, whose `{i64, i32}`
//! result the compiler expects in r0:r1 and r2, and the variadic `core_log`
//! / `rtio_log`, whose arguments are spilled next to the caller's stack
//! arguments so a format walker can read them as one array.
//!
//! Exceptions: on ARM, `__artiq_raise`, `__artiq_resume`, `__artiq_end_catch`
//! and `_Unwind_Resume` are the unwinder's ([`crate::eh::target`]): a raised
//! exception goes to the kernel's own `except`/`finally` landing pads, and
//! only an uncaught one ends the kernel (reported to CPU0 with its
//! backtrace). The API functions that can raise are entered through
//! [`crate::eh::target::entry`] trampolines, so that exceptions the firmware
//! raises inside them can be caught by the kernel too. Host builds keep
//! plain functions that report every exception as uncaught.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::exception::{id, CSlice, Exception};
use crate::runtime::{DmaTrace, KernelApi, KernelHost, Runtime};

/// The host the runtime uses on this CPU.
pub type HostRef = &'static mut dyn KernelHost;

// CPU1 writes it: in the pages its translation table lets it write.
#[cfg_attr(all(target_arch = "arm", target_os = "none"), unsafe(link_section = ".cpu1"))]
static mut CURRENT: Option<Runtime<HostRef>> = None;

/// Installs the runtime of the kernel about to run.
///
/// # Safety
/// Kernel CPU only, with no entry point running. The previous runtime is
/// forgotten, not dropped: its memory went with the kernel heap's reset.
pub unsafe fn install(rt: Runtime<HostRef>) {
    // SAFETY: CPU1 with no entry point running (the caller's contract), so
    // no reference to `CURRENT` is live; `write` forgets the old value, as
    // its memory went with the heap reset.
    unsafe { core::ptr::write(core::ptr::addr_of_mut!(CURRENT), Some(rt)) };
    #[cfg(target_arch = "arm")]
    // SAFETY: as above: CPU1, no kernel code running.
    unsafe { crate::eh::target::reset() };
}

/// Drops the runtime of the kernel that has ended, freeing what it kept on
/// this CPU's heap during the run (scratch and message buffers), so that
/// the run leaves the heap as the load left it.
///
/// # Safety
/// Kernel CPU only, after the kernel's entry returned: no entry point runs
/// or will run for this kernel, and CPU0 has answered every request (so
/// nothing it reads points into the runtime's buffers).
pub unsafe fn uninstall() {
    // SAFETY: CPU1 with no entry point running (the caller's contract), so
    // no reference to `CURRENT` is live; the old runtime is dropped.
    unsafe { *core::ptr::addr_of_mut!(CURRENT) = None };
}

/// The current kernel's runtime.
///
/// # Safety
/// Kernel CPU only, after [`install`]; entry points never nest.
#[allow(clippy::mut_from_ref)]
#[inline(always)]
pub unsafe fn current() -> &'static mut Runtime<HostRef> {
    // SAFETY: the caller's contract: CPU1, and entry points never nest, so
    // the reference an earlier call returned is no longer used.
    match unsafe { &mut *core::ptr::addr_of_mut!(CURRENT) } {
        Some(rt) => rt,
        None => no_runtime(),
    }
}

#[cold]
#[inline(never)]
fn no_runtime() -> ! {
    panic!("kernel API called with no kernel runtime installed")
}

#[inline(always)]
fn rt() -> &'static mut Runtime<HostRef> {
    // SAFETY: `rt` serves the `extern "C"` entry points, which only compiled
    // kernels call, on CPU1, one at a time, after `install`. (Those entry
    // points are safe fns, so this rests on how they are reached, not on
    // their types.)
    unsafe { current() }
}

/// A list as compiled kernels lay it out.
#[repr(C)]
pub struct CList {
    pub ptr: *const i32,
    pub len: u32,
}

fn bytes_of(s: &CSlice) -> &'static [u8] {
    // SAFETY: applied only to slices a compiled kernel passes to an entry
    // point, which the kernel ABI makes readable (kernel image or heap,
    // mapped while it runs) and which the runtime does not keep past the call.
    unsafe { s.as_bytes() }
}

// ---- timeline -----------------------------------------------------------------

pub extern "C" fn now_mu() -> i64 {
    rt().now_mu()
}

pub extern "C" fn at_mu(t: i64) {
    rt().at_mu(t)
}

pub extern "C" fn delay_mu(dt: i64) {
    rt().delay_mu(dt)
}

// ---- RTIO -----------------------------------------------------------------------

pub extern "C" fn rtio_init() {
    rt().rtio_init()
}

pub extern "C" fn rtio_get_counter() -> i64 {
    rt().rtio_get_counter()
}

pub extern "C" fn rtio_get_destination_status(destination: i32) -> bool {
    rt().rtio_get_destination_status(destination & 0xff)
}

/// The hot path of `core_dma.record`. While a recording has room: one
/// bounds check and the record's stores, inline
/// ([`Runtime::try_record_output`]); everything else (a live output, a full
/// lease, no recording, their errors) is [`rtio_output_slow`], a tail call
/// with the arguments still in place.
pub extern "C" fn rtio_output(target: i32, data: i32) {
    // SAFETY: kernel CPU only, entry points never nest (see `current`). No
    // runtime installed goes the slow way, which panics as every entry does.
    if let Some(rt) = unsafe { (*core::ptr::addr_of_mut!(CURRENT)).as_mut() } {
        if rt.try_record_output(target, data) {
            return;
        }
    }
    rtio_output_slow(target, data)
}

#[inline(never)]
extern "C" fn rtio_output_slow(target: i32, data: i32) {
    rt().rtio_output(target, data)
}

/// # Safety
/// Called by compiled kernels: pointer arguments follow the kernel ABI.
pub unsafe extern "C" fn rtio_output_wide(target: i32, data: *const CList) {
    // SAFETY: the kernel ABI (this fn's contract): `data` points to a list
    // header of `len` readable `i32`s.
    let list = unsafe { &*data };
    // SAFETY: as above.
    let words = if list.len == 0 { &[][..] } else { unsafe { core::slice::from_raw_parts(list.ptr, list.len as usize) } };
    rt().rtio_output_wide(target, words)
}

pub extern "C" fn rtio_input_timestamp(timeout: i64, channel: i32) -> i64 {
    rt().rtio_input_timestamp(timeout, channel)
}

pub extern "C" fn rtio_input_data(channel: i32) -> i32 {
    rt().rtio_input_data(channel)
}

/// The body of `rtio_input_timestamped_data`: writes `{timestamp, data}`.
///
/// # Safety
/// Called only by the naked `rtio_input_timestamped_data` wrapper, with `out` the 12-byte slot it
/// reserves on its stack.
#[cfg_attr(not(target_arch = "arm"), allow(dead_code))]
unsafe extern "C" fn rtio_input_timestamped_data_into(timeout: i64, channel: i32, out: *mut [u32; 3]) {
    let (ts, data) = rt().rtio_input_timestamped_data(timeout, channel);
    // SAFETY: `out` is the 12-byte result slot the naked wrapper reserves
    // on its own stack for this call.
    unsafe { *out = [ts as u32, (ts >> 32) as u32, data as u32] };
}

/// `rtio_input_timestamped_data(timeout: i64, channel: i32) -> {i64, i32}`,
/// returned in r0:r1 and r2.
#[cfg(target_arch = "arm")]
#[unsafe(naked)]
pub extern "C" fn rtio_input_timestamped_data() {
    core::arch::naked_asm!(
        "push {{r4, lr}}",
        "sub sp, sp, #16",
        // timeout stays in r0:r1, channel in r2; the result goes on our stack.
        "mov r3, sp",
        "bl {body}",
        "ldr r0, [sp]",
        "ldr r1, [sp, #4]",
        "ldr r2, [sp, #8]",
        "add sp, sp, #16",
        "pop {{r4, pc}}",
        body = sym rtio_input_timestamped_data_into,
    )
}

pub extern "C" fn rtio_batch_start() {}

pub extern "C" fn rtio_batch_end() {}

// ---- logging --------------------------------------------------------------------

/// Walks variadic arguments laid out as AAPCS puts them: r0-r3 then the
/// stack, one word each, with 64-bit values on even word indices of that
/// whole array (an even/odd register pair, or an 8-aligned stack slot).
/// The index counts from r0, the format string's word: with it left out, an
/// i64 after one 32-bit argument would be read from r3 and the stack
/// instead of r2:r3.
pub struct VaWords {
    ptr: *const u32,
    index: usize,
}

impl VaWords {
    /// The arguments after the first (the format string) of the argument
    /// array `args` (r0 first).
    ///
    /// # Safety
    /// `args` points to as many argument words as the format consumes,
    /// plus the first.
    pub unsafe fn after_first(args: *const u32) -> VaWords {
        VaWords { ptr: args, index: 1 }
    }

    fn word(&mut self) -> u32 {
        // SAFETY: `after_first`'s contract: `ptr` has as many words as the format
        // consumes, and `format_c` reads no more words than its conversions.
        let w = unsafe { self.ptr.add(self.index).read() };
        self.index += 1;
        w
    }

    fn dword(&mut self) -> u64 {
        self.index += self.index & 1;
        let lo = self.word() as u64;
        let hi = self.word() as u64;
        hi << 32 | lo
    }
}

fn c_str(ptr: *const u8) -> &'static [u8] {
    if ptr.is_null() {
        return b"(null)";
    }
    let mut n = 0;
    // Bounded: a kernel string longer than this is cut.
    // SAFETY: `c_str` reads strings a compiled kernel passes (its format
    // strings and `%s` arguments), NUL-terminated by the compiler; the scan
    // stops at the NUL or after 4096 bytes.
    while n < 4096 && unsafe { *ptr.add(n) } != 0 {
        n += 1;
    }
    // SAFETY: the `n` bytes just scanned.
    unsafe { core::slice::from_raw_parts(ptr, n) }
}

/// Formats a C format string with the conversions the ARTIQ compiler emits
/// (`%.*s`, `%s`, `%d`, `%i`, `%u`, `%x`, `%lld`, `%llu`, `%g`, `%f`, `%e`,
/// `%p`, `%c`, `%%`; flags and widths are parsed and ignored).
pub fn format_c(fmt: &[u8], args: &mut VaWords, out: &mut String) {
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'%' {
            out.push(c as char);
            continue;
        }
        // flags, width, precision
        let mut star_precision = false;
        while i < fmt.len() && b"-+ #0123456789.*".contains(&fmt[i]) {
            if fmt[i] == b'*' {
                star_precision = true;
            }
            i += 1;
        }
        let mut long = 0;
        while i < fmt.len() && matches!(fmt[i], b'l' | b'h' | b'z' | b'j' | b't') {
            if fmt[i] == b'l' {
                long += 1;
            }
            i += 1;
        }
        let Some(&conv) = fmt.get(i) else { break };
        i += 1;
        match conv {
            b'%' => out.push('%'),
            b's' => {
                if star_precision {
                    let len = args.word() as usize;
                    let ptr = args.word() as usize as *const u8;
                    // SAFETY: a `%.*s` argument from a compiled kernel: `len`
                    // readable bytes at `ptr` (its string constant or heap).
                    let s = if ptr.is_null() { &[][..] } else { unsafe { core::slice::from_raw_parts(ptr, len.min(1 << 16)) } };
                    out.push_str(&String::from_utf8_lossy(s));
                } else {
                    out.push_str(&String::from_utf8_lossy(c_str(args.word() as usize as *const u8)));
                }
            }
            b'd' | b'i' if long >= 2 => {
                let _ = write!(out, "{}", args.dword() as i64);
            }
            b'u' if long >= 2 => {
                let _ = write!(out, "{}", args.dword());
            }
            b'x' | b'X' if long >= 2 => {
                let _ = write!(out, "{:x}", args.dword());
            }
            b'd' | b'i' => {
                let _ = write!(out, "{}", args.word() as i32);
            }
            b'u' => {
                let _ = write!(out, "{}", args.word());
            }
            b'x' | b'X' => {
                let _ = write!(out, "{:x}", args.word());
            }
            b'c' => out.push(args.word() as u8 as char),
            b'p' => {
                let _ = write!(out, "{:#x}", args.word());
            }
            b'g' | b'f' | b'e' | b'G' | b'F' | b'E' => {
                let _ = write!(out, "{}", f64::from_bits(args.dword()));
            }
            other => {
                out.push('%');
                out.push(other as char);
            }
        }
    }
}

/// The body of `core_log`/`rtio_log`: `args[0]` is the format string.
///
/// # Safety
/// Called only by the naked `core_log`/`rtio_log` wrappers: `args` points to the argument words
/// they stored (r0-r3, then the caller's stack arguments), the first being a NUL-terminated format
/// string and the rest every word that format consumes.
#[cfg_attr(not(target_arch = "arm"), allow(dead_code))]
unsafe extern "C" fn log_body(args: *const u32, _rtio: u32) {
    // SAFETY: `log_body`'s contract: `args` is the argument array the naked wrapper stored, whose
    // first word is the kernel's format string (NUL-terminated by the compiler).
    let fmt = c_str(unsafe { *args } as usize as *const u8);
    // SAFETY: `args` is the whole argument array, r0 (the format) first,
    // holding every word the format consumes (the same contract).
    let mut va = unsafe { VaWords::after_first(args) };
    let mut line = String::new();
    format_c(fmt, &mut va, &mut line);
    // The compiler's format strings end in a newline the log adds itself.
    let line = line.strip_suffix('\n').unwrap_or(&line);
    rt().core_log(line);
}

#[cfg(target_arch = "arm")]
macro_rules! variadic_log {
    ($name:ident, $rtio:expr) => {
        /// `(fmt: *const c_char, ...)`: spills r0–r3 under the caller's
        /// stack arguments so they form one contiguous argument array.
        #[cfg(target_arch = "arm")]
        #[unsafe(naked)]
        pub extern "C" fn $name() {
            core::arch::naked_asm!(
                "push {{r0-r3}}",
                "push {{r4, lr}}",
                "add r0, sp, #8",
                concat!("mov r1, #", $rtio),
                "bl {body}",
                "pop {{r4, lr}}",
                "add sp, sp, #16",
                "bx lr",
                body = sym log_body,
            )
        }
    };
}

#[cfg(target_arch = "arm")]
variadic_log!(core_log, "0");
#[cfg(target_arch = "arm")]
variadic_log!(rtio_log, "1");

// ---- DMA ------------------------------------------------------------------------

pub extern "C" fn dma_record_start(name: CSlice) {
    rt().dma_record_start(bytes_of(&name))
}

pub extern "C" fn dma_record_stop(duration: i64, enable_ddma: u32) {
    rt().dma_record_stop(duration, enable_ddma & 0xff != 0)
}

pub extern "C" fn dma_erase(name: CSlice) {
    rt().dma_erase(bytes_of(&name))
}

pub extern "C" fn dma_retrieve(name: CSlice) -> DmaTrace {
    rt().dma_retrieve(bytes_of(&name))
}

pub extern "C" fn dma_playback(timestamp: i64, address: i32, uses_ddma: u32) {
    rt().dma_playback(timestamp, address, uses_ddma & 0xff != 0)
}

// ---- subkernels -------------------------------------------------------------------

pub extern "C" fn subkernel_load_run(id: i32, destination: u32, run: u32) {
    rt().subkernel_load_run(id as u32, destination as u8, run & 0xff != 0)
}

pub extern "C" fn subkernel_await_finish(id: i32, timeout_ms: i64) {
    rt().subkernel_await_finish(id as u32, timeout_ms)
}

/// # Safety
/// Called by compiled kernels: pointer arguments follow the kernel ABI.
pub unsafe extern "C" fn subkernel_send_message(
    id: i32,
    is_return: u32,
    destination: u32,
    count: u32,
    tags: *const CSlice,
    data: *const *const u8,
) {
    // SAFETY: the kernel ABI: `tags` points to the tag string's slice.
    let tags = bytes_of(unsafe { &*tags });
    let count = (count & 0xff) as usize;
    // SAFETY: the kernel ABI: `data` holds `count` argument pointers.
    let args = if count == 0 { &[][..] } else { unsafe { core::slice::from_raw_parts(data, count) } };
    // SAFETY: each argument points to a valid value of its tag's type, as
    // the compiler lays them out (the kernel ABI).
    unsafe { rt().subkernel_send_message(id as u32, is_return & 0xff != 0, destination as u8, tags, args) }
}

/// # Safety
/// Called by compiled kernels: pointer arguments follow the kernel ABI.
pub unsafe extern "C" fn subkernel_await_message(id: i32, timeout_ms: i64, tags: *const CSlice, min: u32, max: u32) -> i32 {
    // SAFETY: the kernel ABI: `tags` points to the tag string's slice.
    let tags = bytes_of(unsafe { &*tags });
    rt().subkernel_await_message(id, timeout_ms, tags, min as u8, max as u8) as i32
}

/// # Safety
/// Called by compiled kernels: pointer arguments follow the kernel ABI.
pub unsafe extern "C" fn rpc_recv(slot: *mut u8) -> i32 {
    // SAFETY: the kernel ABI: `slot` is the value's slot, or storage of the
    // size the previous call returned.
    unsafe { rt().rpc_recv(slot) as i32 }
}

// ---- exceptions -------------------------------------------------------------------

#[cfg(target_arch = "arm")]
pub use crate::eh::target::{__artiq_end_catch, __artiq_raise, __artiq_resume, _Unwind_Resume};

/// Host builds: every exception is uncaught.
///
/// # Safety
/// Called by compiled kernels: pointer arguments follow the kernel ABI.
#[cfg(not(target_arch = "arm"))]
pub unsafe extern "C" fn __artiq_raise(exn: *const Exception) -> ! {
    // SAFETY: the kernel ABI: `exn` points to the kernel's exception object.
    let exn = unsafe { *exn };
    rt().raise(&exn)
}

#[cfg(not(target_arch = "arm"))]
pub extern "C" fn __artiq_resume() -> ! {
    let exn = Exception::firmware(id::RUNTIME_ERROR, "__artiq_resume without an exception in flight", [0; 3]);
    rt().raise(&exn)
}

#[cfg(not(target_arch = "arm"))]
pub extern "C" fn __artiq_end_catch() {}

#[cfg(not(target_arch = "arm"))]
#[allow(non_snake_case)]
pub extern "C" fn _Unwind_Resume(_ucb: *mut u8) -> ! {
    __artiq_resume()
}

/// Only referenced from the kernel's `.ARM.extab` (through its PLT stub):
/// the firmware's unwinder interprets ARTIQ's LSDA itself
/// ([`crate::eh::lsda`]) and never calls a personality routine. Answers
/// `_URC_FAILURE` so that any other unwinder would stop.
pub extern "C" fn __artiq_personality(_state: u32, _ucb: *mut u8, _ctx: *mut u8) -> u32 {
    9 // _URC_FAILURE
}

pub extern "C" fn test_exception_id_sync(_id: i32) {}

/// Host RPC, I2C and CoaXPress are not available to subkernels: calling one
/// ends the subkernel with an explicit error.
pub extern "C" fn unsupported() -> ! {
    let exn = Exception::firmware(
        id::NOT_IMPLEMENTED_ERROR,
        "this kernel API (host RPC, I2C or CoaXPress) is not available to subkernels on a satellite",
        [0; 3],
    );
    rt().raise(&exn)
}

// ---- cache ------------------------------------------------------------------------

pub extern "C" fn cache_get(key: CSlice) -> *const CList {
    rt().cache_get(bytes_of(&key))
}

/// # Safety
/// Called by compiled kernels: pointer arguments follow the kernel ABI.
pub unsafe extern "C" fn cache_put(key: CSlice, value: *const CList) {
    // SAFETY: the kernel ABI: `value` points to a list header of `len`
    // readable `i32`s.
    let list = unsafe { &*value };
    // SAFETY: as above.
    let words = if list.len == 0 { &[][..] } else { unsafe { core::slice::from_raw_parts(list.ptr, list.len as usize) } };
    let owned: Vec<i32> = words.to_vec();
    rt().cache_put(bytes_of(&key), &owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `words` are the arguments after the format string (r1 on).
    fn fmt(f: &str, words: &[u32]) -> String {
        let mut s = String::new();
        let args: Vec<u32> = core::iter::once(0).chain(words.iter().copied()).collect();
        // SAFETY: `args` holds the format's word and every word the format
        // below consumes.
        let mut va = unsafe { VaWords::after_first(args.as_ptr()) };
        format_c(f.as_bytes(), &mut va, &mut s);
        s
    }

    #[test]
    fn formats_the_compilers_conversions() {
        let text = b"hello";
        let p = text.as_ptr() as usize as u32;
        // %.*s takes (len, ptr); %lld is 8-aligned counting from r0: after
        // one int (r1) it is r2:r3, first it skips r1.
        if core::mem::size_of::<usize>() == 4 {
            assert_eq!(fmt("%.*s!", &[5, p]), "hello!");
        }
        assert_eq!(fmt("%d %u %x %%", &[(-3i32) as u32, 7, 255]), "-3 7 ff %");
        assert_eq!(fmt("%d %lld", &[1, 0x2, 0x1]), "1 4294967298");
        let g = 2.5f64.to_bits();
        assert_eq!(fmt("%lld|%g", &[0, 5, 0, g as u32, (g >> 32) as u32]), "5|2.5");
        // Two ints (r1, r2), then i64s: the first skips r3 for the stack.
        assert_eq!(fmt("%d %d %lld %lld", &[7, 8, 0, 1, 0, 2, 0]), "7 8 1 2");
        assert_eq!(fmt("%5.2f %c %q", &[0, g as u32, (g >> 32) as u32, b'z' as u32]), "2.5 z %q");
        assert_eq!(fmt("trailing %", &[]), "trailing ");
    }
}
