//! Each backpressure mode, against a shard that cannot drain: its only batch buffer is
//! stuck in an adapter whose gate is closed, so its ring fills.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{GateAdapter, builder, wait_until};
use corelane::{Backpressure, BatchConfig, Bus, IngestError, Producer};

const EVENT: [u8; 60] = [7u8; 60]; // 64 bytes per record with its header

/// A one-shard bus on a closed gate, with one event already stuck in the adapter so the
/// shard holds no free batch buffer.
fn stalled_bus(backpressure: Backpressure) -> (Bus, Arc<GateAdapter>, Producer) {
    let gate = GateAdapter::closed();
    let bus = builder(1)
        .ring_capacity_bytes(64 << 10)
        .max_inflight_batches(1)
        .batch(BatchConfig::low_latency())
        .adapter_timeout(Duration::from_secs(60))
        .backpressure(backpressure)
        .build_shared(gate.clone())
        .unwrap();
    let mut producer = bus.producer();
    producer.ingest_raw(EVENT).unwrap();
    assert!(wait_until(Duration::from_secs(10), || gate
        .blocked_calls
        .load(Ordering::SeqCst)
        == 1));
    (bus, gate, producer)
}

/// Fills the ring until the first refusal; returns (accepted, the refusal).
fn fill(producer: &mut Producer) -> (u64, IngestError<[u8; 60]>) {
    let mut accepted = 0;
    loop {
        match producer.ingest_raw(EVENT) {
            Ok(_) => accepted += 1,
            Err(e) => return (accepted, e),
        }
    }
}

fn finish(bus: Bus, gate: &GateAdapter, accepted: u64) {
    gate.open();
    bus.flush(Duration::from_secs(30)).unwrap();
    let stats = bus.shutdown().unwrap();
    assert_eq!(stats.accepted, accepted);
    assert_eq!(stats.written, accepted);
    assert_eq!(gate.store.total_events() as u64, accepted);
}

#[test]
fn fail_hands_the_event_back() {
    let (bus, gate, mut producer) = stalled_bus(Backpressure::Fail);
    let (accepted, err) = fill(&mut producer);
    assert_eq!(
        accepted, 1024,
        "a 64 KiB ring holds 1024 records of 64 bytes"
    );
    assert!(matches!(err, IngestError::Full { shard: 0, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "ring to shard 0 is full (backpressure: refuse)"
    );
    assert_eq!(err.into_inner(), EVENT);
    for _ in 0..9 {
        assert!(matches!(
            producer.ingest_raw(EVENT),
            Err(IngestError::Full { .. })
        ));
    }
    let stats = bus.stats();
    assert_eq!((stats.refused.full, stats.refused.dropped), (10, 0));
    // The shard reports fill at its drain passes, which continue while it is stalled.
    assert!(wait_until(Duration::from_secs(10), || bus.stats().shards
        [0]
    .ring_fill_peak_bytes
        == 64 << 10));
    finish(bus, &gate, 1 + accepted);
}

#[test]
fn drop_newest_counts_drops_separately_from_fail() {
    let (bus, gate, mut producer) = stalled_bus(Backpressure::DropNewest);
    let (accepted, err) = fill(&mut producer);
    assert_eq!(accepted, 1024);
    assert!(
        matches!(err, IngestError::Dropped { shard: 0, .. }),
        "{err:?}"
    );
    for _ in 0..4 {
        assert!(matches!(
            producer.ingest_raw(EVENT),
            Err(IngestError::Dropped { .. })
        ));
    }
    let stats = bus.stats();
    assert_eq!((stats.refused.dropped, stats.refused.full), (5, 0));
    finish(bus, &gate, 1 + accepted);
}

#[test]
fn block_times_out_then_succeeds_when_room_appears() {
    let (bus, gate, mut producer) = stalled_bus(Backpressure::block(Duration::from_millis(50)));
    let (accepted, err) = fill(&mut producer);
    match err {
        IngestError::TimedOut { waited, shard, .. } => {
            assert_eq!(shard, 0);
            assert!(
                waited >= Duration::from_millis(50),
                "gave up after {waited:?}"
            );
        }
        other => panic!("expected TimedOut, got {other:?}"),
    }
    assert_eq!(bus.stats().refused.timed_out, 1);
    finish(bus, &gate, 1 + accepted);

    let (bus, gate, mut producer) = stalled_bus(Backpressure::block(Duration::from_secs(30)));
    for _ in 0..1024 {
        producer.ingest_raw(EVENT).unwrap();
    }
    let opener = {
        let gate = Arc::clone(&gate);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            gate.open();
        })
    };
    let started = Instant::now();
    producer
        .ingest_raw(EVENT)
        .expect("room appears once the gate opens");
    assert!(started.elapsed() >= Duration::from_millis(90));
    opener.join().unwrap();
    finish(bus, &gate, 1026);
}

/// A producer blocked on a full ring leaves with `ShuttingDown` as soon as shutdown
/// begins, instead of waiting out its timeout.
#[test]
fn block_gives_way_to_shutdown() {
    let (bus, gate, mut producer) = stalled_bus(Backpressure::block(Duration::from_secs(60)));
    for _ in 0..1024 {
        producer.ingest_raw(EVENT).unwrap();
    }
    let bus = Arc::new(bus);
    let blocked = std::thread::spawn(move || {
        let started = Instant::now();
        let result = producer.ingest_raw(EVENT);
        (result.map_err(|e| e.reason()), started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(50));
    let closer = {
        let bus = Arc::clone(&bus);
        std::thread::spawn(move || bus.shutdown())
    };
    let (result, waited) = blocked.join().unwrap();
    assert_eq!(result, Err(corelane::RefusalReason::ShuttingDown));
    assert!(waited < Duration::from_secs(30), "waited {waited:?}");
    gate.open();
    let stats = closer.join().unwrap().unwrap();
    assert_eq!((stats.accepted, stats.written), (1025, 1025));
    assert_eq!(stats.refused.shutting_down, 1);
}

/// Above the high-water mark, exactly one event in ten is kept.
#[test]
fn sample_keeps_one_in_n_above_the_high_water_mark() {
    let (bus, gate, mut producer) = stalled_bus(Backpressure::sample(10));
    // Below half a ring, everything is kept.
    let mut accepted = 1u64;
    while producer.ring_fill_bytes(0) < 32 << 10 {
        producer.ingest_raw(EVENT).unwrap();
        accepted += 1;
    }
    assert_eq!(accepted, 1 + 512);
    let mut kept = 0u64;
    let mut sampled_out = 0u64;
    for _ in 0..4_000 {
        match producer.ingest_raw(EVENT) {
            Ok(_) => kept += 1,
            Err(IngestError::SampledOut { event, shard: 0 }) => {
                assert_eq!(event, EVENT);
                sampled_out += 1;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((kept, sampled_out), (400, 3_600));
    // Keep going until a kept event finds the ring full: that one is `Full`.
    let mut full = 0u64;
    for _ in 0..10_000 {
        match producer.ingest_raw(EVENT) {
            Ok(_) => kept += 1,
            Err(IngestError::SampledOut { .. }) => sampled_out += 1,
            Err(IngestError::Full { .. }) => full += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        kept, 512,
        "the upper half of the ring holds 512 more records"
    );
    assert_eq!(kept + sampled_out + full, 14_000);
    // 1,000 of the 10,000 were sampled in; the first 112 filled the ring (912 → 1024
    // records), the other 888 found it full.
    assert_eq!(full, 888);
    let stats = bus.stats();
    assert_eq!(stats.refused.sampled_out, sampled_out);
    assert_eq!(stats.refused.full, full);
    finish(bus, &gate, accepted + kept);
}
