//! A small writer of kernel-like ELF images for the loader tests.
//!
//! It lays files out the way lld does for ARTIQ kernels (linked at 0, file
//! offset = address): one read-execute `PT_LOAD` with the headers, text,
//! `.ARM.exidx`, `.dynsym`, `.dynstr`, hash tables and relocation tables, one
//! read-write `PT_LOAD` with data, `.dynamic` and bss, then `PT_DYNAMIC` and
//! optionally `PT_ARM_EXIDX`; section headers only for what a test asks.

use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use elf::hash::{gnu_hash, sysv_hash};

/// Where a symbol or relocated word lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Text,
    Data,
    Bss,
    /// An absolute value (`SHN_ABS`) or offset from 0.
    Abs,
}

/// Which relocation table an entry goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Rel,
    Rela,
    JmpRel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Gnu,
    SysV,
    Both,
    /// Neither: `.dynsym` is sized from its section header.
    None,
}

#[derive(Clone, Debug)]
pub struct Export {
    pub name: String,
    pub place: Place,
    pub offset: u32,
    /// `STB_*`.
    pub bind: u8,
}

#[derive(Clone, Debug)]
pub struct Rel {
    pub table: Table,
    pub place: Place,
    pub offset: u32,
    pub rtype: u8,
    pub sym: Option<String>,
    /// Only written for RELA tables.
    pub addend: i32,
}

#[derive(Clone, Debug)]
pub struct TestElf {
    pub text: Vec<u8>,
    pub data: Vec<u8>,
    pub bss: u32,
    pub imports: Vec<String>,
    pub exports: Vec<Export>,
    pub rels: Vec<Rel>,
    pub jmprel_rela: bool,
    pub hash: Hash,
    pub exidx: Vec<u8>,
    pub exidx_phdr: bool,
    pub exidx_section: bool,
    pub dynsym_section: bool,
    /// Export `__modinit__` (start of text), `__bss_start`, `_end`,
    /// `_sstack_guard` like kernel.ld does.
    pub standard_exports: bool,
}

impl Default for TestElf {
    fn default() -> Self {
        TestElf {
            text: vec![0xe1, 0x2f, 0xff, 0x1e, 0, 0, 0, 0], // bytes are never executed
            data: vec![0; 16],
            bss: 32,
            imports: Vec::new(),
            exports: Vec::new(),
            rels: Vec::new(),
            jmprel_rela: false,
            hash: Hash::Both,
            exidx: vec![0x11, 0, 0, 0, 1, 0, 0, 0],
            exidx_phdr: true,
            exidx_section: true,
            dynsym_section: true,
            standard_exports: true,
        }
    }
}

/// A built image and where its parts are.
#[derive(Clone, Debug)]
pub struct Built {
    pub bytes: Vec<u8>,
    pub text: u32,
    pub data: u32,
    pub bss: u32,
    /// End of the memory image (= size).
    pub end: u32,
    pub exidx: u32,
    pub dynamic: u32,
    pub rel: u32,
    pub jmprel: u32,
    pub phoff: u32,
    /// Defined symbols and their values.
    pub symbols: Vec<(String, u32)>,
}

impl Built {
    pub fn sym(&self, name: &str) -> u32 {
        self.symbols
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
            .expect("no such symbol")
    }

    /// Byte offset of program header `index`.
    pub fn phdr(&self, index: u32) -> usize {
        (self.phoff + 32 * index) as usize
    }

    pub fn put32(&mut self, at: usize, value: u32) {
        self.bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    pub fn get32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap())
    }
}

/// Marks the `_sstack_guard` export, whose value is `_end` rounded up to 4 KiB.
const SSTACK_GUARD: u32 = u32::MAX;

pub fn align(x: u32, a: u32) -> u32 {
    (x + a - 1) & !(a - 1)
}

fn put32(buf: &mut [u8], at: u32, value: u32) {
    buf[at as usize..at as usize + 4].copy_from_slice(&value.to_le_bytes());
}

fn put16(buf: &mut [u8], at: u32, value: u16) {
    buf[at as usize..at as usize + 2].copy_from_slice(&value.to_le_bytes());
}

impl TestElf {
    pub fn export(mut self, name: &str, place: Place, offset: u32) -> Self {
        self.exports.push(Export {
            name: name.to_string(),
            place,
            offset,
            bind: 1,
        });
        self
    }

    pub fn import(mut self, name: &str) -> Self {
        self.imports.push(name.to_string());
        self
    }

    pub fn rel(
        mut self,
        table: Table,
        place: Place,
        offset: u32,
        rtype: u8,
        sym: Option<&str>,
        addend: i32,
    ) -> Self {
        self.rels.push(Rel {
            table,
            place,
            offset,
            rtype,
            sym: sym.map(str::to_string),
            addend,
        });
        self
    }

    pub fn build(&self) -> Built {
        let mut exports = self.exports.clone();
        if self.standard_exports {
            exports.push(Export {
                name: "__modinit__".into(),
                place: Place::Text,
                offset: 0,
                bind: 1,
            });
            exports.push(Export {
                name: "__bss_start".into(),
                place: Place::Bss,
                offset: 0,
                bind: 1,
            });
            exports.push(Export {
                name: "_end".into(),
                place: Place::Bss,
                offset: self.bss,
                bind: 1,
            });
            // Section-relative like lld's, but past the image: see below.
            exports.push(Export {
                name: "_sstack_guard".into(),
                place: Place::Bss,
                offset: SSTACK_GUARD,
                bind: 1,
            });
        }
        let (gnu, sysv) = match self.hash {
            Hash::Gnu => (true, false),
            Hash::SysV => (false, true),
            Hash::Both => (true, true),
            Hash::None => (false, false),
        };
        let rela_rels: Vec<&Rel> = self
            .rels
            .iter()
            .filter(|r| r.table == Table::Rela)
            .collect();
        let rel_rels: Vec<&Rel> = self.rels.iter().filter(|r| r.table == Table::Rel).collect();
        let jmp_rels: Vec<&Rel> = self
            .rels
            .iter()
            .filter(|r| r.table == Table::JmpRel)
            .collect();
        let jmp_ent = if self.jmprel_rela { 12 } else { 8 };

        // Symbol order: null, undefined imports, defined exports (GNU hash
        // wants the hashed, defined symbols last).
        let mut names: Vec<String> = vec![String::new()];
        names.extend(self.imports.iter().cloned());
        names.extend(exports.iter().map(|e| e.name.clone()));
        let nsyms = names.len() as u32;
        let symoffset = 1 + self.imports.len() as u32;
        let mut dynstr = vec![0u8];
        let mut name_off = vec![0u32];
        for n in &names[1..] {
            name_off.push(dynstr.len() as u32);
            dynstr.extend_from_slice(n.as_bytes());
            dynstr.push(0);
        }

        // Read-execute segment.
        let phnum = 3 + u32::from(self.exidx_phdr);
        let phoff = 52;
        let text = align(phoff + 32 * phnum, 4);
        let exidx = align(text + self.text.len() as u32, 4);
        let dynsym = align(exidx + self.exidx.len() as u32, 4);
        let dynstr_at = dynsym + 16 * nsyms;
        let hash_at = align(dynstr_at + dynstr.len() as u32, 4);
        let nbucket = 3;
        let hash_len = if sysv { 8 + 4 * nbucket + 4 * nsyms } else { 0 };
        let gnu_at = hash_at + hash_len;
        let ndefined = nsyms - symoffset;
        let gnu_len = if gnu { 16 + 4 + 4 + 4 * ndefined } else { 0 };
        let rel_at = gnu_at + gnu_len;
        let rela_at = rel_at + 8 * rel_rels.len() as u32;
        let jmprel_at = rela_at + 12 * rela_rels.len() as u32;
        let rx_end = jmprel_at + jmp_ent * jmp_rels.len() as u32;

        // Read-write segment.
        let data = align(rx_end, 8);
        let dynamic = align(data + self.data.len() as u32, 4);
        let mut dyn_entries: Vec<(u32, u32)> = vec![
            (6, dynsym),
            (11, 16),
            (5, dynstr_at),
            (10, dynstr.len() as u32),
        ];
        if sysv {
            dyn_entries.push((4, hash_at));
        }
        if gnu {
            dyn_entries.push((0x6fff_fef5, gnu_at));
        }
        if !rel_rels.is_empty() {
            dyn_entries.extend([(17, rel_at), (18, 8 * rel_rels.len() as u32), (19, 8)]);
        }
        if !rela_rels.is_empty() {
            dyn_entries.extend([(7, rela_at), (8, 12 * rela_rels.len() as u32), (9, 12)]);
        }
        if !jmp_rels.is_empty() {
            let pltrel = if self.jmprel_rela { 7 } else { 17 };
            dyn_entries.extend([
                (23, jmprel_at),
                (2, jmp_ent * jmp_rels.len() as u32),
                (20, pltrel),
            ]);
        }
        dyn_entries.push((0, 0));
        let rw_file_end = dynamic + 8 * dyn_entries.len() as u32;
        let bss = align(rw_file_end, 8);
        let end = bss + self.bss;

        // Section headers (file only).
        let mut sections: Vec<(&str, u32, u32, u32, u32)> = Vec::new(); // name, type, addr, size, entsize
        if self.dynsym_section {
            sections.push((".dynsym", 11, dynsym, 16 * nsyms, 16));
        }
        if self.exidx_section && !self.exidx.is_empty() {
            sections.push((".ARM.exidx", 0x7000_0001, exidx, self.exidx.len() as u32, 0));
        }
        let mut shstrtab = vec![0u8];
        let mut sh_names = Vec::new();
        for (n, ..) in &sections {
            sh_names.push(shstrtab.len() as u32);
            shstrtab.extend_from_slice(n.as_bytes());
            shstrtab.push(0);
        }
        sh_names.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(b".shstrtab\0");
        let (shstrtab_at, shoff, shnum) = if sections.is_empty() {
            (rw_file_end, 0, 0)
        } else {
            let at = rw_file_end;
            (
                at,
                align(at + shstrtab.len() as u32, 4),
                sections.len() as u32 + 2,
            )
        };
        let file_len = if shnum == 0 {
            rw_file_end
        } else {
            shoff + 40 * shnum
        };

        let mut b = vec![0u8; file_len as usize];
        // ELF header.
        b[..16].copy_from_slice(&[0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        put16(&mut b, 16, 3); // ET_DYN
        put16(&mut b, 18, 40); // EM_ARM
        put32(&mut b, 20, 1);
        put32(&mut b, 24, 0);
        put32(&mut b, 28, phoff);
        put32(&mut b, 32, shoff);
        put32(&mut b, 36, 0x0500_0400);
        put16(&mut b, 40, 52);
        put16(&mut b, 42, 32);
        put16(&mut b, 44, phnum as u16);
        put16(&mut b, 46, 40);
        put16(&mut b, 48, shnum as u16);
        put16(&mut b, 50, if shnum == 0 { 0 } else { shnum as u16 - 1 });

        // Program headers.
        let mut phdrs = vec![
            [1, 0, 0, 0, rx_end, rx_end, 5, 0x1_0000],
            [
                1,
                data,
                data,
                data,
                rw_file_end - data,
                end - data,
                6,
                0x1_0000,
            ],
            [
                2,
                dynamic,
                dynamic,
                dynamic,
                rw_file_end - dynamic,
                rw_file_end - dynamic,
                6,
                4,
            ],
        ];
        if self.exidx_phdr {
            let len = self.exidx.len() as u32;
            phdrs.push([0x7000_0001, exidx, exidx, exidx, len, len, 4, 4]);
        }
        for (i, ph) in phdrs.iter().enumerate() {
            for (j, v) in ph.iter().enumerate() {
                put32(&mut b, phoff + 32 * i as u32 + 4 * j as u32, *v);
            }
        }

        b[text as usize..][..self.text.len()].copy_from_slice(&self.text);
        b[exidx as usize..][..self.exidx.len()].copy_from_slice(&self.exidx);
        b[data as usize..][..self.data.len()].copy_from_slice(&self.data);

        // Symbols.
        let place_addr = |p: Place| match p {
            Place::Text => text,
            Place::Data => data,
            Place::Bss => bss,
            Place::Abs => 0,
        };
        let mut symbols = Vec::new();
        for (i, name) in names.iter().enumerate().skip(1) {
            let at = dynsym + 16 * i as u32;
            put32(&mut b, at, name_off[i]);
            if let Some(e) = exports
                .iter()
                .find(|e| &e.name == name)
                .filter(|_| i as u32 >= symoffset)
            {
                let value = if e.offset == SSTACK_GUARD {
                    align(end, 0x1000)
                } else {
                    place_addr(e.place) + e.offset
                };
                put32(&mut b, at + 4, value);
                b[at as usize + 12] = (e.bind << 4) | if e.place == Place::Text { 2 } else { 1 };
                put16(
                    &mut b,
                    at + 14,
                    if e.place == Place::Abs { 0xfff1 } else { 1 },
                );
                symbols.push((name.clone(), value));
            } else {
                b[at as usize + 12] = (1 << 4) | 2; // GLOBAL FUNC, undefined
            }
        }
        b[dynstr_at as usize..][..dynstr.len()].copy_from_slice(&dynstr);

        if sysv {
            let mut buckets = vec![0u32; nbucket as usize];
            let mut chains = vec![0u32; nsyms as usize];
            for (i, name) in names.iter().enumerate().skip(1) {
                let h = sysv_hash(name.as_bytes()) % nbucket;
                chains[i] = buckets[h as usize];
                buckets[h as usize] = i as u32;
            }
            put32(&mut b, hash_at, nbucket);
            put32(&mut b, hash_at + 4, nsyms);
            for (i, v) in buckets.iter().chain(chains.iter()).enumerate() {
                put32(&mut b, hash_at + 8 + 4 * i as u32, *v);
            }
        }
        if gnu {
            let shift = 5;
            let mut bloom = 0u32;
            for name in &names[symoffset as usize..] {
                let h = gnu_hash(name.as_bytes());
                bloom |= 1 << (h % 32) | 1 << ((h >> shift) % 32);
            }
            put32(&mut b, gnu_at, 1); // nbucket
            put32(&mut b, gnu_at + 4, symoffset);
            put32(&mut b, gnu_at + 8, 1); // bloom words
            put32(&mut b, gnu_at + 12, shift);
            put32(&mut b, gnu_at + 16, bloom);
            put32(
                &mut b,
                gnu_at + 20,
                if ndefined > 0 { symoffset } else { 0 },
            );
            for (i, name) in names[symoffset as usize..].iter().enumerate() {
                let last = i as u32 + 1 == ndefined;
                let h = gnu_hash(name.as_bytes()) & !1 | u32::from(last);
                put32(&mut b, gnu_at + 24 + 4 * i as u32, h);
            }
        }

        // Relocations.
        let sym_index = |name: &Option<String>| match name {
            None => 0,
            Some(n) => names
                .iter()
                .position(|x| x == n)
                .expect("relocation against an unknown symbol") as u32,
        };
        let mut write_rels = |at: u32, rels: &[&Rel], rela: bool| {
            let ent = if rela { 12 } else { 8 };
            for (i, r) in rels.iter().enumerate() {
                let e = at + ent * i as u32;
                put32(&mut b, e, place_addr(r.place).wrapping_add(r.offset));
                put32(&mut b, e + 4, sym_index(&r.sym) << 8 | u32::from(r.rtype));
                if rela {
                    put32(&mut b, e + 8, r.addend as u32);
                }
            }
        };
        write_rels(rel_at, &rel_rels, false);
        write_rels(rela_at, &rela_rels, true);
        write_rels(jmprel_at, &jmp_rels, self.jmprel_rela);

        for (i, (tag, val)) in dyn_entries.iter().enumerate() {
            put32(&mut b, dynamic + 8 * i as u32, *tag);
            put32(&mut b, dynamic + 8 * i as u32 + 4, *val);
        }

        if shnum != 0 {
            b[shstrtab_at as usize..][..shstrtab.len()].copy_from_slice(&shstrtab);
            let mut shdr = |index: u32, fields: [u32; 10]| {
                for (j, v) in fields.iter().enumerate() {
                    put32(&mut b, shoff + 40 * index + 4 * j as u32, *v);
                }
            };
            for (i, &(_, typ, addr, size, entsize)) in sections.iter().enumerate() {
                let link = if typ == 11 { 0 } else { 1 };
                shdr(
                    i as u32 + 1,
                    [sh_names[i], typ, 2, addr, addr, size, link, 0, 4, entsize],
                );
            }
            let last = sections.len();
            shdr(
                last as u32 + 1,
                [
                    sh_names[last],
                    3,
                    0,
                    0,
                    shstrtab_at,
                    shstrtab.len() as u32,
                    0,
                    0,
                    1,
                    0,
                ],
            );
        }

        Built {
            bytes: b,
            text,
            data,
            bss,
            end,
            exidx,
            dynamic,
            rel: rel_at,
            jmprel: jmprel_at,
            phoff,
            symbols,
        }
    }
}
