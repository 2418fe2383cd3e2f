//! satctl: bench tests of a satman satellite without a DRTIO master.
//! See `satctl --help` and src/satctl/mod.rs.

#[path = "../satctl/mod.rs"]
mod satctl;

// Heap accounting for the `sim` link: the simulated satellite's heap shows
// up in its STATS as heap0_used.
#[global_allocator]
static ALLOC: satman_systest::heap::TrackingAlloc = satman_systest::heap::TrackingAlloc;

fn main() {
    std::process::exit(satctl::main())
}
