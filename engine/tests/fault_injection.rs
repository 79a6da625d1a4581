//! A fault-injecting adapter around the memory store: by a seeded schedule each write
//! passes, fails (retryable or not), panics, stalls past its deadline, or is stored and
//! acknowledged late. Thousands of batches later the counters must add up exactly and
//! the store must hold exactly the events counted written, each once.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Intercept, builder};
use corelane::adapter::Batch;
use corelane::adapters::MemoryAdapter;
use corelane::{Adapter, AdapterError, Backpressure, BatchConfig};

/// What the schedule does to one write attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fault {
    Pass,
    Transient,
    Fatal,
    Panic,
    StallPastDeadline,
    LateAck,
}

/// splitmix64: a well-mixed hash of one word.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The fault for one write attempt: a function of the seed and the attempt's identity,
/// so a schedule replays the same whatever the timing.
fn fault(seed: u64, batch: &Batch) -> Fault {
    let key = seed
        ^ (u64::from(batch.shard()) << 56)
        ^ (batch.seq_start() << 8)
        ^ u64::from(batch.attempt());
    match mix(key) % 100 {
        0..60 => Fault::Pass,
        60..72 => Fault::Transient,
        72..76 => Fault::Fatal,
        76..82 => Fault::Panic,
        82..90 => Fault::StallPastDeadline,
        _ => Fault::LateAck,
    }
}

fn sleep_past(deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    std::thread::sleep(left + Duration::from_millis(1));
}

/// Applies `fault` to one write of `batch` into `store`.
fn inject(
    fault: Fault,
    store: &MemoryAdapter,
    batch: &Batch,
    deadline: Instant,
) -> Result<(), AdapterError> {
    match fault {
        Fault::Pass => store.write_batch(batch, deadline),
        Fault::Transient => Err(AdapterError::transient("injected: connection reset")),
        Fault::Fatal => Err(AdapterError::fatal("injected: refused for good")),
        Fault::Panic => panic!("injected panic in write_batch"),
        Fault::StallPastDeadline => {
            sleep_past(deadline);
            Err(AdapterError::timeout(
                "injected: no answer before the deadline",
            ))
        }
        Fault::LateAck => {
            store.write_batch(batch, deadline)?;
            sleep_past(deadline);
            Ok(())
        }
    }
}

fn run_schedule(seed: u64) {
    let counts: Arc<[AtomicU64; 6]> = Arc::default();
    let faulty = {
        let counts = Arc::clone(&counts);
        Intercept::new(move |store, batch, deadline| {
            let fault = fault(seed, batch);
            counts[fault as usize].fetch_add(1, Ordering::Relaxed);
            inject(fault, store, batch, deadline)
        })
    };
    let store = faulty.store.clone();
    let bus = builder(2)
        .adapter_timeout(Duration::from_millis(5))
        .adapter_retries(3)
        .retry_backoff_initial(Duration::from_millis(1))
        .retry_backoff_max(Duration::from_millis(2))
        .batch(BatchConfig {
            max_events: 8,
            max_bytes: 1 << 20,
            max_delay: Duration::ZERO,
        })
        .backpressure(Backpressure::block(Duration::from_secs(60)))
        .build(faulty)
        .unwrap();
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let mut producer = bus.producer();
            std::thread::spawn(move || {
                for i in 0..6_000u64 {
                    producer.ingest_raw(common::payload(p, i)).unwrap();
                }
            })
        })
        .collect();
    for t in producers {
        t.join().unwrap();
    }
    let stats = bus.shutdown().unwrap();
    let injected: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    eprintln!(
        "seed {seed:#x}: {} batches written, {} failed, {} retries; injected \
         pass/transient/fatal/panic/stall/late = {injected:?}",
        stats.batches_written, stats.batches_failed, stats.retries
    );
    assert_eq!(stats.accepted, 12_000);
    assert_eq!(
        stats.accepted,
        stats.written + stats.failed.total(),
        "{stats:?}"
    );
    assert!(
        stats.batches_written + stats.batches_failed >= 1_000,
        "thousands of batches: {stats:?}"
    );
    assert!(
        injected.iter().all(|&n| n > 0),
        "every fault kind was injected"
    );
    assert!(stats.failed.fatal > 0 && stats.failed.timeout + stats.failed.transient > 0);

    let stored = store.all_events();
    assert_eq!(
        stored.len() as u64,
        stats.written,
        "the store holds what was counted written"
    );
    let distinct: HashSet<(u32, u64)> = stored.iter().map(|e| (e.shard, e.sequence)).collect();
    assert_eq!(distinct.len(), stored.len(), "no event stored twice");
    let per_shard_written: u64 = stats.shards.iter().map(|s| s.written).sum();
    assert_eq!(per_shard_written, stats.written);
    for shard in &stats.shards {
        assert_eq!(
            store.len(shard.shard) as u64,
            shard.written,
            "shard {}",
            shard.shard
        );
    }
}

#[test]
fn seeded_faults_counters_add_up_and_the_store_holds_exactly_what_was_written() {
    // The injected panics are expected: keep their messages out of the test output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|m| m.starts_with("injected"));
        if !injected {
            default_hook(info);
        }
    }));
    for seed in [0x5eed_0001u64, 0xc0ff_ee02, 0xdead_be03] {
        run_schedule(seed);
    }
}
