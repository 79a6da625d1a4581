//! The I/O thread: the only place where corelane blocks on a backend.
//!
//! Shard threads hand sealed batches over a bounded channel and wake the thread through
//! a `mio::Waker` only when it sleeps. The thread keeps a FIFO per shard, so a batch that
//! waits for a retry holds back later batches of its own shard and nothing else. Retry
//! delays are timers: the thread sleeps in `Poll::poll` until the earliest one is due or
//! a new message arrives.
//!
//! - `link.rs`: a shard thread's end of the hand-off (submit, recycled buffers, wake-up);
//! - `handle.rs`: the bus's end (flush waits, the adapter's flush, join);
//! - `io_loop.rs`: the loop itself (FIFOs, retries with backoff, counting);
//! - `retry.rs`: exponential backoff with jitter; `counters.rs`: what the loop counts;
//! - `latency.rs`: ingest → acknowledged histograms, recorded per written batch.
//!
//! Every adapter call carries a deadline (`adapter_timeout` from the call's start).
//! Retryable failures are retried up to `retries` times; after the last attempt the
//! batch's events are counted failed under the kind of the last error and logged once.
//! An adapter that panics is caught: its batch is counted failed as `Fatal`. Written
//! batches go back to their shard for reuse, so the steady state allocates nothing.
//!
//! A hand-off is one bounded-channel send plus a `SeqCst` fence (the fence pairs with
//! the sleeping thread's, so a wake-up is never lost); the shard pays a `mio::Waker` wake
//! (one `write(2)` to an eventfd) only when the I/O thread is asleep.

mod counters;
mod handle;
mod io_loop;
mod latency;
mod link;
mod retry;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use corelane_io::{Adapter, AdapterError, Batch};
use crossbeam_channel::Sender;
use mio::{Poll, Token, Waker};
use parking_lot::{Condvar, Mutex};

pub(crate) use counters::ShardIoCounters;
pub(crate) use handle::IoHandle;
use io_loop::IoLoop;
pub(crate) use link::ShardLink;
use link::{Shared, WakeSignal};

const WAKE: Token = Token(0);

/// How the I/O thread waits when it has nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdlePolicy {
    /// Spin on the hand-off channel, yielding the CPU between checks once idle for a
    /// while (never sleeping): lowest latency; burns a core, but lets a thread that
    /// shares it run.
    Spin,
    /// Spin briefly, yield for this long, then sleep as `Sleep` does: events that keep
    /// coming find the thread awake.
    Linger(Duration),
    /// Spin briefly, then sleep in `mio::Poll` until woken or a retry timer is due.
    Sleep,
}

/// Settings of the I/O thread.
#[derive(Debug, Clone)]
pub(crate) struct IoConfig {
    /// Shard ids (one FIFO each).
    pub(crate) num_shards: u32,
    /// Shards whose threads start with the bus: `0..active`. The others owe no flush
    /// marker until a scale change starts a thread for them.
    pub(crate) active: u32,
    /// Deadline given to each adapter call, measured from the call's start.
    pub(crate) adapter_timeout: Duration,
    /// Retries after the first attempt for a retryable failure.
    pub(crate) retries: u32,
    /// Delay before the first retry; doubles per attempt.
    pub(crate) backoff_initial: Duration,
    /// Cap on the retry delay.
    pub(crate) backoff_max: Duration,
    /// How to wait when idle.
    pub(crate) idle: IdlePolicy,
    /// Batch buffers a shard may have outstanding; sizes the channels.
    pub(crate) max_inflight_per_shard: usize,
    /// Seed for retry jitter; combined with the shard id.
    pub(crate) jitter_seed: u64,
    /// Core to pin the I/O thread to; `None` leaves it unpinned.
    pub(crate) core: Option<usize>,
    /// The bus's clock: acknowledgement times comparable with insertion timestamps.
    pub(crate) clock: crate::clock::Clock,
}

/// What a shard thread sends to the I/O thread.
#[derive(Debug)]
pub(crate) enum ShardMsg {
    /// A sealed batch to write.
    Batch(Batch),
    /// A flush marker: every batch the shard sent before it belongs to flush `ticket`.
    FlushMarker(u64),
    /// The shard thread has sent its last batch and is exiting.
    Closed,
    /// Hold this shard's later messages until scale change `change`'s barrier: the
    /// shards that handed keys to this one have passed the change's flush ticket.
    Await(u64),
}

pub(crate) enum Control {
    FlushAdapter {
        deadline: Instant,
        reply: Sender<Result<(), AdapterError>>,
    },
    /// Scale change `change` is released once every shard in `losers` has passed flush
    /// ticket `ticket`.
    Barrier {
        change: u64,
        ticket: u64,
        losers: Vec<u32>,
    },
}

/// How the adapter's final `flush` and `shutdown` went, once every shard closed.
#[derive(Debug)]
pub(crate) struct IoOutcome {
    /// The adapter's last flush.
    pub(crate) flush: Result<(), AdapterError>,
    /// The adapter's shutdown.
    pub(crate) shutdown: Result<(), AdapterError>,
}

/// Starts the I/O thread for `adapter` and returns its handle and one link per shard.
///
/// The adapter must already be initialised (`Adapter::init`). The thread exits once
/// every shard thread counted as running (`config.active` at the start, then
/// [`IoHandle::thread_starting`]) has sent [`ShardMsg::Closed`] and its queue drained; it
/// then flushes and shuts the adapter down.
pub(crate) fn spawn_io_thread(
    config: IoConfig,
    adapter: Arc<dyn Adapter>,
) -> std::io::Result<(IoHandle, Vec<ShardLink>)> {
    let shards = config.num_shards as usize;
    let per_shard = config.max_inflight_per_shard.max(1) + 4;
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKE)?;
    let counters: Vec<ShardIoCounters> = (0..shards).map(|_| ShardIoCounters::default()).collect();
    // A shard without a thread owes no flush marker.
    for c in &counters[config.active as usize..] {
        c.set_flushed_ticket(u64::MAX);
    }
    let shared = Arc::new(Shared {
        counters,
        wake: WakeSignal {
            sleeping: AtomicBool::new(false),
            waker,
        },
        progress: Mutex::new(0),
        progressed: Condvar::new(),
        outcome: Mutex::new(None),
        done: AtomicBool::new(false),
        latency: latency::LatencyRecorder::new(shards),
        released_change: std::sync::atomic::AtomicU64::new(0),
        running: std::sync::atomic::AtomicU32::new(config.active),
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
    let core = config.core;
    let io_loop = IoLoop::new(
        config,
        adapter,
        Arc::clone(&shared),
        rx,
        ctrl_rx,
        recycle,
        poll,
    );
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
