//! The bus: construction, producers, flush, shutdown, statistics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use corelane_io::{Adapter, IdlePolicy, IoConfig, IoHandle, spawn_io_thread};
use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

use crate::clock::Clock;
use crate::epoch::{Barrier, Epoch, ProducerPin};
use crate::event::{AsRawEvent, Event};
use crate::local::with_local_producer;
use crate::pinning::plan_cores;
use crate::producer::ProducerSlot;
use crate::ring::{RingReader, ring};
use crate::shard::{ShardSetup, run_shard};
use crate::stats::{ProducerCounters, ShardState, StatsParts, Totals};
use crate::{
    BatchOutcome, BuildError, BusBuilder, Config, ConsumeRequest, ConsumeResponse, Consumer,
    ConsumerError, FlushError, IngestError, Producer, Receipt, ShutdownError, StartAt, Stats,
    Subscription, WaitStrategy, nonce,
};

static NEXT_BUS_ID: AtomicU64 = AtomicU64::new(1);

/// Flags every shard thread polls: read-mostly, on a line of their own.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Signals {
    pub(crate) stop: AtomicBool,
    pub(crate) flush_ticket: AtomicU64,
}

/// Live producers and the folded counts of retired ones.
#[derive(Debug)]
pub(crate) struct Registry {
    slots: Vec<Arc<ProducerSlot>>,
    retired: Totals,
    closed: bool,
}

#[derive(Debug)]
enum Lifecycle {
    Running,
    /// A closer thread is running the stages; callers wait on `closed` with their bounds.
    Closing,
    Closed(Result<Stats, ShutdownError>),
}

/// The stages of a shutdown, in order; the closer publishes the one it is in, so that a
/// caller whose bound expires names the stage that held it up.
const STAGES: [&str; 4] = [
    "producers",
    "shard threads",
    "the I/O thread",
    "the adapter",
];

/// State shared by the bus handle, its producers and its shard threads.
pub(crate) struct BusShared {
    pub(crate) id: u64,
    pub(crate) epoch: Epoch,
    pub(crate) signals: Signals,
    pub(crate) barrier: Barrier,
    pub(crate) config: Config,
    pub(crate) num_shards: u32,
    pub(crate) nonce: u64,
    pub(crate) shard_states: Box<[ShardState]>,
    registry: Mutex<Registry>,
    inboxes: Vec<Sender<RingReader>>,
    io: IoHandle,
    shard_threads: Mutex<Vec<JoinHandle<()>>>,
    shard_thread_handles: Mutex<Vec<Thread>>,
    lifecycle: Mutex<Lifecycle>,
    /// Signalled when `lifecycle` becomes `Closed`.
    closed: Condvar,
    /// Index into [`STAGES`] of the stage the closer is in.
    stage: AtomicU8,
}

impl BusShared {
    /// Registers a producer: one ring per shard, whose reading ends go to the shards.
    pub(crate) fn new_producer(bus: &Arc<BusShared>) -> Producer {
        let num_shards = bus.num_shards as usize;
        let slot = Arc::new(ProducerSlot {
            pin: ProducerPin::new(),
            counters: ProducerCounters::new(num_shards),
        });
        let mut writers = Vec::with_capacity(num_shards);
        {
            // Under the registry lock: shutdown marks the registry closed under the same
            // lock before it stops the shards, so a ring sent here reaches its shard
            // before the shard's final drain — or the producer is born closed.
            let mut registry = bus.registry.lock();
            if !registry.closed {
                for inbox in &bus.inboxes {
                    let (writer, reader) = ring(bus.config.ring_capacity_bytes);
                    writers.push(writer);
                    let _ = inbox.send(reader);
                }
            }
            // Registered even when born closed, so that its refusals are counted.
            registry.slots.push(Arc::clone(&slot));
        }
        Producer::new(Arc::clone(bus), slot, writers)
    }

    /// Folds a dropped producer's counters into the retired totals.
    pub(crate) fn retire_producer(&self, slot: &Arc<ProducerSlot>) {
        let mut registry = self.registry.lock();
        if let Some(i) = registry.slots.iter().position(|s| Arc::ptr_eq(s, slot)) {
            registry.slots.swap_remove(i);
            slot.counters.add_to(&mut registry.retired);
        }
    }

    fn unpark_shards(&self) {
        for t in self.shard_thread_handles.lock().iter() {
            t.unpark();
        }
    }

    fn stats(&self) -> Stats {
        let (totals, producers) = {
            let registry = self.registry.lock();
            let mut totals = registry.retired.clone();
            for slot in &registry.slots {
                slot.counters.add_to(&mut totals);
            }
            (totals, registry.slots.len())
        };
        StatsParts {
            totals,
            producers,
            shard_states: &self.shard_states,
            io: &self.io,
            ring_capacity_bytes: self.config.ring_capacity_bytes,
        }
        .assemble()
    }

    fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        if !matches!(*self.lifecycle.lock(), Lifecycle::Running) || self.io.is_done() {
            return Err(FlushError::ShutDown);
        }
        let deadline = crate::clock::deadline_after(timeout);
        let ticket = self.signals.flush_ticket.fetch_add(1, Ordering::SeqCst) + 1;
        self.unpark_shards();
        self.io
            .wait_flushed(ticket, deadline)
            .map_err(|lagging| FlushError::Timeout { lagging, timeout })?;
        self.io.flush_adapter(deadline).map_err(FlushError::Adapter)
    }

    /// Shuts the bus down, waiting at most `timeout` for the outcome.
    ///
    /// The first call starts a closer thread that runs every stage to its end; each
    /// caller (a second one too) waits with its own bound. A caller whose bound expires
    /// gets a timeout naming the stage the closer is in; the closer goes on, and a later
    /// call returns the final outcome.
    fn shutdown(self: &Arc<Self>, timeout: Duration) -> Result<Stats, ShutdownError> {
        let deadline = crate::clock::deadline_after(timeout);
        let mut lifecycle = self.lifecycle.lock();
        if matches!(*lifecycle, Lifecycle::Running) {
            *lifecycle = Lifecycle::Closing;
            let bus = Arc::clone(self);
            let producer_wait = timeout.min(self.config.shutdown_timeout);
            let spawned = std::thread::Builder::new()
                .name("corelane-close".into())
                .spawn(move || bus.run_close(producer_wait));
            if spawned.is_err() {
                // No thread to spare: close on the caller's thread.
                drop(lifecycle);
                self.run_close(producer_wait);
                lifecycle = self.lifecycle.lock();
            }
        }
        loop {
            if let Lifecycle::Closed(result) = &*lifecycle {
                return result.clone();
            }
            if self.closed.wait_until(&mut lifecycle, deadline).timed_out() {
                if let Lifecycle::Closed(result) = &*lifecycle {
                    return result.clone();
                }
                let stage = STAGES[usize::from(self.stage.load(Ordering::Acquire))];
                return Err(ShutdownError::Timeout { stage, timeout });
            }
        }
    }

    fn run_close(&self, producer_wait: Duration) {
        let result = self.close(producer_wait);
        *self.lifecycle.lock() = Lifecycle::Closed(result);
        self.closed.notify_all();
    }

    fn enter_stage(&self, index: u8) {
        self.stage.store(index, Ordering::Release);
    }

    /// Runs the stages. Producers get `producer_wait` to leave an ingest begun before the
    /// close; every later stage runs to its end (each adapter call is bounded by its own
    /// deadline), so the adapter's flush and shutdown always run.
    fn close(&self, producer_wait: Duration) -> Result<Stats, ShutdownError> {
        // 1. Close the epoch: new ingests are refused from here on.
        let (target, pins) = {
            let mut registry = self.registry.lock();
            registry.closed = true;
            let target = self.epoch.advance(true);
            self.barrier.heavy();
            (target, registry.slots.clone())
        };
        // 2. Wait for producers that are inside an ingest begun before the close. One
        //    that does not leave in time is reported; the shards are stopped anyway so
        //    that shutdown ends, and anything it pushes later shows up as in flight.
        let producers_deadline = crate::clock::deadline_after(producer_wait);
        let mut first_error = None;
        for slot in &pins {
            let done = slot.pin.wait_past(target, |spins| {
                if spins > 1000 {
                    std::thread::sleep(Duration::from_micros(50));
                }
                Instant::now() > producers_deadline
            });
            if !done {
                first_error = Some(ShutdownError::Timeout {
                    stage: STAGES[0],
                    timeout: producer_wait,
                });
                break;
            }
        }
        // 3. Stop the shards: each drains its rings to empty, seals, hands off, exits.
        self.enter_stage(1);
        self.signals.stop.store(true, Ordering::Release);
        self.unpark_shards();
        let threads = std::mem::take(&mut *self.shard_threads.lock());
        for t in threads {
            if t.join().is_err() {
                tracing::error!("a corelane shard thread panicked");
            }
        }
        // 4. The I/O thread writes what is queued, flushes and shuts the adapter down.
        self.enter_stage(2);
        let outcome = loop {
            if let Some(outcome) = self.io.join(Instant::now() + Duration::from_secs(1)) {
                break outcome;
            }
        };
        self.enter_stage(3);
        if let Some(err) = first_error {
            return Err(err);
        }
        outcome.flush.map_err(|e| ShutdownError::Adapter {
            stage: "flush",
            message: e.to_string(),
        })?;
        outcome.shutdown.map_err(|e| ShutdownError::Adapter {
            stage: "shutdown",
            message: e.to_string(),
        })?;
        Ok(self.stats())
    }
}

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
    shared: Arc<BusShared>,
    /// Held by the handle, not the shared state: thread-local producers of other threads
    /// keep the shared state alive, and must not keep a dropped bus's store with it.
    adapter: Arc<dyn Adapter>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("id", &self.shared.id)
            .field("shards", &self.shared.num_shards)
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
        config.validate()?;
        let mut nonce = match &config.producer_nonce_path {
            Some(path) => nonce::load_or_create_nonce(path)?,
            None => nonce::random_nonce(),
        };
        let num_shards = config.num_shards as u32;
        let report = adapter
            .init(num_shards, Instant::now() + config.adapter_timeout)
            .map_err(|error| BuildError::Adapter {
                adapter: adapter.name().to_string(),
                error,
            })?;
        for note in &report.notes {
            tracing::info!(adapter = adapter.name(), "{note}");
        }
        let unknown: Vec<u32> = (0..num_shards)
            .filter(|&s| report.tail(s).history_unknown)
            .collect();
        if let (Some(path), false) = (&config.producer_nonce_path, unknown.is_empty()) {
            nonce = nonce::rotate_nonce(path)?;
            tracing::warn!(
                shards = ?unknown,
                adapter = adapter.name(),
                "corelane: the store holds no record that continues these shards' numbering \
                 (purged?); numbering restarts at 0 under a new producer nonce so that no \
                 dedup id repeats one the store may remember"
            );
        }
        let (io, links) = spawn_io_thread(
            IoConfig {
                num_shards,
                adapter_timeout: config.adapter_timeout,
                retries: config.adapter_retries,
                backoff_initial: config.retry_backoff_initial,
                backoff_max: config.retry_backoff_max,
                idle: match config.wait_strategy {
                    WaitStrategy::BusySpin => IdlePolicy::Spin,
                    WaitStrategy::SpinThenYield | WaitStrategy::Backoff => IdlePolicy::Sleep,
                },
                max_inflight_per_shard: config.max_inflight_batches,
                jitter_seed: nonce,
                core: config.io_core,
            },
            Arc::clone(&adapter),
        )
        .map_err(|error| BuildError::Spawn {
            what: "I/O".into(),
            error,
        })?;

        let clock = Clock::new();
        let mut inboxes = Vec::with_capacity(num_shards as usize);
        let mut inbox_readers = Vec::with_capacity(num_shards as usize);
        for _ in 0..num_shards {
            let (tx, rx) = crossbeam_channel::unbounded();
            inboxes.push(tx);
            inbox_readers.push(rx);
        }
        let tails: Vec<_> = (0..num_shards).map(|s| report.tail(s)).collect();
        let shared = Arc::new(BusShared {
            id: NEXT_BUS_ID.fetch_add(1, Ordering::Relaxed),
            epoch: Epoch::new(),
            signals: Signals::default(),
            barrier: Barrier::detect(),
            num_shards,
            nonce,
            shard_states: tails
                .iter()
                .map(|t| ShardState::new(t.last_sequence.map_or(0, |s| s + 1)))
                .collect(),
            registry: Mutex::new(Registry {
                slots: Vec::new(),
                retired: Totals::new(num_shards as usize),
                closed: false,
            }),
            inboxes,
            io,
            shard_threads: Mutex::new(Vec::new()),
            shard_thread_handles: Mutex::new(Vec::new()),
            lifecycle: Mutex::new(Lifecycle::Running),
            closed: Condvar::new(),
            stage: AtomicU8::new(0),
            config,
        });
        let cores = plan_cores(&shared.config.cores, num_shards as usize);
        let mut spawn_error = None;
        for (shard, (link, inbox)) in links.into_iter().zip(inbox_readers).enumerate() {
            if spawn_error.is_some() {
                // A shard that never ran still owes the I/O thread its close.
                let _ = link.try_submit(corelane_io::ShardMsg::Closed);
                shared.shard_states[shard]
                    .exited
                    .store(true, Ordering::Release);
                continue;
            }
            let setup = ShardSetup {
                shard: shard as u32,
                link,
                inbox,
                next_sequence: tails[shard].last_sequence.map_or(0, |s| s + 1),
                last_ts: tails[shard].last_insertion_ts.unwrap_or(0),
                core: cores[shard],
                clock,
                bus: Arc::clone(&shared),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("corelane-shard-{shard}"))
                .spawn(move || run_shard(setup));
            match spawned {
                Ok(handle) => {
                    shared
                        .shard_thread_handles
                        .lock()
                        .push(handle.thread().clone());
                    shared.shard_threads.lock().push(handle);
                }
                Err(error) => {
                    // The setup (and its link) was dropped with the closure; count the
                    // shard as closed so shutdown does not wait for it.
                    shared.shard_states[shard]
                        .exited
                        .store(true, Ordering::Release);
                    spawn_error = Some(error);
                }
            }
        }
        let bus = Bus { shared, adapter };
        if let Some(error) = spawn_error {
            // Dropping the bus shuts down the shards that did start.
            return Err(BuildError::Spawn {
                what: "shard".into(),
                error,
            });
        }
        tracing::debug!(
            shards = num_shards,
            adapter = bus.adapter.name(),
            barrier = ?bus.shared.barrier,
            "corelane bus started"
        );
        Ok(bus)
    }

    /// A new producer: owns one ring per shard. Cheap enough to create per thread; each
    /// one costs `num_shards × ring_capacity_bytes` of memory.
    pub fn producer(&self) -> Producer {
        BusShared::new_producer(&self.shared)
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
        Consumer::new(Arc::clone(&self.adapter), self.shared.num_shards)
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
    /// use corelane::{Bus, ConsumeRequest, StartAt};
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

    /// A reading of every counter.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Number of shards.
    pub fn num_shards(&self) -> u32 {
        self.shared.num_shards
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

    /// True when the producer fast path uses a compiler fence (Linux `membarrier`
    /// available) rather than a full fence.
    pub fn uses_asymmetric_barrier(&self) -> bool {
        self.shared.barrier == Barrier::Asymmetric
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        if let Err(err) = self.shared.shutdown(self.shared.config.shutdown_timeout) {
            tracing::error!(%err, "corelane bus did not shut down cleanly on drop");
        }
    }
}
