//! Latency from the intended send time of an event to the moment a probe adapter's
//! `write_batch` sees it, at a paced rate (`CORELANE_BENCH_RATE`, default 20,000/s), for
//! every wait strategy with the `low_latency()` and default batch presets, and for the
//! whole low-latency profile (`Bus::builder().low_latency()`: on a machine with fewer
//! cores than shards + 2 it lets the I/O thread linger too).
//!
//! Each event carries its intended send time; the probe reads the clock once when
//! `write_batch` starts and records `now − intended` for every event of the batch. A
//! producer that falls behind schedule keeps the schedule (coordinated omission counts).
//!
//! Pinning: the shard thread alone on the second allowed core; the producer and the I/O
//! thread share the first. The producer waits for its next send time by yielding (then
//! spinning for the last 2 µs), so the I/O thread runs between sends; with `BusySpin`
//! the I/O thread spins and yields, otherwise it sleeps in mio until the shard wakes it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use corelane::adapter::{Batch, InitReport, Position, ShardPoll};
use corelane::adapters::MemoryAdapter;
use corelane::{
    Adapter, AdapterError, BatchConfig, Bus, BusBuilder, Config, CorePlan, WaitStrategy,
};
use corelane_benches::*;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::json;

struct Probe {
    origin: Instant,
    latencies: Mutex<Histogram<u64>>,
}

impl Adapter for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn init(&self, n: u32, _: Instant) -> Result<InitReport, AdapterError> {
        Ok(InitReport::empty(n))
    }
    fn write_batch(&self, batch: &Batch, _: Instant) -> Result<(), AdapterError> {
        let now = self.origin.elapsed().as_nanos() as u64;
        let mut h = self.latencies.lock();
        for e in batch.events() {
            let intended = u64::from_le_bytes(e.payload[..8].try_into().expect("8 bytes"));
            h.saturating_record(now.saturating_sub(intended).max(1));
        }
        Ok(())
    }
    fn flush(&self, _: Instant) -> Result<(), AdapterError> {
        Ok(())
    }
    fn shutdown(&self, _: Instant) -> Result<(), AdapterError> {
        Ok(())
    }
    fn poll_shard(
        &self,
        s: u32,
        a: Option<Position>,
        l: usize,
        d: Instant,
    ) -> Result<ShardPoll, AdapterError> {
        MemoryAdapter::new().poll_shard(s, a, l, d)
    }
    fn is_healthy(&self) -> bool {
        true
    }
}

fn main() {
    let rate: u64 = env_or("CORELANE_BENCH_RATE", 20_000);
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let run_for = scaled(Duration::from_secs(2));
    let events = (run_for.as_nanos() / period.as_nanos()).max(1) as u64;
    let cores = cores();
    let producer_core = pin(cores.first().copied());
    let shard_core = cores.get(1).or(cores.first()).copied();
    let strategies = [
        WaitStrategy::BusySpin,
        WaitStrategy::SpinThenYield,
        WaitStrategy::Backoff,
    ];
    let presets = [
        ("low_latency", BatchConfig::low_latency()),
        ("default", BatchConfig::default()),
    ];
    // Each row: a wait strategy and batch preset, or (None) the whole profile.
    let shapes = strategies
        .into_iter()
        .flat_map(|s| presets.map(|p| Some((s, p))))
        .chain([None]);
    let mut rows = Vec::new();
    let mut results = Vec::new();
    for shape in shapes {
        let builder = Bus::builder()
            .num_shards(1)
            .cores(shard_core.map_or(CorePlan::Disabled, |c| CorePlan::Cores(vec![c])))
            .io_core(producer_core);
        let builder = match shape {
            Some((strategy, (_, preset))) => builder.wait_strategy(strategy).batch(preset),
            None => builder.low_latency(),
        };
        let (config, summary) = paced_run(builder, events, period);
        assert_eq!(summary.count, events, "every event seen once");
        let label = match shape {
            Some((strategy, (preset_name, _))) => format!("{strategy:?} + {preset_name}"),
            None => format!(
                "profile low_latency ({:?}, I/O {})",
                config.wait_strategy,
                config
                    .io_wait_strategy
                    .map_or("follows".to_string(), |w| format!("{w:?}"))
            ),
        };
        results.push(json!({
            "wait_strategy": format!("{:?}", config.wait_strategy),
            "io_wait_strategy": config.io_wait_strategy.map(|w| format!("{w:?}")),
            "batch": shape.map_or("profile low_latency", |(_, (name, _))| name),
            "latency": summary.to_json(),
        }));
        rows.push((label, summary));
    }
    print_latency_table(
        &format!(
            "ingest → adapter write_batch, {events} events per row paced at {rate}/s, from intended send time"
        ),
        &rows,
    );
    write_report(
        "end_to_end",
        &json!({
            "bench": "end_to_end",
            "machine": machine(&[("producer", producer_core), ("shard", shard_core), ("io", producer_core)]),
            "config": {"rate_per_s": rate, "events_per_row": events, "payload_bytes": 64, "shards": 1},
            "results": results,
        }),
    );
}

/// Builds a bus on a probe adapter, sends `events` events paced `period` apart (after a
/// warm-up that is not recorded), and returns the bus's configuration and the latencies
/// the probe saw.
fn paced_run(builder: BusBuilder, events: u64, period: Duration) -> (Config, Summary) {
    let probe = Arc::new(Probe {
        origin: Instant::now(),
        latencies: Mutex::new(histogram()),
    });
    let bus = builder.build_shared(probe.clone()).expect("bus");
    let mut producer = bus.producer();
    let mut payload = [0u8; 64];
    for _ in 0..1000 {
        payload[..8].copy_from_slice(&0u64.to_le_bytes());
        let _ = producer.ingest_raw(&payload[..]);
    }
    bus.flush(Duration::from_secs(10)).expect("flush");
    probe.latencies.lock().reset();
    let start = Instant::now() + Duration::from_millis(5);
    for i in 0..events {
        let at = start + period * i as u32;
        spin_until(at);
        let intended = at.duration_since(probe.origin).as_nanos() as u64;
        payload[..8].copy_from_slice(&intended.to_le_bytes());
        while producer.ingest_raw(&payload[..]).is_err() {
            std::hint::spin_loop();
        }
    }
    bus.flush(Duration::from_secs(10)).expect("flush");
    let summary = Summary::of(&probe.latencies.lock());
    drop(producer);
    let config = bus.config().clone();
    bus.shutdown().expect("shutdown");
    (config, summary)
}
