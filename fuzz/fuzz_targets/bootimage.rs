//! Zynq boot image parser: see `fuzz/bodies/bootimage.rs` (the body, which
//! `tests/fuzz_smoke.rs` also runs under `cargo test`).
#![no_main]

#[path = "../bodies/bootimage.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|input: &[u8]| body::run(input));
