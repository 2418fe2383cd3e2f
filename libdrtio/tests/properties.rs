//! Property tests: every variant round-trips, and no input, random or
//! damaged, makes the decoder panic or accept a corrupted frame.

mod common;

use std::collections::BTreeSet;

use common::{any_sample, seal, Sample, KINDS};
use libdrtio::{DecodeError, Frame, Packet, MAX_PACKET};
use proptest::prelude::*;

/// After a successful decode of `input`: the frame length is sane, and
/// re-encoding gives a frame of that length which decodes to the same
/// packet and re-encodes to the same bytes.
fn check_reencodes(input: &[u8], packet: Packet<'_>, used: usize) {
    assert!(used <= input.len() && used <= MAX_PACKET);
    assert!(used >= 8 && used.is_multiple_of(8));
    assert_eq!(packet.encoded_len(), used);
    let mut out = [0u8; MAX_PACKET];
    assert_eq!(packet.encode(&mut out), Ok(used));
    assert_eq!(Packet::decode(&out[..used]), Ok((packet, used)));
    let mut again = [0u8; MAX_PACKET];
    packet.encode(&mut again).unwrap();
    assert_eq!(out, again);
}

#[test]
fn samples_cover_every_variant() {
    let ids: BTreeSet<u8> = (0..KINDS)
        .map(|kind| Sample::fixed(kind, Vec::new()).packet().packet_id())
        .collect();
    assert_eq!(ids.len(), KINDS);
    // ... and every id the decoder knows.
    let known: BTreeSet<u8> = (0..=u8::MAX)
        .filter(|&id| {
            !matches!(
                Packet::decode(&seal(&[id])),
                Err(DecodeError::UnknownPacket { .. })
            )
        })
        .collect();
    assert_eq!(ids, known);
}

#[test]
fn every_variant_round_trips_at_edge_lengths() {
    for kind in 0..KINDS {
        let unit = Sample::payload_unit(kind);
        let max = Sample::max_payload(kind);
        let mut lengths = vec![0, unit, max];
        if max >= unit {
            lengths.push(max - unit);
        }
        for len in lengths.into_iter().filter(|&l| l <= max) {
            let sample = Sample::fixed(kind, (0..len).map(|i| i as u8).collect());
            let packet = sample.packet();
            let frame = Frame::encode(&packet).unwrap();
            assert_eq!(frame.len(), packet.encoded_len());
            assert_eq!(Packet::decode(frame.as_bytes()), Ok((packet, frame.len())));
            assert_eq!(frame.decode(), Ok(packet));
            check_reencodes(frame.as_bytes(), packet, frame.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn any_packet_round_trips(sample in any_sample(), trailing in proptest::collection::vec(any::<u8>(), 0..64)) {
        let packet = sample.packet();
        let len = packet.encoded_len();
        prop_assert!(len >= 8 && len % 8 == 0 && len <= MAX_PACKET);

        let mut buf = vec![0u8; len];
        prop_assert_eq!(packet.encode(&mut buf), Ok(len));
        prop_assert_eq!(Packet::decode(&buf), Ok((packet, len)));

        // Trailing bytes (the rest of an RX slot) change nothing.
        buf.extend_from_slice(&trailing);
        prop_assert_eq!(Packet::decode(&buf), Ok((packet, len)));

        let frame = Frame::encode(&packet).unwrap();
        prop_assert_eq!(frame.as_bytes(), &buf[..len]);
        prop_assert_eq!(frame.decode(), Ok(packet));
        prop_assert_eq!(Frame::from_bytes(&buf[..len]).unwrap(), frame);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn single_bit_flips_are_caught(
        sample in any_sample(),
        trailing in proptest::collection::vec(any::<u8>(), 0..16),
        bit in any::<proptest::sample::Index>(),
    ) {
        let packet = sample.packet();
        let mut buf = vec![0u8; packet.encoded_len()];
        let len = packet.encode(&mut buf).unwrap();
        buf.extend_from_slice(&trailing);

        let bit = bit.index(buf.len() * 8);
        buf[bit / 8] ^= 1 << (bit % 8);
        let result = Packet::decode(&buf);
        if bit / 8 < len {
            // Every byte of a frame is covered by the CRC or is the CRC.
            prop_assert!(result.is_err(), "flip of bit {} accepted: {:?}", bit, result);
        } else {
            prop_assert_eq!(result, Ok((packet, len)));
        }
    }

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..1100)) {
        if let Ok((packet, used)) = Packet::decode(&input) {
            check_reencodes(&input, packet, used);
        }
    }

    /// Random fields behind a known id, sealed with a correct CRC for the
    /// whole input: exercises the field checks, not just the CRC.
    #[test]
    fn random_fields_with_valid_crc_never_panic(
        id in any::<u8>(),
        fields in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut body = vec![id];
        body.extend_from_slice(&fields);
        for cut in 1..=body.len() {
            let input = seal(&body[..cut]);
            if let Ok((packet, used)) = Packet::decode(&input) {
                check_reencodes(&input, packet, used);
            }
        }
    }

    /// A valid frame with one byte of its body or padding replaced and the trailer
    /// recomputed, so that the byte's meaning, not the CRC, is judged.
    #[test]
    fn mutated_body_with_valid_crc_never_panics(
        sample in any_sample(),
        at in any::<proptest::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let packet = sample.packet();
        let mut buf = vec![0u8; packet.encoded_len()];
        packet.encode(&mut buf).unwrap();
        // Body and padding end where the CRC starts, at 4 mod 8, so
        // `seal` adds no padding, only the new CRC.
        let crc_at = buf.len() - 4;
        buf[at.index(crc_at)] = byte;
        let input = seal(&buf[..crc_at]);
        if let Ok((packet, used)) = Packet::decode(&input) {
            check_reencodes(&input, packet, used);
        }
    }
}
