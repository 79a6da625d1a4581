//! A shard thread: drains its rings, numbers and stamps events, seals batches.
//!
//! Each pass visits every ring once (starting one further each pass, so no producer is
//! always first), moves the complete records it finds into the open batch, stamps each
//! with the next sequence number and an insertion timestamp, and seals the batch when it
//! reaches `max_events` or `max_bytes`, or at the end of the pass once its oldest event is
//! `max_delay` old. Sealed batches go to the I/O thread without blocking: when the
//! hand-off is full or every batch buffer is in flight, the shard stops draining and its
//! rings fill, which is how a slow backend turns into backpressure at the producers.
//! Nothing here waits on a backend.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use corelane_io::Batch;

use crossbeam_channel::Receiver;

use crate::clock::Clock;
use crate::io::{ShardLink, ShardMsg};
use crate::scale::slots::ShardRemains;
use crate::shard::pinning::{Pinning, pin_current};
use crate::shard::seal::SealRules;
use crate::shared::BusShared;
use crate::wait::{Ladder, Step};
use crate::write::ring::RingReader;

/// The longest a shard sleeps while something it cannot finish alone is pending.
const PENDING_RECHECK: Duration = Duration::from_millis(1);

/// Everything a shard thread starts with.
pub(crate) struct ShardSetup {
    pub(crate) shard: u32,
    pub(crate) link: ShardLink,
    pub(crate) inbox: Receiver<RingReader>,
    pub(crate) next_sequence: u64,
    pub(crate) last_ts: u64,
    pub(crate) core: Option<usize>,
    pub(crate) clock: Clock,
    pub(crate) bus: Arc<BusShared>,
    /// A thread started by a scale change: when it takes over keys, it holds its output
    /// until change `hold`'s barrier.
    pub(crate) started_by_change: Option<StartedBy>,
    /// The shard's gain word when the thread was spawned. Read by the spawner, not by
    /// the thread: a thread that starts late (after its change completed and a later
    /// one published this shard's gain) must still see that later gain as new.
    pub(crate) seen_gain: u64,
}

/// How a thread started by a scale change opens its queue at the I/O thread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StartedBy {
    /// The change, when this shard takes over keys in it.
    pub(crate) hold: Option<u64>,
}

struct ShardWorker {
    shard: u32,
    link: ShardLink,
    inbox: Receiver<RingReader>,
    bus: Arc<BusShared>,
    rings: Vec<RingReader>,
    /// Ring visited first in the next pass.
    next_ring: usize,
    open: Option<Batch>,
    opened_at: Option<Instant>,
    /// When the last drain pass read the clock.
    pass_started: Instant,
    /// An empty batch buffer kept for the next batch.
    spare: Option<Batch>,
    allocated: usize,
    outbox: VecDeque<ShardMsg>,
    next_sequence: u64,
    last_ts: u64,
    nonce: u64,
    rules: SealRules,
    max_inflight: usize,
    clock: Clock,
    /// Highest flush ticket seen, and whether its marker is still owed.
    flush_ticket: u64,
    flush_owed: bool,
    ring_fill_peak: u64,
    /// The last value of this shard's gain word seen (see `scale/`).
    seen_gain: u64,
    /// Time spent in passes that moved events, published for the scaling monitor.
    busy_ns: u64,
    /// Whether the previous pass moved events, and when it started.
    last_pass: Option<(bool, Instant)>,
}

impl ShardSetup {
    /// What the setup continues from, for a thread that never ran.
    pub(crate) fn into_remains(self) -> ShardRemains {
        ShardRemains {
            link: self.link,
            inbox: self.inbox,
            next_sequence: self.next_sequence,
            last_ts: self.last_ts,
        }
    }
}

/// Runs a shard thread to completion and returns what the next thread of its id needs.
pub(crate) fn run_shard(setup: ShardSetup) -> ShardRemains {
    let pinning = pin_current(setup.core, setup.shard);
    let state = &setup.bus.shard_states[setup.shard as usize];
    state.pinning.store(pinning.encode(), Ordering::Relaxed);
    debug_assert!(matches!(
        Pinning::decode(state.pinning.load(Ordering::Relaxed)),
        Pinning::Core(_) | Pinning::Failed(_) | Pinning::Disabled
    ));
    let mut worker = ShardWorker::new(setup);
    worker.run();
    worker.into_remains()
}

impl ShardWorker {
    /// A worker from its setup: the shard's link to the I/O thread, the inbox of new
    /// producers' rings, where numbering continues, and the bus state it reads (signals,
    /// its published state, the configuration). It starts no thread, so tests drive it
    /// pass by pass.
    fn new(setup: ShardSetup) -> ShardWorker {
        let config = &setup.bus.config;
        let mut outbox = VecDeque::with_capacity(config.max_inflight_batches + 8);
        if let Some(StartedBy { hold: Some(change) }) = setup.started_by_change {
            outbox.push_back(ShardMsg::Await(change));
        }
        ShardWorker {
            shard: setup.shard,
            rules: SealRules::new(config.batch),
            max_inflight: config.max_inflight_batches,
            nonce: setup.bus.nonce,
            outbox,
            link: setup.link,
            inbox: setup.inbox,
            rings: Vec::new(),
            next_ring: 0,
            open: None,
            opened_at: None,
            pass_started: Instant::now(),
            spare: None,
            allocated: 0,
            next_sequence: setup.next_sequence,
            last_ts: setup.last_ts,
            clock: setup.clock,
            flush_ticket: 0,
            flush_owed: false,
            ring_fill_peak: 0,
            seen_gain: setup.seen_gain,
            busy_ns: 0,
            last_pass: None,
            bus: setup.bus,
        }
    }

    fn into_remains(self) -> ShardRemains {
        ShardRemains {
            link: self.link,
            inbox: self.inbox,
            next_sequence: self.next_sequence,
            last_ts: self.last_ts,
        }
    }

    /// True once shutdown, or the retirement of this shard, was requested.
    fn stopping(&self) -> bool {
        self.bus.signals.stop.load(Ordering::Acquire)
            || self.bus.shard_states[self.shard as usize]
                .retire
                .load(Ordering::Acquire)
    }

    /// A scale change in which this shard takes over keys was published since the last
    /// look: everything drained so far is sealed and an `Await` marker queued, so the
    /// events drained from here on are written only after the change's barrier. (Seeing
    /// only the latest of several such changes is enough: each completes before the
    /// next is published.)
    #[cold]
    fn note_gain(&mut self, change: u64) {
        self.seen_gain = change;
        self.seal();
        self.outbox.push_back(ShardMsg::Await(change));
    }
}

impl ShardWorker {
    fn run(&mut self) {
        let config = &self.bus.config;
        let mut idler = Ladder::for_shard(config.wait_strategy, config.park_after);
        loop {
            self.attach_rings();
            self.check_flush();
            let moved = self.drain_pass();
            self.seal_if_due();
            self.complete_flush();
            self.send_outbox();
            if moved > 0 {
                idler.reset();
                continue;
            }
            if self.stopping() {
                break;
            }
            self.idle(&mut idler);
        }
        self.drain_to_end(&mut idler);
        self.bus.shard_states[self.shard as usize]
            .exited
            .store(true, Ordering::Release);
    }

    /// After the stop signal: no producer can write any more (the coordinator waited for
    /// every one to leave its ingest), so drain every ring to empty, seal, hand off, and
    /// tell the I/O thread this shard is done.
    fn drain_to_end(&mut self, idler: &mut Ladder) {
        loop {
            self.attach_rings();
            self.check_flush();
            let moved = self.drain_pass();
            let rings_empty = self.rings.iter().all(|r| r.readable() == 0);
            if rings_empty {
                self.seal();
            }
            self.complete_flush();
            self.send_outbox();
            if rings_empty && self.open.is_none() && self.outbox.is_empty() && !self.flush_owed {
                break;
            }
            if self.link.io_exited() {
                // Cannot happen while this thread counts as running; never spin forever.
                tracing::error!(shard = self.shard, "corelane I/O thread exited first");
                break;
            }
            if moved == 0 {
                idler.wait(Some(Duration::from_millis(1)));
            } else {
                idler.reset();
            }
        }
        self.rings.clear();
        let mut msg = ShardMsg::Closed;
        while let Err(back) = self.link.try_submit(msg) {
            msg = back;
            if self.link.io_exited() {
                break;
            }
            idler.wait(Some(Duration::from_millis(1)));
        }
    }

    /// One idle step: spin, yield, or — when nothing at all is pending — park until a
    /// producer, a flush or shutdown wakes the thread. With work pending that only time
    /// or the I/O thread moves on (an open batch waiting for its age, batches the I/O
    /// thread has not taken yet, every buffer in flight), it sleeps until the next thing
    /// is due, at most `PENDING_RECHECK`.
    fn idle(&mut self, idler: &mut Ladder) {
        match idler.next_step() {
            Step::Park if self.nothing_pending() => self.park(),
            Step::Park => {
                let cap = self.time_to_seal().unwrap_or(PENDING_RECHECK);
                Ladder::take(Step::Park, Some(cap.min(PENDING_RECHECK)));
            }
            step => Ladder::take(step, self.time_to_seal()),
        }
    }

    /// True when the shard has nothing to do until new events, a flush or a stop arrive.
    fn nothing_pending(&self) -> bool {
        self.open.as_ref().is_none_or(|b| b.is_empty())
            && self.outbox.is_empty()
            && !self.flush_owed
            && self.rings.iter().all(|r| r.readable() == 0)
    }

    /// Parks until unparked, following the protocol of `wake.rs`: announce, barrier, one
    /// last look for work, then park.
    fn park(&mut self) {
        let bus = Arc::clone(&self.bus);
        let wake = &bus.wakes[self.shard as usize];
        wake.flag.announce(bus.barrier);
        self.attach_rings();
        let quiet = self.rings.iter().all(|r| r.readable() == 0)
            && self.bus.signals.flush_ticket.load(Ordering::Acquire) <= self.flush_ticket
            && !self.stopping();
        if quiet {
            std::thread::park();
        }
        wake.flag.clear();
    }

    /// Takes rings of newly registered producers.
    fn attach_rings(&mut self) {
        let before = self.rings.len();
        while let Ok(ring) = self.inbox.try_recv() {
            self.rings.push(ring);
        }
        if self.rings.len() != before {
            self.publish_ring_count();
        }
    }

    /// Frees rings whose producer is gone and which are empty.
    fn retire_finished_rings(&mut self) {
        self.rings.retain(|r| !r.is_finished());
        self.publish_ring_count();
    }

    fn publish_ring_count(&self) {
        self.bus.shard_states[self.shard as usize]
            .rings
            .store(self.rings.len() as u64, Ordering::Relaxed);
    }

    /// A flush was requested: note how far each ring must be drained to cover every
    /// event accepted before the request.
    fn check_flush(&mut self) {
        let ticket = self.bus.signals.flush_ticket.load(Ordering::Acquire);
        if ticket <= self.flush_ticket {
            return;
        }
        // Rings registered before the request are in the inbox by now: registration
        // happens before a producer's first ingest.
        self.attach_rings();
        for ring in &mut self.rings {
            ring.flush_target = ring.consumed + ring.readable() as u64;
        }
        self.flush_ticket = ticket;
        self.flush_owed = true;
    }

    /// Once every ring is drained past its flush target, seals and queues the marker.
    fn complete_flush(&mut self) {
        if !self.flush_owed || self.rings.iter().any(|r| r.consumed < r.flush_target) {
            return;
        }
        self.seal();
        // A later ticket covers an earlier one: replace a marker still waiting here.
        if let Some(ShardMsg::FlushMarker(t)) = self.outbox.back_mut() {
            *t = self.flush_ticket;
        } else {
            self.outbox
                .push_back(ShardMsg::FlushMarker(self.flush_ticket));
        }
        self.flush_owed = false;
    }

    /// One visit of every ring. Returns the number of events moved.
    fn drain_pass(&mut self) -> usize {
        let count = self.rings.len();
        if count == 0 {
            if self.opened_at.is_some() {
                self.pass_started = Instant::now();
            }
            return 0;
        }
        let (now, now_ns) = self.clock.now();
        self.account_busy(now);
        let start = self.next_ring % count;
        self.next_ring = start + 1;
        let mut moved = 0;
        let mut fill = 0usize;
        let mut finished = false;
        for i in 0..count {
            let index = (start + i) % count;
            let readable = self.rings[index].readable();
            fill = fill.max(readable);
            if readable == 0 {
                // A ring whose producer is gone is freed on the pass that finds it
                // empty, so rings of exited threads never pile up under traffic.
                finished |= self.rings[index].is_finished();
                continue;
            }
            // Read after the ring index that made these records visible: a record
            // routed by a newer table implies the gain word published before it.
            let gain = self.bus.gains[self.shard as usize].load(Ordering::Acquire);
            if gain != self.seen_gain {
                self.note_gain(gain);
            }
            if self.open.is_none() && !self.open_batch() {
                break; // every buffer in flight: leave the records in the rings
            }
            let batch = self.open.as_mut().expect("opened above");
            let was_empty = batch.is_empty();
            let rules = self.rules;
            let last_ts = &mut self.last_ts;
            let mut no_room = false;
            let took = self.rings[index].drain(readable, |first, second| {
                let len = first.len() + second.len();
                if !rules.has_room(batch.len(), batch.payload_bytes(), len) {
                    no_room = true;
                    return false;
                }
                let ts = now_ns.max(*last_ts + 1);
                *last_ts = ts;
                batch.push_parts(ts, first, second);
                true
            });
            moved += took;
            if was_empty && took > 0 {
                self.opened_at = Some(now);
            }
            if no_room || rules.is_full(batch.len(), batch.payload_bytes()) {
                self.seal();
            }
        }
        self.pass_started = now;
        self.last_pass = Some((moved > 0, now));
        self.publish_fill(fill as u64);
        if finished {
            self.retire_finished_rings();
        }
        moved
    }

    /// Adds the previous pass's time to the busy total when it moved events.
    fn account_busy(&mut self, now: Instant) {
        if let Some((true, at)) = self.last_pass {
            self.busy_ns += now.saturating_duration_since(at).as_nanos() as u64;
            self.bus.shard_states[self.shard as usize]
                .busy_ns
                .store(self.busy_ns, Ordering::Relaxed);
        }
    }

    fn publish_fill(&mut self, fill: u64) {
        let state = &self.bus.shard_states[self.shard as usize];
        state.ring_fill_bytes.store(fill, Ordering::Relaxed);
        if fill > self.ring_fill_peak {
            self.ring_fill_peak = fill;
            state.ring_fill_peak_bytes.store(fill, Ordering::Relaxed);
        }
    }

    /// Gets an empty batch buffer: the spare, a recycled one, or a new one while under
    /// `max_inflight_batches`. False when every buffer is in flight.
    fn open_batch(&mut self) -> bool {
        let batch = self
            .spare
            .take()
            .or_else(|| self.link.recycled())
            .or_else(|| {
                (self.allocated < self.max_inflight).then(|| {
                    self.allocated += 1;
                    let limits = self.rules.limits();
                    Batch::with_capacity(
                        limits.max_events.min(4096),
                        limits.max_bytes.min(256 << 10),
                    )
                })
            });
        match batch {
            Some(mut batch) => {
                batch.reset(self.shard, self.next_sequence, self.nonce);
                self.open = Some(batch);
                true
            }
            None => false,
        }
    }

    /// Seals the open batch (if it holds anything) into the outbox.
    fn seal(&mut self) {
        let Some(batch) = self.open.take() else {
            return;
        };
        self.opened_at = None;
        if batch.is_empty() {
            self.spare = Some(batch);
            return;
        }
        self.next_sequence = batch.seq_end();
        let state = &self.bus.shard_states[self.shard as usize];
        state
            .next_sequence
            .store(self.next_sequence, Ordering::Relaxed);
        crate::stats::bump(&state.batches_sealed);
        self.outbox.push_back(ShardMsg::Batch(batch));
    }

    /// Seals the open batch if its oldest event had waited `max_delay` when the last
    /// pass started (one clock reading per pass serves timestamps and ages alike).
    fn seal_if_due(&mut self) {
        if let Some(opened) = self.opened_at
            && self.rules.is_due(opened, self.pass_started)
        {
            self.seal();
        }
    }

    /// How long the thread may sleep before the open batch is due.
    fn time_to_seal(&self) -> Option<Duration> {
        self.opened_at
            .map(|at| self.rules.time_left(at, Instant::now()))
    }

    /// Hands queued messages to the I/O thread, in order, until it refuses one.
    fn send_outbox(&mut self) {
        while let Some(msg) = self.outbox.pop_front() {
            if let Err(msg) = self.link.try_submit(msg) {
                self.outbox.push_front(msg);
                break;
            }
        }
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
