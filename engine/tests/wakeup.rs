//! Parked shards and the producers that wake them: no wake-up may be lost. Each event is
//! ingested after a pause long enough for the shard to have parked (or to be parking
//! right then), and must reach the store without any flush, stop or timer to rescue it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::builder;
use corelane::adapters::MemoryAdapter;
use corelane::{BatchConfig, RawEvent, WaitStrategy};

/// Waits (sleeping, never waking the shard) until the store holds `n` events.
fn wait_for_store(store: &MemoryAdapter, n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.total_events() < n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} of {n} events stored after 10 s — a wake-up was lost",
            store.total_events()
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A simple deterministic generator of pauses.
fn pause(i: u64) -> Duration {
    let mixed = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54; // 0..1024
    Duration::from_micros(mixed % 300)
}

#[test]
fn every_event_after_idle_reaches_the_store_without_a_flush() {
    // Pauses of 0–300 µs fall on both sides of a 100 µs linger: events arrive while the
    // shard (and, in the last case, the I/O thread) yields, as it gives up and parks,
    // and after.
    let us = Duration::from_micros;
    let cases = [
        (WaitStrategy::Backoff, us(1000), None),
        (WaitStrategy::SpinThenYield, us(1000), None),
        (WaitStrategy::SpinThenYield, us(100), None),
        (
            WaitStrategy::SpinThenYield,
            us(100),
            Some(WaitStrategy::SpinThenYield),
        ),
    ];
    for (strategy, park_after, io_wait) in cases {
        let store = MemoryAdapter::new();
        let mut config = builder(1)
            .wait_strategy(strategy)
            .park_after(park_after)
            .batch(BatchConfig::default());
        if let Some(io_wait) = io_wait {
            config = config.io_wait_strategy(io_wait);
        }
        let bus = config.build(store.clone()).unwrap();
        let mut producer = bus.producer();
        let case = format!("{strategy:?}, park after {park_after:?}, I/O {io_wait:?}");
        for i in 0..1500u64 {
            std::thread::sleep(pause(i));
            producer.ingest_raw(i.to_le_bytes()).unwrap();
            wait_for_store(&store, i as usize + 1, &format!("{case}: event {i}"));
        }
        let stats = bus.shutdown().unwrap();
        assert_eq!((stats.accepted, stats.written), (1500, 1500));
    }
}

#[test]
fn producers_racing_a_parking_shard_lose_no_wake_up() {
    let store = MemoryAdapter::new();
    let bus = Arc::new(
        builder(2)
            .wait_strategy(WaitStrategy::Backoff)
            .build(store.clone())
            .unwrap(),
    );
    let rounds = 400u64;
    let producers: Vec<_> = (0..3u64)
        .map(|p| {
            let bus = Arc::clone(&bus);
            std::thread::spawn(move || {
                let mut producer = bus.producer();
                for i in 0..rounds {
                    std::thread::sleep(pause(i * 3 + p));
                    let shard = ((i + p) % 2) as u32;
                    producer
                        .ingest_raw(RawEvent::new(&(p << 32 | i).to_le_bytes()[..]).to_shard(shard))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in producers {
        t.join().unwrap();
    }
    wait_for_store(&store, 3 * rounds as usize, "three producers, two shards");
    assert_eq!(bus.stats().written, 3 * rounds);
}
