//! Reading events back: paged polls with cursors, filters and two orderings.
//!
//! # Paging rules
//! - A page never repeats or skips an event: the next cursor moves past exactly the
//!   events returned (and past events the filter rejected), never past an event that was
//!   fetched but did not fit in the page.
//! - `has_more` is true only when a further poll can make progress (some shard is known
//!   to hold an unread event), so `while has_more { poll }` terminates.
//! - A shard whose read fails is listed in `failed_shards`; the others are served, and
//!   the failed shard's cursor position does not move.
//! - Shards missing from the cursor (including shards added later) start from their
//!   beginning.
//!
//! # Fetch sizing
//! Each adapter read asks for the events still wanted — four times that under a filter,
//! at least 64 — capped at [`FETCH_CAP`] per call; a shard is read again until the page
//! is full or the shard ends.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corelane_io::{Adapter, Position, StoredEvent};
use serde_json::Value;

use crate::read::cursor::Cursor;
use crate::read::dedup::DedupWindow;
use crate::read::error::{ConsumerError, ShardFailure};
use crate::read::filter::Filter;

/// Most events one adapter read asks for.
pub(crate) const FETCH_CAP: usize = 1024;
/// Largest page a poll may ask for.
pub const MAX_LIMIT: usize = 100_000;

/// The order of events in a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsumeOrder {
    /// Shard by shard, ascending; each shard in sequence order. A page holds the rest of
    /// one shard before the first events of the next.
    #[default]
    Shard,
    /// By insertion timestamp, then shard, then sequence, merged across shards. Exact
    /// within a page; an event stored after a page was read, with an older timestamp
    /// than that page's events, comes in a later page (never lost, never repeated).
    Time,
}

/// What to read.
#[derive(Debug, Clone)]
pub struct ConsumeRequest {
    /// Resume after this cursor; `None` reads every shard from its beginning.
    pub after: Option<Cursor>,
    /// Most events to return, 1..=[`MAX_LIMIT`]. Default 100.
    pub limit: usize,
    /// Only events that match. Default: none (everything).
    pub filter: Option<Filter>,
    /// Order of the page. Default: [`ConsumeOrder::Shard`].
    pub ordering: ConsumeOrder,
    /// Only these shards. Default: all.
    pub shards: Option<Vec<u32>>,
    /// Deadline of the whole poll (each adapter read gets what is left). Default 5 s.
    pub timeout: Duration,
    /// Skip events whose dedup id was seen recently. Default: none.
    pub dedup: Option<DedupWindow>,
}

impl Default for ConsumeRequest {
    fn default() -> Self {
        ConsumeRequest {
            after: None,
            limit: 100,
            filter: None,
            ordering: ConsumeOrder::Shard,
            shards: None,
            timeout: Duration::from_secs(5),
            dedup: None,
        }
    }
}

impl ConsumeRequest {
    /// The defaults: from the beginning, 100 events, no filter, shard order.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resume after `cursor`.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// At most `limit` events.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Only events matching `filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Only events matching the filter JSON `text`.
    pub fn filter_json(self, text: &str) -> Result<Self, ConsumerError> {
        Ok(self.filter(Filter::parse(text)?))
    }

    /// In this order.
    pub fn ordering(mut self, ordering: ConsumeOrder) -> Self {
        self.ordering = ordering;
        self
    }

    /// Only these shards.
    pub fn shards(mut self, shards: impl Into<Vec<u32>>) -> Self {
        self.shards = Some(shards.into());
        self
    }

    /// Within this time.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Skipping duplicates within `window`.
    pub fn dedup(mut self, window: DedupWindow) -> Self {
        self.dedup = Some(window);
        self
    }
}

/// An event read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedEvent {
    /// `{shard}-{sequence}`: unique within a store.
    pub id: String,
    /// The shard.
    pub shard: u32,
    /// Its sequence in the shard.
    pub sequence: u64,
    /// Insertion timestamp, Unix-epoch nanoseconds.
    pub insertion_ts: u64,
    /// The payload, exactly as ingested.
    pub payload: Vec<u8>,
    /// The dedup id, when the backend stores one.
    pub dedup_id: Option<String>,
    /// The backend position (what the cursor records for this shard).
    pub position: Position,
}

impl ConsumedEvent {
    fn from_stored(e: StoredEvent) -> Self {
        ConsumedEvent {
            id: format!("{}-{}", e.shard, e.sequence),
            shard: e.shard,
            sequence: e.sequence,
            insertion_ts: e.insertion_ts,
            payload: e.payload,
            dedup_id: e.dedup_id,
            position: e.position,
        }
    }

    /// The payload parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.payload).ok()
    }
}

/// One page.
#[derive(Debug, Clone, Default)]
pub struct ConsumeResponse {
    /// The events, in the requested order.
    pub events: Vec<ConsumedEvent>,
    /// Where the next poll resumes.
    pub next_cursor: Cursor,
    /// True when a further poll can make progress.
    pub has_more: bool,
    /// Shards that could not be read.
    pub failed_shards: Vec<ShardFailure>,
    /// Events read from storage (returned or filtered out).
    pub scanned: u64,
    /// Events the filter rejected (the cursor moved past them).
    pub filtered_out: u64,
    /// Events that are not JSON and so matched no path filter (counted, not logged).
    pub not_json: u64,
    /// Stored entries the adapter could not decode and skipped.
    pub undecodable: u64,
    /// Events skipped as duplicates by the request's [`DedupWindow`].
    pub duplicates: u64,
    /// Damaged stored ranges the read passed over (the file log reports a corrupt
    /// record this way): the events around them were returned, these were not.
    pub damaged: Vec<corelane_io::DamagedRange>,
}

/// The error for an adapter page that neither returned events, moved its position nor
/// reached the shard's end: a broken adapter, reported instead of asked again forever.
fn stalled_page(adapter: &str, after: Option<Position>) -> corelane_io::AdapterError {
    corelane_io::AdapterError::fatal(format!(
        "adapter {adapter} returned an empty page after {} that does not advance \
         and is not the end of the shard",
        after.map_or_else(|| "the start".to_string(), |p| p.to_string())
    ))
}

/// Reads a store: a bus's adapter, or one opened without a bus.
#[derive(Clone)]
pub struct Consumer {
    adapter: Arc<dyn Adapter>,
    num_shards: u32,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("adapter", &self.adapter.name())
            .field("num_shards", &self.num_shards)
            .finish()
    }
}

enum Verdict {
    Match,
    Rejected,
    NotJson,
}

/// Files one event read in order: the page takes it (true), or it is counted as rejected
/// by the filter, not JSON, or a duplicate.
fn take(request: &ConsumeRequest, response: &mut ConsumeResponse, event: StoredEvent) -> bool {
    response.scanned += 1;
    match judge(request.filter.as_ref(), &event.payload) {
        Verdict::Match if is_duplicate(request, &event) => response.duplicates += 1,
        Verdict::Match => {
            response.events.push(ConsumedEvent::from_stored(event));
            return true;
        }
        Verdict::Rejected => response.filtered_out += 1,
        Verdict::NotJson => response.not_json += 1,
    }
    false
}

fn is_duplicate(request: &ConsumeRequest, event: &StoredEvent) -> bool {
    match (&request.dedup, &event.dedup_id) {
        (Some(window), Some(id)) => !window.first_sighting(id),
        _ => false,
    }
}

fn judge(filter: Option<&Filter>, payload: &[u8]) -> Verdict {
    match filter.map(|f| f.matches_json(payload)) {
        None | Some(Some(true)) => Verdict::Match,
        Some(Some(false)) => Verdict::Rejected,
        Some(None) => Verdict::NotJson,
    }
}

impl Consumer {
    /// A consumer of `num_shards` shards of `adapter`.
    pub fn new(adapter: Arc<dyn Adapter>, num_shards: u32) -> Self {
        Consumer {
            adapter,
            num_shards,
        }
    }

    /// The number of shards read.
    pub fn num_shards(&self) -> u32 {
        self.num_shards
    }

    /// The adapter read.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.adapter
    }

    fn shards_of(&self, request: &ConsumeRequest) -> Result<Vec<u32>, ConsumerError> {
        match &request.shards {
            None => Ok((0..self.num_shards).collect()),
            Some(list) => {
                if list.is_empty() {
                    return Err(ConsumerError::InvalidRequest {
                        reason: "shards: the list is empty".into(),
                    });
                }
                if let Some(bad) = list.iter().find(|s| **s >= self.num_shards) {
                    return Err(ConsumerError::InvalidRequest {
                        reason: format!(
                            "shards: shard {bad} does not exist (0..{})",
                            self.num_shards
                        ),
                    });
                }
                let mut list = list.clone();
                list.sort_unstable();
                list.dedup();
                Ok(list)
            }
        }
    }

    /// Reads one page. Invalid input is an error; a failing shard is reported in the
    /// response and does not stop the others.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corelane::Bus;
    /// use corelane::read::ConsumeRequest;
    /// use corelane::adapters::MemoryAdapter;
    ///
    /// let bus = Bus::builder().num_shards(2).build(MemoryAdapter::new()).unwrap();
    /// for i in 0..10 {
    ///     bus.ingest_json(format!(r#"{{"i":{i}}}"#).as_bytes()).unwrap();
    /// }
    /// bus.flush(Duration::from_secs(5)).unwrap();
    ///
    /// let mut request = ConsumeRequest::new().limit(4).filter_json(r#"{"$gte":{"path":"i","value":3}}"#).unwrap();
    /// let mut seen = 0;
    /// loop {
    ///     let page = bus.poll(&request).unwrap();
    ///     seen += page.events.len();
    ///     if !page.has_more { break; }
    ///     request.after = Some(page.next_cursor);
    /// }
    /// assert_eq!(seen, 7);
    /// ```
    pub fn poll(&self, request: &ConsumeRequest) -> Result<ConsumeResponse, ConsumerError> {
        if request.limit == 0 || request.limit > MAX_LIMIT {
            return Err(ConsumerError::InvalidRequest {
                reason: format!("limit {} is outside 1..={MAX_LIMIT}", request.limit),
            });
        }
        let shards = self.shards_of(request)?;
        let deadline = crate::clock::deadline_after(request.timeout);
        let mut response = ConsumeResponse {
            next_cursor: request.after.clone().unwrap_or_default(),
            ..ConsumeResponse::default()
        };
        match request.ordering {
            ConsumeOrder::Shard => self.poll_by_shard(request, &shards, deadline, &mut response),
            ConsumeOrder::Time => self.poll_by_time(request, &shards, deadline, &mut response),
        }
        Ok(response)
    }

    /// Every event the request selects, paging from its cursor until nothing is left
    /// (pages of [`MAX_LIMIT`] unless the request asks for fewer). Fails with
    /// [`ConsumerError::ShardsFailed`] if any shard could not be read, rather than
    /// returning a silently partial answer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corelane::Bus;
    /// use corelane::read::ConsumeRequest;
    /// use corelane::adapters::MemoryAdapter;
    ///
    /// let bus = Bus::builder().num_shards(2).build(MemoryAdapter::new()).unwrap();
    /// for i in 0..2500 {
    ///     bus.ingest_json(format!(r#"{{"i":{i}}}"#).as_bytes()).unwrap();
    /// }
    /// bus.flush(Duration::from_secs(5)).unwrap();
    /// assert_eq!(bus.consumer().read_all(&ConsumeRequest::new()).unwrap().len(), 2500);
    /// ```
    pub fn read_all(&self, request: &ConsumeRequest) -> Result<Vec<ConsumedEvent>, ConsumerError> {
        let mut request = request.clone();
        if request.limit == ConsumeRequest::new().limit {
            request.limit = MAX_LIMIT;
        }
        let mut all = Vec::new();
        loop {
            let page = self.poll(&request)?;
            if !page.failed_shards.is_empty() {
                return Err(ConsumerError::ShardsFailed(page.failed_shards));
            }
            all.extend(page.events);
            request.after = Some(page.next_cursor);
            if !page.has_more {
                return Ok(all);
            }
        }
    }

    fn fetch_size(request: &ConsumeRequest, remaining: usize) -> usize {
        let filtered = request
            .filter
            .as_ref()
            .is_some_and(|f| !f.matches_everything());
        if filtered {
            remaining.saturating_mul(4).clamp(64, FETCH_CAP)
        } else {
            remaining.clamp(1, FETCH_CAP)
        }
    }

    fn fail(&self, response: &mut ConsumeResponse, shard: u32, err: corelane_io::AdapterError) {
        response.failed_shards.push(ShardFailure {
            shard,
            retryable: err.is_retryable(),
            error: err.to_string(),
        });
    }

    fn poll_by_shard(
        &self,
        request: &ConsumeRequest,
        shards: &[u32],
        deadline: Instant,
        response: &mut ConsumeResponse,
    ) {
        let mut remaining = request.limit;
        for (k, &shard) in shards.iter().enumerate() {
            if remaining == 0 {
                response.has_more = self.any_unread(&shards[k..], &response.next_cursor, deadline);
                return;
            }
            let mut after = response.next_cursor.position(shard);
            loop {
                let page = match self.adapter.poll_shard(
                    shard,
                    after,
                    Self::fetch_size(request, remaining),
                    deadline,
                ) {
                    Ok(page) => page,
                    Err(err) => {
                        // Events already taken from this shard stay taken.
                        self.fail(response, shard, err);
                        break;
                    }
                };
                response.undecodable += page.skipped;
                response.damaged.extend(page.damaged.iter().cloned());
                let stalled = page.events.is_empty() && page.next == after && !page.end_of_shard;
                if stalled {
                    // Neither progress nor an end: asking again would loop forever.
                    self.fail(response, shard, stalled_page(self.adapter.name(), after));
                    break;
                }
                let mut rolled_back = false;
                for event in page.events {
                    if remaining == 0 {
                        rolled_back = true;
                        break;
                    }
                    after = Some(event.position);
                    if take(request, response, event) {
                        remaining -= 1;
                    }
                }
                if rolled_back {
                    response.has_more = true;
                    break;
                }
                // Past entries the adapter skipped, too.
                after = page.next.or(after);
                if page.end_of_shard {
                    break;
                }
                if remaining == 0 {
                    response.has_more = true;
                    break;
                }
            }
            response.next_cursor.set_opt(shard, after);
            if response.has_more {
                return;
            }
        }
    }

    /// True when any of `shards` holds an event after its cursor position.
    fn any_unread(&self, shards: &[u32], cursor: &Cursor, deadline: Instant) -> bool {
        shards.iter().any(|&shard| {
            self.adapter
                .poll_shard(shard, cursor.position(shard), 1, deadline)
                .is_ok_and(|page| !page.events.is_empty() || page.next != cursor.position(shard))
        })
    }

    fn poll_by_time(
        &self,
        request: &ConsumeRequest,
        shards: &[u32],
        deadline: Instant,
        response: &mut ConsumeResponse,
    ) {
        struct Lane {
            shard: u32,
            /// Fetched so far (the next fetch starts after it).
            fetched: Option<Position>,
            buffered: VecDeque<StoredEvent>,
            exhausted: bool,
            failed: bool,
        }
        let mut lanes: Vec<Lane> = shards
            .iter()
            .map(|&shard| Lane {
                shard,
                fetched: response.next_cursor.position(shard),
                buffered: VecDeque::new(),
                exhausted: false,
                failed: false,
            })
            .collect();
        let mut remaining = request.limit;
        loop {
            for lane in lanes.iter_mut() {
                if !lane.buffered.is_empty() || lane.exhausted || lane.failed {
                    continue;
                }
                match self.adapter.poll_shard(
                    lane.shard,
                    lane.fetched,
                    Self::fetch_size(request, remaining.max(1)),
                    deadline,
                ) {
                    Ok(page) => {
                        response.undecodable += page.skipped;
                        response.damaged.extend(page.damaged.iter().cloned());
                        let moved = page.next != lane.fetched;
                        lane.fetched = page.next.or(lane.fetched);
                        lane.exhausted = page.end_of_shard || (page.events.is_empty() && !moved);
                        if page.events.is_empty() {
                            // Only skipped entries: the cursor may move past them.
                            response.next_cursor.set_opt(lane.shard, lane.fetched);
                        }
                        lane.buffered.extend(page.events);
                    }
                    Err(err) => {
                        lane.failed = true;
                        self.fail(response, lane.shard, err);
                    }
                }
            }
            if remaining == 0 {
                break;
            }
            let next = lanes
                .iter()
                .enumerate()
                .filter_map(|(i, l)| {
                    l.buffered
                        .front()
                        .map(|e| (e.insertion_ts, l.shard, e.sequence, i))
                })
                .min();
            let Some((_, _, _, i)) = next else { break };
            let event = lanes[i].buffered.pop_front().expect("non-empty");
            response.next_cursor.set(event.shard, event.position);
            if take(request, response, event) {
                remaining -= 1;
            }
        }
        response.has_more = lanes.iter().any(|l| !l.buffered.is_empty());
    }
}
