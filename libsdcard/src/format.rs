//! Formatting a card: an MBR with partition 1 (type 0x0C, from block 2048)
//! holding a FAT32 volume, laid out the way mkfs.fat does (32 reserved
//! blocks, FSInfo at 1, backup boot sector at 6, two FATs, root at
//! cluster 2), so every FAT implementation accepts it.

use crate::block::{BlockDevice, BLOCK_SIZE};
use crate::error::CardError;

/// First block of partition 1 (1 MiB: erase-block aligned).
pub const PART_LBA: u32 = 2048;
const RESERVED: u32 = 32;
const FATS: u32 = 2;

/// Formats the whole device. `serial` becomes the volume id.
pub fn format_fat32<D: BlockDevice>(dev: &mut D, serial: u32) -> Result<(), CardError> {
    let total = dev.block_count()?;
    let part = total.checked_sub(PART_LBA).ok_or(CardError::TooSmall)?;
    let bytes = part as u64 * BLOCK_SIZE as u64;
    let spc: u32 = match bytes {
        b if b <= 260 << 20 => 1,
        b if b <= 8 << 30 => 8,
        b if b <= 16 << 30 => 16,
        b if b <= 32 << 30 => 32,
        _ => 64,
    };
    let mut fat_sectors = 1u32;
    let clusters = loop {
        let avail = part
            .checked_sub(RESERVED + FATS * fat_sectors)
            .ok_or(CardError::TooSmall)?;
        let clusters = avail / spc;
        let need = ((clusters + 2) * 4).div_ceil(BLOCK_SIZE as u32);
        if need <= fat_sectors {
            break clusters;
        }
        fat_sectors = need;
    };
    // Below this count every FAT implementation must call the volume FAT16.
    if clusters < 65525 {
        return Err(CardError::TooSmall);
    }

    let mut mbr = [0u8; BLOCK_SIZE];
    let e = &mut mbr[446..462];
    e[1..4].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    e[4] = 0x0C;
    e[5..8].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    e[8..12].copy_from_slice(&PART_LBA.to_le_bytes());
    e[12..16].copy_from_slice(&part.to_le_bytes());
    mbr[440..444].copy_from_slice(&serial.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;

    let mut bs = [0u8; BLOCK_SIZE];
    bs[..3].copy_from_slice(&[0xEB, 0x58, 0x90]);
    bs[3..11].copy_from_slice(b"SATMAN  ");
    bs[11..13].copy_from_slice(&(BLOCK_SIZE as u16).to_le_bytes());
    bs[13] = spc as u8;
    bs[14..16].copy_from_slice(&(RESERVED as u16).to_le_bytes());
    bs[16] = FATS as u8;
    bs[21] = 0xF8;
    bs[24..26].copy_from_slice(&63u16.to_le_bytes());
    bs[26..28].copy_from_slice(&255u16.to_le_bytes());
    bs[28..32].copy_from_slice(&PART_LBA.to_le_bytes());
    bs[32..36].copy_from_slice(&part.to_le_bytes());
    bs[36..40].copy_from_slice(&fat_sectors.to_le_bytes());
    bs[44..48].copy_from_slice(&2u32.to_le_bytes());
    bs[48..50].copy_from_slice(&1u16.to_le_bytes());
    bs[50..52].copy_from_slice(&6u16.to_le_bytes());
    bs[64] = 0x80;
    bs[66] = 0x29;
    bs[67..71].copy_from_slice(&serial.to_le_bytes());
    bs[71..82].copy_from_slice(b"NO NAME    ");
    bs[82..90].copy_from_slice(b"FAT32   ");
    bs[510] = 0x55;
    bs[511] = 0xAA;

    let mut fsinfo = [0u8; BLOCK_SIZE];
    fsinfo[..4].copy_from_slice(b"RRaA");
    fsinfo[484..488].copy_from_slice(b"rrAa");
    fsinfo[488..492].copy_from_slice(&(clusters - 1).to_le_bytes());
    fsinfo[492..496].copy_from_slice(&3u32.to_le_bytes());
    fsinfo[510] = 0x55;
    fsinfo[511] = 0xAA;

    let zero = [0u8; BLOCK_SIZE];
    dev.write(0, &mbr)?;
    for i in 0..RESERVED {
        let b = match i {
            0 | 6 => &bs,
            1 | 7 => &fsinfo,
            _ => &zero,
        };
        dev.write(PART_LBA + i, b)?;
    }
    let mut fat0 = [0u8; BLOCK_SIZE];
    fat0[..4].copy_from_slice(&0x0FFF_FFF8u32.to_le_bytes());
    fat0[4..8].copy_from_slice(&0x0FFF_FFFFu32.to_le_bytes());
    fat0[8..12].copy_from_slice(&0x0FFF_FFFFu32.to_le_bytes());
    for f in 0..FATS {
        let base = PART_LBA + RESERVED + f * fat_sectors;
        dev.write(base, &fat0)?;
        for i in 1..fat_sectors {
            dev.write(base + i, &zero)?;
        }
    }
    let root = PART_LBA + RESERVED + FATS * fat_sectors;
    for i in 0..spc {
        dev.write(root + i, &zero)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::Card;
    use crate::mem::MemDevice;

    #[test]
    fn formats_and_mounts() {
        let mut d = MemDevice::new(40 * 2048);
        format_fat32(&mut d, 1).unwrap();
        let mut c = Card::mount(d).unwrap();
        assert!(c.info().fat32);
        assert_eq!(c.list("/").unwrap(), []);
        let mut d = MemDevice::new(16 * 2048);
        assert_eq!(format_fat32(&mut d, 1), Err(CardError::TooSmall));
    }
}
