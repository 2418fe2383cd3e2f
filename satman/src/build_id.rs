//! The firmware's build id: a short string the firmware logs at boot and
//! reports (the QEMU board's `READY`), kept in the image behind a marker so
//! host tools can read it from an ELF or a BOOT.BIN, and set it without a
//! rebuild (`satctl image build --build-id`; the flash tests make "the same
//! firmware with another id" that way).
//!
//! The id is `SATMAN_BUILD_ID` at build time, else `satman-<version>`.

/// What precedes the id in the image; unique in a firmware image.
pub const MARKER: [u8; 16] = *b"SATMAN_BUILD_ID=";
/// Room for the id (NUL-padded).
pub const MAX_LEN: usize = 32;

#[repr(C)]
pub struct Area {
    marker: [u8; 16],
    id: [u8; MAX_LEN],
}

const fn area(id: &str) -> Area {
    let mut out = [0u8; MAX_LEN];
    let b = id.as_bytes();
    let mut i = 0;
    while i < b.len() && i < MAX_LEN {
        out[i] = b[i];
        i += 1;
    }
    Area { marker: MARKER, id: out }
}

const DEFAULT: &str = match option_env!("SATMAN_BUILD_ID") {
    Some(id) => id,
    None => concat!("satman-", env!("CARGO_PKG_VERSION")),
};

/// The area in the image. Read it only through [`get`]: the compiler must
/// not fold its build-time contents into the code, since tools patch it.
#[used]
pub static AREA: Area = area(DEFAULT);

/// The build id, as the image holds it.
pub fn get() -> heapless::String<MAX_LEN> {
    let mut s = heapless::String::new();
    for i in 0..MAX_LEN {
        // SAFETY: `AREA.id` is a valid, aligned static array and `i` is in
        // bounds; the volatile read keeps the value the image holds.
        let b = unsafe { core::ptr::read_volatile(AREA.id.as_ptr().add(i)) };
        if b == 0 || !b.is_ascii_graphic() || s.push(b as char).is_err() {
            break;
        }
    }
    s
}

/// Why an id could not be read or set in an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchError {
    /// The image holds no marker: not a satman image.
    NoMarker,
    /// The marker appears more than once.
    Ambiguous,
    /// The id is empty, longer than [`MAX_LEN`] or not printable ASCII.
    BadId,
}

/// The marker, each byte XORed with 0x5A: a program that searches images
/// for the marker (satctl, which links this crate) must not hold the plain
/// marker in its own rodata, or it would find itself.
const HIDDEN: [u8; 16] = {
    let mut h = MARKER;
    let mut i = 0;
    while i < h.len() {
        h[i] ^= 0x5A;
        i += 1;
    }
    h
};

fn is_marker(w: &[u8]) -> bool {
    w.len() == HIDDEN.len() && w.iter().zip(HIDDEN.iter()).all(|(a, h)| a ^ 0x5A == *h)
}

fn find(image: &[u8]) -> Result<usize, PatchError> {
    let mut found = None;
    let mut at = 0;
    while let Some(i) = image[at..].windows(MARKER.len()).position(is_marker) {
        let pos = at + i;
        if found.is_some() {
            return Err(PatchError::Ambiguous);
        }
        found = Some(pos);
        at = pos + 1;
    }
    match found {
        Some(p) if p + MARKER.len() + MAX_LEN <= image.len() => Ok(p + MARKER.len()),
        _ => Err(PatchError::NoMarker),
    }
}

/// The build id held in a firmware image (ELF or raw).
pub fn read(image: &[u8]) -> Result<&str, PatchError> {
    let at = find(image)?;
    let id = &image[at..at + MAX_LEN];
    let len = id.iter().position(|&b| b == 0).unwrap_or(MAX_LEN);
    core::str::from_utf8(&id[..len]).map_err(|_| PatchError::BadId)
}

/// Sets the build id held in a firmware image (ELF or raw).
pub fn patch(image: &mut [u8], id: &str) -> Result<(), PatchError> {
    if id.is_empty() || id.len() > MAX_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PatchError::BadId);
    }
    let at = find(image)?;
    let dst = &mut image[at..at + MAX_LEN];
    dst.fill(0);
    dst[..id.len()].copy_from_slice(id.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn image() -> Vec<u8> {
        let mut v = alloc::vec![0xAAu8; 100];
        v.extend_from_slice(&MARKER);
        v.extend_from_slice(b"old-id");
        v.extend_from_slice(&[0; MAX_LEN - 6]);
        v.extend_from_slice(&[0x55; 20]);
        v
    }

    #[test]
    fn read_and_patch() {
        let mut v = image();
        assert_eq!(read(&v), Ok("old-id"));
        patch(&mut v, "build-B").unwrap();
        assert_eq!(read(&v), Ok("build-B"));
        assert_eq!(&v[v.len() - 20..], &[0x55; 20], "nothing past the area changes");
        assert_eq!(patch(&mut v, ""), Err(PatchError::BadId));
        assert_eq!(patch(&mut v, &"x".repeat(33)), Err(PatchError::BadId));
    }

    #[test]
    fn missing_or_repeated_markers_are_refused() {
        assert_eq!(read(&[0u8; 200]), Err(PatchError::NoMarker));
        let mut v = image();
        v.extend_from_slice(&image());
        assert_eq!(read(&v), Err(PatchError::Ambiguous));
        // A marker too close to the end has no room for an id.
        assert_eq!(read(&MARKER), Err(PatchError::NoMarker));
    }

    #[test]
    fn the_running_id_is_the_default() {
        assert_eq!(get().as_str(), DEFAULT);
    }
}
