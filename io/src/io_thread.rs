//! The I/O thread: the only place where corelane blocks on a backend.
//!
//! Shard threads hand sealed batches over a bounded channel and wake the thread through
//! a `mio::Waker` only when it sleeps. The thread keeps a FIFO per shard, so a batch that
//! waits for a retry holds back later batches of its own shard and nothing else. Retry
//! delays are timers: the thread sleeps in `Poll::poll` until the earliest one is due or
//! a new message arrives.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use mio::{Events, Poll, Token, Waker};
use parking_lot::{Condvar, Mutex};

use crate::retry::Backoff;
use crate::{Adapter, AdapterError, Batch, ErrorKind, ShardIoCounters};

const WAKE: Token = Token(0);

/// How the I/O thread waits when it has nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdlePolicy {
    /// Spin on the hand-off channel, yielding the CPU between checks once idle for a
    /// while (never sleeping): lowest latency; burns a core, but lets a thread that
    /// shares it run.
    Spin,
    /// Spin briefly, then sleep in `mio::Poll` until woken or a retry timer is due.
    Sleep,
}

/// Settings of the I/O thread.
#[derive(Debug, Clone)]
pub struct IoConfig {
    /// Number of shards (one FIFO each).
    pub num_shards: u32,
    /// Deadline given to each adapter call, measured from the call's start.
    pub adapter_timeout: Duration,
    /// Retries after the first attempt for a retryable failure.
    pub retries: u32,
    /// Delay before the first retry; doubles per attempt.
    pub backoff_initial: Duration,
    /// Cap on the retry delay.
    pub backoff_max: Duration,
    /// How to wait when idle.
    pub idle: IdlePolicy,
    /// Batch buffers a shard may have outstanding; sizes the channels.
    pub max_inflight_per_shard: usize,
    /// Seed for retry jitter; combined with the shard id.
    pub jitter_seed: u64,
    /// Core to pin the I/O thread to; `None` leaves it unpinned.
    pub core: Option<usize>,
}

/// What a shard thread sends to the I/O thread.
#[derive(Debug)]
pub enum ShardMsg {
    /// A sealed batch to write.
    Batch(Batch),
    /// A flush marker: every batch the shard sent before it belongs to flush `ticket`.
    FlushMarker(u64),
    /// The shard thread has sent its last batch and is exiting.
    Closed,
}

enum Control {
    FlushAdapter {
        deadline: Instant,
        reply: Sender<Result<(), AdapterError>>,
    },
}

/// How the adapter's final `flush` and `shutdown` went, once every shard closed.
#[derive(Debug)]
pub struct IoOutcome {
    /// The adapter's last flush.
    pub flush: Result<(), AdapterError>,
    /// The adapter's shutdown.
    pub shutdown: Result<(), AdapterError>,
}

struct WakeSignal {
    sleeping: AtomicBool,
    waker: Waker,
}

impl WakeSignal {
    /// Called after a message was queued: wakes the thread if it sleeps or is about to.
    fn notify(&self) {
        // Pairs with the fence in `IoLoop::sleep`: either the I/O thread sees our message
        // when it re-checks the channels, or we see its `sleeping` flag and wake it.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) {
            self.wake();
        }
    }

    fn wake(&self) {
        if let Err(err) = self.waker.wake() {
            tracing::warn!(%err, "corelane I/O thread waker failed");
        }
    }
}

struct Shared {
    counters: Vec<ShardIoCounters>,
    wake: WakeSignal,
    progress: Mutex<u64>,
    progressed: Condvar,
    outcome: Mutex<Option<IoOutcome>>,
    done: AtomicBool,
}

impl Shared {
    fn announce_progress(&self) {
        *self.progress.lock() += 1;
        self.progressed.notify_all();
    }
}

/// A shard thread's end of the hand-off to the I/O thread.
pub struct ShardLink {
    shard: u32,
    tx: Sender<(u32, ShardMsg)>,
    recycled: Receiver<Batch>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ShardLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardLink")
            .field("shard", &self.shard)
            .finish()
    }
}

impl ShardLink {
    /// The shard this link belongs to.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// Hands a message over without blocking; gives it back when the channel is full
    /// (the I/O thread is behind) or the I/O thread is gone.
    pub fn try_submit(&self, msg: ShardMsg) -> Result<(), ShardMsg> {
        match self.tx.try_send((self.shard, msg)) {
            Ok(()) => {
                self.shared.wake.notify();
                Ok(())
            }
            Err(TrySendError::Full((_, msg)) | TrySendError::Disconnected((_, msg))) => Err(msg),
        }
    }

    /// An empty batch buffer the I/O thread has finished with, if one is waiting.
    pub fn recycled(&self) -> Option<Batch> {
        self.recycled.try_recv().ok()
    }

    /// True when the I/O thread has exited (nothing submitted will be written).
    pub fn io_exited(&self) -> bool {
        self.shared.done.load(Ordering::Acquire)
    }
}

/// The controlling end of the I/O thread, held by the bus.
pub struct IoHandle {
    shared: Arc<Shared>,
    ctrl: Sender<Control>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for IoHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoHandle")
            .field("shards", &self.shared.counters.len())
            .field("done", &self.shared.done.load(Ordering::Relaxed))
            .finish()
    }
}

impl IoHandle {
    /// Counters of `shard`.
    pub fn counters(&self, shard: u32) -> &ShardIoCounters {
        &self.shared.counters[shard as usize]
    }

    /// Waits until every shard's queue has passed flush marker `ticket`, or `deadline`.
    /// On timeout returns the shards that had not.
    pub fn wait_flushed(&self, ticket: u64, deadline: Instant) -> Result<(), Vec<u32>> {
        let lagging = || -> Vec<u32> {
            self.shared
                .counters
                .iter()
                .enumerate()
                .filter(|(_, c)| c.flushed_ticket() < ticket)
                .map(|(s, _)| s as u32)
                .collect()
        };
        let mut progress = self.shared.progress.lock();
        loop {
            let behind = lagging();
            if behind.is_empty() {
                return Ok(());
            }
            if self.shared.done.load(Ordering::Acquire) {
                return Err(behind);
            }
            if self
                .shared
                .progressed
                .wait_until(&mut progress, deadline)
                .timed_out()
            {
                let behind = lagging();
                return if behind.is_empty() {
                    Ok(())
                } else {
                    Err(behind)
                };
            }
        }
    }

    /// Runs the adapter's `flush` on the I/O thread (after the batches already queued
    /// there are attempted) and waits for its result until `deadline`.
    pub fn flush_adapter(&self, deadline: Instant) -> Result<(), AdapterError> {
        let (reply, result) = crossbeam_channel::bounded(1);
        self.ctrl
            .send(Control::FlushAdapter { deadline, reply })
            .map_err(|_| AdapterError::shutdown("the I/O thread has exited"))?;
        self.shared.wake.wake();
        match result.recv_deadline(deadline) {
            Ok(r) => r,
            Err(_) if self.shared.done.load(Ordering::Acquire) => {
                Err(AdapterError::shutdown("the I/O thread has exited"))
            }
            Err(_) => Err(AdapterError::timeout(
                "the adapter flush did not finish before the deadline",
            )),
        }
    }

    /// True once the thread has finished (every shard closed and the adapter shut down).
    pub fn is_done(&self) -> bool {
        self.shared.done.load(Ordering::Acquire)
    }

    /// Waits until the thread has finished, then joins it. Returns `None` if `deadline`
    /// passed first; the thread is then left running (detached on drop).
    pub fn join(&self, deadline: Instant) -> Option<IoOutcome> {
        {
            let mut progress = self.shared.progress.lock();
            while !self.shared.done.load(Ordering::Acquire) {
                if self
                    .shared
                    .progressed
                    .wait_until(&mut progress, deadline)
                    .timed_out()
                    && !self.shared.done.load(Ordering::Acquire)
                {
                    return None;
                }
            }
        }
        if let Some(handle) = self.thread.lock().take()
            && handle.join().is_err()
        {
            tracing::error!("corelane I/O thread panicked");
        }
        self.shared.outcome.lock().take()
    }
}

/// Starts the I/O thread for `adapter` and returns its handle and one link per shard.
///
/// The adapter must already be initialised (`Adapter::init`). The thread exits after
/// every shard sent [`ShardMsg::Closed`] and its queue drained; it then flushes and shuts
/// the adapter down.
pub fn spawn_io_thread(
    config: IoConfig,
    adapter: Arc<dyn Adapter>,
) -> std::io::Result<(IoHandle, Vec<ShardLink>)> {
    let shards = config.num_shards as usize;
    let per_shard = config.max_inflight_per_shard.max(1) + 4;
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKE)?;
    let shared = Arc::new(Shared {
        counters: (0..shards).map(|_| ShardIoCounters::default()).collect(),
        wake: WakeSignal {
            sleeping: AtomicBool::new(false),
            waker,
        },
        progress: Mutex::new(0),
        progressed: Condvar::new(),
        outcome: Mutex::new(None),
        done: AtomicBool::new(false),
    });
    let (tx, rx) = crossbeam_channel::bounded(per_shard * shards);
    let (ctrl_tx, ctrl_rx) = crossbeam_channel::unbounded();
    let mut links = Vec::with_capacity(shards);
    let mut recycle = Vec::with_capacity(shards);
    for shard in 0..shards {
        let (rtx, rrx) = crossbeam_channel::bounded(per_shard);
        recycle.push(rtx);
        links.push(ShardLink {
            shard: shard as u32,
            tx: tx.clone(),
            recycled: rrx,
            shared: Arc::clone(&shared),
        });
    }
    drop(tx);
    let backoffs = (0..shards)
        .map(|s| {
            let seed = config
                .jitter_seed
                .wrapping_add((s as u64).wrapping_mul(0xa076_1d64_78bd_642f));
            Backoff::new(config.backoff_initial, config.backoff_max, seed)
        })
        .collect();
    let io_loop = IoLoop {
        fifos: (0..shards)
            .map(|_| VecDeque::with_capacity(per_shard))
            .collect(),
        closed: vec![false; shards],
        backoffs,
        rx,
        ctrl: ctrl_rx,
        recycle,
        shared: Arc::clone(&shared),
        adapter,
        poll,
        events: Events::with_capacity(8),
        config,
    };
    let core = io_loop.config.core;
    let thread = std::thread::Builder::new()
        .name("corelane-io".into())
        .spawn(move || {
            if let Some(id) = core {
                // The engine validates core ids against the CPU-set size.
                if !core_affinity::set_for_current(core_affinity::CoreId { id }) {
                    tracing::warn!(
                        core = id,
                        "corelane could not pin the I/O thread; running unpinned"
                    );
                }
            }
            io_loop.run()
        })?;
    Ok((
        IoHandle {
            shared,
            ctrl: ctrl_tx,
            thread: Mutex::new(Some(thread)),
        },
        links,
    ))
}

struct Pending {
    msg: ShardMsg,
    /// Attempts made so far (0 before the first).
    attempts: u32,
    /// Not before this instant (a retry waiting for its backoff).
    not_before: Option<Instant>,
}

struct IoLoop {
    fifos: Vec<VecDeque<Pending>>,
    closed: Vec<bool>,
    backoffs: Vec<Backoff>,
    rx: Receiver<(u32, ShardMsg)>,
    ctrl: Receiver<Control>,
    recycle: Vec<Sender<Batch>>,
    shared: Arc<Shared>,
    adapter: Arc<dyn Adapter>,
    poll: Poll,
    events: Events,
    config: IoConfig,
}

enum Step {
    Idle,
    Worked,
    Waiting(Instant),
}

impl IoLoop {
    fn run(mut self) {
        let mut idle_spins = 0u32;
        loop {
            let mut worked = self.receive();
            worked |= self.serve_control();
            let mut next_timer: Option<Instant> = None;
            let now = Instant::now();
            for shard in 0..self.fifos.len() {
                match self.serve_head(shard, now) {
                    Step::Worked => worked = true,
                    Step::Waiting(at) => next_timer = Some(next_timer.map_or(at, |t| t.min(at))),
                    Step::Idle => {}
                }
            }
            if self.closed.iter().all(|c| *c) && self.fifos.iter().all(VecDeque::is_empty) {
                break;
            }
            if worked {
                idle_spins = 0;
            } else {
                idle_spins = idle_spins.saturating_add(1);
                self.idle(idle_spins, next_timer);
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
                    // Every shard link is gone: treat shards that never said so as closed.
                    self.closed.iter_mut().for_each(|c| *c = true);
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
            }
        }
        worked
    }

    fn serve_head(&mut self, shard: usize, now: Instant) -> Step {
        let Some(head) = self.fifos[shard].front_mut() else {
            return Step::Idle;
        };
        match &mut head.msg {
            ShardMsg::FlushMarker(ticket) => {
                self.shared.counters[shard].set_flushed_ticket(*ticket);
                self.fifos[shard].pop_front();
                self.shared.announce_progress();
                Step::Worked
            }
            ShardMsg::Closed => {
                self.closed[shard] = true;
                self.fifos[shard].pop_front();
                Step::Worked
            }
            ShardMsg::Batch(batch) => {
                if let Some(at) = head.not_before
                    && at > now
                {
                    return Step::Waiting(at);
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
                        true
                    }
                };
                if finished {
                    self.complete(shard);
                }
                Step::Worked
            }
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

    fn idle(&mut self, spins: u32, next_timer: Option<Instant>) {
        if spins < 64 {
            std::hint::spin_loop();
            return;
        }
        if self.config.idle == IdlePolicy::Spin {
            std::thread::yield_now();
            return;
        }
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
