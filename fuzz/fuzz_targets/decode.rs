//! The aux packet decoder: see `fuzz/bodies/decode.rs` (the body, which
//! `tests/fuzz_smoke.rs` also runs under `cargo test`).
#![no_main]

#[path = "../bodies/decode.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|input: &[u8]| body::run(input));
