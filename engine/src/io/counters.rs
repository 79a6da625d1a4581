//! What the I/O thread counts, readable from any thread.

use std::sync::atomic::{AtomicU64, Ordering};

use corelane_io::ErrorKind;

/// Counters of one shard's traffic through the I/O thread.
///
/// Only the I/O thread writes them; readers see each counter's latest value (they are
/// not a consistent snapshot of each other while batches are moving).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct ShardIoCounters {
    written_events: AtomicU64,
    written_batches: AtomicU64,
    failed_events: [AtomicU64; 6],
    failed_batches: AtomicU64,
    retries: AtomicU64,
    deadline_overruns: AtomicU64,
    flushed_ticket: AtomicU64,
}

/// A plain copy of [`ShardIoCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShardIoSnapshot {
    /// Events the adapter acknowledged.
    pub(crate) written_events: u64,
    /// Batches the adapter acknowledged.
    pub(crate) written_batches: u64,
    /// Events given up on, by the [`ErrorKind`] of the last attempt (indexed by
    /// [`ErrorKind::index`]).
    pub(crate) failed_events: [u64; 6],
    /// Batches given up on.
    pub(crate) failed_batches: u64,
    /// Retries scheduled (attempts after the first).
    pub(crate) retries: u64,
    /// Writes that succeeded but returned after their deadline.
    pub(crate) deadline_overruns: u64,
}

impl ShardIoSnapshot {
    /// Events given up on, all reasons together.
    pub(crate) fn failed_total(&self) -> u64 {
        self.failed_events.iter().sum()
    }
}

impl ShardIoCounters {
    fn bump(counter: &AtomicU64, by: u64) {
        // Single writer (the I/O thread): a load and a store, no read-modify-write.
        counter.store(counter.load(Ordering::Relaxed) + by, Ordering::Release);
    }

    pub(crate) fn record_written(&self, events: usize) {
        Self::bump(&self.written_events, events as u64);
        Self::bump(&self.written_batches, 1);
    }

    pub(crate) fn record_failed(&self, kind: ErrorKind, events: usize) {
        Self::bump(&self.failed_events[kind.index()], events as u64);
        Self::bump(&self.failed_batches, 1);
    }

    pub(crate) fn record_retry(&self) {
        Self::bump(&self.retries, 1);
    }

    pub(crate) fn record_overrun(&self) {
        Self::bump(&self.deadline_overruns, 1);
    }

    pub(crate) fn set_flushed_ticket(&self, ticket: u64) {
        self.flushed_ticket.fetch_max(ticket, Ordering::Release);
    }

    /// Starts a shard id's flush tickets over for a new thread. Only while the shard has
    /// no thread and its last `Closed` was processed: the I/O thread does not write it
    /// then.
    pub(crate) fn restart_flushed_ticket(&self) {
        self.flushed_ticket.store(0, Ordering::Release);
    }

    /// The highest flush ticket whose marker this shard's queue has passed: every batch
    /// the shard sealed before that marker is written or counted failed.
    pub(crate) fn flushed_ticket(&self) -> u64 {
        self.flushed_ticket.load(Ordering::Acquire)
    }

    /// Events written and events failed (all reasons): the two loads a completion check
    /// needs, without a full snapshot.
    pub(crate) fn finished(&self) -> (u64, u64) {
        let failed = self
            .failed_events
            .iter()
            .map(|c| c.load(Ordering::Acquire))
            .sum();
        (self.written_events.load(Ordering::Acquire), failed)
    }

    /// A copy of every counter.
    pub(crate) fn snapshot(&self) -> ShardIoSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Acquire);
        ShardIoSnapshot {
            written_events: load(&self.written_events),
            written_batches: load(&self.written_batches),
            failed_events: std::array::from_fn(|i| load(&self.failed_events[i])),
            failed_batches: load(&self.failed_batches),
            retries: load(&self.retries),
            deadline_overruns: load(&self.deadline_overruns),
        }
    }
}
