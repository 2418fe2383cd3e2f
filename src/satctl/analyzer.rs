//! `satctl qemu analyzer`: the satellite's RTIO analyzer capture as a VCD.

use std::collections::BTreeMap;
use std::time::Duration;

use satman_systest::qemu::bench::CounterEstimate;
use satman_systest::qemu::experiment::{self, Options};
use satman_systest::vcd;

use super::commands::Failed;
use super::json::Json;
use super::target::Target;
use super::AnalyzerArgs;

fn parse_ttl(s: &str) -> Result<(u32, String), String> {
    let (name, ch) = s.split_once('=').ok_or_else(|| format!("--ttl {s}: expected NAME=CHANNEL"))?;
    let ch = match ch.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => ch.parse(),
    }
    .map_err(|e| format!("--ttl {s}: {e}"))?;
    Ok((ch, name.to_string()))
}

pub fn analyzer(target: &mut dyn Target, a: &AnalyzerArgs, timeout: Duration) -> Result<Json, Failed> {
    let names: BTreeMap<u32, String> = a.ttl.iter().map(|s| parse_ttl(s)).collect::<Result<_, _>>().map_err(|e| (e, Json::Null))?;
    let kernels = if a.no_run { None } else { Some(target.kernels(None, None, None).map_err(|e| (e, Json::Null))?) };
    let b = target.bench();
    let mut j = Json::obj();
    b.init_link(a.destination).map_err(|e| (format!("link up: {e}"), Json::Null))?;
    if let Some(kernels) = kernels {
        // Empty the capture first: the dump then holds this run alone.
        b.analyzer_dump(a.destination).map_err(|e| (format!("analyzer (emptying it): {e}"), Json::Null))?;
        let mut counter = match b.observe().stats() {
            Some(Ok(s)) => Some(CounterEstimate::from_stats(&s)),
            _ => None,
        };
        experiment::run(b, &kernels, &Options::new(timeout), &mut counter, None).map_err(|e| (format!("experiment: {e}"), Json::Null))?;
        println!("analyzer: ran the user's experiment once ({} then {})", kernels.a_name, kernels.b_name);
    }
    let (h, bytes) = b.analyzer_dump(a.destination).map_err(|e| (format!("analyzer: {e}"), Json::Null))?;
    println!(
        "analyzer: header: {} bytes sent of {} captured{}",
        h.sent_bytes,
        h.total_byte_count,
        if h.overflow { ", records were LOST (overflow)" } else { "" }
    );
    j = j.with("sent_bytes", h.sent_bytes as u64).with("total_byte_count", h.total_byte_count).with("overflow", h.overflow);
    let messages = vcd::decode(&bytes).map_err(|e| (format!("analyzer data: {e}"), j.clone()))?;
    print!("{}", vcd::summary(&messages, &names));
    if let Some(p) = &a.raw {
        std::fs::write(p, &bytes).map_err(|e| (format!("{}: {e}", p.display()), j.clone()))?;
    }
    if let Some(p) = &a.output {
        let text = vcd::write(&messages, &names);
        std::fs::write(p, &text).map_err(|e| (format!("{}: {e}", p.display()), j.clone()))?;
        println!("analyzer: wrote {} ({} bytes)", p.display(), text.len());
        j = j.with("vcd", p.display().to_string());
    }
    Ok(j.with("records", messages.len()))
}
