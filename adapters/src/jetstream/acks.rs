//! The publish acknowledgements of a batch: each event's stream sequence, a duplicate the
//! server dropped, or an error.

use std::time::Instant;

use corelane_io::{AdapterError, Batch};

use super::JetStreamAdapter;
use super::proto;
use super::streams::{api_error, reply_json};

/// A publish acknowledgement.
#[derive(serde::Deserialize)]
struct PubAck<'a> {
    #[serde(borrow, rename = "stream")]
    _stream: Option<&'a str>,
    seq: Option<u64>,
    duplicate: Option<bool>,
    error: Option<serde::de::IgnoredAny>,
}

impl JetStreamAdapter {
    /// Reads a batch's publish acknowledgements; returns how many were duplicates.
    ///
    /// - No responders: the stream is gone (deleted under the bus). It is created again
    ///   and the batch retried; nothing was stored.
    /// - An error at event `i`: the batch fails with that error's kind. Pipelined
    ///   publishes around `i` may be stored; a retry carries the same ids, so the server
    ///   drops those copies, and a batch that is not retried is counted failed although
    ///   part of it is readable (docs/guarantees.md says so).
    /// - `duplicate: true` on a batch's first attempt: the server holds an older message
    ///   with this id and did not store this event. That is a failure, not a success.
    pub(super) fn check_acks(
        &self,
        batch: &Batch,
        subject: &str,
        acks: &[proto::Msg],
        deadline: Instant,
    ) -> Result<u64, AdapterError> {
        let mut duplicates = 0;
        let mut first_duplicate = None;
        for (i, ack) in acks.iter().enumerate() {
            if ack.status() == Some(503) {
                if let Err(e) = self.ensure_stream(batch.shard(), deadline) {
                    tracing::debug!(%e, "jetstream: could not re-create a missing stream");
                }
                return Err(AdapterError::transient(format!(
                    "jetstream publish to {subject}: no responders (the stream was missing; \
                     it is created again and the batch retried)"
                )));
            }
            // The common case without building a JSON tree: {"stream":"…","seq":N[,"duplicate":true]}.
            match serde_json::from_slice::<PubAck<'_>>(&ack.payload) {
                Ok(PubAck {
                    seq: Some(_),
                    error: None,
                    duplicate,
                    ..
                }) => {
                    if duplicate == Some(true) {
                        duplicates += 1;
                        first_duplicate.get_or_insert(i);
                    }
                }
                _ => {
                    let reply = reply_json("publish", ack)?;
                    return Err(
                        api_error(&format!("publish of event {i} to {subject}"), &reply)
                            .unwrap_or_else(|| {
                                AdapterError::fatal(format!(
                                    "jetstream publish ack without seq: {reply}"
                                ))
                            }),
                    );
                }
            }
        }
        if let (Some(i), 1) = (first_duplicate, batch.attempt()) {
            return Err(AdapterError::fatal(format!(
                "jetstream {subject}: the server dropped {duplicates} of {} events of a first \
                 attempt as duplicates (the first: event {i}, id {}); it remembers older \
                 messages with these ids, so they were not stored",
                batch.len(),
                batch.dedup_id(i)
            )));
        }
        Ok(duplicates)
    }
}
