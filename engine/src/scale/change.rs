//! `scale_to`: one change of the shard count, in stages that a background thread (or
//! shutdown) finishes when the caller's bound expired. See the module docs of `scale/`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use crate::epoch::Epoch;
use crate::scale::state::PendingChange;
use crate::scale::{ScaleError, ScaleOutcome, ScaleReason, ScalingStats, ShardPhase};
use crate::shard::worker::StartedBy;
use crate::shared::{BusShared, Lifecycle, Routing};
use crate::start::spawn_shard;
use crate::wait::Ladder;
use crate::write::routing::BucketTable;

/// How often waits re-check whether the bus began to close.
const RECHECK: Duration = Duration::from_millis(5);

impl BusShared {
    /// Changes the number of shards taking traffic to `target` (see `Bus::scale_to`).
    pub(crate) fn scale_to(
        self: &Arc<Self>,
        target: u32,
        reason: ScaleReason,
        timeout: Duration,
    ) -> Result<ScaleOutcome, ScaleError> {
        let started = Instant::now();
        let deadline = crate::clock::deadline_after(timeout);
        if !self.config.is_scalable() {
            return Err(ScaleError::NotScalable);
        }
        if target == 0 || target > self.slots {
            return Err(ScaleError::OutOfRange {
                target,
                max: self.slots,
            });
        }
        // One change at a time: wait (within the bound) for one in progress, here or in
        // the background. The state itself is locked only briefly, so statistics never
        // wait for a change.
        let Some(_changing) = self.change_lock.try_lock_until(deadline) else {
            let detail = match self.scaling.lock().publishing {
                Some((from, to)) => format!("{from} → {to} shards, still completing"),
                None => "another caller is changing the shard count".into(),
            };
            return Err(ScaleError::InProgress { detail });
        };
        let earlier = self.scaling.lock().pending.take();
        if let Some(pending) = earlier {
            let detail = pending.describe();
            if let Err(err) = self.complete_pending(pending, deadline, timeout) {
                return Err(match err {
                    ScaleError::Closed => ScaleError::Closed,
                    _ => {
                        self.finish_in_background();
                        ScaleError::InProgress { detail }
                    }
                });
            }
        }
        if self.is_closing() {
            return Err(ScaleError::Closed);
        }
        let from = self.active.load(Ordering::Acquire);
        if target == from {
            return Ok(ScaleOutcome {
                from,
                to: from,
                added: Vec::new(),
                retired: Vec::new(),
                to_traffic: Duration::ZERO,
                took: started.elapsed(),
            });
        }
        let id = {
            let mut state = self.scaling.lock();
            state.next_id += 1;
            state.next_id - 1
        };
        let pending = self.publish_change(id, from, target, reason, started)?;
        let result = self.complete_pending(pending, deadline, timeout);
        if matches!(result, Err(ScaleError::Timeout { .. })) {
            self.finish_in_background();
        }
        result
    }

    /// A published change whose caller's bound expired must not wait for the next
    /// caller: until its barrier is sent, the shards that take keys over write nothing.
    /// A thread finishes it (it waits for the change lock, which the caller still
    /// holds, and gives up when the bus begins to close); shutdown joins it.
    fn finish_in_background(self: &Arc<Self>) {
        let mut finisher = self.finisher.lock();
        if finisher.as_ref().is_some_and(|f| !f.is_finished()) {
            // One is waiting for the change lock the caller holds: it will finish this.
            return;
        }
        if let Some(done) = finisher.take() {
            let _ = done.join();
        }
        let bus = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("corelane-scale-finish".into())
            .spawn(move || {
                let _changing = bus.change_lock.lock();
                let pending = bus.scaling.lock().pending.take();
                if let Some(pending) = pending {
                    let forever = crate::clock::deadline_after(Duration::MAX);
                    let _ = bus.complete_pending(pending, forever, Duration::MAX);
                }
            });
        match spawned {
            Ok(handle) => *finisher = Some(handle),
            Err(err) => tracing::warn!(
                %err,
                "corelane: no thread to finish a shard-count change; the next change or \
                 shutdown finishes it"
            ),
        }
    }

    /// Shutdown: the finisher gives up once the bus closes; join it.
    pub(crate) fn join_finisher(&self) {
        let handle = self.finisher.lock().take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the corelane scale finisher panicked");
        }
    }

    /// Stages 1 and 2: start new shard threads, then publish the gain words and the
    /// new routing. Nothing is published if a thread cannot start.
    fn publish_change(
        self: &Arc<Self>,
        id: u64,
        from: u32,
        to: u32,
        reason: ScaleReason,
        started: Instant,
    ) -> Result<PendingChange, ScaleError> {
        let old_table = BucketTable::new(from);
        let new_table = BucketTable::new(to);
        let (losers, _) = old_table.moves_to(&new_table);
        let mut new_threads: Vec<(u32, ShardPhase)> = Vec::new();
        for shard in from..to {
            let before = self.phase(shard);
            if let Err(error) = self.start_shard(shard, id) {
                self.undo_started(id, &new_threads);
                return Err(ScaleError::Spawn {
                    message: error.to_string(),
                });
            }
            new_threads.push((shard, before));
        }
        // When retiring, every remaining shard takes over keys; it learns so from its
        // gain word, published before the routing (new shards hold from their start).
        if to < from {
            for gain in &self.gains[..to as usize] {
                gain.store(id, Ordering::Release);
            }
        }
        let table = Arc::new(new_table);
        let published = self.publish_routing(|old, word| Routing {
            word,
            active: to,
            generations: old
                .generations
                .iter()
                .enumerate()
                .map(|(s, &g)| g + u64::from((from..to).contains(&(s as u32))))
                .collect(),
            table: Some(table),
        });
        let Some(word) = published else {
            // Shutdown began first: nothing was routed to the new threads.
            self.undo_started(id, &new_threads);
            return Err(ScaleError::Closed);
        };
        self.changing.store(true, Ordering::Release);
        self.scaling.lock().publishing = Some((from, to));
        let retiring: Vec<u32> = (to..from).collect();
        for &shard in &retiring {
            self.set_phase(shard, ShardPhase::Draining);
        }
        tracing::info!(from, to, %reason, "corelane: shard count changing");
        Ok(PendingChange {
            id,
            from,
            to,
            reason,
            started,
            at: SystemTime::now(),
            to_traffic: started.elapsed(),
            word,
            losers,
            retiring,
            ticket: None,
        })
    }

    /// Stops threads a change started before it was published (they never got
    /// traffic): releases their `Await`, waits until the I/O thread has processed their
    /// `Closed` (so a later restart of the id starts its flush tickets over cleanly),
    /// keeps what they leave, and gives them back their phase.
    fn undo_started(&self, id: u64, started: &[(u32, ShardPhase)]) {
        self.io.send_barrier(id, 0, Vec::new());
        for &(shard, _) in started {
            self.shard_states[shard as usize]
                .retire
                .store(true, Ordering::Release);
            self.wakes[shard as usize].unpark();
        }
        let forever = crate::clock::deadline_after(Duration::MAX);
        for &(shard, before) in started {
            // Ends with the bus too: a closing bus stops every thread itself.
            self.io.wait_for(forever, RECHECK, || {
                self.io.counters(shard).flushed_ticket() == u64::MAX || self.is_closing()
            });
            self.settle_retired(shard);
            self.set_phase(shard, before);
        }
    }

    fn phase(&self, shard: u32) -> ShardPhase {
        ShardPhase::decode(
            self.shard_states[shard as usize]
                .phase
                .load(Ordering::Acquire),
        )
    }

    /// Starts a thread for dormant shard id `shard`, holding at change `id`'s barrier.
    /// On failure the id stays dormant with what its next thread continues from.
    fn start_shard(self: &Arc<Self>, shard: u32, id: u64) -> std::io::Result<()> {
        let remains = self
            .threads
            .lock()
            .take_dormant(shard)
            .ok_or_else(|| std::io::Error::other(format!("shard {shard} has no state")))?;
        let before = self.phase(shard);
        let state = &self.shard_states[shard as usize];
        state.retire.store(false, Ordering::Release);
        state.exited.store(false, Ordering::Release);
        // Its previous thread's `Closed` was processed (the change that retired it is
        // complete), so the I/O thread does not touch this counter now.
        self.io.counters(shard).restart_flushed_ticket();
        self.set_phase(shard, ShardPhase::Active);
        let clock = self.clock;
        let started_by = Some(StartedBy { hold: Some(id) });
        self.io.thread_starting();
        spawn_shard(self, shard, remains, clock, started_by).map_err(|(error, remains)| {
            self.io.thread_not_started();
            self.io.counters(shard).set_flushed_ticket(u64::MAX);
            self.set_phase(shard, before);
            self.threads
                .lock()
                .set(shard, crate::scale::slots::SlotThread::Dormant(remains));
            error
        })
    }

    /// Stages 3 to 5, resumed where the last call stopped: wait for producers to leave
    /// the old routing, send the barrier and retire shards, wait for the barrier, join.
    /// Called with the change lock held; a change that does not complete is put back.
    fn complete_pending(
        &self,
        mut pending: PendingChange,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<ScaleOutcome, ScaleError> {
        let result = self.run_stages(&mut pending, deadline, timeout);
        let mut state = self.scaling.lock();
        match &result {
            Ok(outcome) => {
                let event = pending.event(outcome.took);
                tracing::info!(
                    from = event.from,
                    to = event.to,
                    reason = %event.reason,
                    took = ?event.took,
                    "corelane: shard count changed"
                );
                state.record(event);
                self.changing.store(false, Ordering::Release);
            }
            Err(_) => state.pending = Some(pending),
        }
        result
    }

    fn run_stages(
        &self,
        pending: &mut PendingChange,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<ScaleOutcome, ScaleError> {
        if pending.ticket.is_none() {
            if !self.producers_past(pending.word, deadline) {
                return Err(self.stalled("producers still inside an ingest", timeout));
            }
            self.send_barrier(pending);
        }
        let written = self.io.wait_for(deadline, RECHECK, || {
            self.io.released_change() >= pending.id
                && pending
                    .retiring
                    .iter()
                    .all(|&r| self.io.counters(r).flushed_ticket() == u64::MAX)
                || self.is_closing()
        });
        if !written || self.is_closing() {
            return Err(self.stalled("the moved keys' earlier events to be written", timeout));
        }
        for &shard in &pending.retiring {
            self.settle_retired(shard);
            self.set_phase(shard, ShardPhase::Retired);
        }
        Ok(pending.outcome())
    }

    /// Stage 4: every producer has left the old routing, so the shards' rings hold every
    /// event it routed. A flush ticket marks that point in each shard's queue; the
    /// barrier holds the shards that took keys over until the losers pass it.
    fn send_barrier(&self, pending: &mut PendingChange) {
        let ticket = self.signals.flush_ticket.fetch_add(1, Ordering::SeqCst) + 1;
        self.io
            .send_barrier(pending.id, ticket, pending.losers.clone());
        for &shard in &pending.retiring {
            self.shard_states[shard as usize]
                .retire
                .store(true, Ordering::Release);
        }
        pending.ticket = Some(ticket);
        self.unpark_shards();
    }

    /// Shutdown's part in a change it interrupted: once producers have left (the
    /// closed epoch is newer than any change), the barrier must be sent, or the shards
    /// that hold for it would never let the I/O thread finish.
    pub(crate) fn release_pending_for_close(&self) {
        // A `scale_to` in progress sees the bus closing and returns within `RECHECK`.
        let _changing = self.change_lock.lock();
        let mut state = self.scaling.lock();
        if let Some(pending) = state.pending.as_mut()
            && pending.ticket.is_none()
        {
            self.send_barrier(pending);
        }
    }

    /// After shutdown joined every thread and the I/O thread wrote everything: a change
    /// still pending is complete now (every shard drained and closed); log it.
    pub(crate) fn finish_pending_after_close(&self) {
        let _changing = self.change_lock.lock();
        let mut state = self.scaling.lock();
        let Some(pending) = state.pending.take() else {
            return;
        };
        for &shard in &pending.retiring {
            self.set_phase(shard, ShardPhase::Retired);
        }
        state.record(pending.event(pending.started.elapsed()));
        self.changing.store(false, Ordering::Release);
    }

    /// Joins a retired shard's thread and keeps what the next thread of its id needs.
    fn settle_retired(&self, shard: u32) {
        let handle = self.threads.lock().take_running(shard);
        if let Some(handle) = handle {
            match handle.join() {
                Ok(remains) => self
                    .threads
                    .lock()
                    .set(shard, crate::scale::slots::SlotThread::Dormant(remains)),
                Err(_) => tracing::error!(shard, "a corelane shard thread panicked"),
            }
        }
    }

    /// Waits until every producer is outside an ingest or inside one under `word` or
    /// later. False at `deadline`, or when the bus began closing.
    fn producers_past(&self, word: u64, deadline: Instant) -> bool {
        for slot in self.producer_slots() {
            let mut ladder = Ladder::new(1000, 0, Duration::from_micros(50), RECHECK);
            let done = slot.pin.wait_past(word, |_| {
                ladder.wait(None);
                Instant::now() >= deadline || self.is_closing()
            });
            if !done {
                return false;
            }
        }
        !self.is_closing()
    }

    fn stalled(&self, stage: &'static str, timeout: Duration) -> ScaleError {
        if self.is_closing() {
            ScaleError::Closed
        } else {
            ScaleError::Timeout { stage, timeout }
        }
    }

    /// True once shutdown has begun.
    pub(crate) fn is_closing(&self) -> bool {
        Epoch::is_closed(self.epoch.load()) || !matches!(*self.lifecycle.lock(), Lifecycle::Running)
    }

    pub(crate) fn set_phase(&self, shard: u32, phase: ShardPhase) {
        self.shard_states[shard as usize]
            .phase
            .store(phase.encode(), Ordering::Release);
    }

    /// The scaling part of the statistics.
    pub(crate) fn scaling_report(&self) -> ScalingStats {
        let state = self.scaling.lock();
        ScalingStats {
            active_shards: self.active.load(Ordering::Acquire),
            max_shards: self.slots,
            changing: self.changing.load(Ordering::Acquire),
            events: state.events.iter().cloned().collect(),
            changes: state.changes,
        }
    }
}
