//! The contract between corelane and a durable backend.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::{AdapterError, Batch};

/// A backend that stores batches and reads them back.
///
/// The I/O thread is the only caller of the write side (`init`, `write_batch`, `flush`,
/// `shutdown`); consumers call `poll_shard` from their own threads at the same time, so
/// an adapter is `Send + Sync` and keeps separate read and write state where it must.
///
/// Every call gets a deadline. A call that cannot finish by then returns an
/// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error rather than blocking on: a
/// blocked call holds back every shard's batches.
///
/// # Contract
/// - `write_batch` stores the whole batch, in order, or nothing (all-or-nothing
///   acknowledgement). A batch may be retried after a retryable error; a retried batch
///   is the same value and carries the same dedup ids, which backends with server-side
///   deduplication use to store it once.
/// - `init` is called once, before any write, and reports for each shard the last
///   sequence number (and timestamp) the backend already holds, so a restarted bus
///   continues each shard's numbering with no gap and no reuse.
/// - `poll_shard` cursors are exclusive: `after = Some(p)` returns events stored after
///   position `p`. Events come back in sequence order.
/// - `flush` makes everything acknowledged so far durable to the adapter's policy;
///   `shutdown` flushes and releases resources; later writes fail with
///   [`ErrorKind::Shutdown`](crate::ErrorKind::Shutdown).
pub trait Adapter: Send + Sync {
    /// A short name for logs and statistics (`"memory"`, `"file"`, `"redis"`).
    fn name(&self) -> &str;

    /// Prepares the backend for `num_shards` shards and reports what it already holds.
    fn init(&self, num_shards: u32, deadline: Instant) -> Result<InitReport, AdapterError>;

    /// Stores `batch` whole and in order, or returns an error and stores nothing.
    fn write_batch(&self, batch: &Batch, deadline: Instant) -> Result<(), AdapterError>;

    /// Makes every acknowledged batch durable according to the adapter's policy.
    fn flush(&self, deadline: Instant) -> Result<(), AdapterError>;

    /// Flushes and releases the backend. Idempotent.
    fn shutdown(&self, deadline: Instant) -> Result<(), AdapterError>;

    /// Reads up to `limit` events of `shard` stored after position `after`
    /// (`None`: from the shard's beginning), in sequence order.
    fn poll_shard(
        &self,
        shard: u32,
        after: Option<Position>,
        limit: usize,
        deadline: Instant,
    ) -> Result<ShardPoll, AdapterError>;

    /// Position of the last event stored for `shard` (`None` when it is empty): where
    /// an "only new events" subscription starts. The default pages through the shard
    /// with `poll_shard`; adapters that can seek to the end override it.
    fn last_position(
        &self,
        shard: u32,
        deadline: Instant,
    ) -> Result<Option<Position>, AdapterError> {
        let mut after = None;
        loop {
            let page = self.poll_shard(shard, after, 1024, deadline)?;
            let stalled = page.next == after;
            after = page.next;
            if page.end_of_shard || stalled {
                return Ok(after);
            }
        }
    }

    /// A cheap check that the backend answered recently.
    fn is_healthy(&self) -> bool;
}

impl<A: Adapter + ?Sized> Adapter for Arc<A> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn init(&self, num_shards: u32, deadline: Instant) -> Result<InitReport, AdapterError> {
        (**self).init(num_shards, deadline)
    }
    fn write_batch(&self, batch: &Batch, deadline: Instant) -> Result<(), AdapterError> {
        (**self).write_batch(batch, deadline)
    }
    fn flush(&self, deadline: Instant) -> Result<(), AdapterError> {
        (**self).flush(deadline)
    }
    fn shutdown(&self, deadline: Instant) -> Result<(), AdapterError> {
        (**self).shutdown(deadline)
    }
    fn poll_shard(
        &self,
        shard: u32,
        after: Option<Position>,
        limit: usize,
        deadline: Instant,
    ) -> Result<ShardPoll, AdapterError> {
        (**self).poll_shard(shard, after, limit, deadline)
    }
    fn last_position(
        &self,
        shard: u32,
        deadline: Instant,
    ) -> Result<Option<Position>, AdapterError> {
        (**self).last_position(shard, deadline)
    }
    fn is_healthy(&self) -> bool {
        (**self).is_healthy()
    }
}

/// What an adapter already holds, reported by [`Adapter::init`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitReport {
    /// One entry per shard, indexed by shard id. Missing entries mean "empty".
    pub shards: Vec<ShardTail>,
    /// Human-readable notes from recovery (a torn tail truncated, say), for logs.
    pub notes: Vec<String>,
}

impl InitReport {
    /// A report saying every one of `num_shards` shards is empty.
    pub fn empty(num_shards: u32) -> Self {
        InitReport {
            shards: vec![ShardTail::default(); num_shards as usize],
            notes: Vec::new(),
        }
    }

    /// The tail of `shard`, empty when the report does not mention it.
    pub fn tail(&self, shard: u32) -> ShardTail {
        self.shards.get(shard as usize).copied().unwrap_or_default()
    }
}

/// The last event a backend holds for one shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardTail {
    /// Sequence number of the last stored event; `None` when the shard is empty.
    pub last_sequence: Option<u64>,
    /// Insertion timestamp of the last stored event, when known.
    pub last_insertion_ts: Option<u64>,
    /// True when the backend once held entries for this shard but none that tells the
    /// shard's numbering (a purged stream, or only other writers' entries). Numbering
    /// then restarts, so dedup ids of a persisted nonce could repeat old ones: the
    /// engine rotates the nonce instead of reusing ids a server may still remember.
    pub history_unknown: bool,
}

/// An adapter's position within one shard: what a per-shard cursor stores.
///
/// Sequence-addressed backends (memory, file, JetStream) use
/// [`Position::from_sequence`]; Redis stream ids use [`Position::from_parts`]
/// (milliseconds, counter). Positions of one shard order like the events they name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(u128);

impl Position {
    /// The position of the event with this sequence (or stream sequence) number.
    pub const fn from_sequence(sequence: u64) -> Self {
        Position(sequence as u128)
    }

    /// A two-part position such as a Redis stream id `hi-lo`.
    pub const fn from_parts(hi: u64, lo: u64) -> Self {
        Position(((hi as u128) << 64) | lo as u128)
    }

    /// A position from its raw 128-bit value (as stored in a cursor).
    pub const fn from_raw(raw: u128) -> Self {
        Position(raw)
    }

    /// The raw 128-bit value.
    pub const fn raw(self) -> u128 {
        self.0
    }

    /// The low 64 bits: the sequence for sequence-addressed backends.
    pub const fn sequence(self) -> u64 {
        self.0 as u64
    }

    /// The two halves `(hi, lo)`.
    pub const fn parts(self) -> (u64, u64) {
        ((self.0 >> 64) as u64, self.0 as u64)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (hi, lo) = self.parts();
        if hi == 0 {
            write!(f, "{lo}")
        } else {
            write!(f, "{hi}-{lo}")
        }
    }
}

/// An event read back from a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Where the event sits in its shard; the cursor position after reading it.
    pub position: Position,
    /// The shard it was written to.
    pub shard: u32,
    /// The shard's sequence number for it.
    pub sequence: u64,
    /// Insertion timestamp, Unix-epoch nanoseconds.
    pub insertion_ts: u64,
    /// The payload bytes, exactly as ingested.
    pub payload: Vec<u8>,
    /// The deduplication id, for backends that store one.
    pub dedup_id: Option<String>,
}

/// One page of a shard, returned by [`Adapter::poll_shard`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardPoll {
    /// Events after the requested position, in sequence order, at most `limit`.
    pub events: Vec<StoredEvent>,
    /// Position to resume after: the last event returned (or past entries that were
    /// skipped); when nothing was read, the `after` that was passed in.
    pub next: Option<Position>,
    /// True when the backend had nothing beyond `next` at the time of the read.
    pub end_of_shard: bool,
    /// Entries that could not be decoded and were skipped (the cursor moved past them).
    pub skipped: u64,
    /// Damaged stored ranges this read passed over, in shard order. Events before and
    /// after a damaged range are returned; the range itself is reported, never hidden.
    pub damaged: Vec<DamagedRange>,
}

/// A stored range of one shard that could not be read back (a corrupt record, say).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DamagedRange {
    /// The shard.
    pub shard: u32,
    /// Where the damage is (a file path for the file log).
    pub location: String,
    /// Byte offset of the first damaged byte in `location`.
    pub offset: u64,
    /// Damaged bytes from `offset`.
    pub len: u64,
    /// Sequence numbers lost in the range, when the intact records around it tell
    /// (`(first, last)`, inclusive).
    pub lost_sequences: Option<(u64, u64)>,
    /// What is wrong ("checksum mismatch", "length past the end of the file").
    pub reason: String,
}
