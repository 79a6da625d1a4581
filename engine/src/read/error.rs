//! Why a read could not proceed: one error type for polls and subscriptions, and the
//! per-shard failures a page reports without failing whole.

/// A shard that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFailure {
    /// The shard.
    pub shard: u32,
    /// The adapter's error message.
    pub error: String,
    /// Whether the error may pass on a later poll.
    pub retryable: bool,
}

/// Why a poll or subscription could not proceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerError {
    /// The cursor text is malformed.
    #[error("invalid cursor: {reason}")]
    InvalidCursor {
        /// What is wrong with it.
        reason: String,
    },
    /// The filter is malformed.
    #[error("invalid filter at {at}: {reason}")]
    InvalidFilter {
        /// Where in the filter (`$` is its root, `$and[1].$gt` a nested part).
        at: String,
        /// What is wrong there.
        reason: String,
    },
    /// The request is invalid (a limit of 0, an unknown shard).
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What is wrong with it.
        reason: String,
    },
    /// The adapter failed where no partial answer is possible.
    #[error("shard {shard}: {message}")]
    Adapter {
        /// The shard.
        shard: u32,
        /// The adapter's message.
        message: String,
    },
    /// Some shards could not be read (a subscription goes on with the others).
    #[error("{}", describe_failures(.0))]
    ShardsFailed(Vec<ShardFailure>),
}

fn describe_failures(failures: &[ShardFailure]) -> String {
    let parts: Vec<String> = failures
        .iter()
        .map(|f| format!("shard {}: {}", f.shard, f.error))
        .collect();
    format!(
        "{} shard(s) could not be read: {}",
        failures.len(),
        parts.join("; ")
    )
}
