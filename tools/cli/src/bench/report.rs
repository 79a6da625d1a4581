//! What `corelane bench` prints once the bus is shut down: tables or JSON on stdout, and
//! the optional latency plot.

use std::time::Duration;

use corelane::Stats;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::Args;
use crate::Failure;
use crate::output::{fmt_count, fmt_ns, percentiles, print_table};

/// Everything a run measured.
pub(super) struct Measured {
    /// The bus's final statistics.
    pub(super) stats: Stats,
    /// Events this run added to the store, when the store can say cheaply.
    pub(super) stored: Option<u64>,
    /// Accepted but neither written nor counted failed, or written but not in the store.
    pub(super) lost: u64,
    /// Shards the bus ran.
    pub(super) num_shards: u32,
    /// The batching the bus ran with (after any profile).
    pub(super) batch: corelane::BatchConfig,
    /// The shard wait strategy the bus ran with (after any profile).
    pub(super) wait: corelane::WaitStrategy,
    /// The I/O thread's wait strategy as configured (after any profile); `None` follows
    /// the shards'.
    pub(super) io_wait: Option<corelane::WaitStrategy>,
    /// The core the I/O thread was pinned to, if any (after any profile).
    pub(super) io_core: Option<usize>,
    /// From the first producer's start to the last producer's end.
    pub(super) produce_time: Duration,
    /// From the last producer's end until the flush returned.
    pub(super) drain_time: Duration,
    /// Ingest calls refused and retried because the ring stayed full.
    pub(super) full_ring_waits: u64,
    /// Ingest latency as the producers timed it.
    pub(super) ingest: Histogram<u64>,
    /// Intended send time → acknowledged by the store.
    pub(super) end_to_end: Histogram<u64>,
    /// VM steal over the run (all vCPUs), where the OS reports it.
    pub(super) steal: Option<Duration>,
}

impl Measured {
    /// Accepted events per second of producing.
    fn throughput(&self) -> f64 {
        self.stats.accepted as f64 / self.produce_time.as_secs_f64()
    }
}

/// Prints the summary (JSON with `--json`, tables otherwise) and writes the plot when
/// `--plot` asks for one.
pub(super) fn print(args: &Args, store: &str, measured: &Measured) -> Result<(), Failure> {
    if args.json {
        let summary = summary_json(args, store, measured);
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_tables(args, store, measured);
    }
    if let Some(path) = &args.plot {
        let svg = crate::plot::percentile_svg(
            &plot_title(args, measured),
            &[
                ("ingest", &measured.ingest),
                ("end to end", &measured.end_to_end),
            ],
        );
        std::fs::write(path, svg).map_err(|e| format!("--plot {}: {e}", path.display()))?;
        if !args.json {
            println!("plot: {}", path.display());
        }
    }
    Ok(())
}

/// The `--json` summary; its keys are what scripts read, so they do not change.
fn summary_json(args: &Args, store: &str, m: &Measured) -> Value {
    let stats = &m.stats;
    json!({
        "store": store,
        "adapter": args.adapter.name(),
        "shards": m.num_shards,
        "producers": args.producers,
        "rate_target_per_s": args.rate,
        "duration_s": m.produce_time.as_secs_f64(),
        "drain_s": m.drain_time.as_secs_f64(),
        "event_bytes": args.event_bytes,
        "batch": {"max_events": m.batch.max_events, "max_bytes": m.batch.max_bytes, "max_delay_ns": m.batch.max_delay.as_nanos() as u64},
        "wait_strategy": format!("{:?}", m.wait),
        "park_after_us": args.park_after.as_micros() as u64,
        "io_wait_strategy": m.io_wait.map(|w| format!("{w:?}")),
        "io_core": m.io_core,
        "steal_ms": m.steal.map(|s| s.as_millis() as u64),
        "throughput_events_per_s": m.throughput(),
        "ingest_latency": percentiles(&m.ingest),
        "ingest_latency_sampling": if args.rate.is_some() { "every call, from intended send time" } else { "every 16th call" },
        "end_to_end_latency": percentiles(&m.end_to_end),
        "bus_latency": {
            "count": stats.latency.count, "p50_ns": stats.latency.p50_ns,
            "p90_ns": stats.latency.p90_ns, "p99_ns": stats.latency.p99_ns,
            "p99_9_ns": stats.latency.p999_ns, "max_ns": stats.latency.max_ns,
        },
        "stats": {
            "accepted": stats.accepted, "written": stats.written, "failed": stats.failed.total(),
            "refused": stats.refused.total(), "batches": stats.batches_written, "retries": stats.retries,
            "full_ring_waits": m.full_ring_waits,
        },
        "stored": m.stored,
        "lost": m.lost,
        "scale_events": stats.scaling.events.iter().map(|e| json!({
            "from": e.from, "to": e.to, "reason": e.reason.to_string(),
            "to_traffic_ns": e.to_traffic.as_nanos() as u64, "took_ns": e.took.as_nanos() as u64,
        })).collect::<Vec<_>>(),
    })
}

/// The human summary: what ran, throughput, latency table, counters, loss.
fn print_tables(args: &Args, store: &str, m: &Measured) {
    let stats = &m.stats;
    println!(
        "corelane bench: {store}, {} shard(s), {} producer(s), {} for {:.1} s",
        m.num_shards,
        args.producers,
        args.rate.map_or("full speed".to_string(), |r| format!(
            "{} events/s",
            fmt_count(r as f64)
        )),
        m.produce_time.as_secs_f64()
    );
    println!(
        "throughput: {}events/s ({} events of {} B; drained {:.0} ms after the last ingest)",
        fmt_count(m.throughput()),
        stats.accepted,
        args.event_bytes,
        m.drain_time.as_secs_f64() * 1e3
    );
    print_latency(args, m);
    println!(
        "\nstats: accepted {} written {} failed {} refused {} batches {} retries {}",
        stats.accepted,
        stats.written,
        stats.failed.total(),
        stats.refused.total(),
        stats.batches_written,
        stats.retries
    );
    for s in &stats.shards {
        println!(
            "  shard {:>2}: written {:>12}  ring fill peak {:>3.0}%  {:?}  {}",
            s.shard,
            s.written,
            100.0 * s.ring_fill_peak_bytes as f64 / s.ring_capacity_bytes as f64,
            s.pinning,
            s.phase.as_str()
        );
    }
    if let Some(core) = m.io_core {
        println!("  I/O thread on core {core}");
    }
    print_scale_events(stats);
    let balance = format!(
        "accepted {} = written {} + failed {}",
        stats.accepted,
        stats.written,
        stats.failed.total()
    );
    match m.stored {
        Some(n) => println!("lost: {} ({balance}; the store holds {n})", m.lost),
        None => println!("lost: {} ({balance})", m.lost),
    }
}

/// The latency table: the producers' ingest, the probe's end to end, the bus's own, and
/// the VM steal of the run.
fn print_latency(args: &Args, m: &Measured) {
    let ingest_row = if args.rate.is_some() {
        "ingest (from intended send)"
    } else {
        "ingest call (1 in 16 timed)"
    };
    print_table(
        "latency",
        &[
            (ingest_row, &m.ingest),
            ("end to end (ingest → stored)", &m.end_to_end),
        ],
    );
    let l = &m.stats.latency;
    println!(
        "  {:28} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "bus's own (shard → stored)",
        fmt_ns(l.p50_ns as f64),
        fmt_ns(l.p90_ns as f64),
        fmt_ns(l.p99_ns as f64),
        fmt_ns(l.p999_ns as f64),
        "",
        fmt_ns(l.max_ns as f64),
        l.count
    );
    if let Some(steal) = m.steal {
        // A vCPU the hypervisor took stalls whatever thread it was running, pinned or not.
        println!(
            "  VM steal during the run: {} ms over all vCPUs",
            steal.as_millis()
        );
    }
}

/// The shard-count changes of the run, when there were any.
fn print_scale_events(stats: &Stats) {
    let events = &stats.scaling.events;
    if events.is_empty() {
        return;
    }
    let started = events[0].at;
    println!("scale events: {}", stats.scaling.changes);
    for e in events {
        let at = e.at.duration_since(started).unwrap_or_default();
        println!(
            "  +{:>7.3} s  {} → {} shards  ({}; traffic after {}, complete after {})",
            at.as_secs_f64(),
            e.from,
            e.to,
            e.reason,
            fmt_ns(e.to_traffic.as_nanos() as f64),
            fmt_ns(e.took.as_nanos() as f64)
        );
    }
}

fn plot_title(args: &Args, m: &Measured) -> String {
    format!(
        "corelane bench — {}, {} shard(s), {} producer(s), {}",
        args.adapter.name(),
        m.num_shards,
        args.producers,
        args.rate.map_or("full speed".to_string(), |r| format!(
            "{}/s",
            fmt_count(r as f64)
        ))
    )
}
