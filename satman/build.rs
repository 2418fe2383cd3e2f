//! Build script of `satman`. Two jobs:
//!
//! 1. Passes the firmware linker script to the `satman` binary, and only when
//!    cross-building for the Zynq (target_arch = "arm"). Host builds of the lib
//!    (`cargo test`) see no link arguments at all. The script is passed exactly
//!    once: given twice, lld fails with "region already defined".
//! 2. Generates `$OUT_DIR/csr.rs` (included by `src/gateware/csr.rs`) from the
//!    gateware's CSR map: `gateware/kasli-soc-satellite-csr.csv`, or the file
//!    named by `SATMAN_CSR_CSV` (relative paths are taken from the workspace
//!    root). A malformed map fails the build with its line number. For each
//!    driver in `src/gateware` the map can feed, sets
//!    `gateware_driver = "<name>"`; with the `kasli_soc` feature, a driver the
//!    board needs that the map cannot feed fails the build, naming what is
//!    missing. The parser, the checks and the generator are the `csrgen`
//!    crate (a build dependency, tested on its own).

use std::path::{Path, PathBuf};

fn main() {
    link_script();
    csr_map();
}

fn link_script() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&manifest).join("../linker/satman.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("arm") {
        let script = script.canonicalize().expect("linker/satman.ld exists");
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    }
}

/// The map shipped with the firmware, relative to the workspace root.
const DEFAULT_CSV: &str = "gateware/kasli-soc-satellite-csr.csv";

fn csr_map() {
    println!("cargo:rerun-if-env-changed=SATMAN_CSR_CSV");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().unwrap_or(&manifest).to_path_buf();
    let path = match std::env::var_os("SATMAN_CSR_CSV").filter(|p| !p.is_empty()) {
        Some(p) => workspace.join(p), // `join` keeps an absolute path as it is
        None => workspace.join(DEFAULT_CSV),
    };
    println!("cargo:rerun-if-changed={}", path.display());
    let default = workspace.join(DEFAULT_CSV);
    if path != default {
        println!("cargo:rerun-if-changed={}", default.display());
    }

    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| fail(&format!("cannot read the CSR map {}: {}", path.display(), e)));
    let map = csrgen::parse(&text).unwrap_or_else(|e| fail(&format!("{}:{}: {}", path.display(), e.line, e.message)));
    let analysis = csrgen::analyze(&map);

    let board = std::env::var_os("CARGO_FEATURE_KASLI_SOC").is_some();
    let values: Vec<String> = csrgen::DRIVERS.iter().map(|d| format!("\"{}\"", d.cfg)).collect();
    println!("cargo::rustc-check-cfg=cfg(gateware_driver, values({}))", values.join(", "));
    let mut errors = Vec::new();
    for driver in csrgen::DRIVERS {
        let problems = csrgen::check_driver(&map, &analysis, driver);
        if problems.is_empty() {
            println!("cargo:rustc-cfg=gateware_driver=\"{}\"", driver.cfg);
        } else if board && driver.board_required {
            errors.push(format!("the {} needs:\n    - {}", driver.what, problems.join("\n    - ")));
        } else {
            println!(
                "cargo:warning=satman: {} leaves out the {}: {}",
                path.display(),
                driver.what,
                problems.join("; ")
            );
        }
    }
    if !errors.is_empty() {
        fail(&format!(
            "the `kasli_soc` feature needs gateware drivers that the CSR map {} cannot feed:\n  {}\n\
             Point SATMAN_CSR_CSV at the CSV exported from the Kasli-SoC satellite gateware \
             (see gateware/README.md).",
            path.display(),
            errors.join("\n  ")
        ));
    }

    // The tests that pin the shipped map to the data sheet only build
    // against that map.
    println!("cargo::rustc-check-cfg=cfg(gateware_csr_shipped)");
    if std::fs::read(&default).is_ok_and(|d| d == text.as_bytes()) {
        println!("cargo:rustc-cfg=gateware_csr_shipped");
    }

    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let code = csrgen::generate(&map, &analysis, &name, csrgen::fnv1a(text.as_bytes()));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("csr.rs");
    write_if_changed(&out, &code);
}

/// Leaves the file alone when it already holds `code`, so that an unchanged
/// map does not rebuild the crate.
fn write_if_changed(path: &Path, code: &str) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == code) {
        return;
    }
    std::fs::write(path, code).unwrap_or_else(|e| fail(&format!("cannot write {}: {}", path.display(), e)));
}

/// Ends the build with `message` (cargo shows the script's stderr).
fn fail(message: &str) -> ! {
    eprintln!("error: satman: {}", message);
    std::process::exit(1);
}
