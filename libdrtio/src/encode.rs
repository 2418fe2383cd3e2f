//! [`Packet`] to frame.
//!
//! One function, [`write_fields`], knows the wire layout of every packet;
//! [`Packet::encoded_len`] runs it against a byte counter and
//! [`Packet::encode`] against the output buffer, so the two cannot
//! disagree.

use libio::{Cursor, Write};

use crate::crc;
use crate::error::EncodeError;
use crate::packet::Packet;

impl Packet<'_> {
    /// Length of this packet's frame: id, fields, padding and CRC; a
    /// multiple of 8.
    ///
    /// For a packet whose payload is too large this is the length the
    /// frame would have; [`encode`](Self::encode) refuses such a packet.
    pub fn encoded_len(&self) -> usize {
        let mut counter = ByteCounter(0);
        // Counting cannot fail.
        let _ = write_fields(self, &mut counter);
        crc::frame_len(counter.0)
    }

    /// Writes the frame into the start of `out` and returns its length.
    ///
    /// Nothing is written if the payload is too large or misaligned, or if
    /// `out` is shorter than [`encoded_len`](Self::encoded_len).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        self.check_payload()?;
        let len = self.encoded_len();
        let available = out.len();
        let too_small = EncodeError::BufferTooSmall {
            needed: len,
            available,
        };
        let frame = out.get_mut(..len).ok_or(too_small)?;

        let mut w = Cursor::new(frame);
        write_fields(self, &mut w).map_err(|_| too_small)?;
        let padding = crc::padding_len(w.position());
        w.write_all(&[0; 8][..padding]).map_err(|_| too_small)?;
        let checksum = crc::checksum(w.written());
        w.write_u32(checksum).map_err(|_| too_small)?;
        debug_assert_eq!(w.position(), len);
        Ok(len)
    }

    /// Rejects a payload that the length field, or the frame, cannot hold.
    fn check_payload(&self) -> Result<(), EncodeError> {
        let (Some(payload), Some(max)) = (self.payload(), self.max_payload_len()) else {
            return Ok(());
        };
        let id = self.packet_id();
        if payload.len() > max {
            return Err(EncodeError::PayloadTooLarge {
                id,
                len: payload.len(),
                max,
            });
        }
        if let Packet::CXPROIViewerPixelDataReply { data } = self {
            if data.len() % 8 != 0 {
                return Err(EncodeError::UnalignedPayload {
                    id,
                    len: data.len(),
                });
            }
        }
        Ok(())
    }
}

/// Writes the id and the fields, in wire order; no padding, no CRC.
///
/// Payload lengths are written as `len as u16`: `encode` has checked them
/// against the packet's maximum (at most 1016) beforehand, and for
/// `encoded_len` only the number of bytes matters.
fn write_fields<W: Write>(packet: &Packet<'_>, w: &mut W) -> Result<(), libio::Error> {
    use Packet::*;
    w.write_u8(packet.packet_id())?;
    match *packet {
        EchoRequest | EchoReply | ResetRequest | ResetAck | TSCAck => {}

        DestinationStatusRequest { destination } => w.write_u8(destination)?,
        DestinationDownReply | DestinationOkReply => {}
        DestinationSequenceErrorReply { channel }
        | DestinationCollisionReply { channel }
        | DestinationBusyReply { channel } => w.write_u16(channel)?,

        RoutingSetPath { destination, hops } => {
            w.write_u8(destination)?;
            w.write_all(&hops)?;
        }
        RoutingSetRank { rank } => w.write_u8(rank)?,
        RoutingAck => {}

        MonitorRequest {
            destination,
            channel,
            probe,
        } => {
            w.write_u8(destination)?;
            w.write_u16(channel)?;
            w.write_u8(probe)?;
        }
        MonitorReply { value } => w.write_u64(value)?,
        InjectionRequest {
            destination,
            channel,
            overrd,
            value,
        } => {
            w.write_u8(destination)?;
            w.write_u16(channel)?;
            w.write_u8(overrd)?;
            w.write_u8(value)?;
        }
        InjectionStatusRequest {
            destination,
            channel,
            overrd,
        } => {
            w.write_u8(destination)?;
            w.write_u16(channel)?;
            w.write_u8(overrd)?;
        }
        InjectionStatusReply { value } => w.write_u8(value)?,

        I2cStartRequest { destination, busno }
        | I2cRestartRequest { destination, busno }
        | I2cStopRequest { destination, busno }
        | SpiReadRequest { destination, busno } => {
            w.write_u8(destination)?;
            w.write_u8(busno)?;
        }
        I2cWriteRequest {
            destination,
            busno,
            data,
        } => {
            w.write_u8(destination)?;
            w.write_u8(busno)?;
            w.write_u8(data)?;
        }
        I2cWriteReply { succeeded, ack } => {
            w.write_bool(succeeded)?;
            w.write_bool(ack)?;
        }
        I2cReadRequest {
            destination,
            busno,
            ack,
        } => {
            w.write_u8(destination)?;
            w.write_u8(busno)?;
            w.write_bool(ack)?;
        }
        I2cReadReply { succeeded, data } => {
            w.write_bool(succeeded)?;
            w.write_u8(data)?;
        }
        I2cSwitchSelectRequest {
            destination,
            busno,
            address,
            mask,
        } => {
            w.write_u8(destination)?;
            w.write_u8(busno)?;
            w.write_u8(address)?;
            w.write_u8(mask)?;
        }

        SpiSetConfigRequest {
            destination,
            busno,
            flags,
            length,
            div,
            cs,
        } => {
            w.write_all(&[destination, busno, flags, length, div, cs])?;
        }
        SpiWriteRequest {
            destination,
            busno,
            data,
        } => {
            w.write_u8(destination)?;
            w.write_u8(busno)?;
            w.write_u32(data)?;
        }
        SpiReadReply { succeeded, data } => {
            w.write_bool(succeeded)?;
            w.write_u32(data)?;
        }

        I2cBasicReply { succeeded }
        | SpiBasicReply { succeeded }
        | SubkernelAddDataReply { succeeded }
        | CoreMgmtReply { succeeded } => w.write_bool(succeeded)?,

        AnalyzerHeader {
            sent_bytes,
            total_byte_count,
            overflow_occurred,
        } => {
            w.write_u32(sent_bytes)?;
            w.write_u64(total_byte_count)?;
            w.write_bool(overflow_occurred)?;
        }
        AnalyzerData { last, data }
        | CoreMgmtGetLogReply { last, data }
        | CoreMgmtConfigReadReply { last, value: data } => {
            w.write_bool(last)?;
            write_payload(w, data)?;
        }

        DmaAddTraceRequest {
            source,
            destination,
            id,
            status,
            data,
        }
        | SubkernelMessage {
            source,
            destination,
            id,
            status,
            data,
        } => {
            w.write_u8(source)?;
            w.write_u8(destination)?;
            w.write_u32(id)?;
            w.write_u8(status.as_u8())?;
            write_payload(w, data)?;
        }
        DmaAddTraceReply {
            source,
            destination,
            id,
            succeeded,
        } => {
            w.write_u8(source)?;
            w.write_u8(destination)?;
            w.write_u32(id)?;
            w.write_bool(succeeded)?;
        }
        DmaRemoveTraceRequest {
            source,
            destination,
            id,
        } => {
            w.write_u8(source)?;
            w.write_u8(destination)?;
            w.write_u32(id)?;
        }
        DmaRemoveTraceReply {
            destination,
            succeeded,
        }
        | DmaPlaybackReply {
            destination,
            succeeded,
        }
        | SubkernelLoadRunReply {
            destination,
            succeeded,
        } => {
            w.write_u8(destination)?;
            w.write_bool(succeeded)?;
        }
        DmaPlaybackRequest {
            source,
            destination,
            id,
            timestamp,
        } => {
            w.write_u8(source)?;
            w.write_u8(destination)?;
            w.write_u32(id)?;
            w.write_u64(timestamp)?;
        }
        DmaPlaybackStatus {
            source,
            destination,
            id,
            error,
            channel,
            timestamp,
        } => {
            w.write_u8(source)?;
            w.write_u8(destination)?;
            w.write_u32(id)?;
            w.write_u8(error)?;
            w.write_u32(channel)?;
            w.write_u64(timestamp)?;
        }

        SubkernelAddDataRequest {
            destination,
            id,
            status,
            data,
        } => {
            w.write_u8(destination)?;
            w.write_u32(id)?;
            w.write_u8(status.as_u8())?;
            write_payload(w, data)?;
        }
        SubkernelLoadRunRequest {
            source,
            destination,
            id,
            run,
            timestamp,
        } => {
            w.write_u8(source)?;
            w.write_u8(destination)?;
            w.write_u32(id)?;
            w.write_bool(run)?;
            w.write_u64(timestamp)?;
        }
        SubkernelFinished {
            destination,
            id,
            with_exception,
            exception_src,
        } => {
            w.write_u8(destination)?;
            w.write_u32(id)?;
            w.write_bool(with_exception)?;
            w.write_u8(exception_src)?;
        }
        SubkernelExceptionRequest {
            source,
            destination,
        } => {
            w.write_u8(source)?;
            w.write_u8(destination)?;
        }
        SubkernelException {
            destination,
            last,
            data,
        }
        | CoreMgmtConfigWriteRequest {
            destination,
            last,
            data,
        }
        | CoreMgmtFlashAddDataRequest {
            destination,
            last,
            data,
        } => {
            w.write_u8(destination)?;
            w.write_bool(last)?;
            write_payload(w, data)?;
        }

        CoreMgmtGetLogRequest { destination, clear } => {
            w.write_u8(destination)?;
            w.write_bool(clear)?;
        }
        CoreMgmtConfigReadRequest { destination, key }
        | CoreMgmtConfigRemoveRequest { destination, key } => {
            w.write_u8(destination)?;
            write_payload(w, key)?;
        }
        CoreMgmtFlashRequest {
            destination,
            payload_length,
        } => {
            w.write_u8(destination)?;
            w.write_u32(payload_length)?;
        }
        CoreMgmtDropLink => {}

        SubkernelMessageAck { destination }
        | AnalyzerHeaderRequest { destination }
        | AnalyzerDataRequest { destination }
        | CoreMgmtClearLogRequest { destination }
        | CoreMgmtConfigReadContinue { destination }
        | CoreMgmtConfigEraseRequest { destination }
        | CoreMgmtRebootRequest { destination }
        | CoreMgmtAllocatorDebugRequest { destination }
        | CoreMgmtDropLinkAck { destination }
        | CXPROIViewerDataRequest { destination } => w.write_u8(destination)?,

        CXPError { data } | CXPReadReply { data } => write_payload(w, data)?,
        CXPWaitReply | CXPWrite32Reply | CXPROIViewerSetupReply => {}
        CXPReadRequest {
            destination,
            address,
            length,
        } => {
            w.write_u8(destination)?;
            w.write_u32(address)?;
            w.write_u16(length)?;
        }
        CXPWrite32Request {
            destination,
            address,
            value,
        } => {
            w.write_u8(destination)?;
            w.write_u32(address)?;
            w.write_u32(value)?;
        }
        CXPROIViewerSetupRequest {
            destination,
            x0,
            y0,
            x1,
            y1,
        } => {
            w.write_u8(destination)?;
            w.write_u16(x0)?;
            w.write_u16(y0)?;
            w.write_u16(x1)?;
            w.write_u16(y1)?;
        }
        CXPROIViewerPixelDataReply { data } => {
            // The length field counts 64-bit words.
            w.write_u16((data.len() / 8) as u16)?;
            w.write_all(data)?;
        }
        CXPROIViewerFrameDataReply {
            width,
            height,
            pixel_code,
        } => {
            w.write_u16(width)?;
            w.write_u16(height)?;
            w.write_u16(pixel_code)?;
        }
    }
    Ok(())
}

/// A u16 byte count and the bytes.
fn write_payload<W: Write>(w: &mut W, data: &[u8]) -> Result<(), libio::Error> {
    w.write_u16(data.len() as u16)?;
    w.write_all(data)
}

/// A sink that only counts, for [`Packet::encoded_len`].
struct ByteCounter(usize);

impl Write for ByteCounter {
    fn write_all(&mut self, buf: &[u8]) -> Result<(), libio::Error> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(())
    }
}
