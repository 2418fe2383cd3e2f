//! The user's experiment and the fault cases, as kernels for the simulated
//! kernel CPU, with checks of the RTIO output they must produce.
//!
//! Each kernel is written the way the ARTIQ compiler lowers the Python:
//! `ttl.pulse(d)` is an output of 1, `delay_mu(d)`, an output of 0;
//! `core_dma.record(name)` saves `now`, records from `at_mu(0)`, and stops
//! with the duration; `core_dma.playback(name)` retrieves the trace and plays
//! it at `now`, then advances `now` by its duration.

use satman::hal::Initiator;

use libksupport::exception::{id, CSlice, Exception};
use libksupport::runtime::KernelApi;

use crate::sim::Event;

/// `ttl15` on destination 1: channel (1 << 16 | 15), address 0.
pub const TTL15: i32 = 0x0100_0F00;
pub const PULSES: usize = 100;
/// 500 µs in machine units (1 ns).
pub const HALF_PERIOD: i64 = 500_000;
pub const DMA_NAME: &[u8] = b"satellite_subkernel_ddma";
/// `core.break_realtime()`'s margin.
pub const SLACK: i64 = 125_000;

pub fn break_realtime(api: &mut dyn KernelApi) {
    let now = api.rtio_get_counter();
    api.at_mu(now + SLACK);
}

pub fn pulses(api: &mut dyn KernelApi, n: usize) {
    pulses_on(api, TTL15, n)
}

pub fn pulses_on(api: &mut dyn KernelApi, target: i32, n: usize) {
    for _ in 0..n {
        api.rtio_output(target, 1);
        api.delay_mu(HALF_PERIOD);
        api.rtio_output(target, 0);
        api.delay_mu(HALF_PERIOD);
    }
}

/// `ttl15` on destination 2.
pub const TTL15_DEST2: i32 = 0x0200_0F00;

/// `satellite_subkernel_standard` for a TTL on destination 2.
pub fn standard_dest2(api: &mut dyn KernelApi) {
    break_realtime(api);
    pulses_on(api, TTL15_DEST2, PULSES);
}

/// `satellite_subkernel_standard`.
pub fn standard(api: &mut dyn KernelApi) {
    break_realtime(api);
    pulses(api, PULSES);
}

/// `ttl15` on `destination`: channel (destination << 16 | 15), address 0.
pub const fn ttl15_of(destination: u8) -> i32 {
    (destination as i32) << 24 | 0x0F00
}

/// `satellite_subkernel_standard` for a TTL at `target`.
pub fn standard_on(api: &mut dyn KernelApi, target: i32) {
    break_realtime(api);
    pulses_on(api, target, PULSES);
}

/// `satellite_subkernel_ddma`.
pub fn ddma(api: &mut dyn KernelApi) {
    ddma_on(api, TTL15)
}

/// `satellite_subkernel_ddma` recording pulses on `target`.
pub fn ddma_on(api: &mut dyn KernelApi, target: i32) {
    break_realtime(api);
    api.dma_record_start(DMA_NAME);
    let saved = api.now_mu();
    api.at_mu(0);
    pulses_on(api, target, PULSES);
    let duration = api.now_mu();
    api.dma_record_stop(duration, true);
    api.at_mu(saved);
    break_realtime(api);
    let trace = api.dma_retrieve(DMA_NAME);
    let now = api.now_mu();
    api.dma_playback(now, trace.address, trace.uses_ddma);
    api.delay_mu(trace.duration);
}

static MESSAGE: &str = "raised while recording: {0}";

/// Raises `ValueError` in the middle of a DMA recording.
pub fn raise_while_recording(api: &mut dyn KernelApi) {
    break_realtime(api);
    api.dma_record_start(DMA_NAME);
    api.at_mu(0);
    pulses(api, 10);
    let exn = Exception {
        id: id::VALUE_ERROR,
        file: CSlice::new("ddma_satellite_demo.py"),
        line: 42,
        column: 8,
        function: CSlice::new("satellite_subkernel_ddma"),
        message: CSlice::new(MESSAGE),
        param: [7, 0, 0],
    };
    api.raise(&exn);
}

/// Never returns; stops only when CPU0 restarts the kernel CPU.
pub fn never_finishes(api: &mut dyn KernelApi) {
    loop {
        let _ = api.rtio_get_counter();
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
}

/// Records 5000 pulses: 170 kB of trace, beyond a small DDMA budget.
pub fn huge_recording(api: &mut dyn KernelApi) {
    api.dma_record_start(b"huge");
    pulses(api, 5000);
    let d = api.now_mu();
    api.dma_record_stop(d, true);
}

/// Bytes of the oversized values below: over the 1 MiB memory budget the
/// flood tests give CPU0.
pub const HUGE: usize = 2 << 20;

/// Raises an exception whose message is [`HUGE`] bytes long.
pub fn huge_exception(api: &mut dyn KernelApi) {
    let text = "x".repeat(HUGE);
    let exn = Exception {
        id: id::VALUE_ERROR,
        file: CSlice::new("huge.py"),
        line: 1,
        column: 1,
        function: CSlice::new("huge_exception"),
        message: CSlice::from_bytes(text.as_bytes()),
        param: [0; 3],
    };
    api.raise(&exn);
}

/// Sends the master a string of [`HUGE`] bytes as its return value.
pub fn huge_message(api: &mut dyn KernelApi) {
    let text = vec![b'y'; HUGE];
    let hdr = libksupport::rpc::ListHeader { ptr: text.as_ptr() as *mut u8, len: text.len() as u32 };
    // SAFETY: the one argument points to a live string header whose bytes (`text`) outlive the
    // call, matching the tag `s`.
    unsafe { api.subkernel_send_message(0, true, 0, b"s:s", &[(&hdr as *const libksupport::rpc::ListHeader).cast()]) };
}

/// Fills the kernel cache with [`HUGE`] bytes, 64 KiB a key.
pub fn cache_flood(api: &mut dyn KernelApi) {
    let value = vec![7i32; 16 * 1024];
    for i in 0..HUGE / (64 * 1024) {
        api.cache_put(format!("key{i}").as_bytes(), &value);
    }
}

/// Takes two int32 arguments and returns their sum (kernel-abi §4).
pub fn add_args(api: &mut dyn KernelApi) {
    let n = api.subkernel_await_message(-1, 10_000, b"ii", 2, 2);
    assert_eq!(n, 2);
    let (mut a, mut b) = (0i32, 0i32);
    // SAFETY: each slot is a live `i32`, the type of the tag `i` being received.
    unsafe {
        assert_eq!(api.rpc_recv((&mut a as *mut i32).cast()), 0);
        assert_eq!(api.rpc_recv((&mut b as *mut i32).cast()), 0);
    }
    let sum = a.wrapping_add(b);
    // SAFETY: the argument points to a live `i32`, matching the tag `i`.
    unsafe { api.subkernel_send_message(0, true, 0, b"i:i", &[(&sum as *const i32).cast()]) };
}

/// Checks a run's output: `PULSES` pulses on TTL15, high for 500 µs every
/// 1 ms, all submitted by `source`. Returns the first edge's timestamp.
pub fn check_pulses(events: &[Event], source: Initiator) -> Result<i64, String> {
    check_pulses_on(events, TTL15, source)
}

/// As [`check_pulses`], on any target.
pub fn check_pulses_on(events: &[Event], target: i32, source: Initiator) -> Result<i64, String> {
    if events.len() != 2 * PULSES {
        return Err(format!("expected {} events, got {}", 2 * PULSES, events.len()));
    }
    let t0 = events[0].timestamp;
    for (i, e) in events.iter().enumerate() {
        let want_ts = t0 + i as i64 * HALF_PERIOD;
        let want_data = (i % 2 == 0) as u32;
        if e.target != target as u32 || e.data != want_data || e.timestamp != want_ts || e.source != source {
            return Err(format!(
                "event {}: got {:?}, expected target {:#x} data {} at {} from {:?}",
                i, e, target, want_data, want_ts, source
            ));
        }
    }
    Ok(t0)
}
