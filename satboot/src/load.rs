//! The loader's steps over an image reader and a PCAP: check where the PS
//! partition goes, stream the PL partition to the PCAP in chunks, copy the
//! PS partition to its load address.
//!
//! Nothing here touches hardware: the target binary passes its DMA-able
//! chunk buffer, its PCAP driver and the PS destination as a byte slice, so
//! the same steps run against fakes in the tests.

use core::fmt;
use libbootimage::{Partition, ReadAt};

/// Why configuring the PL through the PCAP failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcapError {
    /// The PL did not come out of its PROG_B reset (PCFG_INIT) in time.
    InitTimeout,
    /// A DMA transfer did not finish in time; `int_sts` is the devcfg
    /// interrupt status then.
    DmaTimeout { int_sts: u32 },
    /// The devcfg reported an error (DMA command, AXI, FIFO overflow, ...).
    DmaError { int_sts: u32 },
    /// The DMA command queue stayed full.
    QueueFull,
    /// All data was sent but the PL never reported PCFG_DONE.
    NotDone { int_sts: u32 },
}

/// The PCAP, fed one chunk at a time.
pub trait Pcap {
    /// Resets the PL (PROG_B) and readies the PCAP for a full bitstream.
    fn begin(&mut self) -> Result<(), PcapError>;
    /// Sends `chunk` (a whole number of 32-bit words) and waits for its
    /// DMA to finish; `last` marks the final chunk.
    fn write(&mut self, chunk: &[u8], last: bool) -> Result<(), PcapError>;
    /// Waits for the end of configuration and enables the PS-PL interface.
    /// `Ok(true)`: the PL reported done; `Ok(false)`: the platform cannot
    /// tell (QEMU does not model PCFG_DONE).
    fn finish(&mut self) -> Result<bool, PcapError>;
}

/// Why loading failed. `E` is the image reader's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError<E> {
    /// `/BOOT.BIN` is not a valid boot image.
    Image(libbootimage::Error<E>),
    /// Reading partition data at `offset` failed.
    Read { offset: u32, error: E },
    /// The image holds no PS partition after the boot loader.
    NoPsPartition,
    /// The PS partition would not fit the RAM the loader may overwrite.
    PsOutsideRam { load: u32, len: u32 },
    /// The PS partition's entry point is not inside its data.
    ExecOutsidePartition { exec: u32, load: u32, len: u32 },
    /// The PL partition is empty or not a whole number of words.
    BitstreamLength(u32),
    /// The chunk buffer is empty or not a whole number of words.
    ChunkBuffer(usize),
    /// The PCAP failed.
    Pcap(PcapError),
}

impl<E: fmt::Debug> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Image(e) => write!(f, "not a valid boot image: {e:?}"),
            LoadError::Read { offset, error } => write!(f, "read at {offset:#x} failed: {error:?}"),
            LoadError::NoPsPartition => write!(f, "no PS partition after the boot loader"),
            LoadError::PsOutsideRam { load, len } => {
                write!(f, "PS partition {load:#010x}+{len:#x} is outside the loadable RAM")
            }
            LoadError::ExecOutsidePartition { exec, load, len } => {
                write!(
                    f,
                    "PS entry {exec:#010x} is outside its partition {load:#010x}+{len:#x}"
                )
            }
            LoadError::BitstreamLength(n) => write!(f, "PL partition length {n} is not a whole number of words"),
            LoadError::ChunkBuffer(n) => write!(f, "chunk buffer of {n} bytes"),
            LoadError::Pcap(e) => write!(f, "PCAP: {e:?}"),
        }
    }
}

/// Address range `start..end` the PS partition may be copied into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ram {
    pub start: u32,
    pub end: u32,
}

/// Checks that the PS partition `ps` fits `ram`.
pub fn check_placement<E>(ps: &Partition, ram: Ram) -> Result<(), LoadError<E>> {
    let end = ps.load.checked_add(ps.len);
    if ps.len == 0 || ps.load < ram.start || end.is_none_or(|e| e > ram.end) {
        return Err(LoadError::PsOutsideRam {
            load: ps.load,
            len: ps.len,
        });
    }
    Ok(())
}

/// Checks that `ps` fits `ram` and that its entry is inside it: the
/// application's first partition (bootgen writes one partition per ELF
/// segment; the entry is in the first, the code).
pub fn check_ps<E>(ps: &Partition, ram: Ram) -> Result<(), LoadError<E>> {
    check_placement(ps, ram)?;
    if ps.exec < ps.load || ps.exec - ps.load >= ps.len {
        return Err(LoadError::ExecOutsidePartition {
            exec: ps.exec,
            load: ps.load,
            len: ps.len,
        });
    }
    Ok(())
}

/// Streams the PL partition `pl` from `r` to `pcap` through `buf` (the
/// target's DMA-able buffer). Returns whether the PL reported done.
pub fn program_pl<R: ReadAt + ?Sized, P: Pcap>(
    r: &mut R,
    pl: &Partition,
    pcap: &mut P,
    buf: &mut [u8],
) -> Result<bool, LoadError<R::Error>> {
    if pl.len == 0 || pl.len % 4 != 0 {
        return Err(LoadError::BitstreamLength(pl.len));
    }
    if buf.is_empty() || buf.len() % 4 != 0 {
        return Err(LoadError::ChunkBuffer(buf.len()));
    }
    pcap.begin().map_err(LoadError::Pcap)?;
    let mut done = 0u32;
    while done < pl.len {
        let n = (pl.len - done).min(buf.len() as u32);
        let offset = pl.offset + done;
        let chunk = &mut buf[..n as usize];
        r.read_at(offset, chunk)
            .map_err(|error| LoadError::Read { offset, error })?;
        done += n;
        pcap.write(chunk, done == pl.len).map_err(LoadError::Pcap)?;
    }
    pcap.finish().map_err(LoadError::Pcap)
}

/// Copies the PS partition `ps` from `r` into `dest` (its load address,
/// `ps.len` bytes), `step` bytes per read.
pub fn copy_ps<R: ReadAt + ?Sized>(
    r: &mut R,
    ps: &Partition,
    dest: &mut [u8],
    step: usize,
) -> Result<(), LoadError<R::Error>> {
    if dest.len() != ps.len as usize || step == 0 {
        return Err(LoadError::PsOutsideRam {
            load: ps.load,
            len: ps.len,
        });
    }
    for (i, part) in dest.chunks_mut(step).enumerate() {
        let offset = ps.offset + (i * step) as u32;
        r.read_at(offset, part)
            .map_err(|error| LoadError::Read { offset, error })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use libbootimage::Destination;
    use std::vec::Vec;

    struct Mem(Vec<u8>, u32);

    impl ReadAt for Mem {
        type Error = &'static str;
        fn len(&self) -> u32 {
            self.0.len() as u32
        }
        fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), &'static str> {
            self.1 += 1;
            let o = offset as usize;
            let src = self.0.get(o..o + buf.len()).ok_or("past the end")?;
            buf.copy_from_slice(src);
            Ok(())
        }
    }

    #[derive(Default)]
    struct FakePcap {
        began: bool,
        data: Vec<u8>,
        lasts: Vec<bool>,
        fail_at_chunk: Option<usize>,
    }

    impl Pcap for FakePcap {
        fn begin(&mut self) -> Result<(), PcapError> {
            self.began = true;
            Ok(())
        }
        fn write(&mut self, chunk: &[u8], last: bool) -> Result<(), PcapError> {
            if self.fail_at_chunk == Some(self.lasts.len()) {
                return Err(PcapError::DmaError { int_sts: 1 << 15 });
            }
            self.data.extend_from_slice(chunk);
            self.lasts.push(last);
            Ok(())
        }
        fn finish(&mut self) -> Result<bool, PcapError> {
            Ok(true)
        }
    }

    fn part(destination: Destination, offset: u32, len: u32, load: u32, exec: u32) -> Partition {
        Partition {
            index: 1,
            image: 1,
            destination,
            offset,
            len,
            load,
            exec,
            attributes: 0,
            section_count: 1,
            header_offset: 0,
        }
    }

    fn image() -> Mem {
        Mem((0..40_000u32).map(|i| (i * 7) as u8).collect(), 0)
    }

    #[test]
    fn bitstream_goes_to_the_pcap_in_chunks_with_the_last_marked() {
        let mut r = image();
        let pl = part(Destination::Pl, 1000, 10_000, 0, 0);
        let mut pcap = FakePcap::default();
        let mut buf = [0u8; 4096];
        assert_eq!(program_pl(&mut r, &pl, &mut pcap, &mut buf), Ok(true));
        assert!(pcap.began);
        assert_eq!(pcap.data, r.0[1000..11_000]);
        assert_eq!(pcap.lasts, [false, false, true]);
    }

    #[test]
    fn pcap_and_read_failures_stop_the_load() {
        let mut r = image();
        let pl = part(Destination::Pl, 0, 10_000, 0, 0);
        let mut pcap = FakePcap {
            fail_at_chunk: Some(1),
            ..Default::default()
        };
        let e = program_pl(&mut r, &pl, &mut pcap, &mut [0u8; 4096]).unwrap_err();
        assert_eq!(e, LoadError::Pcap(PcapError::DmaError { int_sts: 1 << 15 }));
        let pl = part(Destination::Pl, 39_000, 4000, 0, 0);
        let e = program_pl(&mut r, &pl, &mut FakePcap::default(), &mut [0u8; 4096]).unwrap_err();
        assert_eq!(
            e,
            LoadError::Read {
                offset: 39_000,
                error: "past the end"
            }
        );
        let pl = part(Destination::Pl, 0, 10, 0, 0);
        let e = program_pl(&mut r, &pl, &mut FakePcap::default(), &mut [0u8; 4096]).unwrap_err();
        assert_eq!(e, LoadError::BitstreamLength(10));
        let pl = part(Destination::Pl, 0, 12, 0, 0);
        let e = program_pl(&mut r, &pl, &mut FakePcap::default(), &mut [0u8; 6]).unwrap_err();
        assert_eq!(e, LoadError::ChunkBuffer(6));
    }

    #[test]
    fn ps_partition_is_copied_whole() {
        let mut r = image();
        let ps = part(Destination::Ps, 2000, 30_000, 0x10_0000, 0x10_0000);
        let mut dest = std::vec![0u8; 30_000];
        copy_ps(&mut r, &ps, &mut dest, 8192).unwrap();
        assert_eq!(dest, r.0[2000..32_000]);
        assert_eq!(r.1, 4, "one read per step");
    }

    #[test]
    fn ps_placement_is_checked() {
        let ram = Ram {
            start: 0x10_0000,
            end: 0x800_0000,
        };
        let ok = part(Destination::Ps, 0, 0x1000, 0x10_0000, 0x10_0000);
        assert_eq!(check_ps::<()>(&ok, ram), Ok(()));
        let low = part(Destination::Ps, 0, 0x1000, 0, 0);
        assert_eq!(
            check_ps::<()>(&low, ram),
            Err(LoadError::PsOutsideRam { load: 0, len: 0x1000 })
        );
        let big = part(Destination::Ps, 0, 0x800_0000, 0x10_0000, 0x10_0000);
        assert!(matches!(check_ps::<()>(&big, ram), Err(LoadError::PsOutsideRam { .. })));
        let wrap = part(Destination::Ps, 0, 0x1000, u32::MAX - 10, u32::MAX - 10);
        assert!(matches!(
            check_ps::<()>(
                &wrap,
                Ram {
                    start: 0,
                    end: u32::MAX
                }
            ),
            Err(LoadError::PsOutsideRam { .. })
        ));
        let exec = part(Destination::Ps, 0, 0x1000, 0x10_0000, 0x10_1000);
        assert!(matches!(
            check_ps::<()>(&exec, ram),
            Err(LoadError::ExecOutsidePartition { .. })
        ));
    }
}
