//! DDMA round trips against the firmware in QEMU: a trace of 100 TTL
//! pulses uploaded in chunks (DmaAddTraceRequest), played at the counter +
//! slack (DmaPlaybackRequest), awaited (DmaPlaybackStatus), its RTIO events
//! checked on channel 1, removed (DmaRemoveTraceRequest), 100 times in a
//! row, with heap0_used, ddma_in_use and ddma_traces back at their
//! values before the first upload after every removal. One QEMU for the
//! whole file.
//!
//! Needs the firmware the build script builds; with SATMAN_SKIP_FIRMWARE
//! set it prints a loud skip and passes.

use std::time::{Duration, Instant};

use satman_systest::qemu::bench::{ddma_round_trip, CounterEstimate, DdmaConfig, PulseTrain, Spread};
use satman_systest::qemu::Qemu;

const DEST: u8 = 1;
const RUNS: usize = 100;

#[test]
fn qemu_ddma_round_trips() {
    let Some(mut q) = Qemu::boot_for_test("qemu_ddma_round_trips") else { return };
    q.master.init_link(DEST).unwrap_or_else(|e| panic!("init_link: {e}\n{}", q.diagnostics()));
    let base = q.stats().unwrap();
    assert_eq!((base.ddma_in_use, base.ddma_traces), (0, 0));
    let mut counter = Some(CounterEstimate::from_stats(&base));
    let cfg = DdmaConfig {
        destination: DEST,
        id: 1,
        train: PulseTrain::new(DEST, 15, 100, 1000, 500),
        slack: satman_systest::qemu::bench::HOST_SLACK_MU,
        status_timeout: Duration::from_secs(10),
        events_timeout: Duration::from_secs(10),
    };
    let trace_len = cfg.train.trace().len();
    assert!(trace_len > 3 * libdrtio::MASTER_PAYLOAD_MAX_SIZE, "the trace takes several chunks");

    let start = Instant::now();
    let mut runs = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        match ddma_round_trip(&mut q.master, &cfg, &mut counter, Some(&base)) {
            Ok(r) => runs.push(r),
            Err(e) => panic!("run {} of {RUNS}: {e}\n{}", i + 1, q.diagnostics()),
        }
    }
    let wall = start.elapsed();
    let col = |f: fn(&satman_systest::qemu::bench::DdmaRun) -> Duration| Spread::of(&runs.iter().map(f).collect::<Vec<_>>()).unwrap();
    let (total, upload, play, remove) = (col(|r| r.total), col(|r| r.upload), col(|r| r.playback), col(|r| r.remove));
    eprintln!(
        "ddma: {RUNS} round trips of {trace_len} bytes in {:.1} s; per run mean {:.1} ms (min {:.1}, max {:.1}): \
         upload {:.1} ms, playback→status {:.1} ms, remove {:.1} ms",
        wall.as_secs_f64(),
        total.mean_us / 1e3,
        total.min_us / 1e3,
        total.max_us / 1e3,
        upload.mean_us / 1e3,
        play.mean_us / 1e3,
        remove.mean_us / 1e3
    );
    let last = runs.last().unwrap().after.unwrap();
    assert_eq!(last.rtio_events - base.rtio_events, (RUNS * 200) as u64, "the firmware's event counter");
    assert_eq!(last.decode_errors, base.decode_errors);

    let r = q.exit(0).unwrap();
    assert_eq!(r.code, Some(0), "QEMU exit code\n{}", q.diagnostics());
    assert!(r.unexpected_log_lines.is_empty(), "unexpected qemu.log lines: {:#?}", r.unexpected_log_lines);
}
