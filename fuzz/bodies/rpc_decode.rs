//! Body of the `rpc_decode` fuzz target, shared with `tests/fuzz_smoke.rs`.
//!
//! Decodes arbitrary message bytes against arbitrary RPC tags, as
//! `rpc_recv` does for a kernel. Input: one byte `n`, then `n` bytes of tags,
//! then the message bytes.
//!
//! The decoder must never panic; what `storage_needed` sizes must decode
//! into exactly that much storage (the fuzzer's address sanitizer sees any
//! write past the slot or the storage), and a decoded value must re-encode
//! to the bytes it was decoded from. The same tags and bytes are then
//! received value by value through an `Inbox`, the kernel's two-call
//! protocol.

use libksupport::rpc::{self, Inbox};

/// Storage the harness is willing to lend a value (a kernel would raise
/// an out-of-memory exception beyond its heap).
const MAX_STORAGE: usize = 1 << 20;

/// A zeroed, 8-byte aligned buffer of at least `bytes` bytes.
fn buffer(bytes: usize) -> Vec<u64> {
    vec![0u64; bytes.div_ceil(8).max(1)]
}

fn one_value(tag: &[u8], bytes: &[u8]) {
    let Ok((size, align)) = rpc::layout(tag) else { return };
    assert!(align.is_power_of_two() && align <= 8, "layout {:?}", (size, align));
    let need = match rpc::storage_needed(tag, bytes) {
        Ok(need) => need,
        Err(_) => {
            // Whatever cannot be sized cannot be decoded either.
            let mut slot = buffer(size);
            let mut storage = buffer(MAX_STORAGE.min(4096));
            // SAFETY: the slot holds the layout's `size` bytes; a storage
            // size of 0 lets the decoder write none of the 4 KiB lent.
            let r = unsafe { rpc::decode(tag, bytes, slot.as_mut_ptr().cast(), storage.as_mut_ptr().cast(), 0) };
            assert!(r.is_err());
            return;
        }
    };
    if need > MAX_STORAGE {
        return;
    }
    let mut slot = buffer(size);
    let mut storage = buffer(need);
    // SAFETY: the slot holds `size` bytes, the storage `need`.
    let used = unsafe { rpc::decode(tag, bytes, slot.as_mut_ptr().cast(), storage.as_mut_ptr().cast(), need) }
        .expect("a value storage_needed sized decodes");
    assert!(used <= bytes.len());
    if need > 0 {
        // Too little storage is refused, not overrun.
        let mut small = buffer(need - 1);
        // SAFETY: the slot holds `size` bytes, `small` at least `need - 1`.
        let r = unsafe { rpc::decode(tag, bytes, slot.as_mut_ptr().cast(), small.as_mut_ptr().cast(), need - 1) };
        assert_eq!(r, Err(rpc::RpcError::StorageTooSmall));
        // The failed attempt may have overwritten the slot: decode again.
        // SAFETY: as the first decode: `size` bytes of slot, `need` of storage.
        unsafe { rpc::decode(tag, bytes, slot.as_mut_ptr().cast(), storage.as_mut_ptr().cast(), need) }.unwrap();
    }
    let mut out = Vec::new();
    // SAFETY: the slot holds a value just decoded, pointing into `storage`.
    unsafe { rpc::encode(tag, slot.as_ptr().cast(), &mut out) }.expect("a decoded value re-encodes");
    assert_eq!(out, &bytes[..used], "tag {:?}", tag);
}

fn inbox(tags: &[u8], bytes: &[u8]) {
    // The values' tags, as the kernel's call gives them.
    let mut values = Vec::new();
    let mut at = 0;
    while let Some(rest) = tags.get(at..).filter(|r| !r.is_empty()) {
        let Ok(n) = rpc::tag_len(rest) else { break };
        values.push(&rest[..n]);
        at += n;
    }
    // SAFETY: `bytes` and `tags` outlive the inbox.
    let mut inbox = unsafe { Inbox::new(bytes, tags) };
    let mut keep: Vec<Vec<u64>> = Vec::new();
    for (i, tag) in values.iter().enumerate() {
        let Ok((size, _)) = rpc::layout(tag) else { return };
        let mut slot = buffer(size);
        let mut ptr: *mut u8 = slot.as_mut_ptr().cast();
        for call in 0.. {
            // SAFETY: `ptr` is the value's slot (its layout's size) or
            // storage of the size the previous call asked for.
            match unsafe { inbox.recv(ptr) } {
                Ok(0) => break,
                Ok(need) => {
                    assert_eq!(call, 0, "value {i}: storage asked for twice");
                    if need > MAX_STORAGE {
                        return;
                    }
                    keep.push(buffer(need));
                    ptr = keep.last_mut().unwrap().as_mut_ptr().cast();
                }
                Err(_) => return,
            }
        }
        keep.push(slot);
    }
}

/// One fuzz input.
pub fn run(input: &[u8]) {
    let Some((&n, rest)) = input.split_first() else { return };
    let (tags, bytes) = rest.split_at((n as usize).min(rest.len()));
    if let Ok(len) = rpc::tag_len(tags) {
        one_value(&tags[..len], bytes);
    }
    inbox(tags, bytes);
}
