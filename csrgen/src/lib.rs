//! CSR map parser, checker and code generator (a build dependency of
//! `satman`).
//!
//! `satman/build.rs` turns the gateware's CSR map (a CSV, see
//! `gateware/README.md`) into `$OUT_DIR/csr.rs` with it, and decides from
//! [`DRIVERS`] which gateware drivers the firmware can build. It runs on
//! the build host only, so it is an ordinary `std` crate; its own tests
//! check the parser against the map the firmware ships.
//!
//! # Input
//!
//! A header `kind,name,address,size_bits,access`, then one row per item:
//!
//! | kind | name | address | size_bits | access |
//! |---|---|---|---|---|
//! | `bank` | bank | bank base | window size in bits | empty |
//! | `csr` | `bank.register` | first (most significant) word | width in bits | `ro`/`rw` |
//! | `mem` | region | base | size in bits | `ro`/`rw` |
//! | `mem_window` | `region.port` | base | size in bits | `ro`/`rw` |
//! | `cfg` | one `rustc-cfg` line, verbatim | empty | empty | empty |
//!
//! Fields follow RFC 4180 quoting. Blank lines and lines starting with `#`
//! are skipped. Addresses are hex (`0x...`) or decimal and must fit 32 bits
//! (the Zynq's address space); every address is word-aligned. A bank's or
//! region's rows come after the row declaring it. Every error names its line.
//!
//! # Output
//!
//! See [`generate`]: one module per bank with typed register constants,
//! group arrays (`DRTIOAUX`, `DRTIOREP`, ...) for banks that differ only by
//! an index, the memory regions and their windows, and the cfg rows as
//! constants. [`DRIVERS`] and [`check_driver`] say which gateware drivers the
//! map can feed.

pub mod export;

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The header row every map starts with.
pub const HEADER: &str = "kind,name,address,size_bits,access";

/// Widest register accepted, in bits (the RTIO `o_data` register is 512).
pub const MAX_REGISTER_BITS: u32 = 1024;

/// A parse or validation error, with the 1-based line it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub message: String,
}

impl Error {
    fn new(line: usize, message: impl Into<String>) -> Error {
        Error { line, message: message.into() }
    }
}

/// The whole map, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Map {
    pub banks: Vec<Bank>,
    pub mems: Vec<Mem>,
    pub cfgs: Vec<Cfg>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bank {
    pub name: String,
    pub base: u32,
    /// Window size in bytes.
    pub size: u32,
    pub regs: Vec<Register>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    pub name: String,
    /// Address of the first, most significant, word.
    pub addr: u32,
    pub bits: u32,
    pub writable: bool,
    pub line: usize,
}

impl Register {
    /// 32-bit words the register takes.
    pub fn words(&self) -> u32 {
        self.bits.div_ceil(32)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mem {
    pub name: String,
    pub base: u32,
    /// Size in bytes.
    pub size: u32,
    pub writable: bool,
    pub windows: Vec<Window>,
    pub line: usize,
}

/// A part of a memory region (`tx`, `rx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub name: String,
    pub base: u32,
    pub size: u32,
    pub writable: bool,
    pub line: usize,
}

/// One `rustc-cfg` line: a flag, or `key="value"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cfg {
    pub name: String,
    pub value: Option<String>,
    pub line: usize,
}

impl Map {
    pub fn bank(&self, name: &str) -> Option<&Bank> {
        self.banks.iter().find(|b| b.name == name)
    }
}

impl Bank {
    pub fn reg(&self, name: &str) -> Option<&Register> {
        self.regs.iter().find(|r| r.name == name)
    }
}

// ---- parsing ------------------------------------------------------------

/// Parses and validates a CSR map.
pub fn parse(text: &str) -> Result<Map, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut map = Map::default();
    let mut header = false;
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let fields = split_fields(raw).map_err(|m| Error::new(line, m))?;
        if !header {
            if fields.iter().map(|f| f.trim()).ne(HEADER.split(',')) {
                return Err(Error::new(line, format!("expected the header `{}`", HEADER)));
            }
            header = true;
            continue;
        }
        let [kind, name, address, size, access]: [String; 5] = fields
            .try_into()
            .map_err(|f: Vec<String>| Error::new(line, format!("expected 5 fields, found {}", f.len())))?;
        let row = Row { line, name: name.trim(), address: address.trim(), size: size.trim(), access: access.trim() };
        match kind.trim() {
            "bank" => row.bank(&mut map)?,
            "csr" => row.csr(&mut map)?,
            "mem" => row.mem(&mut map)?,
            "mem_window" => row.mem_window(&mut map)?,
            "cfg" => row.cfg(&mut map)?,
            other => {
                return Err(Error::new(
                    line,
                    format!("unknown kind `{}` (expected bank, csr, mem, mem_window or cfg)", other),
                ))
            }
        }
    }
    if !header {
        return Err(Error::new(1, format!("empty CSR map: no `{}` header", HEADER)));
    }
    check_overlaps(&map)?;
    Ok(map)
}

struct Row<'a> {
    line: usize,
    name: &'a str,
    address: &'a str,
    size: &'a str,
    access: &'a str,
}

impl Row<'_> {
    fn err(&self, message: impl Into<String>) -> Error {
        Error::new(self.line, message)
    }

    fn address(&self) -> Result<u32, Error> {
        let a = parse_number(self.address).map_err(|m| self.err(format!("address: {}", m)))?;
        if a % 4 != 0 {
            return Err(self.err(format!("address {:#x} is not word-aligned", a)));
        }
        Ok(a)
    }

    /// Size in bits, checked to be a positive number of whole 32-bit words
    /// when `words` is set.
    fn size_bits(&self, words: bool) -> Result<u32, Error> {
        let s = parse_number(self.size).map_err(|m| self.err(format!("size_bits: {}", m)))?;
        if s == 0 {
            return Err(self.err("size_bits is 0"));
        }
        if words && s % 32 != 0 {
            return Err(self.err(format!("size_bits {} is not a whole number of 32-bit words", s)));
        }
        Ok(s)
    }

    fn access(&self) -> Result<bool, Error> {
        match self.access {
            "rw" => Ok(true),
            "ro" => Ok(false),
            a => Err(self.err(format!("access `{}`: expected `ro` or `rw`", a))),
        }
    }

    fn no_fields(&self, what: &str) -> Result<(), Error> {
        if [self.address, self.size, self.access].iter().any(|f| !f.is_empty()) {
            return Err(self.err(format!("{} rows have empty address, size_bits and access", what)));
        }
        Ok(())
    }

    fn bank(&self, map: &mut Map) -> Result<(), Error> {
        check_ident(self.name).map_err(|m| self.err(format!("bank name: {}", m)))?;
        if RESERVED_MODULES.contains(&self.name) {
            return Err(self.err(format!("bank name `{}` clashes with a generated module", self.name)));
        }
        if map.bank(self.name).is_some() {
            return Err(self.err(format!("bank `{}` is declared twice", self.name)));
        }
        let base = self.address()?;
        let size = self.size_bits(true)? / 8;
        end_of(base, size).ok_or_else(|| self.err("bank window runs past 0xffff_ffff"))?;
        if !self.access.is_empty() {
            return Err(self.err("bank rows have an empty access field"));
        }
        map.banks.push(Bank { name: self.name.to_owned(), base, size, regs: Vec::new(), line: self.line });
        Ok(())
    }

    fn csr(&self, map: &mut Map) -> Result<(), Error> {
        let (bank_name, reg_name) =
            self.name.split_once('.').ok_or_else(|| self.err(format!("`{}`: expected `bank.register`", self.name)))?;
        check_ident(reg_name).map_err(|m| self.err(format!("register name: {}", m)))?;
        if RESERVED_REGISTERS.contains(&reg_name) {
            return Err(self.err(format!("register name `{}` clashes with a generated constant", reg_name)));
        }
        let addr = self.address()?;
        let bits = self.size_bits(false)?;
        if bits > MAX_REGISTER_BITS {
            return Err(self.err(format!("{} bits: registers are at most {} bits", bits, MAX_REGISTER_BITS)));
        }
        let writable = self.access()?;
        let line = self.line;
        let bank = map.banks.iter_mut().find(|b| b.name == bank_name).ok_or_else(|| {
            Error::new(line, format!("register of bank `{}`, which no earlier `bank` row declares", bank_name))
        })?;
        if let Some(other) = bank.reg(reg_name) {
            return Err(self.err(format!("register `{}` is declared twice (first on line {})", self.name, other.line)));
        }
        let reg = Register { name: reg_name.to_owned(), addr, bits, writable, line };
        let end = end_of(addr, reg.words() * 4);
        let bank_end = end_of(bank.base, bank.size);
        if addr < bank.base || end.is_none() || end > bank_end {
            return Err(self.err(format!(
                "register `{}` ({:#x}, {} words) lies outside bank `{}` ({:#x}..{:#x})",
                self.name,
                addr,
                reg.words(),
                bank.name,
                bank.base,
                bank_end.unwrap_or(0)
            )));
        }
        bank.regs.push(reg);
        Ok(())
    }

    fn mem(&self, map: &mut Map) -> Result<(), Error> {
        check_ident(self.name).map_err(|m| self.err(format!("region name: {}", m)))?;
        if let Some(other) = map.mems.iter().find(|m| m.name == self.name) {
            return Err(self.err(format!("region `{}` is declared twice (first on line {})", self.name, other.line)));
        }
        let base = self.address()?;
        let size = self.size_bits(true)? / 8;
        end_of(base, size).ok_or_else(|| self.err("region runs past 0xffff_ffff"))?;
        let writable = self.access()?;
        map.mems.push(Mem { name: self.name.to_owned(), base, size, writable, windows: Vec::new(), line: self.line });
        Ok(())
    }

    fn mem_window(&self, map: &mut Map) -> Result<(), Error> {
        let (region, port) =
            self.name.split_once('.').ok_or_else(|| self.err(format!("`{}`: expected `region.window`", self.name)))?;
        check_ident(port).map_err(|m| self.err(format!("window name: {}", m)))?;
        let base = self.address()?;
        let size = self.size_bits(true)? / 8;
        let writable = self.access()?;
        let line = self.line;
        let mem = map.mems.iter_mut().find(|m| m.name == region).ok_or_else(|| {
            Error::new(line, format!("window of region `{}`, which no earlier `mem` row declares", region))
        })?;
        if let Some(other) = mem.windows.iter().find(|w| w.name == port) {
            return Err(self.err(format!("window `{}` is declared twice (first on line {})", self.name, other.line)));
        }
        let end = end_of(base, size);
        let mem_end = end_of(mem.base, mem.size);
        if base < mem.base || end.is_none() || end > mem_end {
            return Err(self.err(format!("window `{}` lies outside region `{}`", self.name, mem.name)));
        }
        if let Some(other) = mem.windows.iter().find(|w| overlap(w.base, w.size, base, size)) {
            return Err(
                self.err(format!("window `{}` overlaps `{}.{}` (line {})", self.name, region, other.name, other.line))
            );
        }
        if writable && !mem.writable {
            return Err(self.err(format!("window `{}` is rw inside the read-only region `{}`", self.name, region)));
        }
        mem.windows.push(Window { name: port.to_owned(), base, size, writable, line });
        Ok(())
    }

    fn cfg(&self, map: &mut Map) -> Result<(), Error> {
        self.no_fields("cfg")?;
        let (name, value) = match self.name.split_once('=') {
            None => (self.name, None),
            Some((k, v)) => {
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .ok_or_else(|| self.err(format!("cfg `{}`: the value must be in double quotes", self.name)))?;
                if v.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
                    return Err(self.err(format!(
                        "cfg `{}`: quotes, backslashes and control characters are not supported in values",
                        self.name
                    )));
                }
                (k, Some(v.to_owned()))
            }
        };
        let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(self.err(format!("cfg `{}`: `{}` is not a cfg name", self.name, name)));
        }
        let konst = name.to_ascii_uppercase();
        if konst == "ALL" {
            return Err(self.err("cfg name `all` clashes with the generated `config::ALL`"));
        }
        if let Some(other) = map.cfgs.iter().find(|c| c.name.to_ascii_uppercase() == konst) {
            return Err(self.err(format!("cfg `{}` repeats `{}` (line {})", self.name, other.name, other.line)));
        }
        map.cfgs.push(Cfg { name: name.to_owned(), value, line: self.line });
        Ok(())
    }
}

/// Names the generator uses at the top level of `csr.rs`.
const RESERVED_MODULES: &[&str] = &["mem", "config", "core", "std", "alloc"];
/// Names the generator uses inside a bank module, in lower case.
const RESERVED_REGISTERS: &[&str] = &["base", "size"];

const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Bank, register and region names become Rust modules, fields and
/// constants: lower-case identifiers that are not keywords.
fn check_ident(s: &str) -> Result<(), String> {
    let ok = s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s != "_";
    if !ok {
        return Err(format!("`{}` is not a lower-case identifier ([a-z_][a-z0-9_]*)", s));
    }
    if KEYWORDS.contains(&s) {
        return Err(format!("`{}` is a Rust keyword", s));
    }
    Ok(())
}

fn parse_number(s: &str) -> Result<u32, String> {
    if s.is_empty() {
        return Err("missing".to_owned());
    }
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if hex.chars().all(|c| c.is_ascii_hexdigit()) => u32::from_str_radix(hex, 16),
        None if s.chars().all(|c| c.is_ascii_digit()) => s.parse::<u32>(),
        _ => return Err(format!("`{}` is not a number (0x-prefixed hex or decimal)", s)),
    };
    r.map_err(|_| format!("`{}` does not fit 32 bits", s))
}

/// End (exclusive) of `base..base+size` if it stays within 32 bits.
fn end_of(base: u32, size: u32) -> Option<u64> {
    let end = base as u64 + size as u64;
    (end <= 1 << 32).then_some(end)
}

fn overlap(a: u32, a_len: u32, b: u32, b_len: u32) -> bool {
    let (a, b) = (a as u64, b as u64);
    a < b + b_len as u64 && b < a + a_len as u64
}

/// Splits one CSV record (RFC 4180; no line breaks inside fields).
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    // Where we are in the current field.
    #[derive(PartialEq)]
    enum St {
        Start,
        Bare,
        Quoted,
        Closed,
    }
    let mut st = St::Start;
    while let Some(c) = chars.next() {
        match (&st, c) {
            (St::Quoted, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (St::Quoted, '"') => st = St::Closed,
            (St::Quoted, c) => cur.push(c),
            (_, ',') => {
                fields.push(core::mem::take(&mut cur));
                st = St::Start;
            }
            (St::Start, '"') => st = St::Quoted,
            (St::Closed, c) => return Err(format!("`{}` after a closing quote", c)),
            (_, '"') => return Err("a quote inside an unquoted field".to_owned()),
            (_, c) => {
                cur.push(c);
                st = St::Bare;
            }
        }
    }
    if st == St::Quoted {
        return Err("unterminated quoted field".to_owned());
    }
    fields.push(cur);
    Ok(fields)
}

/// Registers overlapping inside a bank, banks overlapping each other, and
/// regions overlapping each other are all errors.
fn check_overlaps(map: &Map) -> Result<(), Error> {
    for bank in &map.banks {
        let mut regs: Vec<&Register> = bank.regs.iter().collect();
        regs.sort_by_key(|r| r.addr);
        for pair in regs.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if overlap(a.addr, a.words() * 4, b.addr, b.words() * 4) {
                let (first, second) = if a.line < b.line { (a, b) } else { (b, a) };
                return Err(Error::new(
                    second.line,
                    format!(
                        "register `{}.{}` overlaps `{}.{}` (line {})",
                        bank.name, second.name, bank.name, first.name, first.line
                    ),
                ));
            }
        }
    }
    for (i, a) in map.banks.iter().enumerate() {
        if let Some(b) = map.banks[..i].iter().find(|b| overlap(a.base, a.size, b.base, b.size)) {
            return Err(Error::new(a.line, format!("bank `{}` overlaps bank `{}` (line {})", a.name, b.name, b.line)));
        }
    }
    for (i, a) in map.mems.iter().enumerate() {
        if let Some(b) = map.mems[..i].iter().find(|b| overlap(a.base, a.size, b.base, b.size)) {
            return Err(Error::new(
                a.line,
                format!("region `{}` overlaps region `{}` (line {})", a.name, b.name, b.line),
            ));
        }
    }
    Ok(())
}

// ---- groups -------------------------------------------------------------

/// Banks (or regions) that differ only by an index: `drtioaux0..2` form
/// the group `drtioaux`, `drtioaux0_mem..` the group `drtioaux_mem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    /// Indices into `Map::banks` (or `Map::mems`), by member index.
    pub members: Vec<usize>,
}

/// What [`analyze`] found: the groups, and why other indexed names form none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    pub banks: Vec<Group>,
    /// Region groups whose members all have a `tx` and an `rx` window.
    pub ports: Vec<Group>,
    /// Group name -> why it was not formed.
    pub rejected: BTreeMap<String, String>,
}

impl Analysis {
    pub fn bank_group(&self, name: &str) -> Option<&Group> {
        self.banks.iter().find(|g| g.name == name)
    }
    pub fn port_group(&self, name: &str) -> Option<&Group> {
        self.ports.iter().find(|g| g.name == name)
    }
}

/// `drtioaux1_mem` -> (`drtioaux_mem`, 1): the last run of digits is the
/// index; it must not have leading zeros, and the rest must be non-empty.
fn split_index(name: &str) -> Option<(String, usize)> {
    let bytes = name.as_bytes();
    let end = bytes.iter().rposition(|b| b.is_ascii_digit())? + 1;
    let start = bytes[..end].iter().rposition(|b| !b.is_ascii_digit()).map_or(0, |p| p + 1);
    let digits = &name[start..end];
    if start == 0 || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let index = digits.parse().ok()?;
    Some((format!("{}{}", &name[..start], &name[end..]), index))
}

/// Collects `(group name, index, item)` for every indexed name, then keeps
/// the groups whose indices run 0..n and whose members pass `same`.
fn collect_groups<T>(
    items: &[T],
    name_of: impl Fn(&T) -> &str,
    same: impl Fn(&T, &T) -> Result<(), String>,
    taken: &dyn Fn(&str) -> bool,
    rejected: &mut BTreeMap<String, String>,
) -> Vec<Group> {
    let mut by_name: BTreeMap<String, BTreeMap<usize, usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        if let Some((g, idx)) = split_index(name_of(item)) {
            by_name.entry(g).or_default().insert(idx, i);
        }
    }
    let mut groups = Vec::new();
    // Groups come out in order of their first member in the map.
    let mut order: Vec<(String, BTreeMap<usize, usize>)> = by_name.into_iter().collect();
    order.sort_by_key(|(_, m)| m.values().min().copied());
    for (name, members) in order {
        if check_ident(&name).is_err() || taken(&name) {
            rejected.insert(name.clone(), format!("`{}` cannot name a group", name));
            continue;
        }
        if members.keys().copied().ne(0..members.len()) {
            let idx: Vec<String> = members.keys().map(|k| k.to_string()).collect();
            rejected.insert(name, format!("indices {} do not run from 0 without gaps", idx.join(", ")));
            continue;
        }
        let members: Vec<usize> = members.into_values().collect();
        let first = &items[members[0]];
        if let Some(why) = members[1..].iter().find_map(|&m| same(first, &items[m]).err()) {
            rejected.insert(name, why);
            continue;
        }
        groups.push(Group { name, members });
    }
    groups
}

/// Finds the bank and region groups.
pub fn analyze(map: &Map) -> Analysis {
    let mut rejected = BTreeMap::new();
    let taken = |g: &str| {
        let upper = g.to_ascii_uppercase();
        map.banks.iter().any(|b| b.name == g)
            || ["REGISTERS", "MEMORY", "SOURCE_FILE", "SOURCE_HASH"].iter().any(|r| upper.starts_with(r))
    };
    let banks = collect_groups(&map.banks, |b| &b.name, same_layout, &taken, &mut rejected);
    let ports = {
        let bank_taken = |g: &str| taken(g) || banks.iter().any(|b| b.name == g);
        let with_ports: Vec<&Mem> = map.mems.iter().filter(|m| ports_of(m).is_some()).collect();
        let mut groups = collect_groups(&with_ports, |m| &m.name, same_ports, &bank_taken, &mut rejected);
        // Back to indices into `map.mems`.
        for g in &mut groups {
            for m in &mut g.members {
                let name = &with_ports[*m].name;
                *m = map.mems.iter().position(|x| &x.name == name).unwrap_or(0);
            }
        }
        groups
    };
    Analysis { banks, ports, rejected }
}

fn same_layout(a: &Bank, b: &Bank) -> Result<(), String> {
    let differ = |what: String| Err(format!("`{}` and `{}` differ: {}", a.name, b.name, what));
    if a.size != b.size {
        return differ("window size".to_owned());
    }
    if a.regs.len() != b.regs.len() {
        return differ(format!("{} vs {} registers", a.regs.len(), b.regs.len()));
    }
    for (x, y) in a.regs.iter().zip(&b.regs) {
        if x.name != y.name || x.addr - a.base != y.addr - b.base || x.bits != y.bits || x.writable != y.writable {
            return differ(format!("register `{}` vs `{}`", x.name, y.name));
        }
    }
    Ok(())
}

fn ports_of(m: &Mem) -> Option<(&Window, &Window)> {
    let find = |n: &str| m.windows.iter().find(|w| w.name == n);
    Some((find("tx")?, find("rx")?))
}

fn same_ports(a: &&Mem, b: &&Mem) -> Result<(), String> {
    let (Some((at, ar)), Some((bt, br))) = (ports_of(a), ports_of(b)) else {
        return Err("missing tx/rx windows".to_owned());
    };
    let same = a.size == b.size
        && at.base - a.base == bt.base - b.base
        && ar.base - a.base == br.base - b.base
        && at.size == bt.size
        && ar.size == br.size;
    if same {
        Ok(())
    } else {
        Err(format!("`{}` and `{}` have different layouts", a.name, b.name))
    }
}

// ---- driver requirements -------------------------------------------------

/// A register a driver touches. `words: None` accepts any width.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    /// A bank, or a bank group (then checked in its member 0).
    pub bank: &'static str,
    pub group: bool,
    pub reg: &'static str,
    pub words: Option<u32>,
    pub write: bool,
}

const fn r(bank: &'static str, reg: &'static str, words: u32, write: bool) -> Need {
    Need { bank, group: false, reg, words: Some(words), write }
}

const fn g(group: &'static str, reg: &'static str, write: bool) -> Need {
    Need { bank: group, group: true, reg, words: Some(1), write }
}

/// One gateware driver: the cfg value that compiles it in and what it needs.
#[derive(Debug, Clone, Copy)]
pub struct Driver {
    /// `gateware_driver = "<cfg>"` is set when the map satisfies `needs`.
    pub cfg: &'static str,
    pub what: &'static str,
    /// Whether a `kasli_soc` build fails without it.
    pub board_required: bool,
    pub needs: &'static [Need],
    /// Region groups with `tx`/`rx` windows, one per member of the bank
    /// group of the same index (`drtioaux_mem` for `drtioaux`).
    pub ports: &'static [(&'static str, &'static str)],
}

/// Everything the drivers in `satman::gateware` use. A driver is compiled
/// in only if the map has all of it (`build.rs` sets the cfg), and a
/// `kasli_soc` build fails if a `board_required` driver is left out.
pub const DRIVERS: &[Driver] = &[
    Driver {
        cfg: "aux",
        what: "aux link driver (GatewareAux)",
        board_required: true,
        needs: &[
            r("drtioaux0", "aux_tx_length", 1, true),
            g("drtioaux", "aux_tx_length", true),
            g("drtioaux", "aux_tx", true),
            g("drtioaux", "aux_rx_present", true),
            g("drtioaux", "aux_rx_error", true),
            g("drtioaux", "aux_read_pointer", false),
            r("drtiosat", "rx_up", 1, false),
        ],
        ports: &[("drtioaux_mem", "drtioaux")],
    },
    Driver {
        cfg: "aux_repeaters",
        what: "repeater links of the aux driver (`rx_up` of drtiorep<N>)",
        board_required: false,
        needs: &[g("drtiorep", "rx_up", false)],
        ports: &[],
    },
    Driver {
        cfg: "rtio",
        what: "RTIO core driver (GatewareRtio)",
        board_required: true,
        needs: &[
            r("drtiosat", "reset", 1, true),
            r("drtiosat", "reset_phy", 1, true),
            r("drtiosat", "tsc_loaded", 1, true),
            r("drtiosat", "rtio_error", 1, true),
            r("drtiosat", "sequence_error_channel", 1, false),
            r("drtiosat", "collision_channel", 1, false),
            r("drtiosat", "busy_channel", 1, false),
            r("cri_con", "selected", 1, true),
            r("routing_table", "destination", 1, true),
            r("routing_table", "hop", 1, true),
            r("drtiosat", "protocol_error", 1, true),
            r("drtiosat", "buffer_space_timeout_dest", 1, false),
            r("drtiosat", "underflow_channel", 1, false),
            r("drtiosat", "underflow_timestamp_event", 2, false),
            r("drtiosat", "underflow_timestamp_counter", 2, false),
        ],
        ports: &[],
    },
    Driver {
        cfg: "repeaters",
        what: "repeater driver of GatewareRtio (drtiorep<N>: TSC sync, reset, errors)",
        board_required: false,
        needs: &[
            g("drtiorep", "set_time", true),
            g("drtiorep", "reset", true),
            g("drtiorep", "protocol_error", true),
            g("drtiorep", "command_missed_cmd", false),
            g("drtiorep", "command_missed_chan_sel", false),
            g("drtiorep", "buffer_space_timeout_dest", false),
        ],
        ports: &[],
    },
    Driver {
        cfg: "dma",
        what: "DMA engine driver (GatewareDma)",
        board_required: true,
        needs: &[
            r("rtio_dma", "enable", 1, true),
            r("rtio_dma", "base_address", 1, true),
            r("rtio_dma", "time_offset", 2, true),
            r("rtio_dma", "error", 1, true),
            r("rtio_dma", "error_channel", 1, false),
            r("rtio_dma", "error_timestamp", 2, false),
        ],
        ports: &[],
    },
    Driver {
        cfg: "moninj",
        what: "moninj driver (GatewareMoninj)",
        board_required: true,
        needs: &[
            r("rtio_moninj", "mon_chan_sel", 1, true),
            r("rtio_moninj", "mon_probe_sel", 1, true),
            r("rtio_moninj", "mon_value_update", 1, true),
            r("rtio_moninj", "mon_value", 1, false),
            r("rtio_moninj", "inj_chan_sel", 1, true),
            r("rtio_moninj", "inj_override_sel", 1, true),
            r("rtio_moninj", "inj_value", 1, true),
        ],
        ports: &[],
    },
    Driver {
        cfg: "analyzer",
        what: "RTIO analyzer driver (GatewareAnalyzer)",
        board_required: true,
        needs: &[
            r("rtio_analyzer", "enable", 1, true),
            r("rtio_analyzer", "busy", 1, false),
            r("rtio_analyzer", "message_encoder_overflow", 1, false),
            r("rtio_analyzer", "message_encoder_overflow_reset", 1, true),
            r("rtio_analyzer", "dma_reset", 1, true),
            r("rtio_analyzer", "dma_base_address", 1, true),
            r("rtio_analyzer", "dma_last_address", 1, true),
            r("rtio_analyzer", "dma_byte_count", 1, false),
            r("rtio_analyzer", "dma_bus_error", 1, false),
        ],
        ports: &[],
    },
    Driver {
        cfg: "kernel_rtio",
        what: "kernel RTIO initiator driver (GatewareKernelRtio)",
        board_required: true,
        needs: &[
            r("rtio", "target", 1, true),
            r("rtio", "now", 2, true),
            Need { bank: "rtio", group: false, reg: "o_data", words: None, write: true },
            r("rtio", "o_status", 1, false),
            r("rtio", "i_timeout", 2, true),
            r("rtio", "i_data", 1, false),
            r("rtio", "i_timestamp", 2, false),
            r("rtio", "i_status", 1, false),
            r("rtio", "counter", 2, false),
            r("rtio", "counter_update", 1, true),
        ],
        ports: &[],
    },
];

/// What `driver` misses in `map` (empty: the driver can be built).
pub fn check_driver(map: &Map, analysis: &Analysis, driver: &Driver) -> Vec<String> {
    let mut problems: Vec<String> = Vec::new();
    let mut add = |p: String| {
        if !problems.contains(&p) {
            problems.push(p);
        }
    };
    for need in driver.needs {
        let bank = if need.group {
            match analysis.bank_group(need.bank) {
                Some(g) => &map.banks[g.members[0]],
                None => {
                    let why = analysis.rejected.get(need.bank).cloned();
                    add(match why {
                        Some(why) => format!("banks `{}<N>` do not form a group: {}", need.bank, why),
                        None => format!("CSR bank `{}0` is missing", need.bank),
                    });
                    continue;
                }
            }
        } else {
            match map.bank(need.bank) {
                Some(b) => b,
                None => {
                    add(format!("CSR bank `{}` is missing", need.bank));
                    continue;
                }
            }
        };
        let name =
            if need.group { format!("{}<N>.{}", need.bank, need.reg) } else { format!("{}.{}", need.bank, need.reg) };
        let Some(reg) = bank.reg(need.reg) else {
            add(format!("register `{}` is missing", name));
            continue;
        };
        if let Some(w) = need.words {
            if reg.words() != w {
                add(format!("register `{}` is {} bits; the driver expects {} word(s)", name, reg.bits, w));
            }
        }
        if need.write && !reg.writable {
            add(format!("register `{}` is read-only; the driver writes it", name));
        }
    }
    for &(ports, banks) in driver.ports {
        match (analysis.port_group(ports), analysis.bank_group(banks)) {
            (Some(p), Some(b)) if p.members.len() == b.members.len() => {}
            (Some(p), Some(b)) => add(format!(
                "{} `{}<N>` regions for {} `{}<N>` banks",
                p.members.len(),
                ports.trim_end_matches("_mem"),
                b.members.len(),
                banks
            )),
            (None, _) => add(format!(
                "no `{}` memory regions with `tx` and `rx` windows (`mem`/`mem_window` rows for `{}`)",
                ports,
                ports.replacen("_mem", "0_mem", 1)
            )),
            (Some(_), None) => {} // reported through the bank group
        }
    }
    problems
}

// ---- code generation ------------------------------------------------------

/// FNV-1a, 64 bits: identifies the map a firmware was built from.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

fn hex(v: u32) -> String {
    format!("0x{:04x}_{:04x}", v >> 16, v & 0xffff)
}

fn camel(s: &str) -> String {
    s.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn reg_type(r: &Register) -> String {
    format!("Reg<{}, {}>", if r.writable { "Rw" } else { "Ro" }, r.words())
}

fn access(writable: bool) -> &'static str {
    if writable {
        "read-write"
    } else {
        "read-only"
    }
}

/// Writes `csr.rs`. The output only uses `Reg`, `Rw`, `Ro`, `Window`,
/// `Ports`, `RegInfo` and `MemInfo` from the module that includes it, and
/// is a list of items (no inner attributes), as `include!` requires.
pub fn generate(map: &Map, analysis: &Analysis, source_file: &str, source_hash: u64) -> String {
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(w, "// @generated by satman/build.rs from `{}`. Do not edit: edit the CSV.", source_file);
    let _ = writeln!(w);
    let _ = writeln!(w, "/// File name of the CSR map this module was generated from.");
    let _ = writeln!(w, "pub const SOURCE_FILE: &str = {:?};", source_file);
    let _ = writeln!(w, "/// FNV-1a (64-bit) hash of that file's bytes.");
    let _ = writeln!(
        w,
        "pub const SOURCE_HASH: u64 = {}_{};",
        hex((source_hash >> 32) as u32),
        &hex(source_hash as u32)[2..]
    );

    for bank in &map.banks {
        let _ = writeln!(w);
        let _ = writeln!(w, "/// CSR bank `{}` (map line {}).", bank.name, bank.line);
        let _ = writeln!(w, "pub mod {} {{", bank.name);
        let _ = writeln!(w, "    /// First byte of the bank's window.");
        let _ = writeln!(w, "    pub const BASE: usize = {};", hex(bank.base));
        let _ = writeln!(w, "    /// Size of the bank's window in bytes.");
        let _ = writeln!(w, "    pub const SIZE: usize = {:#x};", bank.size);
        for r in &bank.regs {
            let _ = writeln!(
                w,
                "    /// `{}.{}`: {} bit(s) in {} word(s), {}.",
                bank.name,
                r.name,
                r.bits,
                r.words(),
                access(r.writable)
            );
            let _ = writeln!(
                w,
                "    pub const {}: super::{} = super::Reg::new({}, {});",
                r.name.to_ascii_uppercase(),
                reg_type(r).replace("<R", "<super::R"),
                hex(r.addr),
                r.bits
            );
        }
        let _ = writeln!(w, "}}");
    }

    for group in &analysis.banks {
        let first = &map.banks[group.members[0]];
        let ty = format!("{}Bank", camel(&group.name));
        let konst = group.name.to_ascii_uppercase();
        let n = group.members.len();
        let _ = writeln!(w);
        let _ = writeln!(w, "/// The registers of one `{}<N>` bank; all {} of them share this layout.", group.name, n);
        let _ = writeln!(w, "#[derive(Clone, Copy, Debug, PartialEq, Eq)]");
        let _ = writeln!(w, "pub struct {} {{", ty);
        let _ = writeln!(w, "    /// First byte of the bank's window.");
        let _ = writeln!(w, "    pub base: usize,");
        for r in &first.regs {
            let _ = writeln!(w, "    /// `{}<N>.{}`: {} bit(s), {}.", group.name, r.name, r.bits, access(r.writable));
            let _ = writeln!(w, "    pub {}: {},", r.name, reg_type(r));
        }
        let _ = writeln!(w, "}}");
        let _ = writeln!(w, "/// Number of `{}<N>` banks.", group.name);
        let _ = writeln!(w, "pub const {}_LEN: usize = {};", konst, n);
        let _ = writeln!(w, "/// The `{}<N>` banks, by index.", group.name);
        let _ = writeln!(w, "pub const {}: [{}; {}] = [", konst, ty, n);
        for &m in &group.members {
            let b = &map.banks[m];
            let _ = writeln!(w, "    {} {{", ty);
            let _ = writeln!(w, "        base: {}::BASE,", b.name);
            for r in &b.regs {
                let _ = writeln!(w, "        {}: {}::{},", r.name, b.name, r.name.to_ascii_uppercase());
            }
            let _ = writeln!(w, "    }},");
        }
        let _ = writeln!(w, "];");
    }

    let _ = writeln!(w);
    let _ = writeln!(w, "/// Memory regions behind the CSR bridge, and their windows.");
    let _ = writeln!(w, "pub mod mem {{");
    for m in &map.mems {
        let upper = m.name.to_ascii_uppercase();
        let _ = writeln!(w, "    /// Region `{}`: {:#x} bytes, {}.", m.name, m.size, access(m.writable));
        let _ = writeln!(
            w,
            "    pub const {}: super::Window = super::Window::new({}, {:#x}, {});",
            upper,
            hex(m.base),
            m.size,
            m.writable
        );
        for win in &m.windows {
            let _ = writeln!(
                w,
                "    /// Window `{}.{}`: {:#x} bytes, {}.",
                m.name,
                win.name,
                win.size,
                access(win.writable)
            );
            let _ = writeln!(
                w,
                "    pub const {}_{}: super::Window = super::Window::new({}, {:#x}, {});",
                upper,
                win.name.to_ascii_uppercase(),
                hex(win.base),
                win.size,
                win.writable
            );
        }
    }
    let _ = writeln!(w, "}}");

    for group in &analysis.ports {
        let konst = group.name.to_ascii_uppercase();
        let n = group.members.len();
        let _ = writeln!(w);
        let _ = writeln!(w, "/// Number of `{}` regions.", group.name);
        let _ = writeln!(w, "pub const {}_LEN: usize = {};", konst, n);
        let _ = writeln!(w, "/// The `{}` regions (tx and rx windows), by index.", group.name);
        let _ = writeln!(w, "pub const {}: [Ports; {}] = [", konst, n);
        for &m in &group.members {
            let u = map.mems[m].name.to_ascii_uppercase();
            let _ = writeln!(w, "    Ports {{ region: mem::{u}, tx: mem::{u}_TX, rx: mem::{u}_RX }},");
        }
        let _ = writeln!(w, "];");
    }

    let _ = writeln!(w);
    let _ = writeln!(w, "/// Every register of the map, in map order.");
    let _ = writeln!(w, "pub const REGISTERS: &[RegInfo] = &[");
    for b in &map.banks {
        for r in &b.regs {
            let _ = writeln!(
                w,
                "    RegInfo {{ name: \"{}.{}\", addr: {}, bits: {}, writable: {} }},",
                b.name,
                r.name,
                hex(r.addr),
                r.bits,
                r.writable
            );
        }
    }
    let _ = writeln!(w, "];");
    let _ = writeln!(w, "/// Every memory region and window of the map, in map order.");
    let _ = writeln!(w, "pub const MEMORY: &[MemInfo] = &[");
    for m in &map.mems {
        let u = m.name.to_ascii_uppercase();
        let _ = writeln!(w, "    MemInfo {{ name: \"{}\", window: mem::{} }},", m.name, u);
        for win in &m.windows {
            let _ = writeln!(
                w,
                "    MemInfo {{ name: \"{}.{}\", window: mem::{}_{} }},",
                m.name,
                win.name,
                u,
                win.name.to_ascii_uppercase()
            );
        }
    }
    let _ = writeln!(w, "];");

    let _ = writeln!(w);
    let _ = writeln!(w, "/// The gateware's `rustc-cfg` lines, as constants: flags are `true`,");
    let _ = writeln!(w, "/// `key=\"value\"` entries keep their value as a string.");
    let _ = writeln!(w, "pub mod config {{");
    for c in &map.cfgs {
        let upper = c.name.to_ascii_uppercase();
        match &c.value {
            None => {
                let _ = writeln!(w, "    /// `{}`", c.name);
                let _ = writeln!(w, "    pub const {}: bool = true;", upper);
            }
            Some(v) => {
                let _ = writeln!(w, "    /// `{}=\"{}\"`", c.name, v);
                let _ = writeln!(w, "    pub const {}: &str = {:?};", upper, v);
            }
        }
    }
    let _ = writeln!(w, "    /// Every line, verbatim.");
    let _ = writeln!(w, "    pub const ALL: &[&str] = &[");
    for c in &map.cfgs {
        let line = match &c.value {
            None => c.name.clone(),
            Some(v) => format!("{}=\"{}\"", c.name, v),
        };
        let _ = writeln!(w, "        {:?},", line);
    }
    let _ = writeln!(w, "    ];");
    let _ = writeln!(w, "}}");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str = include_str!("../../gateware/kasli-soc-satellite-csr.csv");

    fn parse_err(text: &str) -> Error {
        parse(text).expect_err("the map should be refused")
    }

    /// A small valid map to break in tests, one row per line after the header.
    fn small() -> Vec<&'static str> {
        vec![
            HEADER,
            "bank,a,0x1000,16384,",
            "csr,a.x,0x1000,32,rw",
            "csr,a.y,0x1004,64,ro",
            "mem,m,0x2000,1024,rw",
            "mem_window,m.tx,0x2000,512,rw",
            "mem_window,m.rx,0x2040,512,ro",
            "cfg,has_a,,,",
        ]
    }

    fn with(lines: &[&str], line: usize, row: &str) -> String {
        let mut v = lines.to_vec();
        v[line - 1] = row;
        v.join("\n")
    }

    #[test]
    fn reference_map_parses() {
        let map = parse(REFERENCE).unwrap();
        assert_eq!(map.banks.len(), 19);
        assert_eq!(map.banks.iter().map(|b| b.regs.len()).sum::<usize>(), 172);
        assert_eq!(map.mems.len(), 5);
        assert_eq!(map.cfgs.len(), 30);
        let o_data = map.bank("rtio").unwrap().reg("o_data").unwrap();
        assert_eq!((o_data.addr, o_data.bits, o_data.words(), o_data.writable), (0x8000_580c, 512, 16, true));
        let kio = map.cfgs.iter().find(|c| c.name == "ki_impl").unwrap();
        assert_eq!(kio.value.as_deref(), Some("csr"));
    }

    #[test]
    fn reference_groups() {
        let map = parse(REFERENCE).unwrap();
        let a = analyze(&map);
        let names: Vec<(&str, usize)> = a.banks.iter().map(|g| (g.name.as_str(), g.members.len())).collect();
        assert_eq!(names, [("grabber", 1), ("drtioaux", 3), ("drtiorep", 2)]);
        let ports: Vec<(&str, usize)> = a.ports.iter().map(|g| (g.name.as_str(), g.members.len())).collect();
        assert_eq!(ports, [("drtioaux_mem", 3)]);
        assert_eq!(map.mems[a.ports[0].members[2]].name, "drtioaux2_mem");
        for d in DRIVERS {
            assert_eq!(check_driver(&map, &a, d), Vec::<String>::new(), "{}", d.cfg);
        }
    }

    #[test]
    fn missing_bank_is_named() {
        let text: String = REFERENCE.lines().filter(|l| !l.contains("rtio_dma")).collect::<Vec<_>>().join("\n");
        let map = parse(&text).unwrap();
        let a = analyze(&map);
        let dma = DRIVERS.iter().find(|d| d.cfg == "dma").unwrap();
        assert_eq!(check_driver(&map, &a, dma), ["CSR bank `rtio_dma` is missing"]);
        let text: String = REFERENCE.lines().filter(|l| !l.contains("drtioaux0")).collect::<Vec<_>>().join("\n");
        let map = parse(&text).unwrap();
        let a = analyze(&map);
        let p = check_driver(&map, &a, &DRIVERS[0]);
        assert!(p[0].contains("CSR bank `drtioaux0` is missing"), "{:?}", p);
        assert!(p.iter().any(|p| p.contains("do not form a group")), "{:?}", p);
    }

    /// A `kasli_soc` build insists on every bank the board's drivers use.
    #[test]
    fn board_drivers_need_the_board_banks() {
        let mut banks: Vec<&str> = DRIVERS
            .iter()
            .filter(|d| d.board_required)
            .flat_map(|d| d.needs.iter().filter(|n| !n.group).map(|n| n.bank))
            .collect();
        banks.sort_unstable();
        banks.dedup();
        assert_eq!(banks, ["cri_con", "drtioaux0", "drtiosat", "routing_table", "rtio", "rtio_analyzer", "rtio_dma", "rtio_moninj"]);
        assert!(DRIVERS.iter().all(|d| d.what.contains("driver")));
    }

    #[test]
    fn driver_checks_width_and_access() {
        let text = REFERENCE
            .replace("csr,rtio.now,0x80005804,64,rw", "csr,rtio.now,0x80005804,32,rw")
            .replace("csr,cri_con.selected,0x80006800,2,rw", "csr,cri_con.selected,0x80006800,2,ro");
        let map = parse(&text).unwrap();
        let a = analyze(&map);
        let k = DRIVERS.iter().find(|d| d.cfg == "kernel_rtio").unwrap();
        assert_eq!(check_driver(&map, &a, k), ["register `rtio.now` is 32 bits; the driver expects 2 word(s)"]);
        let r = DRIVERS.iter().find(|d| d.cfg == "rtio").unwrap();
        assert_eq!(check_driver(&map, &a, r), ["register `cri_con.selected` is read-only; the driver writes it"]);
    }

    #[test]
    fn errors_carry_line_numbers() {
        let s = small();
        assert!(parse(&s.join("\n")).is_ok());
        let cases: &[(usize, &str, &str)] = &[
            (1, "kind,name,address,size,access", "expected the header"),
            (2, "bank,a,0x1002,16384,", "not word-aligned"),
            (2, "bank,a,0x1000,16385,", "whole number of 32-bit words"),
            (2, "bank,A,0x1000,16384,", "lower-case identifier"),
            (2, "bank,type,0x1000,16384,", "Rust keyword"),
            (2, "bank,mem,0x1000,16384,", "clashes with a generated module"),
            (3, "csr,a.x,0x10zz,32,rw", "not a number"),
            (3, "csr,a.x,0x1_0000_0000,32,rw", "not a number"),
            (3, "csr,a.x,0x100000000,32,rw", "does not fit 32 bits"),
            (3, "csr,a.x,0x1000,32,wo", "expected `ro` or `rw`"),
            (3, "csr,b.x,0x1000,32,rw", "no earlier `bank` row"),
            (3, "csr,a.x,0x17fc,64,rw", "lies outside bank"),
            (3, "csr,a.x,0x1000,0,rw", "size_bits is 0"),
            (3, "csr,a.x,0x1000,2048,rw", "at most 1024 bits"),
            (4, "csr,a.x,0x1004,32,ro", "declared twice"),
            (3, "csr,a.base,0x1000,32,rw", "clashes with a generated constant"),
            (3, "csr,ax,0x1000,32,rw", "expected `bank.register`"),
            (3, "csr,a.x,0x1000,32", "expected 5 fields, found 4"),
            (3, "cs r,a.x,0x1000,32,rw", "unknown kind"),
            (3, "csr,\"a.x,0x1000,32,rw", "unterminated quoted field"),
            (3, "csr,a\"x,0x1000,32,rw", "quote inside an unquoted field"),
            (3, "csr,\"a.x\"y,0x1000,32,rw", "after a closing quote"),
            (6, "mem_window,n.tx,0x2000,512,rw", "no earlier `mem` row"),
            (6, "mem_window,m.tx,0x1ff0,512,rw", "outside region"),
            (7, "mem_window,m.rx,0x2030,512,ro", "overlaps `m.tx`"),
            (8, "cfg,has_a,0x0,,", "empty address"),
            (8, "cfg,\"k=v\",,,", "in double quotes"),
            (8, "cfg,\"k=\"\"a\\b\"\"\",,,", "not supported in values"),
            (8, "cfg,1k,,,", "is not a cfg name"),
        ];
        for &(line, row, want) in cases {
            let e = parse_err(&with(&s, line, row));
            assert_eq!(e.line, line, "{}: {:?}", row, e);
            assert!(e.message.contains(want), "{}: {:?}", row, e);
        }
    }

    #[test]
    fn overlaps_are_refused() {
        let mut s = small();
        s.insert(4, "csr,a.z,0x1008,32,rw");
        let e = parse_err(&s.join("\n"));
        assert_eq!((e.line, e.message.as_str()), (5, "register `a.z` overlaps `a.y` (line 4)"));
        let mut s = small();
        s.insert(4, "bank,b,0x1400,16384,");
        let e = parse_err(&s.join("\n"));
        assert_eq!((e.line, e.message.as_str()), (5, "bank `b` overlaps bank `a` (line 2)"));
        let mut s = small();
        s.push("mem,n,0x2070,64,ro");
        let e = parse_err(&s.join("\n"));
        assert_eq!((e.line, e.message.as_str()), (9, "region `n` overlaps region `m` (line 5)"));
        let mut s = small();
        s.push("cfg,\"has_a=\"\"x\"\"\",,,");
        assert_eq!(parse_err(&s.join("\n")).line, 9);
    }

    #[test]
    fn comments_blank_lines_crlf_and_bom() {
        let text = format!("\u{feff}# exported by hand\r\n\r\n{}\r\n# a comment\r\nbank,a,0x0,16384,\r\n", HEADER);
        let map = parse(&text).unwrap();
        assert_eq!(map.banks[0].name, "a");
        assert_eq!(parse_err("").line, 1);
        let e = parse_err("# only a comment\nbank,a,0,32,\n");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn groups_need_contiguous_uniform_members() {
        let text = [
            HEADER,
            "bank,p0,0x0,16384,",
            "csr,p0.r,0x0,32,rw",
            "bank,p1,0x800,16384,",
            "csr,p1.r,0x800,32,ro",
            "bank,q0,0x1000,16384,",
            "bank,q2,0x1800,16384,",
            "bank,s1x,0x2000,16384,",
        ]
        .join("\n");
        let map = parse(&text).unwrap();
        let a = analyze(&map);
        assert!(a.banks.iter().all(|g| g.name != "p" && g.name != "q"), "{:?}", a.banks);
        assert!(a.rejected["p"].contains("differ"));
        assert!(a.rejected["q"].contains("do not run from 0"));
        assert!(a.rejected["sx"].contains("do not run from 0"));
        assert_eq!(split_index("drtioaux12_mem"), Some(("drtioaux_mem".to_owned(), 12)));
        assert_eq!(split_index("x01"), None);
        assert_eq!(split_index("0x"), None);
        assert_eq!(split_index("plain"), None);
    }

    #[test]
    fn generated_code_shape() {
        let map = parse(REFERENCE).unwrap();
        let a = analyze(&map);
        let code = generate(&map, &a, "kasli-soc-satellite-csr.csv", fnv1a(REFERENCE.as_bytes()));
        assert!(code.contains("pub const O_DATA: super::Reg<super::Rw, 16> = super::Reg::new(0x8000_580c, 512);"));
        assert!(code.contains("pub const DRTIOAUX: [DrtioauxBank; 3] = ["));
        assert!(code
            .contains("Ports { region: mem::DRTIOAUX1_MEM, tx: mem::DRTIOAUX1_MEM_TX, rx: mem::DRTIOAUX1_MEM_RX },"));
        assert!(code.contains("pub const KI_IMPL: &str = \"csr\";"));
        assert!(code.contains("pub const HAS_RTIO_DMA: bool = true;"));
        assert!(code.contains("\"hw_rev=\\\"v1.0\\\"\","));
        assert!(!code.contains("//!"), "include! accepts no inner doc comments");
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
