//! End-to-end latency, measured where it ends: when the adapter acknowledges a batch,
//! the I/O thread records for each of its events the time since the shard stamped it
//! (its insertion timestamp, from the bus's one clock). Producers and shard threads pay
//! nothing; the I/O thread pays a histogram update per event and an uncontended lock
//! per batch.

use corelane_io::Batch;
use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::stats::Latency;

/// Highest latency a histogram tracks (one hour); longer ones are clamped to it.
const MAX_TRACKED_NS: u64 = 3_600_000_000_000;

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3).expect("valid histogram bounds")
}

/// One histogram per shard, since the bus started or the last [`LatencyRecorder::take`].
#[derive(Debug)]
pub(crate) struct LatencyRecorder {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl LatencyRecorder {
    pub(crate) fn new(num_shards: usize) -> Self {
        LatencyRecorder {
            shards: (0..num_shards)
                .map(|_| Mutex::new(new_histogram()))
                .collect(),
        }
    }

    /// Records every event of `batch`, acknowledged at `now_ns` (Unix-epoch ns).
    pub(crate) fn record(&self, batch: &Batch, now_ns: u64) {
        let Some(histogram) = self.shards.get(batch.shard() as usize) else {
            return;
        };
        let mut histogram = histogram.lock();
        for event in batch.events() {
            let ns = now_ns
                .saturating_sub(event.insertion_ts)
                .clamp(1, MAX_TRACKED_NS);
            histogram.saturating_record(ns);
        }
    }

    /// Per shard, then all shards together.
    pub(crate) fn summaries(&self) -> (Vec<Latency>, Latency) {
        self.read(false)
    }

    /// The same, and a fresh interval: the histograms start over.
    pub(crate) fn take(&self) -> (Vec<Latency>, Latency) {
        self.read(true)
    }

    fn read(&self, reset: bool) -> (Vec<Latency>, Latency) {
        let mut all = new_histogram();
        let per_shard = self
            .shards
            .iter()
            .map(|h| {
                let mut h = h.lock();
                let _ = all.add(&*h);
                let summary = summarize(&h);
                if reset {
                    h.reset();
                }
                summary
            })
            .collect();
        (per_shard, summarize(&all))
    }
}

fn summarize(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    Latency {
        count: h.len(),
        p50_ns: h.value_at_quantile(0.50),
        p90_ns: h.value_at_quantile(0.90),
        p99_ns: h.value_at_quantile(0.99),
        p999_ns: h.value_at_quantile(0.999),
        max_ns: h.max(),
    }
}
