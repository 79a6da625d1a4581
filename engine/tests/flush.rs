//! `flush` is a delivery barrier.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{HangingAdapter, builder, check_store, payload};
use corelane::adapters::MemoryAdapter;
use corelane::{BatchConfig, FlushError};

/// Several threads ingest; after they finish, one `flush` makes the store hold exactly
/// everything. The batch delay is long (5 s), so only the flush seals the open batches.
#[test]
fn flush_delivers_everything_accepted_before_it() {
    for round in 0..20u64 {
        let store = MemoryAdapter::new();
        let bus = builder(1 + (round % 3) as usize)
            .batch(BatchConfig {
                max_events: 100_000,
                max_bytes: 64 << 20,
                max_delay: Duration::from_secs(5),
            })
            .build(store.clone())
            .unwrap();
        let per_thread = 5_000u64;
        std::thread::scope(|s| {
            for p in 0..4u64 {
                let bus = &bus;
                s.spawn(move || {
                    let mut producer = bus.producer();
                    for i in 0..per_thread {
                        while producer.ingest_raw(payload(p, i)).is_err() {
                            std::thread::yield_now();
                        }
                    }
                });
            }
        });
        bus.flush(Duration::from_secs(30)).unwrap();
        assert_eq!(store.total_events() as u64, 4 * per_thread, "round {round}");
        let stored = check_store(&store.all_events());
        for p in 0..4 {
            assert_eq!(stored[&p].len() as u64, per_thread);
        }
        let stats = bus.stats();
        assert_eq!(stats.accepted, stats.written);
        assert_eq!(stats.in_flight(), 0);
    }
}

/// Producers keep ingesting while another thread flushes repeatedly: after each flush,
/// the store holds at least everything that was accepted before the flush started.
#[test]
fn flush_races_with_ingest() {
    let store = MemoryAdapter::new();
    let bus = Arc::new(
        builder(2)
            .batch(BatchConfig {
                max_events: 4096,
                max_bytes: 1 << 20,
                max_delay: Duration::from_secs(10),
            })
            .build(store.clone())
            .unwrap(),
    );
    let producer = {
        let bus = Arc::clone(&bus);
        std::thread::spawn(move || {
            let mut producer = bus.producer();
            for i in 0..200_000u64 {
                while producer.ingest_raw(payload(9, i)).is_err() {
                    std::thread::yield_now();
                }
            }
        })
    };
    let mut flushes = 0;
    while !producer.is_finished() {
        let accepted_before = bus.stats().accepted;
        bus.flush(Duration::from_secs(30)).unwrap();
        let stored = store.total_events() as u64;
        assert!(
            stored >= accepted_before,
            "flush returned with {stored} stored, {accepted_before} accepted before it"
        );
        flushes += 1;
    }
    producer.join().unwrap();
    bus.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(store.total_events(), 200_000);
    assert!(flushes > 0);
    check_store(&store.all_events());
}

/// A hanging adapter holds shard 0 back: flush gives up at its timeout and names the
/// shards that lagged; the events are not lost once the adapter recovers.
#[test]
fn flush_timeout_names_lagging_shards() {
    let adapter = HangingAdapter::new();
    let bus = builder(2)
        .batch(BatchConfig::low_latency())
        .build_shared(adapter.clone())
        .unwrap();
    let mut producer = bus.producer();
    producer
        .ingest_raw(corelane::RawEvent::new(&b"stuck"[..]).to_shard(0))
        .unwrap();
    assert!(common::wait_until(Duration::from_secs(10), || {
        adapter.calls.load(std::sync::atomic::Ordering::SeqCst) > 0
    }));
    let started = Instant::now();
    match bus.flush(Duration::from_millis(200)) {
        Err(FlushError::Timeout { lagging, timeout }) => {
            assert_eq!(
                lagging,
                vec![0, 1],
                "the I/O thread is stuck in shard 0's write"
            );
            assert_eq!(timeout, Duration::from_millis(200));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "returned early: {waited:?}"
    );
    adapter
        .release
        .store(true, std::sync::atomic::Ordering::SeqCst);
    bus.flush(Duration::from_secs(30)).unwrap();
    let stats = bus.shutdown().unwrap();
    assert_eq!((stats.accepted, stats.written), (1, 1));
}
