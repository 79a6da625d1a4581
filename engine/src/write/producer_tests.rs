//! Producer backpressure on a ring nobody drains (no shard thread): each mode's answer
//! when the ring is full, exactly.

use std::time::{Duration, Instant};

use super::Producer;
use crate::config::settings::{Backpressure, Config, MIN_RING_CAPACITY_BYTES};
use crate::error::IngestError;
use crate::shared::testing::{Parts, bus_without_threads};

/// A producer on one shard whose 4 KiB ring holds exactly four 1,000-byte events.
fn producer(backpressure: Backpressure) -> (Producer, Parts) {
    let config = Config {
        num_shards: 1,
        ring_capacity_bytes: MIN_RING_CAPACITY_BYTES,
        max_event_bytes: 2000,
        backpressure,
        ..Config::default()
    };
    let parts = bus_without_threads(config);
    (Producer::register(&parts.bus), parts)
}

const EVENT: [u8; 1000] = [1; 1000];

fn fill(p: &mut Producer) {
    for i in 0..4 {
        p.ingest_raw(&EVENT[..])
            .unwrap_or_else(|e| panic!("event {i} refused: {e:?}"));
    }
}

#[test]
fn fail_refuses_at_once_and_hands_the_event_back() {
    let (mut p, _parts) = producer(Backpressure::Fail);
    fill(&mut p);
    match p.ingest_raw(&EVENT[..]) {
        Err(IngestError::Full { event, shard: 0 }) => assert_eq!(event.len(), 1000),
        other => panic!("{other:?}"),
    }
}

#[test]
fn drop_newest_counts_a_drop_not_a_full_ring() {
    let (mut p, parts) = producer(Backpressure::DropNewest);
    fill(&mut p);
    assert!(matches!(
        p.ingest_raw(&EVENT[..]),
        Err(IngestError::Dropped { shard: 0, .. })
    ));
    let stats = parts.bus.stats();
    assert_eq!((stats.refused.dropped, stats.refused.full), (1, 0));
}

#[test]
fn block_waits_out_its_timeout_then_refuses() {
    let timeout = Duration::from_millis(30);
    let (mut p, _parts) = producer(Backpressure::block(timeout));
    fill(&mut p);
    let started = Instant::now();
    match p.ingest_raw(&EVENT[..]) {
        Err(IngestError::TimedOut { waited, .. }) => assert!(waited >= timeout),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() >= timeout);
}

#[test]
fn block_leaves_as_soon_as_the_bus_closes() {
    let (mut p, parts) = producer(Backpressure::block(Duration::from_secs(60)));
    fill(&mut p);
    let bus = std::sync::Arc::clone(&parts.bus);
    let closer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        bus.close_registry();
    });
    let started = Instant::now();
    assert!(matches!(
        p.ingest_raw(&EVENT[..]),
        Err(IngestError::ShuttingDown(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(10));
    closer.join().unwrap();
}

#[test]
fn sample_keeps_exactly_one_in_n_above_the_high_water_mark() {
    let (mut p, parts) = producer(Backpressure::Sample {
        keep_one_in: 3,
        high_water_pct: 40,
    });
    // 1,004 bytes a record: below 40 % of 4,096 after one event, above after two.
    let small = [2u8; 1000];
    p.ingest_raw(&small[..]).unwrap();
    p.ingest_raw(&small[..]).unwrap();
    let outcomes: Vec<bool> = (0..9).map(|_| p.ingest_raw(&small[..]).is_ok()).collect();
    // Above the mark one in three is kept; the ring holds four, so the third kept one
    // finds it full.
    assert_eq!(
        outcomes,
        [true, false, false, true, false, false, false, false, false]
    );
    let stats = parts.bus.stats();
    assert_eq!(stats.refused.sampled_out, 6);
    assert_eq!(stats.refused.full, 1);
    assert_eq!(stats.accepted, 4);
}
