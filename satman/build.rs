//! Passes the firmware linker script to the `satman` binary, and only when
//! cross-building for the Zynq (target_arch = "arm"). Host builds of the lib
//! (`cargo test`) see no link arguments at all. The script is passed exactly
//! once: given twice, lld fails with "region already defined".

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&manifest).join("../linker/satman.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("arm") {
        let script = script.canonicalize().expect("linker/satman.ld exists");
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    }
}
