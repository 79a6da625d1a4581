//! Changing the shard count: errors, a change that cannot complete in time, shutdown in
//! the middle of a change, the automatic policy, and cursors across changes.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{GateAdapter, Intercept, builder, check_store, parse_payload, payload, wait_until};
use corelane::adapters::MemoryAdapter;
use corelane::read::{ConsumeOrder, ConsumeRequest, Cursor};
use corelane::{
    Adapter, Backpressure, BatchConfig, RawEvent, ScaleError, ScaleReason, ScalingPolicy,
    ShardPhase,
};

fn keyed(producer: u64, i: u64) -> ([u8; 16], [u8; 8]) {
    (payload(producer, i), (i % 16).to_le_bytes())
}

#[test]
fn scale_to_refuses_what_it_cannot_do_with_a_clear_error() {
    let fixed = builder(2).build(MemoryAdapter::new()).unwrap();
    let err = fixed.scale_to(3, Duration::from_secs(1)).unwrap_err();
    assert_eq!(err, ScaleError::NotScalable);
    assert!(err.to_string().contains("max_shards"), "{err}");

    let bus = builder(1)
        .max_shards(3)
        .build(MemoryAdapter::new())
        .unwrap();
    assert_eq!(bus.max_shards(), 3);
    for target in [0, 4] {
        let err = bus.scale_to(target, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err, ScaleError::OutOfRange { target, max: 3 });
        assert_eq!(
            err.to_string(),
            format!("cannot scale to {target} shards: the range is 1..=3")
        );
    }
    let same = bus.scale_to(1, Duration::from_secs(1)).unwrap();
    assert_eq!((same.from, same.to, same.added.len()), (1, 1, 0));
    bus.shutdown().unwrap();
    assert_eq!(
        bus.scale_to(2, Duration::from_secs(1)).unwrap_err(),
        ScaleError::Closed
    );

    // A configuration that cannot scale sensibly is refused with the field named.
    let err = builder(2).max_shards(1).build_config().unwrap_err();
    assert!(err.mentions("max_shards"), "{err}");
    let err = builder(2)
        .scaling(ScalingPolicy {
            scale_down_fill: 0.9,
            ..ScalingPolicy::between(3, 1)
        })
        .build_config()
        .unwrap_err();
    for field in [
        "scaling.min_shards",
        "scaling.max_shards",
        "scaling.scale_down_fill",
    ] {
        assert!(err.mentions(field), "{field} in {err}");
    }
}

#[test]
fn a_change_that_cannot_complete_in_time_is_finished_by_the_next_call() {
    let store = GateAdapter::closed();
    let bus = builder(1)
        .max_shards(3)
        .adapter_retries(1000)
        .adapter_timeout(Duration::from_millis(50))
        .build_shared(store.clone())
        .unwrap();
    for i in 0..40 {
        let (p, k) = keyed(0, i);
        bus.ingest_raw(RawEvent::new(&p[..]).with_key(&k[..]))
            .unwrap();
    }
    // Shard 0's events cannot be written, so the keys moving to shard 1 must wait.
    let err = bus.scale_to(2, Duration::from_millis(200)).unwrap_err();
    assert!(
        matches!(err, ScaleError::Timeout { stage, .. } if stage.contains("written")),
        "{err}"
    );
    assert_eq!(bus.num_shards(), 2, "published: shard 1 takes traffic");
    assert!(bus.stats().scaling.changing);
    for i in 40..80 {
        let (p, k) = keyed(0, i);
        bus.ingest_raw(RawEvent::new(&p[..]).with_key(&k[..]))
            .unwrap();
    }
    let err = bus.scale_to(3, Duration::from_millis(100)).unwrap_err();
    assert!(
        matches!(&err, ScaleError::InProgress { detail } if detail.contains("1 → 2")),
        "{err}"
    );
    store.open();
    let outcome = bus.scale_to(3, Duration::from_secs(30)).unwrap();
    assert_eq!((outcome.from, outcome.to), (2, 3));
    let stats = bus.shutdown().unwrap();
    assert_eq!(stats.scaling.changes, 2);
    assert!(!stats.scaling.changing);
    assert_eq!((stats.accepted, stats.written), (80, 80));
    let stored = check_store(&store.store.all_events());
    assert_eq!(stored[&0], (0..80).collect::<Vec<_>>());
}

#[test]
fn shutdown_in_the_middle_of_a_change_completes_and_loses_nothing() {
    for round in 0..20u64 {
        let store = Arc::new(MemoryAdapter::new());
        let bus = Arc::new(
            builder(1)
                .max_shards(4)
                .backpressure(Backpressure::block(Duration::from_secs(10)))
                .build_shared(store.clone())
                .unwrap(),
        );
        let accepted = Arc::new(AtomicU64::new(0));
        let producer = {
            let (bus, accepted) = (Arc::clone(&bus), Arc::clone(&accepted));
            std::thread::spawn(move || {
                let mut p = bus.producer();
                for i in 0.. {
                    let (bytes, key) = keyed(round, i);
                    if p.ingest_raw(RawEvent::new(&bytes[..]).with_key(&key[..]))
                        .is_err()
                    {
                        break;
                    }
                    accepted.store(i + 1, Ordering::Relaxed);
                    if i % 32 == 0 {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
            })
        };
        let scaler = {
            let bus = Arc::clone(&bus);
            std::thread::spawn(move || {
                for target in [4, 1, 3, 2].into_iter().cycle() {
                    match bus.scale_to(target, Duration::from_secs(10)) {
                        Ok(_) => {}
                        Err(ScaleError::Closed) => return,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_micros(300 + round * 150));
        let stats = bus
            .shutdown_within(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        producer.join().unwrap();
        scaler.join().unwrap();
        let n = accepted.load(Ordering::Relaxed);
        assert_eq!(stats.accepted, n, "round {round}");
        assert_eq!(stats.written, n, "round {round}: {stats:?}");
        let stored = check_store(&store.all_events());
        assert_eq!(
            stored.get(&round).cloned().unwrap_or_default(),
            (0..n).collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_policy_scales_up_under_a_slow_store_and_back_down_when_traffic_stops() {
    let slow = Arc::new(Intercept::new(|store, batch, deadline| {
        std::thread::sleep(Duration::from_millis(4));
        store.write_batch(batch, deadline)
    }));
    let cooldown = Duration::from_millis(150);
    let policy = ScalingPolicy {
        scale_up_fill: 0.3,
        scale_up_window: Duration::from_millis(50),
        scale_down_window: Duration::from_millis(200),
        cooldown,
        interval: Duration::from_millis(10),
        ..ScalingPolicy::between(1, 3)
    };
    let bus = Arc::new(
        builder(1)
            .scaling(policy)
            .max_inflight_batches(2)
            .batch(BatchConfig {
                max_events: 64,
                ..BatchConfig::default()
            })
            .ring_capacity_bytes(16 << 10)
            .backpressure(Backpressure::block(Duration::from_secs(30)))
            .build_shared(slow.clone())
            .unwrap(),
    );
    assert_eq!(bus.num_shards(), 1);
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (bus, stop) = (Arc::clone(&bus), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut p = bus.producer();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                p.ingest_raw(&payload(0, i)[..]).unwrap();
                i += 1;
            }
            i
        })
    };
    assert!(
        wait_until(Duration::from_secs(30), || bus.num_shards() == 3),
        "scaled up to {} of 3",
        bus.num_shards()
    );
    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || bus.stats().scaling.changes == 4),
        "scaled down to {}",
        bus.num_shards()
    );
    assert_eq!(bus.num_shards(), 1);
    let stats = bus.shutdown().unwrap();
    let events = &stats.scaling.events;
    let steps: Vec<(u32, u32)> = events.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(steps, [(1, 2), (2, 3), (3, 2), (2, 1)], "{events:?}");
    for e in &events[..2] {
        assert!(
            matches!(
                e.reason,
                ScaleReason::RingFill { .. } | ScaleReason::Busy { .. }
            ),
            "{e:?}"
        );
    }
    assert!(events[2..].iter().all(|e| e.reason == ScaleReason::Idle));
    for pair in events.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at).unwrap();
        assert!(gap >= cooldown, "changes {gap:?} apart: {events:?}");
    }
    assert_eq!((stats.accepted, stats.written), (sent, sent));
    let phases: Vec<ShardPhase> = stats.shards.iter().map(|s| s.phase).collect();
    assert_eq!(
        phases,
        [ShardPhase::Active, ShardPhase::Retired, ShardPhase::Retired]
    );
}

/// Pages through everything after `cursor`, `limit` at a time.
fn page_all(
    bus: &corelane::Bus,
    mut cursor: Cursor,
    order: ConsumeOrder,
    limit: usize,
) -> (Vec<(u64, u64)>, Cursor) {
    let mut got = Vec::new();
    loop {
        let page = bus
            .poll(
                &ConsumeRequest::new()
                    .after(cursor.clone())
                    .limit(limit)
                    .ordering(order),
            )
            .unwrap();
        got.extend(page.events.iter().map(|e| parse_payload(&e.payload)));
        cursor = page.next_cursor;
        if !page.has_more {
            return (got, cursor);
        }
    }
}

#[test]
fn a_cursor_taken_before_changes_pages_through_them_in_both_orders() {
    for order in [ConsumeOrder::Shard, ConsumeOrder::Time] {
        let bus = builder(1)
            .max_shards(3)
            .build(MemoryAdapter::new())
            .unwrap();
        let mut next = 0u64;
        let mut ingest = |bus: &corelane::Bus, n: u64| {
            for _ in 0..n {
                let (p, k) = keyed(7, next);
                bus.ingest_raw(RawEvent::new(&p[..]).with_key(&k[..]))
                    .unwrap();
                next += 1;
            }
            bus.flush(Duration::from_secs(10)).unwrap();
        };
        ingest(&bus, 50);
        let first = bus
            .poll(&ConsumeRequest::new().limit(20).ordering(order))
            .unwrap();
        let mut seen: Vec<(u64, u64)> = first
            .events
            .iter()
            .map(|e| parse_payload(&e.payload))
            .collect();
        let cursor = first.next_cursor;
        bus.scale_to(3, Duration::from_secs(10)).unwrap();
        ingest(&bus, 100);
        bus.scale_to(1, Duration::from_secs(10)).unwrap();
        ingest(&bus, 50);
        let (rest, end) = page_all(&bus, cursor, order, 20);
        seen.extend(rest);
        let mut indices: Vec<u64> = seen.iter().map(|&(_, i)| i).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..200).collect::<Vec<_>>(), "{order:?}");
        if order == ConsumeOrder::Time {
            // Read after the writes: each key's events come in ingest order.
            let mut last: HashMap<u64, u64> = HashMap::new();
            for &(_, i) in &seen {
                if let Some(prev) = last.insert(i % 16, i) {
                    assert!(i > prev, "key {}: {i} after {prev}", i % 16);
                }
            }
        }
        // All three shard ids hold events, and the cursor at the end sees nothing new.
        let stats = bus.stats();
        assert!(
            stats.shards.iter().all(|s| s.written > 0),
            "{:?}",
            stats.shards
        );
        let (after, _) = page_all(&bus, end, order, 20);
        assert!(after.is_empty());
        bus.shutdown().unwrap();
    }
}

#[test]
fn a_retired_shard_id_that_comes_back_continues_its_numbering() {
    let store = Arc::new(MemoryAdapter::new());
    let bus = builder(1)
        .max_shards(2)
        .build_shared(store.clone())
        .unwrap();
    let started = Instant::now();
    for round in 0..5u64 {
        bus.scale_to(2, Duration::from_secs(10)).unwrap();
        for i in 0..10 {
            bus.ingest_raw(RawEvent::new(&payload(round, i)[..]).to_shard(1))
                .unwrap();
        }
        bus.scale_to(1, Duration::from_secs(10)).unwrap();
    }
    let stats = bus.shutdown().unwrap();
    let sequences: Vec<u64> = store.events(1).iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (0..50).collect::<Vec<_>>());
    assert_eq!(stats.scaling.changes, 10);
    let s1 = &stats.shards[1];
    assert_eq!(
        (s1.phase, s1.written, s1.next_sequence),
        (ShardPhase::Retired, 50, 50)
    );
    eprintln!("10 changes in {:?}", started.elapsed());
}

/// DESIGN §5: the system we re-create changed routing when its metrics were read. Here a
/// bus with a policy is read a thousand times, every way there is, and keys stay where
/// they were.
#[test]
fn reading_statistics_never_changes_routing() {
    let policy = ScalingPolicy {
        scale_up_window: Duration::from_secs(3600),
        scale_down_window: Duration::from_secs(3600),
        ..ScalingPolicy::between(1, 4)
    };
    let bus = builder(2)
        .scaling(policy)
        .build(MemoryAdapter::new())
        .unwrap();
    let shard_of = |key: u64| {
        let bytes = key.to_le_bytes();
        bus.ingest_raw(RawEvent::new(&b"x"[..]).with_key(&bytes[..]))
            .unwrap()
            .shard
    };
    let before: Vec<u32> = (0..64).map(shard_of).collect();
    for _ in 0..1000 {
        let stats = bus.stats();
        assert_eq!(stats.scaling.active_shards, 2);
        let _ = bus.totals();
        let _ = bus.take_latency();
        assert_eq!(bus.num_shards(), 2);
    }
    let after: Vec<u32> = (0..64).map(shard_of).collect();
    assert_eq!(before, after);
    assert!(before.contains(&0) && before.contains(&1));
    let stats = bus.shutdown().unwrap();
    assert_eq!(stats.scaling.changes, 0);
}

/// A producer that waits for room (`Block`) inside an ingest begun under the old routing
/// must not hold a change up: it takes the new routing up while it waits. (Before, the
/// change waited for it, and the shard it waited on could be held by the change.)
#[test]
fn a_producer_waiting_for_room_does_not_hold_a_change_up() {
    let store = GateAdapter::closed();
    let bus = Arc::new(
        builder(2)
            .max_shards(2)
            .ring_capacity_bytes(4096)
            .max_inflight_batches(1)
            .adapter_retries(1000)
            .adapter_timeout(Duration::from_millis(20))
            .backpressure(Backpressure::block(Duration::from_secs(60)))
            .build_shared(store.clone())
            .unwrap(),
    );
    let producer = {
        let bus = Arc::clone(&bus);
        std::thread::spawn(move || {
            let mut p = bus.producer();
            for i in 0..2000u64 {
                p.ingest_raw(RawEvent::new(&payload(0, i)[..]).to_shard(0))
                    .unwrap();
            }
        })
    };
    // The gate is closed: shard 0's one buffer is stuck, its ring fills, and the
    // producer waits for room.
    assert!(wait_until(Duration::from_secs(10), || {
        store.blocked_calls.load(Ordering::SeqCst) > 0
            && bus.stats().shards[0].ring_fill_bytes > 3000
    }));
    let started = Instant::now();
    match bus.scale_to(1, Duration::from_secs(2)) {
        Ok(_) => {}
        Err(ScaleError::Timeout { stage, .. }) => {
            assert!(
                !stage.contains("producers"),
                "held up by the producer: {stage}"
            )
        }
        Err(e) => panic!("{e}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    store.open();
    producer.join().unwrap();
    bus.flush(Duration::from_secs(30)).unwrap();
    let stats = bus.shutdown().unwrap();
    assert_eq!((stats.accepted, stats.written), (2000, 2000));
    assert_eq!(stats.refused.total(), 0);
}
