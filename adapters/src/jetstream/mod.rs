//! NATS JetStream, spoken directly over the NATS client protocol (feature `jetstream`).
//!
//! Shard `s` is the stream `{prefix}_shard_{s}` on the subject `{prefix}.shard.{s}`
//! (file storage, limits retention, a duplicate window). Each event is one message whose
//! body is the record of [`crate::wire`] and whose header `Nats-Msg-Id` is its dedup id,
//! so the server stores a retried event once. Reads use direct get by stream sequence;
//! no consumer objects are created.

mod conn;
pub mod proto;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use corelane_io::{
    Adapter, AdapterError, Batch, ErrorKind, InitReport, Position, ShardPoll, ShardTail,
    StoredEvent,
};
use parking_lot::Mutex;
use serde_json::{Value, json};

use self::conn::{Conn, Endpoint};
use crate::wire::{decode_record, encode_record, push_dedup_id};

/// A random `u64` (std's randomly keyed hasher over the time), for inbox names.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Settings of a [`JetStreamAdapter`].
#[derive(Clone, PartialEq, Eq)]
pub struct JetStreamConfig {
    /// `nats://[token@|user:password@]host[:port]` (port 4222 by default).
    pub url: String,
    /// Streams `{prefix}_shard_{id}` on subjects `{prefix}.shard.{id}`. Letters, digits,
    /// `-` and `_`. Default `corelane`.
    pub prefix: String,
    /// How long the server remembers message ids to drop duplicates. Default 1 h.
    pub duplicate_window: Duration,
    /// Stream limits (`None`: unlimited).
    pub max_msgs: Option<u64>,
    /// Stream byte limit.
    pub max_bytes: Option<u64>,
    /// Stream age limit.
    pub max_age: Option<Duration>,
    /// Stream replicas. Default 1.
    pub replicas: u32,
    /// Bound on connecting (TCP, INFO, CONNECT, PONG). Default 2 s.
    pub connect_timeout: Duration,
    /// Bound on one request (also capped by the call's deadline). Default 5 s.
    pub request_timeout: Duration,
    /// Publishes sent before their acknowledgements are collected. Default 1,024.
    pub max_pending_acks: usize,
}

impl JetStreamConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        JetStreamConfig {
            url: url.into(),
            prefix: "corelane".into(),
            duplicate_window: Duration::from_secs(3600),
            max_msgs: None,
            max_bytes: None,
            max_age: None,
            replicas: 1,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_pending_acks: 1024,
        }
    }

    /// The stream of `shard`.
    pub fn stream_name(&self, shard: u32) -> String {
        format!("{}_shard_{shard}", self.prefix)
    }

    /// The subject of `shard`.
    pub fn subject(&self, shard: u32) -> String {
        format!("{}.shard.{shard}", self.prefix)
    }
}

impl fmt::Debug for JetStreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamConfig")
            .field("url", &crate::wire::redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("duplicate_window", &self.duplicate_window)
            .field("max_msgs", &self.max_msgs)
            .field("max_bytes", &self.max_bytes)
            .field("max_age", &self.max_age)
            .field("replicas", &self.replicas)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_pending_acks", &self.max_pending_acks)
            .finish()
    }
}

fn parse_url(url: &str) -> Result<Endpoint, AdapterError> {
    let bad = |why: &str| {
        AdapterError::config(format!("nats url {}: {why}", crate::wire::redact_url(url)))
    };
    let rest = url
        .strip_prefix("nats://")
        .ok_or_else(|| bad("must start with nats://"))?;
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let hostport = hostport.trim_end_matches('/');
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| bad("the port is not a number"))?,
        ),
        None => (hostport, 4222),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let (mut token, mut user, mut password) = (None, None, None);
    if let Some(u) = userinfo {
        match u.split_once(':') {
            Some((name, pass)) => {
                user = Some(name.to_string());
                password = Some(pass.to_string());
            }
            None => token = Some(u.to_string()),
        }
    }
    Ok(Endpoint {
        host: host.to_string(),
        port,
        token,
        user,
        password,
        shown: format!("nats://{host}:{port}"),
    })
}

/// NATS JetStream storage (feature `jetstream`), with server-side deduplication of
/// retried batches within the duplicate window.
#[derive(Clone)]
pub struct JetStreamAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    config: JetStreamConfig,
    endpoint: Endpoint,
    writer: Mutex<Option<Conn>>,
    reader: Mutex<Option<Conn>>,
    healthy: AtomicBool,
    shut: AtomicBool,
    undecodable: AtomicU64,
    duplicates: AtomicU64,
    buffers: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for JetStreamAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamAdapter")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// A publish acknowledgement.
#[derive(serde::Deserialize)]
struct PubAck<'a> {
    #[serde(borrow, rename = "stream")]
    _stream: Option<&'a str>,
    seq: Option<u64>,
    duplicate: Option<bool>,
    error: Option<serde::de::IgnoredAny>,
}

/// A JetStream API error in a reply: `{"error": {"code": 503, "err_code": 10008, ...}}`.
fn api_error(what: &str, reply: &Value) -> Option<AdapterError> {
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
fn reply_json(what: &str, msg: &proto::Msg) -> Result<Value, AdapterError> {
    if msg.status() == Some(503) {
        return Err(AdapterError::transient(format!(
            "jetstream {what}: no responders (is JetStream enabled, does the stream exist?)"
        )));
    }
    serde_json::from_slice(&msg.payload)
        .map_err(|e| AdapterError::fatal(format!("jetstream {what}: reply is not JSON: {e}")))
}

impl JetStreamAdapter {
    /// A JetStream adapter; connects at `init` (writes) and on the first read.
    pub fn new(config: JetStreamConfig) -> Result<JetStreamAdapter, AdapterError> {
        let valid_prefix = !config.prefix.is_empty()
            && config
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_prefix {
            return Err(AdapterError::config(format!(
                "jetstream prefix {:?} must be letters, digits, '-' or '_'",
                config.prefix
            )));
        }
        if config.connect_timeout.is_zero() || config.request_timeout.is_zero() {
            return Err(AdapterError::config(
                "jetstream connect_timeout and request_timeout must be above zero",
            ));
        }
        if config.replicas == 0 || config.replicas > 5 {
            return Err(AdapterError::config(format!(
                "jetstream replicas {} is outside 1..=5",
                config.replicas
            )));
        }
        if config.duplicate_window.is_zero() {
            return Err(AdapterError::config(
                "jetstream duplicate_window must be above zero",
            ));
        }
        let endpoint = parse_url(&config.url)?;
        Ok(JetStreamAdapter {
            inner: Arc::new(Inner {
                endpoint,
                config,
                writer: Mutex::new(None),
                reader: Mutex::new(None),
                healthy: AtomicBool::new(false),
                shut: AtomicBool::new(false),
                undecodable: AtomicU64::new(0),
                duplicates: AtomicU64::new(0),
                buffers: Mutex::new((Vec::new(), Vec::new())),
            }),
        })
    }

    /// The settings (the URL keeps its credentials; see [`crate::wire::redact_url`]).
    pub fn config(&self) -> &JetStreamConfig {
        &self.inner.config
    }

    /// Publishes the server acknowledged as duplicates (retries it dropped).
    pub fn duplicates(&self) -> u64 {
        self.inner.duplicates.load(Ordering::Relaxed)
    }

    /// Messages stored in `shard`'s stream (from `STREAM.INFO`; 0 if it does not exist).
    pub fn stream_messages(&self, shard: u32, deadline: Instant) -> Result<u64, AdapterError> {
        Ok(self
            .stream_info(&self.inner.reader, shard, deadline)?
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
                &self.inner.reader,
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

    /// Messages read that could not be decoded (and were skipped).
    pub fn undecodable(&self) -> u64 {
        self.inner.undecodable.load(Ordering::Relaxed)
    }

    /// Runs `f` on the connection in `slot`, connecting first; a failed call drops the
    /// connection (its replies may still be in flight), so the next call reconnects.
    fn with_conn<T>(
        &self,
        slot: &Mutex<Option<Conn>>,
        deadline: Instant,
        f: impl FnOnce(&mut Conn, Instant) -> Result<T, AdapterError>,
    ) -> Result<T, AdapterError> {
        let c = &self.inner.config;
        let deadline = deadline.min(Instant::now() + c.request_timeout.max(c.connect_timeout));
        let mut guard = slot.lock();
        if guard.is_none() {
            match Conn::open(&self.inner.endpoint, c.connect_timeout, deadline) {
                Ok(conn) => *guard = Some(conn),
                Err(e) => {
                    self.inner.healthy.store(false, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        let conn = guard.as_mut().expect("connected above");
        let request_deadline = deadline.min(Instant::now() + c.request_timeout);
        match f(conn, request_deadline) {
            Ok(v) => {
                self.inner.healthy.store(true, Ordering::Relaxed);
                Ok(v)
            }
            Err(e) => {
                *guard = None;
                self.inner.healthy.store(false, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// `$JS.API.<api>` request with a JSON body; the reply's JSON (API errors included).
    fn api(
        &self,
        slot: &Mutex<Option<Conn>>,
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
    fn stream_info(
        &self,
        slot: &Mutex<Option<Conn>>,
        shard: u32,
        deadline: Instant,
    ) -> Result<Option<Value>, AdapterError> {
        let name = self.inner.config.stream_name(shard);
        let reply = self.api(slot, &format!("STREAM.INFO.{name}"), &json!({}), deadline)?;
        if reply.pointer("/error/err_code").and_then(Value::as_u64) == Some(10059) {
            return Ok(None); // stream not found
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
    fn ensure_stream(&self, shard: u32, deadline: Instant) -> Result<Value, AdapterError> {
        let name = self.inner.config.stream_name(shard);
        let wanted = self.wanted_config(shard);
        let info = match self.stream_info(&self.inner.writer, shard, deadline)? {
            Some(info) => info,
            None => {
                let reply = self.api(
                    &self.inner.writer,
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

    /// Direct get of stream sequences `seqs` (pipelined); `None` for deleted messages.
    fn direct_get(
        &self,
        slot: &Mutex<Option<Conn>>,
        shard: u32,
        seqs: std::ops::RangeInclusive<u64>,
        deadline: Instant,
    ) -> Result<Vec<(u64, Option<proto::Msg>)>, AdapterError> {
        let subject = format!(
            "$JS.API.DIRECT.GET.{}",
            self.inner.config.stream_name(shard)
        );
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let first = *seqs.start();
        let count = (seqs.end() - first + 1) as usize;
        let window = self.inner.config.max_pending_acks;
        let replies = self.with_conn(slot, deadline, |conn, d| {
            conn.pipeline(count, window, d, |i, reply, out| {
                let mut body = b"{\"seq\":".to_vec();
                crate::wire::push_decimal(&mut body, first + i as u64);
                body.push(b'}');
                proto::publish(out, &subject, Some(reply), &body);
            })
        })?;
        replies
            .into_iter()
            .enumerate()
            .map(|(i, msg)| {
                let seq = first + i as u64;
                match msg.status() {
                    None => Ok((seq, Some(msg))),
                    Some(404) => Ok((seq, None)),
                    Some(503) => Err(AdapterError::transient(
                        "jetstream DIRECT.GET: no responders",
                    )),
                    Some(code) => Err(AdapterError::fatal(format!(
                        "jetstream DIRECT.GET seq {seq}: {code} {}",
                        msg.status_description()
                    ))),
                }
            })
            .collect()
    }

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
    fn check_acks(
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

    /// The newest message of the stream that is a corelane record of `shard`, looking back
    /// from `last` to `first` a page at a time (other clients may publish to the subject
    /// too). `None` when there is none; a purged stream has `first == last + 1`.
    fn last_record(
        &self,
        shard: u32,
        first: u64,
        last: u64,
        deadline: Instant,
    ) -> Result<Option<crate::wire::Record>, AdapterError> {
        const PAGE: u64 = 256;
        let first = first.max(1);
        let mut to = last;
        while to >= first {
            let from = to.saturating_sub(PAGE - 1).max(first);
            let messages = self.direct_get(&self.inner.writer, shard, from..=to, deadline)?;
            let found = messages
                .iter()
                .rev()
                .filter_map(|(_, m)| m.as_ref())
                .filter_map(|m| decode_record(&m.payload).ok())
                .find(|r| r.sequence.is_some() && r.shard == shard);
            if found.is_some() {
                return Ok(found);
            }
            to = from - 1;
        }
        Ok(None)
    }

    fn last_seq(info: &Value) -> u64 {
        info.pointer("/state/last_seq")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    fn first_seq(info: &Value) -> u64 {
        info.pointer("/state/first_seq")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }
}

impl Adapter for JetStreamAdapter {
    fn name(&self) -> &str {
        "jetstream"
    }

    fn init(&self, num_shards: u32, deadline: Instant) -> Result<InitReport, AdapterError> {
        self.inner.shut.store(false, Ordering::Release);
        let mut report = InitReport::empty(num_shards);
        for shard in 0..num_shards {
            let info = self.ensure_stream(shard, deadline)?;
            let (first, last) = (Self::first_seq(&info), Self::last_seq(&info));
            match self.last_record(shard, first, last, deadline)? {
                Some(record) => {
                    report.shards[shard as usize] = ShardTail {
                        last_sequence: record.sequence,
                        last_insertion_ts: Some(record.insertion_ts),
                        history_unknown: false,
                    };
                }
                // The stream has numbered messages but holds no corelane record of this
                // shard: purged, or only other clients' messages. The server may still
                // remember old message ids, so the engine must not reuse them.
                None if last > 0 => {
                    report.shards[shard as usize].history_unknown = true;
                    report.notes.push(format!(
                        "jetstream stream {} has had {last} messages but holds no corelane \
                         record of shard {shard} (purged, or only other writers' messages); \
                         numbering restarts at 0",
                        self.inner.config.stream_name(shard)
                    ));
                }
                None => {}
            }
        }
        Ok(report)
    }

    fn write_batch(&self, batch: &Batch, deadline: Instant) -> Result<(), AdapterError> {
        if self.inner.shut.load(Ordering::Acquire) {
            return Err(AdapterError::shutdown("jetstream adapter is shut down"));
        }
        let subject = self.inner.config.subject(batch.shard());
        let window = self.inner.config.max_pending_acks;
        let acks = {
            let mut bufs = self.inner.buffers.lock();
            let (record, id) = &mut *bufs;
            self.with_conn(&self.inner.writer, deadline, |conn, d| {
                conn.pipeline(batch.len(), window, d, |i, reply, out| {
                    let e = batch.get(i).expect("index within the batch");
                    record.clear();
                    encode_record(record, e.payload, e.insertion_ts, batch.shard(), e.sequence);
                    id.clear();
                    push_dedup_id(id, &batch.dedup_id(i));
                    proto::hpublish(out, &subject, Some(reply), &[("Nats-Msg-Id", id)], record);
                })
            })?
        };
        let duplicates = self.check_acks(batch, &subject, &acks, deadline)?;
        self.inner
            .duplicates
            .fetch_add(duplicates, Ordering::Relaxed);
        Ok(())
    }

    fn flush(&self, _deadline: Instant) -> Result<(), AdapterError> {
        // Every publish was acknowledged by the stream before write_batch returned.
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
        let mut page = ShardPoll {
            next: after,
            end_of_shard: true,
            ..ShardPoll::default()
        };
        let Some(info) = self.stream_info(&self.inner.reader, shard, deadline)? else {
            return Ok(page);
        };
        let (first, last) = (Self::first_seq(&info), Self::last_seq(&info));
        let from = after.map_or(1, |p| p.sequence() + 1).max(first).max(1);
        if last == 0 || from > last {
            return Ok(page);
        }
        let to = last.min(from + limit.clamp(1, 10_000) as u64 - 1);
        page.end_of_shard = to == last;
        for (seq, msg) in self.direct_get(&self.inner.reader, shard, from..=to, deadline)? {
            page.next = Some(Position::from_sequence(seq));
            let Some(msg) = msg else { continue }; // removed by limits or deleted
            match decode_record(&msg.payload) {
                Ok(record) if record.sequence.is_some() => page.events.push(StoredEvent {
                    position: Position::from_sequence(seq),
                    shard,
                    sequence: record.sequence.expect("checked"),
                    insertion_ts: record.insertion_ts,
                    payload: record.payload,
                    dedup_id: msg.header("Nats-Msg-Id"),
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
        Ok(self
            .stream_info(&self.inner.reader, shard, deadline)?
            .map(|info| Self::last_seq(&info))
            .filter(|&s| s > 0)
            .map(Position::from_sequence))
    }

    fn is_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Relaxed) && !self.inner.shut.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_credentials_stay_hidden() {
        let e = parse_url("nats://127.0.0.1:4333").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.token.is_none()),
            ("127.0.0.1", 4333, true)
        );
        let e = parse_url("nats://s3cret@h").unwrap();
        assert_eq!(
            (e.port, e.token.as_deref(), e.shown.as_str()),
            (4222, Some("s3cret"), "nats://h:4222")
        );
        let e = parse_url("nats://al:pw@h:1/").unwrap();
        assert_eq!(
            (e.user.as_deref(), e.password.as_deref()),
            (Some("al"), Some("pw"))
        );
        for bad in ["redis://h", "nats://", "nats://h:port"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let c = JetStreamConfig::new("nats://tok3n@h:1");
        assert!(!format!("{c:?}").contains("tok3n"));
        assert!(
            JetStreamAdapter::new(JetStreamConfig {
                prefix: "a.b".into(),
                ..c
            })
            .is_err()
        );
    }
}
