//! The streams behind the shards: `STREAM.INFO`, creating a missing stream and checking
//! an existing one against the configuration, and finding the shards a server holds.

use std::time::Instant;

use corelane_io::{AdapterError, ErrorKind};
use serde_json::{Value, json};

use super::JetStreamAdapter;
use super::proto;
use crate::connection::Slot;

/// The `err_code` of a JetStream API error saying the stream does not exist.
const STREAM_NOT_FOUND: u64 = 10059;

/// A JetStream API error in a reply: `{"error": {"code": 503, "err_code": 10008, ...}}`.
pub(super) fn api_error(what: &str, reply: &Value) -> Option<AdapterError> {
    let err = reply.get("error")?;
    let code = err.get("code").and_then(Value::as_u64).unwrap_or(0);
    let err_code = err.get("err_code").and_then(Value::as_u64).unwrap_or(0);
    let description = err
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("no description");
    let kind = match code {
        503 | 408 | 429 => ErrorKind::Transient,
        _ => ErrorKind::Fatal,
    };
    Some(AdapterError::new(
        kind,
        format!("jetstream {what}: {description} (code {code}, err_code {err_code})"),
    ))
}

/// The reply's JSON, or why it is not usable (no responders → retryable).
pub(super) fn reply_json(what: &str, msg: &proto::Msg) -> Result<Value, AdapterError> {
    if msg.status() == Some(503) {
        return Err(AdapterError::transient(format!(
            "jetstream {what}: no responders (is JetStream enabled, does the stream exist?)"
        )));
    }
    serde_json::from_slice(&msg.payload)
        .map_err(|e| AdapterError::fatal(format!("jetstream {what}: reply is not JSON: {e}")))
}

/// The stream sequence of the newest message in a `STREAM.INFO` reply (0: none yet).
pub(super) fn last_seq(info: &Value) -> u64 {
    info.pointer("/state/last_seq")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// The stream sequence of the oldest message in a `STREAM.INFO` reply.
pub(super) fn first_seq(info: &Value) -> u64 {
    info.pointer("/state/first_seq")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

impl JetStreamAdapter {
    /// Messages stored in `shard`'s stream (from `STREAM.INFO`; 0 if it does not exist).
    pub fn stream_messages(&self, shard: u32, deadline: Instant) -> Result<u64, AdapterError> {
        Ok(self
            .stream_info(Slot::Reader, shard, deadline)?
            .and_then(|info| info.pointer("/state/messages").and_then(Value::as_u64))
            .unwrap_or(0))
    }

    /// The number of shards the server holds streams for: one more than the highest `N`
    /// among the streams `{prefix}_shard_N` (0 when there are none).
    pub fn discover_shards(&self, deadline: Instant) -> Result<u32, AdapterError> {
        let prefix = format!("{}_shard_", self.inner.config.prefix);
        let mut count = 0u32;
        let mut offset = 0u64;
        loop {
            let reply = self.api(
                Slot::Reader,
                "STREAM.NAMES",
                &json!({"offset": offset}),
                deadline,
            )?;
            if let Some(e) = api_error("STREAM.NAMES", &reply) {
                return Err(e);
            }
            let names = reply
                .get("streams")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for name in names.iter().filter_map(Value::as_str) {
                if let Some(n) = name
                    .strip_prefix(&prefix)
                    .and_then(|n| n.parse::<u32>().ok())
                {
                    count = count.max(n + 1);
                }
            }
            offset += names.len() as u64;
            let total = reply.get("total").and_then(Value::as_u64).unwrap_or(0);
            if names.is_empty() || offset >= total {
                return Ok(count);
            }
        }
    }

    /// `$JS.API.<api>` request with a JSON body; the reply's JSON (API errors included).
    pub(super) fn api(
        &self,
        slot: Slot,
        api: &str,
        body: &Value,
        deadline: Instant,
    ) -> Result<Value, AdapterError> {
        let subject = format!("$JS.API.{api}");
        let payload = body.to_string();
        let msg = self.with_conn(slot, deadline, |conn, d| {
            conn.request(&subject, payload.as_bytes(), d)
        })?;
        reply_json(api, &msg)
    }

    /// Stream info, or `None` if the stream does not exist.
    pub(super) fn stream_info(
        &self,
        slot: Slot,
        shard: u32,
        deadline: Instant,
    ) -> Result<Option<Value>, AdapterError> {
        let name = self.inner.config.stream_name(shard);
        let reply = self.api(slot, &format!("STREAM.INFO.{name}"), &json!({}), deadline)?;
        if reply.pointer("/error/err_code").and_then(Value::as_u64) == Some(STREAM_NOT_FOUND) {
            return Ok(None);
        }
        if let Some(e) = api_error(&format!("STREAM.INFO {name}"), &reply) {
            return Err(e);
        }
        Ok(Some(reply))
    }

    fn wanted_config(&self, shard: u32) -> Value {
        let c = &self.inner.config;
        let limit = |v: Option<u64>| v.map_or(-1i64, |n| n.min(i64::MAX as u64) as i64);
        json!({
            "name": c.stream_name(shard),
            "subjects": [c.subject(shard)],
            "retention": "limits",
            "storage": "file",
            "discard": "old",
            "max_consumers": -1,
            "max_msgs": limit(c.max_msgs),
            "max_bytes": limit(c.max_bytes),
            "max_age": c.max_age.map_or(0u64, |d| d.as_nanos() as u64),
            "max_msg_size": -1,
            "num_replicas": c.replicas,
            "duplicate_window": c.duplicate_window.as_nanos() as u64,
            "allow_direct": true,
        })
    }

    /// Creates the stream if missing; checks an existing one matches the configuration.
    pub(super) fn ensure_stream(
        &self,
        shard: u32,
        deadline: Instant,
    ) -> Result<Value, AdapterError> {
        let name = self.inner.config.stream_name(shard);
        let wanted = self.wanted_config(shard);
        let info = match self.stream_info(Slot::Writer, shard, deadline)? {
            Some(info) => info,
            None => {
                let reply = self.api(
                    Slot::Writer,
                    &format!("STREAM.CREATE.{name}"),
                    &wanted,
                    deadline,
                )?;
                if let Some(e) = api_error(&format!("STREAM.CREATE {name}"), &reply) {
                    return Err(AdapterError::config(e.message().to_string()));
                }
                reply
            }
        };
        let have = info.get("config").cloned().unwrap_or_default();
        for key in [
            "subjects",
            "retention",
            "storage",
            "max_msgs",
            "max_bytes",
            "max_age",
            "num_replicas",
            "duplicate_window",
            "allow_direct",
        ] {
            let (w, h) = (&wanted[key], have.get(key).unwrap_or(&Value::Null));
            // The server leaves false/absent fields out of its reply.
            let same = w == h || (w == &json!(false) && h.is_null());
            if !same {
                return Err(AdapterError::config(format!(
                    "jetstream stream {name} exists with {key} = {h}, but the adapter is configured for {w}; \
                     change the configuration or the stream"
                )));
            }
        }
        Ok(info)
    }
}
