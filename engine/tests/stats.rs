//! Statistics: the invariant at quiescence, per-shard figures, pinning, and that reading
//! them changes nothing.

mod common;

use std::time::{Duration, Instant};

use common::{builder, payload};
use corelane::adapters::MemoryAdapter;
use corelane::{Backpressure, CorePlan, Pinning};

#[test]
fn accepted_equals_written_plus_failed_per_shard() {
    let store = MemoryAdapter::new();
    let bus = builder(3).build(store.clone()).unwrap();
    std::thread::scope(|s| {
        for p in 0..3u64 {
            let bus = &bus;
            s.spawn(move || {
                let mut producer = bus.producer();
                for i in 0..10_000 {
                    while producer.ingest_raw(payload(p, i)).is_err() {
                        std::thread::yield_now();
                    }
                }
            });
        }
    });
    bus.flush(Duration::from_secs(30)).unwrap();
    let stats = bus.stats();
    assert_eq!(stats.accepted, 30_000);
    assert_eq!(stats.accepted, stats.written + stats.failed.total());
    for shard in &stats.shards {
        assert_eq!(
            shard.accepted,
            shard.written + shard.failed,
            "shard {}",
            shard.shard
        );
        assert_eq!(shard.next_sequence, store.len(shard.shard) as u64);
        assert_eq!(shard.written, store.len(shard.shard) as u64);
        assert!(shard.batches_sealed > 0);
        assert_eq!(shard.ring_capacity_bytes, 64 << 10);
    }
    assert_eq!(stats.shards.iter().map(|s| s.accepted).sum::<u64>(), 30_000);
    assert_eq!(
        stats.batches_written,
        stats.shards.iter().map(|s| s.batches_sealed).sum::<u64>()
    );
}

#[test]
fn pinning_is_reported_per_shard() {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let bus = builder(2)
        .cores(CorePlan::Spread)
        .build(MemoryAdapter::new())
        .unwrap();
    assert!(common::wait_until(Duration::from_secs(10), || bus
        .stats()
        .shards
        .iter()
        .all(|s| s.pinning != Pinning::Pending)));
    for (i, s) in bus.stats().shards.iter().enumerate() {
        match s.pinning {
            Pinning::Core(c) | Pinning::Failed(c) => {
                assert_eq!(c, cores[i % cores.len()].id)
            }
            other => panic!("shard {i}: {other:?}"),
        }
    }
    // A core that does not exist: pinning fails, is reported, and the shard still runs.
    let store = MemoryAdapter::new();
    let bus = builder(1)
        .cores(CorePlan::Cores(vec![1000]))
        .build(store.clone())
        .unwrap();
    bus.ingest_raw(b"still served").unwrap();
    bus.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(bus.stats().shards[0].pinning, Pinning::Failed(1000));
    assert_eq!(store.total_events(), 1);
    let bus = builder(1)
        .cores(CorePlan::Disabled)
        .build(MemoryAdapter::new())
        .unwrap();
    assert!(common::wait_until(Duration::from_secs(10), || bus
        .stats()
        .shards[0]
        .pinning
        == Pinning::Disabled));
}

/// Reading statistics has no side effect on routing: the same payload goes to the same
/// shard however often statistics are read in between.
#[test]
fn reading_stats_changes_nothing() {
    let bus = builder(4).build(MemoryAdapter::new()).unwrap();
    let mut producer = bus.producer();
    let first: Vec<u32> = (0..100u64)
        .map(|i| producer.ingest_raw(payload(0, i)).unwrap().shard)
        .collect();
    for _ in 0..50 {
        let _ = bus.stats();
    }
    let again: Vec<u32> = (0..100u64)
        .map(|i| {
            let _ = bus.stats();
            producer.ingest_raw(payload(0, i)).unwrap().shard
        })
        .collect();
    assert_eq!(first, again);
}

/// Dropped events are refusals (never accepted), so they never count as in flight: `flush`
/// returns as soon as the accepted events are written instead of waiting out its deadline.
#[test]
fn dropped_events_do_not_hold_flush_back() {
    let store = MemoryAdapter::new();
    let bus = builder(1)
        .ring_capacity_bytes(4096)
        .backpressure(Backpressure::DropNewest)
        .build(store.clone())
        .unwrap();
    let mut producer = bus.producer();
    let mut dropped = 0u64;
    for i in 0..50_000 {
        if producer.ingest_raw(payload(0, i)).is_err() {
            dropped += 1;
        }
    }
    let started = Instant::now();
    bus.flush(Duration::from_secs(20)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "flush took {:?}",
        started.elapsed()
    );
    let stats = bus.stats();
    assert_eq!(stats.refused.dropped, dropped);
    assert_eq!(stats.accepted + dropped, 50_000);
    assert_eq!(stats.written, stats.accepted);
    assert_eq!(store.total_events() as u64, stats.accepted);
}

/// `Bus::totals` (lock-free) agrees with `Bus::stats`; producers that come and go reuse
/// registry slots without losing counts, and each numbers its receipts from 0.
#[test]
fn totals_match_stats_and_reused_slots_keep_every_count() {
    let bus = common::builder(2)
        .max_event_bytes(64)
        .build(corelane::adapters::MemoryAdapter::new())
        .unwrap();
    for round in 0..20u64 {
        let mut producer = bus.producer();
        for i in 0..10u64 {
            let receipt = producer
                .ingest_raw(
                    corelane::RawEvent::new(&(round * 10 + i).to_le_bytes()[..]).to_shard(0),
                )
                .unwrap();
            assert_eq!(receipt.producer_seq, i, "round {round}");
        }
        assert!(producer.ingest_raw(vec![0u8; 65]).is_err(), "too large");
    }
    bus.flush(std::time::Duration::from_secs(10)).unwrap();
    let (totals, stats) = (bus.totals(), bus.stats());
    assert_eq!(
        (
            totals.accepted,
            totals.written,
            totals.failed,
            totals.refused
        ),
        (200, 200, 0, 20)
    );
    assert_eq!(
        (stats.accepted, stats.written, stats.refused.too_large),
        (totals.accepted, totals.written, totals.refused)
    );
    assert_eq!(stats.producers, 0, "every producer was dropped");
}
