//! An adapter that stores nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use corelane_io::{Adapter, AdapterError, Batch, InitReport, Position, ShardPoll};

/// Counts what it is given and stores nothing: the cost of the bus without a backend.
///
/// Reads return nothing. After `shutdown`, writes fail with `Shutdown`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use corelane_adapters::NoopAdapter;
/// use corelane_io::{Adapter, Batch};
///
/// let noop = NoopAdapter::new();
/// let mut batch = Batch::with_capacity(1, 8);
/// batch.push(1, b"x");
/// noop.write_batch(&batch, Instant::now() + Duration::from_secs(1)).unwrap();
/// assert_eq!((noop.batches(), noop.events()), (1, 1));
/// ```
#[derive(Debug, Default)]
pub struct NoopAdapter {
    batches: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
    shut: AtomicBool,
}

impl NoopAdapter {
    /// A fresh adapter with zero counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Batches written so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Acquire)
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Acquire)
    }

    /// Payload bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }
}

impl Adapter for NoopAdapter {
    fn name(&self) -> &str {
        "noop"
    }

    fn init(&self, num_shards: u32, _deadline: Instant) -> Result<InitReport, AdapterError> {
        Ok(InitReport::empty(num_shards))
    }

    fn write_batch(&self, batch: &Batch, _deadline: Instant) -> Result<(), AdapterError> {
        if self.shut.load(Ordering::Acquire) {
            return Err(AdapterError::shutdown("noop adapter is shut down"));
        }
        // Only the I/O thread writes: relaxed load + store would do, but these counters
        // are read by other threads and an uncontended RMW costs nothing here.
        self.batches.fetch_add(1, Ordering::Release);
        self.events.fetch_add(batch.len() as u64, Ordering::Release);
        self.bytes
            .fetch_add(batch.payload_bytes() as u64, Ordering::Release);
        Ok(())
    }

    fn flush(&self, _deadline: Instant) -> Result<(), AdapterError> {
        Ok(())
    }

    fn shutdown(&self, _deadline: Instant) -> Result<(), AdapterError> {
        self.shut.store(true, Ordering::Release);
        Ok(())
    }

    fn poll_shard(
        &self,
        _shard: u32,
        _after: Option<Position>,
        _limit: usize,
        _deadline: Instant,
    ) -> Result<ShardPoll, AdapterError> {
        Ok(ShardPoll {
            end_of_shard: true,
            ..ShardPoll::default()
        })
    }

    fn is_healthy(&self) -> bool {
        !self.shut.load(Ordering::Acquire)
    }
}
