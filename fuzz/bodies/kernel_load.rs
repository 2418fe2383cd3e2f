//! Body of the `kernel_load` fuzz target, shared with `tests/fuzz_smoke.rs`.
//!
//! Parses arbitrary bytes as a kernel image and, when they parse, loads and
//! relocates them into a buffer, as CPU1 does for every `Load`.
//!
//! Nothing may panic. A parsed image must report a sane layout; a load must
//! either fail or place the entry point, `.bss` and `.ARM.exidx` inside the
//! image; two loads into buffers holding different garbage must give the
//! same bytes (every gap is zeroed), with either resolver; a destination one byte short and a
//! misaligned load address must be refused.

use libksupport::loader::Kernel;

/// Load address (a multiple of every alignment the loader accepts).
const BASE: u32 = 0x1000_0000;
/// Images larger than this are parsed but not loaded (the loader accepts
/// up to 256 MiB; allocating that per input would only slow the fuzzer).
const MAX_LOAD: usize = 4 << 20;

/// The firmware's name lookup, with a made-up address per name.
fn resolve(name: &[u8]) -> Option<u32> {
    libksupport::api::position(name).map(|i| 0x0010_0000 + 0x10 * i as u32)
}

/// The same lookup as the firmware's `api::Resolver`: by the hash the
/// loader computed while reading the name.
struct Hashed;

impl libksupport::loader::Resolve for Hashed {
    fn resolve(&self, name: &[u8], gnu_hash: u32) -> Option<u32> {
        libksupport::api::position_hashed(name, gnu_hash).map(|i| 0x0010_0000 + 0x10 * i as u32)
    }
}

/// One fuzz input.
pub fn run(elf: &[u8]) {
    let Ok(kernel) = Kernel::parse(elf) else { return };
    let (size, align) = (kernel.size(), kernel.align());
    assert!(align.is_power_of_two() && align >= 8 && BASE.is_multiple_of(align), "align {align}");
    assert!(size > 0 && kernel.entry_offset() & !1 < size);
    let _ = kernel.imports();
    let _ = kernel.relocations();
    let size = size as usize;
    if size > MAX_LOAD {
        return;
    }
    let mut a = vec![0xA5u8; size];
    let Ok(loaded) = kernel.load(&mut a, BASE, &resolve) else { return };
    let end = BASE + size as u32;
    assert_eq!((loaded.load_addr, loaded.size as usize), (BASE, size));
    assert!((BASE..end).contains(&(loaded.entry & !1)));
    for r in [&loaded.bss, &loaded.exidx] {
        assert!(r.start <= r.end && (r.is_empty() || (BASE <= r.start && r.end <= end)), "{r:?}");
    }
    let mut b = vec![0x5Au8; size + 16];
    assert_eq!(kernel.load_with(&mut b, BASE, &Hashed), Ok(loaded));
    assert_eq!(a[..], b[..size]);
    assert!(kernel.load(&mut b[..size - 1], BASE, &resolve).is_err());
    assert!(kernel.load(&mut b, BASE + 4, &resolve).is_err());
}
