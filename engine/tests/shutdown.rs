//! Shutdown and Drop: nothing accepted is lost, every refusal is counted.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{builder, check_store, parse_payload, payload};
use corelane::adapters::MemoryAdapter;
use corelane::{BatchConfig, IngestError, RefusalReason};

struct ProducerLog {
    accepted: Vec<u64>,
    full: u64,
    shutting_down: u64,
}

/// Four producers ingest as fast as they can while another thread shuts the bus down.
/// Every accepted event is stored exactly once and in per-(producer, shard) order, and the
/// counters match what the producers saw. 50 rounds with varied shard counts and timing.
#[test]
fn shutdown_under_load_loses_nothing() {
    for round in 0..50u64 {
        let shards = 1 + (round % 4) as usize;
        let store = MemoryAdapter::new();
        let batch = if round % 2 == 0 {
            BatchConfig::low_latency()
        } else {
            BatchConfig::default()
        };
        let bus = Arc::new(
            builder(shards)
                .batch(batch)
                .ring_capacity_bytes(4096 << (round % 3))
                .build(store.clone())
                .unwrap(),
        );
        let started = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let bus = Arc::clone(&bus);
                let started = Arc::clone(&started);
                std::thread::spawn(move || {
                    let mut producer = bus.producer();
                    let mut log = ProducerLog {
                        accepted: Vec::new(),
                        full: 0,
                        shutting_down: 0,
                    };
                    let mut i = 0u64;
                    loop {
                        match producer.ingest_raw(payload(p, i)) {
                            Ok(_) => log.accepted.push(i),
                            Err(IngestError::Full { .. }) => {
                                log.full += 1;
                                std::thread::yield_now();
                            }
                            Err(IngestError::ShuttingDown(ev)) => {
                                assert_eq!(parse_payload(&ev), (p, i), "the event came back");
                                log.shutting_down += 1;
                                break;
                            }
                            Err(other) => panic!("unexpected refusal {other:?}"),
                        }
                        started.store(true, Ordering::Relaxed);
                        i += 1;
                    }
                    // Ingests after the close keep being refused and counted.
                    for _ in 0..3 {
                        assert!(matches!(
                            producer.ingest_raw(payload(p, u64::MAX)),
                            Err(IngestError::ShuttingDown(_))
                        ));
                        log.shutting_down += 1;
                    }
                    log
                })
            })
            .collect();
        while !started.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_micros(500 * (round % 7)));
        let stats = bus.shutdown().expect("shutdown");
        let logs: Vec<ProducerLog> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        // Refusals after the close happened partly after `shutdown` returned.
        let refused = bus.stats().refused;

        let stored = check_store(&store.all_events());
        let accepted: u64 = logs.iter().map(|l| l.accepted.len() as u64).sum();
        for (p, log) in logs.iter().enumerate() {
            let got = stored.get(&(p as u64)).cloned().unwrap_or_default();
            assert_eq!(
                got, log.accepted,
                "round {round}: producer {p} accepted ≠ stored"
            );
        }
        assert_eq!(stats.accepted, accepted, "round {round}");
        assert_eq!(stats.written, accepted, "round {round}");
        assert_eq!(stats.failed.total(), 0);
        assert_eq!(
            refused.full,
            logs.iter().map(|l| l.full).sum::<u64>(),
            "round {round}"
        );
        assert_eq!(
            refused.shutting_down,
            logs.iter().map(|l| l.shutting_down).sum::<u64>(),
            "round {round}"
        );
        assert_eq!(refused.total(), refused.full + refused.shutting_down);
        assert_eq!(
            bus.stats().producers,
            0,
            "producer threads ended, so did their producers"
        );
    }
}

#[test]
fn drop_without_shutdown_delivers_everything() {
    for round in 0..10u64 {
        let store = MemoryAdapter::new();
        {
            let bus = builder(3)
                .batch(BatchConfig::high_throughput())
                .build(store.clone())
                .unwrap();
            std::thread::scope(|s| {
                for p in 0..3u64 {
                    let bus = &bus;
                    s.spawn(move || {
                        let mut producer = bus.producer();
                        for i in 0..20_000u64 {
                            while producer.ingest_raw(payload(p, i)).is_err() {
                                std::thread::yield_now();
                            }
                        }
                    });
                }
            });
            // No flush, no shutdown: the open batches are younger than max_delay.
        }
        let stored = check_store(&store.all_events());
        for p in 0..3u64 {
            let expected: Vec<u64> = (0..20_000).collect();
            assert_eq!(stored[&p], expected, "round {round} producer {p}");
        }
    }
}

#[test]
fn shutdown_is_idempotent_and_refuses_afterwards() {
    let store = MemoryAdapter::new();
    let bus = builder(2).build(store.clone()).unwrap();
    let mut early = bus.producer();
    for i in 0..100 {
        early.ingest_raw(payload(0, i)).unwrap();
    }
    let first = bus.shutdown().unwrap();
    let second = bus.shutdown().unwrap();
    assert_eq!(first, second);
    assert_eq!(first.written, 100);

    match early.ingest_raw(payload(0, 100)) {
        Err(e) => {
            assert_eq!(e.reason(), RefusalReason::ShuttingDown);
            assert_eq!(e.to_string(), "the bus is shutting down");
        }
        Ok(r) => panic!("accepted after shutdown: {r:?}"),
    }
    let mut late = bus.producer();
    assert!(matches!(
        late.ingest_raw(b"late"),
        Err(IngestError::ShuttingDown(b"late"))
    ));
    assert!(bus.ingest_raw(b"tls").is_err());
    drop((early, late));
    let stats = bus.stats();
    assert_eq!(stats.refused.shutting_down, 3);
    assert_eq!(stats.accepted, 100);
    assert!(matches!(
        bus.flush(Duration::from_secs(1)),
        Err(corelane::FlushError::ShutDown)
    ));
    assert_eq!(store.total_events(), 100);
}

/// `Bus::ingest` from many short-lived threads: each thread's producer is registered on
/// first use and retired when the thread exits; nothing is lost.
#[test]
fn thread_local_producers_retire_with_their_threads() {
    let store = MemoryAdapter::new();
    let bus = Arc::new(builder(2).build(store.clone()).unwrap());
    for wave in 0..4u64 {
        let handles: Vec<_> = (0..8u64)
            .map(|t| {
                let bus = Arc::clone(&bus);
                std::thread::spawn(move || {
                    let p = wave * 8 + t;
                    for i in 0..2_000u64 {
                        while bus.ingest_raw(payload(p, i)).is_err() {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(
            bus.stats().producers,
            0,
            "wave {wave}: exited threads retired"
        );
    }
    bus.flush(Duration::from_secs(30)).unwrap();
    let stored = check_store(&store.all_events());
    assert_eq!(stored.len(), 32);
    let all: HashSet<usize> = stored.values().map(Vec::len).collect();
    assert_eq!(all, HashSet::from([2_000]));
    let stats = bus.shutdown().unwrap();
    assert_eq!(stats.accepted, 64_000);
    assert_eq!(stats.written, 64_000);
}
