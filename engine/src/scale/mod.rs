//! Changing the number of shards while the bus runs.
//!
//! Shard ids are dense: shards `0..active` take traffic, and on a scalable bus a
//! [`BucketTable`](crate::write::routing) for `active` shards maps keys to them. Adding
//! shards starts threads for the next ids; retiring shards stops the highest ones. A
//! shard id that comes back continues the numbering its retired thread left (its
//! sequence, its last timestamp, its hand-off to the I/O thread), so no dedup id is ever
//! issued twice.
//!
//! # One change, step by step (`change.rs`)
//! 1. New shard threads start, each with an `Await(change)` marker as its first message
//!    to the I/O thread.
//! 2. The gain words (per shard: the latest change in which it takes over keys) and
//!    then the new routing are
//!    published with a new epoch (DESIGN §3); producers pick the routing up at their
//!    next ingest.
//! 3. The coordinator waits until every producer is outside an ingest or inside one
//!    under the new epoch: from then on nobody routes by the old table.
//! 4. A flush ticket is issued and its number sent to the I/O thread as the change's
//!    barrier; retiring shards are told to drain to empty and exit.
//! 5. The coordinator waits until every shard that handed keys away has passed that
//!    ticket at the I/O thread (retiring shards: until their last message), then joins
//!    the retired threads.
//!
//! # Order across a change
//! A shard that takes over keys puts an `Await(change)` marker in its queue before the
//! first event it drains under the new routing (a new shard: first of all; a remaining
//! shard after a scale-down: when a drain pass first sees its gain word move, which it reads
//! after the ring index that made the event visible). The I/O thread does not pass that
//! marker until every shard that handed keys away has passed the change's flush ticket,
//! so the old shard's earlier events of a moved key are written (or counted failed)
//! before the new shard's. Timestamps follow: at the marker the I/O thread raises the
//! new shard's timestamps above the last ones the old shards wrote.
//!
//! - `slots.rs`: per shard id, the running thread or what a retired one left;
//! - `state.rs`: what the bus keeps about changes (the pending one, the log, the monitor);
//! - `change.rs`: `scale_to` and the stages of a change, resumable after a timeout;
//! - `monitor.rs`: the policy's monitor thread.

pub(crate) mod change;
pub(crate) mod monitor;
pub(crate) mod slots;
pub(crate) mod state;

use std::fmt;
use std::time::{Duration, SystemTime};

/// Where a shard id is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShardPhase {
    /// Taking traffic.
    Active,
    /// Retiring: no longer routed to; its thread drains its rings and writes its last
    /// batches.
    Draining,
    /// Retired: its thread has exited; its stored events stay readable.
    Retired,
    /// Never started (a scalable bus's spare id).
    Unused,
}

impl ShardPhase {
    pub(crate) fn encode(self) -> u8 {
        match self {
            ShardPhase::Active => 0,
            ShardPhase::Draining => 1,
            ShardPhase::Retired => 2,
            ShardPhase::Unused => 3,
        }
    }

    pub(crate) fn decode(v: u8) -> ShardPhase {
        match v {
            0 => ShardPhase::Active,
            1 => ShardPhase::Draining,
            2 => ShardPhase::Retired,
            _ => ShardPhase::Unused,
        }
    }

    /// Lower-case name, as in logs, JSON and the C ABI.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardPhase::Active => "active",
            ShardPhase::Draining => "draining",
            ShardPhase::Retired => "retired",
            ShardPhase::Unused => "unused",
        }
    }
}

/// Why a change was made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScaleReason {
    /// [`Bus::scale_to`](crate::Bus::scale_to).
    Manual,
    /// The policy: a shard's fullest ring stayed at or above `scale_up_fill`.
    RingFill {
        /// The fullest ring at the decision, 0.0..=1.0.
        fill: f64,
    },
    /// The policy: a shard stayed busy at least `scale_up_busy` of the time.
    Busy {
        /// The busiest shard's busy fraction at the decision.
        busy: f64,
    },
    /// The policy: every shard stayed cold for `scale_down_window`.
    Idle,
}

impl fmt::Display for ScaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScaleReason::Manual => f.write_str("manual"),
            ScaleReason::RingFill { fill } => write!(f, "ring fill {:.0}%", fill * 100.0),
            ScaleReason::Busy { busy } => write!(f, "busy {:.0}%", busy * 100.0),
            ScaleReason::Idle => f.write_str("idle"),
        }
    }
}

/// One completed change of the shard count.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleEvent {
    /// When the change was published.
    pub at: SystemTime,
    /// Shards before.
    pub from: u32,
    /// Shards after.
    pub to: u32,
    /// Why.
    pub reason: ScaleReason,
    /// From the start of the change until the new routing was published (new shards
    /// take traffic from then on).
    pub to_traffic: Duration,
    /// From the start until the change was complete (old shards' events of moved keys
    /// written, retired threads joined).
    pub took: Duration,
}

/// What [`Bus::scale_to`](crate::Bus::scale_to) changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleOutcome {
    /// Shards before.
    pub from: u32,
    /// Shards after.
    pub to: u32,
    /// Shard ids that started taking traffic.
    pub added: Vec<u32>,
    /// Shard ids retired (drained, written, joined).
    pub retired: Vec<u32>,
    /// From the call until the new routing was published.
    pub to_traffic: Duration,
    /// From the call until the change was complete.
    pub took: Duration,
}

/// Why [`Bus::scale_to`](crate::Bus::scale_to) did not change the shard count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleError {
    /// The bus was built without `max_shards` or a scaling policy.
    NotScalable,
    /// The target is outside `1..=max`.
    OutOfRange {
        /// The target asked for.
        target: u32,
        /// The most shards this bus may have.
        max: u32,
    },
    /// Another change is being made, or an earlier one has not finished writing the
    /// events of the keys it moved.
    InProgress {
        /// What the change in progress is doing.
        detail: String,
    },
    /// The bus is shutting down or shut down.
    Closed,
    /// The change was published (new shards take traffic, or retired ones no longer
    /// do) but did not complete in time; a background thread completes it (shutdown
    /// too, if it comes first), and `scale_to` answers `InProgress` until then.
    Timeout {
        /// The stage that was waiting.
        stage: &'static str,
        /// The bound that expired.
        timeout: Duration,
    },
    /// A shard thread could not be started; nothing changed.
    Spawn {
        /// The operating system's error.
        message: String,
    },
}

impl fmt::Display for ScaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScaleError::NotScalable => f.write_str(
                "this bus cannot change its shard count: build it with max_shards or a \
                 scaling policy",
            ),
            ScaleError::OutOfRange { target, max } => {
                write!(f, "cannot scale to {target} shards: the range is 1..={max}")
            }
            ScaleError::InProgress { detail } => {
                write!(f, "a shard-count change is in progress: {detail}")
            }
            ScaleError::Closed => f.write_str("the bus is shutting down or shut down"),
            ScaleError::Timeout { stage, timeout } => write!(
                f,
                "the change did not complete within {timeout:?} (waiting for {stage}); it \
                 is published and completes later"
            ),
            ScaleError::Spawn { message } => {
                write!(f, "could not start a shard thread: {message}")
            }
        }
    }
}

impl std::error::Error for ScaleError {}

/// The scaling part of [`Stats`](crate::Stats).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScalingStats {
    /// Shards taking traffic.
    pub active_shards: u32,
    /// Shard ids the bus may use (`max_shards`, or `num_shards` on a static bus).
    pub max_shards: u32,
    /// True while a change has not completed.
    pub changing: bool,
    /// The latest completed changes (at most 64), oldest first.
    pub events: Vec<ScaleEvent>,
    /// Changes completed since the bus started (the log keeps the latest 64).
    pub changes: u64,
}
