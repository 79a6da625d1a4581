//! Scaling under load: 1 → 4 → 2 → 3 → 1, a hundred rounds with random timings, while
//! three producers ingest keyed events and a fourth thread flushes. Alone in its test
//! binary so that it can count the process's threads before and after.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Intercept, builder, check_store, parse_payload, payload};
use corelane::{Adapter, Backpressure, RawEvent};
use parking_lot::Mutex;

const PRODUCERS: u64 = 3;
const KEYS: u64 = 24;
const ROUNDS: usize = 100;

/// Threads of this process whose name starts with "corelane".
fn corelane_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|name| name.starts_with("corelane"))
                .count()
        })
        .unwrap_or(0)
}

/// A small deterministic generator for the random timings.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The key of event `index`: producers cycle through `KEYS` keys.
fn key_of(index: u64) -> u64 {
    index % KEYS
}

#[test]
fn a_hundred_rounds_of_scaling_under_load_lose_and_reorder_nothing() {
    let threads_before = corelane_threads();
    // The write order the I/O thread produced, event by event.
    let log: Arc<Mutex<Vec<(u64, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let adapter = {
        let log = Arc::clone(&log);
        Arc::new(Intercept::new(move |store, batch, deadline| {
            store.write_batch(batch, deadline)?;
            let mut log = log.lock();
            log.extend(batch.events().map(|e| parse_payload(e.payload)));
            Ok(())
        }))
    };
    let bus = Arc::new(
        builder(1)
            .max_shards(4)
            .backpressure(Backpressure::block(Duration::from_secs(30)))
            .build_shared(adapter.clone())
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let accepted: Arc<Vec<AtomicU64>> =
        Arc::new((0..PRODUCERS).map(|_| AtomicU64::new(0)).collect());

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (bus, stop, accepted) =
                (Arc::clone(&bus), Arc::clone(&stop), Arc::clone(&accepted));
            std::thread::spawn(move || {
                let mut producer = bus.producer();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = key_of(i).to_le_bytes();
                    let bytes = payload(p, i);
                    let event = RawEvent::new(&bytes[..]).with_key(&key[..]);
                    producer
                        .ingest_raw(event)
                        .expect("Block never refuses here");
                    i += 1;
                    accepted[p as usize].store(i, Ordering::Relaxed);
                    // A steady stream, not a flood: the store keeps every event.
                    if i % 64 == 0 {
                        std::thread::sleep(Duration::from_micros(100));
                    }
                }
                i
            })
        })
        .collect();

    // Flushes while the shard count changes: each is an exact barrier for what was
    // accepted before it.
    let flusher = {
        let (bus, stop) = (Arc::clone(&bus), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut flushes = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let before = bus.totals().accepted;
                bus.flush(Duration::from_secs(30))
                    .expect("flush during a change");
                let after = bus.totals();
                assert!(
                    after.written + after.failed >= before,
                    "flush returned with {} of {before} events written",
                    after.written + after.failed
                );
                flushes += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            flushes
        })
    };

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut changes = 0;
    for round in 0..ROUNDS {
        for target in [4u32, 2, 3, 1] {
            std::thread::sleep(Duration::from_micros(rng.below(1500)));
            let outcome = bus
                .scale_to(target, Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("round {round}, to {target}: {e}"));
            assert_eq!(outcome.to, target);
            assert_eq!(bus.num_shards(), target);
            changes += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sent: Vec<u64> = producers.into_iter().map(|t| t.join().unwrap()).collect();
    let flushes = flusher.join().unwrap();
    let stats = bus.shutdown().unwrap();

    // Counters add up, and every change was logged.
    let total: u64 = sent.iter().sum();
    assert_eq!(stats.accepted, total);
    assert_eq!(stats.written, total, "{stats:?}");
    assert_eq!(stats.failed.total(), 0);
    assert_eq!(stats.scaling.changes, changes);
    assert_eq!(stats.scaling.active_shards, 1);
    let per_shard: u64 = stats.shards.iter().map(|s| s.written).sum();
    assert_eq!(per_shard, total);
    assert!(
        stats
            .shards
            .iter()
            .skip(1)
            .all(|s| s.phase == corelane::ShardPhase::Retired),
        "{:?}",
        stats.shards.iter().map(|s| s.phase).collect::<Vec<_>>()
    );

    // Every accepted event stored exactly once; each shard's numbering contiguous with
    // increasing timestamps across its threads.
    let events = adapter.store.all_events();
    let stored = check_store(&events);
    for p in 0..PRODUCERS {
        let want: Vec<u64> = (0..sent[p as usize]).collect();
        assert_eq!(
            stored.get(&p).cloned().unwrap_or_default(),
            want,
            "producer {p}"
        );
    }

    // Per (producer, key): written in ingest order, and timestamps increase.
    let mut last_written: HashMap<(u64, u64), u64> = HashMap::new();
    for &(p, i) in log.lock().iter() {
        if let Some(prev) = last_written.insert((p, key_of(i)), i) {
            assert!(
                i > prev,
                "producer {p} key {}: {i} written after {prev}",
                key_of(i)
            );
        }
    }
    let mut by_time: Vec<_> = events
        .iter()
        .map(|e| (e.insertion_ts, parse_payload(&e.payload)))
        .collect();
    by_time.sort_unstable();
    let mut last_stamped: HashMap<(u64, u64), u64> = HashMap::new();
    for (_, (p, i)) in by_time {
        if let Some(prev) = last_stamped.insert((p, key_of(i)), i) {
            assert!(
                i > prev,
                "producer {p} key {}: {i} stamped before {prev}",
                key_of(i)
            );
        }
    }
    // Keys really moved: with four shards at times, every shard id stored events.
    assert!((0..4).all(|s| !adapter.store.events(s).is_empty()));
    let mut took: Vec<Duration> = stats.scaling.events.iter().map(|e| e.took).collect();
    took.sort_unstable();
    eprintln!(
        "{changes} changes, {total} events, {flushes} flushes during them; of the last {} \
         changes the median took {:?}, the slowest {:?}",
        took.len(),
        took[took.len() / 2],
        took[took.len() - 1]
    );

    drop(bus);
    assert!(
        common::wait_until(Duration::from_secs(5), || corelane_threads()
            == threads_before),
        "threads leaked: {} corelane threads before, {} after",
        threads_before,
        corelane_threads()
    );
}
