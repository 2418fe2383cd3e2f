//! Body of the `decode` fuzz target, shared with `tests/fuzz_smoke.rs`.
//!
//! Decodes arbitrary bytes. The decoder must never panic, and whatever it
//! accepts must survive a round trip: re-encoding gives a frame of the
//! same length that decodes to the same packet.

use libdrtio::{Packet, MAX_PACKET};

/// One fuzz input.
pub fn run(input: &[u8]) {
    let Ok((packet, used)) = Packet::decode(input) else {
        return;
    };
    assert!(used <= input.len() && used <= MAX_PACKET && used % 8 == 0);
    assert_eq!(packet.encoded_len(), used);

    let mut frame = [0u8; MAX_PACKET];
    let len = packet
        .encode(&mut frame)
        .expect("a decoded packet re-encodes");
    assert_eq!(len, used);
    assert_eq!(Packet::decode(&frame[..len]), Ok((packet, len)));
}
