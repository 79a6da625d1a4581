//! The bus handle: what users hold to ingest, flush, read back, and shut down.

use std::sync::Arc;
use std::time::Duration;

use corelane_io::Adapter;

use crate::config::builder::BusBuilder;
use crate::config::settings::Config;
use crate::error::{BuildError, FlushError, IngestError, ShutdownError};
use crate::read::consumer::{ConsumeRequest, ConsumeResponse, Consumer};
use crate::read::error::ConsumerError;
use crate::read::subscribe::{StartAt, Subscription};
use crate::scale::{ScaleError, ScaleOutcome, ScaleReason};
use crate::shared::BusShared;
use crate::start::start_bus;
use crate::stats::{Latency, Stats, Totals};
use crate::write::event::{AsRawEvent, Event};
use crate::write::local::with_local_producer;
use crate::write::producer::{BatchOutcome, Producer, Receipt};

/// An in-process event bus: producers → pinned shard threads → I/O thread → adapter.
///
/// Share it by reference or in an `Arc`; every method takes `&self`. Dropping it shuts it
/// down gracefully (see [`Bus::shutdown`]), waiting at most `shutdown_timeout`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corelane::Bus;
/// use corelane::adapters::MemoryAdapter;
///
/// let store = MemoryAdapter::new();
/// let bus = Bus::builder().num_shards(2).build(store.clone()).unwrap();
/// bus.ingest_raw(b"hello").unwrap();
/// bus.ingest_json(br#"{"px":101.5}"#).unwrap();
/// bus.flush(Duration::from_secs(5)).unwrap();
/// assert_eq!(store.total_events(), 2);
///
/// let stats = bus.shutdown().unwrap();
/// assert_eq!(stats.accepted, stats.written + stats.failed.total());
/// ```
pub struct Bus {
    pub(crate) shared: Arc<BusShared>,
    /// Held by the handle, not the shared state: thread-local producers of other threads
    /// keep the shared state alive, and must not keep a dropped bus's store with it.
    adapter: Arc<dyn Adapter>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("id", &self.shared.id)
            .field("shards", &self.num_shards())
            .field("adapter", &self.adapter.name())
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// A builder starting from the default configuration.
    pub fn builder() -> BusBuilder {
        BusBuilder::new()
    }

    /// Validates `config`, initialises `adapter`, and starts the shard and I/O threads.
    pub fn new(config: Config, adapter: Arc<dyn Adapter>) -> Result<Bus, BuildError> {
        let shared = start_bus(config, &adapter)?;
        tracing::debug!(
            shards = shared.config.num_shards,
            adapter = adapter.name(),
            barrier = ?shared.barrier,
            "corelane bus started"
        );
        Ok(Bus { shared, adapter })
    }

    /// A new producer: owns one ring per shard. Cheap enough to create per thread; each
    /// one costs `num_shards × ring_capacity_bytes` of memory.
    pub fn producer(&self) -> Producer {
        Producer::register(&self.shared)
    }

    /// Ingests a JSON [`Event`] through this thread's producer.
    pub fn ingest(&self, event: Event) -> Result<Receipt, IngestError<Event>> {
        with_local_producer(&self.shared, |p| p.ingest(event))
    }

    /// Ingests raw bytes (or anything [`AsRawEvent`]) through this thread's producer.
    pub fn ingest_raw<E: AsRawEvent>(&self, event: E) -> Result<Receipt, IngestError<E>> {
        with_local_producer(&self.shared, |p| p.ingest_raw(event))
    }

    /// Validates and ingests JSON bytes through this thread's producer.
    pub fn ingest_json<'a>(&self, json: &'a [u8]) -> Result<Receipt, IngestError<&'a [u8]>> {
        with_local_producer(&self.shared, |p| p.ingest_json(json))
    }

    /// Ingests several events through this thread's producer.
    pub fn ingest_batch<E: AsRawEvent, I: IntoIterator<Item = E>>(
        &self,
        events: I,
    ) -> BatchOutcome<E> {
        with_local_producer(&self.shared, |p| p.ingest_batch(events))
    }

    /// Delivery barrier: returns `Ok` once every event whose ingest returned `Ok` before
    /// this call has been acknowledged by the adapter or counted as failed, and the
    /// adapter's own flush has run. On timeout, the error names the shards that lagged;
    /// their events are still on their way, not lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corelane::Bus;
    /// use corelane::adapters::MemoryAdapter;
    ///
    /// let store = MemoryAdapter::new();
    /// let bus = Bus::builder().num_shards(3).build(store.clone()).unwrap();
    /// for i in 0..100u32 {
    ///     bus.ingest_raw(i.to_le_bytes()).unwrap();
    /// }
    /// bus.flush(Duration::from_secs(5)).unwrap();
    /// assert_eq!(store.total_events(), 100);
    /// ```
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        self.shared.flush(timeout)
    }

    /// Shuts down gracefully within `shutdown_timeout`: refuses new ingests with
    /// `ShuttingDown`, waits for producers that are mid-ingest, drains every ring, writes
    /// every batch (with retries), flushes and shuts the adapter down, joins every thread,
    /// and returns the final statistics. Idempotent: later calls return the same result.
    pub fn shutdown(&self) -> Result<Stats, ShutdownError> {
        self.shared.shutdown(self.shared.config.shutdown_timeout)
    }

    /// [`shutdown`](Self::shutdown) with an explicit bound.
    pub fn shutdown_within(&self, timeout: Duration) -> Result<Stats, ShutdownError> {
        self.shared.shutdown(timeout)
    }

    /// A reader of this bus's store (usable after shutdown, too, while the adapter
    /// still answers reads).
    pub fn consumer(&self) -> Consumer {
        Consumer::new(Arc::clone(&self.adapter), self.shared.slots)
    }

    /// Reads one page of stored events; see [`Consumer::poll`].
    pub fn poll(&self, request: &ConsumeRequest) -> Result<ConsumeResponse, ConsumerError> {
        self.consumer().poll(request)
    }

    /// A blocking iterator of events from `start`; see [`Subscription`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corelane::Bus;
    /// use corelane::read::{ConsumeRequest, StartAt};
    /// use corelane::adapters::MemoryAdapter;
    ///
    /// let bus = Bus::builder().num_shards(1).build(MemoryAdapter::new()).unwrap();
    /// bus.ingest_raw(b"old").unwrap();
    /// bus.flush(std::time::Duration::from_secs(5)).unwrap();
    ///
    /// let mut sub = bus.subscribe(ConsumeRequest::new(), StartAt::End).unwrap();
    /// bus.ingest_raw(b"new").unwrap();
    /// let event = sub.next().unwrap().unwrap();
    /// assert_eq!(event.payload, b"new");
    /// ```
    pub fn subscribe(
        &self,
        request: ConsumeRequest,
        start: StartAt,
    ) -> Result<Subscription, ConsumerError> {
        Subscription::new(self.consumer(), request, start)
    }

    /// The four totals a completion poller needs — accepted, written, failed, refused —
    /// read without a lock and without allocating (a few dozen loads).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corelane::Bus;
    /// use corelane::adapters::MemoryAdapter;
    ///
    /// let bus = Bus::builder().num_shards(2).build(MemoryAdapter::new()).unwrap();
    /// bus.ingest_raw(b"one").unwrap();
    /// bus.flush(Duration::from_secs(5)).unwrap();
    /// let t = bus.totals();
    /// assert_eq!((t.accepted, t.written, t.failed, t.in_flight()), (1, 1, 0, 0));
    /// ```
    pub fn totals(&self) -> Totals {
        self.shared.totals()
    }

    /// Ingest → acknowledged latency since the bus started or the previous call, per
    /// shard and overall — and a new interval from now: call it periodically for
    /// interval percentiles. ([`Stats::latency`] reads the same histograms without
    /// starting over.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corelane::Bus;
    /// use corelane::adapters::MemoryAdapter;
    ///
    /// let bus = Bus::builder().num_shards(1).build(MemoryAdapter::new()).unwrap();
    /// bus.ingest_raw(b"x").unwrap();
    /// bus.flush(Duration::from_secs(5)).unwrap();
    /// let (_, overall) = bus.take_latency();
    /// assert_eq!(overall.count, 1);
    /// assert!(overall.p50_ns > 0 && overall.p50_ns <= overall.max_ns);
    /// assert_eq!(bus.take_latency().1.count, 0, "a new interval");
    /// ```
    pub fn take_latency(&self) -> (Vec<Latency>, Latency) {
        self.shared.io.latency().take()
    }

    /// A reading of every counter.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Number of shards taking traffic now (it changes with [`scale_to`](Self::scale_to)
    /// and the scaling policy).
    pub fn num_shards(&self) -> u32 {
        self.shared
            .active
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The most shards this bus may have: `max_shards` (or the policy's) on a scalable
    /// bus, `num_shards` on a static one. Consumers read this many shard ids.
    pub fn max_shards(&self) -> u32 {
        self.shared.slots
    }

    /// Changes the number of shards taking traffic to `target`, waiting at most
    /// `timeout` for the change to complete.
    ///
    /// Adding shards starts threads for the next shard ids (pinned by the core plan); a
    /// shard id used before continues its numbering. Retiring shards stops the highest
    /// ids: each drains its rings to empty, writes its last batch, and its thread is
    /// joined; its stored events stay readable and cursors over it keep working.
    /// Producers pick the new routing up at their next ingest. Keys keep their order
    /// across the change: a moved key's events on its new shard are written only after
    /// its earlier events on the old shard (docs/guarantees.md).
    ///
    /// Errors: [`ScaleError::NotScalable`] for a bus built without `max_shards` or a
    /// policy, `OutOfRange`, `InProgress` while another change runs (or an earlier one
    /// still writes), `Closed` once shutdown began, and `Timeout` when the change was
    /// published but not complete in time (a background thread completes it; the next
    /// change waits for that).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corelane::Bus;
    /// use corelane::adapters::MemoryAdapter;
    ///
    /// let bus = Bus::builder().num_shards(1).max_shards(4).build(MemoryAdapter::new()).unwrap();
    /// let outcome = bus.scale_to(3, Duration::from_secs(5)).unwrap();
    /// assert_eq!((outcome.from, outcome.to, outcome.added), (1, 3, vec![1, 2]));
    /// assert_eq!(bus.num_shards(), 3);
    /// let outcome = bus.scale_to(2, Duration::from_secs(5)).unwrap();
    /// assert_eq!(outcome.retired, vec![2]);
    /// assert!(bus.scale_to(5, Duration::from_secs(5)).is_err());
    /// ```
    pub fn scale_to(&self, target: u32, timeout: Duration) -> Result<ScaleOutcome, ScaleError> {
        self.shared.scale_to(target, ScaleReason::Manual, timeout)
    }

    /// The producer nonce in this bus's dedup ids.
    pub fn nonce(&self) -> u64 {
        self.shared.nonce
    }

    /// The configuration the bus runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The adapter (for its read side, or its own statistics).
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.adapter
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        if let Err(err) = self.shared.shutdown(self.shared.config.shutdown_timeout) {
            tracing::error!(%err, "corelane bus did not shut down cleanly on drop");
        }
    }
}
