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

/// Two significant digits (values within 1 %): a few thousand buckets, so a reading of
/// every shard's percentiles costs microseconds, not the hundreds a three-digit
/// histogram's 86 k buckets would.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_NS, 2).expect("valid histogram bounds")
}

/// One histogram per shard and one for all shards, since the bus started or the last
/// [`LatencyRecorder::take`]. The I/O thread records into both, so a reading never has
/// to merge histograms.
#[derive(Debug)]
pub(crate) struct LatencyRecorder {
    shards: Vec<Mutex<Histogram<u64>>>,
    overall: Mutex<Histogram<u64>>,
}

impl LatencyRecorder {
    pub(crate) fn new(num_shards: usize) -> Self {
        LatencyRecorder {
            shards: (0..num_shards)
                .map(|_| Mutex::new(new_histogram()))
                .collect(),
            overall: Mutex::new(new_histogram()),
        }
    }

    /// Records every event of `batch`, acknowledged at `now_ns` (Unix-epoch ns).
    pub(crate) fn record(&self, batch: &Batch, now_ns: u64) {
        let Some(histogram) = self.shards.get(batch.shard() as usize) else {
            return;
        };
        let mut histogram = histogram.lock();
        let mut overall = self.overall.lock();
        for event in batch.events() {
            let ns = now_ns
                .saturating_sub(event.insertion_ts)
                .clamp(1, MAX_TRACKED_NS);
            histogram.saturating_record(ns);
            overall.saturating_record(ns);
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
        let summary = |h: &Mutex<Histogram<u64>>| {
            let mut h = h.lock();
            let summary = summarize(&h);
            if reset {
                h.reset();
            }
            summary
        };
        let per_shard = self.shards.iter().map(summary).collect();
        (per_shard, summary(&self.overall))
    }
}

/// The percentiles of `h` in one pass over its recorded values.
fn summarize(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    let total = h.len();
    let rank = |q: f64| ((q * total as f64).ceil() as u64).clamp(1, total);
    let targets = [rank(0.50), rank(0.90), rank(0.99), rank(0.999)];
    let mut found = [0u64; 4];
    let mut next = 0;
    let mut seen = 0u64;
    for value in h.iter_recorded() {
        seen += value.count_since_last_iteration();
        while next < targets.len() && seen >= targets[next] {
            found[next] = h.highest_equivalent(value.value_iterated_to());
            next += 1;
        }
        if next == targets.len() {
            break;
        }
    }
    Latency {
        count: total,
        p50_ns: found[0],
        p90_ns: found[1],
        p99_ns: found[2],
        p999_ns: found[3],
        max_ns: h.max(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_percentiles_agree_with_the_histogram_own() {
        let mut h = new_histogram();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            h.record(1 + (x % 5_000_000)).unwrap();
        }
        h.record(900_000_000).unwrap();
        let s = summarize(&h);
        assert_eq!(s.count, 50_001);
        assert_eq!(s.p50_ns, h.value_at_quantile(0.50));
        assert_eq!(s.p90_ns, h.value_at_quantile(0.90));
        assert_eq!(s.p99_ns, h.value_at_quantile(0.99));
        assert_eq!(s.p999_ns, h.value_at_quantile(0.999));
        assert_eq!(s.max_ns, h.max());
        assert_eq!(summarize(&new_histogram()), Latency::default());
    }
}
