//! Host tests of the name lists and the lookup.

use std::string::String;
use std::vec::Vec;

use super::*;

/// Section 2 of `shared/reference/kernel-abi.md`, the libm, RTABI and libc
/// paragraphs as written there (brace groups expand, `__aeabi_` prefixes the
/// RTABI words, "(plain, 4, 8)" gives three variants).
const LIBM_TEXT: &str = "acos acosh asin asinh atan atanh cbrt ceil cos cosh erf erfc exp \
    exp2 exp10 expm1 fabs floor j0 j1 lgamma log log2 log10 rint round sin sinh sqrt tan tanh tgamma trunc \
    y0 y1 atan2 copysign fmax fmin fmod hypot nextafter pow ldexp fma jn yn __powidf2";
const RTABI_TEXT: &str = "dadd ddiv dmul dsub \
    dcmp{eq,lt,le,ge,gt,un} fadd fdiv fmul fsub fcmp{eq,lt,le,ge,gt,un} d2iz d2uiz d2lz d2ulz f2iz f2uiz \
    f2lz f2ulz f2d i2d ui2d l2d ul2d i2f ui2f l2f ul2f lmul llsl llsr lasr idiv idivmod uidiv ldivmod \
    uldivmod memcpy{,4,8} memmove{,4,8} memset{,4,8} memclr{,4,8}";
const LIBC_TEXT: &str = "memcpy memmove memset memcmp bcmp strlen";

/// The ARTIQ entry points of the section 2 table (all rows, serviced or not,
/// except the NAC3-only `np_linalg_*`/`sp_linalg_*`/`__nac3_*`, which legacy
/// kernels never import).
const ARTIQ_EXPECTED: &[&str] = &[
    "now_mu",
    "at_mu",
    "delay_mu",
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
    "dma_record_start",
    "dma_record_stop",
    "dma_erase",
    "dma_retrieve",
    "dma_playback",
    "subkernel_load_run",
    "subkernel_await_finish",
    "subkernel_send_message",
    "subkernel_await_message",
    "rpc_send",
    "rpc_send_async",
    "rpc_recv",
    "__artiq_raise",
    "__artiq_resume",
    "__artiq_end_catch",
    "__artiq_personality",
    "_Unwind_Resume",
    "test_exception_id_sync",
    "core_log",
    "rtio_log",
    "cache_get",
    "cache_put",
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

/// Expands `word{a,b}` groups.
fn expand(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        match word.split_once('{') {
            Some((stem, rest)) => {
                for suffix in rest.trim_end_matches('}').split(',') {
                    out.push(std::format!("{prefix}{stem}{suffix}"));
                }
            }
            None => out.push(std::format!("{prefix}{word}")),
        }
    }
    out
}

#[test]
fn names_cover_section_2() {
    let mut expected: Vec<String> = ARTIQ_EXPECTED.iter().map(|s| String::from(*s)).collect();
    expected.extend(expand(LIBM_TEXT, ""));
    expected.extend(expand(RTABI_TEXT, "__aeabi_"));
    expected.extend(expand(LIBC_TEXT, ""));
    assert_eq!(
        expand("memcpy{,4,8}", "__aeabi_"),
        ["__aeabi_memcpy", "__aeabi_memcpy4", "__aeabi_memcpy8"]
    );
    let missing: Vec<&String> = expected
        .iter()
        .filter(|n| !NAMES.contains(&n.as_str()))
        .collect();
    assert!(missing.is_empty(), "missing from api::NAMES: {missing:?}");
    // The only extras are the two documented additions.
    let extra: Vec<&&str> = NAMES
        .iter()
        .filter(|n| !expected.iter().any(|e| e == *n))
        .collect();
    assert_eq!(extra, [&"__aeabi_d2f", &"__aeabi_uidivmod"]);
}

#[test]
fn names_have_no_duplicates() {
    let mut sorted: Vec<&str> = NAMES.to_vec();
    sorted.sort_unstable();
    let before = sorted.len();
    sorted.dedup();
    assert_eq!(before, sorted.len());
    assert_eq!(
        NAMES.len(),
        names::GROUPS.iter().map(|g| g.len()).sum::<usize>()
    );
}

#[test]
fn groups_partition_names() {
    for name in names::ARTIQ.iter().chain(names::ARTIQ_UNSUPPORTED) {
        assert!(
            ARTIQ_EXPECTED.contains(name),
            "{name} is not an ARTIQ entry point"
        );
    }
    assert_eq!(
        names::ARTIQ.len() + names::ARTIQ_UNSUPPORTED.len(),
        ARTIQ_EXPECTED.len()
    );
}

/// The expected lists above are the reference text: when `shared/` sits
/// beside the repository (developer machines and CI), check they still match.
#[test]
fn reference_text_is_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/reference/kernel-abi.md"
    );
    let Ok(doc) = std::fs::read_to_string(path) else {
        std::println!("skipped: {path} not found");
        return;
    };
    let doc: String = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    for text in [LIBM_TEXT, LIBC_TEXT] {
        let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        // The doc splits the libm list into "binary:" etc.; compare word by word.
        for word in text.split(' ') {
            assert!(doc.contains(word), "{word} no longer in kernel-abi.md");
        }
    }
    assert!(doc.contains("__aeabi_ dadd ddiv dmul dsub"));
    assert!(doc.contains("memcpy/memmove/memset/memclr (plain, 4, 8)"));
    // The CoaXPress names are not spelt out there ("cxp_* (5 functions)"),
    // and rtio_batch_end is written "rtio_batch_start / _end".
    assert!(doc.contains("cxp_* (5 functions)"));
    assert!(doc.contains("rtio_batch_start / _end"));
    for name in ARTIQ_EXPECTED
        .iter()
        .filter(|n| !n.starts_with("cxp_") && **n != "rtio_batch_end")
    {
        assert!(doc.contains(*name), "{name} no longer in kernel-abi.md");
    }
}

#[test]
fn lookup_is_exact_and_ordered() {
    const A: &[Symbol] = &[
        Symbol::new("rtio_output_wide", 0x100 as *const ()),
        Symbol::new("x", 0x200 as *const ()),
    ];
    const B: &[Symbol] = &[
        Symbol::new("x", 0x300 as *const ()),
        Symbol::new("rtio_output", 0x400 as *const ()),
    ];
    assert_eq!(lookup(&[A], b"rtio_output"), None, "no prefix match");
    assert_eq!(lookup(&[A], b"rtio_output_wid"), None);
    assert_eq!(lookup(&[A, B], b"rtio_output"), Some(0x400));
    assert_eq!(lookup(&[A, B], b"x"), Some(0x200), "first table wins");
    assert_eq!(lookup(&[], b"x"), None);
    assert!(same_names(A, &["rtio_output_wide", "x"]));
    assert!(!same_names(A, &["x", "rtio_output_wide"]));
    assert!(names_within(B, &["rtio_output", "x", "y"]));
    assert!(!names_within(B, &["x"]));
    assert!(names_within(artiq::SUPPORTED, names::ARTIQ));
}

#[test]
fn position_finds_every_name_and_nothing_else() {
    for (i, name) in NAMES.iter().enumerate() {
        assert_eq!(position(name.as_bytes()), Some(i), "{name}");
        // Prefixes and extensions are other names (or none).
        let longer = std::format!("{name}_");
        assert_eq!(position(longer.as_bytes()), None);
        let shorter = &name.as_bytes()[..name.len() - 1];
        assert_eq!(position(shorter), NAMES.iter().position(|n| n.as_bytes() == shorter));
    }
    assert_eq!(position(b""), None);
    // The loader's hash is the index's hash.
    for (i, name) in NAMES.iter().enumerate() {
        let h = crate::loader::gnu_hash(name.as_bytes());
        assert_eq!(position_hashed(name.as_bytes(), h), Some(i), "{name}");
    }
    assert_eq!(position(b"rtio_output_wid"), None);
}

#[test]
fn address_at_walks_the_tables_in_order() {
    const A: &[Symbol] = &[Symbol::new("a", 0x100 as *const ()), Symbol::new("b", 0x200 as *const ())];
    const B: &[Symbol] = &[Symbol::new("c", 0x300 as *const ())];
    assert_eq!(address_at(&[A, B], 0), Some(0x100));
    assert_eq!(address_at(&[A, B], 2), Some(0x300));
    assert_eq!(address_at(&[A, B], 3), None);
    // The host's ARTIQ table: index i of NAMES is entry i.
    let i = position(b"rtio_output").unwrap();
    assert_eq!(address_at(&[artiq::SUPPORTED], i), lookup(&[artiq::SUPPORTED], b"rtio_output"));
}
