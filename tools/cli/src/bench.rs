//! `corelane bench`: producers at full speed or a target rate against a real bus.
//!
//! Each event carries the time it was meant to be sent. The store is wrapped in a probe
//! that records, when the adapter acknowledges a batch, how long each of its events took
//! from that time ("end to end": ingest → stored). Producers time their ingest calls
//! (every call when paced, every 16th at full speed, to keep the clock out of the way).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use corelane::{
    Adapter, AdapterError, Backpressure, Batch, BatchConfig, Bus, InitReport, Position, ShardPoll,
    WaitStrategy,
};
use corelane_adapters::FsyncPolicy;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::json;

use crate::output::{fmt_count, fmt_ns, percentiles, print_table};
use crate::store::{AdapterKind, open_writable, parse_fsync};
use crate::{Failure, parse_count, parse_duration};

/// Options of `corelane bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store: file (embedded log, the default), memory, noop, or a redis:// or nats:// URL.
    #[arg(long, default_value = "file", value_parser = AdapterKind::parse)]
    adapter: AdapterKind,
    /// Data directory for the file adapter (default: a temporary directory, removed at exit).
    #[arg(long)]
    data: Option<PathBuf>,
    /// File adapter durability: never, every-batch, or interval:MS.
    #[arg(long, default_value = "interval:100", value_parser = parse_fsync)]
    fsync: FsyncPolicy,
    /// Producer threads.
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// Shards (default: the cores this process may use).
    #[arg(long)]
    shards: Option<usize>,
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
    /// Shard wait strategy: busy-spin, spin-then-yield, or backoff.
    #[arg(long, default_value = "backoff", value_parser = parse_wait)]
    wait: WaitStrategy,
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

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

/// Wraps the store: records ingest → acknowledged latency of every event.
struct Probe {
    inner: Arc<dyn Adapter>,
    origin: Instant,
    end_to_end: Mutex<Histogram<u64>>,
}

impl Adapter for Probe {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn init(&self, n: u32, d: Instant) -> Result<InitReport, AdapterError> {
        self.inner.init(n, d)
    }
    fn write_batch(&self, batch: &Batch, deadline: Instant) -> Result<(), AdapterError> {
        self.inner.write_batch(batch, deadline)?;
        let now = self.origin.elapsed().as_nanos() as u64;
        let mut h = self.end_to_end.lock();
        for e in batch.events() {
            if let Some(sent) = e.payload.get(..8) {
                let sent = u64::from_le_bytes(sent.try_into().expect("8 bytes"));
                h.saturating_record(now.saturating_sub(sent).max(1));
            }
        }
        Ok(())
    }
    fn flush(&self, d: Instant) -> Result<(), AdapterError> {
        self.inner.flush(d)
    }
    fn shutdown(&self, d: Instant) -> Result<(), AdapterError> {
        self.inner.shutdown(d)
    }
    fn poll_shard(
        &self,
        s: u32,
        a: Option<Position>,
        l: usize,
        d: Instant,
    ) -> Result<ShardPoll, AdapterError> {
        self.inner.poll_shard(s, a, l, d)
    }
    fn last_position(&self, s: u32, d: Instant) -> Result<Option<Position>, AdapterError> {
        self.inner.last_position(s, d)
    }
    fn is_healthy(&self) -> bool {
        self.inner.is_healthy()
    }
}

/// Runs `corelane bench`.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
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
    let temporary = match (&args.adapter, &args.data) {
        (AdapterKind::File, None) => Some(
            tempfile::Builder::new()
                .prefix("corelane-bench-")
                .tempdir()?,
        ),
        _ => None,
    };
    let dir = args
        .data
        .clone()
        .or_else(|| temporary.as_ref().map(|t| t.path().to_path_buf()));
    let opened = open_writable(&args.adapter, dir, args.fsync)?;
    let probe = Arc::new(Probe {
        inner: Arc::clone(&opened.adapter),
        origin: Instant::now(),
        end_to_end: Mutex::new(new_histogram()),
    });
    let mut builder = Bus::builder()
        // A network store answers in milliseconds: retry through short outages.
        .adapter_retries(20)
        .wait_strategy(args.wait)
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
    let bus = Arc::new(builder.build_shared(probe.clone())?);

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // A second Ctrl-C while stopping kills the process the usual way.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let ingest = Arc::new(Mutex::new(new_histogram()));
    let started = Instant::now();
    let deadline = started + args.duration;
    let per_producer_period = args
        .rate
        .map(|r| Duration::from_secs_f64(args.producers as f64 / r as f64));
    let handles: Vec<_> = (0..args.producers)
        .map(|p| {
            let (bus, stop, ingest, probe) = (
                Arc::clone(&bus),
                Arc::clone(&stop),
                Arc::clone(&ingest),
                Arc::clone(&probe),
            );
            let event_bytes = args.event_bytes;
            std::thread::Builder::new()
                .name(format!("bench-producer-{p}"))
                .spawn(move || {
                    produce(
                        p,
                        &bus,
                        &stop,
                        &ingest,
                        probe.origin,
                        deadline,
                        per_producer_period,
                        event_bytes,
                    )
                })
                .expect("spawn producer")
        })
        .collect();

    let show_progress = !args.json && (args.progress || std::io::stderr().is_terminal());
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(250));
        if show_progress {
            progress(&bus, &ingest, &probe, started, args.duration);
        }
    }
    let mut refused_retries = 0u64;
    let mut finished = started;
    for h in handles {
        let (waits, done) = h.join().map_err(|_| "a producer thread panicked")?;
        refused_retries += waits;
        finished = finished.max(done);
    }
    let produce_time = finished - started;
    if show_progress {
        eprintln!();
    }
    bus.flush(Duration::from_secs(60))?;
    let drained = started.elapsed();
    let stats = bus.shutdown()?;

    // Lost = accepted but neither written nor counted failed, or written but not in the store.
    let in_flight = stats.in_flight();
    let stored = stored_events(&opened, &stats);
    let missing = stored.map_or(0, |s| stats.written.saturating_sub(s));
    let lost = in_flight + missing;
    let ingest = ingest.lock();
    let end_to_end = probe.end_to_end.lock();
    let rate = stats.accepted as f64 / produce_time.as_secs_f64();
    let summary = json!({
        "store": opened.description,
        "adapter": args.adapter.name(),
        "shards": bus.num_shards(),
        "producers": args.producers,
        "rate_target_per_s": args.rate,
        "duration_s": produce_time.as_secs_f64(),
        "drain_s": (drained - produce_time).as_secs_f64(),
        "event_bytes": args.event_bytes,
        "batch": {"max_events": args.batch.max_events, "max_bytes": args.batch.max_bytes, "max_delay_ns": args.batch.max_delay.as_nanos() as u64},
        "wait_strategy": format!("{:?}", args.wait),
        "throughput_events_per_s": rate,
        "ingest_latency": percentiles(&ingest),
        "ingest_latency_sampling": if args.rate.is_some() { "every call, from intended send time" } else { "every 16th call" },
        "end_to_end_latency": percentiles(&end_to_end),
        "stats": {
            "accepted": stats.accepted, "written": stats.written, "failed": stats.failed.total(),
            "refused": stats.refused.total(), "batches": stats.batches_written, "retries": stats.retries,
            "full_ring_waits": refused_retries,
        },
        "stored": stored,
        "lost": lost,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "corelane bench: {}, {} shard(s), {} producer(s), {} for {:.1} s",
            opened.description,
            bus.num_shards(),
            args.producers,
            args.rate.map_or("full speed".to_string(), |r| format!(
                "{} events/s",
                fmt_count(r as f64)
            )),
            produce_time.as_secs_f64()
        );
        println!(
            "throughput: {}events/s ({} events of {} B; drained {:.0} ms after the last ingest)",
            fmt_count(rate),
            stats.accepted,
            args.event_bytes,
            (drained - produce_time).as_secs_f64() * 1e3
        );
        print_table(
            "latency",
            &[
                (
                    if args.rate.is_some() {
                        "ingest (from intended send)"
                    } else {
                        "ingest call (1 in 16 timed)"
                    },
                    &ingest,
                ),
                ("end to end (ingest → stored)", &end_to_end),
            ],
        );
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
                "  shard {:>2}: written {:>12}  ring fill peak {:>3.0}%  {:?}",
                s.shard,
                s.written,
                100.0 * s.ring_fill_peak_bytes as f64 / s.ring_capacity_bytes as f64,
                s.pinning
            );
        }
        match stored {
            Some(n) => println!(
                "lost: {lost} (accepted {} = written {} + failed {}; the store holds {n})",
                stats.accepted,
                stats.written,
                stats.failed.total()
            ),
            None => println!(
                "lost: {lost} (accepted {} = written {} + failed {})",
                stats.accepted,
                stats.written,
                stats.failed.total()
            ),
        }
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "corelane bench — {}, {} shard(s), {} producer(s), {}",
            args.adapter.name(),
            bus.num_shards(),
            args.producers,
            args.rate.map_or("full speed".to_string(), |r| format!(
                "{}/s",
                fmt_count(r as f64)
            ))
        );
        let svg = crate::plot::percentile_svg(
            &title,
            &[("ingest", &ingest), ("end to end", &end_to_end)],
        );
        std::fs::write(path, svg).map_err(|e| format!("--plot {}: {e}", path.display()))?;
        if !args.json {
            println!("plot: {}", path.display());
        }
    }
    Ok(if lost == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// One producer's loop; returns how many times it met a full ring, and when it ended.
#[allow(clippy::too_many_arguments)]
fn produce(
    id: usize,
    bus: &Bus,
    stop: &AtomicBool,
    shared: &Mutex<Histogram<u64>>,
    origin: Instant,
    deadline: Instant,
    period: Option<Duration>,
    event_bytes: usize,
) -> (u64, Instant) {
    let mut producer = bus.producer();
    let mut local = new_histogram();
    let mut payload = vec![b'.'; event_bytes];
    payload[8..12].copy_from_slice(&(id as u32).to_le_bytes());
    let start = Instant::now();
    let mut waits = 0u64;
    let mut i = 0u64;
    let mut last_stamp = 0u64;
    loop {
        if i % 1024 == 0 {
            if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                break;
            }
            if i % (64 * 1024) == 0 {
                shared.lock().add(&local).expect("same bounds");
                local.reset();
            }
        }
        let intended = match period {
            Some(p) => {
                let at = start + p.mul_f64(i as f64);
                while Instant::now() < at {
                    if at.saturating_duration_since(Instant::now()) > Duration::from_micros(20) {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
                Some(at)
            }
            None => None,
        };
        let timed = period.is_some() || i % 16 == 0;
        let t0 = if timed { Some(Instant::now()) } else { None };
        // Untimed calls carry the latest clock reading (at most 15 calls old).
        if let Some(sent) = intended.or(t0) {
            last_stamp = sent.saturating_duration_since(origin).as_nanos() as u64;
        }
        payload[..8].copy_from_slice(&last_stamp.to_le_bytes());
        payload[12..20].copy_from_slice(&i.to_le_bytes());
        match producer.ingest_raw(&payload[..]) {
            Ok(_) => {}
            Err(e) => {
                // Block backpressure only gives up after 30 s, or at shutdown.
                waits += 1;
                if e.reason() == corelane::RefusalReason::ShuttingDown {
                    break;
                }
                continue;
            }
        }
        if let Some(t0) = t0 {
            let from = intended.unwrap_or(t0);
            local.saturating_record(
                Instant::now()
                    .saturating_duration_since(from)
                    .as_nanos()
                    .max(1) as u64,
            );
        }
        i += 1;
    }
    let done = Instant::now();
    shared.lock().add(&local).expect("same bounds");
    (waits, done)
}

fn progress(
    bus: &Bus,
    ingest: &Mutex<Histogram<u64>>,
    probe: &Probe,
    started: Instant,
    total: Duration,
) {
    let stats = bus.stats();
    let elapsed = started.elapsed().as_secs_f64();
    let fill = stats
        .shards
        .iter()
        .map(|s| s.ring_fill())
        .fold(0.0f64, f64::max);
    let p99 = |h: &Histogram<u64>| {
        if h.is_empty() {
            "-".to_string()
        } else {
            fmt_ns(h.value_at_quantile(0.99) as f64)
        }
    };
    let ingest_p99 = p99(&ingest.lock());
    let e2e_p99 = p99(&probe.end_to_end.lock());
    eprint!(
        "\r[{elapsed:5.1}s/{:.0}s] {}events/s | ingest p99 {ingest_p99} | end-to-end p99 {e2e_p99} | ring fill {:3.0}% | written {}   ",
        total.as_secs_f64(),
        fmt_count(stats.accepted as f64 / elapsed.max(1e-9)),
        fill * 100.0,
        fmt_count(stats.written as f64)
    );
}

/// Events the store holds, when it can say cheaply.
fn stored_events(opened: &crate::store::Opened, stats: &corelane::Stats) -> Option<u64> {
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
