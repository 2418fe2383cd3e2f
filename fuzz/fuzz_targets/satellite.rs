//! Sequences of aux packets into the satellite core on null hardware: see
//! `fuzz/bodies/satellite.rs` (the body, which `tests/fuzz_smoke.rs` also
//! runs under `cargo test`).
#![no_main]

#[path = "../bodies/satellite.rs"]
mod body;

// The body bounds the heap the satellite holds through this allocator's
// accounts.
#[global_allocator]
static ALLOC: satman_systest::heap::TrackingAlloc = satman_systest::heap::TrackingAlloc;

libfuzzer_sys::fuzz_target!(|input: &[u8]| body::run(input));
