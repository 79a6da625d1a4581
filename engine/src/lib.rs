//! corelane: an in-process event bus for latency-critical programs.
//!
//! Producers hand events to pinned shard threads through single-producer rings; each
//! shard numbers, stamps and batches its events; one I/O thread writes the batches to a
//! durable [`Adapter`]. There is no async runtime: a [`Bus`] is a handful of OS threads.
//!
//! # What is guaranteed
//! - **Accepted means delivered or counted.** An ingest that returns `Ok` put the event
//!   in a ring. It is then acknowledged by the adapter or, if the adapter gives up after
//!   `adapter_retries` retries, counted in [`Stats::failed`] with the reason. Once the bus
//!   is quiescent, `accepted == written + failed.total()` exactly.
//! - **Refusals hand the event back.** A refused ingest returns an [`IngestError`] that
//!   carries the event and is counted in [`Stats::refused`] by reason.
//! - **Order.** Events of one producer to one shard are stored in ingest order. Each shard
//!   has one total order, fixed by the sequence numbers its thread assigns (no gaps, no
//!   reuse, continued across restarts from what the adapter reports); storage order is
//!   sequence order. Insertion timestamps are Unix-epoch nanoseconds, strictly increasing
//!   per shard and comparable across shards.
//! - **[`Bus::flush`] is a delivery barrier**: when it returns `Ok`, every event accepted
//!   before the call is written or counted failed, and the adapter's flush has run.
//! - **[`Bus::shutdown`] (and `Drop`) lose nothing**: new ingests are refused, ingests in
//!   progress finish, every ring is drained, every batch written, the adapter flushed and
//!   shut down, every thread joined. It is idempotent.
//!
//! # What it costs
//! An ingest of a small event copies it once into a ring, allocates nothing, makes no
//! system call, and executes no fence and no contended read-modify-write: it announces
//! itself with a plain store behind a compiler fence (the shutdown side pays with Linux
//! `membarrier`; elsewhere both sides use a `SeqCst` fence). A shard thread allocates
//! nothing in the steady state: batch buffers return from the I/O thread for reuse.
//!
//! # A guide
//!
//! **1. Build a bus** over a store. [`Bus::builder`] starts from defaults that suit most
//! programs ([`Config`] documents every field); [`adapters`] holds the stores: the
//! embedded log [`adapters::FileAdapter`], [`adapters::MemoryAdapter`], and Redis Streams
//! and NATS JetStream behind the `redis` and `jetstream` features. A bus can also be
//! described in JSON ([`config::BusJson`]), as the C ABI and the CLI do.
//!
//! **2. Ingest.** A [`Producer`] (from [`Bus::producer`], one per thread) is the fast
//! path: [`Producer::ingest_raw`] takes bytes, [`Producer::ingest`] an [`Event`] of JSON,
//! [`Producer::ingest_batch`] many at once; [`RawEvent`] routes by key or to a shard.
//! [`Bus::ingest`] and friends do the same through a per-thread producer. A refusal
//! ([`IngestError`]) hands the event back. [`Bus::flush`] waits until everything
//! accepted is stored; [`Bus::stats`] counts everything.
//!
//! **3. Read back** with the [`read`] module: [`Bus::poll`] a page by cursor and filter,
//! or [`Bus::subscribe`] to new events; [`read::Consumer`] reads a store without a bus.
//!
//! **4. Shut down** with [`Bus::shutdown`] (or drop the bus).
//!
//! Writing a store of your own means implementing [`adapter::Adapter`], a contract that
//! lives in its own small crate (`corelane-io`, re-exported as [`adapter`]).
//!
//! ```
//! use std::time::Duration;
//! use corelane::{Bus, Event};
//! use corelane::adapters::MemoryAdapter;
//! use corelane::read::ConsumeRequest;
//!
//! let store = MemoryAdapter::new();
//! let bus = Bus::builder().num_shards(2).build(store.clone()).unwrap();
//!
//! let mut producer = bus.producer();
//! producer.ingest(Event::from_str(r#"{"sym":"AAPL","px":189.5}"#).unwrap()).unwrap();
//! producer.ingest_raw(b"raw bytes are fine too").unwrap();
//!
//! bus.flush(Duration::from_secs(5)).unwrap();
//! assert_eq!(store.total_events(), 2);
//! let page = bus.poll(&ConsumeRequest::new()).unwrap();
//! assert_eq!(page.events.len(), 2);
//! bus.shutdown().unwrap();
//! ```
//!
//! # Where things are
//! `write/` (producers, rings, routing), `shard/` (the shard thread, sealing, waiting),
//! `io/` (the I/O thread), `read/` (consumer, cursors, filters, subscriptions), `config/`
//! (settings, builder, JSON), and at the top the bus handle (`bus.rs`), how it starts
//! (`start.rs`) and shuts down (`close.rs`), the state it shares (`shared.rs`), epochs,
//! counters and errors. docs/architecture.md has the full map.

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

mod bus;
mod clock;
mod close;
pub mod config;
#[cfg(not(loom))]
mod epoch;
#[cfg(loom)]
#[doc(hidden)]
pub mod epoch;
mod error;
mod io;
#[cfg(feature = "metrics")]
mod metrics;
mod nonce;
pub mod read;
mod scale;
mod shard;
mod shared;
mod start;
mod stats;
mod sync;
#[cfg(not(loom))]
mod sys;
mod wait;
#[cfg(not(loom))]
mod wake;
#[cfg(loom)]
#[doc(hidden)]
pub mod wake;
mod write;

pub use bus::Bus;
pub use config::{
    Backpressure, BatchConfig, BusBuilder, Config, ConfigError, CorePlan, ScalingPolicy,
    WaitStrategy,
};
pub use error::{BuildError, FlushError, IngestError, InvalidEvent, RefusalReason, ShutdownError};
#[cfg(feature = "metrics")]
pub use metrics::MetricsReporter;
pub use nonce::NonceError;
pub use scale::{ScaleError, ScaleEvent, ScaleOutcome, ScaleReason, ScalingStats, ShardPhase};
pub use shard::pinning::Pinning;
pub use stats::{Failed, Latency, Refused, ShardStats, Stats, Totals};
pub use write::event::{AsRawEvent, Event, EventError, RawEvent};
pub use write::producer::{BatchOutcome, Producer, Receipt};
pub use write::routing::Route;

pub use corelane_adapters as adapters;
/// The adapter contract (crate `corelane-io`): what a store implements.
pub use corelane_io as adapter;
pub use corelane_io::{Adapter, AdapterError, ErrorKind};

/// Internals for corelane's own tests and benchmarks; not part of the API.
#[doc(hidden)]
pub mod testing {
    pub use crate::nonce::{load_or_create_nonce, random_nonce};
    pub use crate::write::routing::{routing_hash, shard_for_hash};

    /// True when the producer fast path uses a compiler fence (Linux `membarrier`
    /// available) rather than a full fence.
    pub fn uses_asymmetric_barrier(bus: &crate::Bus) -> bool {
        bus.shared.barrier == crate::epoch::Barrier::Asymmetric
    }
}
