//! The RPC value decoder: see `fuzz/bodies/rpc_decode.rs` (the body, which
//! `tests/fuzz_smoke.rs` also runs under `cargo test`).
#![no_main]

#[path = "../bodies/rpc_decode.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|input: &[u8]| body::run(input));
