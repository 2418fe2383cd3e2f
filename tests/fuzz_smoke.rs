//! A short run of every cargo-fuzz target under `cargo test` (issue #9
//! item 6: "a short run of each in CI").
//!
//! The targets' bodies live in `fuzz/bodies/` and are compiled here as they
//! are into the fuzz binaries, so both exercise the same code. Each body
//! runs over its seed corpus (`fuzz/seeds/<target>/`, or packets encoded
//! here for `decode`), then over a fixed number of inputs from a seeded
//! pseudo-random generator: seeds mutated (bit flips, bytes and words set to
//! boundary values, truncation, insertion, deletion, splices of two seeds)
//! and plain random bytes. Deterministic: a failure names the input's
//! number, and `FUZZ_SMOKE_INPUTS=N` changes how many inputs each target
//! gets (default below; the long runs are `cargo fuzz`'s, see
//! fuzz/README.md).

use std::path::Path;
use std::time::Instant;

#[path = "../fuzz/bodies/bootimage.rs"]
mod bootimage;
#[path = "../fuzz/bodies/decode.rs"]
mod decode;
#[path = "../fuzz/bodies/kernel_load.rs"]
mod kernel_load;
#[path = "../fuzz/bodies/rpc_decode.rs"]
mod rpc_decode;
#[path = "../fuzz/bodies/satellite.rs"]
mod satellite;

// The `satellite` body bounds the satellite's heap through this allocator's
// accounts (the other bodies do not care).
#[global_allocator]
static ALLOC: satman_systest::heap::TrackingAlloc = satman_systest::heap::TrackingAlloc;

/// Inputs per target beyond the seeds (4 targets: ~100k in all).
const DEFAULT_INPUTS: usize = 25_000;

/// xorshift64*: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Values at the edges of the fields parsers check.
const INTERESTING: [u32; 12] = [0, 1, 2, 4, 8, 0x7f, 0x80, 0xff, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff];

/// One to eight random edits of `seed`, sometimes with a piece of `other`.
fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = if v.is_empty() { 0 } else { rng.below(v.len()) };
        match rng.below(8) {
            0 if !v.is_empty() => v[at] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[at] = rng.next() as u8,
            2 if at + 4 <= v.len() => {
                let x = INTERESTING[rng.below(INTERESTING.len())];
                v[at..at + 4].copy_from_slice(&x.to_le_bytes());
            }
            3 if !v.is_empty() => v[at] = INTERESTING[rng.below(INTERESTING.len())] as u8,
            4 => v.truncate(at),
            5 => {
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            6 if !v.is_empty() => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                v.drain(at..end);
            }
            _ if !other.is_empty() => {
                let from = rng.below(other.len());
                let n = (1 + rng.below(256)).min(other.len() - from);
                let end = (at + n).min(v.len());
                v.splice(at..end, other[from..from + n].iter().copied());
            }
            _ => {}
        }
    }
    v
}

/// Runs `body` over `seeds`, then `inputs` generated ones. Returns how many
/// inputs ran.
fn smoke(name: &str, seeds: &[Vec<u8>], inputs: usize, body: fn(&[u8])) -> usize {
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let start = Instant::now();
    for s in seeds {
        body(s);
    }
    // A different stream per target, the same on every run.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.bytes().fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b))));
    for i in 0..inputs {
        let input = if i % 8 == 7 {
            (0..rng.below(512)).map(|_| rng.next() as u8).collect()
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            let other = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed, other)
        };
        let r = std::panic::catch_unwind(|| body(&input));
        if r.is_err() {
            panic!("{name}: generated input {i} ({} bytes) failed: {:02x?}", input.len(), input);
        }
    }
    eprintln!("{name}: {} seeds + {inputs} generated inputs in {:.1?}", seeds.len(), start.elapsed());
    seeds.len() + inputs
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn inputs() -> usize {
    std::env::var("FUZZ_SMOKE_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_INPUTS)
}

#[test]
fn kernel_load_fuzz_smoke() {
    smoke("kernel_load", &seeds("kernel_load"), inputs(), kernel_load::run);
}

#[test]
fn rpc_decode_fuzz_smoke() {
    smoke("rpc_decode", &seeds("rpc_decode"), inputs(), rpc_decode::run);
}

#[test]
fn bootimage_fuzz_smoke() {
    let mut s = seeds("bootimage");
    s.push(bootimage::valid().to_vec());
    smoke("bootimage", &s, inputs(), bootimage::run);
}

#[test]
fn decode_fuzz_smoke() {
    use libdrtio::{Packet, PayloadStatus, MAX_PACKET};
    let data: Vec<u8> = (0..200u8).collect();
    let packets = [
        Packet::EchoRequest,
        Packet::SubkernelMessageAck { destination: 1 },
        Packet::SubkernelMessage { source: 0, destination: 1, id: 7, status: PayloadStatus::First, data: &data },
        Packet::DmaAddTraceRequest { source: 0, destination: 1, id: 3, status: PayloadStatus::Last, data: &data[..17] },
    ];
    let seeds: Vec<Vec<u8>> = packets
        .iter()
        .map(|p| {
            let mut frame = [0u8; MAX_PACKET];
            let n = p.encode(&mut frame).unwrap();
            frame[..n].to_vec()
        })
        .collect();
    smoke("decode", &seeds, inputs(), decode::run);
}

#[test]
fn satellite_fuzz_smoke() {
    // A satellite per input, and up to hundreds of polls: a fifth of the
    // other targets' count keeps this share of the run to a few seconds.
    smoke("satellite", &seeds("satellite"), inputs() / 5, satellite::run);
}
