//! Ingest: events, routing, refusals of bad input, receipts, sequences across restarts.

mod common;

use std::time::Duration;

use common::builder;
use corelane::adapters::MemoryAdapter;
use corelane::testing::{routing_hash, shard_for_hash};
use corelane::{Event, IngestError, InvalidEvent, RawEvent, RefusalReason};

#[test]
fn oversize_events_are_refused_and_handed_back() {
    let bus = builder(2)
        .max_event_bytes(100)
        .build(MemoryAdapter::new())
        .unwrap();
    let mut producer = bus.producer();
    producer.ingest_raw(vec![1u8; 100]).unwrap();
    match producer.ingest_raw(vec![2u8; 101]) {
        Err(IngestError::TooLarge { event, len, max }) => {
            assert_eq!((event, len, max), (vec![2u8; 101], 101, 100));
        }
        other => panic!("{other:?}"),
    }
    let err = bus.ingest_raw(vec![0u8; 5000]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "event of 5000 bytes exceeds max_event_bytes (100)"
    );
    drop(producer);
    let stats = bus.stats();
    assert_eq!((stats.accepted, stats.refused.too_large), (1, 2));
}

#[test]
fn invalid_json_is_refused_with_its_position() {
    let err = Event::from_str("{\"a\": 1,\n \"b\": }").unwrap_err();
    assert_eq!((err.line(), err.column()), (2, 7));
    assert!(err.to_string().contains("line 2 column 7"), "{err}");
    assert!(Event::from_slice(b"{} trailing").is_err());
    assert!(Event::from_slice(b"").is_err());
    assert!(Event::from_slice(&[0xff, 0xfe]).is_err());

    let store = MemoryAdapter::new();
    let bus = builder(1).build(store.clone()).unwrap();
    match bus.ingest_json(b"[1, 2,") {
        Err(IngestError::Invalid {
            event,
            error: InvalidEvent::Json(e),
        }) => {
            assert_eq!(event, b"[1, 2,");
            assert_eq!(e.line(), 1);
        }
        other => panic!("{other:?}"),
    }
    bus.ingest_json(br#"{"ok":true}"#).unwrap();
    bus.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(bus.stats().refused.invalid, 1);
    assert_eq!(store.events(0)[0].payload, br#"{"ok":true}"#);
}

#[test]
fn routing_by_payload_key_hash_and_shard() {
    let store = MemoryAdapter::new();
    let bus = builder(4).build(store.clone()).unwrap();
    let mut producer = bus.producer();
    let mut per_shard = [0usize; 4];
    let mut count = |r: corelane::Receipt| {
        per_shard[r.shard as usize] += 1;
        r
    };
    let a = count(producer.ingest_raw(b"same bytes").unwrap());
    let b = count(producer.ingest_raw(b"same bytes").unwrap());
    assert_eq!(a.shard, b.shard);
    assert_eq!(a.shard, shard_for_hash(routing_hash(b"same bytes"), 4));
    assert_eq!((a.producer_seq, b.producer_seq), (0, 1));

    let key_shard = shard_for_hash(routing_hash(b"AAPL"), 4);
    for i in 0..20u32 {
        let r = count(
            producer
                .ingest_raw(RawEvent::new(i.to_le_bytes()).with_key(b"AAPL"))
                .unwrap(),
        );
        assert_eq!(r.shard, key_shard);
    }
    let r = count(
        producer
            .ingest_raw(RawEvent::new(&b"x"[..]).with_hash(u64::MAX))
            .unwrap(),
    );
    assert_eq!(r.shard, 3);
    let r = count(
        producer
            .ingest_raw(RawEvent::new(&b"y"[..]).to_shard(2))
            .unwrap(),
    );
    assert_eq!(r.shard, 2);
    let err = producer
        .ingest_raw(RawEvent::new(&b"z"[..]).to_shard(4))
        .unwrap_err();
    assert_eq!(err.reason(), RefusalReason::Invalid);
    assert_eq!(
        err.to_string(),
        "event routed to shard 4, but the bus has shards 0..4"
    );
    let keyed = Event::from_str("{}").unwrap().with_key(b"AAPL");
    assert_eq!(count(producer.ingest(keyed).unwrap()).shard, key_shard);

    bus.flush(Duration::from_secs(10)).unwrap();
    for (shard, expected) in per_shard.iter().enumerate() {
        assert_eq!(store.len(shard as u32), *expected, "shard {shard}");
    }
}

#[test]
fn batch_ingest_reports_each_refusal_with_its_index() {
    let store = MemoryAdapter::new();
    let bus = builder(2).max_event_bytes(8).build(store.clone()).unwrap();
    let events: Vec<Vec<u8>> = vec![b"ok".to_vec(), vec![0; 9], b"fine".to_vec(), vec![1; 20]];
    let outcome = bus.ingest_batch(events);
    assert_eq!(outcome.accepted, 2);
    let refused: Vec<(usize, RefusalReason)> = outcome
        .refused
        .iter()
        .map(|(i, e)| (*i, e.reason()))
        .collect();
    assert_eq!(
        refused,
        vec![(1, RefusalReason::TooLarge), (3, RefusalReason::TooLarge)]
    );
    assert_eq!(outcome.refused[1].1.clone().into_inner(), vec![1; 20]);
    bus.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(store.total_events(), 2);
}

/// A second bus on the same store continues every shard's numbering where the first
/// stopped, with timestamps still increasing.
#[test]
fn sequences_and_timestamps_continue_across_restarts() {
    let store = MemoryAdapter::new();
    for run in 0..3u64 {
        let bus = builder(3).build(store.clone()).unwrap();
        for i in 0..300u64 {
            bus.ingest_raw(common::payload(run, i)).unwrap();
        }
        bus.shutdown().unwrap();
    }
    let stored = common::check_store(&store.all_events());
    for run in 0..3 {
        assert_eq!(stored[&run], (0..300).collect::<Vec<_>>());
    }
    assert_eq!(store.total_events(), 900);
}

/// Timestamps are Unix-epoch nanoseconds close to the wall clock.
#[test]
fn insertion_timestamps_are_wall_clock_nanoseconds() {
    let store = MemoryAdapter::new();
    let bus = builder(2).build(store.clone()).unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    bus.ingest_raw(b"now").unwrap();
    bus.flush(Duration::from_secs(10)).unwrap();
    let ts = store.all_events()[0].insertion_ts;
    assert!(
        ts >= before - 1_000_000_000 && ts < before + 60_000_000_000,
        "{ts} vs {before}"
    );
}
