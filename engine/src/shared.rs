//! The state a bus shares with its producers and shard threads: the epoch, the signals
//! shard threads poll, the producer registry, per-shard state, and the I/O thread's
//! handle. It sits below every file that uses it and imports none of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

use crate::config::Config;
use crate::epoch::{Barrier, Epoch, ProducerPin};
use crate::error::{FlushError, ShutdownError};
use crate::io::IoHandle;
use crate::stats::{ProducerCounters, ShardState, Stats, StatsParts, Totals};
use crate::write::ring::{RingReader, RingWriter, ring};

/// Flags every shard thread polls: read-mostly, on a line of their own.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Signals {
    pub(crate) stop: AtomicBool,
    pub(crate) flush_ticket: AtomicU64,
}

/// A producer's registration: its epoch pin and its counters, shared with the bus.
#[derive(Debug)]
pub(crate) struct ProducerSlot {
    pub(crate) pin: ProducerPin,
    pub(crate) counters: ProducerCounters,
}

/// Live producers and the folded counts of retired ones.
#[derive(Debug)]
pub(crate) struct ProducerRegistry {
    slots: Vec<Arc<ProducerSlot>>,
    retired: Totals,
    closed: bool,
}

/// Where a bus is in its life.
#[derive(Debug)]
pub(crate) enum Lifecycle {
    Running,
    /// A closer thread is running the stages; callers wait on `closed` with their bounds.
    Closing,
    Closed(Result<Stats, ShutdownError>),
}

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
    pub(crate) registry: Mutex<ProducerRegistry>,
    /// Where new producers' rings go: one channel per shard thread.
    pub(crate) inboxes: Vec<Sender<RingReader>>,
    pub(crate) io: IoHandle,
    pub(crate) shard_threads: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) shard_thread_handles: Mutex<Vec<Thread>>,
    pub(crate) lifecycle: Mutex<Lifecycle>,
    /// Signalled when `lifecycle` becomes `Closed`.
    pub(crate) closed: Condvar,
    /// Index into the shutdown stages of the stage the closer is in.
    pub(crate) stage: AtomicU8,
}

impl BusShared {
    /// The state of a bus about to start its shard threads.
    pub(crate) fn new(
        config: Config,
        nonce: u64,
        io: IoHandle,
        next_sequences: &[u64],
        inboxes: Vec<Sender<RingReader>>,
    ) -> BusShared {
        static NEXT_BUS_ID: AtomicU64 = AtomicU64::new(1);
        let num_shards = next_sequences.len() as u32;
        BusShared {
            id: NEXT_BUS_ID.fetch_add(1, Ordering::Relaxed),
            epoch: Epoch::new(),
            signals: Signals::default(),
            barrier: Barrier::detect(),
            num_shards,
            nonce,
            shard_states: next_sequences.iter().map(|&n| ShardState::new(n)).collect(),
            registry: Mutex::new(ProducerRegistry {
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
        }
    }

    /// Registers `slot` and gives it one ring per shard, whose reading ends go to the
    /// shard threads. A bus that is closing registers it without rings: the producer is
    /// born closed, and its refusals are still counted.
    pub(crate) fn register_producer(&self, slot: &Arc<ProducerSlot>) -> Vec<RingWriter> {
        let mut writers = Vec::with_capacity(self.inboxes.len());
        // Under the registry lock: shutdown marks the registry closed under the same lock
        // before it stops the shards, so a ring sent here reaches its shard before the
        // shard's final drain — or the producer is born closed.
        let mut registry = self.registry.lock();
        if !registry.closed {
            for inbox in &self.inboxes {
                let (writer, reader) = ring(self.config.ring_capacity_bytes);
                writers.push(writer);
                let _ = inbox.send(reader);
            }
        }
        registry.slots.push(Arc::clone(slot));
        writers
    }

    /// Folds a dropped producer's counters into the retired totals.
    pub(crate) fn retire_producer(&self, slot: &Arc<ProducerSlot>) {
        let mut registry = self.registry.lock();
        if let Some(i) = registry.slots.iter().position(|s| Arc::ptr_eq(s, slot)) {
            registry.slots.swap_remove(i);
            slot.counters.add_to(&mut registry.retired);
        }
    }

    /// Closes the registry: later producers are born closed. Returns the live slots.
    pub(crate) fn close_registry(&self) -> (u64, Vec<Arc<ProducerSlot>>) {
        let mut registry = self.registry.lock();
        registry.closed = true;
        let target = self.epoch.advance(true);
        self.barrier.heavy();
        (target, registry.slots.clone())
    }

    pub(crate) fn unpark_shards(&self) {
        for t in self.shard_thread_handles.lock().iter() {
            t.unpark();
        }
    }

    pub(crate) fn stats(&self) -> Stats {
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

    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
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
}

/// Test support: the shared state of a bus with no shard thread and no `Bus` handle, an
/// I/O thread over a no-op store, and each shard's link and ring inbox, so producers and
/// shard workers can be exercised one step at a time.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use crossbeam_channel::Receiver;

    use super::BusShared;
    use crate::config::settings::Config;
    use crate::io::{IdlePolicy, IoConfig, ShardLink, spawn_io_thread};
    use crate::write::ring::RingReader;

    /// The parts of a bus under test.
    pub(crate) struct Parts {
        pub(crate) bus: Arc<BusShared>,
        pub(crate) links: Vec<ShardLink>,
        pub(crate) inboxes: Vec<Receiver<RingReader>>,
    }

    pub(crate) fn bus_without_threads(config: Config) -> Parts {
        let shards = config.num_shards;
        let io_config = IoConfig {
            num_shards: shards as u32,
            adapter_timeout: config.adapter_timeout,
            retries: 0,
            backoff_initial: config.retry_backoff_initial,
            backoff_max: config.retry_backoff_max,
            idle: IdlePolicy::Sleep,
            max_inflight_per_shard: config.max_inflight_batches,
            jitter_seed: 1,
            core: None,
        };
        let adapter = Arc::new(corelane_adapters::NoopAdapter::new());
        let (io, links) = spawn_io_thread(io_config, adapter).unwrap();
        let (senders, inboxes): (Vec<_>, Vec<_>) = (0..shards)
            .map(|_| crossbeam_channel::unbounded::<RingReader>())
            .unzip();
        let bus = Arc::new(BusShared::new(config, 7, io, &vec![0; shards], senders));
        Parts {
            bus,
            links,
            inboxes,
        }
    }
}
