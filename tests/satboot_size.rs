//! The Kasli-SoC boot loader fits the BootROM's OCM budget: the BootROM
//! copies the `[bootloader]` partition into OCM at 0 and refuses one
//! larger than 192 KiB, and the loader's `.bss`, translation table and
//! stack live there too. Checked on the ELF the build script built
//! (`satboot --features kasli_soc`): the loadable bytes (what bootgen puts
//! in BOOT.BIN) and the whole footprint up to the end of the stack.
//!
//! The linker script asserts the same at link time; this test states the
//! figures and keeps a margin in view.

use satman_systest::qemu::{satboot_kasli_soc_elf, skip_test};

const OCM: u64 = 192 * 1024;

/// What the test reads from an ELF32 (little-endian) file.
struct Footprint {
    /// Sum of PT_LOAD file sizes.
    loadable: u64,
    /// Lowest PT_LOAD address to the highest PT_LOAD end (memory size).
    span: (u64, u64),
    /// `__stack_end`, from the symbol table.
    stack_end: Option<u64>,
}

fn u16_at(b: &[u8], o: usize) -> u64 {
    u16::from_le_bytes([b[o], b[o + 1]]) as u64
}
fn u32_at(b: &[u8], o: usize) -> u64 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as u64
}

fn footprint(elf: &[u8]) -> Footprint {
    assert_eq!(&elf[..6], b"\x7fELF\x01\x01", "an ELF32 little-endian file");
    let (phoff, shoff) = (u32_at(elf, 0x1C) as usize, u32_at(elf, 0x20) as usize);
    let (phentsize, phnum) = (u16_at(elf, 0x2A) as usize, u16_at(elf, 0x2C) as usize);
    let (shentsize, shnum) = (u16_at(elf, 0x2E) as usize, u16_at(elf, 0x30) as usize);
    let mut loadable = 0;
    let (mut lo, mut hi) = (u64::MAX, 0);
    for i in 0..phnum {
        let p = phoff + i * phentsize;
        if u32_at(elf, p) != 1 {
            continue;
        }
        let (vaddr, filesz, memsz) = (u32_at(elf, p + 8), u32_at(elf, p + 16), u32_at(elf, p + 20));
        loadable += filesz;
        lo = lo.min(vaddr);
        hi = hi.max(vaddr + memsz);
    }
    let section = |i: usize| elf[shoff + i * shentsize..].as_ref();
    let mut stack_end = None;
    for i in 0..shnum {
        let s = section(i);
        if u32_at(s, 4) != 2 {
            continue; // not SHT_SYMTAB
        }
        let strtab = section(u32_at(s, 24) as usize);
        let (str_off, sym_off, sym_size) = (
            u32_at(strtab, 16) as usize,
            u32_at(s, 16) as usize,
            u32_at(s, 20) as usize,
        );
        for sym in elf[sym_off..sym_off + sym_size].chunks_exact(16) {
            let name_at = str_off + u32_at(sym, 0) as usize;
            let name = elf[name_at..].split(|&c| c == 0).next().unwrap();
            if name == b"__stack_end" {
                stack_end = Some(u32_at(sym, 4));
            }
        }
    }
    Footprint {
        loadable,
        span: (lo, hi),
        stack_end,
    }
}

#[test]
fn kasli_soc_loader_fits_ocm() {
    if skip_test("kasli_soc_loader_fits_ocm") {
        return;
    }
    let path = satboot_kasli_soc_elf().expect("the Kasli-SoC satboot was built");
    let elf = std::fs::read(&path).unwrap();
    let f = footprint(&elf);
    let stack_end = f.stack_end.expect("__stack_end in the symbol table");
    eprintln!(
        "satboot (kasli_soc): {} B loadable, OCM {:#x}..{:#x} with .bss and stack ({} of {} KiB)",
        f.loadable,
        f.span.0,
        stack_end,
        stack_end.div_ceil(1024),
        OCM / 1024
    );
    assert_eq!(f.span.0, 0, "linked at OCM address 0, where the BootROM puts it");
    assert!(
        f.loadable <= OCM,
        "{} loadable bytes exceed the BootROM's 192 KiB",
        f.loadable
    );
    assert!(
        stack_end <= OCM,
        "image, .bss and stack end at {stack_end:#x}, beyond OCM's 192 KiB"
    );
    assert!(f.span.1 <= stack_end, "nothing is placed after the stack");
}
