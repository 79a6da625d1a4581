//! Quickstart: a bus on the embedded file log (no server), two producer threads, a
//! flush, a filtered page read back, and the statistics.
//!
//! Run: `cargo run --release -p corelane --example quickstart [DATA_DIR]`
//! (default: a temporary directory, removed at exit).

use std::time::{Duration, Instant};

use corelane::adapters::{FileAdapter, FileConfig};
use corelane::read::ConsumeRequest;
use corelane::{Bus, Event};

const PER_THREAD: u64 = 500_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temporary = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| temporary.path().to_path_buf(), Into::into);
    let bus = Bus::builder()
        .num_shards(2)
        .build(FileAdapter::open(FileConfig::new(&dir))?)?;
    println!(
        "bus: 2 shards on the file adapter in {}; producer fence: {}",
        dir.display(),
        if corelane::testing::uses_asymmetric_barrier(&bus) {
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

    let request = ConsumeRequest::new().limit(3).filter_json(
        r#"{"$and":[{"path":"thread","value":1},{"$gte":{"path":"i","value":1000}}]}"#,
    )?;
    let page = bus.poll(&request)?;
    println!(
        "first events of thread 1 from i = 1000 on (resume cursor {}):",
        page.next_cursor
    );
    for e in &page.events {
        println!(
            "  shard {} seq {} ts {} {}",
            e.shard,
            e.sequence,
            e.insertion_ts,
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
    println!(
        "nothing lost: accepted {} = written {} + failed {}",
        stats.accepted,
        stats.written,
        stats.failed.total()
    );
    Ok(())
}
