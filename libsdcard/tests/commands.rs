//! Device commands of the big transfers: flashing a 20 MB boot image (in
//! the 1010-byte slices of a DRTIO flash), the commit's read-back (32 KiB
//! reads, as satman's CRC check) and reading the image again the way
//! satboot loads partitions (64 KiB reads from an offset that is not
//! block-aligned). Each device read or write is one SD command (CMD17/24
//! for one block, CMD18/25 for more), so these counts are what a card sees.

use libsdcard::format::format_fat32;
use libsdcard::mem::CommandLog;
use libsdcard::{Card, Logged, MemDevice, ReadAt};

/// Device reads and writes (= SD commands) since the last call.
fn take(log: &CommandLog) -> (u64, u64) {
    let cmds = log.take();
    let writes = cmds.iter().filter(|c| c.write).count() as u64;
    (cmds.len() as u64 - writes, writes)
}

fn byte(i: u32) -> u8 {
    (i.wrapping_mul(2654435761) >> 24) as u8
}

#[test]
fn twenty_megabyte_flash_and_read_back_commands() {
    const LEN: u32 = 20_000_000;
    let mut dev = MemDevice::new(96 * 2048);
    format_fat32(&mut dev, 1).unwrap();
    let (dev, log) = Logged::new(dev);
    let mut card = Card::mount(dev).unwrap();
    // The card as `satctl sdcard make` leaves it: a BOOT.BIN, and the spare
    // reserved for the next.
    let mut w = card.begin_boot_image(512).unwrap();
    card.boot_write(&mut w, &[1; 512]).unwrap();
    card.boot_commit(w, |_: &mut dyn ReadAt| Ok::<(), ()>(())).unwrap();
    card.reserve_boot_spare(LEN).unwrap();
    let image: Vec<u8> = (0..LEN).map(byte).collect();
    take(&log);

    let mut w = card.begin_boot_image(LEN).unwrap();
    for c in image.chunks(1010) {
        card.boot_write(&mut w, c).unwrap();
    }
    let (wr_reads, wr_writes) = take(&log);
    card.boot_commit(w, |r: &mut dyn ReadAt| {
        let mut b = vec![0u8; 32 * 1024];
        let mut off = 0;
        while off < r.len() {
            let n = (r.len() - off).min(b.len() as u32) as usize;
            r.read_exact_at(off, &mut b[..n]).map_err(|_| "read")?;
            if b[..n] != image[off as usize..off as usize + n] {
                return Err("mismatch");
            }
            off += n as u32;
        }
        Ok(())
    })
    .unwrap();
    let (c_reads, c_writes) = take(&log);

    // satboot: a partition 64 bytes into a block, read in 64 KiB steps.
    let mut r = card.open("/BOOT.BIN").unwrap();
    let mut b = vec![0u8; 64 * 1024];
    let mut off = 64u32;
    while off < LEN {
        let n = (LEN - off).min(b.len() as u32) as usize;
        r.read_exact_at(off, &mut b[..n]).unwrap();
        assert!(b[..n] == image[off as usize..off as usize + n], "at {off}");
        off += n as u32;
    }
    let (l_reads, _) = take(&log);
    eprintln!(
        "20 MB flash: {wr_writes} device writes and {wr_reads} reads for the data, \
         commit {c_writes} writes and {c_reads} reads (32 KiB read-back); \
         satboot-style load: {l_reads} reads (64 KiB steps)"
    );
    // One write per 32 KiB run (the spare chain is contiguous here), the
    // last run and the directory block at the commit; before runs, these
    // were 39 062 writes, 39 371 and 39 675 reads (one block each).
    let runs = LEN.div_ceil(32 * 1024) as u64;
    assert_eq!(wr_writes + c_writes, runs + 1);
    // Reads: one per 32 KiB of read-back plus one per FAT block of the
    // chain (a 20 MB chain of 512-byte clusters spans 306 FAT blocks).
    let fat_blocks = (LEN / 512 * 4).div_ceil(512) as u64 + 2;
    assert!(c_reads <= runs + fat_blocks, "{c_reads}");
    // The load: per 64 KiB step a head and a tail block and one run.
    assert!(l_reads <= 3 * LEN.div_ceil(64 * 1024) as u64 + fat_blocks, "{l_reads}");
}
