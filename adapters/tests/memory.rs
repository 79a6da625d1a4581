//! The memory and noop adapters against the adapter contract.

use std::time::{Duration, Instant};

use corelane_adapters::{MemoryAdapter, NoopAdapter};
use corelane_io::{Adapter, Batch, ErrorKind, Position};

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn batch(shard: u32, seq_start: u64, n: usize) -> Batch {
    let mut b = Batch::with_capacity(n, n * 8);
    b.reset(shard, seq_start, 0xabc);
    for i in 0..n as u64 {
        b.push(1_000 + seq_start + i, &(seq_start + i).to_le_bytes());
    }
    b
}

#[test]
fn exclusive_cursors_page_through_a_shard() {
    let mem = MemoryAdapter::new();
    mem.init(2, deadline()).unwrap();
    mem.write_batch(&batch(1, 0, 10), deadline()).unwrap();
    mem.write_batch(&batch(1, 10, 5), deadline()).unwrap();
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = mem.poll_shard(1, after, 4, deadline()).unwrap();
        seen.extend(page.events.iter().map(|e| e.sequence));
        after = page.next;
        if page.end_of_shard {
            break;
        }
        assert_eq!(page.events.len(), 4);
    }
    assert_eq!(seen, (0..15).collect::<Vec<_>>());
    assert_eq!(after, Some(Position::from_sequence(14)));
    let empty = mem.poll_shard(1, after, 4, deadline()).unwrap();
    assert!(empty.events.is_empty() && empty.end_of_shard);
    assert_eq!(empty.next, after, "an empty page keeps the cursor");
    let e = &mem.events(1)[3];
    assert_eq!(
        (e.insertion_ts, e.dedup_id.as_deref()),
        (1_003, Some("abc:1:0:3"))
    );
    assert!(
        mem.poll_shard(0, None, 10, deadline())
            .unwrap()
            .events
            .is_empty()
    );
    assert!(
        mem.poll_shard(7, None, 10, deadline())
            .unwrap()
            .end_of_shard
    );
}

#[test]
fn init_reports_each_shards_tail() {
    let mem = MemoryAdapter::new();
    mem.init(3, deadline()).unwrap();
    mem.write_batch(&batch(2, 0, 7), deadline()).unwrap();
    let report = mem.init(3, deadline()).unwrap();
    assert_eq!(report.tail(0).last_sequence, None);
    assert_eq!(report.tail(2).last_sequence, Some(6));
    assert_eq!(report.tail(2).last_insertion_ts, Some(1_006));
    let err = mem.write_batch(&batch(2, 3, 1), deadline()).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Fatal,
        "reusing a sequence is refused: {err}"
    );
}

#[test]
fn retention_keeps_the_newest_events() {
    let mem = MemoryAdapter::with_retention(5);
    mem.init(1, deadline()).unwrap();
    mem.write_batch(&batch(0, 0, 8), deadline()).unwrap();
    let seqs: Vec<_> = mem.events(0).iter().map(|e| e.sequence).collect();
    assert_eq!(seqs, vec![3, 4, 5, 6, 7]);
    // A cursor older than the oldest kept event resumes at the oldest.
    let page = mem
        .poll_shard(0, Some(Position::from_sequence(1)), 2, deadline())
        .unwrap();
    assert_eq!(page.events[0].sequence, 3);
}

#[test]
fn shutdown_refuses_writes_and_noop_counts() {
    let mem = MemoryAdapter::new();
    mem.init(1, deadline()).unwrap();
    mem.shutdown(deadline()).unwrap();
    assert!(!mem.is_healthy());
    let err = mem.write_batch(&batch(0, 0, 1), deadline()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shutdown);

    let noop = NoopAdapter::new();
    noop.write_batch(&batch(0, 0, 3), deadline()).unwrap();
    noop.write_batch(&batch(0, 3, 2), deadline()).unwrap();
    assert_eq!((noop.batches(), noop.events(), noop.bytes()), (2, 5, 40));
    assert!(
        noop.poll_shard(0, None, 10, deadline())
            .unwrap()
            .events
            .is_empty()
    );
    noop.shutdown(deadline()).unwrap();
    assert_eq!(
        noop.write_batch(&batch(0, 5, 1), deadline())
            .unwrap_err()
            .kind(),
        ErrorKind::Shutdown
    );
}

/// Readers page while a writer appends: every page is in order with no gaps.
#[test]
fn concurrent_reads_see_consistent_pages() {
    let mem = MemoryAdapter::new();
    mem.init(1, deadline()).unwrap();
    std::thread::scope(|s| {
        let writer = mem.clone();
        s.spawn(move || {
            for k in 0..200u64 {
                writer
                    .write_batch(&batch(0, k * 50, 50), deadline())
                    .unwrap();
            }
        });
        let mut after = None;
        let mut next = 0u64;
        while next < 10_000 {
            let page = mem.poll_shard(0, after, 333, deadline()).unwrap();
            for e in &page.events {
                assert_eq!(e.sequence, next);
                next += 1;
            }
            after = page.next;
        }
    });
}
