//! Polling: paging rules, orderings, cursors, shard subsets, failing shards.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::builder;
use corelane::adapter::{Batch, InitReport, Position, ShardPoll};
use corelane::adapters::{FileAdapter, FileConfig, FsyncPolicy, MemoryAdapter};
use corelane::read::{
    ConsumeOrder, ConsumeRequest, ConsumedEvent, Consumer, ConsumerError, Cursor,
};
use corelane::{Adapter, AdapterError, Bus, RawEvent};
use proptest::prelude::*;

/// A store to test against, and what keeps it alive.
enum Store {
    Memory(MemoryAdapter),
    File(FileAdapter, #[allow(dead_code)] tempfile::TempDir),
}

impl Store {
    fn memory() -> Store {
        Store::Memory(MemoryAdapter::new())
    }
    fn file() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let mut c = FileConfig::new(dir.path());
        c.fsync = FsyncPolicy::Never;
        c.segment_bytes = 4096; // many segment boundaries
        Store::File(FileAdapter::open(c).unwrap(), dir)
    }
    fn adapter(&self) -> Arc<dyn Adapter> {
        match self {
            Store::Memory(m) => Arc::new(m.clone()),
            Store::File(f, _) => Arc::new(f.clone()),
        }
    }
}

/// Ingests `(shard, size)` events, flushes, and returns the bus.
fn fill(store: &Store, shards: usize, events: &[(u32, usize)]) -> Bus {
    let bus = builder(shards).build_shared(store.adapter()).unwrap();
    let mut producer = bus.producer();
    for (i, &(shard, size)) in events.iter().enumerate() {
        let mut payload = format!(r#"{{"i":{i},"pad":""#).into_bytes();
        payload.extend(std::iter::repeat_n(b'x', size));
        payload.extend_from_slice(b"\"}");
        producer
            .ingest_raw(RawEvent::new(payload).to_shard(shard % shards as u32))
            .unwrap();
    }
    bus.flush(Duration::from_secs(30)).unwrap();
    bus
}

/// Pages through everything with `while has_more`, checking every page.
fn page_all(bus: &Bus, request: ConsumeRequest) -> Vec<ConsumedEvent> {
    let limit = request.limit;
    let mut request = request;
    let mut all = Vec::new();
    for polls in 0.. {
        assert!(polls < 100_000, "paging did not terminate");
        let page = bus.poll(&request).unwrap();
        assert!(page.events.len() <= limit);
        assert!(page.failed_shards.is_empty());
        // Progress: a page with has_more either returned events or moved the cursor.
        if page.has_more {
            assert!(
                !page.events.is_empty() || Some(&page.next_cursor) != request.after.as_ref(),
                "has_more without progress"
            );
        }
        all.extend(page.events);
        request.after = Some(page.next_cursor.to_string().parse().unwrap());
        if !page.has_more {
            break;
        }
    }
    // A last poll finds nothing new.
    let tail = bus.poll(&request).unwrap();
    assert!(tail.events.is_empty() && !tail.has_more);
    all
}

fn ids(events: &[ConsumedEvent]) -> Vec<(u32, u64)> {
    events.iter().map(|e| (e.shard, e.sequence)).collect()
}

fn expected_shard_order(bus: &Bus) -> Vec<(u32, u64)> {
    let stats = bus.stats();
    stats
        .shards
        .iter()
        .flat_map(|s| (0..s.next_sequence).map(move |q| (s.shard, q)))
        .collect()
}

fn dataset() -> Vec<(u32, usize)> {
    (0..240u32)
        .map(|i| ((i * 7 + i / 5) % 3, (i as usize * 13) % 90))
        .collect()
}

#[test]
fn every_page_size_returns_every_event_once_in_shard_order() {
    for store in [Store::memory(), Store::file()] {
        let bus = fill(&store, 3, &dataset());
        let expected = expected_shard_order(&bus);
        assert_eq!(expected.len(), 240);
        for limit in 1..=37 {
            let got = page_all(&bus, ConsumeRequest::new().limit(limit));
            assert_eq!(ids(&got), expected, "page size {limit}");
        }
    }
}

#[test]
fn time_order_merges_shards_by_timestamp() {
    for store in [Store::memory(), Store::file()] {
        let bus = fill(&store, 3, &dataset());
        let everything = page_all(&bus, ConsumeRequest::new().limit(1000));
        let mut expected: Vec<_> = everything
            .iter()
            .map(|e| (e.insertion_ts, e.shard, e.sequence))
            .collect();
        expected.sort_unstable();
        for limit in [1, 2, 5, 17, 37, 240] {
            let got = page_all(
                &bus,
                ConsumeRequest::new()
                    .limit(limit)
                    .ordering(ConsumeOrder::Time),
            );
            let got: Vec<_> = got
                .iter()
                .map(|e| (e.insertion_ts, e.shard, e.sequence))
                .collect();
            assert_eq!(got, expected, "page size {limit}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    /// Random ingest sequences and page sizes, both orderings, both adapters.
    #[test]
    fn random_ingests_page_exactly_once(
        events in prop::collection::vec((0u32..4, 0usize..120), 0..200),
        limit in 1usize..=37,
        time in any::<bool>(),
        file in any::<bool>(),
    ) {
        let store = if file { Store::file() } else { Store::memory() };
        let bus = fill(&store, 4, &events);
        let ordering = if time { ConsumeOrder::Time } else { ConsumeOrder::Shard };
        let got = page_all(&bus, ConsumeRequest::new().limit(limit).ordering(ordering));
        let mut got_ids = ids(&got);
        if time {
            let keys: Vec<_> = got.iter().map(|e| (e.insertion_ts, e.shard, e.sequence)).collect();
            prop_assert!(keys.windows(2).all(|w| w[0] < w[1]), "not in time order");
            got_ids.sort_unstable();
        }
        prop_assert_eq!(got_ids, expected_shard_order(&bus));
        prop_assert_eq!(got.len(), events.len());
    }
}

#[test]
fn filtered_pages_skip_nothing_that_matches() {
    let store = Store::memory();
    let bus = fill(&store, 2, &dataset());
    let filter = r#"{"$lt": {"path": "i", "value": 100}}"#;
    for limit in [1, 3, 10, 64] {
        let got = page_all(
            &bus,
            ConsumeRequest::new()
                .limit(limit)
                .filter_json(filter)
                .unwrap(),
        );
        let mut is: Vec<i64> = got
            .iter()
            .map(|e| e.json().unwrap()["i"].as_i64().unwrap())
            .collect();
        is.sort_unstable();
        assert_eq!(is, (0..100).collect::<Vec<_>>(), "page size {limit}");
    }
    // A filter nothing matches: the pages move the cursor to the end and stop.
    let page = bus
        .poll(
            &ConsumeRequest::new()
                .limit(5)
                .filter_json(r#"{"path":"i","value":-1}"#)
                .unwrap(),
        )
        .unwrap();
    assert!(page.events.is_empty());
    assert_eq!(page.filtered_out, 240);
    assert!(!page.has_more);
}

#[test]
fn non_json_events_never_match_a_path_filter_and_are_counted() {
    let bus = builder(1).build(MemoryAdapter::new()).unwrap();
    bus.ingest_raw(b"\x00\x01 binary").unwrap();
    bus.ingest_json(br#"{"a":1}"#).unwrap();
    bus.ingest_raw(b"plain text").unwrap();
    bus.flush(Duration::from_secs(5)).unwrap();
    let page = bus
        .poll(
            &ConsumeRequest::new()
                .filter_json(r#"{"$exists":{"path":"a"}}"#)
                .unwrap(),
        )
        .unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!((page.not_json, page.scanned), (2, 3));
    let all = bus
        .poll(&ConsumeRequest::new().filter_json("{}").unwrap())
        .unwrap();
    assert_eq!(all.events.len(), 3, "the empty filter matches everything");
}

#[test]
fn shard_subsets_and_invalid_requests() {
    let store = Store::memory();
    let bus = fill(&store, 3, &dataset());
    let got = page_all(&bus, ConsumeRequest::new().limit(7).shards(vec![2, 0, 2]));
    assert!(got.iter().all(|e| e.shard != 1));
    assert_eq!(
        got.len() as u64,
        bus.stats().shards[0].written + bus.stats().shards[2].written
    );
    let err = bus
        .poll(&ConsumeRequest::new().shards(vec![3]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid request: shards: shard 3 does not exist (0..3)"
    );
    let err = bus.poll(&ConsumeRequest::new().limit(0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid request: limit 0 is outside 1..=100000"
    );
    assert!(matches!(
        bus.poll(&ConsumeRequest::new().shards(vec![])),
        Err(ConsumerError::InvalidRequest { .. })
    ));
}

#[test]
fn bad_cursors_are_rejected_with_a_reason() {
    let cases = [
        ("", "must start with \"c1\""),
        ("c2.0~1", "must start with \"c1\""),
        ("c1.", "entry \"\" is not shard~position"),
        ("c1.0", "entry \"0\" is not shard~position"),
        ("c1.x~1", "shard \"x\" is not a number"),
        (
            "c1.0~",
            "position \"\" of shard 0 is not 1 to 32 hex digits",
        ),
        ("c1.0~xyz", "position \"xyz\" of shard 0"),
        (
            "c1.0~123456789012345678901234567890123",
            "not 1 to 32 hex digits",
        ),
        ("c1.1~1.0~1", "shard 0 is out of order or repeated"),
        ("c1.0~1.0~2", "shard 0 is out of order or repeated"),
        ("c1-0~1", "expected '.' after \"c1\""),
        ("c1.99999999~1", "is not a number below"),
    ];
    for (text, reason) in cases {
        match Cursor::decode(text) {
            Err(ConsumerError::InvalidCursor { reason: r }) => {
                assert!(r.contains(reason), "{text:?}: {r:?} lacks {reason:?}")
            }
            other => panic!("{text:?} was accepted: {other:?}"),
        }
    }
    let long = "c1".to_string() + &".0~1".repeat(20_000);
    assert!(Cursor::decode(&long).is_err());
    let ok = Cursor::decode("c1.0~ff.7~1").unwrap();
    assert_eq!(ok.position(0), Some(Position::from_sequence(255)));
    assert_eq!(ok.position(3), None);
}

/// Shards absent from a cursor (here: added after the cursor was taken) are read from
/// their beginning.
#[test]
fn shards_added_later_start_from_their_beginning() {
    let store = MemoryAdapter::new();
    let two = builder(2).build(store.clone()).unwrap();
    for i in 0..20u32 {
        two.ingest_raw(i.to_le_bytes()).unwrap();
    }
    two.flush(Duration::from_secs(5)).unwrap();
    let cursor = page_all(&two, ConsumeRequest::new().limit(1000));
    assert_eq!(cursor.len(), 20);
    let end = two
        .poll(&ConsumeRequest::new().limit(1000))
        .unwrap()
        .next_cursor;
    two.shutdown().unwrap();

    let three = builder(3).build(store.clone()).unwrap();
    for i in 0..30u32 {
        three
            .ingest_raw(RawEvent::new(i.to_le_bytes()).to_shard(i % 3))
            .unwrap();
    }
    three.flush(Duration::from_secs(5)).unwrap();
    let page = three
        .poll(&ConsumeRequest::new().after(end).limit(1000))
        .unwrap();
    assert_eq!(
        page.events.len(),
        30,
        "10 new per old shard, and all 10 of shard 2"
    );
    assert_eq!(page.events.iter().filter(|e| e.shard == 2).count(), 10);
}

/// An adapter whose shard 1 cannot be read.
struct BrokenShard(MemoryAdapter);

impl Adapter for BrokenShard {
    fn name(&self) -> &str {
        "broken"
    }
    fn init(&self, n: u32, d: Instant) -> Result<InitReport, AdapterError> {
        self.0.init(n, d)
    }
    fn write_batch(&self, b: &Batch, d: Instant) -> Result<(), AdapterError> {
        self.0.write_batch(b, d)
    }
    fn flush(&self, d: Instant) -> Result<(), AdapterError> {
        self.0.flush(d)
    }
    fn shutdown(&self, d: Instant) -> Result<(), AdapterError> {
        self.0.shutdown(d)
    }
    fn poll_shard(
        &self,
        s: u32,
        a: Option<Position>,
        l: usize,
        d: Instant,
    ) -> Result<ShardPoll, AdapterError> {
        if s == 1 {
            return Err(AdapterError::transient("connection refused"));
        }
        self.0.poll_shard(s, a, l, d)
    }
    fn is_healthy(&self) -> bool {
        true
    }
}

#[test]
fn a_failing_shard_is_reported_and_does_not_block_the_others() {
    let mem = MemoryAdapter::new();
    let bus = builder(3)
        .build_shared(Arc::new(BrokenShard(mem.clone())))
        .unwrap();
    for i in 0..30u32 {
        bus.ingest_raw(RawEvent::new(i.to_le_bytes()).to_shard(i % 3))
            .unwrap();
    }
    bus.flush(Duration::from_secs(5)).unwrap();
    for ordering in [ConsumeOrder::Shard, ConsumeOrder::Time] {
        let mut request = ConsumeRequest::new().limit(4).ordering(ordering);
        let mut got = Vec::new();
        let mut reported = 0;
        for _ in 0..100 {
            let page = bus.poll(&request).unwrap();
            for f in &page.failed_shards {
                assert_eq!((f.shard, f.retryable), (1, true));
                assert!(f.error.contains("connection refused"));
                reported += 1;
            }
            got.extend(page.events);
            request.after = Some(page.next_cursor);
            if !page.has_more {
                break;
            }
        }
        assert!(reported > 0, "{ordering:?}: the failure was reported");
        assert_eq!(
            got.len(),
            20,
            "{ordering:?}: shards 0 and 2 were read whole"
        );
        assert!(got.iter().all(|e| e.shard != 1));
    }
    // The same store read without a bus.
    let consumer = Consumer::new(Arc::new(mem), 3);
    assert_eq!(
        consumer.poll(&ConsumeRequest::new()).unwrap().events.len(),
        30
    );
}
