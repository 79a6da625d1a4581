//! NATS JetStream, spoken directly over the NATS client protocol (feature `jetstream`).
//!
//! Shard `s` is the stream `{prefix}_shard_{s}` on the subject `{prefix}.shard.{s}`
//! (file storage, limits retention, a duplicate window). Each event is one message whose
//! body is the record of [`crate::record_body`] and whose header `Nats-Msg-Id` is its dedup id,
//! so the server stores a retried event once. Reads use direct get by stream sequence;
//! no consumer objects are created.
//!
//! - `proto.rs`: the NATS client protocol, a pure parser and encoders (public as
//!   `nats_proto`, fuzzed).
//! - `conn.rs`: one NATS connection: handshake, request and reply, pipelined publishes.
//! - `transport.rs`: the stream under it, plain TCP or TLS after the upgrade.
//! - `auth.rs`: token, user and password, NKey and `.creds` credentials in CONNECT.
//! - `config.rs`: [`JetStreamConfig`], and the endpoint its URL and secrets make.
//! - `streams.rs`: the stream of each shard, created or checked against the configuration.
//! - `acks.rs`: the publish acknowledgements that decide whether a batch was stored.

mod acks;
mod auth;
mod config;
mod conn;
pub mod proto;
mod streams;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use corelane_io::{
    Adapter, AdapterError, Batch, InitReport, Position, ShardPoll, ShardTail, StoredEvent,
};
use parking_lot::Mutex;

pub use self::config::JetStreamConfig;
use self::config::endpoint;
use self::conn::{Conn, Endpoint};
use self::streams::{first_seq, last_seq};
use crate::connection::{ConnectionSlots, Slot};
use crate::record_body::{Record, decode_record, encode_record, push_decimal, push_dedup_id};

/// NATS JetStream storage (feature `jetstream`), with server-side deduplication of
/// retried batches within the duplicate window.
#[derive(Clone)]
pub struct JetStreamAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    config: JetStreamConfig,
    endpoint: Endpoint,
    connections: ConnectionSlots<Conn>,
    /// Messages read that could not be decoded.
    undecodable: AtomicU64,
    /// Publishes the server acknowledged as duplicates.
    duplicates: AtomicU64,
    /// An event's record body and dedup id while it is published, reused between batches.
    buffers: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for JetStreamAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamAdapter")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
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
        let endpoint = endpoint(&config)?;
        Ok(JetStreamAdapter {
            inner: Arc::new(Inner {
                endpoint,
                config,
                connections: ConnectionSlots::new("jetstream"),
                undecodable: AtomicU64::new(0),
                duplicates: AtomicU64::new(0),
                buffers: Mutex::new((Vec::new(), Vec::new())),
            }),
        })
    }

    /// The settings (the URL keeps its credentials; see [`crate::record_body::redact_url`]).
    pub fn config(&self) -> &JetStreamConfig {
        &self.inner.config
    }

    /// Publishes the server acknowledged as duplicates (retries it dropped).
    pub fn duplicates(&self) -> u64 {
        self.inner.duplicates.load(Ordering::Relaxed)
    }

    /// Messages read that could not be decoded (and were skipped).
    pub fn undecodable(&self) -> u64 {
        self.inner.undecodable.load(Ordering::Relaxed)
    }

    /// Runs `f` on the connection in `slot`, connecting first; `f` gets the deadline of
    /// one request. A failed call drops the connection (its replies may still be in
    /// flight), so the next call reconnects.
    fn with_conn<T>(
        &self,
        slot: Slot,
        deadline: Instant,
        f: impl FnOnce(&mut Conn, Instant) -> Result<T, AdapterError>,
    ) -> Result<T, AdapterError> {
        let c = &self.inner.config;
        let deadline = deadline.min(Instant::now() + c.request_timeout.max(c.connect_timeout));
        let connect = || Conn::open(&self.inner.endpoint, c.connect_timeout, deadline);
        self.inner
            .connections
            .with(slot, deadline, connect, |conn| {
                f(conn, deadline.min(Instant::now() + c.request_timeout))
            })
    }

    /// Direct get of stream sequences `seqs` (pipelined); `None` for deleted messages.
    fn direct_get(
        &self,
        slot: Slot,
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
                push_decimal(&mut body, first + i as u64);
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

    /// The newest message of the stream that is a corelane record of `shard`, looking back
    /// from `last` to `first` a page at a time (other clients may publish to the subject
    /// too). `None` when there is none; a purged stream has `first == last + 1`.
    fn last_record(
        &self,
        shard: u32,
        first: u64,
        last: u64,
        deadline: Instant,
    ) -> Result<Option<Record>, AdapterError> {
        const PAGE: u64 = 256;
        let first = first.max(1);
        let mut to = last;
        while to >= first {
            let from = to.saturating_sub(PAGE - 1).max(first);
            let messages = self.direct_get(Slot::Writer, shard, from..=to, deadline)?;
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
}

impl Adapter for JetStreamAdapter {
    fn name(&self) -> &str {
        "jetstream"
    }

    fn init(&self, num_shards: u32, deadline: Instant) -> Result<InitReport, AdapterError> {
        self.inner.connections.reopen();
        let mut report = InitReport::empty(num_shards);
        for shard in 0..num_shards {
            let info = self.ensure_stream(shard, deadline)?;
            let (first, last) = (first_seq(&info), last_seq(&info));
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
        self.inner.connections.check_open()?;
        let subject = self.inner.config.subject(batch.shard());
        let window = self.inner.config.max_pending_acks;
        let acks = {
            let mut bufs = self.inner.buffers.lock();
            let (record, id) = &mut *bufs;
            self.with_conn(Slot::Writer, deadline, |conn, d| {
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
        let mut page = ShardPoll {
            next: after,
            end_of_shard: true,
            ..ShardPoll::default()
        };
        let Some(info) = self.stream_info(Slot::Reader, shard, deadline)? else {
            return Ok(page);
        };
        let (first, last) = (first_seq(&info), last_seq(&info));
        let from = after.map_or(1, |p| p.sequence() + 1).max(first).max(1);
        if last == 0 || from > last {
            return Ok(page);
        }
        let to = last.min(from + limit.clamp(1, 10_000) as u64 - 1);
        page.end_of_shard = to == last;
        for (seq, msg) in self.direct_get(Slot::Reader, shard, from..=to, deadline)? {
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
            .stream_info(Slot::Reader, shard, deadline)?
            .map(|info| last_seq(&info))
            .filter(|&s| s > 0)
            .map(Position::from_sequence))
    }

    fn is_healthy(&self) -> bool {
        self.inner.connections.is_healthy()
    }
}
