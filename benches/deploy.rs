//! Issue #7 benchmarks: what the satellite does per 1 KiB flash slice
//! written to an SD card (host, file-backed card image), the peak heap
//! growth of a 20 MB flash, and config read/write latency on the card.
//!
//! ```text
//! cargo bench -p satman-systest --bench deploy            # wall-time figures
//! scripts/bench-deploy-callgrind                          # x86 instructions per slice
//! ```
//!
//! The measured path is the satellite's: the slice's frame is decoded
//! (`Packet::decode`, CRC included) and handed to core management
//! (`Mgmt::handle`), which streams it through the CRC window to the
//! card store (libsdcard over a file). The reply is encoded.
//! `--phase flash_chunks --chunks N` runs only N slices inside
//! `bench_flash_chunks` (for callgrind's --toggle-collect).

use std::alloc::{GlobalAlloc, Layout, System as SysAlloc};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use libdrtio::{Frame, Packet, MASTER_PAYLOAD_MAX_SIZE};
use libsdcard::FileDevice;
use satman::mgmt::{CardStore, Ctx, Mgmt};
use satman_systest::card::{make_card, CardSpec};
use satman_systest::sim::SimSystem;

struct Counting;
static BYTES: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only the counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = BYTES.fetch_add(l.size() as isize, Ordering::Relaxed) + l.size() as isize;
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwarded to the system allocator with the caller's layout.
        unsafe { SysAlloc.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        BYTES.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { SysAlloc.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

struct Bench {
    store: CardStore<FileDevice>,
    mgmt: Mgmt,
    sys: SimSystem,
    budget: satman::budget::Budget,
    _dir: std::path::PathBuf,
}

impl Bench {
    fn new(card_mb: u64, capacity: u64) -> Bench {
        let dir = std::env::temp_dir().join(format!("satman-bench-deploy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("card.img");
        // A card with a small BOOT.BIN and `capacity` reserved for the next.
        let boot = vec![0x11u8; 4096];
        make_card(&path, &CardSpec { size: card_mb << 20, boot: Some(&boot), boot_capacity: Some(capacity), ..Default::default() })
            .unwrap();
        let store = CardStore::mount(FileDevice::open(&path).map_err(|_| libsdcard::CardError::NoCard));
        Bench { store, mgmt: Mgmt::new(None), sys: SimSystem::default(), budget: satman::budget::Budget::new(16 << 20), _dir: dir }
    }

    /// Decodes `frame` and hands it to core management; returns the reply.
    fn handle(&mut self, frame: &Frame) -> Option<Frame> {
        let (p, _) = Packet::decode(frame.as_bytes()).unwrap();
        let mut ctx = Ctx { config: &mut self.store, system: &mut self.sys, arena: Default::default(), now_us: 0, budget: &mut self.budget };
        self.mgmt.handle(p, &mut ctx)
    }
}

fn slices(payload: &[u8]) -> Vec<Frame> {
    let n = payload.len().div_ceil(MASTER_PAYLOAD_MAX_SIZE);
    payload
        .chunks(MASTER_PAYLOAD_MAX_SIZE)
        .enumerate()
        .map(|(i, c)| Frame::encode(&Packet::CoreMgmtFlashAddDataRequest { destination: 1, last: i == n - 1, data: c }).unwrap())
        .collect()
}

#[inline(never)]
fn bench_flash_chunks(b: &mut Bench, frames: &[Frame]) -> usize {
    let mut ok = 0;
    for f in frames {
        if let Some(r) = b.handle(f) {
            ok += (r.as_bytes()[0] == 0xdf) as usize;
        }
    }
    ok
}

fn start(b: &mut Bench, len: usize) {
    let f = Frame::encode(&Packet::CoreMgmtFlashRequest { destination: 1, payload_length: len as u32 }).unwrap();
    b.handle(&f);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let chunks = args.iter().position(|a| a == "--chunks").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok());
    if args.iter().any(|a| a == "flash_chunks") {
        let n: usize = chunks.unwrap_or(1000);
        let mut b = Bench::new(64, 8 << 20);
        let payload = vec![0x5Au8; n * MASTER_PAYLOAD_MAX_SIZE + 10_000];
        let frames = slices(&payload);
        start(&mut b, payload.len());
        let ok = bench_flash_chunks(&mut b, &frames[..n]);
        println!("chunks {n} ok {ok}");
        return;
    }

    // 1. Per slice, wall time (5000 slices of 1010 bytes = 5 MB).
    let mut b = Bench::new(64, 8 << 20);
    let payload: Vec<u8> = (0..5000 * MASTER_PAYLOAD_MAX_SIZE + 100).map(|i| (i * 31) as u8).collect();
    let frames = slices(&payload);
    start(&mut b, payload.len());
    let t = Instant::now();
    let ok = bench_flash_chunks(&mut b, &frames[..5000]);
    let per = t.elapsed().as_secs_f64() / 5000.0;
    assert_eq!(ok, 5000);
    println!("flash slice (1010 B, decode + CRC window + card write, file-backed): {:.2} µs/slice, {:.0} MB/s", per * 1e6, 1010.0 / per / 1e6);

    // 2. Peak heap growth of a whole 20 MB flash (slices + CRC + read-back check + commit).
    let mut b = Bench::new(96, 24 << 20);
    let image: Vec<u8> = (0..20_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let mut payload = image.clone();
    payload.extend_from_slice(&libdrtio::checksum(&image).to_le_bytes());
    let frames = slices(&payload);
    drop(image);
    let base = BYTES.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = Instant::now();
    start(&mut b, payload.len());
    bench_flash_chunks(&mut b, &frames);
    // The structure check is off here (random bytes); the CRC read-back runs.
    let ack = Frame::encode(&Packet::CoreMgmtDropLinkAck { destination: 1 }).unwrap();
    b.handle(&ack);
    let took = t.elapsed();
    println!(
        "20 MB flash: peak heap growth {} bytes (target < 256 KiB), {:.2} s on the host",
        PEAK.load(Ordering::Relaxed) - base,
        took.as_secs_f64()
    );

    // 3. Config latency on the card (file-backed, host).
    let mut b = Bench::new(64, 1 << 20);
    let write = |b: &mut Bench, k: &str, v: &[u8]| {
        let mut p = Vec::new();
        p.extend_from_slice(&(k.len() as u32).to_le_bytes());
        p.extend_from_slice(k.as_bytes());
        p.extend_from_slice(&(v.len() as u32).to_le_bytes());
        p.extend_from_slice(v);
        let f = Frame::encode(&Packet::CoreMgmtConfigWriteRequest { destination: 1, last: true, data: &p }).unwrap();
        b.handle(&f)
    };
    let n = 200;
    let t = Instant::now();
    for i in 0..n {
        write(&mut b, "log_level", if i % 2 == 0 { b"INFO" } else { b"DEBUG" });
    }
    let w = t.elapsed() / n;
    let rf = Frame::encode(&Packet::CoreMgmtConfigReadRequest { destination: 1, key: b"log_level" }).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        b.handle(&rf);
    }
    let r = t.elapsed() / n;
    println!("config write (CONFIG.TXT, crash-consistent swap): {:.1} µs; config read: {:.1} µs (host, file-backed)", w.as_secs_f64() * 1e6, r.as_secs_f64() * 1e6);
}
