//! Latency from the intended send time of an event to the moment a probe adapter's
//! `write_batch` sees it, at a paced rate (`CORELANE_BENCH_RATE`, default 20,000/s), for
//! every wait strategy with the `low_latency()` and default batch presets, and for the
//! whole low-latency profile (`Bus::builder().low_latency()`: on a machine with fewer
//! cores than shards + 2 it lets the I/O thread linger too).
//!
//! Beside them, twice (just before and just after the profile's row), a noise reference,
//! the "floor": the same paced events through a bare rtrb ring to one busy-spinning
//! thread, one hop. Every row also reports the VM steal time while it ran (`/proc/stat`,
//! all vCPUs and the shard's), since a stolen millisecond stalls any thread, pinned or not.
//!
//! Each event carries its intended send time; the probe reads the clock once when
//! `write_batch` starts and records `now − intended` for every event of the batch. A
//! producer that falls behind schedule keeps the schedule (coordinated omission counts).
//!
//! Pinning: the shard thread alone on the second allowed core; the producer and the I/O
//! thread share the first. The producer waits for its next send time by yielding (then
//! spinning for the last 2 µs), so the I/O thread runs between sends; with `BusySpin`
//! the I/O thread spins and yields, otherwise it sleeps in mio until the shard wakes it.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use corelane::adapter::{Batch, InitReport, Position, ShardPoll};
use corelane::adapters::MemoryAdapter;
use corelane::{
    Adapter, AdapterError, BatchConfig, Bus, BusBuilder, Config, CorePlan, WaitStrategy,
};
use corelane_benches::*;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// Bytes of every event, its intended send time first.
const PAYLOAD: usize = 64;

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

/// What one row of the table runs.
#[derive(Clone, Copy)]
enum Shape {
    /// A bus with this wait strategy and this named batch preset.
    Bus(WaitStrategy, &'static str, BatchConfig),
    /// A bus built with the whole low-latency profile.
    Profile,
    /// The machine's floor: a bare ring, one hop, a busy-spinning consumer.
    Floor,
}

fn main() {
    let rate: u64 = env_or("CORELANE_BENCH_RATE", 20_000);
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let run_for = scaled(Duration::from_secs(2));
    let events = (run_for.as_nanos() / period.as_nanos()).max(1) as u64;
    let cores = cores();
    let producer_core = pin(cores.first().copied());
    let shard_core = cores.get(1).or(cores.first()).copied();
    let presets = [
        ("low_latency", BatchConfig::low_latency()),
        ("default", BatchConfig::default()),
    ];
    // The profile's row sits between two floor rows, so that the machine's noise of the
    // same minute shows beside it. On one core the floor's spinning consumer would share
    // the producer's core and measure time slices, so it runs only with two or more.
    let floor = cores.len() >= 2;
    let shapes = [
        WaitStrategy::BusySpin,
        WaitStrategy::SpinThenYield,
        WaitStrategy::Backoff,
    ]
    .into_iter()
    .flat_map(|s| presets.map(|(name, preset)| Shape::Bus(s, name, preset)))
    .chain([Shape::Floor, Shape::Profile, Shape::Floor])
    .filter(|shape| floor || !matches!(shape, Shape::Floor));
    let mut rows = Vec::new();
    let mut results = Vec::new();
    for shape in shapes {
        let steal_before = (steal_time(None), steal_time(shard_core));
        let (label, mut result, summary) = match shape {
            Shape::Floor => floor_row(events, period, shard_core),
            _ => bus_row(shape, events, period, producer_core, shard_core),
        };
        assert_eq!(summary.count, events, "every event seen once");
        let steal = |before: Option<Duration>, cpu| {
            before
                .zip(steal_time(cpu))
                .map(|(b, a)| a.saturating_sub(b).as_millis() as u64)
        };
        let (all, shard) = (
            steal(steal_before.0, None),
            steal(steal_before.1, shard_core),
        );
        result["latency"] = summary.to_json();
        result["steal_ms"] = json!(all);
        result["shard_core_steal_ms"] = json!(shard);
        let steal = match (all, shard) {
            (Some(all), Some(shard)) => format!(" [steal {all} ms, {shard} on the shard's]"),
            (Some(all), None) => format!(" [steal {all} ms]"),
            _ => String::new(),
        };
        rows.push((format!("{label}{steal}"), summary));
        results.push(result);
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
            "config": {"rate_per_s": rate, "events_per_row": events, "payload_bytes": PAYLOAD, "shards": 1},
            "results": results,
        }),
    );
}

/// Runs one bus row: its label, its JSON (without the latency) and its latencies.
fn bus_row(
    shape: Shape,
    events: u64,
    period: Duration,
    producer_core: Option<usize>,
    shard_core: Option<usize>,
) -> (String, Value, Summary) {
    let builder = Bus::builder()
        .num_shards(1)
        .cores(shard_core.map_or(CorePlan::Disabled, |c| CorePlan::Cores(vec![c])))
        .io_core(producer_core);
    let builder = match shape {
        Shape::Bus(strategy, _, preset) => builder.wait_strategy(strategy).batch(preset),
        _ => builder.low_latency(),
    };
    let (config, summary) = paced_run(builder, events, period);
    let (label, batch) = match shape {
        Shape::Bus(strategy, name, _) => (format!("{strategy:?} + {name}"), name),
        _ => (
            format!(
                "profile low_latency ({:?}, I/O {})",
                config.wait_strategy,
                config
                    .io_wait_strategy
                    .map_or("follows".to_string(), |w| format!("{w:?}"))
            ),
            "profile low_latency",
        ),
    };
    let result = json!({
        "wait_strategy": format!("{:?}", config.wait_strategy),
        "io_wait_strategy": config.io_wait_strategy.map(|w| format!("{w:?}")),
        "batch": batch,
    });
    (label, result, summary)
}

/// Runs the floor row: its label, its JSON (without the latency) and its latencies.
fn floor_row(
    events: u64,
    period: Duration,
    consumer_core: Option<usize>,
) -> (String, Value, Summary) {
    let summary = floor_run(events, period, consumer_core);
    let result = json!({"baseline": "floor: bare rtrb ring, one hop, busy-spinning consumer"});
    (
        "floor: bare ring, 1 hop, busy spin".to_string(),
        result,
        summary,
    )
}

/// A noise reference for this job: the same paced producer pushes the same events,
/// length-framed, into a bare rtrb ring of the bus's default ring size, and one thread
/// busy-spinning on the shard's core takes each record the moment it lands and records
/// `now − intended`. One hop, no batch, no yield, no I/O thread: the least that moving an
/// event between two threads costs here. It runs in its own seconds, so it is no bound on
/// another row's figures; it shows what the machine did to a bare ring in the same
/// minute.
fn floor_run(events: u64, period: Duration, consumer_core: Option<usize>) -> Summary {
    const RECORD: usize = 4 + PAYLOAD;
    let origin = Instant::now();
    let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new(Config::default().ring_capacity_bytes);
    let ready = Arc::new(Barrier::new(2));
    let consumer_ready = Arc::clone(&ready);
    let consumer = std::thread::spawn(move || {
        pin(consumer_core);
        consumer_ready.wait();
        let mut h = histogram();
        let mut record = [0u8; RECORD];
        let mut last = 0u64;
        let mut waiting_since = Instant::now();
        while h.len() < events {
            let Ok(chunk) = rx.read_chunk(RECORD) else {
                assert!(
                    waiting_since.elapsed() < Duration::from_secs(60),
                    "floor: no record for 60 s after {} of {events}",
                    h.len()
                );
                std::hint::spin_loop();
                continue;
            };
            let (a, b) = chunk.as_slices();
            record[..a.len()].copy_from_slice(a);
            record[a.len()..].copy_from_slice(b);
            chunk.commit_all();
            let now = origin.elapsed().as_nanos() as u64;
            waiting_since = Instant::now();
            let length = u32::from_le_bytes(record[..4].try_into().expect("4 bytes"));
            let intended = u64::from_le_bytes(record[4..12].try_into().expect("8 bytes"));
            assert_eq!(length as usize, PAYLOAD, "floor: a record out of frame");
            assert!(intended > last, "floor: a record out of order");
            last = intended;
            h.saturating_record(now.saturating_sub(intended).max(1));
        }
        h
    });
    ready.wait();
    send_paced(events, period, origin, |payload| {
        // A consumer that stopped (a failed check) leaves the ring full: stop too, and
        // let the join below report why.
        while !push_record(&mut tx, payload) && !consumer.is_finished() {
            std::hint::spin_loop();
        }
    });
    Summary::of(&consumer.join().expect("floor consumer"))
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
    // Warm-up events carry send time 0; the probe's figures are reset after them.
    for _ in 0..1000 {
        let _ = producer.ingest_raw(&[0u8; PAYLOAD][..]);
    }
    bus.flush(Duration::from_secs(10)).expect("flush");
    probe.latencies.lock().reset();
    send_paced(events, period, probe.origin, |payload| {
        while producer.ingest_raw(payload).is_err() {
            std::hint::spin_loop();
        }
    });
    bus.flush(Duration::from_secs(10)).expect("flush");
    let summary = Summary::of(&probe.latencies.lock());
    drop(producer);
    let config = bus.config().clone();
    bus.shutdown().expect("shutdown");
    (config, summary)
}

/// Sends `events` events `period` apart, starting 5 ms from now: each waits for its
/// intended send time, carries it (nanoseconds since `origin`) in its first 8 bytes, and
/// goes to `send`.
fn send_paced(events: u64, period: Duration, origin: Instant, mut send: impl FnMut(&[u8])) {
    let mut payload = [0u8; PAYLOAD];
    let start = Instant::now() + Duration::from_millis(5);
    for i in 0..events {
        let at = start + period * i as u32;
        spin_until(at);
        let intended = at.duration_since(origin).as_nanos() as u64;
        payload[..8].copy_from_slice(&intended.to_le_bytes());
        send(&payload);
    }
}
