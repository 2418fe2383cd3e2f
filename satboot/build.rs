//! Passes the board's linker script to the satboot binary when
//! cross-building for the Zynq (target_arch = "arm"); host builds of the
//! lib see no link arguments. The script is passed exactly once.

fn main() {
    let manifest = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    for f in ["qemu.ld", "kasli_soc.ld", "sections.ld"] {
        println!("cargo:rerun-if-changed={}", manifest.join(f).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("arm") {
        return;
    }
    let script = if std::env::var_os("CARGO_FEATURE_QEMU").is_some() {
        "qemu.ld"
    } else {
        "kasli_soc.ld"
    };
    println!("cargo:rustc-link-arg-bins=-L{}", manifest.display());
    println!("cargo:rustc-link-arg-bins=-T{}", manifest.join(script).display());
}
