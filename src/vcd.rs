//! RTIO analyzer captures on the host: the records `AnalyzerData` carries
//! (`artiq_coreanalyzer`'s 32-byte format), a VCD writer with the
//! conventions of ARTIQ's (`artiq/coredevice/comm_analyzer.py`), a VCD
//! reader for the tests, and a short summary.
//!
//! The VCD follows comm_analyzer: `$timescale` is the RTIO machine unit
//! (1 ns → `1000ps`); one 1-bit wire `ttl/<name>` per TTL, then the 64-bit
//! `rtio_slack` (an IEEE double, in seconds, of timestamp − counter for each
//! output); variable codes from `!` in that order; messages sorted by time
//! (timestamp, or the counter for exceptions and stops); times relative to
//! the first non-zero one, written `#<t>` when they change; a TTL's
//! address-0 write sets its value, an address-1 write its output enable
//! (`x` while disabled). Unlike comm_analyzer's writer this one ends the
//! header with `$enddefinitions $end`, which the format asks for.
//!
//! Without a device database the channels are named here: `--ttl NAME=CH`
//! names a TTL; any other output channel whose data are all 0 or 1 is a TTL
//! named `ch<channel>` (the channel number as in a device database,
//! destination in bits 16–23), and the rest are 32-bit vectors
//! `rtio/ch<channel>` of their data.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Bytes per record.
pub const RECORD: usize = 32;

/// One analyzer message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    Output { channel: u32, timestamp: i64, rtio_counter: i64, address: u32, data: u64 },
    Input { channel: u32, timestamp: i64, rtio_counter: i64, data: u64 },
    Exception { channel: u32, rtio_counter: i64, kind: u8 },
    Stopped { rtio_counter: i64 },
}

impl Message {
    /// The time comm_analyzer sorts by.
    pub fn time(&self) -> i64 {
        match *self {
            Message::Output { timestamp, .. } | Message::Input { timestamp, .. } => timestamp,
            Message::Exception { rtio_counter, .. } | Message::Stopped { rtio_counter } => rtio_counter,
        }
    }

    pub fn channel(&self) -> Option<u32> {
        match *self {
            Message::Output { channel, .. } | Message::Input { channel, .. } | Message::Exception { channel, .. } => Some(channel),
            Message::Stopped { .. } => None,
        }
    }
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().expect("8 bytes"))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().expect("4 bytes"))
}

/// Decodes a dump (`sent_bytes` bytes of whole records).
pub fn decode(bytes: &[u8]) -> Result<Vec<Message>, String> {
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(format!("{} bytes: not whole {RECORD}-byte records", bytes.len()));
    }
    Ok(bytes
        .chunks(RECORD)
        .map(|r| {
            let word = be32(&r[28..32]);
            let channel = word >> 2;
            match word & 3 {
                0 => Message::Output {
                    channel,
                    data: be64(&r[0..8]),
                    address: be32(&r[8..12]),
                    rtio_counter: be64(&r[12..20]) as i64,
                    timestamp: be64(&r[20..28]) as i64,
                },
                1 => Message::Input { channel, data: be64(&r[0..8]), rtio_counter: be64(&r[12..20]) as i64, timestamp: be64(&r[20..28]) as i64 },
                2 => Message::Exception { channel, kind: r[11], rtio_counter: be64(&r[12..20]) as i64 },
                _ => Message::Stopped { rtio_counter: be64(&r[12..20]) as i64 },
            }
        })
        .collect())
}

/// comm_analyzer's variable codes: `!`, `"`, … `~`, then two characters.
fn code(mut n: usize) -> String {
    const CHARS: usize = 127 - 33;
    let mut s = vec![(33 + n % CHARS) as u8];
    n /= CHARS;
    while n > 0 {
        s.insert(0, (33 + n % CHARS) as u8);
        n /= CHARS;
    }
    String::from_utf8(s).expect("ASCII")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Ttl,
    Vector,
}

/// The signals of a capture: each output channel's name and kind, in
/// comm_analyzer's order (sorted by name).
fn signals(messages: &[Message], names: &BTreeMap<u32, String>) -> Vec<(String, u32, Kind)> {
    let mut seen: BTreeMap<u32, bool> = BTreeMap::new();
    for m in messages {
        if let Message::Output { channel, data, .. } = *m {
            let binary = seen.entry(channel).or_insert(true);
            *binary &= data <= 1;
        }
    }
    for &c in names.keys() {
        seen.entry(c).or_insert(true);
    }
    let mut out: Vec<(String, u32, Kind)> = seen
        .into_iter()
        .map(|(c, binary)| match names.get(&c) {
            Some(n) => (format!("ttl/{n}"), c, Kind::Ttl),
            None if binary => (format!("ttl/ch{c}"), c, Kind::Ttl),
            None => (format!("rtio/ch{c}"), c, Kind::Vector),
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Writes the VCD. `names` names TTL channels (as a device database would).
pub fn write(messages: &[Message], names: &BTreeMap<u32, String>) -> String {
    let mut out = String::new();
    out.push_str("$timescale 1000ps $end\n");
    let sigs = signals(messages, names);
    let mut codes: BTreeMap<u32, (String, Kind)> = BTreeMap::new();
    for (i, (name, channel, kind)) in sigs.iter().enumerate() {
        let width = if *kind == Kind::Ttl { 1 } else { 32 };
        let c = code(i);
        let _ = writeln!(out, "$var wire {width} {c} {name} $end");
        codes.insert(*channel, (c, kind.clone()));
    }
    let slack = code(sigs.len());
    let _ = writeln!(out, "$var wire 64 {slack} rtio_slack $end");
    out.push_str("$enddefinitions $end\n");

    let mut sorted: Vec<Message> = messages.to_vec();
    sorted.sort_by_key(|m| m.time());
    let start = sorted.iter().map(|m| m.time()).find(|&t| t != 0).unwrap_or(0);
    let mut now: Option<i64> = None;
    let mut set_time = |out: &mut String, t: i64| {
        let t = t - start;
        if now != Some(t) {
            let _ = writeln!(out, "#{t}");
            now = Some(t);
        }
    };
    set_time(&mut out, start);
    let mut ttl: BTreeMap<u32, (String, bool)> = BTreeMap::new();
    for m in &sorted {
        let Some(channel) = m.channel() else { continue };
        let Some((c, kind)) = codes.get(&channel) else { continue };
        if m.time() >= 0 {
            set_time(&mut out, m.time());
        }
        if let Message::Output { address, data, timestamp, rtio_counter, .. } = *m {
            match kind {
                Kind::Ttl => {
                    let st = ttl.entry(channel).or_insert(("x".into(), true));
                    if address == 0 {
                        st.0 = data.to_string();
                        if st.1 {
                            let _ = writeln!(out, "{}{c}", st.0);
                        }
                    } else if address == 1 {
                        st.1 = data != 0;
                        let v = if st.1 { st.0.clone() } else { "x".into() };
                        let _ = writeln!(out, "{v}{c}");
                    }
                }
                Kind::Vector => {
                    let _ = writeln!(out, "b{:b} {c}", data as u32);
                }
            }
            let s = (timestamp - rtio_counter) as f64 * 1e-9;
            let _ = writeln!(out, "b{:064b} {slack}", s.to_bits());
        }
    }
    out
}

/// A parsed VCD: each variable's name and its changes.
#[derive(Debug, Default)]
pub struct Vcd {
    pub timescale: String,
    /// name → changes as (time, value).
    pub signals: BTreeMap<String, Vec<(i64, String)>>,
}

/// Reads a VCD (what [`write`] produces, and the common subset of the
/// format).
pub fn parse(text: &str) -> Result<Vcd, String> {
    let mut vcd = Vcd::default();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut tokens = text.split_whitespace();
    let mut time: Option<i64> = None;
    while let Some(t) = tokens.next() {
        match t {
            "$timescale" => vcd.timescale = tokens.by_ref().take_while(|&x| x != "$end").collect::<Vec<_>>().join(""),
            "$var" => {
                let v: Vec<&str> = tokens.by_ref().take_while(|&x| x != "$end").collect();
                if v.len() < 4 {
                    return Err(format!("bad $var: {v:?}"));
                }
                names.insert(v[2].to_string(), v[3].to_string());
                vcd.signals.entry(v[3].to_string()).or_default();
            }
            "$enddefinitions" | "$scope" | "$upscope" | "$comment" | "$date" | "$version" | "$dumpvars" | "$end" => {
                if t != "$end" && t != "$dumpvars" {
                    for x in tokens.by_ref() {
                        if x == "$end" {
                            break;
                        }
                    }
                }
            }
            _ if t.starts_with('#') => time = Some(t[1..].parse().map_err(|e| format!("time {t}: {e}"))?),
            _ if t.starts_with('b') || t.starts_with('B') => {
                let code = tokens.next().ok_or("vector value without a code")?;
                change(&mut vcd, &names, time, code, &t[1..])?;
            }
            _ => {
                let (v, code) = t.split_at(1);
                change(&mut vcd, &names, time, code, v)?;
            }
        }
    }
    Ok(vcd)
}

fn change(vcd: &mut Vcd, names: &BTreeMap<String, String>, time: Option<i64>, code: &str, value: &str) -> Result<(), String> {
    let t = time.ok_or("a value change before the first time")?;
    let name = names.get(code).ok_or_else(|| format!("unknown code {code}"))?;
    vcd.signals.get_mut(name).expect("declared").push((t, value.to_string()));
    Ok(())
}

/// A few lines about a capture.
pub fn summary(messages: &[Message], names: &BTreeMap<u32, String>) -> String {
    let mut out = String::new();
    let outputs = messages.iter().filter(|m| matches!(m, Message::Output { .. })).count();
    let exceptions = messages.iter().filter(|m| matches!(m, Message::Exception { .. })).count();
    let (lo, hi) = messages
        .iter()
        .filter(|m| !matches!(m, Message::Stopped { .. }))
        .map(|m| m.time())
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let _ = writeln!(out, "{} records: {outputs} outputs, {exceptions} exceptions", messages.len());
    if lo <= hi {
        let _ = writeln!(out, "span {lo}..{hi} mu ({:.3} ms)", (hi - lo) as f64 * 1e-6);
    }
    for (name, channel, _) in signals(messages, names) {
        let mut evs: Vec<(i64, i64, u64)> = messages
            .iter()
            .filter_map(|m| match *m {
                Message::Output { channel: c, timestamp, rtio_counter, data, address: 0 } if c == channel => Some((timestamp, timestamp - rtio_counter, data)),
                _ => None,
            })
            .collect();
        evs.sort();
        let rises = evs.windows(2).filter(|w| w[0].2 == 0 && w[1].2 != 0).count() + evs.first().is_some_and(|e| e.2 != 0) as usize;
        let min_slack = evs.iter().map(|e| e.1).min().unwrap_or(0);
        let _ = writeln!(
            out,
            "{name} (channel {channel:#x}): {} writes, {rises} rising edges, first at {} mu, last at {} mu, smallest slack {min_slack} mu",
            evs.len(),
            evs.first().map_or(0, |e| e.0),
            evs.last().map_or(0, |e| e.0),
        );
    }
    for m in messages {
        if let Message::Exception { channel, rtio_counter, kind } = *m {
            let what = if kind == 0b010100 { "underflow" } else if kind == 0b100001 { "input overflow" } else { "exception" };
            let _ = writeln!(out, "{what} on channel {channel:#x} at counter {rtio_counter} mu");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(channel: u32, ts: i64, counter: i64, address: u32, data: u64) -> Vec<u8> {
        let mut r = vec![0u8; 32];
        r[0..8].copy_from_slice(&data.to_be_bytes());
        r[8..12].copy_from_slice(&address.to_be_bytes());
        r[12..20].copy_from_slice(&(counter as u64).to_be_bytes());
        r[20..28].copy_from_slice(&(ts as u64).to_be_bytes());
        r[28..32].copy_from_slice(&(channel << 2).to_be_bytes());
        r
    }

    #[test]
    fn codes_follow_comm_analyzer() {
        assert_eq!(code(0), "!");
        assert_eq!(code(93), "~");
        assert_eq!(code(94), "\"!");
    }

    #[test]
    fn decode_write_and_read_back() {
        let mut dump = Vec::new();
        // Out of order on purpose: the writer sorts by time.
        dump.extend(rec(0x01_000F, 2000, 900, 0, 0));
        dump.extend(rec(0x01_000F, 1000, 800, 0, 1));
        dump.extend(rec(0x01_0010, 1500, 850, 0, 0x1234));
        let mut stop = vec![0u8; 32];
        stop[12..20].copy_from_slice(&3000u64.to_be_bytes());
        stop[31] = 3;
        dump.extend(stop);
        let m = decode(&dump).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[3], Message::Stopped { rtio_counter: 3000 });
        let names = BTreeMap::from([(0x01_000F, "ttl15".to_string())]);
        let text = write(&m, &names);
        assert!(text.starts_with("$timescale 1000ps $end\n$var wire 32 ! rtio/ch65552 $end\n$var wire 1 \" ttl/ttl15 $end\n"), "{text}");
        let vcd = parse(&text).unwrap();
        assert_eq!(vcd.timescale, "1000ps");
        assert_eq!(vcd.signals["ttl/ttl15"], [(0, "1".to_string()), (1000, "0".to_string())]);
        assert_eq!(vcd.signals["rtio/ch65552"], [(500, "1001000110100".to_string())]);
        let slack = &vcd.signals["rtio_slack"];
        assert_eq!(slack.len(), 3);
        assert_eq!(f64::from_bits(u64::from_str_radix(&slack[0].1, 2).unwrap()), 200.0 * 1e-9, "seconds, as comm_analyzer computes them");
        let s = summary(&m, &names);
        assert!(s.contains("ttl/ttl15 (channel 0x1000f): 2 writes, 1 rising edges, first at 1000 mu"), "{s}");
        assert!(decode(&dump[..31]).is_err());
    }
}
