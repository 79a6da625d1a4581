//! The state a bus shares with its producers and shard threads: the epoch, the signals
//! shard threads poll, the producer registry, per-shard state, and the I/O thread's
//! handle. It sits below every file that uses it and imports none of them.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

use crate::config::Config;
use crate::epoch::{Barrier, Epoch, ProducerPin};
use crate::error::{FlushError, ShutdownError};
use crate::io::IoHandle;
use crate::stats::{ProducerCounters, ProducerTotals, ShardState, Stats, StatsParts, Totals};
use crate::wake::ParkFlag;
use crate::write::ring::{RingReader, RingWriter, ring};

/// Flags every shard thread polls: read-mostly, on a line of their own.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Signals {
    pub(crate) stop: AtomicBool,
    pub(crate) flush_ticket: AtomicU64,
}

/// A producer's registration: its epoch pin and its counters, shared with the bus.
///
/// Slots outlive their producers: a dropped producer's slot is marked free and the next
/// producer to register takes it over, counters and all (counters only grow, so sums
/// stay right). Slots are linked into a list that readers walk without a lock.
#[derive(Debug)]
pub(crate) struct ProducerSlot {
    pub(crate) pin: ProducerPin,
    pub(crate) counters: ProducerCounters,
    /// True while a producer owns the slot.
    in_use: AtomicBool,
    /// The slot created before this one; set before the slot is published, never changed.
    next: AtomicPtr<ProducerSlot>,
}

/// Every slot ever created (they are never removed), and whether the bus still takes
/// producers.
#[derive(Debug)]
pub(crate) struct ProducerRegistry {
    slots: Vec<Arc<ProducerSlot>>,
    closed: bool,
}

/// How to wake one shard thread: its park flag, and its thread once it is spawned.
#[derive(Debug, Default)]
pub(crate) struct ShardWake {
    pub(crate) flag: ParkFlag,
    pub(crate) thread: OnceLock<Thread>,
}

impl ShardWake {
    /// Unparks the shard thread (a no-op before it is spawned: it starts awake).
    #[cold]
    pub(crate) fn unpark(&self) {
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }
}

/// Where a bus is in its life.
#[derive(Debug)]
pub(crate) enum Lifecycle {
    Running,
    /// A closer thread is running the stages; callers wait on `closed` with their bounds.
    Closing,
    Closed(Box<Result<Stats, ShutdownError>>),
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
    /// The newest slot of the registry's list (each links to the one before).
    slot_list: AtomicPtr<ProducerSlot>,
    /// Where new producers' rings go: one channel per shard thread.
    pub(crate) inboxes: Vec<Sender<RingReader>>,
    pub(crate) io: IoHandle,
    pub(crate) shard_threads: Mutex<Vec<JoinHandle<()>>>,
    /// Per shard: its park flag and thread, for producers that find it parked.
    pub(crate) wakes: Box<[ShardWake]>,
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
                closed: false,
            }),
            slot_list: AtomicPtr::new(std::ptr::null_mut()),
            inboxes,
            io,
            shard_threads: Mutex::new(Vec::new()),
            wakes: (0..num_shards).map(|_| ShardWake::default()).collect(),
            lifecycle: Mutex::new(Lifecycle::Running),
            closed: Condvar::new(),
            stage: AtomicU8::new(0),
            config,
        }
    }

    /// Registers a producer: a slot (a free one taken over, or a new one linked into the
    /// list) and one ring per shard, whose reading ends go to the shard threads. A bus
    /// that is closing gives no rings: the producer is born closed, and its refusals are
    /// still counted.
    pub(crate) fn register_producer(&self) -> (Arc<ProducerSlot>, Vec<RingWriter>) {
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
        let free = registry.slots.iter().find(|s| {
            s.in_use
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
        let slot = match free {
            Some(slot) => Arc::clone(slot),
            None => {
                let slot = Arc::new(ProducerSlot {
                    pin: ProducerPin::new(),
                    counters: ProducerCounters::new(self.inboxes.len()),
                    in_use: AtomicBool::new(true),
                    next: AtomicPtr::new(self.slot_list.load(Ordering::Relaxed)),
                });
                // Published with release: a reader that finds it sees it whole.
                self.slot_list
                    .store(Arc::as_ptr(&slot).cast_mut(), Ordering::Release);
                registry.slots.push(Arc::clone(&slot));
                slot
            }
        };
        (slot, writers)
    }

    /// A dropped producer frees its slot for the next one (its counts stay in it).
    pub(crate) fn retire_producer(&self, slot: &ProducerSlot) {
        slot.in_use.store(false, Ordering::Release);
    }

    /// Calls `f` with every slot, without taking the registry lock.
    fn for_each_slot(&self, mut f: impl FnMut(&ProducerSlot)) {
        let mut next = self.slot_list.load(Ordering::Acquire);
        while !next.is_null() {
            // SAFETY: every pointer in the list is `Arc::as_ptr` of a slot that
            // `registry.slots` holds until this `BusShared` is dropped (slots are never
            // removed), and the slot was fully built before the release store that
            // published it; so it is valid for as long as `&self` is.
            let slot = unsafe { &*next };
            f(slot);
            next = slot.next.load(Ordering::Acquire);
        }
    }

    /// The four totals, lock-free and allocation-free: the I/O thread's counters first,
    /// then the producers', so `accepted` is never below `written + failed`.
    pub(crate) fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for shard in 0..self.num_shards {
            let (written, failed) = self.io.counters(shard).finished();
            totals.written += written;
            totals.failed += failed;
        }
        self.for_each_slot(|slot| {
            let c = &slot.counters;
            totals.accepted += c
                .accepted
                .iter()
                .map(|a| a.load(Ordering::Acquire))
                .sum::<u64>();
            totals.refused += c
                .refused
                .iter()
                .map(|r| r.load(Ordering::Acquire))
                .sum::<u64>();
        });
        totals
    }

    /// Closes the registry: later producers are born closed. Returns the live slots.
    pub(crate) fn close_registry(&self) -> (u64, Vec<Arc<ProducerSlot>>) {
        let mut registry = self.registry.lock();
        registry.closed = true;
        let target = self.epoch.advance(true);
        self.barrier.heavy();
        (target, registry.slots.clone())
    }

    /// Wakes every shard thread (flush, shutdown, a new producer's rings).
    pub(crate) fn unpark_shards(&self) {
        for wake in self.wakes.iter() {
            wake.unpark();
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut totals = ProducerTotals::new(self.num_shards as usize);
        let mut producers = 0;
        self.for_each_slot(|slot| {
            slot.counters.add_to(&mut totals);
            producers += usize::from(slot.in_use.load(Ordering::Relaxed));
        });
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
            clock: crate::clock::Clock::new(),
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
