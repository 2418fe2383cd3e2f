//! Where things are on the card: MBR partition 1 and the FAT boot sector
//! (BPB) of the volume in it, reduced to absolute block numbers.

use crate::error::CardError;

/// FAT variant of the volume (FAT12 is not supported: no SD card is that
/// small, and the firmware would never write one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatType {
    Fat16,
    Fat32,
}

/// The root directory: a fixed region on FAT16, a cluster chain on FAT32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Fixed { lba: u32, sectors: u32 },
    Chain(u32),
}

/// The mounted volume's layout, all block numbers absolute on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    pub fat_type: FatType,
    /// First block of the partition.
    pub part_lba: u32,
    pub sectors_per_cluster: u32,
    /// First block of the first FAT.
    pub fat_lba: u32,
    pub fat_sectors: u32,
    pub num_fats: u32,
    pub root: Root,
    /// Block of cluster 2.
    pub data_lba: u32,
    /// Number of data clusters (valid cluster numbers are 2..cluster_count+2).
    pub cluster_count: u32,
    /// FSInfo block (FAT32).
    pub fsinfo_lba: Option<u32>,
}

fn le16(b: &[u8], o: usize) -> u32 {
    u16::from_le_bytes([b[o], b[o + 1]]) as u32
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// First block and length of MBR partition 1, from block 0.
pub fn partition1(mbr: &[u8; 512]) -> Result<(u32, u32), CardError> {
    if mbr[510] != 0x55 || mbr[511] != 0xAA {
        return Err(CardError::NoPartition);
    }
    let e = &mbr[446..462];
    let kind = e[4];
    let (start, len) = (le32(e, 8), le32(e, 12));
    // FAT16 (0x04, 0x06, 0x0E) and FAT32 (0x0B, 0x0C) partition types.
    if !matches!(kind, 0x04 | 0x06 | 0x0E | 0x0B | 0x0C) || start == 0 || len == 0 {
        return Err(CardError::NoPartition);
    }
    Ok((start, len))
}

impl Geometry {
    /// Parses the boot sector found at `part_lba` (partition of `part_len`
    /// blocks).
    pub fn parse(bs: &[u8; 512], part_lba: u32, part_len: u32) -> Result<Self, CardError> {
        if bs[510] != 0x55 || bs[511] != 0xAA || le16(bs, 11) != 512 {
            return Err(CardError::NotFat);
        }
        let spc = bs[13] as u32;
        let reserved = le16(bs, 14);
        let num_fats = bs[16] as u32;
        let root_entries = le16(bs, 17);
        let total = match le16(bs, 19) {
            0 => le32(bs, 32),
            n => n,
        };
        let fatsz16 = le16(bs, 22);
        let fat_sectors = if fatsz16 != 0 { fatsz16 } else { le32(bs, 36) };
        if spc == 0 || !spc.is_power_of_two() || reserved == 0 || num_fats == 0 || fat_sectors == 0 {
            return Err(CardError::NotFat);
        }
        if total > part_len {
            return Err(CardError::Corrupt("volume larger than its partition"));
        }
        let root_sectors = (root_entries * 32).div_ceil(512);
        let meta = reserved as u64 + num_fats as u64 * fat_sectors as u64 + root_sectors as u64;
        if meta >= total as u64 {
            return Err(CardError::NotFat);
        }
        let cluster_count = (total - meta as u32) / spc;
        // Linux and dosfstools call a volume FAT32 when its BPB has no 16-bit
        // FAT size (mkfs.fat -F 32 on small images); the cluster count decides
        // between FAT12 and FAT16 otherwise.
        let fat_type = if fatsz16 == 0 {
            FatType::Fat32
        } else if cluster_count < 4085 {
            return Err(CardError::UnsupportedFat);
        } else {
            FatType::Fat16
        };
        let entry_bytes = if fat_type == FatType::Fat32 { 4 } else { 2 };
        if (cluster_count as u64 + 2) * entry_bytes > fat_sectors as u64 * 512 {
            return Err(CardError::Corrupt("FAT too small for the volume"));
        }
        let fat_lba = part_lba + reserved;
        let root_lba = fat_lba + num_fats * fat_sectors;
        let data_lba = root_lba + root_sectors;
        let (root, fsinfo_lba) = match fat_type {
            FatType::Fat16 => {
                if root_sectors == 0 {
                    return Err(CardError::NotFat);
                }
                (
                    Root::Fixed {
                        lba: root_lba,
                        sectors: root_sectors,
                    },
                    None,
                )
            }
            FatType::Fat32 => {
                let rc = le32(bs, 44);
                if rc < 2 || rc >= cluster_count + 2 {
                    return Err(CardError::Corrupt("root cluster out of range"));
                }
                let fsinfo = le16(bs, 48);
                let fsinfo = (fsinfo != 0 && fsinfo != 0xFFFF && fsinfo < reserved).then(|| part_lba + fsinfo);
                (Root::Chain(rc), fsinfo)
            }
        };
        Ok(Geometry {
            fat_type,
            part_lba,
            sectors_per_cluster: spc,
            fat_lba,
            fat_sectors,
            num_fats,
            root,
            data_lba,
            cluster_count,
            fsinfo_lba,
        })
    }

    /// Bytes in one cluster.
    pub fn cluster_bytes(&self) -> u32 {
        self.sectors_per_cluster * 512
    }

    /// Whether `c` names a data cluster.
    pub fn valid_cluster(&self, c: u32) -> bool {
        c >= 2 && c < self.cluster_count + 2
    }

    /// First block of cluster `c` (which must be valid).
    pub fn cluster_lba(&self, c: u32) -> u32 {
        self.data_lba + (c - 2) * self.sectors_per_cluster
    }

    /// FAT block (in the first FAT) and byte offset of cluster `c`'s entry.
    pub fn fat_entry_pos(&self, c: u32) -> (u32, usize) {
        let off = c as usize * if self.fat_type == FatType::Fat32 { 4 } else { 2 };
        (self.fat_lba + (off / 512) as u32, off % 512)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fat32_bs() -> [u8; 512] {
        let mut b = [0u8; 512];
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = 1;
        b[14..16].copy_from_slice(&32u16.to_le_bytes());
        b[16] = 2;
        b[32..36].copy_from_slice(&80000u32.to_le_bytes());
        b[36..40].copy_from_slice(&630u32.to_le_bytes());
        b[44..48].copy_from_slice(&2u32.to_le_bytes());
        b[48..50].copy_from_slice(&1u16.to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    #[test]
    fn parses_fat32() {
        let g = Geometry::parse(&fat32_bs(), 2048, 80000).unwrap();
        assert_eq!(g.fat_type, FatType::Fat32);
        assert_eq!(g.fat_lba, 2048 + 32);
        assert_eq!(g.data_lba, 2048 + 32 + 2 * 630);
        assert_eq!(g.root, Root::Chain(2));
        assert_eq!(g.fsinfo_lba, Some(2049));
        assert_eq!(g.cluster_lba(3), g.data_lba + 1);
        assert_eq!(g.fat_entry_pos(130), (2048 + 32 + 1, 8));
    }

    #[test]
    fn rejects_garbage() {
        let mut b = fat32_bs();
        b[13] = 3;
        assert_eq!(Geometry::parse(&b, 0, 80000), Err(CardError::NotFat));
        let b = fat32_bs();
        assert!(matches!(Geometry::parse(&b, 0, 100), Err(CardError::Corrupt(_))));
        assert_eq!(Geometry::parse(&[0; 512], 0, 80000), Err(CardError::NotFat));
    }

    #[test]
    fn mbr_partition1() {
        let mut m = [0u8; 512];
        assert_eq!(partition1(&m), Err(CardError::NoPartition));
        m[510] = 0x55;
        m[511] = 0xAA;
        m[446 + 4] = 0x0C;
        m[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
        m[446 + 12..446 + 16].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(partition1(&m), Ok((2048, 1000)));
        m[446 + 4] = 0x83;
        assert_eq!(partition1(&m), Err(CardError::NoPartition));
    }
}
