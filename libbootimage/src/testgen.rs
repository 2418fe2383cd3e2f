//! Small inputs for tests and demos: ARM ELF executables and a dummy `.bit`.
//!
//! The ELF generator writes what a linker would for a bare-metal image:
//! ET_EXEC, EM_ARM, section headers, and PT_LOAD segments whose file
//! contents mirror memory (so `bootgen` and [`crate::elf::flatten`] agree).
//! The dummy bitstream has a real `.bit` header and configuration data that
//! starts like a 7-series bitstream (dummy words, bus-width pattern, sync)
//! and ends with DESYNC; it programs nothing.

use alloc::vec::Vec;

/// One section of a generated ELF.
#[derive(Debug, Clone, Copy)]
pub struct ElfSection<'a> {
    pub name: &'a str,
    pub addr: u32,
    /// File contents (PROGBITS), or `None` for NOBITS of `size` bytes.
    pub data: Option<&'a [u8]>,
    pub size: u32,
    /// SHF_EXECINSTR.
    pub exec: bool,
}

impl<'a> ElfSection<'a> {
    /// An ALLOC PROGBITS section (writable unless `exec`).
    pub fn progbits(name: &'a str, addr: u32, data: &'a [u8], exec: bool) -> ElfSection<'a> {
        ElfSection { name, addr, data: Some(data), size: data.len() as u32, exec }
    }

    /// An ALLOC, writable NOBITS section (`.bss`).
    pub fn nobits(name: &'a str, addr: u32, size: u32) -> ElfSection<'a> {
        ElfSection { name, addr, data: None, size, exec: false }
    }
}

/// PROGBITS sections closer than this share a PT_LOAD segment.
const SEGMENT_GAP: u32 = 0x1_0000;

/// An ARM ET_EXEC ELF with `sections` (ALLOC) and entry `entry`. PROGBITS
/// sections less than 64 KiB apart share one PT_LOAD segment.
pub fn arm_elf(entry: u32, sections: &[ElfSection]) -> Vec<u8> {
    arm_elf_with(entry, sections, false)
}

/// [`arm_elf`], with `segment_per_section`: one PT_LOAD per PROGBITS section
/// (as linker scripts with PHDRS do, e.g. satman's).
pub fn arm_elf_with(entry: u32, sections: &[ElfSection], segment_per_section: bool) -> Vec<u8> {
    let mut order: Vec<usize> = (0..sections.len()).collect();
    order.sort_by_key(|&i| sections[i].addr);

    // PT_LOAD segments: PROGBITS sections and the NOBITS right after them.
    struct Seg {
        addr: u32,
        filesz: u32,
        memsz: u32,
        offset: u32,
    }
    let mut segs: Vec<Seg> = Vec::new();
    let mut file_off: Vec<u32> = alloc::vec![0; sections.len()];
    // Plan the segments first, then place them after the headers.
    let mut plan: Vec<(u32, u32, u32)> = Vec::new(); // (addr, filesz, memsz)
    for &i in &order {
        let s = &sections[i];
        let end = s.addr + s.size;
        match (s.data.is_some(), plan.last_mut()) {
            (true, Some(last))
                if !segment_per_section && s.addr >= last.0 + last.1 && s.addr - (last.0 + last.1) < SEGMENT_GAP =>
            {
                last.1 = end - last.0;
                last.2 = last.2.max(last.1);
            }
            (true, _) => plan.push((s.addr, s.size, s.size)),
            (false, Some(last)) if s.addr >= last.0 && s.addr - last.0 < last.2 + SEGMENT_GAP => {
                last.2 = last.2.max(end - last.0);
            }
            // NOBITS far from file contents: a PT_LOAD of no file bytes, as linkers make.
            (false, _) => plan.push((s.addr, 0, s.size)),
        }
    }
    let phoff = 52u32;
    let mut off = phoff + 32 * plan.len() as u32;
    for &(addr, filesz, memsz) in &plan {
        // Keep the file offset congruent to the address modulo 16.
        off = (off + 15) & !15;
        off += addr % 16;
        segs.push(Seg { addr, filesz, memsz, offset: off });
        off += filesz;
    }
    let data_end = off;
    for (i, s) in sections.iter().enumerate() {
        file_off[i] = segs
            .iter()
            .find(|g| s.addr >= g.addr && s.addr < g.addr + g.memsz.max(1))
            .map(|g| g.offset + (s.addr - g.addr))
            .unwrap_or(data_end);
    }

    // Section name string table.
    let mut shstr = alloc::vec![0u8];
    let mut names = Vec::new();
    for s in sections {
        names.push(shstr.len() as u32);
        shstr.extend_from_slice(s.name.as_bytes());
        shstr.push(0);
    }
    let shstrtab_name = shstr.len() as u32;
    shstr.extend_from_slice(b".shstrtab\0");
    let shstr_off = data_end;
    let shoff = (shstr_off + shstr.len() as u32 + 3) & !3;
    let shnum = sections.len() as u32 + 2;

    let mut out = alloc::vec![0u8; (shoff + 40 * shnum) as usize];
    let put16 =
        |out: &mut Vec<u8>, at: u32, v: u16| out[at as usize..at as usize + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |out: &mut Vec<u8>, at: u32, v: u32| out[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
    // ELF header.
    out[..8].copy_from_slice(&[0x7F, b'E', b'L', b'F', 1, 1, 1, 0]);
    put16(&mut out, 16, 2); // ET_EXEC
    put16(&mut out, 18, 40); // EM_ARM
    put32(&mut out, 20, 1);
    put32(&mut out, 24, entry);
    put32(&mut out, 28, if segs.is_empty() { 0 } else { phoff });
    put32(&mut out, 32, shoff);
    put32(&mut out, 36, 0x0500_0400); // EABI5, hard float
    put16(&mut out, 40, 52);
    put16(&mut out, 42, 32);
    put16(&mut out, 44, segs.len() as u16);
    put16(&mut out, 46, 40);
    put16(&mut out, 48, shnum as u16);
    put16(&mut out, 50, shnum as u16 - 1);
    // Program headers.
    for (k, g) in segs.iter().enumerate() {
        let at = phoff + 32 * k as u32;
        for (j, v) in [1, g.offset, g.addr, g.addr, g.filesz, g.memsz, 7, 4].into_iter().enumerate() {
            put32(&mut out, at + 4 * j as u32, v);
        }
    }
    // Contents.
    for (i, s) in sections.iter().enumerate() {
        if let Some(d) = s.data {
            let at = file_off[i] as usize;
            out[at..at + d.len()].copy_from_slice(d);
        }
    }
    out[shstr_off as usize..shstr_off as usize + shstr.len()].copy_from_slice(&shstr);
    // Section headers: null, the sections, .shstrtab.
    for (i, s) in sections.iter().enumerate() {
        let at = shoff + 40 * (i as u32 + 1);
        let kind = if s.data.is_some() { 1 } else { 8 };
        let flags = 2 | if s.exec { 4 } else { 1 };
        for (j, v) in [names[i], kind, flags, s.addr, file_off[i], s.size, 0, 0, 4, 0].into_iter().enumerate() {
            put32(&mut out, at + 4 * j as u32, v);
        }
    }
    let at = shoff + 40 * (shnum - 1);
    for (j, v) in [shstrtab_name, 3, 0, 0, shstr_off, shstr.len() as u32, 0, 0, 1, 0].into_iter().enumerate() {
        put32(&mut out, at + 4 * j as u32, v);
    }
    out
}

/// A `.bit` file whose configuration data has `payload_words` words of
/// pattern between the sync sequence and DESYNC (a few dozen words of
/// framing around them). Programs nothing; parses like a real one.
pub fn dummy_bitstream(payload_words: usize) -> Vec<u8> {
    let mut words: Vec<u32> = Vec::new();
    words.extend([0xFFFF_FFFF; 8]); // dummy words
    words.extend([0x0000_00BB, 0x1122_0044]); // bus-width detection
    words.extend([0xFFFF_FFFF, 0xFFFF_FFFF]);
    words.push(crate::bitfile::SYNC);
    words.push(crate::bitfile::NOOP);
    words.extend([0x3000_8001, 0x0000_0007]); // CMD = RCRC
    words.extend([crate::bitfile::NOOP; 2]);
    words.extend([0x3000_4000, 0x5000_0000 | payload_words as u32]); // FDRI, type 2 count
    words.extend((0..payload_words as u32).map(|i| 0x5A00_0000 ^ i.wrapping_mul(0x9E37_79B9)));
    words.extend([0x3000_8001, 0x0000_000D]); // CMD = DESYNC
    words.extend([crate::bitfile::NOOP; 4]);

    let mut out = Vec::new();
    out.extend_from_slice(&[0x00, 0x09, 0x0F, 0xF0, 0x0F, 0xF0, 0x0F, 0xF0, 0x0F, 0xF0, 0x00, 0x00, 0x01]);
    for (key, value) in [
        (b'a', &b"satman_dummy;UserID=0XFFFFFFFF;Version=2022.2"[..]),
        (b'b', b"7z030ffg676"),
        (b'c', b"2025/01/01"),
        (b'd', b"00:00:00"),
    ] {
        out.push(key);
        out.extend_from_slice(&(value.len() as u16 + 1).to_be_bytes());
        out.extend_from_slice(value);
        out.push(0);
    }
    out.push(b'e');
    out.extend_from_slice(&(4 * words.len() as u32).to_be_bytes());
    for w in words {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out
}

/// A boot loader laid out like upstream's szl: code, read-only data and
/// data in OCM from 0, `.bss` and stacks (NOBITS) in the high OCM at
/// 0xFFFF_0000, a NOBITS run-time heap in DDR.
pub fn szl_like_elf() -> Vec<u8> {
    let text: Vec<u8> = (0..0x2F1u32).map(|i| (i * 3) as u8).collect();
    arm_elf(
        0,
        &[
            ElfSection::progbits(".text", 0, &text, true),
            ElfSection::progbits(".rodata", 0x2F4, b"szl-like rodata", false),
            ElfSection::progbits(".data", 0x304, &[1, 2, 3, 4, 5, 6, 7, 8], false),
            ElfSection::nobits(".heap", 0x0010_0000, 0x0800_0000),
            ElfSection::nobits(".bss", 0xFFFF_0000, 0x200),
            ElfSection::nobits(".stack0", 0xFFFF_0200, 0x4000),
        ],
    )
}

/// A boot loader ELF like a small first-stage loader: linked in OCM at 0,
/// vectors and code, read-only data, `.bss`.
pub fn loader_elf() -> Vec<u8> {
    let text: Vec<u8> = (0..0x180u32).map(|i| (i * 7) as u8).collect();
    arm_elf(
        0,
        &[
            ElfSection::progbits(".text", 0, &text, true),
            ElfSection::progbits(".rodata", 0x180, b"loader rodata\0\0\0", false),
            ElfSection::nobits(".bss", 0x190, 0x400),
        ],
    )
}

/// A firmware ELF linked at 0x0010_0000 (entry 0x0010_0020), with
/// `.text`, `.rodata`, `.data` and a NOBITS `.bss`; `tag` varies its bytes
/// (e.g. a build id).
pub fn firmware_elf(tag: u8) -> Vec<u8> {
    let text: Vec<u8> = (0..0x400u32).map(|i| (i as u8) ^ tag).collect();
    let rodata = [tag; 0x3D];
    arm_elf(
        0x0010_0020,
        &[
            ElfSection::progbits(".text", 0x0010_0000, &text, true),
            ElfSection::progbits(".rodata", 0x0010_0400, &rodata, false),
            ElfSection::progbits(".data", 0x0010_0440, b"firmware data", false),
            ElfSection::nobits(".bss", 0x0010_0460, 0x8000),
        ],
    )
}
