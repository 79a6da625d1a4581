//! Storage backends for corelane.
//!
//! Every adapter implements [`corelane_io::Adapter`]:
//! - [`NoopAdapter`] counts batches and events and stores nothing (benchmarks).
//! - [`MemoryAdapter`] keeps every shard in memory with an optional retention limit and
//!   reads back with exclusive cursors (tests, examples, short-lived buses).
//! - [`FileAdapter`] is the embedded durable log: segment files per shard with
//!   checksummed records, crash recovery and retention (the default store).
//! - `RedisAdapter` (feature `redis`) writes to Redis Streams, each event as the record
//!   body of [`record_body`].
//! - `JetStreamAdapter` (feature `jetstream`) writes to NATS JetStream, speaking the NATS
//!   protocol itself (`nats_proto`), with server-side deduplication by `Nats-Msg-Id`.

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

#[cfg(any(feature = "redis", feature = "jetstream"))]
mod connection;
mod file;
#[cfg(feature = "jetstream")]
mod jetstream;
mod memory;
mod noop;
pub mod record_body;
#[cfg(feature = "redis")]
mod redis;
mod secret;
#[cfg(any(feature = "redis", feature = "jetstream"))]
mod tls;

pub use file::{FileAdapter, FileConfig, FsyncPolicy, ShardRecovery};
#[cfg(feature = "jetstream")]
pub use jetstream::proto as nats_proto;
#[cfg(feature = "jetstream")]
pub use jetstream::{JetStreamAdapter, JetStreamConfig};
pub use memory::MemoryAdapter;
pub use noop::NoopAdapter;
pub use record_body::redact_url;
#[cfg(feature = "redis")]
pub use redis::{RedisAdapter, RedisConfig};
pub use secret::Secret;
#[cfg(any(feature = "redis", feature = "jetstream"))]
pub use tls::TlsFiles;
