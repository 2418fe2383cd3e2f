//! Test helpers shared by the integration tests: a way to produce any
//! packet from owned values (a `Packet` borrows, a proptest value cannot),
//! and a framer written from the spec rather than taken from the crate.
#![allow(dead_code)] // Each test binary uses a different part.

use libdrtio::{Packet, PayloadStatus};
use proptest::prelude::*;

/// Number of packet kinds, one per `Packet` variant.
pub const KINDS: usize = 80;

/// Owned raw material for one packet of any kind.
#[derive(Debug, Clone)]
pub struct Sample {
    pub kind: usize,
    pub b: [u8; 6],
    pub h: [u16; 4],
    pub w: [u32; 2],
    pub q: u64,
    pub f: [bool; 3],
    pub hops: [u8; 32],
    pub status: PayloadStatus,
    pub payload: Vec<u8>,
}

impl Sample {
    /// A sample of `kind` with fixed, distinct field values.
    pub fn fixed(kind: usize, payload: Vec<u8>) -> Sample {
        let mut hops = [0xff; 32];
        hops[..3].copy_from_slice(&[1, 2, 0]);
        Sample {
            kind,
            b: [1, 2, 3, 4, 5, 6],
            h: [0x0102, 0x0304, 0x0506, 0x0708],
            w: [0x1122_3344, 0x5566_7788],
            q: 0x0102_0304_0506_0708,
            f: [true, false, true],
            hops,
            status: PayloadStatus::First,
            payload,
        }
    }

    /// The largest payload this kind carries, in bytes (0 if none).
    pub fn max_payload(kind: usize) -> usize {
        Sample::fixed(kind, Vec::new())
            .packet()
            .max_payload_len()
            .unwrap_or(0)
    }

    /// Payload lengths must be multiples of this (8 for pixel data).
    pub fn payload_unit(kind: usize) -> usize {
        if Sample::fixed(kind, Vec::new()).packet().packet_id() == 0xe9 {
            8
        } else {
            1
        }
    }

    /// The packet, borrowing the payload.
    pub fn packet(&self) -> Packet<'_> {
        use Packet::*;
        let [b0, b1, b2, b3, b4, b5] = self.b;
        let [h0, h1, h2, h3] = self.h;
        let [w0, w1] = self.w;
        let q = self.q;
        let [f0, f1, _] = self.f;
        let status = self.status;
        let data = &self.payload[..];
        match self.kind {
            0 => EchoRequest,
            1 => EchoReply,
            2 => ResetRequest,
            3 => ResetAck,
            4 => TSCAck,
            5 => DestinationStatusRequest { destination: b0 },
            6 => DestinationDownReply,
            7 => DestinationOkReply,
            8 => DestinationSequenceErrorReply { channel: h0 },
            9 => DestinationCollisionReply { channel: h0 },
            10 => DestinationBusyReply { channel: h0 },
            11 => RoutingSetPath {
                destination: b0,
                hops: self.hops,
            },
            12 => RoutingSetRank { rank: b0 },
            13 => RoutingAck,
            14 => MonitorRequest {
                destination: b0,
                channel: h0,
                probe: b1,
            },
            15 => MonitorReply { value: q },
            16 => InjectionRequest {
                destination: b0,
                channel: h0,
                overrd: b1,
                value: b2,
            },
            17 => InjectionStatusRequest {
                destination: b0,
                channel: h0,
                overrd: b1,
            },
            18 => InjectionStatusReply { value: b0 },
            19 => I2cStartRequest {
                destination: b0,
                busno: b1,
            },
            20 => I2cRestartRequest {
                destination: b0,
                busno: b1,
            },
            21 => I2cStopRequest {
                destination: b0,
                busno: b1,
            },
            22 => I2cWriteRequest {
                destination: b0,
                busno: b1,
                data: b2,
            },
            23 => I2cWriteReply {
                succeeded: f0,
                ack: f1,
            },
            24 => I2cReadRequest {
                destination: b0,
                busno: b1,
                ack: f0,
            },
            25 => I2cReadReply {
                succeeded: f0,
                data: b0,
            },
            26 => I2cBasicReply { succeeded: f0 },
            27 => I2cSwitchSelectRequest {
                destination: b0,
                busno: b1,
                address: b2,
                mask: b3,
            },
            28 => SpiSetConfigRequest {
                destination: b0,
                busno: b1,
                flags: b2,
                length: b3,
                div: b4,
                cs: b5,
            },
            29 => SpiWriteRequest {
                destination: b0,
                busno: b1,
                data: w0,
            },
            30 => SpiReadRequest {
                destination: b0,
                busno: b1,
            },
            31 => SpiReadReply {
                succeeded: f0,
                data: w0,
            },
            32 => SpiBasicReply { succeeded: f0 },
            33 => AnalyzerHeaderRequest { destination: b0 },
            34 => AnalyzerHeader {
                sent_bytes: w0,
                total_byte_count: q,
                overflow_occurred: f0,
            },
            35 => AnalyzerDataRequest { destination: b0 },
            36 => AnalyzerData { last: f0, data },
            37 => DmaAddTraceRequest {
                source: b0,
                destination: b1,
                id: w0,
                status,
                data,
            },
            38 => DmaAddTraceReply {
                source: b0,
                destination: b1,
                id: w0,
                succeeded: f0,
            },
            39 => DmaRemoveTraceRequest {
                source: b0,
                destination: b1,
                id: w0,
            },
            40 => DmaRemoveTraceReply {
                destination: b0,
                succeeded: f0,
            },
            41 => DmaPlaybackRequest {
                source: b0,
                destination: b1,
                id: w0,
                timestamp: q,
            },
            42 => DmaPlaybackReply {
                destination: b0,
                succeeded: f0,
            },
            43 => DmaPlaybackStatus {
                source: b0,
                destination: b1,
                id: w0,
                error: b2,
                channel: w1,
                timestamp: q,
            },
            44 => SubkernelAddDataRequest {
                destination: b0,
                id: w0,
                status,
                data,
            },
            45 => SubkernelAddDataReply { succeeded: f0 },
            46 => SubkernelLoadRunRequest {
                source: b0,
                destination: b1,
                id: w0,
                run: f0,
                timestamp: q,
            },
            47 => SubkernelLoadRunReply {
                destination: b0,
                succeeded: f0,
            },
            48 => SubkernelFinished {
                destination: b0,
                id: w0,
                with_exception: f0,
                exception_src: b1,
            },
            49 => SubkernelExceptionRequest {
                source: b0,
                destination: b1,
            },
            50 => SubkernelException {
                destination: b0,
                last: f0,
                data,
            },
            51 => SubkernelMessage {
                source: b0,
                destination: b1,
                id: w0,
                status,
                data,
            },
            52 => SubkernelMessageAck { destination: b0 },
            53 => CoreMgmtGetLogRequest {
                destination: b0,
                clear: f0,
            },
            54 => CoreMgmtClearLogRequest { destination: b0 },
            55 => CoreMgmtConfigReadRequest {
                destination: b0,
                key: data,
            },
            56 => CoreMgmtConfigReadContinue { destination: b0 },
            57 => CoreMgmtConfigWriteRequest {
                destination: b0,
                last: f0,
                data,
            },
            58 => CoreMgmtConfigRemoveRequest {
                destination: b0,
                key: data,
            },
            59 => CoreMgmtConfigEraseRequest { destination: b0 },
            60 => CoreMgmtRebootRequest { destination: b0 },
            61 => CoreMgmtAllocatorDebugRequest { destination: b0 },
            62 => CoreMgmtFlashRequest {
                destination: b0,
                payload_length: w0,
            },
            63 => CoreMgmtFlashAddDataRequest {
                destination: b0,
                last: f0,
                data,
            },
            64 => CoreMgmtDropLinkAck { destination: b0 },
            65 => CoreMgmtDropLink,
            66 => CoreMgmtGetLogReply { last: f0, data },
            67 => CoreMgmtConfigReadReply {
                last: f0,
                value: data,
            },
            68 => CoreMgmtReply { succeeded: f0 },
            69 => CXPError { data },
            70 => CXPWaitReply,
            71 => CXPReadRequest {
                destination: b0,
                address: w0,
                length: h0,
            },
            72 => CXPReadReply { data },
            73 => CXPWrite32Request {
                destination: b0,
                address: w0,
                value: w1,
            },
            74 => CXPWrite32Reply,
            75 => CXPROIViewerSetupRequest {
                destination: b0,
                x0: h0,
                y0: h1,
                x1: h2,
                y1: h3,
            },
            76 => CXPROIViewerSetupReply,
            77 => CXPROIViewerDataRequest { destination: b0 },
            78 => CXPROIViewerPixelDataReply { data },
            79 => CXPROIViewerFrameDataReply {
                width: h0,
                height: h1,
                pixel_code: h2,
            },
            kind => panic!("no packet kind {kind}"),
        }
    }
}

pub fn any_status() -> impl Strategy<Value = PayloadStatus> {
    prop_oneof![
        Just(PayloadStatus::Middle),
        Just(PayloadStatus::First),
        Just(PayloadStatus::Last),
        Just(PayloadStatus::FirstAndLast),
    ]
}

/// Any packet kind with random fields and a payload of 0..=max bytes,
/// the maximum itself drawn often since it is the interesting edge.
pub fn any_sample() -> impl Strategy<Value = Sample> {
    (0..KINDS)
        .prop_flat_map(|kind| {
            let unit = Sample::payload_unit(kind);
            let max_units = Sample::max_payload(kind) / unit;
            let len = prop_oneof![3 => 0..=max_units, 1 => Just(max_units)];
            let payload =
                len.prop_flat_map(move |n| proptest::collection::vec(any::<u8>(), n * unit));
            (
                Just(kind),
                any::<[u8; 6]>(),
                any::<[u16; 4]>(),
                any::<[u32; 2]>(),
                any::<u64>(),
                any::<[bool; 3]>(),
                proptest::array::uniform32(any::<u8>()),
                any_status(),
                payload,
            )
        })
        .prop_map(|(kind, b, h, w, q, f, hops, status, payload)| Sample {
            kind,
            b,
            h,
            w,
            q,
            f,
            hops,
            status,
            payload,
        })
}

/// Appends the trailer to `body` (id and fields) as the spec says: zero
/// padding to an offset of 4 mod 8, then the IEEE CRC-32, little-endian.
/// The CRC is computed here bit by bit, independently of the crate.
pub fn seal(body: &[u8]) -> Vec<u8> {
    let mut frame = body.to_vec();
    while frame.len() % 8 != 4 {
        frame.push(0);
    }
    let crc = crc32_bitwise(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

/// Reflected CRC-32, polynomial 0xEDB88320, init and xorout 0xFFFFFFFF.
pub fn crc32_bitwise(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
