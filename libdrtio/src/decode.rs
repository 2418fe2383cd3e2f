//! Frame to [`Packet`].
//!
//! Decoding is total: every input, of any length and content, gives a
//! packet or a [`DecodeError`]. All reads go through a bounds-checked
//! cursor, lengths are compared with their maximum before use, and there is
//! no arithmetic on input values that could overflow, so a hostile or
//! corrupted frame cannot panic the satellite (the reference firmware
//! panics on a bad payload status or an oversized length).
//!
//! The check order is documented on [`DecodeError`]. In short: the fields
//! are parsed first, because their lengths say where the CRC is; the CRC is
//! verified next; only then are field values judged. Padding content is not
//! checked, as in the reference: the padding is covered by the CRC, so
//! damage to it is already caught, and a sender that pads with non-zero
//! bytes and checksums them has still sent a well-formed packet.

use libio::{Cursor, Read};

use crate::crc;
use crate::error::DecodeError;
use crate::packet::{
    Packet, CXP_PAYLOAD_MAX_SIZE, CXP_PAYLOAD_MAX_SIZE_U64, MASTER_PAYLOAD_MAX_SIZE,
    SAT_PAYLOAD_MAX_SIZE,
};
use crate::status::PayloadStatus;

impl<'a> Packet<'a> {
    /// Decodes the frame at the start of `frame`.
    ///
    /// `frame` may be exactly one frame or longer (a whole 1024-byte
    /// gateware RX slot, say); bytes after the frame are ignored. Returns
    /// the packet, borrowing its payload from `frame`, and the length of
    /// the frame, which is a multiple of 8.
    pub fn decode(frame: &'a [u8]) -> Result<(Packet<'a>, usize), DecodeError> {
        let mut r = FieldReader::new(frame);
        let id = r.u8()?;
        let packet = read_fields(id, &mut r)?;

        let crc_at = crc::crc_offset(r.position());
        let frame_len = crc::frame_len(r.position());
        let truncated = DecodeError::Truncated {
            needed: frame_len,
            available: frame.len(),
        };
        let covered = frame.get(..crc_at).ok_or(truncated)?;
        let stored = frame.get(crc_at..frame_len).ok_or(truncated)?;
        let expected = u32::from_le_bytes(stored.try_into().map_err(|_| truncated)?);
        let computed = crc::checksum(covered);
        if expected != computed {
            return Err(DecodeError::CrcMismatch { expected, computed });
        }

        // Deferred until the CRC vouched for the bytes; see `FieldReader::status`.
        if let Some(status) = r.invalid_status {
            return Err(DecodeError::InvalidPayloadStatus { id, status });
        }
        debug_assert_eq!(frame_len % 8, 0);
        Ok((packet, frame_len))
    }
}

/// Reads the fields after the id, in wire order, and builds the packet.
fn read_fields<'a>(id: u8, r: &mut FieldReader<'a>) -> Result<Packet<'a>, DecodeError> {
    use Packet::*;
    // Struct expressions evaluate their fields in the order written, which
    // is the wire order here.
    let packet = match id {
        0x00 => EchoRequest,
        0x01 => EchoReply,
        0x02 => ResetRequest,
        0x03 => ResetAck,
        0x04 => TSCAck,

        0x20 => DestinationStatusRequest {
            destination: r.u8()?,
        },
        0x21 => DestinationDownReply,
        0x22 => DestinationOkReply,
        0x23 => DestinationSequenceErrorReply { channel: r.u16()? },
        0x24 => DestinationCollisionReply { channel: r.u16()? },
        0x25 => DestinationBusyReply { channel: r.u16()? },

        0x30 => RoutingSetPath {
            destination: r.u8()?,
            hops: r.array()?,
        },
        0x31 => RoutingSetRank { rank: r.u8()? },
        0x32 => RoutingAck,

        0x40 => MonitorRequest {
            destination: r.u8()?,
            channel: r.u16()?,
            probe: r.u8()?,
        },
        0x41 => MonitorReply { value: r.u64()? },
        0x50 => InjectionRequest {
            destination: r.u8()?,
            channel: r.u16()?,
            overrd: r.u8()?,
            value: r.u8()?,
        },
        0x51 => InjectionStatusRequest {
            destination: r.u8()?,
            channel: r.u16()?,
            overrd: r.u8()?,
        },
        0x52 => InjectionStatusReply { value: r.u8()? },

        0x80 => I2cStartRequest {
            destination: r.u8()?,
            busno: r.u8()?,
        },
        0x81 => I2cRestartRequest {
            destination: r.u8()?,
            busno: r.u8()?,
        },
        0x82 => I2cStopRequest {
            destination: r.u8()?,
            busno: r.u8()?,
        },
        0x83 => I2cWriteRequest {
            destination: r.u8()?,
            busno: r.u8()?,
            data: r.u8()?,
        },
        0x84 => I2cWriteReply {
            succeeded: r.bool()?,
            ack: r.bool()?,
        },
        0x85 => I2cReadRequest {
            destination: r.u8()?,
            busno: r.u8()?,
            ack: r.bool()?,
        },
        0x86 => I2cReadReply {
            succeeded: r.bool()?,
            data: r.u8()?,
        },
        0x87 => I2cBasicReply {
            succeeded: r.bool()?,
        },
        0x88 => I2cSwitchSelectRequest {
            destination: r.u8()?,
            busno: r.u8()?,
            address: r.u8()?,
            mask: r.u8()?,
        },

        0x90 => SpiSetConfigRequest {
            destination: r.u8()?,
            busno: r.u8()?,
            flags: r.u8()?,
            length: r.u8()?,
            div: r.u8()?,
            cs: r.u8()?,
        },
        0x92 => SpiWriteRequest {
            destination: r.u8()?,
            busno: r.u8()?,
            data: r.u32()?,
        },
        0x93 => SpiReadRequest {
            destination: r.u8()?,
            busno: r.u8()?,
        },
        0x94 => SpiReadReply {
            succeeded: r.bool()?,
            data: r.u32()?,
        },
        0x95 => SpiBasicReply {
            succeeded: r.bool()?,
        },

        0xa0 => AnalyzerHeaderRequest {
            destination: r.u8()?,
        },
        0xa1 => AnalyzerHeader {
            sent_bytes: r.u32()?,
            total_byte_count: r.u64()?,
            overflow_occurred: r.bool()?,
        },
        0xa2 => AnalyzerDataRequest {
            destination: r.u8()?,
        },
        0xa3 => AnalyzerData {
            last: r.bool()?,
            data: r.payload(id, SAT_PAYLOAD_MAX_SIZE)?,
        },

        0xb0 => DmaAddTraceRequest {
            source: r.u8()?,
            destination: r.u8()?,
            id: r.u32()?,
            status: r.status()?,
            data: r.payload(id, MASTER_PAYLOAD_MAX_SIZE)?,
        },
        0xb1 => DmaAddTraceReply {
            source: r.u8()?,
            destination: r.u8()?,
            id: r.u32()?,
            succeeded: r.bool()?,
        },
        0xb2 => DmaRemoveTraceRequest {
            source: r.u8()?,
            destination: r.u8()?,
            id: r.u32()?,
        },
        0xb3 => DmaRemoveTraceReply {
            destination: r.u8()?,
            succeeded: r.bool()?,
        },
        0xb4 => DmaPlaybackRequest {
            source: r.u8()?,
            destination: r.u8()?,
            id: r.u32()?,
            timestamp: r.u64()?,
        },
        0xb5 => DmaPlaybackReply {
            destination: r.u8()?,
            succeeded: r.bool()?,
        },
        0xb6 => DmaPlaybackStatus {
            source: r.u8()?,
            destination: r.u8()?,
            id: r.u32()?,
            error: r.u8()?,
            channel: r.u32()?,
            timestamp: r.u64()?,
        },

        0xc0 => SubkernelAddDataRequest {
            destination: r.u8()?,
            id: r.u32()?,
            status: r.status()?,
            data: r.payload(id, MASTER_PAYLOAD_MAX_SIZE)?,
        },
        0xc1 => SubkernelAddDataReply {
            succeeded: r.bool()?,
        },
        0xc4 => SubkernelLoadRunRequest {
            source: r.u8()?,
            destination: r.u8()?,
            id: r.u32()?,
            run: r.bool()?,
            timestamp: r.u64()?,
        },
        0xc5 => SubkernelLoadRunReply {
            destination: r.u8()?,
            succeeded: r.bool()?,
        },
        0xc8 => SubkernelFinished {
            destination: r.u8()?,
            id: r.u32()?,
            with_exception: r.bool()?,
            exception_src: r.u8()?,
        },
        0xc9 => SubkernelExceptionRequest {
            source: r.u8()?,
            destination: r.u8()?,
        },
        0xca => SubkernelException {
            destination: r.u8()?,
            last: r.bool()?,
            data: r.payload(id, MASTER_PAYLOAD_MAX_SIZE)?,
        },
        0xcb => SubkernelMessage {
            source: r.u8()?,
            destination: r.u8()?,
            id: r.u32()?,
            status: r.status()?,
            data: r.payload(id, MASTER_PAYLOAD_MAX_SIZE)?,
        },
        0xcc => SubkernelMessageAck {
            destination: r.u8()?,
        },

        0xd0 => CoreMgmtGetLogRequest {
            destination: r.u8()?,
            clear: r.bool()?,
        },
        0xd1 => CoreMgmtClearLogRequest {
            destination: r.u8()?,
        },
        0xd2 => CoreMgmtConfigReadRequest {
            destination: r.u8()?,
            key: r.payload(id, MASTER_PAYLOAD_MAX_SIZE)?,
        },
        0xd3 => CoreMgmtConfigReadContinue {
            destination: r.u8()?,
        },
        0xd4 => CoreMgmtConfigWriteRequest {
            destination: r.u8()?,
            last: r.bool()?,
            data: r.payload(id, MASTER_PAYLOAD_MAX_SIZE)?,
        },
        0xd5 => CoreMgmtConfigRemoveRequest {
            destination: r.u8()?,
            key: r.payload(id, MASTER_PAYLOAD_MAX_SIZE)?,
        },
        0xd6 => CoreMgmtConfigEraseRequest {
            destination: r.u8()?,
        },
        0xd7 => CoreMgmtRebootRequest {
            destination: r.u8()?,
        },
        0xd8 => CoreMgmtAllocatorDebugRequest {
            destination: r.u8()?,
        },
        0xd9 => CoreMgmtFlashRequest {
            destination: r.u8()?,
            payload_length: r.u32()?,
        },
        0xda => CoreMgmtFlashAddDataRequest {
            destination: r.u8()?,
            last: r.bool()?,
            data: r.payload(id, MASTER_PAYLOAD_MAX_SIZE)?,
        },
        0xdb => CoreMgmtDropLinkAck {
            destination: r.u8()?,
        },
        0xdc => CoreMgmtDropLink,
        0xdd => CoreMgmtGetLogReply {
            last: r.bool()?,
            data: r.payload(id, SAT_PAYLOAD_MAX_SIZE)?,
        },
        0xde => CoreMgmtConfigReadReply {
            last: r.bool()?,
            value: r.payload(id, SAT_PAYLOAD_MAX_SIZE)?,
        },
        0xdf => CoreMgmtReply {
            succeeded: r.bool()?,
        },

        0xe0 => CXPError {
            data: r.payload(id, CXP_PAYLOAD_MAX_SIZE)?,
        },
        0xe1 => CXPWaitReply,
        0xe2 => CXPReadRequest {
            destination: r.u8()?,
            address: r.u32()?,
            length: r.u16()?,
        },
        0xe3 => CXPReadReply {
            data: r.payload(id, CXP_PAYLOAD_MAX_SIZE)?,
        },
        0xe4 => CXPWrite32Request {
            destination: r.u8()?,
            address: r.u32()?,
            value: r.u32()?,
        },
        0xe5 => CXPWrite32Reply,
        0xe6 => CXPROIViewerSetupRequest {
            destination: r.u8()?,
            x0: r.u16()?,
            y0: r.u16()?,
            x1: r.u16()?,
            y1: r.u16()?,
        },
        0xe7 => CXPROIViewerSetupReply,
        0xe8 => CXPROIViewerDataRequest {
            destination: r.u8()?,
        },
        0xe9 => CXPROIViewerPixelDataReply {
            data: r.words(id, CXP_PAYLOAD_MAX_SIZE_U64)?,
        },
        0xea => CXPROIViewerFrameDataReply {
            width: r.u16()?,
            height: r.u16()?,
            pixel_code: r.u16()?,
        },

        _ => return Err(DecodeError::UnknownPacket { id }),
    };
    Ok(packet)
}

/// A cursor over the frame that turns short reads into
/// [`DecodeError::Truncated`] and remembers, rather than reports, a bad
/// payload status.
struct FieldReader<'a> {
    cursor: Cursor<&'a [u8]>,
    frame_len: usize,
    /// The first status byte above 3. Reported only after the CRC check,
    /// so that a corrupted frame is called corrupted.
    invalid_status: Option<u8>,
}

impl<'a> FieldReader<'a> {
    fn new(frame: &'a [u8]) -> Self {
        FieldReader {
            cursor: Cursor::new(frame),
            frame_len: frame.len(),
            invalid_status: None,
        }
    }

    fn position(&self) -> usize {
        self.cursor.position()
    }

    /// The error for a field of `size` bytes that does not fit.
    fn truncated(&self, size: usize) -> DecodeError {
        DecodeError::Truncated {
            needed: self.cursor.position().saturating_add(size),
            available: self.frame_len,
        }
    }

    fn take(&mut self, size: usize) -> Result<&'a [u8], DecodeError> {
        self.cursor.take(size).map_err(|_| self.truncated(size))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| self.truncated(N))
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.cursor.read_u8().map_err(|_| self.truncated(1))
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        self.cursor.read_bool().map_err(|_| self.truncated(1))
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.cursor.read_u16().map_err(|_| self.truncated(2))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.cursor.read_u32().map_err(|_| self.truncated(4))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.cursor.read_u64().map_err(|_| self.truncated(8))
    }

    /// A payload status byte. An invalid one decodes as a placeholder and
    /// is recorded; `Packet::decode` turns it into an error once the CRC
    /// has been checked, so the placeholder never escapes.
    fn status(&mut self) -> Result<PayloadStatus, DecodeError> {
        let byte = self.u8()?;
        Ok(PayloadStatus::from_u8(byte).unwrap_or_else(|| {
            self.invalid_status.get_or_insert(byte);
            PayloadStatus::Middle
        }))
    }

    /// A u16 byte count and that many bytes, at most `max`.
    fn payload(&mut self, id: u8, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        if usize::from(len) > max {
            return Err(too_large(id, len, max));
        }
        self.take(usize::from(len))
    }

    /// A u16 count of 64-bit words, at most `max_words`, and their bytes.
    fn words(&mut self, id: u8, max_words: usize) -> Result<&'a [u8], DecodeError> {
        let words = self.u16()?;
        if usize::from(words) > max_words {
            return Err(too_large(id, words, max_words));
        }
        // At most 127 * 8: cannot overflow.
        self.take(usize::from(words) * 8)
    }
}

fn too_large(id: u8, len: u16, max: usize) -> DecodeError {
    DecodeError::LengthTooLarge {
        id,
        len,
        max: u16::try_from(max).unwrap_or(u16::MAX),
    }
}
