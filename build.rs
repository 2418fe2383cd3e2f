//! Build script of the host harness (`satman-systest`): builds the QEMU
//! firmware and the test kernels, so that `cargo test --workspace` and
//! `cargo run --bin satctl` always run against fresh artifacts.
//!
//! - firmware: `rustup run nightly cargo build -Zbuild-std=core,alloc
//!   --target armv7a-none-eabihf -p satman --features qemu --release` into
//!   its own target directory (`<workspace>/target/firmware`, or
//!   `SATMAN_FIRMWARE_TARGET_DIR`), so the nested cargo never waits on the
//!   lock of the outer build's target directory;
//! - kernels: `kernels/build.sh` with `KERNELS_OUT_DIR` / `KERNELS_TARGET_DIR`
//!   under `<firmware target dir>/kernels`.
//!
//! Exports to the package's crates (lib, bins, tests):
//! - `SATMAN_FIRMWARE_ELF`: path of the firmware ELF (empty when skipped);
//! - `SATMAN_SELFTEST_ELF`: the same firmware built with the platform
//!   self-test (`--features qemu,selftest`);
//! - `SATMAN_KASLI_SOC_ELF`: the Kasli-SoC firmware (`--features kasli_soc`);
//! - `SATMAN_KERNELS_DIR`: directory holding `<kernel>.elf` (empty when skipped);
//! - `SATMAN_FIRMWARE_SKIPPED`: `1` when `SATMAN_SKIP_FIRMWARE=1` was set.
//!
//! Escape hatch: `SATMAN_SKIP_FIRMWARE=1` skips both builds (for a machine
//! without the nightly toolchain); the QEMU tests then skip loudly and
//! `satctl` needs `--elf`. CI does not set it.
//!
//! Concurrent outer builds (another target dir, `cargo test` next to
//! `cargo run`) serialise on a lock file in the firmware target directory.

use std::env;
use std::ffi::OsString;
use std::fs::{self, File};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{exit, Command, Stdio};

const TOOLCHAIN: &str = "nightly";
const TARGET: &str = "armv7a-none-eabihf";

/// Sources of the firmware and of the kernels: any change rebuilds.
const WATCHED: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    ".cargo/config.toml",
    "satman/Cargo.toml",
    "satman/build.rs",
    "satman/src",
    "libksupport/Cargo.toml",
    "libksupport/src",
    "libdma/Cargo.toml",
    "libdma/src",
    "libdrtio/Cargo.toml",
    "libdrtio/src",
    "libio/Cargo.toml",
    "libio/src",
    "libsdcard/Cargo.toml",
    "libsdcard/src",
    "libbootimage/Cargo.toml",
    "libbootimage/src",
    "libkasli/Cargo.toml",
    "libkasli/src",
    "csrgen/Cargo.toml",
    "csrgen/src",
    "gateware",
    "satboot/Cargo.toml",
    "satboot/build.rs",
    "satboot/src",
    "satboot/qemu.ld",
    "satboot/kasli_soc.ld",
    "satboot/sections.ld",
    "linker",
    // Not kernels/ as a whole: kernels/out and kernels/target may hold the
    // output of a manual kernels/build.sh run and would retrigger us.
    "kernels/Cargo.toml",
    "kernels/Cargo.lock",
    "kernels/build.sh",
    "kernels/src",
    "kernels/examples",
];

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SATMAN_SKIP_FIRMWARE");
    println!("cargo:rerun-if-env-changed=SATMAN_FIRMWARE_TARGET_DIR");
    // Read by the QEMU firmware (fw_qemu::RTIO_SLOWDOWN) as it is built.
    println!("cargo:rerun-if-env-changed=SATMAN_QEMU_RTIO_SLOWDOWN");
    for w in WATCHED {
        let p = root.join(w);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }

    if env::var("SATMAN_SKIP_FIRMWARE").is_ok_and(|v| !v.is_empty() && v != "0") {
        println!(
            "cargo:warning=SATMAN_SKIP_FIRMWARE is set: firmware and test kernels NOT built; \
             the QEMU tests will skip and satctl needs --elf"
        );
        println!("cargo:rustc-env=SATMAN_FIRMWARE_ELF=");
        println!("cargo:rustc-env=SATMAN_SELFTEST_ELF=");
        println!("cargo:rustc-env=SATMAN_KASLI_SOC_ELF=");
        println!("cargo:rustc-env=SATMAN_SATBOOT_ELF=");
        println!("cargo:rustc-env=SATMAN_SATBOOT_KASLI_SOC_ELF=");
        println!("cargo:rustc-env=SATMAN_KERNELS_DIR=");
        println!("cargo:rustc-env=SATMAN_FIRMWARE_SKIPPED=1");
        return;
    }

    let target_dir = env::var_os("SATMAN_FIRMWARE_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("firmware"));
    fs::create_dir_all(&target_dir).unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", target_dir.display())));
    // Held until main returns: serialises concurrent runs of this script
    // (e.g. `cargo test` and `cargo run` from different target dirs), which
    // would otherwise race on the kernels' output files.
    let lock = File::create(target_dir.join(".satman-build.lock"))
        .unwrap_or_else(|e| fail(&format!("cannot create the build lock: {e}")));
    lock.lock().unwrap_or_else(|e| fail(&format!("cannot lock the build lock: {e}")));

    check_toolchain();

    // Firmware: the QEMU board, then its platform self-test variant. Both
    // land on the same cargo output path, so each is copied out in turn.
    let elf = build_firmware(&root, &target_dir, "qemu", "satman-qemu.elf");
    let selftest = build_firmware(&root, &target_dir, "qemu,selftest", "satman-selftest.elf");
    // The Kasli-SoC board: not run here, but it must always build.
    let kasli = build_firmware(&root, &target_dir, "kasli_soc", "satman-kasli-soc.elf");
    // The boot loader: the QEMU board's runs in the flash tests; the
    // Kasli-SoC's must always build (and fit in OCM: its linker script).
    let satboot = build_package(&root, &target_dir, "satboot", "qemu", "satboot-qemu.elf");
    let satboot_kasli = build_package(&root, &target_dir, "satboot", "kasli_soc", "satboot-kasli-soc.elf");

    // Test kernels.
    let kernels_out = target_dir.join("kernels");
    let mut cmd = nested(&root, "bash");
    cmd.arg(root.join("kernels").join("build.sh"))
        .env("KERNELS_OUT_DIR", &kernels_out)
        .env("KERNELS_TARGET_DIR", target_dir.join("kernels-target"))
        .env("KERNELS_TOOLCHAIN", TOOLCHAIN);
    run(cmd, "kernels/build.sh");

    println!("cargo:rustc-env=SATMAN_FIRMWARE_ELF={}", elf.display());
    println!("cargo:rustc-env=SATMAN_SELFTEST_ELF={}", selftest.display());
    println!("cargo:rustc-env=SATMAN_KASLI_SOC_ELF={}", kasli.display());
    println!("cargo:rustc-env=SATMAN_SATBOOT_ELF={}", satboot.display());
    println!("cargo:rustc-env=SATMAN_SATBOOT_KASLI_SOC_ELF={}", satboot_kasli.display());
    println!("cargo:rustc-env=SATMAN_KERNELS_DIR={}", kernels_out.display());
    println!("cargo:rustc-env=SATMAN_FIRMWARE_SKIPPED=");
    drop(lock);
}

/// Builds the firmware with `features` and copies the ELF to `name` in the
/// target directory.
fn build_firmware(root: &Path, target_dir: &Path, features: &str, name: &str) -> PathBuf {
    build_package(root, target_dir, "satman", features, name)
}

/// Builds `package`'s binary of the same name for the target with
/// `features` and copies the ELF to `name` in the target directory.
fn build_package(root: &Path, target_dir: &Path, package: &str, features: &str, name: &str) -> PathBuf {
    let mut cmd = nested(root, "rustup");
    cmd.args(["run", TOOLCHAIN, "cargo", "build", "-Zbuild-std=core,alloc", "--target", TARGET])
        .args(["-p", package, "--features", features, "--release", "--target-dir"])
        .arg(target_dir);
    run(cmd, &format!("firmware build (cargo +nightly build -p {package} --features {features})"));
    let built = target_dir.join(TARGET).join("release").join(package);
    let elf = target_dir.join(name);
    fs::copy(&built, &elf).unwrap_or_else(|e| fail(&format!("cannot copy {} to {}: {e}", built.display(), elf.display())));
    elf
}

/// Fails the build with an actionable message.
fn fail(msg: &str) -> ! {
    eprintln!();
    eprintln!("error: satman-systest build script: {msg}");
    eprintln!("  (set SATMAN_SKIP_FIRMWARE=1 to build the host harness without the firmware;");
    eprintln!("   the QEMU tests then skip)");
    println!("cargo:warning=satman-systest: {}", msg.lines().next().unwrap_or(msg));
    exit(1)
}

/// Checks for rustup, the nightly toolchain and its rust-src component.
fn check_toolchain() {
    let out = Command::new("rustup").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !matches!(out, Ok(s) if s.success()) {
        fail("rustup not found on PATH; install rustup, then run: rustup toolchain install nightly --component rust-src");
    }
    let sysroot = Command::new("rustup")
        .args(["run", TOOLCHAIN, "rustc", "--print", "sysroot"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .stderr(Stdio::null())
        .output();
    let sysroot = match sysroot {
        Ok(o) if o.status.success() => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        _ => fail("no nightly toolchain; run: rustup toolchain install nightly --component rust-src"),
    };
    if !sysroot.join("lib/rustlib/src/rust/library/core").is_dir() {
        fail("the nightly toolchain lacks rust-src; run: rustup component add rust-src --toolchain nightly");
    }
}

/// A command with the environment a build script inherits from the outer
/// cargo removed: its compiler, flags, target and target directory,
/// profile, jobserver and toolchain override describe the outer build.
fn nested(root: &Path, program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(root);
    for (key, _) in env::vars_os() {
        if leaks(&key) {
            cmd.env_remove(&key);
        }
    }
    // The nested builds' stdout is not ours: cargo reads our stdout for
    // `cargo:` directives. Send it to stderr (shown when the build fails).
    let stderr = std::io::stderr().as_fd().try_clone_to_owned().expect("dup stderr");
    cmd.stdout(Stdio::from(stderr));
    cmd
}

fn leaks(key: &OsString) -> bool {
    let Some(k) = key.to_str() else { return false };
    const EXACT: &[&str] = &[
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "RUSTDOC",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTUP_TOOLCHAIN",
        "CARGO",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
    ];
    // Kept: where cargo/rustup live, network, registry and terminal settings.
    const KEEP_PREFIX: &[&str] = &["CARGO_HOME", "CARGO_NET_", "CARGO_HTTP_", "CARGO_REGISTRIES_", "CARGO_REGISTRY_", "CARGO_TERM_"];
    if EXACT.contains(&k) {
        return true;
    }
    if k.starts_with("CARGO_") {
        return !KEEP_PREFIX.iter().any(|p| k.starts_with(p));
    }
    false
}

fn run(mut cmd: Command, what: &str) {
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("{what} failed ({s}); its output is above")),
        Err(e) => fail(&format!("{what}: cannot start: {e}")),
    }
}
