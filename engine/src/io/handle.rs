//! The bus's end of the I/O thread: flush waits, the adapter's flush, and the join.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Instant;

use corelane_io::AdapterError;
use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::link::Shared;
use super::{Control, IoOutcome, ShardIoCounters};

/// The controlling end of the I/O thread, held by the bus.
pub(crate) struct IoHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) ctrl: Sender<Control>,
    pub(crate) thread: Mutex<Option<JoinHandle<()>>>,
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
    /// Ingest → acknowledged latency histograms.
    pub(crate) fn latency(&self) -> &super::latency::LatencyRecorder {
        &self.shared.latency
    }

    /// Counters of `shard`.
    pub(crate) fn counters(&self, shard: u32) -> &ShardIoCounters {
        &self.shared.counters[shard as usize]
    }

    /// Waits until every shard's queue has passed flush marker `ticket`, or `deadline`.
    /// On timeout returns the shards that had not.
    pub(crate) fn wait_flushed(&self, ticket: u64, deadline: Instant) -> Result<(), Vec<u32>> {
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
    pub(crate) fn flush_adapter(&self, deadline: Instant) -> Result<(), AdapterError> {
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

    /// Sends scale change `change`'s barrier: shards held at its `Await` go on once
    /// every shard in `losers` has passed flush ticket `ticket`.
    pub(crate) fn send_barrier(&self, change: u64, ticket: u64, losers: Vec<u32>) {
        let _ = self.ctrl.send(Control::Barrier {
            change,
            ticket,
            losers,
        });
        self.shared.wake.wake();
    }

    /// Counts a shard thread about to start (before it can send anything), so that the
    /// I/O thread stays for its `Closed`.
    pub(crate) fn thread_starting(&self) {
        self.shared.running.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes back [`thread_starting`](Self::thread_starting) for a thread that did not
    /// start.
    pub(crate) fn thread_not_started(&self) {
        self.shared.running.fetch_sub(1, Ordering::AcqRel);
    }

    /// The highest scale change whose barrier is released.
    pub(crate) fn released_change(&self) -> u64 {
        self.shared.released_change.load(Ordering::Acquire)
    }

    /// Waits until `done()` holds, re-checking whenever the I/O thread makes progress
    /// and at least every `slice`, or until `deadline`. Returns the last `done()`.
    pub(crate) fn wait_for(
        &self,
        deadline: Instant,
        slice: std::time::Duration,
        mut done: impl FnMut() -> bool,
    ) -> bool {
        let mut progress = self.shared.progress.lock();
        loop {
            if done() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let until = deadline.min(now + slice);
            let _ = self.shared.progressed.wait_until(&mut progress, until);
        }
    }

    /// True once the thread has finished (every shard closed and the adapter shut down).
    pub(crate) fn is_done(&self) -> bool {
        self.shared.done.load(Ordering::Acquire)
    }

    /// Waits until the thread has finished, then joins it. Returns `None` if `deadline`
    /// passed first; the thread is then left running (detached on drop).
    pub(crate) fn join(&self, deadline: Instant) -> Option<IoOutcome> {
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
