//! The names a kernel may import, grouped by who provides them.
//!
//! Source: `shared/reference/kernel-abi.md` section 2. These lists are plain
//! data so that host tests (and CPU0, which never runs kernels) can check
//! images against them.

/// ARTIQ runtime entry points the satellite services for subkernels (the
/// lead's kernel-side runtime implements them; see [`super::artiq`]).
pub const ARTIQ: &[&str] = &[
    // timeline
    "now_mu",
    "at_mu",
    "delay_mu",
    // RTIO
    "rtio_init",
    "rtio_get_counter",
    "rtio_get_destination_status",
    "rtio_output",
    "rtio_output_wide",
    "rtio_input_timestamp",
    "rtio_input_data",
    "rtio_input_timestamped_data",
    "rtio_batch_start",
    "rtio_batch_end",
    "rtio_log",
    // DMA
    "dma_record_start",
    "dma_record_stop",
    "dma_erase",
    "dma_retrieve",
    "dma_playback",
    // subkernels and messages
    "subkernel_load_run",
    "subkernel_await_finish",
    "subkernel_send_message",
    "subkernel_await_message",
    "rpc_recv",
    // exceptions
    "__artiq_raise",
    "__artiq_resume",
    "__artiq_end_catch",
    "__artiq_personality",
    "_Unwind_Resume",
    "test_exception_id_sync",
    // misc
    "core_log",
    "cache_get",
    "cache_put",
];

/// ARTIQ entry points a satellite does not service (host RPC, I2C,
/// CoaXPress). A kernel that merely references them must still load; calling
/// one ends the subkernel with an error, as the reference satman does.
pub const ARTIQ_UNSUPPORTED: &[&str] = &[
    "rpc_send",
    "rpc_send_async",
    "i2c_start",
    "i2c_restart",
    "i2c_stop",
    "i2c_write",
    "i2c_read",
    "i2c_switch_select",
    "cxp_download_xml_file",
    "cxp_read32",
    "cxp_write32",
    "cxp_start_roi_viewer",
    "cxp_download_roi_viewer_frame",
];

/// Double-precision maths (AAPCS-VFP: f64 in d0/d1, result in d0).
#[rustfmt::skip]
pub const LIBM: &[&str] = &[
    // unary
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "cbrt", "ceil", "cos", "cosh", "erf", "erfc",
    "exp", "exp2", "exp10", "expm1", "fabs", "floor", "j0", "j1", "lgamma", "log", "log2", "log10",
    "rint", "round", "sin", "sinh", "sqrt", "tan", "tanh", "tgamma", "trunc", "y0", "y1",
    // binary
    "atan2", "copysign", "fmax", "fmin", "fmod", "hypot", "nextafter", "pow",
    // mixed
    "ldexp", "fma", "jn", "yn", "__powidf2",
];

/// ARM run-time ABI helpers (base AAPCS: floating-point values in core
/// registers). `__aeabi_uidivmod` and `__aeabi_d2f` are not in the reference
/// table but cost nothing and are what LLVM emits for u32 `%` and f64→f32.
#[rustfmt::skip]
pub const RTABI: &[&str] = &[
    // double arithmetic and comparison
    "__aeabi_dadd", "__aeabi_ddiv", "__aeabi_dmul", "__aeabi_dsub",
    "__aeabi_dcmpeq", "__aeabi_dcmplt", "__aeabi_dcmple", "__aeabi_dcmpge", "__aeabi_dcmpgt", "__aeabi_dcmpun",
    // single arithmetic and comparison
    "__aeabi_fadd", "__aeabi_fdiv", "__aeabi_fmul", "__aeabi_fsub",
    "__aeabi_fcmpeq", "__aeabi_fcmplt", "__aeabi_fcmple", "__aeabi_fcmpge", "__aeabi_fcmpgt", "__aeabi_fcmpun",
    // conversions
    "__aeabi_d2iz", "__aeabi_d2uiz", "__aeabi_d2lz", "__aeabi_d2ulz",
    "__aeabi_f2iz", "__aeabi_f2uiz", "__aeabi_f2lz", "__aeabi_f2ulz",
    "__aeabi_f2d", "__aeabi_d2f",
    "__aeabi_i2d", "__aeabi_ui2d", "__aeabi_l2d", "__aeabi_ul2d",
    "__aeabi_i2f", "__aeabi_ui2f", "__aeabi_l2f", "__aeabi_ul2f",
    // 64-bit integers
    "__aeabi_lmul", "__aeabi_llsl", "__aeabi_llsr", "__aeabi_lasr",
    // division (the A9 has no divider)
    "__aeabi_idiv", "__aeabi_idivmod", "__aeabi_uidiv", "__aeabi_uidivmod",
    "__aeabi_ldivmod", "__aeabi_uldivmod",
    // memory
    "__aeabi_memcpy", "__aeabi_memcpy4", "__aeabi_memcpy8",
    "__aeabi_memmove", "__aeabi_memmove4", "__aeabi_memmove8",
    "__aeabi_memset", "__aeabi_memset4", "__aeabi_memset8",
    "__aeabi_memclr", "__aeabi_memclr4", "__aeabi_memclr8",
];

/// The C library functions LLVM may call.
pub const LIBC: &[&str] = &["memcpy", "memmove", "memset", "memcmp", "bcmp", "strlen"];

/// Every group, in lookup order.
pub const GROUPS: &[&[&str]] = &[ARTIQ, ARTIQ_UNSUPPORTED, LIBM, RTABI, LIBC];

const fn total(groups: &[&[&str]]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < groups.len() {
        n += groups[i].len();
        i += 1;
    }
    n
}

const fn concat<const N: usize>(groups: &[&[&'static str]]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut k = 0;
    let mut i = 0;
    while i < groups.len() {
        let mut j = 0;
        while j < groups[i].len() {
            out[k] = groups[i][j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

/// Every symbol a kernel may import, all groups together.
pub const NAMES: [&str; total(GROUPS)] = concat(GROUPS);

/// Const string equality (`==` on `&str` is not const).
pub(crate) const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// No name appears twice: checked at compile time.
const _: () = {
    let mut i = 0;
    while i < NAMES.len() {
        let mut j = i + 1;
        while j < NAMES.len() {
            assert!(!str_eq(NAMES[i], NAMES[j]), "duplicate name in api::NAMES");
            j += 1;
        }
        i += 1;
    }
};

/// Slots of [`INDEX`]: a power of two, about three times the names, so
/// that a lookup probes one or two slots.
const SLOTS: usize = 512;
const _: () = assert!(NAMES.len() < SLOTS / 2, "api::NAMES outgrew its index");

/// The slot a name hashes to (h * 33 + c from 5381, as `DT_GNU_HASH`).
const fn slot_of(name: &[u8]) -> usize {
    let mut h: u32 = 5381;
    let mut i = 0;
    while i < name.len() {
        h = (h << 5).wrapping_add(h).wrapping_add(name[i] as u32);
        i += 1;
    }
    h as usize & (SLOTS - 1)
}

/// [`NAMES`] by hash, built at compile time: slot = index + 1, 0 = empty,
/// collisions in the next slots (linear probing).
static INDEX: [u16; SLOTS] = {
    let mut index = [0u16; SLOTS];
    let mut i = 0;
    while i < NAMES.len() {
        let mut slot = slot_of(NAMES[i].as_bytes());
        while index[slot] != 0 {
            slot = (slot + 1) & (SLOTS - 1);
        }
        index[slot] = i as u16 + 1;
        i += 1;
    }
    index
};

/// The index of `name` in [`NAMES`], by exact match. Bounded: the index
/// has empty slots, and a probe ends at the first.
pub fn position(name: &[u8]) -> Option<usize> {
    position_hashed(name, crate::loader::gnu_hash(name))
}

/// [`position`] given the name's hash (`slot_of`'s, which is the
/// `DT_GNU_HASH` hash the loader computes while reading the name).
pub fn position_hashed(name: &[u8], gnu_hash: u32) -> Option<usize> {
    let mut slot = gnu_hash as usize & (SLOTS - 1);
    loop {
        let i = usize::from(*INDEX.get(slot)?).checked_sub(1)?;
        if NAMES.get(i)?.as_bytes() == name {
            return Some(i);
        }
        slot = (slot + 1) & (SLOTS - 1);
    }
}
