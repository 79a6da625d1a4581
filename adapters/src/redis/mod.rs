//! Redis Streams, through the `redis` crate's blocking client.
//!
//! Shard `s` is the stream `{prefix}:shard:{s}`; each event is one entry with the fields
//! `d` (the record body of [`crate::record_body`]) and `dedup_id`. A batch is one MULTI/EXEC
//! pipeline of XADDs, so it lands whole or not at all. Reads use `XRANGE` with an
//! exclusive start on a connection of their own.
//!
//! - `client.rs`: the client a configuration describes: URL, password source, TLS.
//! - `transaction.rs`: a batch packed as MULTI / XADD… / EXEC, and the check of EXEC's reply.
//! - `entries.rs`: stream entries and entry ids as the server answers them.
//! - `errors.rs`: which Redis errors are retryable.

mod client;
mod entries;
mod errors;
mod transaction;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use corelane_io::{
    Adapter, AdapterError, Batch, InitReport, Position, ShardPoll, ShardTail, StoredEvent,
};
use parking_lot::Mutex;
use redis::{Connection, ConnectionLike, RedisError, Value};

use self::entries::{entries, format_id, parse_id};
use self::errors::{classify, connect_failure};
use self::transaction::{WriteBuffers, check_exec_reply};
use crate::connection::{self, ConnectionSlots, Slot};
use crate::record_body::{Record, decode_record, redact_url};
use crate::secret::Secret;
use crate::tls::TlsFiles;

/// Settings of a [`RedisAdapter`].
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user[:password]@]host[:port][/db]`, or `rediss://…` for TLS.
    pub url: String,
    /// For a `rediss://` URL: the CA to trust and an optional client certificate. `None`:
    /// the bundled public roots. Set with a `redis://` URL, the adapter refuses to start.
    /// The server's name is always checked against its certificate. Default `None`.
    pub tls: Option<TlsFiles>,
    /// The password, from a file or an environment variable instead of the URL (which
    /// must then hold none). Default `None`.
    pub password: Option<Secret>,
    /// Stream keys are `{prefix}:shard:{id}`. Default `corelane`.
    pub prefix: String,
    /// Trim each stream to about this many entries (`MAXLEN ~`). Default: no trimming.
    pub max_stream_len: Option<u64>,
    /// Bound on establishing a connection (TCP and handshake). Default 2 s.
    pub connect_timeout: Duration,
    /// Bound on one command or pipeline (also capped by the call's deadline). Default 5 s.
    pub command_timeout: Duration,
}

impl RedisConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            tls: None,
            password: None,
            prefix: "corelane".into(),
            max_stream_len: None,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(5),
        }
    }

    /// The stream key of `shard`.
    pub fn stream_key(&self, shard: u32) -> String {
        format!("{}:shard:{shard}", self.prefix)
    }

    fn presents_client_cert(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.cert_file.is_some())
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("tls", &self.tls)
            .field("password", &self.password)
            .field("prefix", &self.prefix)
            .field("max_stream_len", &self.max_stream_len)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

/// Redis Streams storage (feature `redis`). Retried batches carry the same dedup ids; Redis
/// has no server-side deduplication, so a batch whose EXEC ran but whose reply was lost is
/// stored twice when retried — read with a `DedupWindow` for exactly-once delivery.
#[derive(Clone)]
pub struct RedisAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    config: RedisConfig,
    client: redis::Client,
    connections: ConnectionSlots<Connection>,
    /// Entries read that could not be decoded.
    undecodable: AtomicU64,
    buffers: Mutex<WriteBuffers>,
}

impl connection::Connection for Connection {
    /// A command error on an open connection (`WRONGTYPE`) leaves it in step with the
    /// server; a timeout or a lost connection may leave a reply in flight.
    fn usable_after(&self, failure: &AdapterError) -> bool {
        !failure.is_retryable() && self.is_open()
    }
}

impl fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl RedisAdapter {
    /// A Redis adapter; connects at `init` (writes) and on the first read.
    pub fn new(config: RedisConfig) -> Result<RedisAdapter, AdapterError> {
        if config.prefix.is_empty() || config.prefix.contains(char::is_whitespace) {
            return Err(AdapterError::config(format!(
                "redis prefix {:?} must be non-empty and without spaces",
                config.prefix
            )));
        }
        if config.max_stream_len == Some(0) {
            return Err(AdapterError::config(
                "redis max_stream_len 0 would keep nothing",
            ));
        }
        if config.connect_timeout.is_zero() || config.command_timeout.is_zero() {
            return Err(AdapterError::config(
                "redis connect_timeout and command_timeout must be above zero",
            ));
        }
        let client = client::build_client(&config)?;
        Ok(RedisAdapter {
            inner: Arc::new(Inner {
                config,
                client,
                connections: ConnectionSlots::new("redis"),
                undecodable: AtomicU64::new(0),
                buffers: Mutex::new(WriteBuffers::default()),
            }),
        })
    }

    /// The settings (the URL keeps its password; use [`redact_url`] to show it).
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// The number of shards the server holds streams for: one more than the highest `N`
    /// among the keys `{prefix}:shard:N` (0 when there are none).
    pub fn discover_shards(&self, deadline: Instant) -> Result<u32, AdapterError> {
        let pattern = format!("{}:shard:*", self.inner.config.prefix);
        let prefix = format!("{}:shard:", self.inner.config.prefix);
        let mut cursor = 0u64;
        let mut count = 0u32;
        loop {
            let (next, keys): (u64, Vec<String>) =
                self.with_connection(Slot::Reader, deadline, "SCAN", |con| {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query(con)
                })?;
            for key in keys {
                if let Some(n) = key
                    .strip_prefix(&prefix)
                    .and_then(|n| n.parse::<u32>().ok())
                {
                    count = count.max(n + 1);
                }
            }
            if next == 0 {
                return Ok(count);
            }
            cursor = next;
        }
    }

    /// Entries read that could not be decoded (and were skipped).
    pub fn undecodable(&self) -> u64 {
        self.inner.undecodable.load(Ordering::Relaxed)
    }

    fn connect(&self, deadline: Instant) -> Result<Connection, AdapterError> {
        let c = &self.inner.config;
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Err(AdapterError::timeout(
                "redis: the deadline passed before connecting",
            ));
        }
        let timeout = left.min(c.connect_timeout);
        self.inner
            .client
            .get_connection_with_timeout(timeout)
            .map_err(|e| connect_failure(&e, &c.url, timeout, c.presents_client_cert()))
    }

    /// Runs the command `what` as `f` on the connection in `slot` (connecting first if
    /// needed), its socket timeouts bounded by `deadline` and the command timeout.
    fn with_connection<T>(
        &self,
        slot: Slot,
        deadline: Instant,
        what: &str,
        f: impl FnOnce(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, AdapterError> {
        let c = &self.inner.config;
        let connect = || self.connect(deadline);
        self.inner.connections.with(slot, deadline, connect, |con| {
            // The slots checked that at least a millisecond is left; a zero timeout would
            // mean "none".
            let timeout = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
                .min(c.command_timeout);
            con.set_read_timeout(Some(timeout))
                .and_then(|_| con.set_write_timeout(Some(timeout)))
                .and_then(|_| f(con))
                .map_err(|e| classify(what, &e, &c.url, c.presents_client_cert()))
        })
    }

    /// Reads the newest entry of `shard` that is a corelane record of this shard, however
    /// far back it is (other clients may have added entries after it): (id, record).
    /// `Ok(None)` when the stream holds no such entry; the flag says whether the stream
    /// holds entries at all.
    fn tail_entry(
        &self,
        shard: u32,
        deadline: Instant,
    ) -> Result<(Option<(Position, Record)>, bool), AdapterError> {
        let key = self.inner.config.stream_key(shard);
        let mut end = "+".to_string();
        let mut any = false;
        loop {
            let value: Value =
                self.with_connection(Slot::Writer, deadline, "XREVRANGE", |con| {
                    redis::cmd("XREVRANGE")
                        .arg(&key)
                        .arg(&end)
                        .arg("-")
                        .arg("COUNT")
                        .arg(TAIL_PAGE)
                        .query(con)
                })?;
            let parsed = entries(value)
                .map_err(|e| AdapterError::fatal(format!("redis XREVRANGE {key}: {e}")))?;
            any |= !parsed.is_empty();
            let Some(oldest) = parsed.last().and_then(|(id, _)| parse_id(id)) else {
                return Ok((None, any));
            };
            for (id, fields) in &parsed {
                let record = fields
                    .iter()
                    .find(|(k, _)| k == "d")
                    .and_then(|(_, v)| decode_record(v).ok())
                    .filter(|r| r.sequence.is_some() && r.shard == shard);
                if let (Some(pos), Some(record)) = (parse_id(id), record) {
                    return Ok((Some((pos, record)), true));
                }
            }
            if parsed.len() < TAIL_PAGE {
                return Ok((None, true));
            }
            // Exclusive end: continue below the oldest entry of this page.
            end = format!("({}", format_id(oldest));
        }
    }
}

/// Entries read per step when looking back for a shard's last corelane record.
const TAIL_PAGE: usize = 256;

impl Adapter for RedisAdapter {
    fn name(&self) -> &str {
        "redis"
    }

    fn init(&self, num_shards: u32, deadline: Instant) -> Result<InitReport, AdapterError> {
        self.inner.connections.reopen();
        let pong: String = self.with_connection(Slot::Writer, deadline, "PING", |con| {
            redis::cmd("PING").query(con)
        })?;
        if pong != "PONG" {
            return Err(AdapterError::fatal(format!("redis PING answered {pong:?}")));
        }
        let mut report = InitReport::empty(num_shards);
        for shard in 0..num_shards {
            match self.tail_entry(shard, deadline)? {
                (Some((_, record)), _) => {
                    report.shards[shard as usize] = ShardTail {
                        last_sequence: record.sequence,
                        last_insertion_ts: Some(record.insertion_ts),
                        history_unknown: false,
                    };
                }
                (None, true) => {
                    report.shards[shard as usize].history_unknown = true;
                    report.notes.push(format!(
                        "redis stream {} holds entries but no corelane record of shard {shard}; \
                         numbering restarts at 0",
                        self.inner.config.stream_key(shard)
                    ));
                }
                (None, false) => {}
            }
        }
        Ok(report)
    }

    fn write_batch(&self, batch: &Batch, deadline: Instant) -> Result<(), AdapterError> {
        self.inner.connections.check_open()?;
        let c = &self.inner.config;
        let mut buffers = self.inner.buffers.lock();
        let packed = buffers.pack_batch(c, batch);
        let count = batch.len();
        let mut replies =
            self.with_connection(Slot::Writer, deadline, "MULTI/EXEC XADD", |con| {
                con.req_packed_commands(packed, count + 1, 1)
            })?;
        check_exec_reply(replies.pop(), count, &c.url)
    }

    fn flush(&self, _deadline: Instant) -> Result<(), AdapterError> {
        // Every acknowledged EXEC is applied; durability is the server's persistence policy.
        Ok(())
    }

    fn shutdown(&self, _deadline: Instant) -> Result<(), AdapterError> {
        self.inner.connections.close();
        Ok(())
    }

    fn poll_shard(
        &self,
        shard: u32,
        after: Option<Position>,
        limit: usize,
        deadline: Instant,
    ) -> Result<ShardPoll, AdapterError> {
        let key = self.inner.config.stream_key(shard);
        let start = after.map_or_else(|| "-".to_string(), |p| format!("({}", format_id(p)));
        let count = limit.clamp(1, 10_000);
        let value: Value = self.with_connection(Slot::Reader, deadline, "XRANGE", |con| {
            redis::cmd("XRANGE")
                .arg(&key)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(count + 1)
                .query(con)
        })?;
        let mut parsed =
            entries(value).map_err(|e| AdapterError::fatal(format!("redis XRANGE {key}: {e}")))?;
        let more = parsed.len() > count;
        parsed.truncate(count);
        let mut page = ShardPoll {
            next: after,
            end_of_shard: !more,
            ..ShardPoll::default()
        };
        for (id, fields) in parsed {
            let Some(position) = parse_id(&id) else {
                page.skipped += 1;
                continue;
            };
            page.next = Some(position);
            let mut d = None;
            let mut dedup_id = None;
            for (k, v) in fields {
                match k.as_str() {
                    "d" => d = Some(v),
                    "dedup_id" => dedup_id = String::from_utf8(v).ok(),
                    _ => {}
                }
            }
            match d.as_deref().map(decode_record) {
                Some(Ok(record)) if record.sequence.is_some() => page.events.push(StoredEvent {
                    position,
                    shard,
                    sequence: record.sequence.expect("checked"),
                    insertion_ts: record.insertion_ts,
                    payload: record.payload,
                    dedup_id,
                }),
                _ => {
                    page.skipped += 1;
                    self.inner.undecodable.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(page)
    }

    fn last_position(
        &self,
        shard: u32,
        deadline: Instant,
    ) -> Result<Option<Position>, AdapterError> {
        let key = self.inner.config.stream_key(shard);
        let value: Value = self.with_connection(Slot::Reader, deadline, "XREVRANGE", |con| {
            redis::cmd("XREVRANGE")
                .arg(&key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query(con)
        })?;
        let parsed = entries(value)
            .map_err(|e| AdapterError::fatal(format!("redis XREVRANGE {key}: {e}")))?;
        Ok(parsed.first().and_then(|(id, _)| parse_id(id)))
    }

    fn is_healthy(&self) -> bool {
        self.inner.connections.is_healthy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(redact_url("redis://:s3cret@h:1/2"), "redis://:***@h:1/2");
        assert_eq!(redact_url("redis://alice:s3cret@h"), "redis://alice:***@h");
        assert_eq!(redact_url("redis://s3cret@h"), "redis://***@h");
        let c = RedisConfig::new("redis://bob:hunter2@db:6379");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
