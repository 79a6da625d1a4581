//! The store wrapper that times every event from its intended send time to the moment the
//! adapter acknowledged the batch holding it.

use std::sync::Arc;
use std::time::Instant;

use corelane::adapter::{Batch, InitReport, Position, ShardPoll};
use corelane::{Adapter, AdapterError};
use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// A latency histogram from 1 ns to an hour, three significant digits.
pub(super) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

/// Wraps the store: records ingest → acknowledged latency of every event.
///
/// An event's first 8 payload bytes are its intended send time, in nanoseconds since
/// [`Probe::origin`] (little-endian).
pub(super) struct Probe {
    inner: Arc<dyn Adapter>,
    origin: Instant,
    end_to_end: Mutex<Histogram<u64>>,
}

impl Probe {
    /// Wraps `inner`; send times are measured from now.
    pub(super) fn new(inner: Arc<dyn Adapter>) -> Self {
        Probe {
            inner,
            origin: Instant::now(),
            end_to_end: Mutex::new(new_histogram()),
        }
    }

    /// The instant send times count from.
    pub(super) fn origin(&self) -> Instant {
        self.origin
    }

    /// The end-to-end latency of what was acknowledged so far.
    pub(super) fn end_to_end(&self) -> Histogram<u64> {
        self.end_to_end.lock().clone()
    }

    /// The 99th percentile so far, without copying the histogram (for the progress line).
    pub(super) fn end_to_end_p99(&self) -> Option<u64> {
        let h = self.end_to_end.lock();
        (!h.is_empty()).then(|| h.value_at_quantile(0.99))
    }
}

impl Adapter for Probe {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn init(&self, n: u32, d: Instant) -> Result<InitReport, AdapterError> {
        self.inner.init(n, d)
    }
    fn write_batch(&self, batch: &Batch, deadline: Instant) -> Result<(), AdapterError> {
        self.inner.write_batch(batch, deadline)?;
        let now = self.origin.elapsed().as_nanos() as u64;
        let mut h = self.end_to_end.lock();
        for e in batch.events() {
            if let Some(sent) = e.payload.get(..8) {
                let sent = u64::from_le_bytes(sent.try_into().expect("8 bytes"));
                h.saturating_record(now.saturating_sub(sent).max(1));
            }
        }
        Ok(())
    }
    fn flush(&self, d: Instant) -> Result<(), AdapterError> {
        self.inner.flush(d)
    }
    fn shutdown(&self, d: Instant) -> Result<(), AdapterError> {
        self.inner.shutdown(d)
    }
    fn poll_shard(
        &self,
        s: u32,
        a: Option<Position>,
        l: usize,
        d: Instant,
    ) -> Result<ShardPoll, AdapterError> {
        self.inner.poll_shard(s, a, l, d)
    }
    fn last_position(&self, s: u32, d: Instant) -> Result<Option<Position>, AdapterError> {
        self.inner.last_position(s, d)
    }
    fn is_healthy(&self) -> bool {
        self.inner.is_healthy()
    }
}
