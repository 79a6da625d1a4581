//! The contract between corelane and a durable backend: what an adapter implements, the
//! batch it receives, what it reads back, and the errors it reports.
//!
//! An adapter author depends on this crate alone: it has no threads, no I/O and no
//! dependencies. The engine (crate `corelane`) owns the thread that calls an adapter.
//!
//! # What an adapter is promised
//! - A [`Batch`] holds consecutive events of one shard (sequences `seq_start..seq_end`)
//!   in one buffer; each event has a stable [`DedupId`] that survives retries, and
//!   [`Batch::attempt`] says which attempt a call is.
//! - Only one thread calls the write side (`init`, `write_batch`, `flush`, `shutdown`),
//!   each call with a deadline; batches of a shard arrive in the order they were sealed.
//!   Readers call `poll_shard` from their own threads at the same time.
//!
//! # What an adapter promises
//! See [`Adapter`]: whole batches in order or an error, a truthful [`InitReport`],
//! exclusive cursors, an [`ErrorKind`] that says whether a retry may help, and every
//! call bounded by its deadline.

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

mod adapter;
mod batch;
mod error;

pub use adapter::{Adapter, DamagedRange, InitReport, Position, ShardPoll, ShardTail, StoredEvent};
pub use batch::{Batch, BatchEvent, DedupId};
pub use error::{AdapterError, ErrorKind};
