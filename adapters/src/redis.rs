//! Redis Streams, through the `redis` crate's blocking client.
//!
//! Shard `s` is the stream `{prefix}:shard:{s}`; each event is one entry with the fields
//! `d` (the record body of [`crate::wire`]) and `dedup_id`. A batch is one MULTI/EXEC
//! pipeline of XADDs, so it lands whole or not at all. Reads use `XRANGE` with an
//! exclusive start on a connection of their own.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use corelane_io::{
    Adapter, AdapterError, Batch, ErrorKind, InitReport, Position, ShardPoll, ShardTail,
    StoredEvent,
};
use parking_lot::Mutex;
use redis::{Connection, ConnectionLike, RedisError, Value};

use crate::wire::{decode_record, encode_record, push_decimal, push_dedup_id, redact_url};

/// Settings of a [`RedisAdapter`].
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: String,
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
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
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
    writer: Mutex<Option<Connection>>,
    reader: Mutex<Option<Connection>>,
    healthy: AtomicBool,
    shut: AtomicBool,
    undecodable: AtomicU64,
    buffers: Mutex<WriteBuffers>,
}

/// Buffers the writer reuses from batch to batch.
#[derive(Default)]
struct WriteBuffers {
    packed: Vec<u8>,
    record: Vec<u8>,
    scratch: Vec<u8>,
}

/// Appends one RESP bulk string.
fn pack_arg(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'$');
    push_decimal(out, arg.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

impl fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Maps a Redis error to an adapter error: connection loss, timeouts and the server's
/// transient states are retryable; authentication, types and syntax are fatal.
fn classify(context: &str, err: &RedisError, url: &str) -> AdapterError {
    let mut detail = scrub(&err.to_string(), url);
    if detail.len() > 300 {
        // An aborted transaction lists every queued command's error; the first few say it.
        let cut = (0..=300)
            .rev()
            .find(|&i| detail.is_char_boundary(i))
            .unwrap_or(0);
        detail.truncate(cut);
        detail.push('…');
    }
    let message = format!("redis {} {context}: {detail}", redact_url(url));
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
        ErrorKind::Transient
    } else if err.kind() == redis::ErrorKind::AuthenticationFailed {
        ErrorKind::Config
    } else if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort) {
        // EXECABORT: the transaction was discarded because queued commands failed; it
        // is as retryable as the reasons they failed (LOADING while the server restarts).
        let causes = err.clone().into_server_errors().unwrap_or_default();
        if !causes.is_empty() && causes.iter().all(|(_, e)| transient_code(e.code())) {
            ErrorKind::Transient
        } else {
            ErrorKind::Fatal
        }
    } else {
        match err.code() {
            Some(code) if transient_code(code) => ErrorKind::Transient,
            Some("WRONGPASS" | "NOAUTH" | "NOPERM") => ErrorKind::Config,
            _ => ErrorKind::Fatal,
        }
    };
    AdapterError::new(kind, message)
}

/// Server error codes that describe a passing state of the server.
fn transient_code(code: &str) -> bool {
    matches!(
        code,
        "LOADING" | "BUSY" | "TRYAGAIN" | "READONLY" | "MASTERDOWN" | "CLUSTERDOWN" | "NOREPLICAS"
    )
}

/// Removes the password of `url` from a message that might quote the URL.
fn scrub(message: &str, url: &str) -> String {
    if url.contains('@') {
        message.replace(url, &redact_url(url))
    } else {
        message.to_string()
    }
}

fn remaining(deadline: Instant, cap: Duration) -> Result<Duration, AdapterError> {
    let left = deadline.saturating_duration_since(Instant::now()).min(cap);
    if left < Duration::from_millis(1) {
        Err(AdapterError::timeout(
            "redis: the deadline passed before the command was sent",
        ))
    } else {
        Ok(left)
    }
}

/// "1700000000000-5" → Position(ms, n).
fn parse_id(id: &str) -> Option<Position> {
    let (ms, n) = id.split_once('-')?;
    Some(Position::from_parts(ms.parse().ok()?, n.parse().ok()?))
}

fn format_id(p: Position) -> String {
    let (ms, n) = p.parts();
    format!("{ms}-{n}")
}

/// Parsed stream entries: (id, fields) pairs.
type Entries = Vec<(String, Vec<(String, Vec<u8>)>)>;

fn entries(value: Value) -> Result<Entries, String> {
    let Value::Array(items) = value else {
        return Err(format!("expected an array of entries, got {value:?}"));
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Array(mut pair) = item else {
                return Err("entry is not an array".to_string());
            };
            if pair.len() != 2 {
                return Err(format!("entry has {} parts, expected 2", pair.len()));
            }
            let fields = pair.pop().expect("two parts");
            let id = match pair.pop().expect("two parts") {
                Value::BulkString(b) => {
                    String::from_utf8(b).map_err(|_| "entry id is not UTF-8".to_string())?
                }
                Value::SimpleString(s) => s,
                other => return Err(format!("entry id is {other:?}")),
            };
            let Value::Array(flat) = fields else {
                return Err("entry fields are not an array".into());
            };
            let mut out = Vec::with_capacity(flat.len() / 2);
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                let key = match k {
                    Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                    Value::SimpleString(s) => s,
                    _ => continue,
                };
                let val = match v {
                    Value::BulkString(b) => b,
                    Value::SimpleString(s) => s.into_bytes(),
                    _ => continue,
                };
                out.push((key, val));
            }
            Ok((id, out))
        })
        .collect()
}

/// Checks the EXEC reply of a batch: every element must be the entry id of its XADD. A
/// server error in place of an id (a key that is not a stream: `WRONGTYPE`) means that
/// event was not stored; when some events were stored and others not, the batch is
/// partly applied and can be neither acknowledged nor safely retried, so it fails as
/// fatal. When every XADD failed with a passing server state, nothing was stored and a
/// retry may succeed.
fn check_exec_ids(ids: &[Value], url: &str) -> Result<(), AdapterError> {
    let mut first_error: Option<(String, String)> = None;
    let mut failed = 0usize;
    for id in ids {
        let ok = match id {
            Value::BulkString(b) => std::str::from_utf8(b).ok().and_then(parse_id).is_some(),
            Value::SimpleString(s) => parse_id(s).is_some(),
            _ => false,
        };
        if ok {
            continue;
        }
        failed += 1;
        if first_error.is_none() {
            first_error = Some(match id {
                Value::ServerError(e) => {
                    (e.code().to_string(), scrub(e.details().unwrap_or(""), url))
                }
                other => ("INVALID".to_string(), format!("not an entry id: {other:?}")),
            });
        }
    }
    let Some((code, detail)) = first_error else {
        return Ok(());
    };
    let total = ids.len();
    let stored = total - failed;
    if stored == 0 && transient_code(&code) {
        return Err(AdapterError::transient(format!(
            "redis EXEC: every XADD of the batch failed with {code} {detail}; nothing stored"
        )));
    }
    let applied = if stored == 0 {
        "nothing stored".to_string()
    } else {
        format!("the batch is partly applied ({stored} of {total} events stored)")
    };
    Err(AdapterError::fatal(format!(
        "redis EXEC: {failed} of {total} XADDs failed, the first with {code} {detail}; {applied}"
    )))
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
        let client = redis::Client::open(config.url.as_str()).map_err(|e| {
            AdapterError::config(format!(
                "redis url {}: {}",
                redact_url(&config.url),
                scrub(&e.to_string(), &config.url)
            ))
        })?;
        Ok(RedisAdapter {
            inner: Arc::new(Inner {
                config,
                client,
                writer: Mutex::new(None),
                reader: Mutex::new(None),
                healthy: AtomicBool::new(false),
                shut: AtomicBool::new(false),
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
                self.with_connection(&self.inner.reader, deadline, "SCAN", |con| {
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
        let timeout = remaining(deadline, c.connect_timeout)?;
        let con = self
            .inner
            .client
            .get_connection_with_timeout(timeout)
            .map_err(|e| classify("connect", &e, &c.url))?;
        Ok(con)
    }

    /// Runs `f` on the connection in `slot` (connecting first if needed), with command
    /// timeouts bounded by `deadline`; drops the connection after a connection-level error
    /// so the next call reconnects.
    fn with_connection<T>(
        &self,
        slot: &Mutex<Option<Connection>>,
        deadline: Instant,
        what: &str,
        f: impl FnOnce(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, AdapterError> {
        let mut guard = slot.lock();
        if guard.is_none() {
            *guard = Some(self.connect(deadline)?);
        }
        let con = guard.as_mut().expect("connected above");
        let timeout = remaining(deadline, self.inner.config.command_timeout)?;
        let setup = con
            .set_read_timeout(Some(timeout))
            .and_then(|_| con.set_write_timeout(Some(timeout)));
        let result = setup.and_then(|_| f(con));
        match result {
            Ok(v) => {
                self.inner.healthy.store(true, Ordering::Relaxed);
                Ok(v)
            }
            Err(e) => {
                let err = classify(what, &e, &self.inner.config.url);
                if err.is_retryable() || !con.is_open() {
                    // The reply may still be in flight: never reuse this connection.
                    *guard = None;
                    self.inner.healthy.store(false, Ordering::Relaxed);
                }
                Err(err)
            }
        }
    }

    /// Reads the newest entry of `shard` that is a corelane record of this shard, however
    /// far back it is (other clients may have added entries after it): (id, record).
    /// `Ok(None)` when the stream holds no such entry; the flag says whether the stream
    /// holds entries at all.
    fn tail_entry(
        &self,
        shard: u32,
        deadline: Instant,
    ) -> Result<(Option<(Position, crate::wire::Record)>, bool), AdapterError> {
        let key = self.inner.config.stream_key(shard);
        let mut end = "+".to_string();
        let mut any = false;
        loop {
            let value: Value =
                self.with_connection(&self.inner.writer, deadline, "XREVRANGE", |con| {
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
        self.inner.shut.store(false, Ordering::Release);
        let pong: String = self.with_connection(&self.inner.writer, deadline, "PING", |con| {
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
        if self.inner.shut.load(Ordering::Acquire) {
            return Err(AdapterError::shutdown("redis adapter is shut down"));
        }
        let c = &self.inner.config;
        let mut bufs = self.inner.buffers.lock();
        let WriteBuffers {
            packed,
            record,
            scratch,
        } = &mut *bufs;
        // MULTI, one XADD per event, EXEC — packed into one reused buffer, so a batch
        // costs no per-event allocation on the I/O thread.
        packed.clear();
        packed.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n");
        scratch.clear();
        scratch.extend_from_slice(c.stream_key(batch.shard()).as_bytes());
        let key_len = scratch.len();
        if let Some(max) = c.max_stream_len {
            push_decimal(scratch, max);
        }
        let header: &[u8] = if c.max_stream_len.is_some() {
            b"*10\r\n"
        } else {
            b"*7\r\n"
        };
        for e in batch.events() {
            packed.extend_from_slice(header);
            pack_arg(packed, b"XADD");
            pack_arg(packed, &scratch[..key_len]);
            if c.max_stream_len.is_some() {
                pack_arg(packed, b"MAXLEN");
                pack_arg(packed, b"~");
                pack_arg(packed, &scratch[key_len..]);
            }
            pack_arg(packed, b"*");
            pack_arg(packed, b"d");
            record.clear();
            encode_record(record, e.payload, e.insertion_ts, batch.shard(), e.sequence);
            pack_arg(packed, record);
            pack_arg(packed, b"dedup_id");
            record.clear();
            push_dedup_id(record, &batch.dedup_id(e.index));
            pack_arg(packed, record);
        }
        packed.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n");
        let count = batch.len();
        let mut replies =
            self.with_connection(&self.inner.writer, deadline, "MULTI/EXEC XADD", |con| {
                con.req_packed_commands(packed, count + 1, 1)
            })?;
        match replies.pop() {
            Some(Value::Array(ids)) if ids.len() == count => check_exec_ids(&ids, &c.url),
            Some(Value::Array(ids)) => Err(AdapterError::fatal(format!(
                "redis EXEC returned {} entry ids for {count} XADDs",
                ids.len()
            ))),
            Some(Value::ServerError(e)) => Err(AdapterError::fatal(format!(
                "redis EXEC failed: {} {}",
                e.code(),
                e.details().unwrap_or("")
            ))),
            other => Err(AdapterError::transient(format!(
                "redis EXEC returned {other:?}"
            ))),
        }
    }

    fn flush(&self, _deadline: Instant) -> Result<(), AdapterError> {
        // Every acknowledged EXEC is applied; durability is the server's persistence policy.
        Ok(())
    }

    fn shutdown(&self, _deadline: Instant) -> Result<(), AdapterError> {
        self.inner.shut.store(true, Ordering::Release);
        *self.inner.writer.lock() = None;
        *self.inner.reader.lock() = None;
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
        let value: Value = self.with_connection(&self.inner.reader, deadline, "XRANGE", |con| {
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
        let value: Value =
            self.with_connection(&self.inner.reader, deadline, "XREVRANGE", |con| {
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
        self.inner.healthy.load(Ordering::Relaxed) && !self.inner.shut.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec_reply(elements: &[&str]) -> Vec<Value> {
        let mut raw = format!("*{}\r\n", elements.len());
        for e in elements {
            raw.push_str(e);
            raw.push_str("\r\n");
        }
        match redis::parse_redis_value(raw.as_bytes()).unwrap() {
            Value::Array(items) => items,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exec_replies_must_hold_an_entry_id_for_every_xadd() {
        let url = "redis://h";
        let ok = exec_reply(&["$15\r\n1700000000000-0", "+1700000000000-1"]);
        check_exec_ids(&ok, url).unwrap();

        let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
        let none = exec_reply(&[wrongtype, wrongtype]);
        let err = check_exec_ids(&none, url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Fatal);
        assert!(err.to_string().contains("WRONGTYPE"), "{err}");
        assert!(err.to_string().contains("nothing stored"), "{err}");

        let partly = exec_reply(&["$15\r\n1700000000000-0", "-ERR out of memory"]);
        let err = check_exec_ids(&partly, url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Fatal);
        assert!(err.to_string().contains("partly applied (1 of 2"), "{err}");

        let loading = exec_reply(&["-LOADING loading the dataset", "-LOADING loading"]);
        assert_eq!(
            check_exec_ids(&loading, url).unwrap_err().kind(),
            ErrorKind::Transient
        );
        let garbage = exec_reply(&[":5"]);
        assert_eq!(
            check_exec_ids(&garbage, url).unwrap_err().kind(),
            ErrorKind::Fatal
        );
    }

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
        assert_eq!(
            parse_id("1700000000000-7"),
            Some(Position::from_parts(1_700_000_000_000, 7))
        );
        assert_eq!(format_id(Position::from_parts(5, 9)), "5-9");
        assert_eq!(parse_id("garbage"), None);
    }
}
