//! `satctl <link> moninj`: watch an RTIO channel's level through moninj
//! (`MonitorRequest` as often as the link answers), optionally holding it
//! with an injection override, optionally while a kernel runs (started,
//! not awaited).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use super::commands::{Failed, Out};
use super::json::Json;
use super::target::Target;
use satman_systest::qemu::bench::CounterEstimate;

/// Kernel id used for `--kernel`.
const KERNEL_ID: u32 = 1;

#[derive(Args, Debug, Clone)]
pub struct MoninjArgs {
    #[arg(long, default_value_t = 1)]
    pub destination: u8,
    /// The RTIO channel (local number; TTL15 is 15).
    #[arg(long, default_value_t = 15)]
    pub channel: u16,
    /// Hold the output at this level (override 1 = LEVEL, then 0 = enable).
    #[arg(long = "override", value_name = "LEVEL")]
    pub hold: Option<u8>,
    /// End the override when done (otherwise it stays, as on the dashboard).
    #[arg(long)]
    pub release: bool,
    /// How long to watch, in ms.
    #[arg(long, default_value_t = 1000)]
    pub watch: u64,
    /// Run this kernel (a built test kernel's name or an ELF) while watching;
    /// it is started, not awaited.
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
}

/// What a watch saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Watch {
    pub samples: u64,
    pub highs: u64,
    /// Level changes between consecutive samples.
    pub changes: u64,
    pub last: Option<u64>,
}

pub fn moninj(target: &mut dyn Target, a: &MoninjArgs, out: &Out) -> Result<Json, Failed> {
    let kernel = match &a.kernel {
        Some(k) => Some(target.kernel_image(k).map_err(|e| (e, Json::Null))?),
        None => None,
    };
    let b = target.bench();
    let (dest, ch) = (a.destination, a.channel);
    let mut j = Json::obj().with("destination", dest).with("channel", u32::from(ch));
    b.init_link(dest).map_err(|e| (format!("link up: {e}"), j.clone()))?;
    if let Some(level) = a.hold {
        b.inject(dest, ch, 1, level & 1).and_then(|_| b.inject(dest, ch, 0, 1)).map_err(|e| (format!("inject: {e}"), j.clone()))?;
    }
    let en = b.injection_status(dest, ch, 0).map_err(|e| (format!("injection status: {e}"), j.clone()))?;
    let o = b.injection_status(dest, ch, 1).map_err(|e| (format!("injection status: {e}"), j.clone()))?;
    println!("moninj: destination {dest} channel {ch}: override {} (level {o})", if en != 0 { "on" } else { "off" });
    j.set("override", en != 0);
    if let Some((name, image)) = &kernel {
        let counter = match b.observe().stats() {
            Some(Ok(s)) => Some(CounterEstimate::from_stats(&s)),
            _ => None,
        };
        b.upload_subkernel(dest, KERNEL_ID, image).map_err(|e| (format!("upload: {e}"), j.clone()))?;
        let ts = counter.map_or(0, |c| (c.now() + 125_000) as u64);
        b.load_run(dest, KERNEL_ID, true, ts).map_err(|e| (format!("run: {e}"), j.clone()))?;
        out.status(&format!("moninj: {name} running (not awaited)"));
    }
    let w = watch(b, dest, ch, Duration::from_millis(a.watch), |t, v| println!("{:>9.3} ms  level {v}", t.as_secs_f64() * 1e3))
        .map_err(|e| (format!("monitor: {e}"), j.clone()))?;
    println!("moninj: {} samples, {} high, {} level changes", w.samples, w.highs, w.changes);
    if a.release {
        b.inject(dest, ch, 0, 0).map_err(|e| (format!("inject: {e}"), j.clone()))?;
        println!("moninj: override released");
    }
    // The kernel's SubkernelFinished (if any) stays with the master: in a
    // session, a later `await` takes it.
    Ok(j.with("samples", w.samples).with("highs", w.highs).with("changes", w.changes))
}

/// Samples probe 0 of `channel` for `d`; `change(t, level)` at the first
/// sample and at every change.
pub fn watch(
    b: &mut dyn satman_systest::qemu::bench::Bench,
    destination: u8,
    channel: u16,
    d: Duration,
    mut change: impl FnMut(Duration, u64),
) -> Result<Watch, satman_systest::master::MasterError> {
    let start = Instant::now();
    let mut w = Watch::default();
    while start.elapsed() < d {
        let v = b.monitor(destination, channel, 0)?;
        w.samples += 1;
        w.highs += (v != 0) as u64;
        if w.last != Some(v) {
            if w.last.is_some() {
                w.changes += 1;
            }
            change(start.elapsed(), v);
        }
        w.last = Some(v);
    }
    Ok(w)
}
