//! One error type per operation family.

use std::fmt;
use std::time::Duration;

use corelane_io::AdapterError;

use crate::config::ConfigError;
use crate::nonce::NonceError;
use crate::write::event::EventError;

/// Why an ingest was refused, without the event (the key of refusal counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// The ring was full (`Backpressure::Fail`, or a sampled-in event that found no room).
    Full,
    /// The ring was full and the event was dropped (`Backpressure::DropNewest`).
    Dropped,
    /// Refused by `Backpressure::Sample` above the high-water mark.
    SampledOut,
    /// No room appeared within `Backpressure::Block`'s timeout.
    TimedOut,
    /// The bus is shutting down or shut down.
    ShuttingDown,
    /// The payload is larger than `max_event_bytes`.
    TooLarge,
    /// Invalid JSON for a JSON ingest, or a shard the bus does not have.
    Invalid,
}

impl RefusalReason {
    /// Every reason, in counter order.
    pub const ALL: [RefusalReason; 7] = [
        RefusalReason::Full,
        RefusalReason::Dropped,
        RefusalReason::SampledOut,
        RefusalReason::TimedOut,
        RefusalReason::ShuttingDown,
        RefusalReason::TooLarge,
        RefusalReason::Invalid,
    ];

    /// Position in [`RefusalReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What made an event invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidEvent {
    /// `ingest_json` got bytes that are not one JSON value.
    Json(EventError),
    /// The event was routed to a shard the bus does not have.
    NoSuchShard {
        /// The shard asked for.
        shard: u32,
        /// Shards the bus has.
        num_shards: u32,
    },
}

impl fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidEvent::Json(e) => e.fmt(f),
            InvalidEvent::NoSuchShard { shard, num_shards } => write!(
                f,
                "event routed to shard {shard}, but the bus has shards 0..{num_shards}"
            ),
        }
    }
}

/// A refused ingest. Every variant hands the event back, like crossbeam's
/// `TrySendError::Full(T)`; [`into_inner`](Self::into_inner) takes it out.
///
/// An ingest that returns `Ok` put the event in a ring; every `Err` is counted in
/// [`Stats::refused`](crate::stats::Stats::refused) under its [`RefusalReason`].
#[derive(Clone, PartialEq, Eq)]
pub enum IngestError<E> {
    /// The ring to `shard` had no room.
    Full {
        /// The event.
        event: E,
        /// Its shard.
        shard: u32,
    },
    /// The ring to `shard` had no room and the event was dropped and counted.
    Dropped {
        /// The event.
        event: E,
        /// Its shard.
        shard: u32,
    },
    /// Refused by sampling: the ring to `shard` was above its high-water mark.
    SampledOut {
        /// The event.
        event: E,
        /// Its shard.
        shard: u32,
    },
    /// No room appeared in the ring to `shard` within the blocking timeout.
    TimedOut {
        /// The event.
        event: E,
        /// Its shard.
        shard: u32,
        /// How long the ingest waited.
        waited: Duration,
    },
    /// The bus is shutting down or shut down.
    ShuttingDown(E),
    /// The payload exceeds `max_event_bytes`.
    TooLarge {
        /// The event.
        event: E,
        /// Its payload length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The event is invalid.
    Invalid {
        /// The event.
        event: E,
        /// What is wrong with it.
        error: InvalidEvent,
    },
}

impl<E> IngestError<E> {
    /// The refused event.
    pub fn into_inner(self) -> E {
        match self {
            IngestError::Full { event, .. }
            | IngestError::Dropped { event, .. }
            | IngestError::SampledOut { event, .. }
            | IngestError::TimedOut { event, .. }
            | IngestError::ShuttingDown(event)
            | IngestError::TooLarge { event, .. }
            | IngestError::Invalid { event, .. } => event,
        }
    }

    /// Why it was refused.
    pub fn reason(&self) -> RefusalReason {
        match self {
            IngestError::Full { .. } => RefusalReason::Full,
            IngestError::Dropped { .. } => RefusalReason::Dropped,
            IngestError::SampledOut { .. } => RefusalReason::SampledOut,
            IngestError::TimedOut { .. } => RefusalReason::TimedOut,
            IngestError::ShuttingDown(_) => RefusalReason::ShuttingDown,
            IngestError::TooLarge { .. } => RefusalReason::TooLarge,
            IngestError::Invalid { .. } => RefusalReason::Invalid,
        }
    }

    /// The same refusal carrying a different value (the caller's original type).
    pub fn map<F>(self, f: impl FnOnce(E) -> F) -> IngestError<F> {
        match self {
            IngestError::Full { event, shard } => IngestError::Full {
                event: f(event),
                shard,
            },
            IngestError::Dropped { event, shard } => IngestError::Dropped {
                event: f(event),
                shard,
            },
            IngestError::SampledOut { event, shard } => IngestError::SampledOut {
                event: f(event),
                shard,
            },
            IngestError::TimedOut {
                event,
                shard,
                waited,
            } => IngestError::TimedOut {
                event: f(event),
                shard,
                waited,
            },
            IngestError::ShuttingDown(event) => IngestError::ShuttingDown(f(event)),
            IngestError::TooLarge { event, len, max } => IngestError::TooLarge {
                event: f(event),
                len,
                max,
            },
            IngestError::Invalid { event, error } => IngestError::Invalid {
                event: f(event),
                error,
            },
        }
    }
}

impl<E> fmt::Display for IngestError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestError::Full { shard, .. } => {
                write!(f, "ring to shard {shard} is full (backpressure: refuse)")
            }
            IngestError::Dropped { shard, .. } => {
                write!(
                    f,
                    "ring to shard {shard} is full; event dropped (backpressure: drop newest)"
                )
            }
            IngestError::SampledOut { shard, .. } => write!(
                f,
                "ring to shard {shard} is above its high-water mark; event sampled out"
            ),
            IngestError::TimedOut { shard, waited, .. } => write!(
                f,
                "ring to shard {shard} stayed full for {waited:?} (backpressure: block)"
            ),
            IngestError::ShuttingDown(_) => f.write_str("the bus is shutting down"),
            IngestError::TooLarge { len, max, .. } => {
                write!(f, "event of {len} bytes exceeds max_event_bytes ({max})")
            }
            IngestError::Invalid { error, .. } => error.fmt(f),
        }
    }
}

impl<E> fmt::Debug for IngestError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IngestError::{:?}({self})", self.reason())
    }
}

impl<E> std::error::Error for IngestError<E> {}

/// Why a bus could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The producer nonce file could not be used.
    #[error(transparent)]
    Nonce(#[from] NonceError),
    /// The adapter's `init` failed.
    #[error("adapter {adapter} failed to initialise: {error}")]
    Adapter {
        /// The adapter's name.
        adapter: String,
        /// Its error.
        #[source]
        error: AdapterError,
    },
    /// A thread could not be started.
    #[error("could not start the {what} thread: {error}")]
    Spawn {
        /// Which thread.
        what: String,
        /// The OS error.
        #[source]
        error: std::io::Error,
    },
}

/// Why `flush` did not confirm delivery.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    /// Some shards had not written everything accepted before the call when the timeout
    /// expired (their events are still queued or being retried; nothing is lost).
    #[error("flush timed out after {timeout:?}; shards still writing: {lagging:?}")]
    Timeout {
        /// The shards that lagged.
        lagging: Vec<u32>,
        /// The timeout given.
        timeout: Duration,
    },
    /// Every event was handed over, but the adapter's own flush failed.
    #[error("adapter flush failed: {0}")]
    Adapter(#[source] AdapterError),
    /// The bus is shut down (shutdown already wrote or counted everything).
    #[error("the bus is shut down")]
    ShutDown,
}

/// Why `shutdown` did not complete cleanly. Shutdown never loses an accepted event
/// silently: what could not be written is counted in `Stats::failed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShutdownError {
    /// A stage did not finish within `shutdown_timeout`; threads still running were
    /// detached.
    #[error("shutdown timed out after {timeout:?} waiting for {stage}")]
    Timeout {
        /// `"producers"`, `"shard threads"` or `"the I/O thread"`.
        stage: &'static str,
        /// The timeout.
        timeout: Duration,
    },
    /// The adapter's final flush or shutdown failed.
    #[error("adapter {stage} failed during shutdown: {message}")]
    Adapter {
        /// `"flush"` or `"shutdown"`.
        stage: &'static str,
        /// The adapter's error message.
        message: String,
    },
}
