//! The ARTIQ 9 aux packets, one [`Packet`] variant each, and what can be
//! said about a packet without touching the wire format: its id, its
//! routing destination, whether a forwarder waits for a reply, its payload.
//!
//! Variable-length payloads borrow from the frame they were decoded from
//! (or from the caller, for encoding), so decoding never allocates.

use crate::status::PayloadStatus;

/// Longest frame, trailer included; also the size of a gateware RX slot.
pub const MAX_PACKET: usize = 1024;

/// Largest payload of a satellite-to-master chunk (`AnalyzerData`,
/// `CoreMgmtGetLogReply`, `CoreMgmtConfigReadReply`): 1024 minus CRC, id,
/// `last` and `len`.
pub const SAT_PAYLOAD_MAX_SIZE: usize = 1016;

/// Largest payload of a chunk that also carries source, destination and a
/// 32-bit id (the DMA, subkernel and core-management uploads):
/// [`SAT_PAYLOAD_MAX_SIZE`] minus 6.
pub const MASTER_PAYLOAD_MAX_SIZE: usize = 1010;

/// Largest payload of `CXPError` and `CXPReadReply`: 1024 minus id, `len`,
/// CRC and one byte of alignment padding.
pub const CXP_PAYLOAD_MAX_SIZE: usize = 1016;

/// Most 64-bit words in one `CXPROIViewerPixelDataReply`.
pub const CXP_PAYLOAD_MAX_SIZE_U64: usize = 127;

/// One aux packet.
///
/// Field names follow the ARTIQ protocol; `source` and `destination` are
/// DRTIO destination numbers. Fields appear on the wire in the order they
/// are declared here (see the crate docs for the framing).
///
/// Every `data`, `key` and `value` slice is a variable-length payload,
/// sent as a u16 length and the bytes; its maximum is
/// [`max_payload_len`](Packet::max_payload_len).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Packet<'a> {
    // --- Link (0x00-0x04) ---
    /// 0x00: link test from the master; answered with `EchoReply`.
    EchoRequest,
    /// 0x01: answer to `EchoRequest`.
    EchoReply,
    /// 0x02: pulse the RTIO reset, here and downstream; answered with `ResetAck`.
    ResetRequest,
    /// 0x03: answer to `ResetRequest`.
    ResetAck,
    /// 0x04: unsolicited, once the satellite's timestamp counter is loaded.
    TSCAck,

    // --- Destination status (0x20-0x25) ---
    /// 0x20: poll of a destination's state; answered with one of 0x21-0x25.
    DestinationStatusRequest { destination: u8 },
    /// 0x21: the destination cannot be reached.
    DestinationDownReply,
    /// 0x22: the destination is up and has no pending RTIO error.
    DestinationOkReply,
    /// 0x23: RTIO sequence error on `channel`.
    DestinationSequenceErrorReply { channel: u16 },
    /// 0x24: RTIO collision on `channel`.
    DestinationCollisionReply { channel: u16 },
    /// 0x25: RTIO busy error on `channel`.
    DestinationBusyReply { channel: u16 },

    // --- Routing (0x30-0x32) ---
    /// 0x30: the route to `destination`, one hop per rank.
    RoutingSetPath { destination: u8, hops: [u8; 32] },
    /// 0x31: the receiver's rank in the DRTIO tree.
    RoutingSetRank { rank: u8 },
    /// 0x32: answer to both routing requests.
    RoutingAck,

    // --- Moninj (0x40-0x52) ---
    /// 0x40: read monitor `probe` of `channel`.
    MonitorRequest {
        destination: u8,
        channel: u16,
        probe: u8,
    },
    /// 0x41: the probe's value.
    MonitorReply { value: u64 },
    /// 0x50: set override `overrd` of `channel`; no reply.
    InjectionRequest {
        destination: u8,
        channel: u16,
        overrd: u8,
        value: u8,
    },
    /// 0x51: read override `overrd` of `channel`.
    InjectionStatusRequest {
        destination: u8,
        channel: u16,
        overrd: u8,
    },
    /// 0x52: the override's value.
    InjectionStatusReply { value: u8 },

    // --- I2C (0x80-0x88) ---
    /// 0x80: I2C start condition.
    I2cStartRequest { destination: u8, busno: u8 },
    /// 0x81: I2C repeated start.
    I2cRestartRequest { destination: u8, busno: u8 },
    /// 0x82: I2C stop condition.
    I2cStopRequest { destination: u8, busno: u8 },
    /// 0x83: write one byte.
    I2cWriteRequest {
        destination: u8,
        busno: u8,
        data: u8,
    },
    /// 0x84: write result and whether the target acknowledged.
    I2cWriteReply { succeeded: bool, ack: bool },
    /// 0x85: read one byte, then send `ack`.
    I2cReadRequest {
        destination: u8,
        busno: u8,
        ack: bool,
    },
    /// 0x86: read result and the byte.
    I2cReadReply { succeeded: bool, data: u8 },
    /// 0x87: result of start, restart, stop and switch select.
    I2cBasicReply { succeeded: bool },
    /// 0x88: select the channels in `mask` on the I2C switch at `address`.
    I2cSwitchSelectRequest {
        destination: u8,
        busno: u8,
        address: u8,
        mask: u8,
    },

    // --- SPI (0x90-0x95; 0x91 is unassigned) ---
    /// 0x90: configure an SPI bus.
    SpiSetConfigRequest {
        destination: u8,
        busno: u8,
        flags: u8,
        length: u8,
        div: u8,
        cs: u8,
    },
    /// 0x92: write one word.
    SpiWriteRequest {
        destination: u8,
        busno: u8,
        data: u32,
    },
    /// 0x93: read one word.
    SpiReadRequest { destination: u8, busno: u8 },
    /// 0x94: read result and the word.
    SpiReadReply { succeeded: bool, data: u32 },
    /// 0x95: result of configuration and write.
    SpiBasicReply { succeeded: bool },

    // --- Analyzer (0xa0-0xa3) ---
    /// 0xa0: stop capture and report what was captured.
    AnalyzerHeaderRequest { destination: u8 },
    /// 0xa1: capture summary.
    AnalyzerHeader {
        sent_bytes: u32,
        total_byte_count: u64,
        overflow_occurred: bool,
    },
    /// 0xa2: next slice of the capture.
    AnalyzerDataRequest { destination: u8 },
    /// 0xa3: a slice of the capture, at most [`SAT_PAYLOAD_MAX_SIZE`] bytes.
    AnalyzerData { last: bool, data: &'a [u8] },

    // --- Distributed DMA (0xb0-0xb6), routable ---
    /// 0xb0: a chunk of DMA trace `id`, at most [`MASTER_PAYLOAD_MAX_SIZE`] bytes.
    DmaAddTraceRequest {
        source: u8,
        destination: u8,
        id: u32,
        status: PayloadStatus,
        data: &'a [u8],
    },
    /// 0xb1: answer to `DmaAddTraceRequest`.
    DmaAddTraceReply {
        source: u8,
        destination: u8,
        id: u32,
        succeeded: bool,
    },
    /// 0xb2: forget trace `id`.
    DmaRemoveTraceRequest {
        source: u8,
        destination: u8,
        id: u32,
    },
    /// 0xb3: answer to `DmaRemoveTraceRequest`.
    DmaRemoveTraceReply { destination: u8, succeeded: bool },
    /// 0xb4: play trace `id` with `timestamp` as time offset.
    DmaPlaybackRequest {
        source: u8,
        destination: u8,
        id: u32,
        timestamp: u64,
    },
    /// 0xb5: answer to `DmaPlaybackRequest`.
    DmaPlaybackReply { destination: u8, succeeded: bool },
    /// 0xb6: unsolicited end of playback; `error` 0 = ok, bit 0 = underflow,
    /// bit 1 = destination unreachable, with the failing event's channel
    /// and timestamp.
    DmaPlaybackStatus {
        source: u8,
        destination: u8,
        id: u32,
        error: u8,
        channel: u32,
        timestamp: u64,
    },

    // --- Subkernels (0xc0-0xcc) ---
    /// 0xc0: a chunk of subkernel `id`'s ELF image, at most
    /// [`MASTER_PAYLOAD_MAX_SIZE`] bytes.
    SubkernelAddDataRequest {
        destination: u8,
        id: u32,
        status: PayloadStatus,
        data: &'a [u8],
    },
    /// 0xc1: answer to `SubkernelAddDataRequest`.
    SubkernelAddDataReply { succeeded: bool },
    /// 0xc4: load subkernel `id`, and start it at `timestamp` if `run`.
    SubkernelLoadRunRequest {
        source: u8,
        destination: u8,
        id: u32,
        run: bool,
        timestamp: u64,
    },
    /// 0xc5: answer to `SubkernelLoadRunRequest`.
    SubkernelLoadRunReply { destination: u8, succeeded: bool },
    /// 0xc8: unsolicited end of subkernel `id`; if `with_exception`, the
    /// exception is stored at destination `exception_src`.
    SubkernelFinished {
        destination: u8,
        id: u32,
        with_exception: bool,
        exception_src: u8,
    },
    /// 0xc9: next slice of the stored exception.
    SubkernelExceptionRequest { source: u8, destination: u8 },
    /// 0xca: a slice of the serialized exception, at most
    /// [`MASTER_PAYLOAD_MAX_SIZE`] bytes.
    SubkernelException {
        destination: u8,
        last: bool,
        data: &'a [u8],
    },
    /// 0xcb: a slice of a message to or from subkernel `id`, at most
    /// [`MASTER_PAYLOAD_MAX_SIZE`] bytes.
    SubkernelMessage {
        source: u8,
        destination: u8,
        id: u32,
        status: PayloadStatus,
        data: &'a [u8],
    },
    /// 0xcc: releases the next message slice; no reply.
    SubkernelMessageAck { destination: u8 },

    // --- Core management (0xd0-0xdf) ---
    /// 0xd0: next slice of the log, clearing the log buffer when a new
    /// snapshot is taken if `clear`.
    CoreMgmtGetLogRequest { destination: u8, clear: bool },
    /// 0xd1: clear the log buffer.
    CoreMgmtClearLogRequest { destination: u8 },
    /// 0xd2: read config `key` (at most [`MASTER_PAYLOAD_MAX_SIZE`] bytes).
    CoreMgmtConfigReadRequest { destination: u8, key: &'a [u8] },
    /// 0xd3: next slice of the value being read.
    CoreMgmtConfigReadContinue { destination: u8 },
    /// 0xd4: a chunk of a config write (key and value, each u32-length
    /// prefixed), at most [`MASTER_PAYLOAD_MAX_SIZE`] bytes.
    CoreMgmtConfigWriteRequest {
        destination: u8,
        last: bool,
        data: &'a [u8],
    },
    /// 0xd5: remove config `key` (at most [`MASTER_PAYLOAD_MAX_SIZE`] bytes).
    CoreMgmtConfigRemoveRequest { destination: u8, key: &'a [u8] },
    /// 0xd6: erase the whole config.
    CoreMgmtConfigEraseRequest { destination: u8 },
    /// 0xd7: reboot after replying.
    CoreMgmtRebootRequest { destination: u8 },
    /// 0xd8: print allocator statistics.
    CoreMgmtAllocatorDebugRequest { destination: u8 },
    /// 0xd9: a firmware image of about `payload_length` bytes follows.
    CoreMgmtFlashRequest {
        destination: u8,
        payload_length: u32,
    },
    /// 0xda: a chunk of the firmware image, at most
    /// [`MASTER_PAYLOAD_MAX_SIZE`] bytes.
    CoreMgmtFlashAddDataRequest {
        destination: u8,
        last: bool,
        data: &'a [u8],
    },
    /// 0xdb: the master saw `CoreMgmtDropLink`; no reply.
    CoreMgmtDropLinkAck { destination: u8 },
    /// 0xdc: the satellite is about to drop the link to flash itself.
    CoreMgmtDropLink,
    /// 0xdd: a slice of the log, at most [`SAT_PAYLOAD_MAX_SIZE`] bytes.
    CoreMgmtGetLogReply { last: bool, data: &'a [u8] },
    /// 0xde: a slice of a config value, at most [`SAT_PAYLOAD_MAX_SIZE`] bytes.
    CoreMgmtConfigReadReply { last: bool, value: &'a [u8] },
    /// 0xdf: generic core-management result.
    CoreMgmtReply { succeeded: bool },

    // --- CoaXPress grabber (0xe0-0xea) ---
    /// 0xe0: an error message, at most [`CXP_PAYLOAD_MAX_SIZE`] bytes.
    CXPError { data: &'a [u8] },
    /// 0xe1: not ready yet; the master repeats its request.
    CXPWaitReply,
    /// 0xe2: read `length` bytes of the camera's register space at `address`.
    CXPReadRequest {
        destination: u8,
        address: u32,
        length: u16,
    },
    /// 0xe3: the bytes read, at most [`CXP_PAYLOAD_MAX_SIZE`].
    CXPReadReply { data: &'a [u8] },
    /// 0xe4: write a 32-bit camera register.
    CXPWrite32Request {
        destination: u8,
        address: u32,
        value: u32,
    },
    /// 0xe5: answer to `CXPWrite32Request`.
    CXPWrite32Reply,
    /// 0xe6: set the region of interest.
    CXPROIViewerSetupRequest {
        destination: u8,
        x0: u16,
        y0: u16,
        x1: u16,
        y1: u16,
    },
    /// 0xe7: answer to `CXPROIViewerSetupRequest`.
    CXPROIViewerSetupReply,
    /// 0xe8: fetch region-of-interest data.
    CXPROIViewerDataRequest { destination: u8 },
    /// 0xe9: pixel data. On the wire the length field counts 64-bit
    /// words (at most [`CXP_PAYLOAD_MAX_SIZE_U64`]); here `data` holds their
    /// raw bytes, 8 per word, each word little-endian, so the enum only
    /// borrows. Its length must be a multiple of 8.
    CXPROIViewerPixelDataReply { data: &'a [u8] },
    /// 0xea: end of frame: its size and pixel format.
    CXPROIViewerFrameDataReply {
        width: u16,
        height: u16,
        pixel_code: u16,
    },
}

impl<'a> Packet<'a> {
    /// The id byte that starts this packet's frame.
    pub const fn packet_id(&self) -> u8 {
        use Packet::*;
        match self {
            EchoRequest => 0x00,
            EchoReply => 0x01,
            ResetRequest => 0x02,
            ResetAck => 0x03,
            TSCAck => 0x04,

            DestinationStatusRequest { .. } => 0x20,
            DestinationDownReply => 0x21,
            DestinationOkReply => 0x22,
            DestinationSequenceErrorReply { .. } => 0x23,
            DestinationCollisionReply { .. } => 0x24,
            DestinationBusyReply { .. } => 0x25,

            RoutingSetPath { .. } => 0x30,
            RoutingSetRank { .. } => 0x31,
            RoutingAck => 0x32,

            MonitorRequest { .. } => 0x40,
            MonitorReply { .. } => 0x41,
            InjectionRequest { .. } => 0x50,
            InjectionStatusRequest { .. } => 0x51,
            InjectionStatusReply { .. } => 0x52,

            I2cStartRequest { .. } => 0x80,
            I2cRestartRequest { .. } => 0x81,
            I2cStopRequest { .. } => 0x82,
            I2cWriteRequest { .. } => 0x83,
            I2cWriteReply { .. } => 0x84,
            I2cReadRequest { .. } => 0x85,
            I2cReadReply { .. } => 0x86,
            I2cBasicReply { .. } => 0x87,
            I2cSwitchSelectRequest { .. } => 0x88,

            SpiSetConfigRequest { .. } => 0x90,
            SpiWriteRequest { .. } => 0x92,
            SpiReadRequest { .. } => 0x93,
            SpiReadReply { .. } => 0x94,
            SpiBasicReply { .. } => 0x95,

            AnalyzerHeaderRequest { .. } => 0xa0,
            AnalyzerHeader { .. } => 0xa1,
            AnalyzerDataRequest { .. } => 0xa2,
            AnalyzerData { .. } => 0xa3,

            DmaAddTraceRequest { .. } => 0xb0,
            DmaAddTraceReply { .. } => 0xb1,
            DmaRemoveTraceRequest { .. } => 0xb2,
            DmaRemoveTraceReply { .. } => 0xb3,
            DmaPlaybackRequest { .. } => 0xb4,
            DmaPlaybackReply { .. } => 0xb5,
            DmaPlaybackStatus { .. } => 0xb6,

            SubkernelAddDataRequest { .. } => 0xc0,
            SubkernelAddDataReply { .. } => 0xc1,
            SubkernelLoadRunRequest { .. } => 0xc4,
            SubkernelLoadRunReply { .. } => 0xc5,
            SubkernelFinished { .. } => 0xc8,
            SubkernelExceptionRequest { .. } => 0xc9,
            SubkernelException { .. } => 0xca,
            SubkernelMessage { .. } => 0xcb,
            SubkernelMessageAck { .. } => 0xcc,

            CoreMgmtGetLogRequest { .. } => 0xd0,
            CoreMgmtClearLogRequest { .. } => 0xd1,
            CoreMgmtConfigReadRequest { .. } => 0xd2,
            CoreMgmtConfigReadContinue { .. } => 0xd3,
            CoreMgmtConfigWriteRequest { .. } => 0xd4,
            CoreMgmtConfigRemoveRequest { .. } => 0xd5,
            CoreMgmtConfigEraseRequest { .. } => 0xd6,
            CoreMgmtRebootRequest { .. } => 0xd7,
            CoreMgmtAllocatorDebugRequest { .. } => 0xd8,
            CoreMgmtFlashRequest { .. } => 0xd9,
            CoreMgmtFlashAddDataRequest { .. } => 0xda,
            CoreMgmtDropLinkAck { .. } => 0xdb,
            CoreMgmtDropLink => 0xdc,
            CoreMgmtGetLogReply { .. } => 0xdd,
            CoreMgmtConfigReadReply { .. } => 0xde,
            CoreMgmtReply { .. } => 0xdf,

            CXPError { .. } => 0xe0,
            CXPWaitReply => 0xe1,
            CXPReadRequest { .. } => 0xe2,
            CXPReadReply { .. } => 0xe3,
            CXPWrite32Request { .. } => 0xe4,
            CXPWrite32Reply => 0xe5,
            CXPROIViewerSetupRequest { .. } => 0xe6,
            CXPROIViewerSetupReply => 0xe7,
            CXPROIViewerDataRequest { .. } => 0xe8,
            CXPROIViewerPixelDataReply { .. } => 0xe9,
            CXPROIViewerFrameDataReply { .. } => 0xea,
        }
    }

    /// The destination of a routable packet (the DMA and subkernel
    /// families, ids 0xb0-0xb6 and 0xc4-0xcc), which any node forwards
    /// along the routing table towards it.
    ///
    /// `None` for every other packet, including those with a `destination`
    /// field: that field serves hop-by-hop forwarding of a request whose
    /// reply is relayed back, not asynchronous routing.
    pub const fn routable_destination(&self) -> Option<u8> {
        use Packet::*;
        match *self {
            DmaAddTraceRequest { destination, .. }
            | DmaAddTraceReply { destination, .. }
            | DmaRemoveTraceRequest { destination, .. }
            | DmaRemoveTraceReply { destination, .. }
            | DmaPlaybackRequest { destination, .. }
            | DmaPlaybackReply { destination, .. }
            | DmaPlaybackStatus { destination, .. }
            | SubkernelLoadRunRequest { destination, .. }
            | SubkernelLoadRunReply { destination, .. }
            | SubkernelFinished { destination, .. }
            | SubkernelExceptionRequest { destination, .. }
            | SubkernelException { destination, .. }
            | SubkernelMessage { destination, .. }
            | SubkernelMessageAck { destination, .. } => Some(destination),
            _ => None,
        }
    }

    /// Whether a satellite forwarding this packet downstream waits for a
    /// reply to relay upstream.
    ///
    /// As in the reference, this is false only for `InjectionRequest` and
    /// the routable replies and notifications (`DmaAddTraceReply`,
    /// `DmaRemoveTraceReply`, `DmaPlaybackReply`, `DmaPlaybackStatus`,
    /// `SubkernelLoadRunReply`, `SubkernelFinished`, `SubkernelMessageAck`)
    /// and `CoreMgmtDropLinkAck`. Other replies say true, which is harmless
    /// because replies are never forwarded as requests.
    pub const fn expects_response(&self) -> bool {
        use Packet::*;
        !matches!(
            self,
            InjectionRequest { .. }
                | DmaAddTraceReply { .. }
                | DmaRemoveTraceReply { .. }
                | DmaPlaybackReply { .. }
                | DmaPlaybackStatus { .. }
                | SubkernelLoadRunReply { .. }
                | SubkernelFinished { .. }
                | SubkernelMessageAck { .. }
                | CoreMgmtDropLinkAck { .. }
        )
    }

    /// The variable-length payload (`data`, `key` or `value`), if this
    /// packet has one.
    pub const fn payload(&self) -> Option<&'a [u8]> {
        use Packet::*;
        match *self {
            AnalyzerData { data, .. }
            | DmaAddTraceRequest { data, .. }
            | SubkernelAddDataRequest { data, .. }
            | SubkernelException { data, .. }
            | SubkernelMessage { data, .. }
            | CoreMgmtConfigWriteRequest { data, .. }
            | CoreMgmtFlashAddDataRequest { data, .. }
            | CoreMgmtGetLogReply { data, .. }
            | CXPError { data }
            | CXPReadReply { data }
            | CXPROIViewerPixelDataReply { data } => Some(data),
            CoreMgmtConfigReadRequest { key, .. } | CoreMgmtConfigRemoveRequest { key, .. } => {
                Some(key)
            }
            CoreMgmtConfigReadReply { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The largest payload, in bytes, that this packet can carry, if it has
    /// one. Full payloads give exactly [`MAX_PACKET`]-byte frames.
    pub const fn max_payload_len(&self) -> Option<usize> {
        use Packet::*;
        match self {
            AnalyzerData { .. } | CoreMgmtGetLogReply { .. } | CoreMgmtConfigReadReply { .. } => {
                Some(SAT_PAYLOAD_MAX_SIZE)
            }
            DmaAddTraceRequest { .. }
            | SubkernelAddDataRequest { .. }
            | SubkernelException { .. }
            | SubkernelMessage { .. }
            | CoreMgmtConfigReadRequest { .. }
            | CoreMgmtConfigWriteRequest { .. }
            | CoreMgmtConfigRemoveRequest { .. }
            | CoreMgmtFlashAddDataRequest { .. } => Some(MASTER_PAYLOAD_MAX_SIZE),
            CXPError { .. } | CXPReadReply { .. } => Some(CXP_PAYLOAD_MAX_SIZE),
            CXPROIViewerPixelDataReply { .. } => Some(CXP_PAYLOAD_MAX_SIZE_U64 * 8),
            _ => None,
        }
    }
}
