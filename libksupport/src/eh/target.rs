//! The unwinder on the kernel CPU: the exception entry points of the kernel
//! ABI and the jump into landing pads (kernel-abi.md §3).
//!
//! # Registers
//!
//! A raise starts from the state of the kernel frame at its call:
//! r4–r11, sp, the return address (lr) and d8–d15, the callee-saved state
//! of AAPCS-VFP ([`Saved`]). `__artiq_raise`, `__artiq_resume` and
//! `_Unwind_Resume` are naked stubs that store it on the stack before
//! calling into Rust. Exceptions the firmware raises inside an API call
//! (`RTIOUnderflow` from `rtio_output`, ...) start from the state the API
//! entry recorded: every API function that can raise is entered through a
//! trampoline ([`entry`]) that stores the same registers in [`BOUNDARY`]
//! (8 instructions; r12, the intra-procedure scratch register, is free at
//! a call) and branches to the function with every argument untouched.
//!
//! # Phases
//!
//! 1. Search: walk the kernel's frames ([`super::walk`]) for the first
//!    `except` clause that matches the exception id, recording the
//!    backtrace (pc − image base, sp) on the way.
//! 2. Cleanup: walk again and enter the first landing pad that catches the
//!    exception or cleans up: the registers of its frame are restored (r4–
//!    r11, sp, d8–d15) and it is entered with r0 = the slot's control block
//!    and r1 = the slot's copy of the exception. A cleanup pad ends with
//!    `__artiq_resume`, which continues phase 2 from its own frame.
//!
//! If phase 1 finds no handler the cleanup pads still run (as `finally`
//! does in Python, and as the reference's forced unwind does); when phase 2
//! reaches the end of the kernel's stack the exception is reported to CPU0
//! with the backtrace of phase 1 (`Runtime::report_with_backtrace`), as
//! before. A walk that meets a malformed table stops there: what was found
//! so far stands, and the exception is reported as uncaught.
//!
//! Nothing here allocates: exceptions in flight live in a static pool
//! ([`super::inflight`]), and IRQs stay enabled throughout (CPU0 can stop
//! CPU1 at any instruction; everything here is reset with the kernel).

use core::ops::Range;

use super::inflight::{InFlight, Ucb};
use super::{walk, Image, Landing, Memory, PadKind, Phase, Regs, PC, SP};
use crate::abi;
use crate::exception::{id, Exception};

/// The callee-saved state of a kernel frame at a call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Saved {
    pub r4_r11: [u32; 8],
    /// sp at the call (before the callee pushed anything).
    pub sp: u32,
    /// The return address.
    pub lr: u32,
    pub d8_d15: [u64; 8],
}

const _: () = {
    assert!(core::mem::size_of::<Saved>() == 104);
    assert!(core::mem::offset_of!(Saved, sp) == 32);
    assert!(core::mem::offset_of!(Saved, lr) == 36);
    assert!(core::mem::offset_of!(Saved, d8_d15) == 40);
};

impl Saved {
    const ZERO: Saved = Saved { r4_r11: [0; 8], sp: 0, lr: 0, d8_d15: [0; 8] };

    fn regs(&self) -> Regs {
        Regs::at_call(self.r4_r11, self.sp, self.lr, self.d8_d15)
    }
}

/// What the jump into a landing pad loads.
#[repr(C)]
struct LandingCtx {
    r4_r11: [u32; 8],
    sp: u32,
    pc: u32,
    r0: u32,
    r1: u32,
    d8_d15: [u64; 8],
}

const _: () = {
    assert!(core::mem::offset_of!(LandingCtx, sp) == 32);
    assert!(core::mem::offset_of!(LandingCtx, pc) == 36);
    assert!(core::mem::offset_of!(LandingCtx, r0) == 40);
    assert!(core::mem::offset_of!(LandingCtx, r1) == 44);
    assert!(core::mem::offset_of!(LandingCtx, d8_d15) == 48);
};

/// The loaded kernel, as the unwinder needs it.
struct Kernel {
    base: u32,
    image: Image,
    /// CPU1's stack: the only other memory the unwinder reads.
    stack: Range<u32>,
}

// CPU1 only; entry points never nest (a kernel runs one API call at a time).
// CPU1 writes it: in the pages its translation table lets it write.
#[cfg_attr(all(target_arch = "arm", target_os = "none"), unsafe(link_section = ".cpu1"))]
static mut KERNEL: Option<Kernel> = None;
// CPU1 writes it: in the pages its translation table lets it write.
#[cfg_attr(all(target_arch = "arm", target_os = "none"), unsafe(link_section = ".cpu1"))]
static mut STATE: InFlight = InFlight::new();
// CPU1 writes it: in the pages its translation table lets it write.
#[cfg_attr(all(target_arch = "arm", target_os = "none"), unsafe(link_section = ".cpu1"))]
static mut LANDING: LandingCtx = LandingCtx { r4_r11: [0; 8], sp: 0, pc: 0, r0: 0, r1: 0, d8_d15: [0; 8] };
/// Written by the API trampolines at every raising API call.
// CPU1 writes it: in the pages its translation table lets it write.
#[cfg_attr(all(target_arch = "arm", target_os = "none"), unsafe(link_section = ".cpu1"))]
pub static mut BOUNDARY: Saved = Saved::ZERO;

/// Tells the unwinder where the kernel about to run is: its memory
/// (`base .. base + size`), its `.ARM.exidx` (the loader's
/// `Loaded::exidx`), and CPU1's stack.
///
/// # Safety
/// Kernel CPU only, with no kernel code running.
pub unsafe fn set_kernel(base: u32, size: u32, exidx: Range<u32>, stack: Range<u32>) {
    let image = Image { code: base..base.saturating_add(size), exidx };
    // SAFETY: the caller's contract: CPU1, no kernel code running, so no
    // reference to `KERNEL` is live.
    unsafe { *core::ptr::addr_of_mut!(KERNEL) = Some(Kernel { base, image, stack }) };
}

/// Forgets every exception in flight and the last API boundary (done by
/// [`abi::install`] for every kernel).
///
/// # Safety
/// Kernel CPU only, with no kernel code running.
pub unsafe fn reset() {
    // SAFETY: CPU1 with no kernel code running (the caller's contract): no
    // reference to the in-flight state or `BOUNDARY` is live.
    unsafe {
        state().reset();
        *core::ptr::addr_of_mut!(BOUNDARY) = Saved::ZERO;
    }
}

/// The exceptions in flight.
///
/// # Safety
/// CPU1 only (the static is CPU1's), and no reference an earlier call
/// returned is used after this one: each user takes it afresh. Entry points
/// never nest (a kernel runs one API call at a time), so nothing else holds
/// one meanwhile.
unsafe fn state() -> &'static mut InFlight {
    // SAFETY: the caller's contract makes this the only live reference.
    unsafe { &mut *core::ptr::addr_of_mut!(STATE) }
}

/// The kernel `set_kernel` described.
///
/// # Safety
/// CPU1 only, and not while `set_kernel` runs (it runs only between
/// kernels, when none of the unwinder's entry points runs).
unsafe fn kernel() -> Option<&'static Kernel> {
    // SAFETY: the caller's contract: nothing writes `KERNEL` meanwhile.
    unsafe { (*core::ptr::addr_of!(KERNEL)).as_ref() }
}

/// Reads bounded to the kernel image and CPU1's stack.
struct TargetMemory<'a> {
    image: &'a Range<u32>,
    stack: &'a Range<u32>,
}

impl TargetMemory<'_> {
    fn readable(&self, addr: u32, len: u32) -> bool {
        let Some(end) = addr.checked_add(len) else { return false };
        let within = |r: &Range<u32>| r.start <= addr && end <= r.end;
        within(self.image) || within(self.stack)
    }
}

impl Memory for TargetMemory<'_> {
    fn read_u8(&self, addr: u32) -> Option<u8> {
        // SAFETY: `readable` confined the address to the kernel image or CPU1's stack, both mapped
        // and readable on CPU1 while the kernel runs.
        self.readable(addr, 1).then(|| unsafe { core::ptr::read_volatile(addr as usize as *const u8) })
    }

    fn read_u32(&self, addr: u32) -> Option<u32> {
        if addr.is_multiple_of(4) && self.readable(addr, 4) {
            // SAFETY: as in `read_u8`, for 4 aligned bytes.
            return Some(unsafe { core::ptr::read_volatile(addr as usize as *const u32) });
        }
        let mut b = [0u8; 4];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = self.read_u8(addr.checked_add(i as u32)?)?;
        }
        Some(u32::from_le_bytes(b))
    }
}

impl Kernel {
    fn memory(&self) -> TargetMemory<'_> {
        TargetMemory { image: &self.image.code, stack: &self.stack }
    }
}

/// Ends the kernel with `exn` as an uncaught exception.
fn report(exn: &Exception, backtrace: &[(u32, u32)]) -> ! {
    // SAFETY: CPU1, from an unwinder entry inside a running kernel, so the runtime is installed;
    // entry points never nest.
    unsafe { abi::current() }.report_with_backtrace(exn, backtrace)
}

/// Reports the exception of `slot` (copied out of the pool first).
fn report_slot(slot: usize) -> ! {
    // SAFETY: CPU1 (the unwinder's only caller); the state is taken afresh.
    let s = unsafe { state() }.slot(slot);
    let exn = s.exn;
    let mut bt = [(0u32, 0u32); super::MAX_BACKTRACE];
    let n = s.backtrace().len();
    bt[..n].copy_from_slice(s.backtrace());
    report(&exn, &bt[..n])
}

/// Phase 1 for `slot` from `regs`, then phase 2. Returns only if no
/// landing pad is to be entered (the exception is uncaught and no cleanup
/// remains).
fn search_and_land(slot: usize, regs: &Regs) {
    // SAFETY: CPU1, between `set_kernel` calls.
    let Some(k) = (unsafe { kernel() }) else { return };
    let mem = k.memory();
    // SAFETY: CPU1; `s` is not used after `cleanup_and_land` takes the
    // state afresh.
    let s = unsafe { state() }.slot_mut(slot);
    s.backtrace_len = 0;
    let exn_id = s.exn.id;
    let found = walk(&mem, &k.image, regs, exn_id, Phase::Search, &mut |f: &Regs| {
        s.record(f.r[PC].wrapping_sub(k.base), f.r[SP]);
    });
    s.uncaught = !matches!(found, Ok(Some(_)));
    if let Err(e) = found {
        log::warn!("exception {}: search stopped: {}", exn_id, e);
    }
    cleanup_and_land(slot, regs)
}

/// Phase 2 for `slot` from `regs`. Returns only if there is no landing pad
/// to enter.
fn cleanup_and_land(slot: usize, regs: &Regs) {
    // SAFETY: CPU1, between `set_kernel` calls.
    let Some(k) = (unsafe { kernel() }) else { return };
    let mem = k.memory();
    // SAFETY: CPU1; a temporary, used at once.
    let exn_id = unsafe { state() }.slot(slot).exn.id;
    match walk(&mem, &k.image, regs, exn_id, Phase::Cleanup, &mut |_: &Regs| {}) {
        Ok(Some(l)) => land(k, slot, &l),
        Ok(None) => {}
        Err(e) => log::warn!("exception {}: unwinding stopped: {}", exn_id, e),
    }
}

/// Enters a landing pad; returns only if its address is not in the image.
fn land(k: &Kernel, slot: usize, l: &Landing) {
    if !k.image.code.contains(&l.pad) || !l.pad.is_multiple_of(4) {
        log::warn!("exception: landing pad {:#x} outside the kernel image", l.pad);
        return;
    }
    // SAFETY: CPU1; the state is taken afresh and this frame is left for
    // good by the jump below.
    let st = unsafe { state() };
    st.landed(slot, l.regs.r[SP], l.kind == PadKind::Handler);
    let s = st.slot(slot);
    // SAFETY: CPU1's static, used only here, just before the jump: no other
    // reference to it exists.
    let ctx = unsafe { &mut *core::ptr::addr_of_mut!(LANDING) };
    ctx.r4_r11.copy_from_slice(&l.regs.r[4..12]);
    ctx.sp = l.regs.r[SP];
    ctx.pc = l.pad;
    ctx.r0 = &s.ucb as *const Ucb as usize as u32;
    ctx.r1 = &s.exn as *const Exception as usize as u32;
    ctx.d8_d15.copy_from_slice(&l.regs.d[8..16]);
    // SAFETY: the pad is inside the kernel image and 4-aligned (checked
    // above) and the registers are those phase 2 computed for its frame, on
    // CPU1's stack, which the kernel's frames below it no longer need.
    unsafe { jump(ctx) }
}

/// Restores a frame and jumps to its landing pad.
///
/// # Safety
/// `ctx` holds a landing pad's frame on the current (CPU1) stack, computed by phase 2; everything
/// the jump discards must be dead.
#[unsafe(naked)]
unsafe extern "C" fn jump(_ctx: *const LandingCtx) -> ! {
    core::arch::naked_asm!(
        "add r1, r0, #48",
        "vldmia r1, {{d8-d15}}",
        "ldr sp, [r0, #32]",
        "ldr r12, [r0, #36]",
        "ldr r1, [r0, #44]",
        "ldm r0, {{r4-r11}}",
        "ldr r0, [r0, #40]",
        "bx r12",
    )
}

/// Stores [`Saved`] on the stack and calls `$body(r0, &saved)`.
macro_rules! capture_and_call {
    ($body:path) => {
        core::arch::naked_asm!(
            "sub sp, sp, #104",
            "stm sp, {{r4-r11}}",
            "add r1, sp, #104",
            "str r1, [sp, #32]",
            "str lr, [sp, #36]",
            "add r1, sp, #40",
            "vstmia r1, {{d8-d15}}",
            "mov r1, sp",
            "bl {body}",
            "udf #0",
            body = sym $body,
        )
    };
}

/// `__artiq_raise(exn: *const Exception) -> !`.
#[unsafe(naked)]
pub extern "C" fn __artiq_raise() {
    capture_and_call!(raise_body)
}

/// `__artiq_resume() -> !`: the end of a cleanup pad.
#[unsafe(naked)]
pub extern "C" fn __artiq_resume() {
    capture_and_call!(resume_body)
}

/// `_Unwind_Resume(ucb) -> !`: as `__artiq_resume`, for the given block.
#[unsafe(naked)]
#[allow(non_snake_case)]
pub extern "C" fn _Unwind_Resume() {
    capture_and_call!(unwind_resume_body)
}

/// `__artiq_end_catch()`: the end of a handler.
pub extern "C" fn __artiq_end_catch() {
    // SAFETY: called by kernel code, which runs on CPU1 only; entry points
    // never nest, so no other reference to the state is live.
    unsafe { state() }.end_catch()
}

/// A raise the unwinder itself makes (a misuse of the ABI) from the frame
/// `saved` describes.
fn raise_firmware(message: &'static str, saved: &Saved) -> ! {
    let exn = Exception::firmware(id::RUNTIME_ERROR, message, [0; 3]);
    raise_from(exn, core::ptr::null(), saved, false)
}

fn raise_from(exn: Exception, origin: *const Exception, saved: &Saved, copy_message: bool) -> ! {
    // SAFETY: CPU1, the state taken afresh; with `copy_message` (firmware
    // exceptions) the strings are the firmware's, readable.
    match unsafe { state().raise(exn, origin, copy_message) } {
        Ok(slot) => {
            search_and_land(slot, &saved.regs());
            report_slot(slot)
        }
        Err(_) => {
            log::error!("exception {}: too many exceptions in flight", exn.id);
            report(&Exception::firmware(id::RUNTIME_ERROR, "too many nested exceptions in flight", [0; 3]), &[])
        }
    }
}

/// # Safety
/// Called only by `__artiq_raise`'s stub: `saved` is its on-stack capture, `exn` the kernel's
/// argument (null or readable).
unsafe extern "C" fn raise_body(exn: *const Exception, saved: *const Saved) -> ! {
    // SAFETY: `capture_and_call!` passes its on-stack `Saved`, written just before.
    let saved = unsafe { *saved };
    if exn.is_null() {
        raise_firmware("__artiq_raise with a null exception", &saved);
    }
    // The object may be one of our own slots (a re-raise): copy it first.
    // SAFETY: the kernel passes its exception object (non-null, checked);
    // the ABI makes it readable for the call.
    let copy = unsafe { core::ptr::read_unaligned(exn) };
    raise_from(copy, exn, &saved, false)
}

/// # Safety
/// Called only by `__artiq_resume`'s stub, with `saved` its on-stack capture.
unsafe extern "C" fn resume_body(_r0: u32, saved: *const Saved) -> ! {
    // SAFETY: `capture_and_call!` passes its on-stack `Saved`.
    let saved = unsafe { *saved };
    // SAFETY: CPU1, a temporary taken afresh.
    match unsafe { state() }.resume() {
        Some(slot) => {
            cleanup_and_land(slot, &saved.regs());
            report_slot(slot)
        }
        None => raise_firmware("__artiq_resume without an exception in flight", &saved),
    }
}

/// # Safety
/// Called only by `_Unwind_Resume`'s stub, with `saved` its on-stack capture.
unsafe extern "C" fn unwind_resume_body(ucb: *const Ucb, saved: *const Saved) -> ! {
    // SAFETY: `capture_and_call!` passes its on-stack `Saved`.
    let saved = unsafe { *saved };
    // SAFETY: CPU1; `st` is last used before `cleanup_and_land`.
    let st = unsafe { state() };
    match st.find_ucb(ucb) {
        Some(slot) => {
            // Continue that one: anything newer is over.
            while st.order().last().is_some_and(|&i| i as usize != slot) {
                let top = *st.order().last().unwrap_or(&0) as usize;
                st.remove(top);
            }
            st.slot_mut(slot).state = super::inflight::State::Unwinding;
            cleanup_and_land(slot, &saved.regs());
            report_slot(slot)
        }
        None => raise_firmware("_Unwind_Resume with an unknown exception", &saved),
    }
}

/// For `KernelHost::unwind` on CPU1: tries to hand an exception the
/// firmware raises inside an API call to the kernel, starting from the
/// registers the API entry recorded. Never returns if the kernel has a
/// landing pad for it; otherwise fills `backtrace` and returns its length.
///
/// # Safety
/// Kernel CPU only, from inside an API call entered through [`entry`]; the
/// exception's message must be readable.
pub unsafe fn unwind_api_exception(exn: &Exception, backtrace: &mut [(u32, u32)]) -> usize {
    // SAFETY: CPU1 inside an API call (the caller's contract): the
    // trampoline wrote `BOUNDARY` on entry and nothing writes it meanwhile.
    let saved = unsafe { *core::ptr::addr_of!(BOUNDARY) };
    // SAFETY: CPU1, between `set_kernel` calls.
    if saved.sp == 0 || unsafe { kernel() }.is_none() {
        return 0;
    }
    // SAFETY: CPU1, the state taken afresh; the message is readable (the
    // caller's contract).
    let Ok(slot) = (unsafe { state().raise(*exn, exn, true) }) else { return 0 };
    search_and_land(slot, &saved.regs());
    // SAFETY: CPU1, taken afresh after `search_and_land` returned.
    let st = unsafe { state() };
    let bt = st.slot(slot).backtrace();
    let n = bt.len().min(backtrace.len());
    backtrace[..n].copy_from_slice(&bt[..n]);
    st.remove(slot);
    n
}

/// API entries that record [`BOUNDARY`], then branch to the function.
macro_rules! boundary_entries {
    ($($name:ident),* $(,)?) => {
        /// Trampolines to the API functions that can raise: each records
        /// the kernel's callee-saved registers, sp and lr in [`BOUNDARY`]
        /// and branches to [`crate::abi`]'s function of the same name.
        pub mod entry {
            $(
                #[unsafe(naked)]
                pub extern "C" fn $name() {
                    core::arch::naked_asm!(
                        "movw r12, #:lower16:{boundary}",
                        "movt r12, #:upper16:{boundary}",
                        "stm r12, {{r4-r11}}",
                        "str sp, [r12, #32]",
                        "str lr, [r12, #36]",
                        "add r12, r12, #40",
                        "vstmia r12, {{d8-d15}}",
                        "b {f}",
                        boundary = sym super::BOUNDARY,
                        f = sym crate::abi::$name,
                    )
                }
            )*
        }
    };
}

boundary_entries!(
    rtio_init,
    rtio_get_destination_status,
    rtio_output,
    rtio_output_wide,
    rtio_input_timestamp,
    rtio_input_data,
    rtio_input_timestamped_data,
    dma_record_start,
    dma_record_stop,
    dma_erase,
    dma_retrieve,
    dma_playback,
    subkernel_load_run,
    subkernel_await_finish,
    subkernel_send_message,
    subkernel_await_message,
    rpc_recv,
    cache_put,
    unsupported,
);
