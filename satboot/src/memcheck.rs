//! The DDR self-check after training: a bounded write/read test over a few
//! regions spread across the address space, over a small [`Words`] trait
//! so that the same code runs on DDR (volatile accesses) and, in tests, on
//! faulty memory models.
//!
//! Passes: walking ones and zeros on the first word of each region (data
//! lines), then every word of every region written with a value derived
//! from its address before any is read back (so an address line that does
//! not work, aliasing one region or word onto another, shows up), then the
//! same with the bits inverted (every cell holds both 0 and 1 once).

/// Word-addressed memory under test.
pub trait Words {
    /// Number of 32-bit words.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn write(&mut self, index: usize, value: u32);
    fn read(&mut self, index: usize) -> u32;
}

/// The first mismatch found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// Which region, and the word offset inside it.
    pub region: usize,
    pub word: usize,
    pub expected: u32,
    pub found: u32,
}

/// The value the address-pattern passes store at a word: the word's byte
/// address as seen by the caller (`base`) mixed with a constant, so that
/// neighbouring words and regions differ in many bits.
fn pattern(base: u32, word: usize, invert: bool) -> u32 {
    let v = base.wrapping_add((word as u32) << 2).rotate_left(7) ^ 0x5A5A_A5A5;
    if invert {
        !v
    } else {
        v
    }
}

/// Runs every pass over `regions` (`(base address, memory)`); returns the
/// number of words checked or the first mismatch.
pub fn check<W: Words>(regions: &mut [(u32, W)]) -> Result<u64, Mismatch> {
    let mut checked = 0u64;
    for (r, (_, mem)) in regions.iter_mut().enumerate() {
        if mem.is_empty() {
            continue;
        }
        for bit in 0..32 {
            for value in [1u32 << bit, !(1u32 << bit)] {
                mem.write(0, value);
                let found = mem.read(0);
                if found != value {
                    return Err(Mismatch {
                        region: r,
                        word: 0,
                        expected: value,
                        found,
                    });
                }
            }
        }
    }
    for invert in [false, true] {
        for (base, mem) in regions.iter_mut() {
            for w in 0..mem.len() {
                mem.write(w, pattern(*base, w, invert));
            }
        }
        for (r, (base, mem)) in regions.iter_mut().enumerate() {
            for w in 0..mem.len() {
                let expected = pattern(*base, w, invert);
                let found = mem.read(w);
                if found != expected {
                    return Err(Mismatch {
                        region: r,
                        word: w,
                        expected,
                        found,
                    });
                }
            }
            checked += mem.len() as u64;
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::vec;
    use std::vec::Vec;

    /// One backing store shared by several regions, with an address mask
    /// (a missing address line) and a stuck data bit.
    struct Model {
        store: Rc<RefCell<Vec<u32>>>,
        offset: usize,
        len: usize,
        addr_mask: usize,
        stuck_one: u32,
    }

    impl Words for Model {
        fn len(&self) -> usize {
            self.len
        }
        fn write(&mut self, i: usize, v: u32) {
            let a = (self.offset + i) & self.addr_mask;
            self.store.borrow_mut()[a] = v | self.stuck_one;
        }
        fn read(&mut self, i: usize) -> u32 {
            let a = (self.offset + i) & self.addr_mask;
            self.store.borrow()[a] | self.stuck_one
        }
    }

    fn regions(addr_mask: usize, stuck_one: u32) -> Vec<(u32, Model)> {
        let store = Rc::new(RefCell::new(vec![0u32; 4096]));
        [0usize, 1024, 3072]
            .into_iter()
            .map(|offset| {
                (
                    (offset * 4) as u32,
                    Model {
                        store: store.clone(),
                        offset,
                        len: 512,
                        addr_mask,
                        stuck_one,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn good_memory_passes() {
        assert_eq!(check(&mut regions(usize::MAX, 0)), Ok(2 * 3 * 512));
    }

    #[test]
    fn stuck_bit_is_found() {
        let e = check(&mut regions(usize::MAX, 1 << 13)).unwrap_err();
        assert_eq!(
            (e.region, e.word, e.expected & (1 << 13), e.found & (1 << 13)),
            (0, 0, 0, 1 << 13)
        );
    }

    #[test]
    fn missing_address_line_is_found() {
        // Word address bit 11 does not reach the DRAM: region 2 (words
        // 3072..) lands on region 1 (1024..); region 1 is then read back
        // holding region 2's pattern.
        let e = check(&mut regions(!(1 << 11), 0)).unwrap_err();
        assert_eq!((e.region, e.word), (1, 0));
        assert_eq!(e.found, pattern(3072 * 4, 0, false));
    }
}
