//! The `metrics` feature: what the facade's recorder receives equals `Bus::stats()`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::builder;
use corelane::RawEvent;
use corelane::adapters::MemoryAdapter;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// Name plus sorted labels → value, for counters and gauges.
fn values(snapshotter: &Snapshotter) -> HashMap<String, f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            match value {
                DebugValue::Counter(n) => Some((name, n as f64)),
                DebugValue::Gauge(g) => Some((name, g.into_inner())),
                DebugValue::Histogram(_) => None,
            }
        })
        .collect()
}

#[test]
fn published_metrics_equal_the_bus_statistics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    let bus = builder(2)
        .max_event_bytes(32)
        .build(MemoryAdapter::new())
        .unwrap();
    for i in 0..300u64 {
        let shard = (i % 2) as u32;
        bus.ingest_raw(RawEvent::new(&i.to_le_bytes()[..]).to_shard(shard))
            .unwrap();
    }
    for _ in 0..3 {
        assert!(bus.ingest_raw(vec![0u8; 33]).is_err());
    }
    bus.flush(Duration::from_secs(10)).unwrap();
    bus.publish_metrics();
    let stats = bus.stats();
    let got = values(&snapshotter);
    let at = |k: &str| {
        *got.get(k)
            .unwrap_or_else(|| panic!("{k} not published: {got:?}"))
    };
    assert_eq!(at("corelane_accepted_total{}"), stats.accepted as f64);
    assert_eq!(at("corelane_written_total{}"), 300.0);
    assert_eq!(at("corelane_refused_total{reason=too_large}"), 3.0);
    assert_eq!(at("corelane_failed_total{reason=fatal}"), 0.0);
    assert_eq!(
        at("corelane_batches_written_total{}"),
        stats.batches_written as f64
    );
    for shard in 0..2 {
        assert_eq!(
            at(&format!("corelane_shard_written_total{{shard={shard}}}")),
            150.0
        );
        assert_eq!(
            at(&format!("corelane_shard_in_flight{{shard={shard}}}")),
            0.0
        );
    }
    let p50 = at("corelane_latency_seconds{quantile=0.5}");
    assert_eq!(p50, stats.latency.p50_ns as f64 / 1e9);
    assert!(p50 > 0.0);

    // The reporter thread publishes on its own, and once more when dropped.
    bus.ingest_raw(RawEvent::new(&b"late"[..]).to_shard(0))
        .unwrap();
    bus.flush(Duration::from_secs(10)).unwrap();
    let reporter = bus
        .spawn_metrics_reporter(Duration::from_millis(10))
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(reporter);
    assert_eq!(values(&snapshotter)["corelane_written_total{}"], 301.0);
}
