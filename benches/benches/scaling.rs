//! Dynamic shard scaling, measured in one run:
//!
//! 1. **Fast path, scalable vs static.** The per-call cost of `Producer::ingest_raw` of a
//!    64-byte event routed by hash, on a static bus and on a scalable one (bucket table)
//!    with the same shard count, both running at once, groups of 100 calls alternating
//!    between them (one clock pair per group), paced at `CORELANE_BENCH_RATE` (default
//!    1,000,000/s).
//! 2. **Changes.** `scale_to` 2 → 3 → 2 … while a producer ingests keyed events at
//!    200,000/s: how long until the new routing is published (new shards take traffic
//!    from then on) and until the change is complete; and the ingest latency (from the
//!    intended send time) during the changes against the same load without changes.
//! 3. **The curve.** Throughput with S producers × S shards → noop for S in
//!    `CORELANE_BENCH_SHARDS` (default 1,2,4,8, keeping those with 2·S ≤ cores, and at
//!    least 1 and 2). On a 16-core machine `cargo bench --bench scaling` prints the
//!    curve for 1, 2, 4 and 8 shards.
//!
//! Pinning: parts 1 and 2 pin the producer (this thread) on the first allowed core and
//! leave shard threads unpinned (`CorePlan::Disabled`); part 3 pins producer p on core p
//! and shard s on core S + s (mod the allowed cores). The I/O thread is unpinned.

use std::sync::Arc;
use std::time::{Duration, Instant};

use corelane::adapters::NoopAdapter;
use corelane::{Backpressure, BatchConfig, Bus, CorePlan, RawEvent, WaitStrategy};
use corelane_benches::*;
use hdrhistogram::Histogram;
use serde_json::json;

const EVENT: [u8; 64] = [0x5a; 64];
const GROUP: u64 = 100;

fn bus(shards: usize, scalable: bool) -> Bus {
    let mut builder = Bus::builder()
        .num_shards(shards)
        .cores(CorePlan::Disabled)
        .wait_strategy(WaitStrategy::SpinThenYield)
        .batch(BatchConfig::high_throughput())
        .ring_capacity_bytes(1 << 20)
        .backpressure(Backpressure::block(Duration::from_secs(10)));
    if scalable {
        builder = builder.max_shards(8);
    }
    builder.build(NoopAdapter::new()).expect("bus")
}

/// Part 1: static vs scalable at `shards`. Both buses run at once and the groups of
/// `GROUP` ingests alternate between them, so that noise and drift hit both alike.
fn compare_fast_path(shards: usize, calls: u64, period: Duration) -> (Summary, Summary) {
    let buses = [bus(shards, false), bus(shards, true)];
    let mut producers: Vec<_> = buses.iter().map(Bus::producer).collect();
    let mut histograms = [histogram(), histogram()];
    let mut h = 0x9e37_79b9_7f4a_7c15u64;
    for producer in &mut producers {
        for _ in 0..10_000 {
            h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let _ = producer.ingest_raw(RawEvent::new(&EVENT[..]).with_hash(h));
        }
    }
    let start = Instant::now() + Duration::from_millis(1);
    for g in 0..calls / GROUP {
        spin_until(start + period * (g * GROUP) as u32);
        let which = (g % 2) as usize;
        let producer = &mut producers[which];
        let t0 = Instant::now();
        for _ in 0..GROUP {
            h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
            producer
                .ingest_raw(RawEvent::new(&EVENT[..]).with_hash(h))
                .expect("room within 10 s");
        }
        histograms[which].saturating_record((t0.elapsed().as_nanos() as u64 / GROUP).max(1));
    }
    drop(producers);
    for bus in buses {
        bus.shutdown().expect("shutdown");
    }
    (Summary::of(&histograms[0]), Summary::of(&histograms[1]))
}

/// Part 2: a paced keyed load for `duration`, with shard-count changes every `every`
/// when `changes` is set. Returns the ingest latency from intended send time and the
/// changes' (to traffic, complete) times.
fn under_changes(
    duration: Duration,
    rate: u64,
    changes: Option<Duration>,
) -> (Summary, Histogram<u64>, Histogram<u64>, u64) {
    let bus = Arc::new(
        Bus::builder()
            .num_shards(2)
            .max_shards(4)
            .cores(CorePlan::Disabled)
            .wait_strategy(WaitStrategy::Backoff)
            .backpressure(Backpressure::block(Duration::from_secs(10)))
            .build(NoopAdapter::new())
            .expect("bus"),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scaler = changes.map(|every| {
        let (bus, stop) = (Arc::clone(&bus), Arc::clone(&stop));
        std::thread::spawn(move || {
            let (mut to_traffic, mut took) = (histogram(), histogram());
            let mut target = 3;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(every);
                let outcome = bus
                    .scale_to(target, Duration::from_secs(10))
                    .expect("scale_to");
                to_traffic.saturating_record(outcome.to_traffic.as_nanos() as u64);
                took.saturating_record(outcome.took.as_nanos() as u64);
                target = if target == 3 { 2 } else { 3 };
            }
            (to_traffic, took)
        })
    });
    let mut latency = histogram();
    let mut producer = bus.producer();
    let period = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now() + Duration::from_millis(1);
    let mut i = 0u64;
    while start.elapsed() < duration {
        let at = start + period * i as u32;
        spin_until(at);
        let key = (i % 64).to_le_bytes();
        producer
            .ingest_raw(RawEvent::new(&EVENT[..]).with_key(&key[..]))
            .expect("room within 10 s");
        latency.saturating_record(at.elapsed().as_nanos().max(1) as u64);
        i += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (to_traffic, took) = scaler
        .map(|t| t.join().expect("scaler"))
        .unwrap_or_else(|| (histogram(), histogram()));
    drop(producer);
    let stats = bus.shutdown().expect("shutdown");
    assert_eq!(stats.accepted, stats.written, "nothing lost");
    (
        Summary::of(&latency),
        to_traffic,
        took,
        stats.scaling.changes,
    )
}

fn curve_shards(cores: usize) -> Vec<usize> {
    match std::env::var("CORELANE_BENCH_SHARDS") {
        Ok(list) => list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
        Err(_) => [1usize, 2, 4, 8]
            .into_iter()
            .filter(|&s| s <= 2 || 2 * s <= cores)
            .collect(),
    }
}

fn main() {
    let cores = cores();
    pin(cores.first().copied());
    let rate: u64 = env_or("CORELANE_BENCH_RATE", 1_000_000);
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let calls = scaled_count(2_000_000);

    let mut rows = Vec::new();
    let mut fast = Vec::new();
    for shards in [1usize, 4] {
        let (fixed, scalable) = compare_fast_path(shards, calls, period);
        rows.push((format!("static bus, {shards} shard(s)"), fixed));
        rows.push((format!("scalable bus, {shards} shard(s)"), scalable));
        fast.push(
            json!({"shards": shards, "static": fixed.to_json(), "scalable": scalable.to_json(),
                         "p50_difference_ns": scalable.p50 as f64 - fixed.p50 as f64}),
        );
    }
    print_latency_table(
        "ingest_raw of 64 B routed by hash, per call (groups of 100)",
        &rows,
    );

    let duration = scaled(Duration::from_secs(3));
    let (steady, ..) = under_changes(duration, 200_000, None);
    let (changing, to_traffic, took, changes) =
        under_changes(duration, 200_000, Some(Duration::from_millis(20)));
    print_latency_table(
        "ingest at 200k/s from intended send time, 2 ↔ 3 shards every 20 ms",
        &[
            ("no changes".into(), steady),
            (format!("{changes} changes"), changing),
        ],
    );
    print_latency_table(
        "scale_to 2 ↔ 3 under that load",
        &[
            (
                "until new routing published".into(),
                Summary::of(&to_traffic),
            ),
            ("until complete".into(), Summary::of(&took)),
        ],
    );

    let total = scaled_count(20_000_000);
    let mut curve = Vec::new();
    println!("\nthroughput, S producers × S shards → noop, 64 B events, {total} per point");
    for shards in curve_shards(cores.len()) {
        let events_per_s = bus_throughput(shards, shards, total, &cores);
        let oversubscribed = 2 * shards > cores.len();
        println!(
            "  {shards:>2} shard(s)  {events_per_s:>14.0} events/s{}",
            if oversubscribed {
                "  (more threads than cores)"
            } else {
                ""
            }
        );
        curve.push(json!({"shards": shards, "events_per_s": events_per_s, "oversubscribed": oversubscribed}));
    }

    write_report(
        "scaling",
        &json!({
            "bench": "scaling",
            "machine": machine(&[("producer", cores.first().copied()), ("shards", None), ("io", None)]),
            "config": {"event_bytes": 64, "rate_per_s": rate, "calls": calls, "adapter": "noop"},
            "fast_path": fast,
            "under_changes": {"steady": steady.to_json(), "changing": changing.to_json(), "changes": changes,
                              "to_traffic": Summary::of(&to_traffic).to_json(), "complete": Summary::of(&took).to_json()},
            "curve": curve,
        }),
    );
}
