//! Publishing a bus's counters through the `metrics` facade (feature `metrics`), so
//! whatever exporter the program installed (Prometheus, StatsD, …) serves them.
//!
//! Publishing reads [`Bus::stats`] — off the fast path: producers and shard threads do
//! not touch the facade. Call [`Bus::publish_metrics`] from a timer you already have,
//! or let [`Bus::spawn_metrics_reporter`] run a small thread that does it every interval.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use metrics::{counter, gauge};

use crate::bus::Bus;
use crate::shared::BusShared;
use crate::stats::{Latency, Stats};

impl Bus {
    /// Publishes every counter, gauge and latency percentile once, to the recorder the
    /// `metrics` facade has installed (feature `metrics`):
    ///
    /// | name | kind | labels | value |
    /// |---|---|---|---|
    /// | `corelane_accepted_total` | counter | | events producers put into rings |
    /// | `corelane_written_total` | counter | | events the store acknowledged |
    /// | `corelane_failed_total` | counter | `reason` (transient, timeout, backpressure, fatal, config, shutdown) | events given up on |
    /// | `corelane_refused_total` | counter | `reason` (full, dropped, sampled_out, timed_out, shutting_down, too_large, invalid) | refused ingests |
    /// | `corelane_batches_written_total`, `corelane_batches_failed_total`, `corelane_retries_total` | counter | | batches and retries |
    /// | `corelane_shard_accepted_total`, `corelane_shard_written_total` | counter | `shard` | per shard |
    /// | `corelane_shard_in_flight` | gauge | `shard` | accepted, not yet written or failed (the queue depth) |
    /// | `corelane_shard_ring_fill_bytes` | gauge | `shard` | fullest ring at the last drain pass |
    /// | `corelane_shard_rings` | gauge | `shard` | producer rings the shard drains |
    /// | `corelane_latency_seconds` | gauge | `quantile` (0.5, 0.9, 0.99, 0.999, 1); with `shard` per shard | ingest → acknowledged |
    pub fn publish_metrics(&self) {
        publish(&self.stats());
    }

    /// Starts a small thread that publishes every `interval` until the returned handle
    /// is dropped (after shutdown it keeps publishing the final figures). It reads
    /// statistics only.
    pub fn spawn_metrics_reporter(&self, interval: Duration) -> std::io::Result<MetricsReporter> {
        let stop = Arc::new(AtomicBool::new(false));
        let bus = Arc::clone(&self.shared);
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("corelane-metrics".into())
                .spawn(move || report_until_stopped(&bus, &stop, interval))?
        };
        Ok(MetricsReporter {
            stop,
            thread: Some(thread),
        })
    }
}

fn report_until_stopped(bus: &BusShared, stop: &AtomicBool, interval: Duration) {
    while !stop.load(Ordering::Acquire) {
        publish(&bus.stats());
        std::thread::park_timeout(interval);
    }
    publish(&bus.stats());
}

/// The thread of [`Bus::spawn_metrics_reporter`]; dropping it publishes once more and
/// joins the thread.
#[derive(Debug)]
pub struct MetricsReporter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for MetricsReporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Publishes `stats` through the facade.
pub(crate) fn publish(stats: &Stats) {
    counter!("corelane_accepted_total").absolute(stats.accepted);
    counter!("corelane_written_total").absolute(stats.written);
    counter!("corelane_batches_written_total").absolute(stats.batches_written);
    counter!("corelane_batches_failed_total").absolute(stats.batches_failed);
    counter!("corelane_retries_total").absolute(stats.retries);
    for (reason, n) in stats.failed.by_reason() {
        counter!("corelane_failed_total", "reason" => reason).absolute(n);
    }
    for (reason, n) in stats.refused.by_reason() {
        counter!("corelane_refused_total", "reason" => reason).absolute(n);
    }
    for s in &stats.shards {
        let shard = s.shard.to_string();
        counter!("corelane_shard_accepted_total", "shard" => shard.clone()).absolute(s.accepted);
        counter!("corelane_shard_written_total", "shard" => shard.clone()).absolute(s.written);
        let in_flight = s
            .accepted
            .saturating_sub(s.written)
            .saturating_sub(s.failed);
        gauge!("corelane_shard_in_flight", "shard" => shard.clone()).set(in_flight as f64);
        gauge!("corelane_shard_ring_fill_bytes", "shard" => shard.clone())
            .set(s.ring_fill_bytes as f64);
        gauge!("corelane_shard_rings", "shard" => shard.clone()).set(s.rings as f64);
        publish_latency(&s.latency, Some(&shard));
    }
    publish_latency(&stats.latency, None);
}

fn publish_latency(latency: &Latency, shard: Option<&str>) {
    for (quantile, ns) in [
        ("0.5", latency.p50_ns),
        ("0.9", latency.p90_ns),
        ("0.99", latency.p99_ns),
        ("0.999", latency.p999_ns),
        ("1", latency.max_ns),
    ] {
        let seconds = ns as f64 / 1e9;
        match shard {
            Some(shard) => gauge!(
                "corelane_latency_seconds",
                "quantile" => quantile,
                "shard" => shard.to_string()
            )
            .set(seconds),
            None => gauge!("corelane_latency_seconds", "quantile" => quantile).set(seconds),
        }
    }
}
