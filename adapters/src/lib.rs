//! Storage backends for corelane.
//!
//! Every adapter implements [`corelane_io::Adapter`]:
//! - [`NoopAdapter`] counts batches and events and stores nothing (benchmarks).
//! - [`MemoryAdapter`] keeps every shard in memory with an optional retention limit and
//!   reads back with exclusive cursors (tests, examples, short-lived buses).

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

mod memory;
mod noop;

pub use memory::MemoryAdapter;
pub use noop::NoopAdapter;
