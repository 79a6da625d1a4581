//! Storage backends for corelane.
//!
//! Every adapter implements [`corelane_io::Adapter`]:
//! - [`NoopAdapter`] counts batches and events and stores nothing (benchmarks).
//! - [`MemoryAdapter`] keeps every shard in memory with an optional retention limit and
//!   reads back with exclusive cursors (tests, examples, short-lived buses).
//! - [`FileAdapter`] is the embedded durable log: segment files per shard with
//!   checksummed records, crash recovery and retention (the default store).
//! - `RedisAdapter` (feature `redis`) writes to Redis Streams with the record format of
//!   [`wire`].

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

mod file;
mod memory;
mod noop;
#[cfg(feature = "redis")]
mod redis;
pub mod wire;

pub use file::{FileAdapter, FileConfig, FsyncPolicy, ShardRecovery};
pub use memory::MemoryAdapter;
pub use noop::NoopAdapter;
#[cfg(feature = "redis")]
pub use redis::{RedisAdapter, RedisConfig, redact_url};
