//! Zero allocations per event on the producer, shard and I/O paths after warm-up,
//! checked with a counting global allocator. Runs without the libtest harness so that
//! no other test thread allocates while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use corelane::adapters::NoopAdapter;
use corelane::{BatchConfig, Bus, CorePlan, RawEvent, WaitStrategy};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the same arguments; counting touches
// only an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn wait_written(noop: &NoopAdapter, target: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while noop.events() < target {
        assert!(
            Instant::now() < deadline,
            "only {} of {target} written",
            noop.events()
        );
        std::thread::yield_now();
    }
}

/// Ingests `n` events through `ingest` (retrying refusals) and waits until all are
/// written; returns the allocations made meanwhile by every thread of the process.
fn measure(
    noop: &NoopAdapter,
    written: &mut u64,
    n: u64,
    mut ingest: impl FnMut(u64) -> bool,
) -> u64 {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for i in 0..n {
        while !ingest(i) {
            std::thread::yield_now();
        }
    }
    *written += n;
    wait_written(noop, *written);
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

fn run(shards: usize, batch: BatchConfig) {
    let noop = Arc::new(NoopAdapter::new());
    let bus = Bus::builder()
        .num_shards(shards)
        .cores(CorePlan::Disabled)
        .wait_strategy(WaitStrategy::Backoff)
        .batch(batch)
        // One batch buffer per shard: after the first, the pool is at its cap and every
        // later batch must reuse a recycled buffer.
        .max_inflight_batches(1)
        .build_shared(noop.clone())
        .unwrap();
    let mut producer = bus.producer();
    let mut event = [0u8; 64];
    let mut written = 0;

    // Warm-up: buffers reach their working size; the thread-local producer registers.
    let mut ingest = |i: u64, producer: &mut corelane::Producer| {
        event[..8].copy_from_slice(&i.to_le_bytes());
        producer.ingest_raw(&event[..]).is_ok()
    };
    measure(&noop, &mut written, 50_000, |i| ingest(i, &mut producer));
    measure(&noop, &mut written, 1_000, |i| {
        bus.ingest_raw(i.to_le_bytes()).is_ok()
    });

    let n = 200_000;
    let allocs = measure(&noop, &mut written, n, |i| ingest(i, &mut producer));
    assert_eq!(
        allocs, 0,
        "{shards} shards, {batch:?}: {allocs} allocations for {n} events"
    );
    let allocs = measure(&noop, &mut written, n, |i| {
        bus.ingest_raw(RawEvent::new(i.to_le_bytes()).with_hash(i.wrapping_mul(0x9e37_79b9)))
            .is_ok()
    });
    assert_eq!(
        allocs, 0,
        "thread-local path: {allocs} allocations for {n} events"
    );
    println!(
        "{shards} shard(s), {batch:?}: 0 allocations for {} events",
        2 * n
    );
    drop(producer);
    bus.shutdown().unwrap();
}

fn main() {
    run(1, BatchConfig::low_latency());
    run(2, BatchConfig::default());
    run(
        1,
        BatchConfig {
            max_events: 256,
            max_bytes: 4096,
            max_delay: Duration::from_micros(100),
        },
    );
    println!("alloc: ok");
}
