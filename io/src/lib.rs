//! corelane's I/O layer: the contract a durable backend implements, the batch it
//! receives, and the one thread that talks to it.
//!
//! # What this crate guarantees
//! - A [`Batch`] holds consecutive events of one shard (sequences `seq_start..seq_end`)
//!   in one buffer; each event has a stable [`DedupId`] that survives retries.
//! - The I/O thread ([`spawn_io_thread`]) is the only thread that blocks on a backend.
//!   It keeps one FIFO per shard: batches of a shard are written in the order the shard
//!   sealed them, and a batch waiting for a retry delays only its own shard.
//! - Every adapter call carries a deadline (`adapter_timeout` from the call's start).
//!   Retryable failures ([`ErrorKind::is_retryable`]) are retried up to `retries` times
//!   with exponential backoff and per-shard jitter, scheduled as timers; after the last
//!   attempt the batch's events are counted as failed under the kind of the last error
//!   and logged once. Nothing is dropped without being counted.
//! - An adapter that panics is caught: its batch is counted failed as `Fatal`.
//! - Written batches go back to their shard for reuse, so the steady state allocates
//!   nothing.
//!
//! # What it costs
//! A hand-off is one bounded-channel send; the shard pays a `mio::Waker` wake (one
//! `write(2)` to an eventfd) only when the I/O thread is asleep.

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

mod adapter;
mod batch;
mod counters;
mod error;
mod io_thread;
mod retry;

pub use adapter::{Adapter, DamagedRange, InitReport, Position, ShardPoll, ShardTail, StoredEvent};
pub use batch::{Batch, BatchEvent, DedupId};
pub use counters::{ShardIoCounters, ShardIoSnapshot};
pub use error::{AdapterError, ErrorKind};
pub use io_thread::{
    IdlePolicy, IoConfig, IoHandle, IoOutcome, ShardLink, ShardMsg, spawn_io_thread,
};
pub use retry::Backoff;
