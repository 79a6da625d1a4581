//! Quickstart: a bus on the memory adapter, two producer threads, a flush, a page of
//! events read back, and the statistics.
//!
//! Run: `cargo run --release -p corelane --example quickstart`

use std::time::{Duration, Instant};

use corelane::adapters::MemoryAdapter;
use corelane::{Adapter, Bus, Event};

const PER_THREAD: u64 = 500_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = MemoryAdapter::new();
    let bus = Bus::builder().num_shards(2).build(store.clone())?;
    println!(
        "bus: 2 shards on the memory adapter; producer fence: {}",
        if bus.uses_asymmetric_barrier() {
            "compiler fence (membarrier available)"
        } else {
            "SeqCst fence (no membarrier)"
        }
    );

    let started = Instant::now();
    std::thread::scope(|s| {
        for thread in 0..2u64 {
            let bus = &bus;
            s.spawn(move || {
                let mut producer = bus.producer();
                let mut buf = Vec::with_capacity(64);
                for i in 0..PER_THREAD {
                    buf.clear();
                    use std::io::Write;
                    write!(buf, r#"{{"thread":{thread},"i":{i},"sym":"AAPL"}}"#).unwrap();
                    // Full rings are backpressure: hand the event back and try again.
                    while producer.ingest_raw(&buf[..]).is_err() {
                        std::thread::yield_now();
                    }
                }
            });
        }
    });
    let ingest_time = started.elapsed();
    bus.flush(Duration::from_secs(30))?;
    let flushed = started.elapsed();

    let total = 2 * PER_THREAD;
    println!(
        "ingested {total} events from 2 threads in {ingest_time:.2?} ({:.1} M events/s); flushed after {flushed:.2?}",
        total as f64 / ingest_time.as_secs_f64() / 1e6
    );

    let page = store.poll_shard(0, None, 3, Instant::now() + Duration::from_secs(1))?;
    println!("first events of shard 0:");
    for e in &page.events {
        println!(
            "  seq {} ts {} dedup {} {}",
            e.sequence,
            e.insertion_ts,
            e.dedup_id.as_deref().unwrap_or("-"),
            String::from_utf8_lossy(&e.payload)
        );
    }

    bus.ingest(Event::from_str(
        r#"{"note":"one more through the thread-local producer"}"#,
    )?)?;
    let stats = bus.shutdown()?;
    println!(
        "stats: accepted {} written {} failed {} refused {} batches {} retries {}",
        stats.accepted,
        stats.written,
        stats.failed.total(),
        stats.refused.total(),
        stats.batches_written,
        stats.retries
    );
    for s in &stats.shards {
        println!(
            "  shard {}: accepted {} written {} next_sequence {} ring fill peak {} B, {:?}",
            s.shard, s.accepted, s.written, s.next_sequence, s.ring_fill_peak_bytes, s.pinning
        );
    }
    assert_eq!(stats.accepted, stats.written + stats.failed.total());
    assert_eq!(store.total_events() as u64, stats.written);
    println!("nothing lost: {} stored", store.total_events());
    Ok(())
}
