//! The I/O thread's loop: one FIFO per shard, adapter calls with deadlines, retries
//! scheduled as timers, every event counted written or failed.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use corelane_io::{Adapter, AdapterError, Batch, ErrorKind};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use mio::{Events, Poll};

use super::link::Shared;
use super::retry::RetryBackoff;
use super::{Control, IdlePolicy, IoConfig, IoOutcome, ShardMsg};
use crate::wait::{self, Ladder};

struct Pending {
    msg: ShardMsg,
    /// Attempts made so far (0 before the first).
    attempts: u32,
    /// Not before this instant (a retry waiting for its backoff).
    not_before: Option<Instant>,
}

/// A scale change's barrier, as the coordinator sent it, and once released the latest
/// timestamp its losers had finished.
struct ChangeBarrier {
    ticket: u64,
    losers: Vec<u32>,
    released: Option<u64>,
}

/// Barriers of scale changes kept after they were released, for late `Await` markers
/// (a change completes before the next starts, so an old one is always released).
const BARRIERS_KEPT: usize = 64;

pub(crate) struct IoLoop {
    fifos: Vec<VecDeque<Pending>>,
    /// Every shard link is gone (only when the bus state was dropped).
    disconnected: bool,
    /// Scale changes' barriers by change id.
    barriers: std::collections::BTreeMap<u64, ChangeBarrier>,
    /// Per shard: the latest insertion timestamp of a finished batch.
    last_ts_done: Vec<u64>,
    /// Per shard: timestamps of its next batches must exceed this (set when the shard
    /// took over keys from shards whose timestamps ran ahead of its own).
    ts_floor: Vec<Option<u64>>,
    backoffs: Vec<RetryBackoff>,
    rx: Receiver<(u32, ShardMsg)>,
    ctrl: Receiver<Control>,
    recycle: Vec<Sender<Batch>>,
    shared: Arc<Shared>,
    adapter: Arc<dyn Adapter>,
    poll: Poll,
    events: Events,
    /// How the thread waits when idle: spins, then yields (`IdlePolicy::Spin`) or sleeps.
    ladder: Ladder,
    config: IoConfig,
}

enum HeadStep {
    Idle,
    Worked,
    Waiting(Instant),
}

impl IoLoop {
    /// The loop for `config.num_shards` shards: their FIFOs, retry timers and channels.
    pub(crate) fn new(
        config: IoConfig,
        adapter: Arc<dyn Adapter>,
        shared: Arc<Shared>,
        rx: Receiver<(u32, ShardMsg)>,
        ctrl: Receiver<Control>,
        recycle: Vec<Sender<Batch>>,
        poll: Poll,
    ) -> IoLoop {
        let shards = config.num_shards as usize;
        let per_shard = config.max_inflight_per_shard.max(1) + 4;
        let backoffs = (0..shards)
            .map(|s| {
                let seed = config
                    .jitter_seed
                    .wrapping_add((s as u64).wrapping_mul(0xa076_1d64_78bd_642f));
                RetryBackoff::new(config.backoff_initial, config.backoff_max, seed)
            })
            .collect();
        IoLoop {
            fifos: (0..shards)
                .map(|_| VecDeque::with_capacity(per_shard))
                .collect(),
            disconnected: false,
            barriers: std::collections::BTreeMap::new(),
            last_ts_done: vec![0; shards],
            ts_floor: vec![None; shards],
            backoffs,
            rx,
            ctrl,
            recycle,
            shared,
            adapter,
            poll,
            events: Events::with_capacity(8),
            ladder: match config.idle {
                IdlePolicy::Spin => Ladder::new(64, u32::MAX, Duration::ZERO, Duration::ZERO),
                IdlePolicy::Linger(linger) => Ladder::lingering(64, linger),
                IdlePolicy::Sleep => Ladder::new(64, 0, Duration::ZERO, Duration::ZERO),
            },
            config,
        }
    }

    pub(crate) fn run(mut self) {
        loop {
            let mut worked = self.receive();
            worked |= self.serve_control();
            let mut next_timer: Option<Instant> = None;
            let now = Instant::now();
            for shard in 0..self.fifos.len() {
                match self.serve_head(shard, now) {
                    HeadStep::Worked => worked = true,
                    HeadStep::Waiting(at) => {
                        next_timer = Some(next_timer.map_or(at, |t| t.min(at)))
                    }
                    HeadStep::Idle => {}
                }
            }
            worked |= self.release_barriers();
            // Every started shard thread has sent `Closed` (counted before it starts, so a
            // thread a scale change is starting keeps the loop alive), or no link is left.
            let running = self.shared.running.load(Ordering::Acquire);
            if (running == 0 || self.disconnected) && self.fifos.iter().all(VecDeque::is_empty) {
                break;
            }
            if worked {
                self.ladder.reset();
            } else {
                self.idle(next_timer);
            }
        }
        self.finish();
    }

    /// Moves every waiting message into its shard's FIFO.
    fn receive(&mut self) -> bool {
        let mut got = false;
        loop {
            match self.rx.try_recv() {
                Ok((shard, msg)) => {
                    got = true;
                    self.fifos[shard as usize].push_back(Pending {
                        msg,
                        attempts: 0,
                        not_before: None,
                    });
                }
                Err(TryRecvError::Empty) => return got,
                Err(TryRecvError::Disconnected) => {
                    // Every shard link is gone: no thread can send anything more.
                    self.disconnected = true;
                    return got;
                }
            }
        }
    }

    fn serve_control(&mut self) -> bool {
        let mut worked = false;
        while let Ok(ctrl) = self.ctrl.try_recv() {
            worked = true;
            match ctrl {
                Control::FlushAdapter { deadline, reply } => {
                    let result = guarded("flush", || self.adapter.flush(deadline));
                    let _ = reply.send(result);
                }
                Control::Barrier {
                    change,
                    ticket,
                    losers,
                } => {
                    self.barriers.insert(
                        change,
                        ChangeBarrier {
                            ticket,
                            losers,
                            released: None,
                        },
                    );
                    while self.barriers.len() > BARRIERS_KEPT {
                        self.barriers.pop_first();
                    }
                }
            }
        }
        worked
    }

    fn serve_head(&mut self, shard: usize, now: Instant) -> HeadStep {
        let Some(head) = self.fifos[shard].front_mut() else {
            return HeadStep::Idle;
        };
        match &mut head.msg {
            ShardMsg::FlushMarker(ticket) => {
                self.shared.counters[shard].set_flushed_ticket(*ticket);
                self.fifos[shard].pop_front();
                self.shared.announce_progress();
                HeadStep::Worked
            }
            ShardMsg::Closed => {
                self.shared.running.fetch_sub(1, Ordering::AcqRel);
                self.fifos[shard].pop_front();
                // Everything this thread sent is done: no flush waits for it any more.
                self.shared.counters[shard].set_flushed_ticket(u64::MAX);
                self.shared.announce_progress();
                HeadStep::Worked
            }
            ShardMsg::Await(change) => {
                let change = *change;
                match self.barrier_floor(change) {
                    Some(floor) => {
                        if floor > 0 {
                            let current = self.ts_floor[shard].unwrap_or(0);
                            self.ts_floor[shard] = Some(current.max(floor));
                        }
                        self.fifos[shard].pop_front();
                        HeadStep::Worked
                    }
                    None => HeadStep::Idle,
                }
            }
            ShardMsg::Batch(_) => self.serve_batch(shard, now),
        }
    }

    /// Attempts the batch at the head of `shard`'s FIFO (not before its retry time).
    fn serve_batch(&mut self, shard: usize, now: Instant) -> HeadStep {
        let Some(head) = self.fifos[shard].front_mut() else {
            return HeadStep::Idle;
        };
        let ShardMsg::Batch(batch) = &mut head.msg else {
            return HeadStep::Idle;
        };
        if let Some(at) = head.not_before
            && at > now
        {
            return HeadStep::Waiting(at);
        }
        if head.attempts == 0
            && let Some(floor) = self.ts_floor[shard]
        {
            // Keys this shard took over had timestamps up to `floor` on their old
            // shards: keep theirs increasing (a batch already above it ends this).
            self.ts_floor[shard] = match batch.first_ts() {
                Some(first) if first > floor => None,
                _ => Some(batch.raise_timestamps(floor)),
            };
        }
        head.attempts += 1;
        batch.set_attempt(head.attempts);
        let deadline = Instant::now() + self.config.adapter_timeout;
        let adapter = &self.adapter;
        let result = guarded("write_batch", || adapter.write_batch(batch, deadline));
        let counters = &self.shared.counters[shard];
        let finished = match result {
            Ok(()) => {
                if Instant::now() > deadline {
                    counters.record_overrun();
                }
                counters.record_written(batch.len());
                self.last_ts_done[shard] =
                    self.last_ts_done[shard].max(batch.last_ts().unwrap_or(0));
                let (_, now_ns) = self.config.clock.now();
                self.shared.latency.record(batch, now_ns);
                true
            }
            Err(err) if err.is_retryable() && head.attempts <= self.config.retries => {
                let delay = self.backoffs[shard].delay(head.attempts);
                tracing::debug!(
                    shard,
                    seq_start = batch.seq_start(),
                    attempt = head.attempts,
                    ?delay,
                    %err,
                    "corelane batch write failed; retrying"
                );
                counters.record_retry();
                head.not_before = Some(Instant::now() + delay);
                false
            }
            Err(err) => {
                tracing::warn!(
                    shard,
                    seq_start = batch.seq_start(),
                    events = batch.len(),
                    attempts = head.attempts,
                    adapter = adapter.name(),
                    %err,
                    "corelane gave up on a batch; its events are counted as failed"
                );
                counters.record_failed(err.kind(), batch.len());
                self.last_ts_done[shard] =
                    self.last_ts_done[shard].max(batch.last_ts().unwrap_or(0));
                true
            }
        };
        if finished {
            self.complete(shard);
        }
        HeadStep::Worked
    }

    /// Releases every barrier whose losers have all passed its ticket, once and for
    /// good: a loser's counters start over when a later change restarts its shard id,
    /// and a late `Await` must still find its change released. The coordinator learns
    /// of the release from `released_change`, published here. True if one was released.
    fn release_barriers(&mut self) -> bool {
        let mut released_any = false;
        for (&change, barrier) in self.barriers.iter_mut() {
            if barrier.released.is_some() {
                continue;
            }
            let counters = &self.shared.counters;
            if barrier
                .losers
                .iter()
                .all(|&l| counters[l as usize].flushed_ticket() >= barrier.ticket)
            {
                let floor = barrier
                    .losers
                    .iter()
                    .map(|&l| self.last_ts_done[l as usize]);
                barrier.released = Some(floor.max().unwrap_or(0));
                self.shared
                    .released_change
                    .fetch_max(change, Ordering::Release);
                released_any = true;
            }
        }
        if released_any {
            self.shared.announce_progress();
        }
        released_any
    }

    /// `Some(floor)` once scale change `change` is released (see `release_barriers`);
    /// `floor` is the latest timestamp the shards that handed keys away had finished.
    /// `None` while it is not, or while its barrier has not arrived.
    fn barrier_floor(&mut self, change: u64) -> Option<u64> {
        self.release_barriers();
        match self.barriers.get(&change) {
            Some(barrier) => barrier.released,
            // A change older than the oldest kept was released long ago.
            None => self
                .barriers
                .first_key_value()
                .is_some_and(|(&oldest, _)| change < oldest)
                .then_some(0),
        }
    }

    /// Pops the finished head batch of `shard` and returns its buffer to the shard.
    fn complete(&mut self, shard: usize) {
        if let Some(Pending {
            msg: ShardMsg::Batch(mut batch),
            ..
        }) = self.fifos[shard].pop_front()
        {
            batch.reset(shard as u32, 0, 0);
            // A full recycle channel only happens if the shard allocated past its cap;
            // the buffer is then dropped.
            let _ = self.recycle[shard].try_send(batch);
        }
    }

    fn idle(&mut self, next_timer: Option<Instant>) {
        match self.ladder.next_step() {
            wait::Step::Spin => std::hint::spin_loop(),
            wait::Step::Yield => std::thread::yield_now(),
            wait::Step::Sleep(_) | wait::Step::Park => self.sleep_until_woken(next_timer),
        }
    }

    /// Sleeps in `Poll::poll` until a shard wakes the thread or `next_timer` is due.
    fn sleep_until_woken(&mut self, next_timer: Option<Instant>) {
        let timeout = next_timer.map(|at| at.saturating_duration_since(Instant::now()));
        if timeout == Some(Duration::ZERO) {
            return;
        }
        self.shared.wake.sleeping.store(true, Ordering::Relaxed);
        // Pairs with the fence in `WakeSignal::notify`.
        fence(Ordering::SeqCst);
        if self.rx.is_empty() && self.ctrl.is_empty() {
            if let Err(err) = self.poll.poll(&mut self.events, timeout) {
                if err.kind() != std::io::ErrorKind::Interrupted {
                    tracing::warn!(%err, "corelane I/O poll failed");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        self.shared.wake.sleeping.store(false, Ordering::Relaxed);
    }

    fn finish(self) {
        let timeout = self.config.adapter_timeout;
        let adapter = &self.adapter;
        let flush = guarded("flush", || adapter.flush(Instant::now() + timeout));
        let shutdown = guarded("shutdown", || adapter.shutdown(Instant::now() + timeout));
        if let Err(err) = &flush {
            tracing::warn!(%err, adapter = adapter.name(), "corelane final adapter flush failed");
        }
        if let Err(err) = &shutdown {
            tracing::warn!(%err, adapter = adapter.name(), "corelane adapter shutdown failed");
        }
        *self.shared.outcome.lock() = Some(IoOutcome { flush, shutdown });
        self.shared.done.store(true, Ordering::Release);
        self.shared.announce_progress();
        // Answer flush requests that raced with the exit instead of leaving them hanging.
        while let Ok(Control::FlushAdapter { reply, .. }) = self.ctrl.try_recv() {
            let _ = reply.send(Err(AdapterError::shutdown("the bus is shut down")));
        }
    }
}

/// Runs an adapter call, turning a panic into a fatal error so the I/O thread survives a
/// buggy adapter and the batch is counted instead of silently lost.
fn guarded<T>(
    what: &str,
    call: impl FnOnce() -> Result<T, AdapterError>,
) -> Result<T, AdapterError> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            Err(AdapterError::new(
                ErrorKind::Fatal,
                format!("adapter panicked in {what}: {msg}"),
            ))
        }
    }
}
