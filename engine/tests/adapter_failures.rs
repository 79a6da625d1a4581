//! What the I/O thread does when the adapter fails: retries, gives up, times out.

mod common;

use std::time::Duration;

use common::{ScriptedAdapter, builder, check_store, payload};
use corelane::{AdapterError, BatchConfig, ErrorKind, RawEvent};

/// Every batch fails transiently `k` times, then succeeds: all events arrive once, and
/// every attempt of a batch carried the same dedup ids.
#[test]
fn transient_failures_are_retried_with_the_same_dedup_ids() {
    for k in [1u32, 3] {
        let adapter = ScriptedAdapter::new(move |_, before| {
            (before < k).then(|| AdapterError::transient("connection reset"))
        });
        let bus = builder(2)
            .adapter_retries(k)
            .batch(BatchConfig::default())
            .build_shared(adapter.clone())
            .unwrap();
        let mut producer = bus.producer();
        for i in 0..5_000u64 {
            while producer.ingest_raw(payload(1, i)).is_err() {
                std::thread::yield_now();
            }
        }
        bus.flush(Duration::from_secs(60)).unwrap();
        let stored = check_store(&adapter.store.all_events());
        assert_eq!(stored[&1], (0..5_000).collect::<Vec<_>>());

        let attempts = adapter.attempts.lock().clone();
        let batches: std::collections::HashSet<_> =
            attempts.iter().map(|a| (a.shard, a.seq_start)).collect();
        for (shard, seq) in &batches {
            let tries: Vec<_> = attempts
                .iter()
                .filter(|a| (a.shard, a.seq_start) == (*shard, *seq))
                .collect();
            assert_eq!(tries.len() as u32, k + 1, "batch {shard}/{seq}");
            assert!(tries[k as usize].ok && tries[..k as usize].iter().all(|t| !t.ok));
            assert!(tries.iter().all(|t| t.dedup_ids == tries[0].dedup_ids));
            assert_eq!(
                tries[0].dedup_ids[0],
                format!("{:x}:{shard}:{seq}:0", bus.nonce())
            );
        }
        let stats = bus.shutdown().unwrap();
        assert_eq!(stats.retries, k as u64 * batches.len() as u64);
        assert_eq!((stats.written, stats.failed.total()), (5_000, 0));
    }
}

/// Shard 0's batches fail fatally: they are counted failed with the reason (no retry),
/// and shard 1 keeps being served.
#[test]
fn fatal_failures_are_counted_and_other_shards_keep_flowing() {
    let adapter = ScriptedAdapter::new(|batch, _| {
        (batch.shard() == 0)
            .then(|| AdapterError::fatal("WRONGTYPE key holds the wrong kind of value"))
    });
    let bus = builder(2)
        .adapter_retries(5)
        .build_shared(adapter.clone())
        .unwrap();
    let mut producer = bus.producer();
    for i in 0..1_000u64 {
        producer
            .ingest_raw(RawEvent::new(payload(0, i)).to_shard(0))
            .unwrap();
        producer
            .ingest_raw(RawEvent::new(payload(1, i)).to_shard(1))
            .unwrap();
        if i % 100 == 99 {
            bus.flush(Duration::from_secs(30)).unwrap();
        }
    }
    bus.flush(Duration::from_secs(30)).unwrap();
    let stats = bus.stats();
    assert_eq!(stats.failed.fatal, 1_000);
    assert_eq!(stats.failed.total(), 1_000);
    assert_eq!(stats.written, 1_000);
    assert_eq!(stats.retries, 0, "fatal errors are not retried");
    assert_eq!(stats.shards[0].failed, 1_000);
    assert_eq!(stats.shards[1].written, 1_000);
    assert_eq!(stats.accepted, stats.written + stats.failed.total());
    assert_eq!(adapter.store.len(0), 0);
    assert_eq!(adapter.store.len(1), 1_000);
}

/// Retryable errors that never pass are given up on after `adapter_retries` retries and
/// counted under the last error's kind.
#[test]
fn retries_are_bounded() {
    let adapter = ScriptedAdapter::new(|_, _| Some(AdapterError::backpressure("BUSY")));
    let bus = builder(1)
        .adapter_retries(3)
        .build_shared(adapter.clone())
        .unwrap();
    bus.ingest_raw(b"doomed").unwrap();
    bus.flush(Duration::from_secs(30)).unwrap();
    let stats = bus.stats();
    assert_eq!(stats.failed.backpressure, 1);
    assert_eq!(stats.retries, 3);
    assert_eq!(adapter.attempts.lock().len(), 4);
}

/// The adapter gets `adapter_timeout` as its deadline; one that uses it all and reports
/// a timeout is retried, then counted as failed by timeout.
#[test]
fn adapter_deadline_fires() {
    let timeout = Duration::from_millis(50);
    let adapter = ScriptedAdapter::new(move |_, _| {
        std::thread::sleep(timeout);
        Some(AdapterError::timeout("no reply before the deadline"))
    });
    let bus = builder(1)
        .adapter_timeout(timeout)
        .adapter_retries(1)
        .build_shared(adapter.clone())
        .unwrap();
    bus.ingest_raw(b"slow").unwrap();
    bus.flush(Duration::from_secs(30)).unwrap();
    let attempts = adapter.attempts.lock().clone();
    assert_eq!(attempts.len(), 2);
    for a in &attempts {
        assert!(
            a.budget <= timeout && a.budget > timeout / 2,
            "deadline {:?} is not adapter_timeout {timeout:?} from the call",
            a.budget
        );
    }
    assert_eq!(bus.stats().failed.timeout, 1);
}

/// An adapter that panics does not take the I/O thread down: the batch counts as fatal.
#[test]
fn adapter_panic_is_contained() {
    let adapter = ScriptedAdapter::new(|batch, _| {
        if batch.shard() == 0 {
            panic!("adapter bug");
        }
        None
    });
    let bus = builder(2).build_shared(adapter.clone()).unwrap();
    bus.ingest_raw(RawEvent::new(&b"a"[..]).to_shard(0))
        .unwrap();
    bus.flush(Duration::from_secs(30)).unwrap();
    bus.ingest_raw(RawEvent::new(&b"b"[..]).to_shard(1))
        .unwrap();
    bus.flush(Duration::from_secs(30)).unwrap();
    let stats = bus.shutdown().unwrap();
    assert_eq!((stats.failed.fatal, stats.written), (1, 1));
    assert_eq!(ErrorKind::Fatal.as_str(), "fatal");
}
