//! Subkernel message values: RPC type tags, encoding kernel values into the
//! wire format, and decoding wire values into kernel memory for `rpc_recv`.
//!
//! Tags: `n` None, `b` bool, `i` int32, `I` int64, `f` float, `s` str,
//! `B` bytes, `A` bytearray, `l`+elt list, `a`+ndims+elt array,
//! `r`+elt range, `t`+count+elts tuple. On the wire (little-endian, no
//! tags): b 1 byte, i 4, I and f 8, s/B/A a u32 length and the bytes, l a
//! u32 count and the elements, a one u32 per dimension and the elements, t
//! the fields in order, r three values, n nothing.
//!
//! In kernel memory values use the target's C layout: strings are
//! `{ptr, u32 len}`, a list is a pointer to `{elements ptr, u32 len}`, an
//! array is `{buffer ptr, u32 shape[ndims]}`, tuples and ranges are C
//! structs. Layouts are computed with the native pointer size, so the same
//! code serves the 32-bit target and host simulations.
//!
//! `rpc_recv` works in two steps when a value needs out-of-line storage: the
//! first call (with the value's slot) returns the number of bytes needed, the
//! kernel allocates them and calls again with that buffer, and the whole
//! value, nested elements included, is laid out in it. A value without
//! out-of-line storage is written at once and the call returns 0.

use alloc::vec::Vec;
use core::fmt;
use core::mem::{align_of, size_of};

use libio::{Cursor, Read};

/// A list or string header in kernel memory.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ListHeader {
    pub ptr: *mut u8,
    pub len: u32,
}

const PTR: usize = size_of::<*const u8>();
const HEADER_SIZE: usize = size_of::<ListHeader>();
const HEADER_ALIGN: usize = align_of::<ListHeader>();
/// Arrays deeper than this are refused (the compiler's own limit is lower).
const MAX_NDIMS: usize = 16;
/// Nesting limit, so hostile data cannot exhaust the kernel stack.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcError {
    /// The tag string is malformed or uses a tag satellites cannot serve
    /// (`O`, `k`).
    BadTag(u8),
    /// The message ended before the value did.
    Truncated,
    /// A count or shape is implausibly large for the bytes present.
    TooLarge,
    /// Nesting deeper than the decoder allows.
    TooDeep,
    /// The kernel's storage buffer is smaller than what `rpc_recv` asked for.
    StorageTooSmall,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::BadTag(t) => write!(f, "unsupported RPC tag {:?}", *t as char),
            RpcError::Truncated => f.write_str("message shorter than its values"),
            RpcError::TooLarge => f.write_str("message value too large"),
            RpcError::TooDeep => f.write_str("message value nested too deeply"),
            RpcError::StorageTooSmall => f.write_str("rpc_recv storage too small"),
        }
    }
}

impl From<libio::Error> for RpcError {
    fn from(_: libio::Error) -> Self {
        RpcError::Truncated
    }
}

fn align_up(n: usize, a: usize) -> usize {
    (n + a - 1) & !(a - 1)
}

/// Length in bytes of the first tag of `tags`.
pub fn tag_len(tags: &[u8]) -> Result<usize, RpcError> {
    tag_len_at(tags, 0)
}

fn tag_len_at(tags: &[u8], depth: usize) -> Result<usize, RpcError> {
    if depth > MAX_DEPTH {
        return Err(RpcError::TooDeep);
    }
    let t = *tags.first().ok_or(RpcError::BadTag(0))?;
    Ok(match t {
        b'n' | b'b' | b'i' | b'I' | b'f' | b's' | b'B' | b'A' => 1,
        b'l' | b'r' => 1 + tag_len_at(&tags[1..], depth + 1)?,
        b'a' => {
            let nd = *tags.get(1).ok_or(RpcError::BadTag(t))? as usize;
            if nd == 0 || nd > MAX_NDIMS {
                return Err(RpcError::BadTag(t));
            }
            2 + tag_len_at(&tags[2..], depth + 1)?
        }
        b't' => {
            let n = *tags.get(1).ok_or(RpcError::BadTag(t))? as usize;
            let mut len = 2;
            for _ in 0..n {
                len += tag_len_at(tags.get(len..).ok_or(RpcError::BadTag(t))?, depth + 1)?;
            }
            len
        }
        other => return Err(RpcError::BadTag(other)),
    })
}

/// Size and alignment of a value in kernel memory.
pub fn layout(tag: &[u8]) -> Result<(usize, usize), RpcError> {
    Ok(match tag.first().copied().unwrap_or(0) {
        b'n' => (0, 1),
        b'b' => (1, 1),
        b'i' => (4, 4),
        b'I' | b'f' => (8, 8),
        b's' | b'B' | b'A' => (HEADER_SIZE, HEADER_ALIGN),
        b'l' => (PTR, PTR),
        b'a' => {
            let nd = tag[1] as usize;
            (align_up(PTR + 4 * nd, PTR), PTR)
        }
        b'r' => {
            let (s, a) = layout(&tag[1..])?;
            (align_up(3 * align_up(s, a), a), a)
        }
        b't' => {
            let (mut size, mut align) = (0, 1);
            for_fields(tag, |field| {
                let (s, a) = layout(field)?;
                size = align_up(size, a) + s;
                align = align.max(a);
                Ok(())
            })?;
            (align_up(size, align), align)
        }
        other => return Err(RpcError::BadTag(other)),
    })
}

/// Calls `f` with each field tag of a tuple tag.
fn for_fields(tag: &[u8], mut f: impl FnMut(&[u8]) -> Result<(), RpcError>) -> Result<(), RpcError> {
    let n = tag[1] as usize;
    let mut pos = 2;
    for _ in 0..n {
        let len = tag_len(&tag[pos..])?;
        f(&tag[pos..pos + len])?;
        pos += len;
    }
    Ok(())
}

/// Field offsets of a tuple (or range) in kernel memory, in order.
fn field_offsets(tag: &[u8], mut f: impl FnMut(&[u8], usize) -> Result<(), RpcError>) -> Result<(), RpcError> {
    let mut off = 0;
    if tag[0] == b'r' {
        let elt = &tag[1..];
        let (s, a) = layout(elt)?;
        for _ in 0..3 {
            off = align_up(off, a);
            f(elt, off)?;
            off += s;
        }
        return Ok(());
    }
    for_fields(tag, |field| {
        let (s, a) = layout(field)?;
        off = align_up(off, a);
        f(field, off)?;
        off += s;
        Ok(())
    })
}

fn is_packed(elt: &[u8]) -> bool {
    matches!(elt.first(), Some(b'b' | b'i' | b'I' | b'f'))
}

// ---- encoding ---------------------------------------------------------------

/// Appends the wire encoding of the value at `ptr` of type `tag`.
///
/// # Safety
/// `ptr` must point to a valid value of that type in kernel memory, with
/// every pointer inside it valid as well.
pub unsafe fn encode(tag: &[u8], ptr: *const u8, out: &mut Vec<u8>) -> Result<(), RpcError> {
    // SAFETY: the caller's contract is `encode_at`'s, at depth 0.
    unsafe {
        encode_at(tag, ptr, out, 0)
    }
}

/// # Safety
/// As for [`encode`].
unsafe fn encode_at(tag: &[u8], ptr: *const u8, out: &mut Vec<u8>, depth: usize) -> Result<(), RpcError> {
    // SAFETY: every read is of the value at `ptr` as `tag` lays it out, or of memory a pointer
    // inside that value designates (list headers, element buffers, array buffers with the
    // dimensions read here), all valid by the caller's contract; field offsets come from
    // `field_offsets`, which follows the same layout as the kernel's compiler.
    unsafe {
        if depth > MAX_DEPTH {
            return Err(RpcError::TooDeep);
        }
        match tag[0] {
            b'n' => {}
            b'b' => out.push(*ptr),
            b'i' => out.extend_from_slice(&ptr.cast::<[u8; 4]>().read_unaligned()),
            b'I' | b'f' => out.extend_from_slice(&ptr.cast::<[u8; 8]>().read_unaligned()),
            b's' | b'B' | b'A' => {
                let h = ptr.cast::<ListHeader>().read_unaligned();
                out.extend_from_slice(&h.len.to_le_bytes());
                if h.len > 0 {
                    out.extend_from_slice(core::slice::from_raw_parts(h.ptr, h.len as usize));
                }
            }
            b'l' => {
                let h = ptr.cast::<*const ListHeader>().read_unaligned().read_unaligned();
                out.extend_from_slice(&h.len.to_le_bytes());
                encode_elements(&tag[1..], h.ptr, h.len as usize, out, depth)?;
            }
            b'a' => {
                let nd = tag[1] as usize;
                let buf = ptr.cast::<*const u8>().read_unaligned();
                let mut total = 1usize;
                for d in 0..nd {
                    let dim = ptr.add(PTR + 4 * d).cast::<u32>().read_unaligned();
                    out.extend_from_slice(&dim.to_le_bytes());
                    total = total.checked_mul(dim as usize).ok_or(RpcError::TooLarge)?;
                }
                encode_elements(&tag[2..], buf, total, out, depth)?;
            }
            // Made of Nones only (see `decode_at`).
            b't' | b'r' if layout(tag)?.0 == 0 => {}
            b't' | b'r' => field_offsets(tag, |field, off| encode_at(field, ptr.add(off), out, depth + 1))?,
            other => return Err(RpcError::BadTag(other)),
        }
        Ok(())
    }
}

/// # Safety
/// `base` points to `n` readable elements of type `elt`, each valid as for [`encode`].
unsafe fn encode_elements(elt: &[u8], base: *const u8, n: usize, out: &mut Vec<u8>, depth: usize) -> Result<(), RpcError> {
    // SAFETY: the caller passes `base` as the buffer of `n` elements of type `elt` inside a valid
    // value, so `n * size` bytes (checked) and each element at `i * size` are readable.
    unsafe {
        let (size, _) = layout(elt)?;
        if size == 0 {
            // Nones (or tuples and ranges of them) have no wire bytes: nothing
            // to do, however many there are (a count of 2^32 must not cost
            // 2^32 calls).
            return Ok(());
        }
        // The kernel's count times the element size: checked, as a 32-bit
        // `usize` overflows for counts the list header can hold.
        let bytes = n.checked_mul(size).ok_or(RpcError::TooLarge)?;
        if is_packed(elt) {
            // Little-endian target: the elements are already in wire order.
            if n > 0 {
                out.extend_from_slice(core::slice::from_raw_parts(base, bytes));
            }
            return Ok(());
        }
        for i in 0..n {
            encode_at(elt, base.add(i * size), out, depth + 1)?;
        }
        Ok(())
    }
}

/// Encodes a message payload: the value count, then each value. `args[i]`
/// points to value `i`; `tags` are the value tags (anything from `:` on,
/// the return-type part of an RPC tag, is ignored).
///
/// # Safety
/// As for [`encode`], for each value.
pub unsafe fn encode_message(tags: &[u8], args: &[*const u8], out: &mut Vec<u8>) -> Result<(), RpcError> {
    // SAFETY: each `args[i]` points to a valid value of its tag (the caller's contract), which is
    // what `encode` needs.
    unsafe {
        let tags = tags.split(|&c| c == b':').next().unwrap_or(&[]);
        out.push(args.len() as u8);
        let mut pos = 0;
        for &arg in args {
            let len = tag_len(tags.get(pos..).ok_or(RpcError::BadTag(0))?)?;
            encode(&tags[pos..pos + len], arg, out)?;
            pos += len;
        }
        Ok(())
    }
}

// ---- decoding ---------------------------------------------------------------

/// Bump allocation inside the kernel's storage buffer (or just counting,
/// when sizing).
struct Bump {
    base: *mut u8,
    used: usize,
    cap: usize,
}

impl Bump {
    fn alloc(&mut self, size: usize, align: usize) -> Result<*mut u8, RpcError> {
        let start = align_up(self.used, align);
        let end = start.checked_add(size).ok_or(RpcError::TooLarge)?;
        if !self.base.is_null() && end > self.cap {
            return Err(RpcError::StorageTooSmall);
        }
        self.used = end;
        // SAFETY: `start + size <= cap` was checked above, so the offset stays inside the storage
        // the base points to.
        Ok(if self.base.is_null() { core::ptr::null_mut() } else { unsafe { self.base.add(start) } })
    }
}

/// Decodes one value; with `slot` null it only walks the bytes and sizes the
/// storage.
///
/// # Safety
/// A non-null `slot` is writable for `tag`'s layout; `bump`'s non-null base points to `cap`
/// writable bytes.
unsafe fn decode_at(tag: &[u8], r: &mut Cursor<&[u8]>, slot: *mut u8, bump: &mut Bump, depth: usize) -> Result<(), RpcError> {
    // SAFETY: writes happen only when `slot` is non-null, in which case the caller made it
    // writable for `tag`'s layout (fields at `field_offsets` inside it); out-of-line parts go to
    // `bump.alloc` results, which are inside the caller's storage (the bump checks `end <= cap`)
    // and sized for exactly what is written; every source is a slice `r.take` bounds-checked.
    unsafe {
        if depth > MAX_DEPTH {
            return Err(RpcError::TooDeep);
        }
        let write = !slot.is_null();
        match tag[0] {
            b'n' => {}
            b'b' => {
                let v = r.read_u8()?;
                if write {
                    *slot = v;
                }
            }
            b'i' => {
                let v = r.take(4)?;
                if write {
                    core::ptr::copy_nonoverlapping(v.as_ptr(), slot, 4);
                }
            }
            b'I' | b'f' => {
                let v = r.take(8)?;
                if write {
                    core::ptr::copy_nonoverlapping(v.as_ptr(), slot, 8);
                }
            }
            b's' | b'B' | b'A' => {
                let len = r.read_u32()? as usize;
                let bytes = r.take(len)?;
                let dst = bump.alloc(len, 1)?;
                if write {
                    if len > 0 {
                        core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, len);
                    }
                    slot.cast::<ListHeader>().write_unaligned(ListHeader { ptr: dst, len: len as u32 });
                }
            }
            b'l' => {
                let n = r.read_u32()? as usize;
                let header = bump.alloc(HEADER_SIZE, HEADER_ALIGN)?;
                let elems = decode_elements(&tag[1..], n, r, bump, depth)?;
                if write {
                    header.cast::<ListHeader>().write(ListHeader { ptr: elems, len: n as u32 });
                    slot.cast::<*mut ListHeader>().write_unaligned(header.cast());
                }
            }
            b'a' => {
                let nd = tag[1] as usize;
                let mut total = 1usize;
                let mut dims = [0u32; MAX_NDIMS];
                for dim in dims.iter_mut().take(nd) {
                    *dim = r.read_u32()?;
                    total = total.checked_mul(*dim as usize).ok_or(RpcError::TooLarge)?;
                }
                let buf = decode_elements(&tag[2..], total, r, bump, depth)?;
                if write {
                    slot.cast::<*mut u8>().write_unaligned(buf);
                    for (d, dim) in dims.iter().take(nd).enumerate() {
                        slot.add(PTR + 4 * d).cast::<u32>().write_unaligned(*dim);
                    }
                }
            }
            // A value of size 0 is made of Nones only: no wire bytes, nothing
            // to write. Walking it would cost 3^depth calls for nested ranges.
            b't' | b'r' if layout(tag)?.0 == 0 => {}
            b't' | b'r' => field_offsets(tag, |field, off| {
                let s = if write { slot.add(off) } else { core::ptr::null_mut() };
                decode_at(field, r, s, bump, depth + 1)
            })?,
            other => return Err(RpcError::BadTag(other)),
        }
        Ok(())
    }
}

/// Allocates and fills `n` elements; returns their address (null when sizing).
///
/// # Safety
/// `bump`'s non-null base points to `cap` writable bytes.
unsafe fn decode_elements(elt: &[u8], n: usize, r: &mut Cursor<&[u8]>, bump: &mut Bump, depth: usize) -> Result<*mut u8, RpcError> {
    // SAFETY: `base` is null when sizing, otherwise a bump allocation of `n * size` bytes
    // (checked) aligned for `elt`, so the copy of `bytes` and each element slot at `i * size` are
    // inside it; `decode_at` gets the same guarantees for each.
    unsafe {
        let (size, align) = layout(elt)?;
        if size == 0 {
            // Nones (or tuples and ranges made of them) take neither wire bytes
            // nor memory: nothing to walk, and a count of up to 2^32 (or an
            // array's product of dimensions) must not cost as many iterations,
            // in the sizing pass or the writing one.
            return bump.alloc(0, align);
        }
        // Every other element takes at least one byte on the wire: a count
        // larger than what is left is a lie, refused before allocating.
        if n > r.remaining() {
            return Err(RpcError::TooLarge);
        }
        let bytes = n.checked_mul(size).ok_or(RpcError::TooLarge)?;
        let base = bump.alloc(bytes, align)?;
        if is_packed(elt) {
            let src = r.take(bytes)?;
            if !base.is_null() && bytes > 0 {
                core::ptr::copy_nonoverlapping(src.as_ptr(), base, bytes);
            }
            return Ok(base);
        }
        for i in 0..n {
            let s = if base.is_null() { core::ptr::null_mut() } else { base.add(i * size) };
            decode_at(elt, r, s, bump, depth + 1)?;
        }
        Ok(base)
    }
}

/// Out-of-line storage the next value of type `tag` needs (0 = none).
pub fn storage_needed(tag: &[u8], bytes: &[u8]) -> Result<usize, RpcError> {
    let mut r = Cursor::new(bytes);
    let mut bump = Bump { base: core::ptr::null_mut(), used: 0, cap: 0 };
    // SAFETY: a null slot makes `decode_at` only walk the bytes: it writes nothing, and the bump
    // has a null base, so it hands out only nulls.
    unsafe { decode_at(tag, &mut r, core::ptr::null_mut(), &mut bump, 0)? };
    Ok(bump.used)
}

/// Decodes the value at the start of `bytes` into `slot`, laying out its
/// out-of-line parts in `storage` (at least [`storage_needed`] bytes, 8-byte
/// aligned). Returns the number of message bytes consumed.
///
/// # Safety
/// `slot` must be writable for the value's [`layout`]; `storage` for
/// `storage_len` bytes.
pub unsafe fn decode(tag: &[u8], bytes: &[u8], slot: *mut u8, storage: *mut u8, storage_len: usize) -> Result<usize, RpcError> {
    // SAFETY: `slot` is writable for the value's layout and `storage` for `storage_len` bytes (the
    // caller's contract); the bump never hands out more than that (a null storage gets capacity
    // 0).
    unsafe {
        let mut r = Cursor::new(bytes);
        let base = if storage.is_null() { core::ptr::NonNull::<u64>::dangling().as_ptr().cast() } else { storage };
        let mut bump = Bump { base, used: 0, cap: if storage.is_null() { 0 } else { storage_len } };
        decode_at(tag, &mut r, slot, &mut bump, 0)?;
        Ok(r.position())
    }
}

/// Decoding state of one received message, advanced by `rpc_recv` calls.
#[derive(Debug)]
pub struct Inbox {
    /// The message without its count byte.
    data: *const u8,
    len: usize,
    pos: usize,
    /// Tags of the values still to be received (kernel memory).
    tags: *const u8,
    tags_len: usize,
    tag_pos: usize,
    /// Slot of a value whose storage `rpc_recv` asked for.
    pending: Option<(*mut u8, usize)>,
}

impl Inbox {
    /// # Safety
    /// `data` (the message without its count byte) and `tags` stay valid
    /// until the inbox is dropped.
    pub unsafe fn new(data: &[u8], tags: &[u8]) -> Inbox {
        Inbox { data: data.as_ptr(), len: data.len(), pos: 0, tags: tags.as_ptr(), tags_len: tags.len(), tag_pos: 0, pending: None }
    }

    /// One `rpc_recv(ptr)` call: returns the storage size to allocate next,
    /// or 0 once the value is complete.
    ///
    /// # Safety
    /// `ptr` is the value's slot on a first call, or storage of the size the
    /// previous call returned.
    pub unsafe fn recv(&mut self, ptr: *mut u8) -> Result<usize, RpcError> {
        // SAFETY: `new`'s contract keeps `data` and `tags` valid for the inbox's life; `ptr` is
        // the slot (first call) or storage of the size asked for (second call), which is what
        // `decode` needs.
        unsafe {
            let tags = core::slice::from_raw_parts(self.tags, self.tags_len);
            let bytes = core::slice::from_raw_parts(self.data, self.len);
            let rest = bytes.get(self.pos..).ok_or(RpcError::Truncated)?;
            let tag = tags.get(self.tag_pos..).ok_or(RpcError::BadTag(0))?;
            let tag = &tag[..tag_len(tag)?];
            let (slot, storage, storage_len) = match self.pending.take() {
                Some((slot, need)) => (slot, ptr, need),
                None => {
                    let need = storage_needed(tag, rest)?;
                    if need > 0 {
                        self.pending = Some((ptr, need));
                        return Ok(need);
                    }
                    (ptr, core::ptr::null_mut(), 0)
                }
            };
            let used = decode(tag, rest, slot, storage, storage_len)?;
            self.pos += used;
            self.tag_pos += tag.len();
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Receives one value the way compiled kernels do: call with the slot,
    /// allocate what is asked for, call again.
    fn recv_value(inbox: &mut Inbox, slot: *mut u8, keep: &mut Vec<Vec<u64>>) {
        let mut ptr = slot;
        loop {
            // SAFETY: `ptr` is the slot on the first call, then a buffer of the size `recv` asked
            // for, kept alive in `keep`.
            let need = unsafe { inbox.recv(ptr) }.unwrap();
            if need == 0 {
                break;
            }
            keep.push(vec![0u64; need.div_ceil(8)]);
            ptr = keep.last_mut().unwrap().as_mut_ptr().cast();
        }
    }

    #[test]
    fn huge_none_lists_cost_nothing() {
        // 2^32 - 1 Nones, and a 2-D array of 2^16 x 2^16 of them: no wire
        // bytes, no element memory, and no per-element work.
        let list = [0xFFu8, 0xFF, 0xFF, 0xFF];
        assert_eq!(storage_needed(b"ln", &list), Ok(HEADER_SIZE));
        let array = [0, 0, 1, 0, 0, 0, 1, 0];
        assert_eq!(storage_needed(b"a\x02n", &array), Ok(0));
        let mut slot = [0u64; 4];
        // SAFETY: `slot` is 32 bytes, more than an array of two dimensions takes; no storage is
        // needed (size-0 elements).
        let used = unsafe { decode(b"a\x02n", &array, slot.as_mut_ptr().cast(), core::ptr::null_mut(), 0) };
        assert_eq!(used, Ok(8));
    }

    #[test]
    fn huge_lists_of_none_tuples_are_not_walked() {
        // 2^32 - 1 one-None tuples: size 0 like None itself, so no wire
        // bytes are expected and nothing is iterated, decoding or encoding.
        let list = [0xFFu8, 0xFF, 0xFF, 0xFF];
        assert_eq!(storage_needed(b"lt\x01n", &list), Ok(HEADER_SIZE));
        let hdr = ListHeader { ptr: core::ptr::NonNull::<u8>::dangling().as_ptr(), len: u32::MAX };
        let hdr_ptr: *const ListHeader = &hdr;
        let mut out = Vec::new();
        // SAFETY: the value is a pointer to a live list header; its elements have size 0, so the
        // dangling buffer is never read.
        let r = unsafe { encode(b"lt\x01n", (&hdr_ptr as *const *const ListHeader).cast(), &mut out) };
        assert_eq!(r, Ok(()));
        assert_eq!(out, [0xFF; 4]);
    }

    #[test]
    fn element_counts_times_sizes_are_checked() {
        // A kernel's array whose shape multiplies past usize::MAX once
        // scaled by the element size: refused, never read.
        let mut value = vec![0u8; PTR + 8];
        value[PTR..PTR + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        value[PTR + 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut out = Vec::new();
        // SAFETY: a readable value of the array's layout (buffer pointer and two dimensions); the
        // element buffer is never read since the size check fails first.
        let r = unsafe { encode(b"a\x02I", value.as_ptr(), &mut out) };
        // On 64 bits the element count fits and the byte count does not;
        // on 32 bits the count alone overflows.
        assert_eq!(r, Err(RpcError::TooLarge));
        // Decoding the same shape: the bytes are not there.
        let wire = [0xFFu8; 8];
        assert_eq!(storage_needed(b"a\x02I", &wire), Err(RpcError::TooLarge));
    }

    #[test]
    fn nested_ranges_of_none_are_not_walked() {
        // 16 nested ranges of None: 3^16 leaves, all of size 0.
        let tag = b"rrrrrrrrrrrrrrrrn";
        assert_eq!(tag_len(tag), Ok(tag.len()));
        assert_eq!(storage_needed(tag, &[]), Ok(0));
        let mut out = Vec::new();
        // SAFETY: values of size 0 are never read, so a dangling pointer is enough.
        assert_eq!(unsafe { encode(tag, core::ptr::NonNull::<u8>::dangling().as_ptr(), &mut out) }, Ok(()));
        assert!(out.is_empty());
    }

    #[test]
    fn scalars_round_trip() {
        let (b, i, big, f) = (1u8, -5i32, 1i64 << 40, 2.5f64);
        let mut msg = Vec::new();
        let args: [*const u8; 4] = [&b as *const u8, (&i as *const i32).cast(), (&big as *const i64).cast(), (&f as *const f64).cast()];
        // SAFETY: each argument points to a live local of its tag's type.
        unsafe { encode_message(b"biIf:n", &args, &mut msg).unwrap() };
        assert_eq!(msg[0], 4);
        assert_eq!(msg.len(), 1 + 1 + 4 + 8 + 8);
        // SAFETY: `msg` and the tag outlive the inbox.
        let mut inbox = unsafe { Inbox::new(&msg[1..], b"biIf") };
        let (mut b2, mut i2, mut big2, mut f2) = (0u8, 0i32, 0i64, 0f64);
        let mut keep = Vec::new();
        recv_value(&mut inbox, &mut b2, &mut keep);
        recv_value(&mut inbox, (&mut i2 as *mut i32).cast(), &mut keep);
        recv_value(&mut inbox, (&mut big2 as *mut i64).cast(), &mut keep);
        recv_value(&mut inbox, (&mut f2 as *mut f64).cast(), &mut keep);
        assert_eq!((b2, i2, big2, f2), (b, i, big, f));
        assert!(keep.is_empty());
    }

    #[test]
    fn string_and_list_need_storage() {
        let s = b"hello";
        let s_hdr = ListHeader { ptr: s.as_ptr() as *mut u8, len: 5 };
        let elems = [3i32, 4, 5];
        let l_hdr = ListHeader { ptr: elems.as_ptr() as *mut u8, len: 3 };
        let l_ptr: *const ListHeader = &l_hdr;
        let mut msg = Vec::new();
        let args: [*const u8; 2] = [(&s_hdr as *const ListHeader).cast(), (&l_ptr as *const *const ListHeader).cast()];
        // SAFETY: the string header and the list header point to live locals of the tags' types.
        unsafe { encode_message(b"sli", &args, &mut msg).unwrap() };
        assert_eq!(&msg[1..10], &[5, 0, 0, 0, b'h', b'e', b'l', b'l', b'o']);

        // SAFETY: `msg` and the tag outlive the inbox.
        let mut inbox = unsafe { Inbox::new(&msg[1..], b"sli") };
        let mut keep = Vec::new();
        let mut s_out = ListHeader { ptr: core::ptr::null_mut(), len: 0 };
        recv_value(&mut inbox, (&mut s_out as *mut ListHeader).cast(), &mut keep);
        // SAFETY: `recv` filled the header with a 5-byte string in storage `keep` holds.
        assert_eq!(unsafe { core::slice::from_raw_parts(s_out.ptr, 5) }, s);
        let mut l_out: *const ListHeader = core::ptr::null();
        recv_value(&mut inbox, (&mut l_out as *mut *const ListHeader).cast(), &mut keep);
        // SAFETY: `recv` stored a pointer to a list header in storage `keep` holds.
        let h = unsafe { *l_out };
        // SAFETY: that header's 3 `i32` elements are in `keep` too.
        assert_eq!(unsafe { core::slice::from_raw_parts(h.ptr as *const i32, h.len as usize) }, &elems);
        assert_eq!(keep.len(), 2);
    }

    #[test]
    fn nested_list_of_strings_and_tuple() {
        // [("ab", 7), ("", 9)] as l t 2 s i
        #[repr(C)]
        struct T {
            s: ListHeader,
            i: i32,
        }
        let a = b"ab";
        let items = [T { s: ListHeader { ptr: a.as_ptr() as *mut u8, len: 2 }, i: 7 }, T { s: ListHeader { ptr: core::ptr::null_mut(), len: 0 }, i: 9 }];
        let hdr = ListHeader { ptr: items.as_ptr() as *mut u8, len: 2 };
        let hp: *const ListHeader = &hdr;
        let tag = [b'l', b't', 2, b's', b'i'];
        assert_eq!(tag_len(&tag), Ok(5));
        assert_eq!(layout(&tag[1..]).unwrap(), (core::mem::size_of::<T>(), core::mem::align_of::<T>()));
        let mut msg = Vec::new();
        // SAFETY: `hp` points to a live header of two live `T`s whose strings are live.
        unsafe { encode(&tag, (&hp as *const *const ListHeader).cast(), &mut msg).unwrap() };
        let mut out: *const ListHeader = core::ptr::null();
        // SAFETY: `msg` and `tag` outlive the inbox.
        let mut inbox = unsafe { Inbox::new(&msg, &tag) };
        let mut keep = Vec::new();
        recv_value(&mut inbox, (&mut out as *mut *const ListHeader).cast(), &mut keep);
        // SAFETY: `recv` stored a pointer to a list header in storage `keep` holds.
        let h = unsafe { *out };
        // SAFETY: the header's two `T` elements are in `keep` too.
        let got = unsafe { core::slice::from_raw_parts(h.ptr as *const T, 2) };
        // SAFETY: the first string's 2 bytes are in `keep`.
        assert_eq!(unsafe { got[0].s.ptr.cast_const().cast::<[u8; 2]>().read() }, *a);
        assert_eq!((got[0].i, got[1].i, got[1].s.len), (7, 9, 0));
    }

    #[test]
    fn arrays_round_trip() {
        let data = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        #[repr(C)]
        struct A2 {
            buf: *const f64,
            shape: [u32; 2],
        }
        let arr = A2 { buf: data.as_ptr(), shape: [2, 3] };
        let tag = [b'a', 2, b'f'];
        assert_eq!(layout(&tag).unwrap().0, core::mem::size_of::<A2>());
        let mut msg = Vec::new();
        // SAFETY: `arr` is a live value of the array layout and its buffer holds 6 `f64`.
        unsafe { encode(&tag, (&arr as *const A2).cast(), &mut msg).unwrap() };
        assert_eq!(msg.len(), 8 + 48);
        let mut out = A2 { buf: core::ptr::null(), shape: [0; 2] };
        // SAFETY: `msg` and `tag` outlive the inbox.
        let mut inbox = unsafe { Inbox::new(&msg, &tag) };
        let mut keep = Vec::new();
        recv_value(&mut inbox, (&mut out as *mut A2).cast(), &mut keep);
        assert_eq!(out.shape, [2, 3]);
        // SAFETY: `recv` made `out.buf` point to 6 `f64` in storage `keep` holds.
        assert_eq!(unsafe { core::slice::from_raw_parts(out.buf, 6) }, &data);
    }

    #[test]
    fn hostile_messages_fail_cleanly() {
        // list claiming 2^32-1 elements
        assert_eq!(storage_needed(b"li", &[0xFF, 0xFF, 0xFF, 0xFF, 1]), Err(RpcError::TooLarge));
        assert_eq!(storage_needed(b"s", &[9, 0, 0, 0, 1]), Err(RpcError::Truncated));
        assert_eq!(storage_needed(&[b'a', 2, b'i'], &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), Err(RpcError::TooLarge));
        assert_eq!(tag_len(b"O"), Err(RpcError::BadTag(b'O')));
        assert_eq!(tag_len(b"l"), Err(RpcError::BadTag(0)));
        assert_eq!(tag_len(&[b't', 3, b'i']), Err(RpcError::BadTag(0)));
        let deep = [b'l'; 40];
        assert_eq!(tag_len(&deep), Err(RpcError::TooDeep));
        let mut slot = 0i32;
        // SAFETY: the message and tag are 'static.
        let mut inbox = unsafe { Inbox::new(&[1, 2], b"i") };
        // SAFETY: `slot` is a live `i32`, the value's slot.
        assert_eq!(unsafe { inbox.recv((&mut slot as *mut i32).cast()) }, Err(RpcError::Truncated));
    }
}
