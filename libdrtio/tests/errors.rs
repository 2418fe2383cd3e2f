//! Targeted checks of every way a frame can be refused, of the order of
//! the checks, and of the encoder's limits.

mod common;

use common::{seal, Sample, KINDS};
use libdrtio::{
    DecodeError, EncodeError, Packet, PayloadStatus, CXP_PAYLOAD_MAX_SIZE,
    CXP_PAYLOAD_MAX_SIZE_U64, MASTER_PAYLOAD_MAX_SIZE, MAX_PACKET, SAT_PAYLOAD_MAX_SIZE,
};

const ECHO: [u8; 8] = [0x00, 0x00, 0x00, 0x00, 0x1c, 0xdf, 0x44, 0x21];

/// A DmaAddTraceRequest body (id and fields) with a raw status byte.
fn dma_body(status: u8, data: &[u8]) -> Vec<u8> {
    let mut body = vec![0xb0, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, status];
    body.extend_from_slice(&(data.len() as u16).to_le_bytes());
    body.extend_from_slice(data);
    body
}

#[test]
fn status_above_three_with_good_crc() {
    // Computed with Python's zlib.crc32.
    let frame = [
        0xb0, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x04, //
        0x00, 0x00, 0x00, 0x00, 0x35, 0xfd, 0x35, 0xe9,
    ];
    assert_eq!(seal(&dma_body(4, &[])), frame);
    assert_eq!(
        Packet::decode(&frame),
        Err(DecodeError::InvalidPayloadStatus {
            id: 0xb0,
            status: 4
        })
    );
    for (id, status) in [(0xc0u8, 0xffu8), (0xcb, 5)] {
        let body: Vec<u8> = match id {
            0xc0 => vec![0xc0, 1, 9, 0, 0, 0, status, 1, 0, 0xaa],
            _ => vec![0xcb, 1, 2, 9, 0, 0, 0, status, 0, 0],
        };
        assert_eq!(
            Packet::decode(&seal(&body)),
            Err(DecodeError::InvalidPayloadStatus { id, status })
        );
    }
}

#[test]
fn bad_status_with_bad_crc_is_corruption() {
    let mut frame = seal(&dma_body(4, &[]));
    *frame.last_mut().unwrap() ^= 1;
    assert!(matches!(
        Packet::decode(&frame),
        Err(DecodeError::CrcMismatch { .. })
    ));
}

#[test]
fn length_above_maximum() {
    let data = [0u8; 1011];
    let frame = seal(&dma_body(1, &data));
    assert_eq!(
        Packet::decode(&frame),
        Err(DecodeError::LengthTooLarge {
            id: 0xb0,
            len: 1011,
            max: 1010
        })
    );
    // Also inside a 1024-byte slot, where the CRC would lie past the end,
    // and whatever the CRC: the length is judged first.
    assert_eq!(
        Packet::decode(&frame[..MAX_PACKET]),
        Err(DecodeError::LengthTooLarge {
            id: 0xb0,
            len: 1011,
            max: 1010
        })
    );
    let mut header = dma_body(1, &[]);
    header[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    assert_eq!(
        Packet::decode(&header),
        Err(DecodeError::LengthTooLarge {
            id: 0xb0,
            len: u16::MAX,
            max: 1010
        })
    );
}

#[test]
fn length_limits_of_every_payload_packet() {
    // id, fields before the length, maximum in the length field's unit.
    let cases: &[(&[u8], u16)] = &[
        (&[0xa3, 1], 1016),
        (&[0xb0, 0, 1, 0, 0, 0, 0, 3], 1010),
        (&[0xc0, 1, 0, 0, 0, 0, 3], 1010),
        (&[0xca, 1, 1], 1010),
        (&[0xcb, 0, 1, 0, 0, 0, 0, 3], 1010),
        (&[0xd2, 1], 1010),
        (&[0xd4, 1, 1], 1010),
        (&[0xd5, 1], 1010),
        (&[0xda, 1, 1], 1010),
        (&[0xdd, 1], 1016),
        (&[0xde, 1], 1016),
        (&[0xe0], 1016),
        (&[0xe3], 1016),
        (&[0xe9], 127),
    ];
    for &(head, max) in cases {
        let id = head[0];
        let unit = if id == 0xe9 { 8 } else { 1 };
        for len in [max, max + 1] {
            let mut body = head.to_vec();
            body.extend_from_slice(&len.to_le_bytes());
            body.resize(body.len() + usize::from(len) * unit, 0x33);
            let frame = seal(&body);
            if len == max {
                let (packet, used) = Packet::decode(&frame).unwrap();
                assert_eq!(used, MAX_PACKET, "{id:#x}: a full payload fills a frame");
                assert_eq!(packet.packet_id(), id);
                assert_eq!(packet.payload().unwrap().len(), usize::from(len) * unit);
            } else {
                assert_eq!(
                    Packet::decode(&frame),
                    Err(DecodeError::LengthTooLarge { id, len, max }),
                    "{id:#x}"
                );
            }
        }
    }
}

#[test]
fn full_chunks_fill_exactly_one_frame() {
    let data = [0x77u8; MASTER_PAYLOAD_MAX_SIZE];
    let packet = Packet::DmaAddTraceRequest {
        source: 0,
        destination: 1,
        id: 2,
        status: PayloadStatus::Middle,
        data: &data,
    };
    let mut out = [0u8; MAX_PACKET];
    assert_eq!(packet.encode(&mut out), Ok(MAX_PACKET));
    assert_eq!(Packet::decode(&out), Ok((packet, MAX_PACKET)));

    for kind in 0..KINDS {
        let max = Sample::max_payload(kind);
        if max == 0 {
            continue;
        }
        let sample = Sample::fixed(kind, vec![0x42; max]);
        let packet = sample.packet();
        assert_eq!(packet.encoded_len(), MAX_PACKET, "{packet:?}");
        assert_eq!(packet.encode(&mut out), Ok(MAX_PACKET));
        assert_eq!(Packet::decode(&out), Ok((packet, MAX_PACKET)));
    }
}

#[test]
fn maximum_payloads_match_the_protocol() {
    let mut found = Vec::new();
    for kind in 0..KINDS {
        let sample = Sample::fixed(kind, Vec::new());
        let packet = sample.packet();
        if let Some(max) = packet.max_payload_len() {
            found.push((packet.packet_id(), max));
        }
    }
    let sat = SAT_PAYLOAD_MAX_SIZE;
    let master = MASTER_PAYLOAD_MAX_SIZE;
    let cxp = CXP_PAYLOAD_MAX_SIZE;
    let pixels = CXP_PAYLOAD_MAX_SIZE_U64 * 8;
    let expected = [
        (0xa3, sat),
        (0xb0, master),
        (0xc0, master),
        (0xca, master),
        (0xcb, master),
        (0xd2, master),
        (0xd4, master),
        (0xd5, master),
        (0xda, master),
        (0xdd, sat),
        (0xde, sat),
        (0xe0, cxp),
        (0xe3, cxp),
        (0xe9, pixels),
    ];
    assert_eq!(found, expected);
    assert_eq!((sat, master, cxp, pixels), (1016, 1010, 1016, 1016));
}

#[test]
fn every_truncation_is_an_error() {
    for kind in 0..KINDS {
        let unit = Sample::payload_unit(kind);
        let len = Sample::max_payload(kind).min(13 * unit) / unit * unit;
        for payload_len in [0, len] {
            let sample = Sample::fixed(kind, (0..payload_len as u8).collect());
            let packet = sample.packet();
            let mut buf = [0u8; MAX_PACKET];
            let n = packet.encode(&mut buf).unwrap();
            for cut in 0..n {
                match Packet::decode(&buf[..cut]) {
                    Err(DecodeError::Truncated { needed, available }) => {
                        assert_eq!(available, cut);
                        assert!(needed > cut && needed <= n, "{packet:?} cut at {cut}");
                    }
                    other => panic!("{packet:?} cut at {cut}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn unknown_ids() {
    let mut known = 0;
    for id in 0..=u8::MAX {
        // A whole slot, so only the id can fail before the CRC.
        let mut slot = [0u8; MAX_PACKET];
        slot[0] = id;
        match Packet::decode(&slot) {
            Err(DecodeError::UnknownPacket { id: reported }) => assert_eq!(reported, id),
            Err(DecodeError::CrcMismatch { .. }) => known += 1,
            other => panic!("{id:#x}: {other:?}"),
        }
    }
    assert_eq!(known, 80);
    // Ids freed by protocol revisions.
    for id in [0x91, 0xc2, 0xc3, 0xeb, 0xec, 0xff] {
        assert_eq!(
            Packet::decode(&seal(&[id])),
            Err(DecodeError::UnknownPacket { id })
        );
    }
}

#[test]
fn empty_input() {
    assert_eq!(
        Packet::decode(&[]),
        Err(DecodeError::Truncated {
            needed: 1,
            available: 0
        })
    );
}

#[test]
fn bad_crc() {
    let mut frame = ECHO;
    frame[7] ^= 0x80;
    assert_eq!(
        Packet::decode(&frame),
        Err(DecodeError::CrcMismatch {
            expected: 0xa144_df1c,
            computed: 0x2144_df1c
        })
    );
    // Damage to the padding is caught as well.
    let mut frame = ECHO;
    frame[2] = 1;
    assert!(matches!(
        Packet::decode(&frame),
        Err(DecodeError::CrcMismatch { .. })
    ));
}

#[test]
fn padding_content_is_not_checked() {
    // Non-zero padding with a matching CRC is accepted, as in the reference.
    let mut body = vec![0x00, 0xaa, 0xbb, 0xcc];
    let crc = common::crc32_bitwise(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(Packet::decode(&body), Ok((Packet::EchoRequest, 8)));
}

#[test]
fn bool_bytes_read_any_nonzero_as_true() {
    let frame = seal(&[0xdf, 0x80]);
    assert_eq!(
        Packet::decode(&frame),
        Ok((Packet::CoreMgmtReply { succeeded: true }, 8))
    );
}

#[test]
fn trailing_bytes_are_ignored() {
    let mut input = ECHO.to_vec();
    input.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    assert_eq!(Packet::decode(&input), Ok((Packet::EchoRequest, 8)));
    // Two frames back to back: the first is returned with its length.
    let second = seal(&[0x31, 7]);
    let mut input = ECHO.to_vec();
    input.extend_from_slice(&second);
    let (first, used) = Packet::decode(&input).unwrap();
    assert_eq!((first, used), (Packet::EchoRequest, 8));
    assert_eq!(
        Packet::decode(&input[used..]),
        Ok((Packet::RoutingSetRank { rank: 7 }, 8))
    );
}

#[test]
fn encode_refuses_oversized_payloads() {
    let data = [0u8; 1017];
    let cases = [
        (
            Packet::AnalyzerData {
                last: true,
                data: &data[..1017],
            },
            1016,
        ),
        (
            Packet::SubkernelAddDataRequest {
                destination: 1,
                id: 1,
                status: PayloadStatus::First,
                data: &data[..1011],
            },
            1010,
        ),
        (
            Packet::CoreMgmtConfigRemoveRequest {
                destination: 1,
                key: &data[..1011],
            },
            1010,
        ),
        (
            Packet::CXPError {
                data: &data[..1017],
            },
            1016,
        ),
        (
            Packet::CXPROIViewerPixelDataReply { data: &[0; 1024] },
            1016,
        ),
    ];
    for (packet, max) in cases {
        let len = packet.payload().unwrap().len();
        let mut out = [0xeeu8; 2048];
        assert_eq!(
            packet.encode(&mut out),
            Err(EncodeError::PayloadTooLarge {
                id: packet.packet_id(),
                len,
                max
            })
        );
        assert!(out.iter().all(|&b| b == 0xee), "nothing written");
    }
}

#[test]
fn encode_refuses_partial_pixel_words() {
    let packet = Packet::CXPROIViewerPixelDataReply { data: &[1, 2, 3] };
    assert_eq!(
        packet.encode(&mut [0; 64]),
        Err(EncodeError::UnalignedPayload { id: 0xe9, len: 3 })
    );
}

#[test]
fn encode_needs_room_for_the_whole_frame() {
    let packet = Packet::SubkernelFinished {
        destination: 0,
        id: 1,
        with_exception: false,
        exception_src: 0,
    };
    assert_eq!(packet.encoded_len(), 16);
    for size in 0..16 {
        let mut out = vec![0xeeu8; size];
        assert_eq!(
            packet.encode(&mut out),
            Err(EncodeError::BufferTooSmall {
                needed: 16,
                available: size
            })
        );
        assert!(out.iter().all(|&b| b == 0xee), "nothing written");
    }
    assert_eq!(packet.encode(&mut [0; 16]), Ok(16));
}

#[test]
fn errors_display() {
    let text = DecodeError::CrcMismatch {
        expected: 1,
        computed: 2,
    }
    .to_string();
    assert!(
        text.contains("0x00000001") && text.contains("0x00000002"),
        "{text}"
    );
    let text = DecodeError::LengthTooLarge {
        id: 0xb0,
        len: 1011,
        max: 1010,
    }
    .to_string();
    assert!(text.contains("0xb0") && text.contains("1011"), "{text}");
    let text = EncodeError::BufferTooSmall {
        needed: 16,
        available: 8,
    }
    .to_string();
    assert!(text.contains("16") && text.contains('8'), "{text}");
}
