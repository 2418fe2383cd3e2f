//! What the driver learns about the card during identification: its
//! capacity (from the CSD) and how it is addressed (from the OCR), and the
//! error bits of its R1 status.

use crate::block::BlockError;

/// The identified card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardInfo {
    /// Relative card address, assigned by CMD3.
    pub rca: u16,
    /// SDHC/SDXC (block addressed); `false`: SDSC (byte addressed).
    pub high_capacity: bool,
    /// Capacity in 512-byte blocks.
    pub blocks: u32,
    /// The CID register as the controller holds it (bits 127:8 of the
    /// response in bits 119:0: response word 0 first).
    pub cid: [u32; 4],
}

/// Why a CSD cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsdError {
    /// CSD_STRUCTURE is neither 0 (SDSC) nor 1 (SDHC/SDXC).
    UnknownStructure(u8),
    /// The capacity does not fit 2^32 blocks.
    TooLarge,
}

/// Bits `hi..=lo` (at most 32 wide) of the CSD as the controller delivers
/// it: the response without its CRC byte, so CSD bit `n` is bit `n - 8` of
/// the 120-bit value in `resp` (word 0 = bits 31:0).
fn csd_bits(resp: &[u32; 4], hi: u32, lo: u32) -> u32 {
    let (hi, lo) = (hi - 8, lo - 8);
    let mut v: u64 = 0;
    for bit in (lo..=hi).rev() {
        let b = (resp[(bit / 32) as usize] >> (bit % 32)) & 1;
        v = (v << 1) | b as u64;
    }
    v as u32
}

/// Capacity in 512-byte blocks from a CSD (SD Physical Layer spec 5.3).
pub fn csd_blocks(resp: &[u32; 4]) -> Result<u32, CsdError> {
    match csd_bits(resp, 127, 126) {
        0 => {
            // (C_SIZE + 1) * 2^(C_SIZE_MULT + 2) blocks of 2^READ_BL_LEN bytes.
            let c_size = csd_bits(resp, 73, 62) as u64;
            let mult = csd_bits(resp, 49, 47);
            let bl_len = csd_bits(resp, 83, 80);
            let bytes = (c_size + 1) << (mult + 2 + bl_len);
            u32::try_from(bytes / 512).map_err(|_| CsdError::TooLarge)
        }
        1 => {
            // (C_SIZE + 1) * 512 KiB.
            let c_size = csd_bits(resp, 69, 48) as u64;
            u32::try_from((c_size + 1) * 1024).map_err(|_| CsdError::TooLarge)
        }
        s => Err(CsdError::UnknownStructure(s as u8)),
    }
}

/// R1 card status bits that mean the command failed.
const R1_OUT_OF_RANGE: u32 = 1 << 31;
const R1_ADDRESS_ERROR: u32 = 1 << 30;
const R1_WP_VIOLATION: u32 = 1 << 26;
/// Every error bit of R1 (31:19 except 25, the lock state, and 24..19
/// covering lock failure, CRC, illegal command, ECC, controller, general).
const R1_ERRORS: u32 = 0xFDF8_0000;

/// Maps an R1 card status to the error it reports, if any.
pub fn r1_error(status: u32) -> Option<BlockError> {
    if status & R1_ERRORS == 0 {
        None
    } else if status & (R1_OUT_OF_RANGE | R1_ADDRESS_ERROR) != 0 {
        Some(BlockError::OutOfRange)
    } else if status & R1_WP_VIOLATION != 0 {
        Some(BlockError::WriteProtected)
    } else {
        Some(BlockError::Device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Puts `value` into CSD bits `hi..=lo` of a controller-style response.
    pub(crate) fn set_csd_bits(resp: &mut [u32; 4], hi: u32, lo: u32, value: u32) {
        for (i, bit) in (lo..=hi).enumerate() {
            let b = bit - 8;
            let w = &mut resp[(b / 32) as usize];
            *w = (*w & !(1 << (b % 32))) | (((value >> i) & 1) << (b % 32));
        }
    }

    #[test]
    fn csd_v2_capacity() {
        let mut r = [0; 4];
        set_csd_bits(&mut r, 127, 126, 1);
        set_csd_bits(&mut r, 69, 48, 15159); // a "7.4 GiB" card
        assert_eq!(csd_blocks(&r), Ok(15160 * 1024));
        assert_eq!(csd_bits(&r, 69, 48), 15159);
    }

    #[test]
    fn csd_v1_capacity() {
        let mut r = [0; 4];
        set_csd_bits(&mut r, 83, 80, 9); // 512-byte blocks
        set_csd_bits(&mut r, 73, 62, 4095);
        set_csd_bits(&mut r, 49, 47, 7);
        assert_eq!(csd_blocks(&r), Ok(4096 * 512));
        let mut r = [0; 4];
        set_csd_bits(&mut r, 83, 80, 10); // 1024-byte blocks, 2 GiB card
        set_csd_bits(&mut r, 73, 62, 4095);
        set_csd_bits(&mut r, 49, 47, 7);
        assert_eq!(csd_blocks(&r), Ok(4096 * 512 * 2));
    }

    #[test]
    fn csd_unknown_structure() {
        let mut r = [0; 4];
        set_csd_bits(&mut r, 127, 126, 3);
        assert_eq!(csd_blocks(&r), Err(CsdError::UnknownStructure(3)));
    }

    #[test]
    fn r1_errors_map() {
        assert_eq!(r1_error(0x900), None); // tran state, ready for data
        assert_eq!(r1_error(R1_OUT_OF_RANGE), Some(BlockError::OutOfRange));
        assert_eq!(r1_error(R1_WP_VIOLATION), Some(BlockError::WriteProtected));
        assert_eq!(r1_error(1 << 22), Some(BlockError::Device));
        assert_eq!(r1_error(1 << 25), None); // card is locked: a state, not an error
    }
}

#[cfg(test)]
pub(crate) use tests::set_csd_bits;
