//! Loads the test kernels built by `kernels/build.sh` (real lld output), if
//! they have been built; otherwise says so and passes.
//!
//! Run with `--nocapture` to see each kernel's relocations and imports.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;
use std::{format, fs, println, vec};

use super::*;
use crate::api::NAMES;

/// Every kernel `kernels/build.sh` produces.
const KERNELS: &[&str] = &[
    "ttl_pulses",
    "dma_record_playback",
    "args_return",
    "message_pingpong",
    "raise_exception",
    "never_finishes",
    "float_delay",
    "catch_exception",
    "catch_mismatch",
    "finally_then_catch",
    "catch_underflow",
    "finally_uncaught",
];

/// A fake firmware: each API name at its own address.
fn dummy_address(name: &[u8]) -> Option<u32> {
    NAMES
        .iter()
        .position(|n| n.as_bytes() == name)
        .map(|i| 0x0010_0000 + 0x10 * i as u32)
}

fn kernels_dir() -> PathBuf {
    match std::env::var_os("SATMAN_KERNELS_DIR") {
        Some(dir) => dir.into(),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../kernels/out")),
    }
}

#[test]
fn built_kernels_load_against_the_api_names() {
    let dir = kernels_dir();
    let present: Vec<&str> = KERNELS
        .iter()
        .copied()
        .filter(|k| dir.join(format!("{k}.elf")).is_file())
        .collect();
    if present.is_empty() {
        println!(
            "skipped: no kernels in {} (run kernels/build.sh to build them)",
            dir.display()
        );
        return;
    }
    let missing: Vec<&str> = KERNELS
        .iter()
        .copied()
        .filter(|k| !present.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "kernels/build.sh output is incomplete, missing {missing:?} in {}",
        dir.display()
    );

    const BASE: u32 = 0x4000_0000;
    for name in present {
        let path = dir.join(format!("{name}.elf"));
        let bytes = fs::read(&path).unwrap();
        let kernel = Kernel::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));

        let imports = kernel.imports().unwrap();
        let unknown: Vec<String> = imports
            .iter()
            .filter(|i| dummy_address(i).is_none())
            .map(|i| String::from_utf8_lossy(i).into_owned())
            .collect();
        assert!(
            unknown.is_empty(),
            "{name} imports symbols outside api::NAMES: {unknown:?}"
        );

        // Exports are exactly what kernel.ld and the kernel define: nothing
        // from core or compiler-builtins leaked in as a linked copy.
        // And every undefined symbol is an import a relocation uses.
        let mut exports = Vec::new();
        for index in 1..kernel.syms.nsyms {
            let sym = kernel.symbol(index, 0).unwrap();
            let sym_name = kernel.name(&sym).unwrap();
            if Kernel::defined_value(&sym).is_none() {
                assert!(
                    imports.contains(&sym_name),
                    "{name}: stray undefined symbol {sym_name:?}"
                );
            } else if sym.st_bind() != elf::abi::STB_LOCAL {
                exports.push(String::from_utf8_lossy(sym_name).into_owned());
            }
        }
        exports.sort();
        assert_eq!(
            exports,
            ["__bss_start", "__modinit__", "_end", "_sstack_guard"],
            "{name}"
        );

        let mut dest = vec![0u8; kernel.size() as usize];
        let loaded = kernel
            .load(&mut dest, BASE, &dummy_address)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.entry, BASE + kernel.entry_offset());
        assert!(loaded.entry < BASE + loaded.size);
        assert!(!loaded.exidx.is_empty(), "{name}: no .ARM.exidx");
        assert!(loaded.bss.end <= BASE + loaded.size);

        // Every import slot now holds the fake firmware address.
        let relocations = kernel.relocations().unwrap();
        let mut kinds = BTreeMap::new();
        for r in &relocations {
            *kinds.entry(reloc::name(r.rtype)).or_insert(0) += 1;
            if r.rtype == R_ARM_JUMP_SLOT || r.rtype == R_ARM_GLOB_DAT {
                let at = r.offset as usize;
                let value = u32::from_le_bytes(dest[at..at + 4].try_into().unwrap());
                let expected = dummy_address(r.symbol).unwrap_or_else(|| {
                    // Defined in the image itself.
                    assert!(
                        r.defined,
                        "{name}: {} unresolved",
                        String::from_utf8_lossy(r.symbol)
                    );
                    value
                });
                assert_eq!(
                    value,
                    expected,
                    "{name}: slot of {}",
                    String::from_utf8_lossy(r.symbol)
                );
            }
        }
        let imports: Vec<String> = imports
            .iter()
            .map(|i| String::from_utf8_lossy(i).into_owned())
            .collect();
        println!(
            "{name}: {} bytes file, {:#x} bytes image, entry {:#x}, exidx {} entries, relocations {kinds:?}, imports {imports:?}",
            bytes.len(),
            kernel.size(),
            kernel.entry_offset(),
            (loaded.exidx.end - loaded.exidx.start) / 8,
        );
    }
}
