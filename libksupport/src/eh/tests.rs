use std::vec::Vec;
use std::{format, vec};

use proptest::prelude::*;

use super::exidx::{extab_entry, prel31};
use super::inflight::{InFlight, State, MAX_IN_FLIGHT, TEXT_MAX};
use super::lsda::{self, FrameAction};
use super::opcodes::execute;
use super::*;
use crate::exception::{CSlice, Exception};

/// Memory made of byte regions at fixed addresses.
#[derive(Default, Clone)]
struct Mem {
    regions: Vec<(u32, Vec<u8>)>,
}

impl Mem {
    fn with(regions: &[(u32, &[u8])]) -> Mem {
        Mem { regions: regions.iter().map(|(a, b)| (*a, b.to_vec())).collect() }
    }

    fn region(&mut self, at: u32, len: usize) -> &mut Self {
        self.regions.push((at, vec![0; len]));
        self
    }

    fn put(&mut self, addr: u32, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            let a = addr + i as u32;
            let r = self.regions.iter_mut().find(|(s, v)| a >= *s && a < *s + v.len() as u32).expect("address in a region");
            r.1[(a - r.0) as usize] = *b;
        }
    }

    fn word(&mut self, addr: u32, w: u32) {
        self.put(addr, &w.to_le_bytes());
    }

    fn words(&mut self, addr: u32, ws: &[u32]) {
        for (i, w) in ws.iter().enumerate() {
            self.word(addr + 4 * i as u32, *w);
        }
    }
}

impl Memory for Mem {
    fn read_u8(&self, addr: u32) -> Option<u8> {
        self.regions
            .iter()
            .find(|(s, v)| addr >= *s && ((addr - *s) as usize) < v.len())
            .map(|(s, v)| v[(addr - s) as usize])
    }
}

/// The PREL31 word at `place` pointing to `target`.
fn p31(place: u32, target: u32) -> u32 {
    target.wrapping_sub(place) & 0x7fff_ffff
}

// ---- exidx ------------------------------------------------------------------

#[test]
fn prel31_sign_extends_bit_30() {
    assert_eq!(prel31(0x1000, 0x10), 0x1010);
    assert_eq!(prel31(0x1000, 0x7fff_fff0), 0xff0);
    assert_eq!(prel31(0x1000, 0x8000_0010), 0x1010, "bit 31 is not part of the offset");
    assert_eq!(prel31(0x1000, p31(0x1000, 0x200)), 0x200);
}

/// A table at 0x1000: f0 at 0x100 (inline pr0), f1 at 0x200 (extab at
/// 0x2000), f2 at 0x300 (CANTUNWIND), f3 at 0x400 (extab, generic).
fn index_mem() -> Mem {
    let mut m = Mem::default();
    m.region(0x1000, 32).region(0x2000, 64);
    m.words(0x1000, &[p31(0x1000, 0x100), 0x80a8_b0b0]);
    m.words(0x1008, &[p31(0x1008, 0x200), p31(0x100c, 0x2000)]);
    m.words(0x1010, &[p31(0x1010, 0x300), exidx::CANTUNWIND]);
    m.words(0x1018, &[p31(0x1018, 0x400), p31(0x101c, 0x2010)]);
    // f1: compact pr1 with one more word: opcodes 0x97 0x84 | 0x03 0x80 0xb0 0xb0.
    m.words(0x2000, &[0x8101_9784, 0x0380_b0b0]);
    // f3: generic, personality at 0x1800, two more words, LSDA at 0x201c.
    m.words(0x2010, &[p31(0x2010, 0x1800), 0x02a8_b0b0, 0xb0b0_b0b0, 0xb0b0_b0b0]);
    m
}

fn all_ops(mem: &Mem, mut ops: Opcodes) -> Vec<u8> {
    let mut v = Vec::new();
    while let Some(b) = ops.next(mem).unwrap() {
        v.push(b);
    }
    v
}

#[test]
fn lookup_finds_the_covering_entry() {
    let m = index_mem();
    let t = 0x1000..0x1020;
    assert_eq!(lookup(&m, &t, 0xff).unwrap(), Lookup::NotFound);
    let Lookup::Found(e) = lookup(&m, &t, 0x100).unwrap() else { panic!() };
    assert_eq!((e.fn_start, e.personality), (0x100, Personality::Compact(0)));
    assert_eq!(all_ops(&m, e.opcodes), [0xa8, 0xb0, 0xb0]);
    let Lookup::Found(e) = lookup(&m, &t, 0x2ff).unwrap() else { panic!() };
    assert_eq!((e.fn_start, e.personality), (0x200, Personality::Compact(1)));
    assert_eq!(all_ops(&m, e.opcodes), [0x97, 0x84, 0x03, 0x80, 0xb0, 0xb0]);
    assert_eq!(lookup(&m, &t, 0x300).unwrap(), Lookup::CantUnwind);
    assert_eq!(lookup(&m, &t, 0x3ff).unwrap(), Lookup::CantUnwind);
    let Lookup::Found(e) = lookup(&m, &t, 0x1234_5678).unwrap() else { panic!() };
    assert_eq!(e.personality, Personality::Generic { routine: 0x1800, lsda: 0x2020 });
    assert_eq!(all_ops(&m, e.opcodes).len(), 3 + 8);
    // Empty and one-entry tables.
    assert_eq!(lookup(&m, &(0x1000..0x1000), 0x100).unwrap(), Lookup::NotFound);
    assert!(matches!(lookup(&m, &(0x1000..0x1008), 0x5000).unwrap(), Lookup::Found(e) if e.fn_start == 0x100));
}

#[test]
fn lookup_rejects_malformed_tables() {
    let mut m = index_mem();
    assert!(matches!(lookup(&m, &(0x1001..0x1021), 0x100), Err(Error::Malformed(..))));
    assert!(matches!(lookup(&m, &(0x1000..0x1030), 0x500), Err(Error::BadRead(_))));
    m.word(0x1008, 0x8000_0000);
    assert!(matches!(lookup(&m, &(0x1000..0x1020), 0x250), Err(Error::Malformed(..))));
    // An inline entry naming personality 1.
    let mut m = index_mem();
    m.word(0x1004, 0x8100_b0b0);
    assert!(matches!(lookup(&m, &(0x1000..0x1008), 0x100), Err(Error::Malformed(..))));
}

#[test]
fn extab_entries_of_each_model() {
    let mut m = Mem::default();
    m.region(0x100, 64);
    m.words(0x100, &[0x80a8_b0b0]);
    let e = extab_entry(&m, 0x10, 0x100).unwrap();
    assert_eq!(all_ops(&m, e.opcodes), [0xa8, 0xb0, 0xb0]);
    m.words(0x110, &[0x8200_c908]);
    let e = extab_entry(&m, 0x10, 0x110).unwrap();
    assert_eq!((e.personality, all_ops(&m, e.opcodes)), (Personality::Compact(2), vec![0xc9, 0x08]));
    m.words(0x120, &[0x8300_0000]);
    assert!(matches!(extab_entry(&m, 0x10, 0x120), Err(Error::Unsupported(..))));
    // Generic: count byte 0xff would need 255 more words: the LSDA address
    // is computed, the opcode reads fail when they leave memory.
    m.words(0x130, &[p31(0x130, 0x50), 0xff00_0000]);
    let e = extab_entry(&m, 0x10, 0x130).unwrap();
    assert_eq!(e.personality, Personality::Generic { routine: 0x50, lsda: 0x138 + 4 * 255 });
    let mut ops = e.opcodes;
    let mut regs = Regs::default();
    assert!(execute(&m, &mut ops, &mut regs).is_err());
}

// ---- opcodes -------------------------------------------------------------------

const STACK: u32 = 0x8000;

/// A stack of `n` words at STACK holding 0x1000 + 4 × index, and regs with
/// sp = STACK and lr = 0xabc.
fn stack_mem(n: usize) -> (Mem, Regs) {
    let mut m = Mem::default();
    m.region(STACK, 4 * n);
    for i in 0..n as u32 {
        m.word(STACK + 4 * i, 0x1000 + 4 * i);
    }
    let mut regs = Regs::default();
    regs.r[SP] = STACK;
    regs.r[LR] = 0xabc;
    (m, regs)
}

fn run(ops: &[u8], m: &Mem, regs: &mut Regs) -> Result<(), Error> {
    assert!(ops.len() <= 3 + 4);
    let mut w = [0xb0u8; 7];
    w[..ops.len()].copy_from_slice(ops);
    let first = u32::from_be_bytes([0, w[0], w[1], w[2]]);
    let mut mm = m.clone();
    mm.region(0xf000, 4);
    mm.put(0xf000, &[w[6], w[5], w[4], w[3]]);
    let mut o = Opcodes::new(first, 3, 0xf000, 1);
    execute(&mm, &mut o, regs)
}

#[test]
fn vsp_adjustments() {
    let (m, mut r) = stack_mem(4);
    run(&[0x03], &m, &mut r).unwrap();
    assert_eq!(r.r[SP], STACK + 16);
    assert_eq!(r.r[PC], 0xabc, "pc = lr when r15 is not popped");
    let (m, mut r) = stack_mem(4);
    run(&[0x3f, 0x41], &m, &mut r).unwrap();
    assert_eq!(r.r[SP], STACK + 256 - 8);
    let (m, mut r) = stack_mem(4);
    run(&[0x40], &m, &mut r).unwrap();
    assert_eq!(r.r[SP], STACK - 4);
    // uleb128 form: 0x204 + (0x81 0x01 = 129) << 2.
    let (m, mut r) = stack_mem(4);
    run(&[0xb2, 0x81, 0x01], &m, &mut r).unwrap();
    assert_eq!(r.r[SP], STACK + 0x204 + 129 * 4);
    let (m, mut r) = stack_mem(4);
    assert!(run(&[0xb2, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], &m, &mut r).is_err());
    let (m, mut r) = stack_mem(4);
    r.r[SP] = 2;
    assert!(run(&[0x40], &m, &mut r).is_err());
}

#[test]
fn pops_under_mask() {
    // pop {r4, r6, r11, r14}: 1000iiii iiiiiiii with r4 = bit 0 of byte 2.
    let (m, mut r) = stack_mem(8);
    run(&[0x84, 0x85], &m, &mut r).unwrap();
    assert_eq!((r.r[4], r.r[5], r.r[6], r.r[11], r.r[14]), (0x1000, 0, 0x1004, 0x1008, 0x100c));
    assert_eq!((r.r[SP], r.r[PC]), (STACK + 16, 0x100c));
    // pop {r4, pc}: pc from the stack, lr unchanged.
    let (m, mut r) = stack_mem(8);
    run(&[0x88, 0x01], &m, &mut r).unwrap();
    assert_eq!((r.r[4], r.r[PC], r.r[LR], r.r[SP]), (0x1000, 0x1004, 0xabc, STACK + 8));
    // pop {r13}: vsp becomes the loaded value.
    let (m, mut r) = stack_mem(8);
    run(&[0x82, 0x00], &m, &mut r).unwrap();
    assert_eq!(r.r[SP], 0x1000);
    // refuse to unwind.
    let (m, mut r) = stack_mem(8);
    assert_eq!(run(&[0x80, 0x00], &m, &mut r), Err(Error::RefuseToUnwind));
    // pop r4-r7; pop r4-r11 + r14.
    let (m, mut r) = stack_mem(16);
    run(&[0xa3], &m, &mut r).unwrap();
    assert_eq!((r.r[4], r.r[7], r.r[8], r.r[SP]), (0x1000, 0x100c, 0, STACK + 16));
    let (m, mut r) = stack_mem(16);
    run(&[0xaf], &m, &mut r).unwrap();
    assert_eq!((r.r[4], r.r[11], r.r[14], r.r[PC], r.r[SP]), (0x1000, 0x101c, 0x1020, 0x1020, STACK + 36));
    // pop {r0, r2} (0xb1 0x05); spare masks.
    let (m, mut r) = stack_mem(8);
    run(&[0xb1, 0x05], &m, &mut r).unwrap();
    assert_eq!((r.r[0], r.r[1], r.r[2], r.r[SP]), (0x1000, 0, 0x1004, STACK + 8));
    for bad in [0x00, 0x10, 0xf1] {
        let (m, mut r) = stack_mem(8);
        assert_eq!(run(&[0xb1, bad], &m, &mut r), Err(Error::BadOpcode(0xb1)));
    }
    // Reads past the stack fail.
    let (m, mut r) = stack_mem(2);
    assert_eq!(run(&[0xaf], &m, &mut r), Err(Error::BadRead(STACK + 8)));
}

#[test]
fn set_vsp_from_a_register_then_pop() {
    // The frame-pointer pattern: vsp = r11; vsp -= 36; pop d8; pop r4-r11, lr.
    let (m, mut r) = stack_mem(16);
    r.r[11] = STACK + 8 + 36;
    run(&[0x9b, 0x48, 0xc9, 0x80, 0xaf], &m, &mut r).unwrap();
    assert_eq!(r.d[8], 0x1008_u64 | (0x100c_u64 << 32));
    assert_eq!((r.r[4], r.r[11], r.r[PC]), (0x1010, 0x102c, 0x1030));
    assert_eq!(r.r[SP], STACK + 8 + 8 + 36);
    for bad in [0x9d, 0x9f] {
        let (m, mut r) = stack_mem(4);
        assert_eq!(run(&[bad], &m, &mut r), Err(Error::BadOpcode(bad)));
    }
}

#[test]
fn vfp_pops_in_both_formats() {
    let d = |i: u32| (0x1000 + 4 * i) as u64 | ((0x1004 + 4 * i) as u64) << 32;
    // FSTMFDX d8-d9 (0xb9): two registers, then the pad word.
    let (m, mut r) = stack_mem(16);
    run(&[0xb9], &m, &mut r).unwrap();
    assert_eq!((r.d[8], r.d[9], r.r[SP]), (d(0), d(2), STACK + 20));
    // FSTMFDX d2-d3 (0xb3 0x21).
    let (m, mut r) = stack_mem(16);
    run(&[0xb3, 0x21], &m, &mut r).unwrap();
    assert_eq!((r.d[2], r.d[3], r.r[SP]), (d(0), d(2), STACK + 20));
    // VPUSH d8-d10 (0xd2), no pad word.
    let (m, mut r) = stack_mem(16);
    run(&[0xd2], &m, &mut r).unwrap();
    assert_eq!((r.d[8], r.d[10], r.r[SP]), (d(0), d(4), STACK + 24));
    // VPUSH d17-d18 (0xc8 0x11) and d0 (0xc9 0x00).
    let (m, mut r) = stack_mem(16);
    run(&[0xc8, 0x11, 0xc9, 0x00], &m, &mut r).unwrap();
    assert_eq!((r.d[17], r.d[18], r.d[0], r.r[SP]), (d(0), d(2), d(4), STACK + 24));
    // Ranges past d15 / d31.
    let (m, mut r) = stack_mem(64);
    assert!(matches!(run(&[0xb3, 0xf1], &m, &mut r), Err(Error::Malformed(..))));
    let (m, mut r) = stack_mem(64);
    assert!(matches!(run(&[0xc8, 0xf1], &m, &mut r), Err(Error::Malformed(..))));
}

#[test]
fn finish_and_refused_opcodes() {
    // Nothing after finish runs.
    let (m, mut r) = stack_mem(4);
    run(&[0xb0, 0x3f], &m, &mut r).unwrap();
    assert_eq!(r.r[SP], STACK);
    for op in [0xb4u8, 0xb5, 0xb7, 0xc0, 0xc5, 0xc6, 0xc7, 0xca, 0xcf, 0xd8, 0xff] {
        let (m, mut r) = stack_mem(4);
        assert_eq!(run(&[op, 0x00], &m, &mut r), Err(Error::BadOpcode(op)), "{op:#x}");
    }
    // A two-byte opcode cut short.
    let (m, mut r) = stack_mem(4);
    let mut o = Opcodes::inline(0x84, 1);
    assert!(matches!(execute(&m, &mut o, &mut r), Err(Error::Malformed(..))));
}

// ---- LSDA ---------------------------------------------------------------------

const FUNC: u32 = 0x100;
const LSDA: u32 = 0x3000;
const IDS: u32 = 0x3800;

/// An LSDA at LSDA for a function at FUNC with call sites
/// [0x10, 0x18) → pad 0x40 catching id 18 then IndexError (10),
/// [0x20, 0x24) → pad 0x50 cleanup, [0x28, 0x2c) → no pad,
/// [0x30, 0x34) → pad 0x60: catch IndexError, then cleanup,
/// [0x34, 0x38) → pad 0x70: catch all.
fn lsda_mem() -> Mem {
    let mut m = Mem::default();
    m.region(LSDA, 256).region(IDS, 16);
    m.words(IDS, &[18, 10]);
    let mut b: Vec<u8> = vec![0xff, 0x00];
    let cs: Vec<u8> = vec![
        0x10, 0x08, 0x40, 1, // action 1: (1, next→ action 3)
        0x20, 0x04, 0x50, 0, //
        0x28, 0x04, 0x00, 0, //
        0x30, 0x04, 0x60, 5, // action 5: (2, next→(0,0))
        0x34, 0x04, 0x70, 9, // action 9: (3, 0)
    ];
    // Actions at offsets 0, 2, 4, 6, 8 (1-based: 1, 3, 5, 7, 9).
    let actions: Vec<u8> = vec![1, 1, 2, 0, 2, 1, 0, 0, 3, 0];
    // Type table: 3 entries (filter 1 = last): [3] catch-all, [2] IndexError, [1] ValueError.
    let tt_len = 12u32;
    let after_tt_ref = 2 + 1 + 1 + 1 + cs.len() + actions.len();
    let pad = (4 - (after_tt_ref as u32 + LSDA) % 4) % 4;
    let tt_off = 1 + 1 + cs.len() as u32 + actions.len() as u32 + pad + tt_len;
    b.push(tt_off as u8);
    b.push(0x01);
    b.push(cs.len() as u8);
    b.extend(&cs);
    b.extend(&actions);
    b.extend(std::iter::repeat_n(0u8, pad as usize));
    let tt = LSDA + b.len() as u32;
    b.extend(0u32.to_le_bytes()); // filter 3: catch all
    b.extend((IDS + 4).wrapping_sub(tt + 4).to_le_bytes()); // filter 2: IndexError
    b.extend(IDS.wrapping_sub(tt + 8).to_le_bytes()); // filter 1: ValueError
    m.put(LSDA, &b);
    m
}

#[test]
fn lsda_header_and_call_sites() {
    let m = lsda_mem();
    let h = lsda::header(&m, LSDA, FUNC).unwrap();
    assert_eq!((h.lp_start, h.ttype_enc, h.call_site_enc), (FUNC, 0, 1));
    assert_eq!(h.actions - h.call_sites, 20);
    assert_eq!(lsda::call_site(&m, &h, FUNC + 0x10).unwrap(), Some((FUNC + 0x40, 1)));
    assert_eq!(lsda::call_site(&m, &h, FUNC + 0x17).unwrap(), Some((FUNC + 0x40, 1)));
    assert_eq!(lsda::call_site(&m, &h, FUNC + 0x18).unwrap(), None);
    assert_eq!(lsda::call_site(&m, &h, FUNC + 0x28).unwrap(), Some((0, 0)));
    assert_eq!(lsda::catch_type(&m, &h, 1).unwrap(), Some(18));
    assert_eq!(lsda::catch_type(&m, &h, 2).unwrap(), Some(10));
    assert_eq!(lsda::catch_type(&m, &h, 3).unwrap(), None);
}

#[test]
fn frame_actions_follow_the_chains() {
    let m = lsda_mem();
    let act = |off: u32, id: u32| lsda::frame_action(&m, LSDA, FUNC, FUNC + off, id).unwrap();
    assert_eq!(act(0x12, 18), FrameAction::Catch(FUNC + 0x40));
    assert_eq!(act(0x12, 10), FrameAction::Catch(FUNC + 0x40), "second clause of the chain");
    assert_eq!(act(0x12, 11), FrameAction::Continue);
    assert_eq!(act(0x20, 11), FrameAction::Cleanup(FUNC + 0x50));
    assert_eq!(act(0x28, 18), FrameAction::Continue, "no landing pad");
    assert_eq!(act(0x0, 18), FrameAction::Continue, "no call site");
    assert_eq!(act(0x30, 10), FrameAction::Catch(FUNC + 0x60));
    assert_eq!(act(0x30, 18), FrameAction::Cleanup(FUNC + 0x60), "cleanup in the chain");
    assert_eq!(act(0x34, 12345), FrameAction::Catch(FUNC + 0x70), "catch-all");
}

#[test]
fn lsda_encodings_and_garbage() {
    // LPStart given (udata4, absolute), TType omitted, a cleanup.
    let mut m = Mem::default();
    m.region(LSDA, 32);
    let mut b = vec![0x03];
    b.extend(0x500u32.to_le_bytes());
    b.extend([0xff, 0x01, 4, 0x00, 0x04, 0x08, 0x00]);
    m.put(LSDA, &b);
    assert_eq!(lsda::frame_action(&m, LSDA, FUNC, 0x502, 1).unwrap(), FrameAction::Cleanup(0x508));
    // A catch clause without a type table.
    m.put(LSDA + 5, &[0xff, 0x01, 4, 0x00, 0x04, 0x08, 0x01, 0x01, 0x00]);
    assert!(matches!(lsda::frame_action(&m, LSDA, FUNC, 0x502, 1), Err(Error::Malformed(..))));
    // Unsupported call-site and LPStart encodings.
    m.put(LSDA, &[0xff, 0xff, 0x13]);
    assert!(matches!(lsda::frame_action(&m, LSDA, FUNC, 0x502, 1), Err(Error::Unsupported(..))));
    m.put(LSDA, &[0x05]);
    assert!(matches!(lsda::frame_action(&m, LSDA, FUNC, 0x502, 1), Err(Error::Unsupported(..))));
    // An action chain that loops on itself.
    let mut m = Mem::default();
    m.region(LSDA, 32);
    m.put(LSDA, &[0xff, 0xff, 0x01, 4, 0x00, 0x04, 0x08, 0x01, 0x00, 0x7f]);
    assert!(matches!(lsda::frame_action(&m, LSDA, FUNC, FUNC, 1), Err(Error::Malformed("action chain", _))));
    // Overlong leb128.
    m.put(LSDA, &[0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(matches!(lsda::frame_action(&m, LSDA, FUNC, FUNC, 1), Err(Error::Malformed(..))));
}

// ---- walk -----------------------------------------------------------------------

/// Two functions with ARTIQ-like entries, `inner` at 0x100 (pop {r4, r5,
/// r11, lr} after `vsp += 8`, cleanup pad at 0x140 for the call at
/// 0x110) and `outer` at 0x200 (frame pointer r11 = sp + 8, pop d8, pop
/// {r4, r11, lr}; handler at 0x240 for ValueError around the call at 0x210),
/// then a CANTUNWIND entry at 0x300. Stack: inner's frame at 0x8000,
/// outer's at 0x8018.
fn two_frames() -> (Mem, Image, Regs) {
    let mut m = Mem::default();
    m.region(0x100, 0x300).region(0x1000, 24).region(0x2000, 0x80).region(0x8000, 0x40);
    m.words(0x1000, &[p31(0x1000, 0x100), p31(0x1004, 0x2000)]);
    m.words(0x1008, &[p31(0x1008, 0x200), p31(0x100c, 0x2040)]);
    m.words(0x1010, &[p31(0x1010, 0x300), 1]);
    // inner: generic; one more word; ops 0x01 (vsp += 8), 0x84 0x83 (pop
    // {r4, r5, r11, r14}: mask bits 0, 1, 7, 10), finish.
    m.words(0x2000, &[p31(0x2000, 0x900), 0x0101_8483, 0xb0b0_b0b0]);
    // inner's LSDA at 0x200c: call site [0x10, 0x14) → 0x40, cleanup.
    m.put(0x200c, &[0xff, 0xff, 0x01, 4, 0x10, 0x04, 0x40, 0x00]);
    // outer: ops 0x9b (vsp = r11), 0x41 (vsp -= 8), 0xc9 0x80 (pop d8),
    // 0x84 0x81 (pop {r4, r11, r14}), finish.
    m.words(0x2040, &[p31(0x2040, 0x900), 0x019b_41c9, 0x8084_81b0]);
    // outer's LSDA at 0x204c: TType absptr, call site [0x10, 0x14) → 0x40 action 1; type → id at 0x2070.
    let lsda = 0x204c;
    let b = [0xff, 0x00, 0x0d, 0x01, 4, 0x10, 0x04, 0x40, 0x01, 0x01, 0x00];
    m.put(lsda, &b);
    // tt_ref at lsda+3; tt base = lsda + 3 + 0x0b = 0x205a → entry at 0x2056.
    let tt_entry = lsda + 3 + 0x0d - 4;
    assert!(tt_entry >= lsda + b.len() as u32);
    m.word(0x2070, 18);
    m.put(tt_entry, &0x2070u32.wrapping_sub(tt_entry).to_le_bytes());
    // Stack. inner at sp 0x8000: 8 bytes of locals, then r4, r5, r11, lr.
    m.words(0x8008, &[0x4444, 0x5555, 0x8028, 0x214]);
    // outer at sp 0x8018: locals 8, d8 at 0x8020, then r4, r11, lr (r11 = 0x8028 points at d8 + 8).
    m.words(0x8020, &[0xd8d8_0001, 0xd8d8_0002, 0x4040, 0xffff, 0x304]);
    let mut regs = Regs::at_call([0xa4, 0xa5, 0, 0, 0, 0, 0, 0xab], 0x8000, 0x114, [0; 8]);
    regs.r[11] = 0xab;
    let image = Image { code: 0x100..0x400, exidx: 0x1000..0x1018 };
    (m, image, regs)
}

#[test]
fn walk_finds_cleanup_then_handler() {
    let (m, image, regs) = two_frames();
    // The stack pop mask above was built by hand: check the opcodes.
    let Lookup::Found(e) = lookup(&m, &image.exidx, 0x113).unwrap() else { panic!() };
    assert_eq!(all_ops(&m, e.opcodes), [0x01, 0x84, 0x83, 0xb0, 0xb0, 0xb0, 0xb0]);
    let mut seen = Vec::new();
    let l = walk(&m, &image, &regs, 18, Phase::Search, &mut |r| seen.push((r.r[PC], r.r[SP]))).unwrap().unwrap();
    assert_eq!(seen, [(0x114, 0x8000), (0x214, 0x8018)]);
    assert_eq!((l.pad, l.kind, l.depth), (0x240, PadKind::Handler, 1));
    assert_eq!((l.regs.r[4], l.regs.r[5], l.regs.r[11], l.regs.r[SP]), (0x4444, 0x5555, 0x8028, 0x8018));
    // Phase 2 stops at inner's cleanup first, in inner's own frame.
    let l = walk(&m, &image, &regs, 18, Phase::Cleanup, &mut |_| {}).unwrap().unwrap();
    assert_eq!((l.pad, l.kind, l.depth, l.regs), (0x140, PadKind::Cleanup, 0, regs));
    // Another id: no handler; the walk ends at the CANTUNWIND frame.
    let mut seen = Vec::new();
    assert_eq!(walk(&m, &image, &regs, 10, Phase::Search, &mut |r| seen.push(*r)).unwrap(), None);
    let pc_sp: Vec<_> = seen.iter().map(|r| (r.r[PC], r.r[SP])).collect();
    assert_eq!(pc_sp, [(0x114, 0x8000), (0x214, 0x8018), (0x304, 0x8034)]);
    // outer popped d8 and {r4, r11}; r5 is still what inner restored.
    let last = seen[2];
    assert_eq!((last.d[8], last.r[4], last.r[5], last.r[11]), (0xd8d8_0002_d8d8_0001, 0x4040, 0x5555, 0xffff));
    // Resuming from inner's pad (a call at 0x150) goes on to outer.
    let mut at_pad = regs;
    at_pad.r[PC] = 0x154;
    let l = walk(&m, &image, &at_pad, 18, Phase::Cleanup, &mut |_| {}).unwrap().unwrap();
    assert_eq!((l.pad, l.kind, l.regs.r[SP], l.regs.r[11]), (0x240, PadKind::Handler, 0x8018, 0x8028));
}

#[test]
fn walk_stops_on_loops_and_outside_the_image() {
    let (mut m, image, regs) = two_frames();
    // inner's saved lr points back at itself with the same sp: no progress
    // is caught (here sp grows, so make inner pop nothing: vsp stays).
    let mut stuck = regs;
    stuck.r[PC] = 0x500;
    assert_eq!(walk(&m, &image, &stuck, 18, Phase::Search, &mut |_| {}).unwrap(), None);
    m.words(0x2004, &[0x01b0_b0b0, 0xb0b0_b0b0]);
    let mut r = regs;
    r.r[LR] = 0x114;
    assert!(matches!(walk(&m, &image, &r, 18, Phase::Search, &mut |_| {}), Err(Error::NoProgress { .. })));
}

// ---- garbage ------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random tables, opcodes, LSDAs and stacks: never a panic.
    #[test]
    fn random_bytes_never_panic(
        table in proptest::collection::vec(any::<u8>(), 0..128),
        extab in proptest::collection::vec(any::<u8>(), 0..512),
        stack in proptest::collection::vec(any::<u8>(), 0..256),
        r in proptest::array::uniform16(any::<u32>()),
        id in any::<u32>(),
        pc_off in 0u32..0x800,
    ) {
        let mut m = Mem::with(&[(0x1000, &table), (0x4000, &extab), (0x8000, &stack)]);
        // Make the index point into the extab area half of the time.
        if table.len() >= 8 && table[0] & 1 == 0 {
            let fn_word = p31(0x1000, 0x4000);
            m.word(0x1000, fn_word);
        }
        let mut regs = Regs { r, d: [0; 32] };
        regs.r[SP] = 0x8000 + (r[SP] % 0x100);
        regs.r[PC] = 0x4000 + pc_off;
        let image = Image { code: 0x4000..0x4800, exidx: 0x1000..0x1000 + (table.len() as u32 & !7) };
        for phase in [Phase::Search, Phase::Cleanup] {
            let _ = walk(&m, &image, &regs, id, phase, &mut |_| {});
        }
        let _ = lsda::frame_action(&m, 0x4000, 0x4000, 0x4000 + pc_off, id);
        let _ = extab_entry(&m, 0x4000, 0x4000);
        let mut ops = Opcodes::new(r[0] & 0xffffff, 3, 0x4000, r[1] & 0xff);
        let _ = execute(&m, &mut ops, &mut regs);
    }
}

// ---- exceptions in flight ---------------------------------------------------------

fn exn(id: u32, msg: &'static str) -> Exception {
    Exception { message: CSlice::new(msg), ..Exception::firmware(id, "", [0; 3]) }
}

#[test]
fn in_flight_raise_land_end() {
    let mut f = InFlight::new();
    // SAFETY: without `copy_text`, `raise` reads no string.
    let a = unsafe { f.raise(exn(18, "a"), core::ptr::null(), false) }.unwrap();
    assert_eq!(f.slot(a).state, State::Unwinding);
    f.landed(a, 0x8100, true);
    assert_eq!(f.slot(a).state, State::Caught);
    // A nested exception caught in a deeper frame, then ended.
    // SAFETY: as above.
    let b = unsafe { f.raise(exn(10, "b"), core::ptr::null(), false) }.unwrap();
    f.landed(b, 0x8000, true);
    assert_eq!(f.order(), [a as u8, b as u8]);
    f.end_catch();
    assert_eq!(f.order(), [a as u8]);
    // A bare `raise` of a's copy ends a first: one slot, a fresh copy.
    let origin = &f.slot(a).exn as *const Exception;
    let copy = f.slot(a).exn;
    // SAFETY: as above.
    let c = unsafe { f.raise(copy, origin, false) }.unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f.slot(c).exn.id, 18);
    // A cleanup pad, then resume continues that slot.
    f.landed(c, 0x8200, false);
    assert_eq!(f.resume(), Some(c));
    assert_eq!(f.slot(c).state, State::Unwinding);
    // Landing in an outer frame ends pads of frames it unwound.
    // SAFETY: as above.
    let d = unsafe { f.raise(exn(1, "d"), core::ptr::null(), false) }.unwrap();
    f.landed(d, 0x8300, true);
    assert_eq!(f.order(), [d as u8], "c's pad ran at 0x8200, below 0x8300");
    f.end_catch();
    assert!(f.is_empty());
    assert_eq!(f.resume(), None);
}

#[test]
fn in_flight_is_bounded_and_copies_firmware_text() {
    let mut f = InFlight::new();
    let mut text = std::string::String::from("firmware message {0}remote.py_Z1fv");
    let t = text.as_bytes();
    let e = Exception {
        message: CSlice::from_bytes(&t[..20]),
        file: CSlice::from_bytes(&t[20..29]),
        function: CSlice::from_bytes(&t[29..]),
        ..exn(0, "")
    };
    // SAFETY: the three strings point into `text`, alive and unchanged during the call.
    let s = unsafe { f.raise(e, core::ptr::null(), true) }.unwrap();
    text.clear();
    text.push_str("overwritten by the next raise");
    let x = &f.slot(s).exn;
    // SAFETY: the copies live in `f`'s slot, which is neither moved nor reused meanwhile.
    let strs = unsafe { (x.message.as_bytes(), x.file.as_bytes(), x.function.as_bytes()) };
    assert_eq!(strs, (&b"firmware message {0}"[..], &b"remote.py"[..], &b"_Z1fv"[..]));
    // Longer than the buffer: cut, never out of bounds.
    let long = [b'x'; 700];
    let e = Exception { message: CSlice::from_bytes(&long), ..exn(0, "") };
    // SAFETY: `long` is alive during the call.
    let l = unsafe { f.raise(e, core::ptr::null(), true) }.unwrap();
    assert_eq!(f.slot(l).exn.message.len as usize, TEXT_MAX);
    assert_eq!(f.slot(l).exn.file.len, 0);
    f.remove(l);
    // Fill up with handlers never ended: the oldest is given up.
    f.landed(s, 0x8000, true);
    for i in 1..MAX_IN_FLIGHT {
        // SAFETY: without `copy_text`, `raise` reads no string.
        let x = unsafe { f.raise(exn(i as u32, "x"), core::ptr::null(), false) }.unwrap();
        f.landed(x, 0x8000, true);
    }
    assert_eq!(f.len(), MAX_IN_FLIGHT);
    // SAFETY: as above.
    let y = unsafe { f.raise(exn(99, "y"), core::ptr::null(), false) }.unwrap();
    assert_eq!(f.len(), MAX_IN_FLIGHT);
    assert!(f.find_exception(&f.slot(y).exn).is_some());
    assert!(f.order().iter().all(|&i| f.slot(i as usize).exn.id != 0), "the oldest went");
    // All in cleanup pads: a further raise fails.
    let mut f = InFlight::new();
    for i in 0..MAX_IN_FLIGHT {
        // SAFETY: as above.
        let x = unsafe { f.raise(exn(i as u32, "x"), core::ptr::null(), false) }.unwrap();
        f.landed(x, 0x8000, false);
    }
    // SAFETY: as above.
    assert!(unsafe { f.raise(exn(99, "y"), core::ptr::null(), false) }.is_err());
    let ucb = &f.slot(3).ucb as *const _;
    assert_eq!(f.find_ucb(ucb), Some(3));
}

// ---- the test kernels' real tables --------------------------------------------------

mod built {
    use super::*;
    use crate::loader::Kernel;
    use elf::endian::LittleEndian;
    use elf::ElfBytes;
    use std::path::PathBuf;

    const BASE: u32 = 0x4000_0000;
    const SP0: u32 = 0x7000_0000;

    fn kernel(name: &str) -> Option<Vec<u8>> {
        let dir = match std::env::var_os("SATMAN_KERNELS_DIR") {
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../kernels/out")),
        };
        let p = dir.join(format!("{name}.elf"));
        match std::fs::read(&p) {
            Ok(b) => Some(b),
            Err(_) => {
                std::println!("skipped: {} not built (kernels/build.sh)", p.display());
                None
            }
        }
    }

    /// The image loaded at BASE, its exidx, and the symbol lookup.
    fn load(elf_bytes: &[u8]) -> (Vec<u8>, Image, impl Fn(&str) -> u32 + '_) {
        let k = Kernel::parse(elf_bytes).unwrap();
        let mut image = vec![0u8; k.size() as usize];
        let loaded = k.load(&mut image, BASE, &|_| Some(0x0010_0000)).unwrap();
        let file = ElfBytes::<LittleEndian>::minimal_parse(elf_bytes).unwrap();
        let sym = move |name: &str| {
            let (symtab, strtab) = file.symbol_table().unwrap().unwrap();
            let s = symtab.iter().find(|s| strtab.get(s.st_name as usize).ok() == Some(name)).unwrap_or_else(|| panic!("{name}"));
            BASE + s.st_value as u32
        };
        let img = Image { code: BASE..BASE + loaded.size, exidx: loaded.exidx.clone() };
        (image, img, sym)
    }

    /// The return address of the first call-site entry of `func`'s LSDA,
    /// and that entry's landing pad.
    fn first_call(m: &Mem, img: &Image, func: u32) -> (u32, u32) {
        let Lookup::Found(e) = lookup(m, &img.exidx, func).unwrap() else { panic!("no entry") };
        let Personality::Generic { lsda, .. } = e.personality else { panic!("not generic") };
        let h = lsda::header(m, lsda, e.fn_start).unwrap();
        let mut at = h.call_sites;
        let mut leb = || {
            let mut v = 0u32;
            for i in 0.. {
                let b = m.read_u8(at).unwrap();
                at += 1;
                v |= ((b & 0x7f) as u32) << (7 * i);
                if b & 0x80 == 0 {
                    break;
                }
            }
            v
        };
        let (start, len, pad) = (leb(), leb(), leb());
        assert_eq!(len, 4, "one bl");
        (func + start + 4, func + pad)
    }

    /// A stack with `func`'s frame as its prologue leaves it (push
    /// {r4-r11, lr}; r11 = sp + 28; vpush {d8}; sub sp, #76) below the
    /// caller's sp `caller_sp`: returns the body's sp.
    fn frame(m: &mut Mem, caller_sp: u32, saved_r4_r11: [u32; 8], lr: u32, d8: u64) -> (u32, u32) {
        let s1 = caller_sp - 36;
        for (i, v) in saved_r4_r11.iter().enumerate() {
            m.word(s1 + 4 * i as u32, *v);
        }
        m.word(s1 + 32, lr);
        m.word(s1 - 8, d8 as u32);
        m.word(s1 - 4, (d8 >> 32) as u32);
        (s1 - 8 - 76, s1 + 28)
    }

    #[test]
    fn catch_exception_lands_in_its_handler() {
        let Some(elf_bytes) = kernel("catch_exception") else { return };
        let (image, img, sym) = load(&elf_bytes);
        let mut m = Mem::with(&[(BASE, &image)]);
        m.region(SP0 - 0x400, 0x400);
        let f = sym("eh_catch_value_error");
        let (ret, pad) = first_call(&m, &img, f);
        let modinit = sym("__modinit__");
        let caller = [0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, SP0 - 4];
        let (sp, fp) = frame(&mut m, SP0 - 0x100, caller, modinit + 8, 0xd8);
        let mut regs = Regs::at_call([1, 2, 3, 4, 5, 6, 7, fp], sp, ret, [0x88, 0, 0, 0, 0, 0, 0, 0]);
        regs.r[11] = fp;
        let l = walk(&m, &img, &regs, 18, Phase::Search, &mut |_| {}).unwrap().unwrap();
        assert_eq!((l.pad, l.kind, l.depth), (pad, PadKind::Handler, 0));
        assert_eq!(l.regs, regs, "the raising frame itself");
        // IndexError is not caught: the walk unwinds to __modinit__ (CANTUNWIND).
        let mut seen = Vec::new();
        let none = walk(&m, &img, &regs, 10, Phase::Cleanup, &mut |r| seen.push(*r)).unwrap();
        assert_eq!(none, None);
        assert_eq!(seen.len(), 2);
        let up = seen[1];
        assert_eq!((&up.r[4..12], up.r[SP], up.r[PC], up.d[8]), (&caller[..], SP0 - 0x100, modinit + 8, 0xd8));
    }

    #[test]
    fn finally_then_catch_runs_the_cleanup_then_the_outer_handler() {
        let Some(elf_bytes) = kernel("finally_then_catch") else { return };
        let (image, img, sym) = load(&elf_bytes);
        let mut m = Mem::with(&[(BASE, &image)]);
        m.region(SP0 - 0x400, 0x400);
        let (inner, outer) = (sym("eh_finally_inner"), sym("eh_finally_outer"));
        let (inner_ret, inner_pad) = first_call(&m, &img, inner);
        let (outer_ret, outer_pad) = first_call(&m, &img, outer);
        let modinit = sym("__modinit__");
        let top = [0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77];
        let (osp, ofp) = frame(&mut m, SP0 - 0x80, top, modinit + 4, 0x1111);
        let outer_regs = [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, ofp];
        let (isp, ifp) = frame(&mut m, osp, outer_regs, outer_ret, 0x5555);
        let mut regs = Regs::at_call([0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, ifp], isp, inner_ret, [0x3333, 0, 0, 0, 0, 0, 0, 0]);
        regs.r[11] = ifp;
        // Search: only the outer handler.
        let mut bt = Vec::new();
        let l = walk(&m, &img, &regs, 18, Phase::Search, &mut |r| bt.push((r.r[PC] - BASE, r.r[SP]))).unwrap().unwrap();
        assert_eq!((l.pad, l.kind, l.depth), (outer_pad, PadKind::Handler, 1));
        assert_eq!(bt, [(inner_ret - BASE, isp), (outer_ret - BASE, osp)]);
        assert_eq!((&l.regs.r[4..12], l.regs.r[SP], l.regs.d[8]), (&outer_regs[..], osp, 0x5555));
        // Phase 2: inner's cleanup first.
        let c = walk(&m, &img, &regs, 18, Phase::Cleanup, &mut |_| {}).unwrap().unwrap();
        assert_eq!((c.pad, c.kind, c.depth), (inner_pad, PadKind::Cleanup, 0));
        // Resumed from the cleanup pad's call to __artiq_resume: on to outer.
        let mut resumed = regs;
        resumed.r[PC] = inner_pad + 8;
        let h = walk(&m, &img, &resumed, 18, Phase::Cleanup, &mut |_| {}).unwrap().unwrap();
        assert_eq!((h.pad, h.regs.r[SP], h.regs.r[11]), (outer_pad, osp, ofp));
    }
}
