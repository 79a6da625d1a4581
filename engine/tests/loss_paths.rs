//! Engine and API paths that used to lose events, hang, or panic: a panic inside
//! `ingest_batch`, shutdown stages and concurrent callers, unbounded timeouts, filters of
//! empty parts, JSON that readers cannot read, rings of exited threads, stores kept alive
//! by thread-local producers, and adapters whose pages do not advance.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{builder, wait_until};
use corelane::adapter::{Batch, InitReport, Position, ShardPoll};
use corelane::adapters::MemoryAdapter;
use corelane::read::{ConsumeRequest, Consumer};
use corelane::{Adapter, AdapterError, IngestError, ShutdownError};

/// A caller's iterator panics halfway through `ingest_batch`: the producer's epoch pin
/// is left all the same, so shutdown does not wait for a producer that is gone.
#[test]
fn panic_inside_ingest_batch_leaves_the_epoch_pin() {
    let store = MemoryAdapter::new();
    let bus = builder(2)
        .shutdown_timeout(Duration::from_secs(30))
        .build(store.clone())
        .unwrap();
    let mut producer = bus.producer();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        producer.ingest_batch((0..10u32).map(|i| {
            assert!(i != 5, "the caller's iterator fails");
            i.to_le_bytes()
        }))
    }));
    assert!(panicked.is_err());
    let started = Instant::now();
    let stats = bus.shutdown_within(Duration::from_secs(5)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown waited for the pin"
    );
    assert_eq!((stats.accepted, stats.written), (5, 5));
    assert_eq!(store.total_events(), 5);
}

/// A producer stays inside an ingest: the first caller's bound expires naming the
/// producers stage; a second caller with a short bound gets its own timeout at once; the
/// remaining stages still run, and a later call returns the final outcome.
#[test]
fn each_shutdown_caller_gets_its_own_bound_and_the_stages_still_complete() {
    let store = MemoryAdapter::new();
    let bus = Arc::new(builder(1).build(store.clone()).unwrap());
    let (entered_tx, entered_rx) = mpsc::channel();
    let stuck = {
        let bus = Arc::clone(&bus);
        std::thread::spawn(move || {
            let mut producer = bus.producer();
            producer.ingest_raw(b"before").unwrap();
            producer.ingest_batch((0..2u32).map(|i| {
                if i == 1 {
                    entered_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(1500));
                }
                i.to_le_bytes()
            }))
        })
    };
    entered_rx.recv().unwrap();
    let started = Instant::now();
    match bus.shutdown_within(Duration::from_millis(300)) {
        Err(ShutdownError::Timeout { stage, .. }) => assert_eq!(stage, "producers"),
        other => panic!("{other:?}"),
    }
    let first = started.elapsed();
    assert!(
        first < Duration::from_millis(1200),
        "first caller took {first:?}"
    );
    let started = Instant::now();
    assert!(matches!(
        bus.shutdown_within(Duration::from_millis(50)),
        Err(ShutdownError::Timeout { .. })
    ));
    let second = started.elapsed();
    assert!(
        second < Duration::from_millis(700),
        "second caller took {second:?}"
    );
    let outcome = stuck.join().unwrap();
    assert_eq!(outcome.accepted + outcome.refused.len(), 2);
    // The closer waited for the producer (within shutdown_timeout), then ran every stage
    // to its end: the final outcome is a clean shutdown with every event written.
    let last = bus.shutdown_within(Duration::from_secs(30)).unwrap();
    assert_eq!((last.accepted, last.written), (3, 3), "{last:?}");
    assert_eq!(store.total_events(), 3);
    assert!(
        bus.flush(Duration::from_secs(1)).is_err(),
        "the bus is closed"
    );
}

#[test]
fn unbounded_timeouts_saturate_instead_of_panicking() {
    let bus = builder(1).build(MemoryAdapter::new()).unwrap();
    bus.ingest_raw(b"x").unwrap();
    bus.flush(Duration::MAX).unwrap();
    let page = bus
        .poll(&ConsumeRequest::new().timeout(Duration::MAX))
        .unwrap();
    assert_eq!(page.events.len(), 1);
    let stats = bus.shutdown_within(Duration::MAX).unwrap();
    assert_eq!(stats.written, 1);
}

/// `{}` matches every event, JSON or not; so do `$and` and `$or` of `{}`.
#[test]
fn and_or_of_an_empty_filter_match_non_json_events() {
    let bus = builder(1).build(MemoryAdapter::new()).unwrap();
    bus.ingest_raw(b"\x00 not json").unwrap();
    bus.ingest_json(br#"{"a":1}"#).unwrap();
    bus.flush(Duration::from_secs(10)).unwrap();
    for filter in [
        "{}",
        r#"{"$and":[{}]}"#,
        r#"{"$or":[{}]}"#,
        r#"{"$and":[{},{}]}"#,
    ] {
        let request = ConsumeRequest::new().filter_json(filter).unwrap();
        let page = bus.poll(&request).unwrap();
        assert_eq!(page.events.len(), 2, "{filter}");
    }
    let request = ConsumeRequest::new()
        .filter_json(r#"{"$or":[{}, {"path":"a","value":2}]}"#)
        .unwrap();
    assert_eq!(bus.poll(&request).unwrap().events.len(), 2);
}

/// What `ingest_json` accepts, filters and readers can parse: no number that overflows
/// an `f64`, no string that is not UTF-8.
#[test]
fn ingest_json_refuses_what_readers_cannot_read() {
    let bus = builder(1).build(MemoryAdapter::new()).unwrap();
    for bad in [
        &b"1e400"[..],
        b"{\"a\":-1e400}",
        b"[\"\xff\"]",
        b"{\"\xc3\":1}",
    ] {
        match bus.ingest_json(bad) {
            Err(IngestError::Invalid { .. }) => {}
            other => panic!("{:?} accepted: {other:?}", String::from_utf8_lossy(bad)),
        }
    }
    bus.ingest_json(br#"{"big":1e300,"s":"caf\u00e9","n":-0.5}"#)
        .unwrap();
    bus.flush(Duration::from_secs(10)).unwrap();
    let stats = bus.stats();
    assert_eq!((stats.refused.invalid, stats.written), (4, 1));
    let page = bus
        .poll(
            &ConsumeRequest::new()
                .filter_json(r#"{"$gt":{"path":"big","value":1}}"#)
                .unwrap(),
        )
        .unwrap();
    assert_eq!((page.events.len(), page.not_json), (1, 0));
}

/// Thread-per-request code: threads that ingest once and exit, while another producer
/// keeps the shard busy. Their rings are freed on the pass that finds them empty.
#[test]
fn rings_of_exited_threads_are_freed_under_steady_traffic() {
    let bus = Arc::new(builder(1).build(MemoryAdapter::new()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let steady = {
        let (bus, stop) = (Arc::clone(&bus), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut p = bus.producer();
            while !stop.load(Ordering::Relaxed) {
                let _ = p.ingest_raw(b"steady");
                std::thread::sleep(Duration::from_micros(100));
            }
        })
    };
    for round in 0..20u32 {
        let bus = Arc::clone(&bus);
        std::thread::spawn(move || bus.ingest_raw(round.to_le_bytes()).unwrap())
            .join()
            .unwrap();
    }
    let freed = wait_until(Duration::from_secs(20), || bus.stats().shards[0].rings == 1);
    stop.store(true, Ordering::Relaxed);
    steady.join().unwrap();
    assert!(freed, "rings left: {}", bus.stats().shards[0].rings);
}

/// A thread that used `Bus::ingest` and lives on must not keep a dropped bus's store.
#[test]
fn thread_local_producers_do_not_keep_a_dropped_bus_store_alive() {
    let adapter =
        common::Intercept::new(|store, batch, deadline| store.write_batch(batch, deadline));
    let dropped = Arc::clone(&adapter.dropped);
    let bus = Arc::new(builder(1).build(adapter).unwrap());
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (used_tx, used_rx) = mpsc::channel::<()>();
    let worker = {
        let bus = Arc::clone(&bus);
        std::thread::spawn(move || {
            bus.ingest_raw(b"from a long-lived thread").unwrap();
            drop(bus);
            used_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        })
    };
    used_rx.recv().unwrap();
    drop(Arc::try_unwrap(bus).expect("the only handle"));
    let released = wait_until(Duration::from_secs(10), || dropped.load(Ordering::SeqCst));
    done_tx.send(()).unwrap();
    worker.join().unwrap();
    assert!(
        released,
        "the store outlived its bus while a thread lived on"
    );
}

/// An adapter whose page neither holds events, moves, nor ends the shard.
struct StuckPages;

impl Adapter for StuckPages {
    fn name(&self) -> &str {
        "stuck-pages"
    }
    fn init(&self, n: u32, _: Instant) -> Result<InitReport, AdapterError> {
        Ok(InitReport::empty(n))
    }
    fn write_batch(&self, _: &Batch, _: Instant) -> Result<(), AdapterError> {
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
        _: u32,
        after: Option<Position>,
        _: usize,
        _: Instant,
    ) -> Result<ShardPoll, AdapterError> {
        Ok(ShardPoll {
            next: after,
            end_of_shard: false,
            ..ShardPoll::default()
        })
    }
    fn is_healthy(&self) -> bool {
        true
    }
}

#[test]
fn an_adapter_page_that_does_not_advance_fails_the_shard_instead_of_looping() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let consumer = Consumer::new(Arc::new(StuckPages), 2);
        tx.send(consumer.poll(&ConsumeRequest::new())).unwrap();
    });
    let page = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("poll returned")
        .unwrap();
    assert_eq!(page.failed_shards.len(), 2, "{:?}", page.failed_shards);
    assert!(page.failed_shards[0].error.contains("does not advance"));
    assert!(!page.failed_shards[0].retryable);
}
