//! Loader tests on synthetic images built by [`super::testelf`].

use std::string::ToString;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::testelf::{align, Built, Hash, Place, Table, TestElf};
use super::*;

/// A 64 KiB-aligned address high enough that a forgotten base shows.
const BASE: u32 = 0x4013_0000;

const RTIO_OUTPUT: u32 = 0x0012_3450;
const NOW_MU: u32 = 0x0012_3460;

fn resolver(name: &[u8]) -> Option<u32> {
    match name {
        b"rtio_output" => Some(RTIO_OUTPUT),
        b"now_mu" => Some(NOW_MU),
        _ => None,
    }
}

fn load_at(b: &Built, base: u32) -> Result<(Loaded, Vec<u8>), LoadError> {
    let kernel = Kernel::parse(&b.bytes)?;
    let mut dest = vec![0xaa; kernel.size() as usize + 64];
    let loaded = kernel.load(&mut dest, base, &resolver)?;
    Ok((loaded, dest))
}

fn load(b: &Built) -> Result<(Loaded, Vec<u8>), LoadError> {
    load_at(b, BASE)
}

fn word(image: &[u8], at: u32) -> u32 {
    u32::from_le_bytes(image[at as usize..at as usize + 4].try_into().unwrap())
}

fn with_data_word(t: TestElf, at: u32, value: u32) -> TestElf {
    let mut t = t;
    if t.data.len() < at as usize + 4 {
        t.data.resize(at as usize + 4, 0);
    }
    t.data[at as usize..at as usize + 4].copy_from_slice(&value.to_le_bytes());
    t
}

fn parse_err(bytes: &[u8]) -> LoadError {
    Kernel::parse(bytes).expect_err("parse should fail")
}

// ---------------------------------------------------------------- success

#[test]
fn minimal_image_loads() {
    let b = TestElf::default().build();
    let kernel = Kernel::parse(&b.bytes).unwrap();
    assert_eq!(kernel.size(), b.end);
    assert_eq!(kernel.align(), 0x1_0000);
    assert_eq!(kernel.layout().size(), b.end as usize);
    assert_eq!(kernel.layout().align(), 0x1_0000);
    assert_eq!(kernel.entry_offset(), b.text);
    assert!(kernel.imports().unwrap().is_empty());

    let mut dest = vec![0xaa; b.end as usize + 64];
    let loaded = kernel.load(&mut dest, BASE, &resolver).unwrap();
    assert_eq!(
        loaded,
        Loaded {
            load_addr: BASE,
            size: b.end,
            entry: BASE + b.text,
            bss: BASE + b.bss..BASE + b.end,
            exidx: BASE + b.exidx..BASE + b.exidx + 8,
            sstack_guard: Some(BASE + align(b.end, 0x1000)),
        }
    );
    // File-backed bytes are copied, everything else in the image is zero,
    // and nothing past the image is touched.
    let file_end = b.bytes.len().min(b.end as usize);
    assert_eq!(dest[..b.text as usize], b.bytes[..b.text as usize]);
    assert_eq!(
        dest[b.data as usize..b.dynamic as usize],
        b.bytes[b.data as usize..b.dynamic as usize]
    );
    assert!(dest[b.bss as usize..b.end as usize].iter().all(|&x| x == 0));
    assert!(dest[b.end as usize..].iter().all(|&x| x == 0xaa));
    assert!(file_end <= dest.len());
}

#[test]
fn gaps_and_bss_are_zeroed_over_garbage() {
    let b = TestElf {
        bss: 4096,
        ..Default::default()
    }
    .build();
    let (loaded, dest) = load(&b).unwrap();
    assert_eq!(loaded.bss.end - loaded.bss.start, 4096);
    // Between the two segments (alignment padding) and the bss: zero.
    assert!(dest[b.jmprel as usize..b.data as usize]
        .iter()
        .all(|&x| x == 0));
    assert!(dest[b.bss as usize..b.end as usize].iter().all(|&x| x == 0));
}

/// `load` zeroes only the gaps between segments, visiting them by
/// address: with the program headers in reverse order the image is the
/// same, and garbage in the destination never shows.
#[test]
fn segments_out_of_order_load_the_same_image() {
    let b = TestElf { bss: 4096, ..Default::default() }.build();
    let (in_order, mut expected) = load(&b).unwrap();
    let (first, second) = (b.phdr(0), b.phdr(1));
    assert_eq!((b.get32(first), b.get32(second)), (abi::PT_LOAD, abi::PT_LOAD));
    let swap = |bytes: &mut [u8]| {
        let (head, tail) = bytes.split_at_mut(second);
        head[first..first + 32].swap_with_slice(&mut tail[..32]);
    };
    let mut swapped = b.bytes.clone();
    swap(&mut swapped);
    // The program headers are in the first segment: loaded, swapped too.
    swap(&mut expected);
    let kernel = Kernel::parse(&swapped).unwrap();
    for garbage in [0x00, 0x5a, 0xff] {
        let mut dest = vec![garbage; kernel.size() as usize + 64];
        assert_eq!(kernel.load(&mut dest, BASE, &resolver).unwrap(), in_order);
        assert!(dest[..b.end as usize] == expected[..b.end as usize], "garbage {garbage:#x}");
        assert!(dest[b.end as usize..].iter().all(|&x| x == garbage));
    }
}

/// A [`Resolve`]r gets each import's name with its GNU hash, and answers
/// the same as the plain-function resolver.
#[test]
fn resolver_gets_the_names_hash() {
    struct Checked;
    impl Resolve for Checked {
        fn resolve(&self, name: &[u8], gnu_hash: u32) -> Option<u32> {
            assert_eq!(gnu_hash, super::gnu_hash(name), "{name:?}");
            resolver(name)
        }
    }
    let bytes = rich_sample();
    let kernel = Kernel::parse(&bytes).unwrap();
    assert!(!kernel.imports().unwrap().is_empty());
    let mut a = vec![0u8; kernel.size() as usize];
    let mut b = vec![0u8; kernel.size() as usize];
    assert_eq!(kernel.load_with(&mut a, BASE, &Checked), kernel.load(&mut b, BASE, &resolver));
    assert_eq!(a, b);
}

#[test]
fn relative_adds_the_base() {
    let t = with_data_word(TestElf::default(), 4, 0x10)
        .rel(Table::Rel, Place::Data, 4, R_ARM_RELATIVE, None, 0)
        // RELA: the in-place garbage is ignored, r_addend used.
        .rel(Table::Rela, Place::Data, 8, R_ARM_RELATIVE, None, 0x20);
    let t = with_data_word(t, 8, 0xdead_beef);
    let b = t.build();
    let (_, dest) = load(&b).unwrap();
    assert_eq!(word(&dest, b.data + 4), BASE + 0x10);
    assert_eq!(word(&dest, b.data + 8), BASE + 0x20);
    // A different base gives a different image: the base is really used.
    let (_, dest) = load_at(&b, 0x10_0000).unwrap();
    assert_eq!(word(&dest, b.data + 4), 0x10_0010);
}

#[test]
fn jump_slot_goes_through_the_resolver_and_ignores_plt0() {
    // lld leaves the address of PLT0 in each .got.plt slot.
    let t = with_data_word(TestElf::default().import("rtio_output"), 8, 0x1e0).rel(
        Table::JmpRel,
        Place::Data,
        8,
        R_ARM_JUMP_SLOT,
        Some("rtio_output"),
        0,
    );
    let b = t.build();
    let kernel = Kernel::parse(&b.bytes).unwrap();
    assert_eq!(kernel.imports().unwrap(), [&b"rtio_output"[..]]);
    let (_, dest) = load(&b).unwrap();
    assert_eq!(word(&dest, b.data + 8), RTIO_OUTPUT);
}

#[test]
fn jump_slot_in_rela_table_adds_r_addend() {
    let t = TestElf {
        jmprel_rela: true,
        ..Default::default()
    }
    .import("now_mu")
    .rel(
        Table::JmpRel,
        Place::Data,
        0,
        R_ARM_JUMP_SLOT,
        Some("now_mu"),
        4,
    );
    let b = t.build();
    let (_, dest) = load(&b).unwrap();
    assert_eq!(word(&dest, b.data), NOW_MU + 4);
}

#[test]
fn glob_dat_writes_the_symbol_address() {
    let t = with_data_word(TestElf::default().import("now_mu"), 12, 0x5555_5555).rel(
        Table::Rel,
        Place::Data,
        12,
        R_ARM_GLOB_DAT,
        Some("now_mu"),
        0,
    );
    let b = t.build();
    let (_, dest) = load(&b).unwrap();
    assert_eq!(word(&dest, b.data + 12), NOW_MU);
}

#[test]
fn abs32_adds_the_in_place_addend() {
    let t = TestElf::default()
        .import("now_mu")
        .export("table", Place::Data, 16)
        .rel(Table::Rel, Place::Data, 0, R_ARM_ABS32, Some("now_mu"), 0)
        .rel(Table::Rel, Place::Data, 4, R_ARM_ABS32, Some("table"), 0)
        .rel(Table::Rel, Place::Data, 8, R_ARM_ABS32, None, 0)
        .rel(
            Table::Rela,
            Place::Data,
            12,
            R_ARM_ABS32,
            Some("now_mu"),
            -4,
        );
    let t = with_data_word(t, 0, 8);
    let t = with_data_word(t, 4, 4);
    let t = with_data_word(t, 8, 0x1234);
    let t = with_data_word(t, 12, 0x7777);
    let t = with_data_word(t, 16, 0);
    let b = t.build();
    let (_, dest) = load(&b).unwrap();
    assert_eq!(word(&dest, b.data), NOW_MU + 8);
    assert_eq!(
        word(&dest, b.data + 4),
        BASE + b.data + 16 + 4,
        "own symbol, based"
    );
    assert_eq!(word(&dest, b.data + 8), 0x1234, "symbol 0: S = 0");
    assert_eq!(
        word(&dest, b.data + 12),
        NOW_MU - 4,
        "RELA: r_addend, in-place ignored"
    );
}

#[test]
fn abs32_against_absolute_symbol_is_not_based() {
    let t = TestElf::default()
        .export("constant", Place::Abs, 0x4242)
        .rel(Table::Rel, Place::Data, 0, R_ARM_ABS32, Some("constant"), 0);
    let b = t.build();
    let (_, dest) = load(&b).unwrap();
    assert_eq!(word(&dest, b.data), 0x4242);
}

#[test]
fn prel31_keeps_bit_31_and_uses_the_in_place_addend() {
    let t = TestElf::default()
        .export("personality", Place::Text, 4)
        .import("nearby")
        .rel(
            Table::Rel,
            Place::Data,
            0,
            R_ARM_PREL31,
            Some("personality"),
            0,
        )
        .rel(Table::Rel, Place::Data, 4, R_ARM_PREL31, Some("nearby"), 0);
    let t = with_data_word(t, 0, 0x8000_0000);
    let t = with_data_word(t, 4, 0x7fff_fffc); // addend -4, bit 31 clear
    let b = t.build();
    let kernel = Kernel::parse(&b.bytes).unwrap();
    let mut dest = vec![0; kernel.size() as usize];
    let nearby = BASE + 0x10_0000;
    kernel.load(&mut dest, BASE, &|_| Some(nearby)).unwrap();
    let (p0, s0) = (BASE + b.data, BASE + b.sym("personality"));
    assert_eq!(
        word(&dest, b.data),
        0x8000_0000 | (s0.wrapping_sub(p0) & 0x7fff_ffff)
    );
    // Text is below data: a negative offset, sign in bit 30.
    assert_eq!(word(&dest, b.data) & 0x4000_0000, 0x4000_0000);
    let p1 = BASE + b.data + 4;
    assert_eq!(word(&dest, b.data + 4), (nearby - 4 - p1) & 0x7fff_ffff);
}

#[test]
fn prel31_out_of_range_fails() {
    let t = TestElf::default().import("far").rel(
        Table::Rel,
        Place::Data,
        0,
        R_ARM_PREL31,
        Some("far"),
        0,
    );
    let b = t.build();
    let kernel = Kernel::parse(&b.bytes).unwrap();
    let mut dest = vec![0; kernel.size() as usize];
    let far = |_: &[u8]| Some(BASE.wrapping_add(0x6000_0000));
    assert_eq!(
        kernel.load(&mut dest, BASE, &far),
        Err(LoadError::RelocationOverflow {
            rtype: R_ARM_PREL31,
            offset: b.data
        })
    );
}

#[test]
fn none_relocations_are_skipped() {
    let t = with_data_word(TestElf::default(), 0, 0x99).rel(
        Table::Rel,
        Place::Data,
        0,
        R_ARM_NONE,
        None,
        0,
    );
    let b = t.build();
    let (_, dest) = load(&b).unwrap();
    assert_eq!(word(&dest, b.data), 0x99);
}

#[test]
fn own_definitions_win_over_the_resolver() {
    let t = TestElf::default().export("helper", Place::Text, 4).rel(
        Table::JmpRel,
        Place::Data,
        0,
        R_ARM_JUMP_SLOT,
        Some("helper"),
        0,
    );
    let b = t.build();
    let kernel = Kernel::parse(&b.bytes).unwrap();
    assert!(kernel.imports().unwrap().is_empty());
    let mut dest = vec![0; kernel.size() as usize];
    let everything = |_: &[u8]| Some(1);
    kernel.load(&mut dest, BASE, &everything).unwrap();
    assert_eq!(b.sym("helper"), b.text + 4);
    assert_eq!(word(&dest, b.data), BASE + b.sym("helper"));
}

#[test]
fn undefined_reference_binds_to_own_definition_with_every_lookup() {
    // The relocation names the undefined "dup"; a defined "dup" follows in
    // .dynsym. Each lookup method must find the definition.
    for hash in [Hash::Gnu, Hash::SysV, Hash::Both, Hash::None] {
        let t = TestElf {
            hash,
            ..Default::default()
        }
        .import("dup")
        .export("dup", Place::Data, 8)
        .rel(
            Table::JmpRel,
            Place::Data,
            0,
            R_ARM_JUMP_SLOT,
            Some("dup"),
            0,
        );
        let b = t.build();
        let kernel = Kernel::parse(&b.bytes).unwrap_or_else(|e| panic!("{hash:?}: {e}"));
        assert_eq!(kernel.entry_offset(), b.text, "{hash:?}");
        assert!(kernel.imports().unwrap().is_empty(), "{hash:?}");
        let mut dest = vec![0; kernel.size() as usize];
        kernel.load(&mut dest, BASE, &|_| None).unwrap();
        assert_eq!(word(&dest, b.data), BASE + b.data + 8, "{hash:?}");
    }
}

#[test]
fn modinit_is_found_with_every_lookup() {
    for hash in [Hash::Gnu, Hash::SysV, Hash::Both, Hash::None] {
        let b = TestElf {
            hash,
            ..Default::default()
        }
        .import("now_mu")
        .export("other", Place::Text, 4)
        .build();
        let kernel = Kernel::parse(&b.bytes).unwrap_or_else(|e| panic!("{hash:?}: {e}"));
        assert_eq!(kernel.entry_offset(), b.text, "{hash:?}");
    }
}

#[test]
fn exidx_falls_back_to_the_section_header() {
    let b = TestElf {
        exidx_phdr: false,
        ..Default::default()
    }
    .build();
    let (loaded, _) = load(&b).unwrap();
    assert_eq!(loaded.exidx, BASE + b.exidx..BASE + b.exidx + 8);
}

#[test]
fn no_exidx_gives_an_empty_range() {
    let b = TestElf {
        exidx: vec![],
        exidx_phdr: false,
        exidx_section: false,
        ..Default::default()
    }
    .build();
    let (loaded, _) = load(&b).unwrap();
    assert!(loaded.exidx.is_empty());
}

#[test]
fn relocation_listing() {
    let t = TestElf::default()
        .import("now_mu")
        .import("rtio_output")
        .rel(Table::Rel, Place::Data, 0, R_ARM_RELATIVE, None, 0)
        .rel(
            Table::JmpRel,
            Place::Data,
            4,
            R_ARM_JUMP_SLOT,
            Some("now_mu"),
            0,
        )
        .rel(
            Table::JmpRel,
            Place::Data,
            8,
            R_ARM_JUMP_SLOT,
            Some("rtio_output"),
            0,
        )
        .rel(Table::Rel, Place::Data, 12, R_ARM_ABS32, Some("now_mu"), 0);
    let b = t.build();
    let kernel = Kernel::parse(&b.bytes).unwrap();
    assert_eq!(
        kernel.imports().unwrap(),
        [&b"now_mu"[..], &b"rtio_output"[..]]
    );
    let relocs = kernel.relocations().unwrap();
    let kinds: Vec<(u8, &[u8])> = relocs.iter().map(|r| (r.rtype, r.symbol)).collect();
    assert_eq!(
        kinds,
        [
            (R_ARM_RELATIVE, &b""[..]),
            (R_ARM_ABS32, b"now_mu"),
            (R_ARM_JUMP_SLOT, b"now_mu"),
            (R_ARM_JUMP_SLOT, b"rtio_output")
        ]
    );
    assert_eq!(reloc::name(R_ARM_JUMP_SLOT), "R_ARM_JUMP_SLOT");
    assert_eq!(reloc::name(3), "unsupported");
}

// ---------------------------------------------------------------- errors

#[test]
fn every_truncation_fails() {
    for t in [
        TestElf::default(),
        TestElf {
            dynsym_section: false,
            exidx_section: false,
            ..Default::default()
        },
    ] {
        let b = t
            .import("now_mu")
            .rel(
                Table::JmpRel,
                Place::Data,
                0,
                R_ARM_JUMP_SLOT,
                Some("now_mu"),
                0,
            )
            .build();
        Kernel::parse(&b.bytes).unwrap();
        for len in 0..b.bytes.len() {
            let e = parse_err(&b.bytes[..len]);
            assert!(
                matches!(
                    e,
                    LoadError::Truncated { .. } | LoadError::SegmentOutsideFile { .. }
                ),
                "length {len}: {e}"
            );
        }
    }
    let b = TestElf::default().build();
    assert!(matches!(
        parse_err(&b.bytes[..2]),
        LoadError::Truncated {
            what: "ELF identification",
            ..
        }
    ));
    assert!(matches!(
        parse_err(&b.bytes[..30]),
        LoadError::Truncated {
            what: "ELF header",
            start: 0,
            end: 52,
            ..
        }
    ));
    let e = parse_err(&b.bytes[..60]);
    assert!(
        matches!(
            e,
            LoadError::Truncated {
                what: "program header table",
                start: 52,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn header_checks() {
    let b = TestElf::default().build();
    let patched = |at: usize, bytes: &[u8]| {
        let mut v = b.bytes.clone();
        v[at..at + bytes.len()].copy_from_slice(bytes);
        v
    };
    assert_eq!(
        parse_err(b"MZ\x90\x00 definitely not an ELF file......................."),
        LoadError::NotElf
    );
    assert_eq!(
        parse_err(b"\x7fEL"),
        LoadError::Truncated {
            what: "ELF identification",
            start: 0,
            end: 16,
            file_len: 3
        }
    );
    assert_eq!(parse_err(&patched(4, &[2])), LoadError::WrongClass(2));
    assert_eq!(parse_err(&patched(5, &[2])), LoadError::WrongEndianness(2));
    assert_eq!(parse_err(&patched(16, &[2, 0])), LoadError::WrongType(2));
    assert_eq!(
        parse_err(&patched(18, &[0x28 + 0x8f, 0])),
        LoadError::WrongMachine(0xb7)
    );
    assert_eq!(parse_err(&patched(18, &[3, 0])), LoadError::WrongMachine(3));
    assert_eq!(
        parse_err(&patched(36, &0x0500_0200u32.to_le_bytes())),
        LoadError::WrongAbi(0x0500_0200)
    );
    assert_eq!(
        parse_err(&patched(36, &0x0400_0400u32.to_le_bytes())),
        LoadError::WrongAbi(0x0400_0400)
    );
    assert!(matches!(
        parse_err(&patched(42, &[20, 0])),
        LoadError::BadHeader(_)
    ));
    assert!(matches!(
        parse_err(&patched(44, &[0, 0])),
        LoadError::BadHeader(_)
    ));
    let e = parse_err(&patched(18, &[62, 0]));
    assert!(e.to_string().contains("machine 62"), "{e}");
    assert!(parse_err(&patched(4, &[2])).to_string().contains("class 2"));
}

#[test]
fn unknown_relocation_names_type_and_offset() {
    let b = TestElf::default()
        .rel(
            Table::Rel,
            Place::Data,
            4,
            3, /* R_ARM_REL32 */
            None,
            0,
        )
        .build();
    let e = parse_err(&b.bytes);
    assert_eq!(
        e,
        LoadError::UnknownRelocation {
            rtype: 3,
            offset: b.data + 4
        }
    );
    let msg = e.to_string();
    assert!(
        msg.contains("type 3") && msg.contains(&std::format!("{:#x}", b.data + 4)),
        "{msg}"
    );
}

#[test]
fn unresolved_symbol_is_named() {
    let b = TestElf::default()
        .import("rtio_magic")
        .rel(
            Table::JmpRel,
            Place::Data,
            0,
            R_ARM_JUMP_SLOT,
            Some("rtio_magic"),
            0,
        )
        .build();
    let e = load(&b).unwrap_err();
    assert_eq!(
        e,
        LoadError::UnresolvedSymbol {
            name: SymbolName::new(b"rtio_magic")
        }
    );
    assert!(e.to_string().contains("rtio_magic"), "{e}");
}

#[test]
fn symbol_lookup_is_exact() {
    // The resolver knows rtio_output; the kernel wants rtio_output_wide.
    let b = TestElf::default()
        .import("rtio_output_wide")
        .rel(
            Table::JmpRel,
            Place::Data,
            0,
            R_ARM_JUMP_SLOT,
            Some("rtio_output_wide"),
            0,
        )
        .build();
    let e = load(&b).unwrap_err();
    assert!(e.to_string().contains("`rtio_output_wide`"), "{e}");
    // And the other way round: the resolver only knows the longer name.
    let b = TestElf::default()
        .import("rtio_out")
        .rel(
            Table::JmpRel,
            Place::Data,
            0,
            R_ARM_JUMP_SLOT,
            Some("rtio_out"),
            0,
        )
        .build();
    assert!(matches!(load(&b), Err(LoadError::UnresolvedSymbol { .. })));
}

#[test]
fn long_symbol_names_are_cut() {
    let long = "x".repeat(100);
    let b = TestElf::default()
        .import(&long)
        .rel(
            Table::JmpRel,
            Place::Data,
            0,
            R_ARM_JUMP_SLOT,
            Some(&long),
            0,
        )
        .build();
    let LoadError::UnresolvedSymbol { name } = load(&b).unwrap_err() else {
        panic!()
    };
    assert!(name.is_truncated());
    assert_eq!(name.as_bytes().len(), SYMBOL_NAME_MAX);
    assert_eq!(name.to_string(), "x".repeat(SYMBOL_NAME_MAX) + "…");
    assert_eq!(SymbolName::new(b"a\xffb").to_string(), "a\\xffb");
}

#[test]
fn segment_outside_the_file() {
    let mut b = TestElf::default().build();
    let at = b.phdr(1) + 16; // p_filesz of the data segment
    b.put32(at, 0x10_0000);
    b.put32(at + 4, 0x10_0000);
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::SegmentOutsideFile { index: 1, .. }
    ));

    let mut b = TestElf::default().build();
    b.put32(b.phdr(1) + 4, 0xffff_fff0); // p_offset
    let e = parse_err(&b.bytes);
    assert!(
        matches!(
            e,
            LoadError::SegmentOutsideFile {
                index: 1,
                offset: 0xffff_fff0,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("outside"), "{e}");
}

#[test]
fn segment_outside_the_layout() {
    let mut b = TestElf::default().build();
    let data = b.phdr(1);
    b.put32(data + 8, 0xffff_0000 + b.data); // keeps vaddr ≡ offset mod 64 KiB
    b.put32(data + 20, 0x1_0000); // and wraps around
    let e = parse_err(&b.bytes);
    assert!(
        matches!(
            e,
            LoadError::SegmentOutsideLayout {
                what: "PT_LOAD",
                ..
            }
        ),
        "{e}"
    );

    // PT_DYNAMIC not covered by any PT_LOAD.
    let mut b = TestElf::default().build();
    let dyn_vaddr = b.phdr(2) + 8;
    b.put32(dyn_vaddr, b.end + 0x100);
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::SegmentOutsideLayout {
            what: "PT_DYNAMIC",
            ..
        }
    ));

    // PT_ARM_EXIDX likewise.
    let mut b = TestElf::default().build();
    let exidx_vaddr = b.phdr(3) + 8;
    b.put32(exidx_vaddr, b.end);
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::SegmentOutsideLayout {
            what: ".ARM.exidx",
            ..
        }
    ));
}

#[test]
fn bad_segments() {
    let mut b = TestElf::default().build();
    b.put32(b.phdr(1) + 20, 4); // p_memsz < p_filesz
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::SegmentFileLargerThanMemory { index: 1, .. }
    ));

    let mut b = TestElf::default().build();
    b.put32(b.phdr(1) + 8, b.data + 4); // vaddr no longer ≡ offset (mod 64 KiB)
    assert!(matches!(parse_err(&b.bytes), LoadError::Misaligned { .. }));

    let mut b = TestElf::default().build();
    b.put32(b.phdr(1) + 28, 0x3000); // p_align not a power of two
    assert!(matches!(parse_err(&b.bytes), LoadError::BadHeader(_)));

    // Overlap: the data segment moved onto the text segment.
    let mut b = TestElf::default().build();
    b.put32(b.phdr(1) + 4, 0x10);
    b.put32(b.phdr(1) + 8, 0x10);
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::OverlappingSegments { .. }
    ));

    let mut b = TestElf::default().build();
    b.put32(b.phdr(1) + 20, 0x2000_0000); // p_memsz: 512 MiB of bss
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::ImageTooLarge { .. }
    ));

    let mut b = TestElf::default().build();
    b.put32(b.phdr(3), 7); // PT_TLS
    assert_eq!(
        parse_err(&b.bytes),
        LoadError::UnsupportedSegment {
            index: 3,
            p_type: 7
        }
    );

    let mut b = TestElf::default().build();
    b.put32(b.phdr(3) + 8, b.exidx + 2);
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::Misaligned {
            what: ".ARM.exidx address",
            ..
        }
    ));
}

#[test]
fn bad_dynamic_sections() {
    let dynamic_entry = |b: &Built, tag: u32| -> usize {
        (0..)
            .map(|i| b.dynamic as usize + 8 * i)
            .find(|&at| b.get32(at) == tag)
            .expect("tag present")
    };
    // No PT_DYNAMIC.
    let mut b = TestElf::default().build();
    b.put32(b.phdr(2), 0x6474_e550);
    assert!(matches!(parse_err(&b.bytes), LoadError::BadDynamic(_)));

    // Unterminated.
    let mut b = TestElf::default().build();
    let null = dynamic_entry(&b, 0);
    b.put32(null, 21); // DT_DEBUG
    assert_eq!(
        parse_err(&b.bytes),
        LoadError::BadDynamic("no DT_NULL terminator")
    );

    // Wrong entry sizes.
    let mut b = TestElf::default()
        .rel(Table::Rel, Place::Data, 0, R_ARM_RELATIVE, None, 0)
        .build();
    let relent = dynamic_entry(&b, 19);
    b.put32(relent + 4, 12);
    assert_eq!(
        parse_err(&b.bytes),
        LoadError::BadDynamic("DT_RELENT is not 8")
    );

    let mut b = TestElf::default().build();
    let syment = dynamic_entry(&b, 11);
    b.put32(syment + 4, 24);
    assert!(matches!(parse_err(&b.bytes), LoadError::BadDynamic(_)));

    // Symbol table outside the image.
    let mut b = TestElf::default().build();
    let symtab = dynamic_entry(&b, 6);
    b.put32(symtab + 4, 0xffff_0000);
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::TableOutsideImage {
            table: "DT_SYMTAB",
            ..
        }
    ));

    // Relocation table running off its segment.
    let mut b = TestElf::default()
        .rel(Table::Rel, Place::Data, 0, R_ARM_RELATIVE, None, 0)
        .build();
    let relsz = dynamic_entry(&b, 18);
    b.put32(relsz + 4, 0x8000);
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::TableOutsideImage { .. }
    ));

    // Bad DT_PLTREL.
    let mut b = TestElf::default()
        .import("now_mu")
        .rel(
            Table::JmpRel,
            Place::Data,
            0,
            R_ARM_JUMP_SLOT,
            Some("now_mu"),
            0,
        )
        .build();
    let pltrel = dynamic_entry(&b, 20);
    b.put32(pltrel + 4, 5);
    assert!(matches!(parse_err(&b.bytes), LoadError::BadDynamic(_)));

    // Initialisers are refused.
    let mut b = TestElf::default().build();
    let syment = dynamic_entry(&b, 11);
    b.put32(syment, 12); // DT_INIT
    b.put32(syment + 4, b.text);
    assert!(matches!(parse_err(&b.bytes), LoadError::BadDynamic(_)));

    // No way to size .dynsym.
    let b = TestElf {
        hash: Hash::None,
        dynsym_section: false,
        ..Default::default()
    }
    .build();
    assert!(matches!(parse_err(&b.bytes), LoadError::BadSymbolTable(_)));
}

#[test]
fn relocation_outside_the_image() {
    let b = TestElf::default()
        .rel(Table::Rel, Place::Abs, 0, R_ARM_RELATIVE, None, 0)
        .build();
    for offset in [b.end, b.end - 2, u32::MAX - 1] {
        let mut b = b.clone();
        b.put32(b.rel as usize, offset);
        assert_eq!(
            parse_err(&b.bytes),
            LoadError::RelocationOutsideImage {
                rtype: R_ARM_RELATIVE,
                offset
            }
        );
    }
    // The last word of the image (end of the bss) is fine.
    let mut b = b.clone();
    b.put32(b.rel as usize, b.end - 4);
    load(&b).unwrap();
}

#[test]
fn bad_symbol_index() {
    let mut b = TestElf::default()
        .rel(Table::Rel, Place::Data, 0, R_ARM_ABS32, None, 0)
        .build();
    let info = b.rel as usize + 4;
    b.put32(info, 500 << 8 | u32::from(R_ARM_ABS32));
    assert_eq!(
        parse_err(&b.bytes),
        LoadError::BadSymbolIndex {
            index: 500,
            offset: b.data
        }
    );
}

#[test]
fn relocation_against_symbol_past_the_image() {
    let b = TestElf::default()
        .export("beyond", Place::Bss, 0x10_0000)
        .rel(Table::Rel, Place::Data, 0, R_ARM_ABS32, Some("beyond"), 0)
        .build();
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::SymbolOutsideImage { .. }
    ));
}

#[test]
fn missing_modinit() {
    let b = TestElf {
        standard_exports: false,
        ..Default::default()
    }
    .export("main", Place::Text, 0)
    .build();
    assert_eq!(parse_err(&b.bytes), LoadError::MissingEntry);
    assert!(LoadError::MissingEntry.to_string().contains("__modinit__"));
}

#[test]
fn bad_exports() {
    let b = TestElf {
        standard_exports: false,
        ..Default::default()
    }
    .export("__modinit__", Place::Text, 0)
    .export("__bss_start", Place::Bss, 8)
    .export("_end", Place::Bss, 0)
    .build();
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::BadExport {
            name: "__bss_start",
            ..
        }
    ));
    let b = TestElf {
        standard_exports: false,
        ..Default::default()
    }
    .export("__modinit__", Place::Bss, 0x1000)
    .build();
    assert!(matches!(
        parse_err(&b.bytes),
        LoadError::BadExport {
            name: "__modinit__",
            ..
        }
    ));
    // Without __bss_start/_end the bss range is empty, at the end.
    let b = TestElf {
        standard_exports: false,
        ..Default::default()
    }
    .export("__modinit__", Place::Text, 0)
    .build();
    let (loaded, _) = load(&b).unwrap();
    assert!(loaded.bss.is_empty());
    assert_eq!(loaded.sstack_guard, None);
}

#[test]
fn destination_and_load_address_checks() {
    let b = TestElf::default().build();
    let kernel = Kernel::parse(&b.bytes).unwrap();
    let mut small = vec![0; kernel.size() as usize - 1];
    assert_eq!(
        kernel.load(&mut small, BASE, &resolver),
        Err(LoadError::DestinationTooSmall {
            needed: kernel.size(),
            available: small.len()
        })
    );
    let mut dest = vec![0; kernel.size() as usize];
    assert!(matches!(
        kernel.load(&mut dest, BASE + 0x100, &resolver),
        Err(LoadError::BadLoadAddress { .. })
    ));
    assert!(kernel.load(&mut dest, 0, &resolver).is_ok());
    assert!(kernel.load(&mut dest, 0xffff_0000, &resolver).is_ok());
    // An image that would wrap around the top of the address space.
    let b = TestElf {
        bss: 0x1_0000,
        ..Default::default()
    }
    .build();
    let kernel = Kernel::parse(&b.bytes).unwrap();
    let mut dest = vec![0; kernel.size() as usize];
    let e = kernel.load(&mut dest, 0xffff_0000, &resolver).unwrap_err();
    assert!(
        matches!(
            e,
            LoadError::BadLoadAddress {
                addr: 0xffff_0000,
                ..
            }
        ),
        "{e}"
    );
}

// ---------------------------------------------------------------- robustness

/// A sample with every table populated, for the mutation test.
fn rich_sample() -> Vec<u8> {
    let t = TestElf::default()
        .import("now_mu")
        .import("rtio_output")
        .export("helper", Place::Text, 4)
        .rel(Table::Rel, Place::Data, 0, R_ARM_RELATIVE, None, 0)
        .rel(Table::Rel, Place::Data, 4, R_ARM_ABS32, Some("now_mu"), 0)
        .rel(Table::Rel, Place::Data, 8, R_ARM_PREL31, Some("helper"), 0)
        .rel(
            Table::Rela,
            Place::Data,
            12,
            R_ARM_GLOB_DAT,
            Some("rtio_output"),
            0,
        )
        .rel(
            Table::JmpRel,
            Place::Data,
            16,
            R_ARM_JUMP_SLOT,
            Some("rtio_output"),
            0,
        )
        .rel(
            Table::JmpRel,
            Place::Data,
            20,
            R_ARM_JUMP_SLOT,
            Some("helper"),
            0,
        );
    with_data_word(t, 20, 0).build().bytes
}

/// Drives every entry point; any panic fails the property.
fn exercise(bytes: &[u8]) {
    let Ok(kernel) = Kernel::parse(bytes) else {
        return;
    };
    let _ = kernel.imports();
    let _ = kernel.relocations();
    let _ = std::format!("{kernel:?}");
    if kernel.size() > 1 << 20 {
        return;
    }
    let mut dest = vec![0; kernel.size() as usize];
    let base = kernel.align().wrapping_mul(3);
    type Resolver<'r> = &'r dyn Fn(&[u8]) -> Option<u32>;
    let resolvers: [Resolver; 3] = [&|_| Some(0x1000u32), &|_| None, &|_| Some(u32::MAX)];
    for resolve in resolvers {
        if let Err(e) = kernel.load(&mut dest, base, resolve) {
            let _ = e.to_string();
        }
    }
}

#[test]
fn rich_sample_loads() {
    let bytes = rich_sample();
    let kernel = Kernel::parse(&bytes).unwrap();
    let mut dest = vec![0; kernel.size() as usize];
    kernel.load(&mut dest, BASE, &resolver).unwrap();
}

proptest! {
    // Cheap (microseconds per case): run more than the default 256.
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        exercise(&bytes);
        // Random bytes behind a valid identification reach the deeper checks.
        let mut with_header = rich_sample()[..52].to_vec();
        with_header.extend_from_slice(&bytes);
        exercise(&with_header);
    }

    #[test]
    fn mutated_images_never_panic(
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..12),
        word_edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u32>()), 0..4),
        cut in proptest::option::of(any::<proptest::sample::Index>()),
    ) {
        let mut bytes = rich_sample();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        for (at, value) in word_edits {
            let i = at.index(bytes.len() - 3) & !3;
            bytes[i..i + 4].copy_from_slice(&value.to_le_bytes());
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        exercise(&bytes);
    }
}
