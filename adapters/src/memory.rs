//! An adapter that keeps every shard in memory.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use corelane_io::{
    Adapter, AdapterError, Batch, InitReport, Position, ShardPoll, ShardTail, StoredEvent,
};
use parking_lot::RwLock;

type ShardStore = Arc<RwLock<VecDeque<StoredEvent>>>;

/// Keeps each shard's events in memory, in sequence order, and reads them back with
/// exclusive cursors (the position of an event is its sequence number).
///
/// Clones share the same store, so a test or a second bus can keep a handle to the
/// adapter it gave away. With a retention limit, each shard keeps its newest
/// `max_events_per_shard` events; a cursor that points before the oldest kept event
/// resumes at the oldest.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use corelane_adapters::MemoryAdapter;
/// use corelane_io::{Adapter, Batch, Position};
///
/// let mem = MemoryAdapter::new();
/// let deadline = Instant::now() + Duration::from_secs(1);
/// mem.init(1, deadline).unwrap();
/// let mut batch = Batch::with_capacity(3, 8);
/// for (ts, p) in [(1, b"a"), (2, b"b"), (3, b"c")] {
///     batch.push(ts, p);
/// }
/// mem.write_batch(&batch, deadline).unwrap();
///
/// let page = mem.poll_shard(0, Some(Position::from_sequence(0)), 10, deadline).unwrap();
/// let payloads: Vec<_> = page.events.iter().map(|e| e.payload.clone()).collect();
/// assert_eq!(payloads, vec![b"b".to_vec(), b"c".to_vec()]);
/// assert_eq!(page.next, Some(Position::from_sequence(2)));
/// assert!(page.end_of_shard);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryAdapter {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    shards: RwLock<Vec<ShardStore>>,
    max_events_per_shard: Option<usize>,
    shut: AtomicBool,
}

impl MemoryAdapter {
    /// An empty store that keeps everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that keeps at most `max_events_per_shard` events per shard,
    /// evicting the oldest.
    ///
    /// # Panics
    ///
    /// If `max_events_per_shard` is 0.
    pub fn with_retention(max_events_per_shard: usize) -> Self {
        assert!(
            max_events_per_shard > 0,
            "max_events_per_shard must be at least 1"
        );
        MemoryAdapter {
            inner: Arc::new(Inner {
                max_events_per_shard: Some(max_events_per_shard),
                ..Inner::default()
            }),
        }
    }

    fn shard(&self, shard: u32) -> Option<ShardStore> {
        self.inner.shards.read().get(shard as usize).cloned()
    }

    fn shard_or_create(&self, shard: u32) -> ShardStore {
        if let Some(store) = self.shard(shard) {
            return store;
        }
        let mut shards = self.inner.shards.write();
        while shards.len() <= shard as usize {
            shards.push(ShardStore::default());
        }
        Arc::clone(&shards[shard as usize])
    }

    /// Number of shards the store knows.
    pub fn num_shards(&self) -> u32 {
        self.inner.shards.read().len() as u32
    }

    /// Events currently held for `shard`.
    pub fn len(&self, shard: u32) -> usize {
        self.shard(shard).map_or(0, |s| s.read().len())
    }

    /// True when no shard holds an event.
    pub fn is_empty(&self) -> bool {
        self.total_events() == 0
    }

    /// Events currently held, all shards together.
    pub fn total_events(&self) -> usize {
        self.inner
            .shards
            .read()
            .iter()
            .map(|s| s.read().len())
            .sum()
    }

    /// A copy of `shard`'s events, in sequence order.
    pub fn events(&self, shard: u32) -> Vec<StoredEvent> {
        self.shard(shard)
            .map_or_else(Vec::new, |s| s.read().iter().cloned().collect())
    }

    /// A copy of every event, shard by shard.
    pub fn all_events(&self) -> Vec<StoredEvent> {
        (0..self.num_shards())
            .flat_map(|s| self.events(s))
            .collect()
    }
}

impl Adapter for MemoryAdapter {
    fn name(&self) -> &str {
        "memory"
    }

    fn init(&self, num_shards: u32, _deadline: Instant) -> Result<InitReport, AdapterError> {
        self.inner.shut.store(false, Ordering::Release);
        let mut report = InitReport::empty(num_shards);
        for shard in 0..num_shards {
            let store = self.shard_or_create(shard);
            if let Some(last) = store.read().back() {
                report.shards[shard as usize] = ShardTail {
                    last_sequence: Some(last.sequence),
                    last_insertion_ts: Some(last.insertion_ts),
                    history_unknown: false,
                };
            }
        }
        Ok(report)
    }

    fn write_batch(&self, batch: &Batch, _deadline: Instant) -> Result<(), AdapterError> {
        if self.inner.shut.load(Ordering::Acquire) {
            return Err(AdapterError::shutdown("memory adapter is shut down"));
        }
        let store = self.shard_or_create(batch.shard());
        let mut events = store.write();
        if let Some(last) = events.back()
            && last.sequence >= batch.seq_start()
        {
            return Err(AdapterError::fatal(format!(
                "shard {} already holds sequence {}; batch starts at {}",
                batch.shard(),
                last.sequence,
                batch.seq_start()
            )));
        }
        events.extend(batch.events().map(|e| StoredEvent {
            position: Position::from_sequence(e.sequence),
            shard: batch.shard(),
            sequence: e.sequence,
            insertion_ts: e.insertion_ts,
            payload: e.payload.to_vec(),
            dedup_id: Some(batch.dedup_id(e.index).to_string()),
        }));
        if let Some(max) = self.inner.max_events_per_shard {
            let excess = events.len().saturating_sub(max);
            events.drain(..excess);
        }
        Ok(())
    }

    fn flush(&self, _deadline: Instant) -> Result<(), AdapterError> {
        Ok(())
    }

    fn shutdown(&self, _deadline: Instant) -> Result<(), AdapterError> {
        self.inner.shut.store(true, Ordering::Release);
        Ok(())
    }

    fn poll_shard(
        &self,
        shard: u32,
        after: Option<Position>,
        limit: usize,
        _deadline: Instant,
    ) -> Result<ShardPoll, AdapterError> {
        let Some(store) = self.shard(shard) else {
            return Ok(ShardPoll {
                end_of_shard: true,
                ..ShardPoll::default()
            });
        };
        let events = store.read();
        let start = match after {
            None => 0,
            Some(p) => events.partition_point(|e| e.sequence <= p.sequence()),
        };
        let end = start.saturating_add(limit).min(events.len());
        let page: Vec<StoredEvent> = events.range(start..end).cloned().collect();
        Ok(ShardPoll {
            next: page.last().map(|e| e.position).or(after),
            end_of_shard: end == events.len(),
            events: page,
            skipped: 0,
            damaged: Vec::new(),
        })
    }

    fn last_position(
        &self,
        shard: u32,
        _deadline: Instant,
    ) -> Result<Option<Position>, AdapterError> {
        Ok(self
            .shard(shard)
            .and_then(|s| s.read().back().map(|e| e.position)))
    }

    fn is_healthy(&self) -> bool {
        !self.inner.shut.load(Ordering::Acquire)
    }
}
