//! Helpers shared by the engine's integration tests: test configurations, adapters that
//! fail on purpose, and payloads that say who produced them.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use corelane::adapter::{Batch, InitReport, Position, ShardPoll, StoredEvent};
use corelane::adapters::MemoryAdapter;
use corelane::{Adapter, AdapterError, Bus, BusBuilder, CorePlan, WaitStrategy};
use parking_lot::{Condvar, Mutex};

/// A builder for tests: unpinned shard threads that back off when idle (the test runner
/// shares two cores with them), short adapter deadlines and retry delays.
pub fn builder(shards: usize) -> BusBuilder {
    Bus::builder()
        .num_shards(shards)
        .cores(CorePlan::Disabled)
        .wait_strategy(WaitStrategy::Backoff)
        .adapter_timeout(Duration::from_secs(5))
        .retry_backoff_initial(Duration::from_millis(1))
        .retry_backoff_max(Duration::from_millis(20))
        .shutdown_timeout(Duration::from_secs(60))
}

/// A bus whose I/O thread retries long enough (with short delays) to ride out a server
/// restart, and whose producers wait for room rather than fail.
pub fn outage_bus(shards: usize, adapter: Arc<dyn Adapter>) -> Arc<Bus> {
    Arc::new(
        builder(shards)
            .adapter_retries(300)
            .retry_backoff_initial(Duration::from_millis(5))
            .retry_backoff_max(Duration::from_millis(100))
            .backpressure(corelane::Backpressure::block(Duration::from_secs(60)))
            .build_shared(adapter)
            .unwrap(),
    )
}

/// Ingests `payload(producer, i)` at a steady pace from another thread while `outage`
/// runs (at least `min` events), flushes, checks that nothing failed and that the outage
/// caused retries, and returns how many events were accepted.
pub fn ingest_through(bus: &Arc<Bus>, producer: u64, min: u64, outage: impl FnOnce()) -> u64 {
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (bus, stop) = (Arc::clone(bus), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut p = bus.producer();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) || i < min {
                p.ingest_raw(payload(producer, i)).unwrap();
                i += 1;
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            i
        })
    };
    outage();
    stop.store(true, Ordering::Relaxed);
    let accepted = thread.join().unwrap();
    bus.flush(Duration::from_secs(60)).unwrap();
    let stats = bus.stats();
    assert_eq!(stats.accepted, accepted);
    assert_eq!(stats.failed.total(), 0, "{stats:?}");
    assert!(stats.retries > 0, "the outage caused retries");
    accepted
}

/// A 16-byte payload naming its producer and its index in that producer's stream.
pub fn payload(producer: u64, index: u64) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..8].copy_from_slice(&producer.to_le_bytes());
    p[8..].copy_from_slice(&index.to_le_bytes());
    p
}

/// Reverses [`payload`].
pub fn parse_payload(bytes: &[u8]) -> (u64, u64) {
    assert_eq!(
        bytes.len(),
        16,
        "payload of unexpected length {}",
        bytes.len()
    );
    (
        u64::from_le_bytes(bytes[..8].try_into().unwrap()),
        u64::from_le_bytes(bytes[8..].try_into().unwrap()),
    )
}

/// Checks a store's contents: every shard's sequences are contiguous from 0 in storage
/// order with strictly increasing timestamps, and for each (producer, shard) the indices
/// are increasing. Returns, per producer, the set of indices stored (each at most once).
pub fn check_store(events: &[StoredEvent]) -> HashMap<u64, Vec<u64>> {
    let mut by_shard: HashMap<u32, Vec<&StoredEvent>> = HashMap::new();
    for e in events {
        by_shard.entry(e.shard).or_default().push(e);
    }
    let mut per_producer: HashMap<u64, Vec<u64>> = HashMap::new();
    for (shard, evs) in by_shard {
        let mut last_index: HashMap<u64, u64> = HashMap::new();
        for (i, e) in evs.iter().enumerate() {
            assert_eq!(
                e.sequence, i as u64,
                "shard {shard}: sequence gap or reorder"
            );
            if i > 0 {
                assert!(
                    e.insertion_ts > evs[i - 1].insertion_ts,
                    "shard {shard}: timestamps not strictly increasing at seq {i}"
                );
            }
            let (p, idx) = parse_payload(&e.payload);
            if let Some(prev) = last_index.insert(p, idx) {
                assert!(
                    idx > prev,
                    "shard {shard}: producer {p} index {idx} stored after {prev}"
                );
            }
            per_producer.entry(p).or_default().push(idx);
        }
    }
    for v in per_producer.values_mut() {
        v.sort_unstable();
        let before = v.len();
        v.dedup();
        assert_eq!(before, v.len(), "an event was stored twice");
    }
    per_producer
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// One `write_batch` call as an adapter saw it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub shard: u32,
    pub seq_start: u64,
    pub dedup_ids: Vec<String>,
    /// The deadline the I/O thread gave, measured from the call's start.
    pub budget: Duration,
    pub ok: bool,
}

/// The `Adapter` impl of a test adapter that keeps its events in `self.store` (a
/// [`MemoryAdapter`]): every call forwards to the store except `write_batch`, whose body
/// (with `self`, `batch` and `deadline` in scope) decides what happens.
macro_rules! store_backed_adapter {
    ($ty:ty, $name:literal, |$this:ident, $batch:ident, $deadline:ident| $write:block) => {
        impl Adapter for $ty {
            fn name(&self) -> &str {
                $name
            }
            fn init(&self, n: u32, d: Instant) -> Result<InitReport, AdapterError> {
                self.store.init(n, d)
            }
            fn write_batch(&self, $batch: &Batch, $deadline: Instant) -> Result<(), AdapterError> {
                let $this = self;
                $write
            }
            fn flush(&self, d: Instant) -> Result<(), AdapterError> {
                self.store.flush(d)
            }
            fn shutdown(&self, d: Instant) -> Result<(), AdapterError> {
                self.store.shutdown(d)
            }
            fn poll_shard(
                &self,
                s: u32,
                a: Option<Position>,
                l: usize,
                d: Instant,
            ) -> Result<ShardPoll, AdapterError> {
                self.store.poll_shard(s, a, l, d)
            }
            fn is_healthy(&self) -> bool {
                true
            }
        }
    };
}

/// What a [`ScriptedAdapter`] does with a batch.
pub type Script = dyn Fn(&Batch, u32) -> Option<AdapterError> + Send + Sync;

/// Wraps a [`MemoryAdapter`]: records every write attempt and consults a script, which
/// sees the batch and how many attempts of it came before, and may return an error
/// instead of storing it.
pub struct ScriptedAdapter {
    pub store: MemoryAdapter,
    pub attempts: Mutex<Vec<Attempt>>,
    script: Box<Script>,
    tries: Mutex<HashMap<(u32, u64), u32>>,
}

impl ScriptedAdapter {
    pub fn new(
        script: impl Fn(&Batch, u32) -> Option<AdapterError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(ScriptedAdapter {
            store: MemoryAdapter::new(),
            attempts: Mutex::new(Vec::new()),
            script: Box::new(script),
            tries: Mutex::new(HashMap::new()),
        })
    }
}

store_backed_adapter!(ScriptedAdapter, "scripted", |this, batch, deadline| {
    let budget = deadline.saturating_duration_since(Instant::now());
    let before = {
        let mut tries = this.tries.lock();
        let t = tries.entry((batch.shard(), batch.seq_start())).or_insert(0);
        *t += 1;
        *t - 1
    };
    let verdict = (this.script)(batch, before);
    this.attempts.lock().push(Attempt {
        shard: batch.shard(),
        seq_start: batch.seq_start(),
        dedup_ids: (0..batch.len())
            .map(|i| batch.dedup_id(i).to_string())
            .collect(),
        budget,
        ok: verdict.is_none(),
    });
    match verdict {
        Some(err) => Err(err),
        None => this.store.write_batch(batch, deadline),
    }
});

/// An adapter whose writes block while its gate is closed (up to the call's deadline, then
/// `Timeout`); stores into a [`MemoryAdapter`] once open.
pub struct GateAdapter {
    pub store: MemoryAdapter,
    open: Mutex<bool>,
    opened: Condvar,
    pub blocked_calls: AtomicU32,
}

impl GateAdapter {
    pub fn closed() -> Arc<Self> {
        Arc::new(GateAdapter {
            store: MemoryAdapter::new(),
            open: Mutex::new(false),
            opened: Condvar::new(),
            blocked_calls: AtomicU32::new(0),
        })
    }

    pub fn open(&self) {
        *self.open.lock() = true;
        self.opened.notify_all();
    }
}

store_backed_adapter!(GateAdapter, "gate", |this, batch, deadline| {
    let mut open = this.open.lock();
    if !*open {
        this.blocked_calls.fetch_add(1, Ordering::SeqCst);
    }
    while !*open {
        if this.opened.wait_until(&mut open, deadline).timed_out() {
            return Err(AdapterError::timeout("gate stayed closed"));
        }
    }
    drop(open);
    this.store.write_batch(batch, deadline)
});

/// Set to make [`HangingAdapter`] return.
pub struct HangingAdapter {
    pub release: AtomicBool,
    pub calls: AtomicU32,
}

impl HangingAdapter {
    pub fn new() -> Arc<Self> {
        Arc::new(HangingAdapter {
            release: AtomicBool::new(false),
            calls: AtomicU32::new(0),
        })
    }
}

impl Adapter for HangingAdapter {
    fn name(&self) -> &str {
        "hanging"
    }
    fn init(&self, n: u32, _d: Instant) -> Result<InitReport, AdapterError> {
        Ok(InitReport::empty(n))
    }
    /// Ignores its deadline: hangs until released.
    fn write_batch(&self, _batch: &Batch, _deadline: Instant) -> Result<(), AdapterError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        while !self.release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }
    fn flush(&self, _d: Instant) -> Result<(), AdapterError> {
        Ok(())
    }
    fn shutdown(&self, _d: Instant) -> Result<(), AdapterError> {
        Ok(())
    }
    fn poll_shard(
        &self,
        _s: u32,
        _a: Option<Position>,
        _l: usize,
        _d: Instant,
    ) -> Result<ShardPoll, AdapterError> {
        Ok(ShardPoll::default())
    }
    fn is_healthy(&self) -> bool {
        false
    }
}

/// The write hook of an [`Intercept`]: decides whether, when and how to store a batch.
pub type WriteHook =
    dyn Fn(&MemoryAdapter, &Batch, Instant) -> Result<(), AdapterError> + Send + Sync;

/// A [`MemoryAdapter`] whose writes go through a hook, and which records being dropped.
pub struct Intercept {
    pub store: MemoryAdapter,
    write: Box<WriteHook>,
    pub dropped: Arc<AtomicBool>,
}

impl Intercept {
    pub fn new(
        write: impl Fn(&MemoryAdapter, &Batch, Instant) -> Result<(), AdapterError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Intercept {
            store: MemoryAdapter::new(),
            write: Box::new(write),
            dropped: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Drop for Intercept {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

store_backed_adapter!(Intercept, "intercept", |this, batch, deadline| {
    (this.write)(&this.store, batch, deadline)
});

/// Tries to start a bus on the adapter `made` (or its construction error) and returns
/// the one-line refusal, checking it came within 4 s: the shape of every "bad
/// certificate / bad credential" test.
pub fn refusal<A: Adapter + 'static>(made: Result<A, AdapterError>) -> String {
    let started = Instant::now();
    let adapter = match made {
        Ok(adapter) => Arc::new(adapter),
        Err(e) => return e.to_string(),
    };
    let err = builder(1)
        .build_shared(adapter)
        .expect_err("the bus must not start");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    eprintln!("refused: {text}");
    text
}
