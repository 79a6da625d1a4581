//! The shard thread: drains its rings, numbers and stamps each event, seals batches and
//! hands them to the I/O thread.
//!
//! - `worker.rs`: the thread's loop (drain passes, flush markers, the final drain);
//! - `seal.rs`: when a batch is sealed (size, bytes, age);
//! - `pinning.rs`: which core a shard runs on, and what happened when it tried.

pub(crate) mod pinning;
pub(crate) mod seal;
pub(crate) mod worker;
