//! The write path, from a producer's call to the shard's ring:
//!
//! 1. `event.rs`: what can be ingested (`Event`, `RawEvent`, `AsRawEvent`) and JSON checks;
//! 2. `routing.rs`: which shard an event goes to;
//! 3. `producer.rs`: the ingest fast path, backpressure, refusals;
//! 4. `ring.rs`: the length-framed records in each SPSC ring;
//! 5. `local.rs`: one producer per thread for `Bus::ingest` on a shared bus.

pub(crate) mod event;
pub(crate) mod local;
pub(crate) mod producer;
pub(crate) mod ring;
pub(crate) mod routing;
