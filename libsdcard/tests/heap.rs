//! Streaming a 20 MB boot image holds one 32 KiB run of blocks, not the
//! image: peak heap growth during the whole write (begin, 1 KiB chunks,
//! commit with a read-back check) stays under 256 KiB (32 KiB measured).
//! Also prints the host time per 1 KiB chunk on a file-backed card (issue
//! 7 benchmark figure).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use libsdcard::format::format_fat32;
use libsdcard::{Card, FileDevice, ReadAt};

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let n = NOW.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(n, Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn twenty_megabyte_flash_in_bounded_heap() {
    const LEN: u32 = 20_000_000;
    let path = std::env::temp_dir().join(format!("libsdcard-heap-{}.img", std::process::id()));
    let mut dev = FileDevice::create(&path, 96 * 2048).unwrap();
    format_fat32(&mut dev, 1).unwrap();
    let mut card = Card::mount(dev).unwrap();
    // The card as `satctl sdcard make` leaves it: spare reserved.
    card.reserve_boot_spare(LEN).unwrap();
    let chunk: Vec<u8> = (0..1024u32).map(|i| i as u8).collect();

    let base = NOW.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = std::time::Instant::now();
    let mut w = card.begin_boot_image(LEN).unwrap();
    let mut left = LEN as usize;
    let mut chunks = 0u32;
    while left > 0 {
        let n = left.min(1024);
        card.boot_write(&mut w, &chunk[..n]).unwrap();
        left -= n;
        chunks += 1;
    }
    let streamed = t.elapsed();
    card.boot_commit(w, |r: &mut dyn ReadAt| {
        let mut b = [0u8; 1024];
        let mut off = 0;
        while off < r.len() {
            let n = (r.len() - off).min(1024) as usize;
            r.read_exact_at(off, &mut b[..n]).map_err(|_| "read")?;
            if b[..n] != chunk[..n] {
                return Err("mismatch");
            }
            off += n as u32;
        }
        Ok(())
    })
    .unwrap();
    let growth = PEAK.load(Ordering::Relaxed) - base;
    eprintln!(
        "20 MB flash: peak heap growth {growth} bytes; {:.2} µs per 1 KiB chunk written (file-backed, host), commit incl. read-back {:?}",
        streamed.as_secs_f64() * 1e6 / chunks as f64,
        t.elapsed() - streamed
    );
    assert!(growth < 256 * 1024, "{growth}");
    let mut r = card.open("/BOOT.BIN").unwrap();
    assert!(r.len() >= LEN);
    let mut b = [0u8; 4];
    r.read_exact_at(LEN - 4, &mut b).unwrap();
    drop(card);
    let _ = std::fs::remove_file(&path);
}
