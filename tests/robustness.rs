//! Wire input never panics the satellite: thousands of frames with valid
//! CRCs and random fields, for every packet id, between valid requests. The
//! satellite keeps answering, and afterwards runs the user's experiment with
//! the heap back where it was.

use libdrtio::Packet;
use satman_systest::heap::TrackingAlloc;
use satman_systest::scenario::{self, experiment, DEST};
use satman_systest::sim::{SimBench, SimOptions};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A frame with a valid trailer: id, `body`, padding, CRC.
fn framed(id: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![id];
    f.extend_from_slice(body);
    f.resize(libdrtio::frame_len(f.len()) - 4, 0);
    let crc = libdrtio::checksum(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

/// One encoded body (id + fields, no trailer) of every request kind a
/// satellite handles, with payloads where the packet has one.
fn samples() -> Vec<Vec<u8>> {
    use libdrtio::PayloadStatus::{First, FirstAndLast, Last};
    let d = DEST;
    let trace = [17u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    let packets = [
        Packet::EchoRequest,
        Packet::ResetRequest,
        Packet::DestinationStatusRequest { destination: d },
        Packet::RoutingSetRank { rank: 1 },
        Packet::MonitorRequest { destination: d, channel: 3, probe: 0 },
        Packet::InjectionRequest { destination: d, channel: 3, overrd: 0, value: 1 },
        Packet::InjectionStatusRequest { destination: d, channel: 3, overrd: 0 },
        Packet::I2cStartRequest { destination: d, busno: 0 },
        Packet::I2cWriteRequest { destination: d, busno: 0, data: 5 },
        Packet::I2cReadRequest { destination: d, busno: 0, ack: true },
        Packet::I2cRestartRequest { destination: d, busno: 0 },
        Packet::I2cStopRequest { destination: d, busno: 0 },
        Packet::I2cSwitchSelectRequest { destination: d, busno: 0, address: 0x70, mask: 0x08 },
        Packet::SpiReadRequest { destination: d, busno: 0 },
        Packet::AnalyzerHeaderRequest { destination: d },
        Packet::AnalyzerDataRequest { destination: d },
        Packet::DmaAddTraceRequest { source: 0, destination: d, id: 3, status: FirstAndLast, data: &trace },
        Packet::DmaAddTraceRequest { source: 0, destination: d, id: 3, status: First, data: &trace },
        Packet::DmaAddTraceRequest { source: 0, destination: d, id: 3, status: Last, data: &trace },
        Packet::DmaRemoveTraceRequest { source: 0, destination: d, id: 3 },
        Packet::DmaPlaybackRequest { source: 0, destination: d, id: 3, timestamp: 0 },
        Packet::DmaAddTraceReply { source: 2, destination: d, id: 3, succeeded: true },
        Packet::DmaPlaybackReply { destination: d, succeeded: true },
        Packet::DmaPlaybackStatus { source: 2, destination: d, id: 3, error: 0, channel: 0, timestamp: 0 },
        Packet::SubkernelAddDataRequest { destination: d, id: 1, status: First, data: b"SIMKstandard\0" },
        Packet::SubkernelAddDataRequest { destination: d, id: 1, status: Last, data: b"xyz" },
        Packet::SubkernelLoadRunRequest { source: 0, destination: d, id: 1, run: false, timestamp: 0 },
        Packet::SubkernelLoadRunRequest { source: 0, destination: d, id: 1, run: true, timestamp: 0 },
        Packet::SubkernelExceptionRequest { source: 0, destination: d },
        Packet::SubkernelMessage { source: 0, destination: d, id: 1, status: FirstAndLast, data: &[1, 5, 0, 0, 0] },
        Packet::SubkernelMessageAck { destination: d },
        Packet::SubkernelFinished { destination: d, id: 1, with_exception: true, exception_src: 2 },
        Packet::SubkernelLoadRunReply { destination: d, succeeded: true },
        Packet::SubkernelException { destination: d, last: true, data: b"x" },
        Packet::CoreMgmtGetLogRequest { destination: d, clear: false },
        Packet::CoreMgmtClearLogRequest { destination: d },
        Packet::CoreMgmtConfigReadRequest { destination: d, key: b"log_level" },
        Packet::CoreMgmtConfigReadContinue { destination: d },
        Packet::CoreMgmtConfigRemoveRequest { destination: d, key: b"key" },
        Packet::CoreMgmtConfigEraseRequest { destination: d },
        Packet::CoreMgmtAllocatorDebugRequest { destination: d },
        Packet::CoreMgmtFlashAddDataRequest { destination: d, last: false, data: b"boot" },
        Packet::CXPReadRequest { destination: d, address: 0, length: 4 },
        Packet::EchoReply,
        Packet::CoreMgmtReply { succeeded: true },
    ];
    packets
        .iter()
        .map(|p| {
            // Without its CRC (the padding stays: re-framing adds none).
            let f = libdrtio::Frame::encode(p).unwrap();
            f.as_bytes()[..f.len() - 4].to_vec()
        })
        .collect()
}

#[test]
fn random_packets_never_break_the_satellite() {
    let mut b = SimBench::new(SimOptions::default());
    scenario::register_kernels(&mut b);
    b.master.init_link(DEST).unwrap();
    experiment(&mut b).unwrap();
    let base = (b.heap.bytes(), b.heap1.bytes());
    let samples = samples();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut decoded = 0;
    for round in 0..4000 {
        // A real packet of a random kind, with random bytes of its body
        // replaced (often our destination stays), and a valid CRC again.
        let sample = &samples[(rng.next() % samples.len() as u64) as usize];
        let mut body = sample[1..].to_vec();
        for _ in 0..(rng.next() % 4) {
            if !body.is_empty() {
                let i = (rng.next() % body.len() as u64) as usize;
                body[i] = rng.next() as u8;
            }
        }
        let frame = framed(sample[0], &body);
        if Packet::decode(&frame).is_ok() {
            decoded += 1;
        }
        b.master.send_raw(&frame).unwrap();
        if round % 50 == 0 {
            b.master.poll_async(std::time::Duration::from_millis(2)).ok();
            b.master.clear_async();
            // Still answering, once it has worked through the noise (some
            // of it reaches the SD card, which takes its time).
            b.pump_until(std::time::Duration::from_secs(5), |b| b.link.pending_for_satellite() == 0);
            b.pump(std::time::Duration::from_millis(1));
            while b.link.master_recv().is_some() {}
            b.master.echo().unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
    assert!(decoded > 1000, "only {decoded} frames decoded: the test does not reach the handlers");
    drop(samples);
    // Whatever state the noise left (kernels, uploads, traces) is cleared by
    // a reset and a fresh link, as the master would do.
    b.pump(std::time::Duration::from_millis(20));
    while b.link.master_recv().is_some() {}
    b.link.set_up(false);
    b.pump(std::time::Duration::from_millis(5));
    b.link.set_up(true);
    b.master.init_link(DEST).unwrap();
    b.master.clear_async();
    b.rtio.take_events();
    experiment(&mut b).unwrap();
    b.master.clear_async();
    assert!(b.sat().store().is_empty());
    // The I2C bus model (test infrastructure) keeps the devices the last
    // address reached and a record of switch writes: address nobody and
    // drop the record, so it holds no allocation.
    for p in [
        Packet::I2cStartRequest { destination: DEST, busno: 0 },
        Packet::I2cWriteRequest { destination: DEST, busno: 0, data: 0x33 << 1 },
        Packet::I2cStopRequest { destination: DEST, busno: 0 },
    ] {
        b.master.i2c(&p).unwrap();
    }
    let model = b.sat().hw.i2c.model.clone();
    for s in model.world.borrow_mut().switches.iter_mut() {
        s.writes = Vec::new();
    }
    assert_eq!((b.heap.bytes(), b.heap1.bytes()), base, "heaps (CPU0, CPU1) not back at their baselines");
}
