//! What recording costs a kernel on the ARM build: `rtio_output` through
//! the PLT while a DMA recording is open, timed by the kernel itself with
//! `rtio_get_counter` (in QEMU the firmware's timer in µs; with `-icount
//! shift=0`, 1 µs = 1000 guest instructions).
//!
//! Under `-icount` QEMU runs both CPUs round-robin on one thread, so every
//! interval CPU1 times also holds CPU0's instructions. The kernel therefore
//! times three kinds of blocks, 16 of each, and logs the minimum and median
//! of each kind (`satctl --icount 0 qemu measure` turns them into figures):
//!
//! - calibration: a loop of exactly `2 × SPIN` instructions (`subs`, `bne`),
//!   giving the virtual ns per CPU1 instruction;
//! - baseline: `PULSES × { delay_mu, delay_mu }`, the loop without output;
//! - record: `PULSES × { rtio_output(on), delay_mu, rtio_output(off),
//!   delay_mu }` into the recording `"record_cost"` (the workload of the
//!   benchmarks), then erased.
//!
//! (record − baseline) / events / (ns per instruction) is `rtio_output`'s
//! own cost per event, call included. The minimum leaves out the blocks in
//! which the recording's lease grew (a round trip to CPU0).

#![no_std]

use satman_test_kernels::*;

/// RTIO target: channel 0x00_0F with destination 1 in bits 16-23, address 0.
pub const TTL: i32 = 0x0100_0F00;
/// Blocks of each kind.
const BLOCKS: usize = 16;
/// Pulses (two events) per block.
const PULSES: i32 = 4000;
/// Iterations of the two-instruction calibration loop per block.
const SPIN: u32 = 50_000;
const NAME: Str = Str::new("record_cost");

/// Exactly `2 × n` instructions (n > 0).
#[inline(never)]
fn spin(n: u32) {
    // SAFETY: a register-only countdown loop.
    unsafe { core::arch::asm!("1:", "subs {0}, {0}, #1", "bne 1b", inout(reg) n => _, options(nomem, nostack)) }
}

/// Minimum and median of `v` (sorts it). Logged as `%d`: a block takes a
/// few ms at most.
fn min_median(v: &mut [i64; BLOCKS]) -> (i64, i64) {
    v.sort_unstable();
    (v[0], v[BLOCKS / 2])
}

#[no_mangle]
pub extern "C" fn __modinit__() {
    let (mut cal, mut base, mut rec) = ([0i64; BLOCKS], [0i64; BLOCKS], [0i64; BLOCKS]);
    // SAFETY: the firmware's ABI, called as an ARTIQ kernel calls it.
    unsafe {
        break_realtime();
        for c in cal.iter_mut() {
            let t = rtio_get_counter();
            spin(SPIN);
            *c = rtio_get_counter() - t;
        }
        for b in base.iter_mut() {
            let t = rtio_get_counter();
            for _ in 0..PULSES {
                delay_mu(500_000);
                delay_mu(500_000);
            }
            *b = rtio_get_counter() - t;
        }
        let start = now_mu();
        dma_record_start(NAME);
        for r in rec.iter_mut() {
            let t = rtio_get_counter();
            for _ in 0..PULSES {
                rtio_output(TTL, 1);
                delay_mu(500_000);
                rtio_output(TTL, 0);
                delay_mu(500_000);
            }
            *r = rtio_get_counter() - t;
        }
        dma_record_stop(now_mu() - start, false);
        dma_erase(NAME);
        let (c, b, r) = (min_median(&mut cal), min_median(&mut base), min_median(&mut rec));
        core_log(
            c"record_cost: %d events per block, %d instructions per calibration block; us min/median: calibration %d %d, baseline %d %d, record %d %d\n"
                .as_ptr()
                .cast(),
            2 * PULSES,
            2 * SPIN,
            c.0 as i32,
            c.1 as i32,
            b.0 as i32,
            b.1 as i32,
            r.0 as i32,
            r.1 as i32,
        );
    }
}
