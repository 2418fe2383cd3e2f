//! Build script of `satman`. Two jobs:
//!
//! 1. Passes the firmware linker script to the `satman` binary, and only when
//!    cross-building for the Zynq (target_arch = "arm"). Host builds of the lib
//!    (`cargo test`) see no link arguments at all. The script is passed exactly
//!    once: given twice, lld fails with "region already defined".
//! 2. Generates `$OUT_DIR/csr.rs` (included by `src/gateware/csr.rs`) from the
//!    gateware's CSR map, taken from ONE of (relative paths from the
//!    workspace root; setting both variables fails the build):
//!    - `SATMAN_GATEWARE_DIR`: the artiq-zynq gateware build's output
//!      directory, holding the `pl.rs`, `mem.rs` and `rustc-cfg` it wrote;
//!      converted by `csrgen::export` (the CSV made from them is left in
//!      `$OUT_DIR/gateware-csr.csv` for diffing);
//!    - `SATMAN_CSR_CSV`: a map in the CSV format of `gateware/README.md`;
//!    - neither: the shipped `gateware/kasli-soc-satellite-csr.csv`.
//!
//!    A malformed map fails the build with its file and line. For each
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

/// The files of a gateware build directory, as artiq-zynq's
/// `kasli_soc.py -r pl.rs -m mem.rs -c rustc-cfg` names them.
const EXPORT_FILES: [&str; 3] = ["pl.rs", "mem.rs", "rustc-cfg"];

fn csr_map() {
    println!("cargo:rerun-if-env-changed=SATMAN_CSR_CSV");
    println!("cargo:rerun-if-env-changed=SATMAN_GATEWARE_DIR");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().unwrap_or(&manifest).to_path_buf();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let default = workspace.join(DEFAULT_CSV);
    println!("cargo:rerun-if-changed={}", default.display());
    let csv_var = std::env::var_os("SATMAN_CSR_CSV").filter(|p| !p.is_empty());
    let dir_var = std::env::var_os("SATMAN_GATEWARE_DIR").filter(|p| !p.is_empty());
    // (where the map came from, for messages; the CSV text; its file name
    // for `SOURCE_FILE`)
    let (path, text, name) = match (csv_var, dir_var) {
        (Some(_), Some(_)) => fail(
            "both SATMAN_CSR_CSV and SATMAN_GATEWARE_DIR are set: set the one that names your gateware's map",
        ),
        (None, Some(dir)) => {
            let dir = workspace.join(dir); // `join` keeps an absolute path as it is
            let mut files = Vec::new();
            for f in EXPORT_FILES {
                let p = dir.join(f);
                println!("cargo:rerun-if-changed={}", p.display());
                files.push(std::fs::read_to_string(&p).unwrap_or_else(|e| {
                    fail(&format!(
                        "SATMAN_GATEWARE_DIR={}: cannot read {} ({}); the directory must hold pl.rs, mem.rs and \
                         rustc-cfg as the gateware build writes them",
                        dir.display(),
                        f,
                        e
                    ))
                }));
            }
            let source = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
            let csv = csrgen::export::to_csv(&files[0], &files[1], &files[2], &source)
                .unwrap_or_else(|(f, e)| fail(&format!("{}:{}: {}", dir.join(f).display(), e.line, e.message)));
            let made = out_dir.join("gateware-csr.csv");
            write_if_changed(&made, &csv);
            (made, csv, format!("{}/{{pl.rs,mem.rs,rustc-cfg}}", source))
        }
        (csv, None) => {
            let path = csv.map_or_else(|| default.clone(), |p| workspace.join(p));
            println!("cargo:rerun-if-changed={}", path.display());
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| fail(&format!("cannot read the CSR map {}: {}", path.display(), e)));
            let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
            (path, text, name)
        }
    };
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
             Point SATMAN_GATEWARE_DIR at the Kasli-SoC satellite gateware build's output \
             (pl.rs, mem.rs, rustc-cfg), or SATMAN_CSR_CSV at a CSV map (see gateware/README.md).",
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

    let code = csrgen::generate(&map, &analysis, &name, csrgen::fnv1a(text.as_bytes()));
    write_if_changed(&out_dir.join("csr.rs"), &code);
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
