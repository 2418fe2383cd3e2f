//! The ELF loader: see `fuzz/bodies/kernel_load.rs` (the body, which
//! `tests/fuzz_smoke.rs` also runs under `cargo test`).
#![no_main]

#[path = "../bodies/kernel_load.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|input: &[u8]| body::run(input));
