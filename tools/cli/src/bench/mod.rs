//! `corelane bench`: producers at full speed or a target rate against a real bus.
//!
//! Each event carries the time it was meant to be sent. The store is wrapped in a probe
//! that records, when the adapter acknowledges a batch, how long each of its events took
//! from that time ("end to end": ingest → stored). Producers time their ingest calls
//! (every call when paced, every 16th at full speed, to keep the clock out of the way).
//!
//! A run goes through these stages, in this order:
//! 1. here: check the options, open the store, build the bus around the probe;
//! 2. [`probe`]: the store wrapper that times acknowledgements;
//! 3. [`producers`]: the producer threads and the live progress line;
//! 4. here: flush, shut down, and count what the store holds;
//! 5. [`report`]: the summary as tables or JSON, and the optional SVG plot.

mod probe;
mod producers;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corelane::{Adapter, Backpressure, BatchConfig, Bus, ScalingPolicy, Stats, WaitStrategy};
use corelane_adapters::FsyncPolicy;
use tempfile::TempDir;

use self::probe::Probe;
use self::report::Measured;
use crate::store::{AdapterKind, Opened, open_writable, parse_fsync};
use crate::{Failure, parse_count, parse_duration};

/// Options of `corelane bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store: file (embedded log, the default), memory, noop, or a redis[s]://, nats:// or tls:// URL.
    #[arg(long, default_value = "file", value_parser = AdapterKind::parse)]
    adapter: AdapterKind,
    #[command(flatten)]
    security: crate::security::SecurityArgs,
    /// Data directory for the file adapter (default: a temporary directory, removed at exit).
    #[arg(long)]
    data: Option<PathBuf>,
    /// File adapter durability: never, every-batch, or interval:MS.
    #[arg(long, default_value = "interval:100", value_parser = parse_fsync)]
    fsync: FsyncPolicy,
    /// Producer threads.
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// Shards (default: the cores this process may use; 1 with --max-shards).
    #[arg(long)]
    shards: Option<usize>,
    /// Let the bus scale itself between --shards and this many shards (a scaling
    /// policy: a shard added when rings average a quarter full or shards are busy half
    /// the time for 250 ms); the progress line shows the live shard count, the summary
    /// every change.
    #[arg(long)]
    max_shards: Option<usize>,
    /// Total events per second across producers (20000, 20k, 1M); default: full speed.
    #[arg(long, value_parser = parse_count)]
    rate: Option<u64>,
    /// How long to produce (500ms, 5s, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Payload size in bytes (at least 20).
    #[arg(long, default_value_t = 64)]
    event_bytes: usize,
    /// Batch preset: low-latency, default, or high-throughput.
    #[arg(long, default_value = "default", value_parser = parse_batch)]
    batch: BatchConfig,
    /// Shard wait strategy: spin-then-yield (yield for --park-after, then park),
    /// backoff (park soon), or busy-spin (never park).
    #[arg(long, default_value = "spin-then-yield", value_parser = parse_wait)]
    wait: WaitStrategy,
    /// How long an idle spin-then-yield shard keeps yielding before it parks (0 to
    /// 1s).
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    park_after: Duration,
    /// I/O thread wait strategy when idle, as --wait (default: follows the shards,
    /// busy-spin with busy-spin shards and backoff otherwise; spin-then-yield when
    /// --profile low-latency picks spin-then-yield shards).
    #[arg(long, value_parser = parse_wait)]
    io_wait: Option<WaitStrategy>,
    /// Configuration profile: default, or low-latency (batches sealed every pass;
    /// busy-spinning shard threads when the machine has a core for each shard, up to
    /// --max-shards, plus the I/O thread and a producer; otherwise shard and I/O
    /// threads that yield for --park-after before they park; the I/O thread pinned to
    /// a core no shard uses, when there is one; overrides --batch and --wait).
    #[arg(long, default_value = "default", value_parser = parse_profile)]
    profile: Profile,
    /// Print the summary as JSON on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write a latency-percentile plot to this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Show the live progress line even when stderr is not a terminal.
    #[arg(long)]
    progress: bool,
}

fn parse_batch(text: &str) -> Result<BatchConfig, String> {
    match text {
        "low-latency" => Ok(BatchConfig::low_latency()),
        "default" => Ok(BatchConfig::default()),
        "high-throughput" => Ok(BatchConfig::high_throughput()),
        other => Err(format!(
            "{other:?}: expected low-latency, default or high-throughput"
        )),
    }
}

/// A `--profile` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The defaults (smart batching, shard threads that yield for a millisecond when
    /// idle, then park).
    Default,
    /// `Config::low_latency()`.
    LowLatency,
}

fn parse_profile(text: &str) -> Result<Profile, String> {
    match text {
        "default" => Ok(Profile::Default),
        "low-latency" => Ok(Profile::LowLatency),
        other => Err(format!("{other:?}: expected default or low-latency")),
    }
}

fn parse_wait(text: &str) -> Result<WaitStrategy, String> {
    match text {
        "busy-spin" => Ok(WaitStrategy::BusySpin),
        "spin-then-yield" => Ok(WaitStrategy::SpinThenYield),
        "backoff" => Ok(WaitStrategy::Backoff),
        other => Err(format!(
            "{other:?}: expected busy-spin, spin-then-yield or backoff"
        )),
    }
}

/// Runs `corelane bench`.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
    validate(&args)?;
    // Held until the end of the run: the store is counted after shutdown.
    let temporary = temporary_data_dir(&args)?;
    let dir = args
        .data
        .clone()
        .or_else(|| temporary.as_ref().map(|t| t.path().to_path_buf()));
    let opened = open_writable(&args.adapter, dir, args.fsync, &args.security)?;
    let probe = Arc::new(Probe::new(Arc::clone(&opened.adapter)));
    let bus = Arc::new(build_bus(&args, probe.clone())?);
    let steal_before = steal_time();
    let produced = producers::run(&args, &bus, &probe)?;
    bus.flush(Duration::from_secs(60))?;
    let drained = produced.started.elapsed();
    let steal = steal_before
        .zip(steal_time())
        .map(|(before, after)| after.saturating_sub(before));
    let stats = bus.shutdown()?;

    // Lost = accepted but neither written nor counted failed, or written but not in the store.
    let stored = stored_events(&opened, &stats);
    let missing = stored.map_or(0, |s| stats.written.saturating_sub(s));
    let measured = Measured {
        lost: stats.in_flight() + missing,
        stored,
        num_shards: bus.num_shards(),
        batch: bus.config().batch,
        wait: bus.config().wait_strategy,
        io_wait: bus.config().io_wait_strategy,
        io_core: bus.config().io_core,
        drain_time: drained - produced.produce_time,
        produce_time: produced.produce_time,
        full_ring_waits: produced.full_ring_waits,
        ingest: produced.ingest,
        end_to_end: probe.end_to_end(),
        steal,
        stats,
    };
    report::print(&args, &opened.description, &measured)?;
    Ok(if measured.lost == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// CPU time the hypervisor gave to other guests while this machine's vCPUs wanted to run
/// (VM "steal", all CPUs, since boot); `None` where `/proc/stat` does not say.
fn steal_time() -> Option<Duration> {
    steal_in(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The steal time in a `/proc/stat` text: the eighth figure of its `cpu` line, in
/// USER_HZ ticks (100 a second on the Linux architectures corelane builds for:
/// x86-64, AArch64, RISC-V).
fn steal_in(stat: &str) -> Option<Duration> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: u64 = line.split_whitespace().nth(8)?.parse().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Refuses options that parse but cannot run.
fn validate(args: &Args) -> Result<(), Failure> {
    if args.producers == 0 || args.producers > 256 {
        return Err(format!("--producers {} is outside 1..=256", args.producers).into());
    }
    if args.event_bytes < 20 {
        return Err(format!(
            "--event-bytes {} is below 20 (send time, producer id and counter)",
            args.event_bytes
        )
        .into());
    }
    if args.duration.is_zero() {
        return Err("--duration must be more than zero".into());
    }
    if args.rate == Some(0) {
        return Err("--rate must be more than zero".into());
    }
    if let Some(max) = args.max_shards {
        let start = args.shards.unwrap_or(1);
        if max < start || max > corelane::config::MAX_SHARDS {
            return Err(format!(
                "--max-shards {max} is outside --shards ({start})..={}",
                corelane::config::MAX_SHARDS
            )
            .into());
        }
    }
    Ok(())
}

/// A fresh directory for the file adapter when `--data` is not given; removed on drop.
fn temporary_data_dir(args: &Args) -> Result<Option<TempDir>, Failure> {
    Ok(match (&args.adapter, &args.data) {
        (AdapterKind::File, None) => Some(
            tempfile::Builder::new()
                .prefix("corelane-bench-")
                .tempdir()?,
        ),
        _ => None,
    })
}

/// The bus under test, writing through `probe`.
fn build_bus(args: &Args, probe: Arc<Probe>) -> Result<Bus, Failure> {
    let mut builder = Bus::builder()
        // A network store answers in milliseconds: retry through short outages.
        .adapter_retries(20)
        .wait_strategy(args.wait)
        .park_after(args.park_after)
        .batch(args.batch)
        .max_event_bytes(args.event_bytes)
        .ring_capacity_bytes(
            (args.event_bytes * 4 + 4)
                .next_power_of_two()
                .max(256 << 10),
        )
        // Producers wait for room (spin, yield, sleep) rather than losing events.
        .backpressure(Backpressure::block(Duration::from_secs(30)));
    if let Some(shards) = args.shards {
        builder = builder.num_shards(shards);
    }
    if let Some(io_wait) = args.io_wait {
        builder = builder.io_wait_strategy(io_wait);
    }
    if let Some(max) = args.max_shards {
        let start = args.shards.unwrap_or(1);
        builder = builder.num_shards(start).scaling(ScalingPolicy {
            // Eager, so that a run of a few seconds shows the policy at work.
            scale_up_fill: 0.25,
            scale_up_busy: 0.5,
            scale_down_fill: 0.02,
            scale_down_busy: 0.1,
            scale_up_window: Duration::from_millis(250),
            scale_down_window: Duration::from_secs(1),
            cooldown: Duration::from_millis(500),
            interval: Duration::from_millis(50),
            ..ScalingPolicy::between(start, max)
        });
    }
    if args.profile == Profile::LowLatency {
        builder = builder.low_latency();
    }
    Ok(builder.build_shared(probe)?)
}

/// Events the store holds, when it can say cheaply.
fn stored_events(opened: &Opened, stats: &Stats) -> Option<u64> {
    if let Some(noop) = &opened.noop {
        return Some(noop.events());
    }
    if let Some(memory) = &opened.memory {
        return Some(memory.total_events() as u64);
    }
    let file = opened.file.as_ref()?;
    // The file store was fresh or already held events: count what this run added by
    // the last sequence stored per shard against the bus's numbering.
    let deadline = Instant::now() + Duration::from_secs(30);
    let reader = corelane_adapters::FileAdapter::open_read_only(&file.config().dir).ok()?;
    let mut total = 0;
    for s in &stats.shards {
        let last = reader.last_position(s.shard, deadline).ok()?;
        let first_this_run = s.next_sequence - s.written - s.failed;
        let held = last.map_or(0, |p| p.sequence() + 1);
        total += held.saturating_sub(first_this_run);
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_figure_of_the_cpu_line_in_hundredths_of_a_second() {
        let stat = "cpu  9 8 7 6 5 4 3 42 1 0\ncpu0 1 1 1 1 1 1 1 99 0 0\nintr 5\n";
        assert_eq!(steal_in(stat), Some(Duration::from_millis(420)));
        // Kernels before 2.6.11 have no steal column; other systems have no cpu line.
        assert_eq!(steal_in("cpu  9 8 7 6 5 4 3\n"), None);
        assert_eq!(steal_in("intr 5\n"), None);
    }
}
