//! What reading a bus's counters costs a completion poller: `Bus::totals()` (lock-free,
//! no allocation) against `Bus::stats()` (every counter per shard, allocating), on a bus
//! with 2 shards and 4 registered producers, after traffic. Each call is timed in groups
//! of 100 (the clock pair would dominate a single call); the reader is unpinned.

use std::time::{Duration, Instant};

use corelane::adapters::NoopAdapter;
use corelane::{Bus, CorePlan, WaitStrategy};
use corelane_benches::*;
use serde_json::json;

/// Per-call nanoseconds of `op`, from groups of 100 calls.
fn per_call(groups: u64, mut op: impl FnMut() -> u64) -> (Summary, u64) {
    let mut h = histogram();
    let mut sink = 0u64;
    for _ in 0..groups {
        let t0 = Instant::now();
        for _ in 0..100 {
            sink = sink.wrapping_add(std::hint::black_box(op()));
        }
        h.saturating_record((t0.elapsed().as_nanos() / 100).max(1) as u64);
    }
    (Summary::of(&h), sink)
}

fn main() {
    let bus = Bus::builder()
        .num_shards(2)
        .cores(CorePlan::Disabled)
        .wait_strategy(WaitStrategy::Backoff)
        .build(NoopAdapter::new())
        .expect("bus");
    let mut producers: Vec<_> = (0..4).map(|_| bus.producer()).collect();
    for (i, p) in producers.iter_mut().enumerate() {
        for n in 0..10_000u64 {
            p.ingest_raw((n ^ i as u64).to_le_bytes())
                .expect("ring room");
        }
    }
    bus.flush(Duration::from_secs(30)).expect("flush");
    let groups = scaled_count(20_000);
    let (totals, a) = per_call(groups, || bus.totals().accepted);
    let (stats, b) = per_call(groups / 10, || bus.stats().accepted);
    assert_eq!(a % 40_000, 0, "every read saw the 40,000 events");
    assert_eq!(b % 40_000, 0);
    print_latency_table(
        "reading the counters (2 shards, 4 producers), per call",
        &[
            ("Bus::totals()".to_string(), totals),
            ("Bus::stats()".to_string(), stats),
        ],
    );
    write_report(
        "counters",
        &json!({
            "bench": "counters",
            "machine": machine(&[("reader", None)]),
            "results": [
                {"read": "totals", "per_call": totals.to_json()},
                {"read": "stats", "per_call": stats.to_json()},
            ],
        }),
    );
    drop(producers);
    bus.shutdown().expect("shutdown");
}
