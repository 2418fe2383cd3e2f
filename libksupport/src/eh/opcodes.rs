//! The EHABI frame-unwinding instructions (ARM IHI 0038 §10.3), as the
//! compact personalities 0/1/2 and ARTIQ's generic entries use them.
//!
//! | opcode | meaning |
//! |---|---|
//! | `00xxxxxx` | vsp += (x << 2) + 4 |
//! | `01xxxxxx` | vsp −= (x << 2) + 4 |
//! | `10000000 00000000` | refuse to unwind |
//! | `1000iiii iiiiiiii` | pop r4–r15 under mask (r4 = bit 0 of the 2nd byte) |
//! | `1001nnnn` | vsp = r[n] (n ≠ 13, 15) |
//! | `10100nnn` / `10101nnn` | pop r4–r[4+n] / and r14 |
//! | `10110000` | finish |
//! | `10110001 0000iiii` | pop r0–r3 under mask |
//! | `10110010 uleb128` | vsp += 0x204 + (uleb128 << 2) |
//! | `10110011 sssscccc` | pop d[s]–d[s+c] saved by FSTMFDX (+ 1 pad word) |
//! | `10111nnn` | pop d8–d[8+n] saved by FSTMFDX |
//! | `11001000 sssscccc` | pop d[16+s]–d[16+s+c] saved by VPUSH |
//! | `11001001 sssscccc` | pop d[s]–d[s+c] saved by VPUSH |
//! | `11010nnn` | pop d8–d[8+n] saved by VPUSH |
//!
//! Everything else (iWMMXt, the return-address authentication code, spare
//! encodings) is refused with [`Error::BadOpcode`]. Registers are popped
//! lowest-numbered first from vsp upwards. Popping r13 sets vsp to the
//! loaded value. At the end, if r15 was not popped, it gets r14's value (the
//! return address), and r13 gets vsp.

use super::{read32, Error, Memory, Regs, PC, SP};

/// The opcode bytes of one entry: up to three in the first word (most
/// significant first), then `more` further words at `words_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opcodes {
    /// Bytes not yet taken from the first word, right-aligned.
    first: u32,
    first_len: u8,
    words_at: u32,
    more: u32,
    /// The word being consumed and how many bytes of it are left.
    cur: u32,
    cur_len: u8,
}

impl Opcodes {
    /// `len` (≤ 3) opcode bytes in the low bytes of `first`, then `more`
    /// words at `words_at`.
    pub fn new(first: u32, len: u8, words_at: u32, more: u32) -> Opcodes {
        Opcodes { first, first_len: len.min(3), words_at, more, cur: 0, cur_len: 0 }
    }

    /// Just the low `len` bytes of one word.
    pub fn inline(word: u32, len: u8) -> Opcodes {
        Opcodes::new(word, len, 0, 0)
    }

    /// The next opcode byte; `Ok(None)` after the last.
    pub fn next<M: Memory + ?Sized>(&mut self, mem: &M) -> Result<Option<u8>, Error> {
        if self.first_len > 0 {
            self.first_len -= 1;
            return Ok(Some((self.first >> (8 * self.first_len)) as u8));
        }
        if self.cur_len == 0 {
            if self.more == 0 {
                return Ok(None);
            }
            self.cur = read32(mem, self.words_at)?;
            self.cur_len = 4;
            self.more -= 1;
            self.words_at = self.words_at.checked_add(4).ok_or(Error::BadRead(self.words_at))?;
        }
        self.cur_len -= 1;
        Ok(Some((self.cur >> (8 * self.cur_len)) as u8))
    }

    fn operand<M: Memory + ?Sized>(&mut self, mem: &M, op: u8) -> Result<u8, Error> {
        self.next(mem)?.ok_or(Error::Malformed("unwind opcode without its operand", op as u32))
    }
}

/// Moves `regs` from a frame to its caller by running the frame's opcodes.
pub fn execute<M: Memory + ?Sized>(mem: &M, ops: &mut Opcodes, regs: &mut Regs) -> Result<(), Error> {
    let mut vsp = regs.r[SP];
    let mut pc_set = false;
    let grow = |vsp: u32, by: u32| vsp.checked_add(by).ok_or(Error::Malformed("vsp overflow", vsp));
    // Each opcode consumes at least one byte and there are at most
    // 3 + 4 × 255 of them: the loop is bounded by the stream.
    while let Some(op) = ops.next(mem)? {
        match op {
            0x00..=0x3f => vsp = grow(vsp, ((op as u32 & 0x3f) << 2) + 4)?,
            0x40..=0x7f => {
                vsp = vsp.checked_sub(((op as u32 & 0x3f) << 2) + 4).ok_or(Error::Malformed("vsp underflow", vsp))?
            }
            0x80..=0x8f => {
                let low = ops.operand(mem, op)?;
                let mask = ((op as u32 & 0x0f) << 8) | low as u32;
                if mask == 0 {
                    return Err(Error::RefuseToUnwind);
                }
                let mut new_sp = None;
                for i in 0..12 {
                    if mask & (1 << i) != 0 {
                        let v = read32(mem, vsp)?;
                        vsp = grow(vsp, 4)?;
                        let reg = 4 + i;
                        if reg == SP {
                            new_sp = Some(v);
                        } else {
                            regs.r[reg] = v;
                        }
                        pc_set |= reg == PC;
                    }
                }
                if let Some(sp) = new_sp {
                    vsp = sp;
                }
            }
            0x90..=0x9f => {
                let n = (op & 0x0f) as usize;
                if n == SP || n == PC {
                    return Err(Error::BadOpcode(op));
                }
                vsp = regs.r[n];
            }
            0xa0..=0xaf => {
                let last = 4 + (op & 0x07) as usize;
                for reg in 4..=last {
                    regs.r[reg] = read32(mem, vsp)?;
                    vsp = grow(vsp, 4)?;
                }
                if op & 0x08 != 0 {
                    regs.r[14] = read32(mem, vsp)?;
                    vsp = grow(vsp, 4)?;
                }
            }
            0xb0 => break,
            0xb1 => {
                let mask = ops.operand(mem, op)?;
                if mask == 0 || mask & 0xf0 != 0 {
                    return Err(Error::BadOpcode(op));
                }
                for reg in 0..4 {
                    if mask & (1 << reg) != 0 {
                        regs.r[reg] = read32(mem, vsp)?;
                        vsp = grow(vsp, 4)?;
                    }
                }
            }
            0xb2 => {
                // uleb128 in the following opcode bytes.
                let mut value: u32 = 0;
                let mut shift = 0;
                loop {
                    let b = ops.operand(mem, op)?;
                    if shift >= 32 || (shift > 0 && (b as u32 & 0x7f) >> (32 - shift) != 0) {
                        return Err(Error::Malformed("vsp increment", vsp));
                    }
                    value |= (b as u32 & 0x7f) << shift;
                    shift += 7;
                    if b & 0x80 == 0 {
                        break;
                    }
                }
                let by = value.checked_mul(4).and_then(|v| v.checked_add(0x204)).ok_or(Error::Malformed("vsp increment", vsp))?;
                vsp = grow(vsp, by)?;
            }
            0xb3 => {
                let sc = ops.operand(mem, op)?;
                vsp = pop_d(mem, regs, vsp, (sc >> 4) as usize, (sc & 0x0f) as usize, 15)?;
                vsp = grow(vsp, 4)?;
            }
            0xb8..=0xbf => {
                vsp = pop_d(mem, regs, vsp, 8, (op & 0x07) as usize, 15)?;
                vsp = grow(vsp, 4)?;
            }
            0xc8 | 0xc9 => {
                let sc = ops.operand(mem, op)?;
                let base = if op == 0xc8 { 16 } else { 0 };
                vsp = pop_d(mem, regs, vsp, base + (sc >> 4) as usize, (sc & 0x0f) as usize, 31)?;
            }
            0xd0..=0xd7 => vsp = pop_d(mem, regs, vsp, 8, (op & 0x07) as usize, 15)?,
            // 0xb4–0xb7 (spare, PAC), 0xc0–0xc7 (iWMMXt), 0xca–0xcf and
            // 0xd8–0xff (spare).
            _ => return Err(Error::BadOpcode(op)),
        }
    }
    if !pc_set {
        regs.r[PC] = regs.r[14];
    }
    regs.r[SP] = vsp;
    Ok(())
}

/// Pops d[first] .. d[first + extra] (each two words, low word first);
/// refuses registers past `max`.
fn pop_d<M: Memory + ?Sized>(mem: &M, regs: &mut Regs, mut vsp: u32, first: usize, extra: usize, max: usize) -> Result<u32, Error> {
    let last = first + extra;
    if last > max {
        return Err(Error::Malformed("VFP register range", last as u32));
    }
    for reg in first..=last {
        let lo = read32(mem, vsp)? as u64;
        let hi = read32(mem, vsp.checked_add(4).ok_or(Error::BadRead(vsp))?)? as u64;
        regs.d[reg] = hi << 32 | lo;
        vsp = vsp.checked_add(8).ok_or(Error::Malformed("vsp overflow", vsp))?;
    }
    Ok(vsp)
}
