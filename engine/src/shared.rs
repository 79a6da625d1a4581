//! The state a bus shares with its producers and shard threads: the epoch, the signals
//! shard threads poll, the producer registry, per-shard state, and the I/O thread's
//! handle. It sits below every file that uses it and imports none of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::thread::Thread;
use std::time::Duration;

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

use crate::clock::Clock;
use crate::config::Config;
use crate::epoch::{Barrier, Epoch, ProducerPin};
use crate::error::{FlushError, ShutdownError};
use crate::io::IoHandle;
use crate::scale::ShardPhase;
use crate::scale::slots::SlotThreads;
use crate::scale::state::{MonitorSlot, ScalingState};
use crate::stats::{ProducerCounters, ProducerTotals, ShardState, Stats, StatsParts, Totals};
use crate::wake::ParkFlag;
use crate::write::ring::{RingReader, RingWriter, ring};
use crate::write::routing::BucketTable;

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

/// Every slot ever created (they are never removed), whether the bus still takes
/// producers, and the routing producers use now.
#[derive(Debug)]
pub(crate) struct ProducerRegistry {
    slots: Vec<Arc<ProducerSlot>>,
    closed: bool,
    pub(crate) routing: Arc<Routing>,
}

/// Where events go under one epoch: shards `0..active` take traffic.
#[derive(Debug)]
pub(crate) struct Routing {
    /// The epoch word this routing was published with.
    pub(crate) word: u64,
    /// Shards taking traffic: `0..active`.
    pub(crate) active: u32,
    /// Per shard id, how many times a thread was started for it: a producer's ring to a
    /// shard whose thread has since been replaced is stale.
    pub(crate) generations: Box<[u64]>,
    /// The bucket table of a scalable bus; `None` on a static one (multiply-shift).
    pub(crate) table: Option<Arc<BucketTable>>,
}

/// How to wake one shard thread: its park flag (shared with every producer's ring to
/// the shard, which reads it after each write), and its current thread.
#[derive(Debug, Default)]
pub(crate) struct ShardWake {
    pub(crate) flag: Arc<ParkFlag>,
    pub(crate) thread: Mutex<Option<Thread>>,
}

impl ShardWake {
    /// Unparks the shard thread (a no-op before it is spawned: it starts awake).
    #[cold]
    pub(crate) fn unpark(&self) {
        if let Some(thread) = &*self.thread.lock() {
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
    /// Shard ids the bus may use (`Config::shard_slots`): every per-shard table has
    /// this many entries.
    pub(crate) slots: u32,
    /// Shards taking traffic now: `0..active`.
    pub(crate) active: AtomicU32,
    pub(crate) nonce: u64,
    pub(crate) shard_states: Box<[ShardState]>,
    pub(crate) registry: Mutex<ProducerRegistry>,
    /// The newest slot of the registry's list (each links to the one before).
    slot_list: AtomicPtr<ProducerSlot>,
    /// Where new producers' rings go: one channel per shard id.
    pub(crate) inboxes: Vec<Sender<RingReader>>,
    pub(crate) io: IoHandle,
    /// Per shard id: its running thread, or what a retired one left for the next.
    pub(crate) threads: Mutex<SlotThreads>,
    /// Per shard: its park flag and thread, for producers that find it parked.
    pub(crate) wakes: Box<[ShardWake]>,
    /// Per shard id, the latest scale change in which it takes over keys from other
    /// shards (0: none); its thread watches its own entry (see `scale/`).
    pub(crate) gains: Box<[AtomicU64]>,
    /// The thread finishing a change whose caller's bound expired, if one was started.
    pub(crate) finisher: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Scale changes: the one in progress, the log, the next id (locked briefly).
    pub(crate) scaling: Mutex<ScalingState>,
    /// Held for the whole of a scale change: one at a time.
    pub(crate) change_lock: Mutex<()>,
    /// True from a change's publication until it completes.
    pub(crate) changing: AtomicBool,
    /// The bus's clock, for shard threads started later.
    pub(crate) clock: Clock,
    /// The scaling monitor thread, when a policy is set.
    pub(crate) monitor: MonitorSlot,
    pub(crate) lifecycle: Mutex<Lifecycle>,
    /// Signalled when `lifecycle` becomes `Closed`.
    pub(crate) closed: Condvar,
    /// Index into the shutdown stages of the stage the closer is in.
    pub(crate) stage: AtomicU8,
}

impl BusShared {
    /// The state of a bus about to start its shard threads: `next_sequences` has one
    /// entry per shard id, and shards `0..config.num_shards` take traffic.
    pub(crate) fn new(
        config: Config,
        nonce: u64,
        io: IoHandle,
        next_sequences: &[u64],
        inboxes: Vec<Sender<RingReader>>,
        clock: Clock,
    ) -> BusShared {
        static NEXT_BUS_ID: AtomicU64 = AtomicU64::new(1);
        let slots = next_sequences.len() as u32;
        let active = config.num_shards as u32;
        let epoch = Epoch::new();
        let routing = Routing {
            word: epoch.load(),
            active,
            generations: (0..slots).map(|s| u64::from(s < active)).collect(),
            table: config
                .is_scalable()
                .then(|| Arc::new(BucketTable::new(active))),
        };
        BusShared {
            id: NEXT_BUS_ID.fetch_add(1, Ordering::Relaxed),
            epoch,
            signals: Signals::default(),
            barrier: Barrier::detect(),
            slots,
            active: AtomicU32::new(active),
            nonce,
            shard_states: next_sequences
                .iter()
                .enumerate()
                .map(|(s, &n)| {
                    let phase = if (s as u32) < active {
                        ShardPhase::Active
                    } else {
                        ShardPhase::Unused
                    };
                    ShardState::new(n, phase)
                })
                .collect(),
            registry: Mutex::new(ProducerRegistry {
                slots: Vec::new(),
                closed: false,
                routing: Arc::new(routing),
            }),
            slot_list: AtomicPtr::new(std::ptr::null_mut()),
            inboxes,
            io,
            threads: Mutex::new(SlotThreads::new(slots as usize)),
            wakes: (0..slots).map(|_| ShardWake::default()).collect(),
            gains: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            finisher: Mutex::new(None),
            scaling: Mutex::new(ScalingState::default()),
            change_lock: Mutex::new(()),
            changing: AtomicBool::new(false),
            clock,
            monitor: MonitorSlot::default(),
            lifecycle: Mutex::new(Lifecycle::Running),
            closed: Condvar::new(),
            stage: AtomicU8::new(0),
            config,
        }
    }

    /// Registers a producer: a slot (a free one taken over, or a new one linked into the
    /// list) and one ring per active shard, whose reading ends go to the shard threads,
    /// with the routing they belong to. A bus that is closing gives no rings: the
    /// producer is born closed, and its refusals are still counted.
    pub(crate) fn register_producer(&self) -> (Arc<ProducerSlot>, Vec<RingWriter>, Arc<Routing>) {
        // Under the registry lock: shutdown marks the registry closed under the same lock
        // before it stops the shards, so a ring sent here reaches its shard before the
        // shard's final drain — or the producer is born closed. Scale changes publish
        // routing under it too, so the rings match the routing returned.
        let mut registry = self.registry.lock();
        let routing = Arc::clone(&registry.routing);
        let mut writers = Vec::with_capacity(routing.active as usize);
        if !registry.closed {
            for shard in 0..routing.active {
                writers.push(self.ring_to(shard));
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
                    counters: ProducerCounters::new(self.slots as usize),
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
        (slot, writers, routing)
    }

    /// A new ring to `shard`: its reading end goes to the shard's thread. Called with the
    /// registry lock held, for a shard that takes traffic under the published routing.
    pub(crate) fn ring_to(&self, shard: u32) -> RingWriter {
        let flag = Arc::clone(&self.wakes[shard as usize].flag);
        let (writer, reader) = ring(self.config.ring_capacity_bytes, flag);
        let _ = self.inboxes[shard as usize].send(reader);
        writer
    }

    /// The published routing and whether the registry is closed, for a producer that
    /// saw the epoch move; `refresh` runs with the registry lock held.
    pub(crate) fn with_routing<R>(&self, refresh: impl FnOnce(&Routing, bool) -> R) -> R {
        let registry = self.registry.lock();
        refresh(&registry.routing, registry.closed)
    }

    /// Publishes `routing` with a new epoch (under the registry lock, so producers that
    /// register meanwhile get rings for it) and runs the heavy barrier. Returns the
    /// epoch word, or `None` when the registry is closed (shutdown has begun).
    pub(crate) fn publish_routing(
        &self,
        build: impl FnOnce(&Routing, u64) -> Routing,
    ) -> Option<u64> {
        let mut registry = self.registry.lock();
        if registry.closed {
            return None;
        }
        let word = self.epoch.peek_next();
        let routing = build(&registry.routing, word);
        self.active.store(routing.active, Ordering::Release);
        registry.routing = Arc::new(routing);
        let published = self.epoch.advance(false);
        debug_assert_eq!(published, word);
        drop(registry);
        self.barrier.heavy();
        Some(word)
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
        for shard in 0..self.slots {
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

    /// The producer slots, live and free, for a coordinator that waits on their pins.
    pub(crate) fn producer_slots(&self) -> Vec<Arc<ProducerSlot>> {
        self.registry.lock().slots.clone()
    }

    /// Wakes every shard thread (flush, shutdown, a new producer's rings).
    pub(crate) fn unpark_shards(&self) {
        for wake in self.wakes.iter() {
            wake.unpark();
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut totals = ProducerTotals::new(self.slots as usize);
        let mut producers = 0;
        self.for_each_slot(|slot| {
            slot.counters.add_to(&mut totals);
            producers += usize::from(slot.in_use.load(Ordering::Relaxed));
        });
        let scaling = self.scaling_report();
        StatsParts {
            totals,
            producers,
            shard_states: &self.shard_states,
            io: &self.io,
            ring_capacity_bytes: self.config.ring_capacity_bytes,
            scaling,
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
            active: shards as u32,
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
        let bus = Arc::new(BusShared::new(
            config,
            7,
            io,
            &vec![0; shards],
            senders,
            crate::clock::Clock::new(),
        ));
        Parts {
            bus,
            links,
            inboxes,
        }
    }
}
