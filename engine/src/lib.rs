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
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use corelane::{Bus, Event};
//! use corelane::adapters::MemoryAdapter;
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
//! ```

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

mod builder;
mod bus;
mod clock;
mod config;
mod consumer;
mod cursor;
#[cfg(not(loom))]
mod epoch;
#[cfg(loom)]
#[doc(hidden)]
pub mod epoch;
mod error;
mod event;
mod filter;
mod local;
mod nonce;
mod pinning;
mod producer;
mod ring;
mod routing;
mod shard;
mod spec;
mod stats;
mod subscribe;
mod sync;
#[cfg(not(loom))]
mod sys;
mod wait;

pub use builder::BusBuilder;
pub use bus::Bus;
pub use config::{
    Backpressure, BatchConfig, Config, ConfigError, CorePlan, FieldProblem, MAX_CORE_ID,
    MAX_RING_CAPACITY_BYTES, MAX_SHARDS, MIN_RING_CAPACITY_BYTES, WaitStrategy, available_cores,
};
pub use consumer::{
    ConsumeOrder, ConsumeRequest, ConsumeResponse, ConsumedEvent, Consumer, DedupWindow, FETCH_CAP,
    MAX_LIMIT, ShardFailure,
};
pub use cursor::Cursor;
pub use error::{
    BuildError, ConsumerError, FlushError, IngestError, InvalidEvent, RefusalReason, ShutdownError,
};
pub use event::{AsRawEvent, Event, EventError, RawEvent};
pub use filter::{Filter, MAX_FILTER_DEPTH};
pub use nonce::{NonceError, load_or_create_nonce, random_nonce};
pub use pinning::Pinning;
pub use producer::{BatchOutcome, Producer, Receipt};
pub use ring::RECORD_HEADER_BYTES;
pub use routing::{Route, routing_hash, shard_for_hash};
pub use spec::{AdapterSpec, BusSpec};
pub use stats::{Failed, Refused, ShardStats, Stats};
pub use subscribe::{StartAt, StopHandle, Subscription};

pub use corelane_adapters as adapters;
pub use corelane_io::{
    Adapter, AdapterError, Batch, BatchEvent, DedupId, ErrorKind, InitReport, Position, ShardPoll,
    ShardTail, StoredEvent,
};
