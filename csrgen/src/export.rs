//! Reading what artiq-zynq's gateware build writes, instead of a CSV.
//!
//! `python src/gateware/kasli_soc.py -r pl.rs -c rustc-cfg -m mem.rs
//! <description.json>` writes three files with misoc's `cpu_interface`
//! exporters (read for their format, not copied):
//!
//! - `pl.rs` (`get_csr_rust`): inside `pub mod csr { ... }`, for each CSR
//!   region `pub const <NAME>_BASE: *mut u32 = 0x... as *mut u32;`, then
//!   `pub mod <name> { ... }` holding, per register, `pub const
//!   <REG>_ADDR: *mut u32 = 0x... as *mut u32;`, `pub const <REG>_SIZE:
//!   usize = <words>;`, and, for registers of at most 64 bits, `pub unsafe
//!   fn <reg>_read() -> u8|u16|u32|u64` and, unless the register is a
//!   status register, `pub unsafe fn <reg>_write(w: ...)`. Group structs,
//!   `_LEN` constants and the `CONFIG_` constants follow and are ignored.
//! - `mem.rs` (`get_mem_rust`): inside `pub mod mem { ... }`,
//!   `pub const <NAME>_BASE: usize = 0x...;` and `pub const <NAME>_SIZE:
//!   usize = 0x...;` per memory region; group arrays are ignored.
//! - `rustc-cfg`: one cfg per line, `has_<region>` or `<key>="<value>"`.
//!
//! [`to_csv`] turns the three into the CSV [`crate::parse`] reads, so an
//! export goes through exactly the checks a hand-made map does, and the
//! CSV can be kept for diffing. What the export does not say is filled in
//! by misoc's rules: a CSR bank's window is 0x800 bytes (512 words); a
//! register's width is the width of its Rust type (`u8` = 8 bits: a 1-bit
//! register reads back with its unused bits 0, so masking to 8 is
//! harmless), or 32 bits per word above 64 bits, where the export has no
//! functions and the register is taken as writable; a region named `*_mem`
//! (the aux and CoaXPress buffers) is a transmit window in its first half
//! and a read-only receive window in its second.

use std::fmt::Write as _;

use crate::{Error, HEADER};

/// misoc's CSR bank window, in bytes.
pub const BANK_BYTES: u32 = 0x800;

/// One register of `pl.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlRegister {
    pub name: String,
    pub addr: u32,
    pub words: u32,
    /// Bits of the read function's type, if it has one.
    pub read_bits: Option<u32>,
    pub writable: bool,
    pub line: usize,
}

impl PlRegister {
    /// Width in bits (see the module docs).
    pub fn bits(&self) -> u32 {
        self.read_bits.unwrap_or(32 * self.words)
    }
}

/// One CSR bank of `pl.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlBank {
    pub name: String,
    pub base: u32,
    pub regs: Vec<PlRegister>,
    pub line: usize,
}

/// One region of `mem.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemRegion {
    pub name: String,
    pub base: u32,
    pub size: u32,
    pub line: usize,
}

fn err(line: usize, m: impl Into<String>) -> Error {
    Error { line, message: m.into() }
}

/// `pub const <NAME>: <ty> = <value>;` → (NAME, the value's first token).
fn constant(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("pub const ")?;
    let (name, rest) = rest.split_once(':')?;
    let (_, value) = rest.split_once('=')?;
    let value = value.trim().trim_end_matches(';').split_whitespace().next()?;
    Some((name.trim(), value))
}

fn number(s: &str, line: usize) -> Result<u32, Error> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(&h.replace('_', ""), 16),
        None => s.replace('_', "").parse(),
    };
    r.map_err(|_| err(line, format!("`{}` is not a 32-bit number", s)))
}

/// The name of `pub unsafe fn <name>(...)`.
fn function(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("pub unsafe fn ")?;
    let (name, rest) = rest.split_once('(')?;
    Some((name.trim(), rest))
}

fn rust_type_bits(ty: &str) -> Option<u32> {
    match ty.trim() {
        "u8" => Some(8),
        "u16" => Some(16),
        "u32" => Some(32),
        "u64" => Some(64),
        _ => None,
    }
}

/// Parses `pl.rs`: the CSR banks and their registers, in file order.
pub fn parse_pl_rs(text: &str) -> Result<Vec<PlBank>, Error> {
    let mut bases: Vec<(String, u32)> = Vec::new();
    let mut banks: Vec<PlBank> = Vec::new();
    // Brace depth, and whether we are inside `pub mod csr` / a bank module.
    let mut depth = 0usize;
    let mut in_csr = false;
    let mut bank: Option<PlBank> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.starts_with("//") || line.starts_with("#[") {
            continue;
        }
        let depth_before = depth;
        depth += line.matches('{').count();
        depth = depth
            .checked_sub(line.matches('}').count())
            .ok_or_else(|| err(line_no, "unbalanced `}`"))?;
        if !in_csr {
            if line.starts_with("pub mod csr") {
                in_csr = true;
            }
            continue;
        }
        if depth_before == 1 {
            if let Some(name) = line.strip_prefix("pub mod ").and_then(|r| r.strip_suffix('{')) {
                let name = name.trim().to_owned();
                let base = bases
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|b| b.1)
                    .ok_or_else(|| err(line_no, format!("module `{}` without a `{}_BASE` before it", name, name.to_uppercase())))?;
                bank = Some(PlBank { name, base, regs: Vec::new(), line: line_no });
            } else if let Some((name, value)) = constant(line) {
                if let Some(region) = name.strip_suffix("_BASE") {
                    bases.push((region.to_ascii_lowercase(), number(value, line_no)?));
                }
            }
        } else if let Some(b) = bank.as_mut().filter(|_| depth_before == 2) {
            if let Some((name, value)) = constant(line) {
                if let Some(reg) = name.strip_suffix("_ADDR") {
                    b.regs.push(PlRegister {
                        name: reg.to_ascii_lowercase(),
                        addr: number(value, line_no)?,
                        words: 0,
                        read_bits: None,
                        writable: false,
                        line: line_no,
                    });
                } else if let Some(reg) = name.strip_suffix("_SIZE") {
                    let r = b
                        .regs
                        .last_mut()
                        .filter(|r| r.name == reg.to_ascii_lowercase())
                        .ok_or_else(|| err(line_no, format!("`{}` does not follow `{}_ADDR`", name, reg)))?;
                    r.words = number(value, line_no)?;
                }
            } else if let Some((f, rest)) = function(line) {
                let last = b.regs.last_mut().ok_or_else(|| err(line_no, format!("function `{}` before any register", f)))?;
                if f.strip_suffix("_read") == Some(last.name.as_str()) {
                    let ty = rest.split("->").nth(1).map(|t| t.trim_end_matches('{').trim()).unwrap_or("");
                    last.read_bits =
                        Some(rust_type_bits(ty).ok_or_else(|| err(line_no, format!("`{}` returns `{}`", f, ty)))?);
                } else if f.strip_suffix("_write") == Some(last.name.as_str()) {
                    last.writable = true;
                }
            }
        }
        if depth_before == 2 && depth == 1 {
            if let Some(b) = bank.take() {
                banks.push(b);
            }
        }
        if depth == 0 && in_csr && depth_before > 0 {
            break;
        }
    }
    if !in_csr {
        return Err(err(1, "no `pub mod csr` in pl.rs"));
    }
    for b in &mut banks {
        if let Some(r) = b.regs.iter().find(|r| r.words == 0) {
            return Err(err(r.line, format!("register `{}.{}` has no `_SIZE`", b.name, r.name)));
        }
        // Above 64 bits the exporter writes no functions, so nothing tells
        // a status register from a storage one: take it as writable (the
        // RTIO `o_data` is), which only permits writes a driver asks for.
        for r in b.regs.iter_mut().filter(|r| r.read_bits.is_none()) {
            r.writable = true;
        }
    }
    Ok(banks)
}

/// Parses `mem.rs`: the memory regions, in file order.
pub fn parse_mem_rs(text: &str) -> Result<Vec<MemRegion>, Error> {
    let mut regions: Vec<MemRegion> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let Some((name, value)) = constant(raw.trim()) else { continue };
        if let Some(region) = name.strip_suffix("_BASE") {
            regions.push(MemRegion {
                name: region.to_ascii_lowercase(),
                base: number(value, line_no)?,
                size: 0,
                line: line_no,
            });
        } else if let Some(region) = name.strip_suffix("_SIZE") {
            let r = regions
                .iter_mut()
                .rev()
                .find(|r| r.name == region.to_ascii_lowercase())
                .ok_or_else(|| err(line_no, format!("`{}` without `{}_BASE` before it", name, region)))?;
            r.size = number(value, line_no)?;
        }
    }
    if let Some(r) = regions.iter().find(|r| r.size == 0) {
        return Err(err(r.line, format!("region `{}` has no `_SIZE`", r.name)));
    }
    Ok(regions)
}

/// The lines of `rustc-cfg` (blank lines dropped).
pub fn parse_rustc_cfg(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// RFC 4180 quoting when needed.
fn field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The three exports as the CSV [`crate::parse`] reads (see the module
/// docs for what is filled in). `source` goes into a `#` comment.
pub fn to_csv(pl_rs: &str, mem_rs: &str, rustc_cfg: &str, source: &str) -> Result<String, (String, Error)> {
    let banks = parse_pl_rs(pl_rs).map_err(|e| ("pl.rs".to_owned(), e))?;
    let regions = parse_mem_rs(mem_rs).map_err(|e| ("mem.rs".to_owned(), e))?;
    let cfgs = parse_rustc_cfg(rustc_cfg);
    let mut o = String::new();
    let _ = writeln!(o, "# Made by csrgen from {} (pl.rs, mem.rs, rustc-cfg); do not edit.", source);
    let _ = writeln!(o, "{}", HEADER);
    for b in &banks {
        let _ = writeln!(o, "bank,{},{:#010x},{},", b.name, b.base, BANK_BYTES * 8);
        for r in &b.regs {
            let access = if r.writable { "rw" } else { "ro" };
            let _ = writeln!(o, "csr,{}.{},{:#010x},{},{}", b.name, r.name, r.addr, r.bits(), access);
        }
    }
    for m in &regions {
        let Some(bits) = m.size.checked_mul(8) else {
            let _ = writeln!(o, "# region {} ({:#x} bytes) left out: too large for the map's size field", m.name, m.size);
            continue;
        };
        let _ = writeln!(o, "mem,{},{:#010x},{},rw", m.name, m.base, bits);
        if m.name.ends_with("_mem") && m.size >= 8 {
            let half = m.size / 2;
            let _ = writeln!(o, "mem_window,{}.tx,{:#010x},{},rw", m.name, m.base, half * 8);
            let _ = writeln!(o, "mem_window,{}.rx,{:#010x},{},ro", m.name, m.base + half, half * 8);
        }
    }
    for c in &cfgs {
        let _ = writeln!(o, "cfg,{},,,", field(c));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PL: &str = include_str!("../tests/fixtures/pl.rs");
    const MEM: &str = include_str!("../tests/fixtures/mem.rs");
    const CFG: &str = include_str!("../tests/fixtures/rustc-cfg");

    #[test]
    fn pl_rs_banks_registers_widths_and_access() {
        let banks = parse_pl_rs(PL).unwrap();
        let names: Vec<&str> = banks.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["identifier", "drtiosat", "drtioaux0", "drtioaux1", "rtio"]);
        let sat = &banks[1];
        assert_eq!(sat.base, 0x8000_2800);
        let tsc = sat.regs.iter().find(|r| r.name == "tsc_loaded").unwrap();
        assert_eq!((tsc.addr, tsc.words, tsc.bits(), tsc.writable), (0x8000_280c, 1, 8, true));
        let rx_up = sat.regs.iter().find(|r| r.name == "rx_up").unwrap();
        assert!(!rx_up.writable);
        let cnt = sat.regs.iter().find(|r| r.name == "underflow_timestamp_event").unwrap();
        assert_eq!((cnt.words, cnt.bits()), (2, 64));
        let o_data = banks[4].regs.iter().find(|r| r.name == "o_data").unwrap();
        assert_eq!((o_data.words, o_data.read_bits, o_data.bits(), o_data.writable), (16, None, 512, true));
    }

    #[test]
    fn mem_rs_regions() {
        let regions = parse_mem_rs(MEM).unwrap();
        assert_eq!(
            regions.iter().map(|r| (r.name.as_str(), r.base, r.size)).collect::<Vec<_>>(),
            [("csr", 0x8000_0000, 0x1_0000), ("drtioaux0_mem", 0x8001_2000, 0x4000), ("drtioaux1_mem", 0x8001_6000, 0x4000)]
        );
    }

    #[test]
    fn converted_map_parses_and_feeds_the_aux_driver() {
        let csv = to_csv(PL, MEM, CFG, "fixtures").unwrap();
        let map = crate::parse(&csv).unwrap_or_else(|e| panic!("{}: {}\n{}", e.line, e.message, csv));
        let aux0 = map.mems.iter().find(|m| m.name == "drtioaux0_mem").unwrap();
        assert_eq!((aux0.windows[0].base, aux0.windows[1].base, aux0.windows[1].size), (0x8001_2000, 0x8001_4000, 0x2000));
        assert!(!aux0.windows[1].writable);
        assert_eq!(map.cfgs.iter().find(|c| c.name == "rtio_frequency").unwrap().value.as_deref(), Some("125.0"));
        assert_eq!(map.bank("drtioaux1").unwrap().size, BANK_BYTES);
        let a = crate::analyze(&map);
        let aux = crate::DRIVERS.iter().find(|d| d.cfg == "aux").unwrap();
        assert_eq!(crate::check_driver(&map, &a, aux), Vec::<String>::new());
    }

    #[test]
    fn errors_name_file_and_line() {
        let (file, e) = to_csv("pub mod csr {\n  pub mod x {\n  }\n}\n", MEM, CFG, "t").unwrap_err();
        assert_eq!((file.as_str(), e.line), ("pl.rs", 2));
        assert!(e.message.contains("X_BASE"), "{}", e.message);
        let (file, e) = to_csv(PL, "pub mod mem {\n  pub const A_SIZE: usize = 0x10;\n}\n", CFG, "t").unwrap_err();
        assert_eq!((file.as_str(), e.line), ("mem.rs", 2));
        let e = parse_pl_rs("// nothing\n").unwrap_err();
        assert!(e.message.contains("pub mod csr"));
        let bad = "pub mod csr {\n  pub const A_BASE: *mut u32 = 0x10 as *mut u32;\n  pub mod a {\n    pub const R_ADDR: *mut u32 = 0x10 as *mut u32;\n  }\n}\n";
        assert!(parse_pl_rs(bad).unwrap_err().message.contains("_SIZE"));
    }

    /// The shipped map, written out as misoc would write it, reads back
    /// with the same banks, addresses, words and access (widths rounded up
    /// to the Rust type), regions and cfg lines.
    #[test]
    fn the_shipped_map_round_trips_through_misoc_format() {
        let map = crate::parse(include_str!("../../gateware/kasli-soc-satellite-csr.csv")).unwrap();
        let (pl, mem, cfg) = misoc_like(&map);
        let back = crate::parse(&to_csv(&pl, &mem, &cfg, "round trip").unwrap()).unwrap();
        assert_eq!(back.banks.len(), map.banks.len());
        for (a, b) in map.banks.iter().zip(&back.banks) {
            assert_eq!((&a.name, a.base, a.size), (&b.name, b.base, b.size));
            assert_eq!(a.regs.len(), b.regs.len(), "{}", a.name);
            for (r, s) in a.regs.iter().zip(&b.regs) {
                assert_eq!((&r.name, r.addr, r.words(), r.writable), (&s.name, s.addr, s.words(), s.writable));
                assert!(s.bits >= r.bits && s.bits.div_ceil(32) == r.words(), "{}.{}", a.name, r.name);
            }
        }
        assert_eq!(back.mems, map.mems.iter().cloned().map(|mut m| {
            // Line numbers differ; everything else must not.
            let line = back.mems.iter().find(|n| n.name == m.name).unwrap();
            m.line = line.line;
            for (w, v) in m.windows.iter_mut().zip(&line.windows) {
                w.line = v.line;
            }
            m
        }).collect::<Vec<_>>());
        assert_eq!(
            back.cfgs.iter().map(|c| (&c.name, &c.value)).collect::<Vec<_>>(),
            map.cfgs.iter().map(|c| (&c.name, &c.value)).collect::<Vec<_>>()
        );
    }

    /// `pl.rs`, `mem.rs` and `rustc-cfg` in the exporters' layout.
    fn misoc_like(map: &crate::Map) -> (String, String, String) {
        let mut pl = String::from("// Include this file as:\n#[allow(dead_code)]\npub mod csr {\n");
        for b in &map.banks {
            let _ = writeln!(pl, "  pub const {}_BASE: *mut u32 = {:#x} as *mut u32;\n", b.name.to_uppercase(), b.base);
            let _ = writeln!(pl, "  pub mod {} {{\n    #[allow(unused_imports)]\n    use core::ptr::{{read_volatile, write_volatile}};\n", b.name);
            for r in &b.regs {
                let up = r.name.to_uppercase();
                let _ = writeln!(pl, "    pub const {}_ADDR: *mut u32 = {:#x} as *mut u32;", up, r.addr);
                let _ = writeln!(pl, "    pub const {}_SIZE: usize = {};\n", up, r.words());
                let ty = match r.bits {
                    65.. => continue,
                    33..=64 => "u64",
                    17..=32 => "u32",
                    9..=16 => "u16",
                    _ => "u8",
                };
                let _ = writeln!(pl, "    #[inline(always)]\n    pub unsafe fn {}_read() -> {} {{\n      read_volatile({}_ADDR) as {}\n    }}\n", r.name, ty, up, ty);
                if r.writable {
                    let _ = writeln!(pl, "    #[inline(always)]\n    pub unsafe fn {}_write(w: {}) {{\n      write_volatile({}_ADDR.offset(0), (w) as u32);\n    }}\n", r.name, ty, up);
                }
            }
            pl.push_str("  }\n\n");
        }
        pl.push_str("  pub const DRTIOAUX_LEN: usize = 3;\n  pub const CONFIG_HAS_SI5324: u32 = 1;\n}\n");
        let mut mem = String::from("#[allow(dead_code)]\npub mod mem {\n");
        for m in &map.mems {
            let _ = writeln!(mem, "  pub const {}_BASE: usize = {:#010x};", m.name.to_uppercase(), m.base);
            let _ = writeln!(mem, "  pub const {}_SIZE: usize = {:#010x};\n", m.name.to_uppercase(), m.size);
        }
        mem.push_str("  pub struct MemoryRegion {\n    pub base: usize,\n    pub size: usize,\n  }\n}\n");
        let cfg = map
            .cfgs
            .iter()
            .map(|c| match &c.value {
                None => format!("{}\n", c.name),
                Some(v) => format!("{}=\"{}\"\n", c.name, v),
            })
            .collect();
        (pl, mem, cfg)
    }
}
