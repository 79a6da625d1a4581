//! Producers: the only writers of their rings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Backpressure;
use crate::epoch::{Barrier, Epoch, ProducerPin};
use crate::error::{IngestError, InvalidEvent, RefusalReason};
use crate::shared::{BusShared, ProducerSlot, Routing};
use crate::stats::bump;
use crate::wait::Ladder;
use crate::write::event::{AsRawEvent, Event, validate_json};
use crate::write::ring::RingWriter;
use crate::write::routing::{BucketTable, Route, routing_hash, shard_for_hash};

/// The sleep step of a producer waiting for room under `Backpressure::Block`.
const ROOM_SLEEP: Duration = Duration::from_micros(20);

/// Leaves the epoch pin when dropped, on return or unwind alike.
struct PinGuard<'a> {
    pin: &'a ProducerPin,
    word: u64,
}

impl Drop for PinGuard<'_> {
    fn drop(&mut self) {
        self.pin.exit(self.word);
    }
}

/// What an accepted ingest tells the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The shard the event went to.
    pub shard: u32,
    /// How many events this producer had sent to that shard before this one: events of
    /// one producer to one shard are stored in this order.
    pub producer_seq: u64,
}

/// The outcome of an `ingest_batch`: how many went in, and each refusal with its index.
#[derive(Debug)]
pub struct BatchOutcome<E> {
    /// Events accepted.
    pub accepted: usize,
    /// Refused events with their position in the input, in input order.
    pub refused: Vec<(usize, IngestError<E>)>,
}

/// Why the fast path refused, before the event is attached. Kept small: it travels in
/// the fast path's return value.
#[derive(Debug)]
enum Refusal {
    Full {
        shard: u32,
    },
    Dropped {
        shard: u32,
    },
    SampledOut {
        shard: u32,
    },
    TimedOut {
        shard: u32,
        waited: Duration,
    },
    ShuttingDown,
    TooLarge {
        len: usize,
        max: usize,
    },
    NoSuchShard {
        shard: u32,
        num_shards: u32,
    },
    /// Not a refusal: a scale change was published while the push waited for room, and
    /// the event must be routed again under the new table (see `push_in_pin`).
    Moved,
}

impl Refusal {
    fn reason(&self) -> RefusalReason {
        match self {
            Refusal::Full { .. } => RefusalReason::Full,
            Refusal::Dropped { .. } => RefusalReason::Dropped,
            Refusal::SampledOut { .. } => RefusalReason::SampledOut,
            Refusal::TimedOut { .. } => RefusalReason::TimedOut,
            Refusal::ShuttingDown => RefusalReason::ShuttingDown,
            Refusal::TooLarge { .. } => RefusalReason::TooLarge,
            Refusal::NoSuchShard { .. } => RefusalReason::Invalid,
            // Never counted: `push_in_pin` routes the event again.
            Refusal::Moved => RefusalReason::ShuttingDown,
        }
    }

    fn attach<E>(self, event: E) -> IngestError<E> {
        match self {
            Refusal::Full { shard } => IngestError::Full { event, shard },
            Refusal::Dropped { shard } => IngestError::Dropped { event, shard },
            Refusal::SampledOut { shard } => IngestError::SampledOut { event, shard },
            Refusal::TimedOut { shard, waited } => IngestError::TimedOut {
                event,
                shard,
                waited,
            },
            Refusal::ShuttingDown | Refusal::Moved => IngestError::ShuttingDown(event),
            Refusal::TooLarge { len, max } => IngestError::TooLarge { event, len, max },
            Refusal::NoSuchShard { shard, num_shards } => IngestError::Invalid {
                event,
                error: InvalidEvent::NoSuchShard { shard, num_shards },
            },
        }
    }
}

/// Puts events into the bus: owns one ring per shard and is their only writer.
///
/// `Send` but not `Sync`: move it to the thread that produces, or use
/// [`Bus::ingest`](crate::Bus::ingest), which keeps one per thread. Events of one
/// producer to one shard are stored in the order they were ingested.
///
/// An ingest copies the payload once into the ring and allocates nothing. It costs a
/// relaxed store and a compiler fence to announce itself, one load of the bus epoch, the
/// copy, and one release store to publish the record.
///
/// Dropping a producer retires it: the shard threads drain what it wrote, then free its
/// rings.
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<corelane::Producer>();
/// ```
pub struct Producer {
    /// One ring per shard taking traffic under `routing`.
    rings: Vec<RingWriter>,
    /// Per ring, the generation of the shard thread it was made for.
    ring_gens: Vec<u64>,
    /// Per shard id, the slot's accepted count when this producer took it.
    seq_base: Box<[u64]>,
    slot: Arc<ProducerSlot>,
    bus: Arc<BusShared>,
    seen_epoch: u64,
    /// The epoch word of the routing the rings follow; an ingest that sees another
    /// word takes the slow path (a scale change, or shutdown).
    routed_epoch: u64,
    /// Shards taking traffic: `0..num_shards`.
    num_shards: u32,
    /// The bucket table of a scalable bus.
    table: Option<Arc<BucketTable>>,
    max_event_bytes: usize,
    backpressure: Backpressure,
    high_water_bytes: usize,
    barrier: Barrier,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("bus", &self.bus.id)
            .field("shards", &self.num_shards)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Registers a new producer with `bus`: a slot in its registry and one ring per shard.
    pub(crate) fn register(bus: &Arc<BusShared>) -> Producer {
        let (slot, rings, routing) = bus.register_producer();
        Producer::new(Arc::clone(bus), slot, rings, &routing)
    }

    fn new(
        bus: Arc<BusShared>,
        slot: Arc<ProducerSlot>,
        rings: Vec<RingWriter>,
        routing: &Routing,
    ) -> Self {
        let config = &bus.config;
        let high_water_bytes = match config.backpressure {
            Backpressure::Sample { high_water_pct, .. } => {
                config.ring_capacity_bytes * usize::from(high_water_pct) / 100
            }
            _ => usize::MAX,
        };
        // A slot taken over from a dropped producer keeps its counts: receipts number
        // this producer's events from where the slot stood.
        let seq_base = slot
            .counters
            .accepted
            .iter()
            .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            .collect();
        Producer {
            seq_base,
            ring_gens: routing.generations[..rings.len()].to_vec(),
            rings,
            seen_epoch: routing.word,
            // A producer born closed has no rings, and the closed epoch differs from
            // the routing's word: its first ingest takes the slow path and is refused.
            routed_epoch: routing.word,
            num_shards: routing.active,
            table: routing.table.clone(),
            max_event_bytes: config.max_event_bytes,
            backpressure: config.backpressure,
            high_water_bytes,
            barrier: bus.barrier,
            slot,
            bus,
        }
    }

    /// The id of the bus this producer writes to.
    pub(crate) fn bus_id(&self) -> u64 {
        self.bus.id
    }

    /// True once the bus is closed: every ingest would be refused.
    pub(crate) fn bus_closed(&self) -> bool {
        Epoch::is_closed(self.bus.epoch.load())
    }

    /// Ingests a JSON [`Event`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corelane::{Bus, Event};
    /// use corelane::adapters::MemoryAdapter;
    ///
    /// let bus = Bus::builder().num_shards(1).build(MemoryAdapter::new()).unwrap();
    /// let mut producer = bus.producer();
    /// let receipt = producer.ingest(Event::from_str(r#"{"px":1}"#).unwrap()).unwrap();
    /// assert_eq!(receipt.shard, 0);
    /// ```
    #[inline]
    pub fn ingest(&mut self, event: Event) -> Result<Receipt, IngestError<Event>> {
        self.ingest_raw(event)
    }

    /// Ingests raw bytes (or anything [`AsRawEvent`]) without validation.
    ///
    /// # Examples
    ///
    /// ```
    /// use corelane::{Bus, IngestError, RawEvent};
    /// use corelane::adapters::MemoryAdapter;
    ///
    /// let bus = Bus::builder().num_shards(4).build(MemoryAdapter::new()).unwrap();
    /// let mut producer = bus.producer();
    /// producer.ingest_raw(b"tick 1").unwrap();
    /// producer.ingest_raw(RawEvent::new(&b"tick 2"[..]).with_key(b"AAPL")).unwrap();
    /// match producer.ingest_raw(RawEvent::new(vec![0u8; 8]).to_shard(9)) {
    ///     Err(IngestError::Invalid { event, .. }) => assert_eq!(event.into_payload().len(), 8),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    #[inline]
    pub fn ingest_raw<E: AsRawEvent>(&mut self, event: E) -> Result<Receipt, IngestError<E>> {
        match self.ingest_bytes(event.payload(), event.route()) {
            Ok(receipt) => Ok(receipt),
            Err(refusal) => Err(refusal.attach(event)),
        }
    }

    /// Validates `json` as one JSON value and ingests it; invalid input is refused as
    /// [`IngestError::Invalid`] (and counted) with the line and column of the problem.
    pub fn ingest_json<'a>(&mut self, json: &'a [u8]) -> Result<Receipt, IngestError<&'a [u8]>> {
        if let Err(e) = validate_json(json) {
            bump(&self.slot.counters.refused[RefusalReason::Invalid.index()]);
            return Err(IngestError::Invalid {
                event: json,
                error: InvalidEvent::Json(e),
            });
        }
        self.ingest_raw(json)
    }

    /// Ingests several events, announcing this producer to the epoch once for all of
    /// them. Refused events come back with their index; the others are accepted.
    pub fn ingest_batch<E: AsRawEvent, I: IntoIterator<Item = E>>(
        &mut self,
        events: I,
    ) -> BatchOutcome<E> {
        let mut outcome = BatchOutcome {
            accepted: 0,
            refused: Vec::new(),
        };
        let slot = Arc::clone(&self.slot);
        let mut word = slot
            .pin
            .enter(&self.bus.epoch, &mut self.seen_epoch, self.barrier);
        // The caller's iterator and `payload()` run inside the pin: if one panics, the
        // guard still leaves it, so shutdown does not wait for a producer that is gone.
        let _pinned = PinGuard {
            pin: &slot.pin,
            word,
        };
        for (i, event) in events.into_iter().enumerate() {
            // A scale change published during a long batch is taken up between events,
            // so the change does not wait for the whole batch. (Shutdown does wait: a
            // batch begun before the close completes.)
            let now = self.bus.epoch.load();
            if now != word && !Epoch::is_closed(now) {
                word = slot
                    .pin
                    .enter(&self.bus.epoch, &mut self.seen_epoch, self.barrier);
            }
            let result = self.push_in_pin(&mut word, event.payload(), event.route());
            match result {
                Ok(_) => outcome.accepted += 1,
                Err(refusal) => {
                    let refusal = self.refuse(refusal);
                    outcome.refused.push((i, refusal.attach(event)));
                }
            }
        }
        outcome
    }

    #[inline]
    fn ingest_bytes(&mut self, payload: &[u8], route: Route) -> Result<Receipt, Refusal> {
        let mut word = self
            .slot
            .pin
            .enter(&self.bus.epoch, &mut self.seen_epoch, self.barrier);
        let result = self.push_in_pin(&mut word, payload, route);
        self.slot.pin.exit(word);
        result.map_err(|r| self.refuse(r))
    }

    /// The push, inside the pin, under the routing of epoch `*word`: on a moved epoch
    /// the routing is taken up first (or the ingest refused, at shutdown). A push that
    /// waits for room and sees a scale change published meanwhile announces the new
    /// epoch on the pin and routes the event again — the change waits for this
    /// producer, and the shard the event was headed for may be holding its output
    /// until the change completes.
    #[inline]
    fn push_in_pin(
        &mut self,
        word: &mut u64,
        payload: &[u8],
        route: Route,
    ) -> Result<Receipt, Refusal> {
        loop {
            if *word != self.routed_epoch && !self.reroute(*word) {
                return Err(Refusal::ShuttingDown);
            }
            match self.push(payload, route) {
                Err(Refusal::Moved) => {
                    *word =
                        self.slot
                            .pin
                            .enter(&self.bus.epoch, &mut self.seen_epoch, self.barrier);
                }
                other => return other,
            }
        }
    }

    /// The epoch moved: shutdown (false: refuse), or a scale change, whose routing this
    /// producer takes up before it pushes (true). Runs inside the epoch pin.
    #[cold]
    #[inline(never)]
    fn reroute(&mut self, word: u64) -> bool {
        if Epoch::is_closed(word) {
            return false;
        }
        let bus = Arc::clone(&self.bus);
        bus.with_routing(|routing, closed| {
            if closed {
                return false;
            }
            let active = routing.active as usize;
            self.rings.truncate(active);
            self.ring_gens.truncate(active);
            for shard in 0..active {
                let generation = routing.generations[shard];
                if shard == self.rings.len() {
                    self.rings.push(bus.ring_to(shard as u32));
                    self.ring_gens.push(generation);
                } else if self.ring_gens[shard] != generation {
                    // The shard's thread was replaced since this ring was made.
                    self.rings[shard] = bus.ring_to(shard as u32);
                    self.ring_gens[shard] = generation;
                }
            }
            self.num_shards = routing.active;
            self.table = routing.table.clone();
            self.routed_epoch = routing.word;
            true
        })
    }

    #[cold]
    fn refuse(&self, refusal: Refusal) -> Refusal {
        bump(&self.slot.counters.refused[refusal.reason().index()]);
        refusal
    }

    /// The ring push, inside the epoch pin.
    #[inline]
    fn push(&mut self, payload: &[u8], route: Route) -> Result<Receipt, Refusal> {
        if payload.len() > self.max_event_bytes {
            return Err(Refusal::TooLarge {
                len: payload.len(),
                max: self.max_event_bytes,
            });
        }
        let shard = match route {
            Route::Payload if self.num_shards == 1 => 0,
            Route::Payload => self.shard_of(routing_hash(payload)),
            Route::Hash(h) => self.shard_of(h),
            Route::Shard(s) if s < self.num_shards => s,
            Route::Shard(shard) => {
                return Err(Refusal::NoSuchShard {
                    shard,
                    num_shards: self.num_shards,
                });
            }
        };
        if let Backpressure::Sample { keep_one_in, .. } = self.backpressure {
            self.sample(shard, keep_one_in)?;
        }
        let ring = &mut self.rings[shard as usize];
        let parked = if ring.try_write(payload) {
            // One load of a read-mostly line through the ring's own pointer.
            ring.shard_may_be_parked(self.barrier)
        } else {
            self.wait_for_room(shard, payload)?;
            self.rings[shard as usize].shard_may_be_parked(self.barrier)
        };
        if parked {
            // The unpark only when the shard had gone idle.
            self.bus.wakes[shard as usize].unpark();
        }
        let accepted = &self.slot.counters.accepted[shard as usize];
        let count = accepted.load(std::sync::atomic::Ordering::Relaxed);
        bump(accepted);
        let producer_seq = count - self.seq_base[shard as usize];
        Ok(Receipt {
            shard,
            producer_seq,
        })
    }

    /// The shard a routing hash maps to: multiply-shift on a static bus, the bucket
    /// table on a scalable one.
    #[inline(always)]
    fn shard_of(&self, hash: u64) -> u32 {
        match &self.table {
            None => shard_for_hash(hash, self.num_shards),
            Some(table) => table.shard(hash),
        }
    }

    /// `Backpressure::Sample`: above the high-water mark, keep exactly one in `n`.
    #[inline]
    fn sample(&mut self, shard: u32, n: u32) -> Result<(), Refusal> {
        let ring = &mut self.rings[shard as usize];
        if ring.fill_bytes() < self.high_water_bytes {
            return Ok(());
        }
        let seen = ring.sample_count;
        ring.sample_count = if seen + 1 == n { 0 } else { seen + 1 };
        if seen == 0 {
            Ok(())
        } else {
            Err(Refusal::SampledOut { shard })
        }
    }

    /// The ring was full: apply the backpressure policy.
    #[cold]
    fn wait_for_room(&mut self, shard: u32, payload: &[u8]) -> Result<(), Refusal> {
        match self.backpressure {
            Backpressure::Fail | Backpressure::Sample { .. } => Err(Refusal::Full { shard }),
            Backpressure::DropNewest => Err(Refusal::Dropped { shard }),
            Backpressure::Block { timeout } => {
                let start = Instant::now();
                // Room appears as fast as the shard drains: spin briefly, then sleep in
                // short steps so a long wait costs little CPU.
                let mut ladder = Ladder::new(64, 192, ROOM_SLEEP, ROOM_SLEEP);
                loop {
                    if self.rings[shard as usize].try_write(payload) {
                        return Ok(());
                    }
                    // The shard keeps draining while we wait, and shutdown waits for us;
                    // leave as soon as the bus closes instead of waiting out the timeout.
                    // A scale change waits for us too: route the event again under it.
                    let now = self.bus.epoch.load();
                    if Epoch::is_closed(now) {
                        return Err(Refusal::ShuttingDown);
                    }
                    if now != self.routed_epoch {
                        return Err(Refusal::Moved);
                    }
                    let waited = start.elapsed();
                    if waited >= timeout {
                        return Err(Refusal::TimedOut { shard, waited });
                    }
                    ladder.wait(Some(timeout - waited));
                }
            }
        }
    }

    /// Bytes waiting in the ring to `shard` (0 when the shard does not exist).
    pub fn ring_fill_bytes(&self, shard: u32) -> usize {
        self.rings
            .get(shard as usize)
            .map_or(0, RingWriter::fill_bytes)
    }

    /// Capacity of each of this producer's rings, in bytes.
    pub fn ring_capacity_bytes(&self) -> usize {
        self.rings.first().map_or(0, RingWriter::capacity)
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.bus.retire_producer(&self.slot);
    }
}

#[cfg(test)]
#[path = "producer_tests.rs"]
mod tests;
