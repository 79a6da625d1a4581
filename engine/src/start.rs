//! Starting a bus, in named steps: the producer nonce, the adapter's `init`, the I/O
//! thread, the shared state, the shard threads.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use corelane_io::{Adapter, InitReport, ShardTail};
use crossbeam_channel::Receiver;

use crate::clock::Clock;
use crate::config::settings::{Config, WaitStrategy};
use crate::error::BuildError;
use crate::io::{IdlePolicy, IoConfig, IoHandle, ShardLink, ShardMsg, spawn_io_thread};
use crate::nonce;
use crate::scale::slots::{ShardRemains, SlotThread};
use crate::shard::pinning::plan_cores;
use crate::shard::worker::{ShardSetup, StartedBy, run_shard};
use crate::shared::BusShared;
use crate::write::ring::RingReader;

/// Starts a bus: every step, or the error of the first that fails (with what it
/// started stopped again).
pub(crate) fn start_bus(
    config: Config,
    adapter: &Arc<dyn Adapter>,
) -> Result<Arc<BusShared>, BuildError> {
    config.validate()?;
    if let Some((spinners, cores)) = config.oversubscribed_spinners() {
        tracing::warn!(
            spinners,
            cores,
            "corelane: BusySpin with {spinners} spinning threads (shards and the I/O thread) \
             on {cores} cores: they will delay each other by whole time slices; use \
             SpinThenYield, or fewer shards (a lower max_shards on a scalable bus)"
        );
    }
    let nonce = producer_nonce(&config)?;
    let report = init_adapter(&config, adapter)?;
    let nonce = rotate_nonce_if_history_unknown(&config, adapter.name(), &report, nonce)?;
    let clock = Clock::new();
    let (io, links) = start_io_thread(&config, nonce, clock, adapter)?;
    let tails: Vec<ShardTail> = (0..config.shard_slots() as u32)
        .map(|s| report.tail(s))
        .collect();
    let next_sequences: Vec<u64> = tails
        .iter()
        .map(|t| t.last_sequence.map_or(0, |s| s + 1))
        .collect();
    let (inboxes, inbox_readers): (Vec<_>, Vec<_>) = (0..tails.len())
        .map(|_| crossbeam_channel::unbounded::<RingReader>())
        .unzip();
    let shared = Arc::new(BusShared::new(
        config,
        nonce,
        io,
        &next_sequences,
        inboxes,
        clock,
    ));
    start_shard_threads(&shared, links, inbox_readers, &tails, clock)?;
    if let Err(error) = crate::scale::monitor::start_monitor(&shared) {
        if let Err(err) = shared.shutdown(shared.config.shutdown_timeout) {
            tracing::warn!(%err, "corelane: stopping a bus that failed to start");
        }
        return Err(BuildError::Spawn {
            what: "scaling monitor".into(),
            error,
        });
    }
    Ok(shared)
}

/// Step 1: the nonce of this bus's dedup ids, from the nonce file or fresh.
fn producer_nonce(config: &Config) -> Result<u64, BuildError> {
    Ok(match &config.producer_nonce_path {
        Some(path) => nonce::load_or_create_nonce(path)?,
        None => nonce::random_nonce(),
    })
}

/// Step 2: the adapter's `init`, which reports where each shard's numbering continues.
fn init_adapter(config: &Config, adapter: &Arc<dyn Adapter>) -> Result<InitReport, BuildError> {
    // A scalable bus prepares every shard id it may use.
    let report = adapter
        .init(
            config.shard_slots() as u32,
            Instant::now() + config.adapter_timeout,
        )
        .map_err(|error| BuildError::Adapter {
            adapter: adapter.name().to_string(),
            error,
        })?;
    for note in &report.notes {
        tracing::info!(adapter = adapter.name(), "{note}");
    }
    Ok(report)
}

/// A shard whose history the store cannot tell restarts its numbering at 0; ids made
/// with a persisted nonce could then equal ids a server still remembers (and drops as
/// duplicates), so the nonce file gets a new nonce.
fn rotate_nonce_if_history_unknown(
    config: &Config,
    adapter: &str,
    report: &InitReport,
    nonce: u64,
) -> Result<u64, BuildError> {
    let unknown: Vec<u32> = (0..config.shard_slots() as u32)
        .filter(|&s| report.tail(s).history_unknown)
        .collect();
    let Some(path) = config
        .producer_nonce_path
        .as_ref()
        .filter(|_| !unknown.is_empty())
    else {
        return Ok(nonce);
    };
    let fresh = nonce::rotate_nonce(path)?;
    tracing::warn!(
        shards = ?unknown,
        adapter,
        "corelane: the store holds no record that continues these shards' numbering \
         (purged?); numbering restarts at 0 under a new producer nonce so that no \
         dedup id repeats one the store may remember"
    );
    Ok(fresh)
}

/// Step 3: the I/O thread, and one link to it per shard.
fn start_io_thread(
    config: &Config,
    nonce: u64,
    clock: Clock,
    adapter: &Arc<dyn Adapter>,
) -> Result<(IoHandle, Vec<ShardLink>), BuildError> {
    let io_config = IoConfig {
        num_shards: config.shard_slots() as u32,
        active: config.num_shards as u32,
        adapter_timeout: config.adapter_timeout,
        retries: config.adapter_retries,
        backoff_initial: config.retry_backoff_initial,
        backoff_max: config.retry_backoff_max,
        idle: match config.io_wait() {
            WaitStrategy::BusySpin => IdlePolicy::Spin,
            WaitStrategy::SpinThenYield => IdlePolicy::Linger(config.park_after),
            WaitStrategy::Backoff => IdlePolicy::Sleep,
        },
        max_inflight_per_shard: config.max_inflight_batches,
        jitter_seed: nonce,
        core: config.io_core,
        clock,
    };
    spawn_io_thread(io_config, Arc::clone(adapter)).map_err(|error| BuildError::Spawn {
        what: "I/O".into(),
        error,
    })
}

/// Step 4: one pinned thread per active shard; the other shard ids keep what their
/// first thread will continue from. If a thread cannot be spawned, the shards after it
/// close their links at once (the I/O thread waits for every close) and the error is
/// returned; dropping the shared state's last handle then shuts the started ones down.
fn start_shard_threads(
    shared: &Arc<BusShared>,
    links: Vec<ShardLink>,
    inbox_readers: Vec<Receiver<RingReader>>,
    tails: &[ShardTail],
    clock: Clock,
) -> Result<(), BuildError> {
    let active = shared.config.num_shards;
    let mut spawn_error = None;
    for (shard, (link, inbox)) in links.into_iter().zip(inbox_readers).enumerate() {
        let state = &shared.shard_states[shard];
        let remains = ShardRemains {
            link,
            inbox,
            next_sequence: tails[shard].last_sequence.map_or(0, |s| s + 1),
            last_ts: tails[shard].last_insertion_ts.unwrap_or(0),
        };
        if shard >= active {
            shared
                .threads
                .lock()
                .set(shard as u32, SlotThread::Dormant(remains));
            continue;
        }
        if spawn_error.is_some() {
            // A shard that never ran still owes the I/O thread its close.
            let _ = remains.link.try_submit(ShardMsg::Closed);
            state.exited.store(true, Ordering::Release);
            continue;
        }
        if let Err((error, _)) = spawn_shard(shared, shard as u32, remains, clock, None) {
            // No thread, so no `Closed` will come: neither shutdown nor the I/O thread
            // waits for it.
            state.exited.store(true, Ordering::Release);
            shared.io.thread_not_started();
            spawn_error = Some(error);
        }
    }
    match spawn_error {
        None => Ok(()),
        Some(error) => {
            if let Err(err) = shared.shutdown(shared.config.shutdown_timeout) {
                tracing::warn!(%err, "corelane: stopping a bus that failed to start");
            }
            Err(BuildError::Spawn {
                what: "shard".into(),
                error,
            })
        }
    }
}

/// Starts the thread of shard id `shard`, pinned by the core plan, continuing from
/// `remains`; `started_by` is set when a scale change starts it. The thread is recorded
/// as the shard's running thread and as the one its producers wake. If the thread
/// cannot be spawned, `remains` come back with the error.
pub(crate) fn spawn_shard(
    shared: &Arc<BusShared>,
    shard: u32,
    remains: ShardRemains,
    clock: Clock,
    started_by: Option<StartedBy>,
) -> Result<(), (std::io::Error, ShardRemains)> {
    let cores = plan_cores(&shared.config.cores, shard as usize + 1);
    let setup = ShardSetup {
        shard,
        link: remains.link,
        inbox: remains.inbox,
        next_sequence: remains.next_sequence,
        last_ts: remains.last_ts,
        core: cores[shard as usize],
        clock,
        bus: Arc::clone(shared),
        started_by_change: started_by,
        // Before the spawn, so before the change that starts this thread publishes.
        seen_gain: shared.gains[shard as usize].load(Ordering::Acquire),
    };
    // Handed over through a cell, so that a failed spawn gives the setup back.
    let cell = Arc::new(parking_lot::Mutex::new(Some(setup)));
    let handed = Arc::clone(&cell);
    let spawned = std::thread::Builder::new()
        .name(format!("corelane-shard-{shard}"))
        .spawn(move || {
            let setup = handed.lock().take().expect("taken once, by this thread");
            run_shard(setup)
        });
    match spawned {
        Ok(handle) => {
            *shared.wakes[shard as usize].thread.lock() = Some(handle.thread().clone());
            shared
                .threads
                .lock()
                .set(shard, SlotThread::Running(handle));
            Ok(())
        }
        Err(error) => {
            let setup = cell.lock().take().expect("the thread never ran");
            Err((error, setup.into_remains()))
        }
    }
}
