//! The file adapter: round trip, restart, recovery of torn tails, corruption, retention,
//! segment boundaries, permissions, locking, and a read-only follower.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

mod file_common;

use corelane_adapters::{FileAdapter, FileConfig, FsyncPolicy};
use corelane_io::{Adapter, ErrorKind, Position, StoredEvent};
use file_common::{batch, deadline, open, segments};

fn config(dir: &Path) -> FileConfig {
    let mut c = FileConfig::new(dir);
    c.fsync = FsyncPolicy::Never;
    c
}

fn read_all(a: &FileAdapter, shard: u32, page: usize) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let p = a.poll_shard(shard, after, page, deadline()).unwrap();
        assert!(p.events.len() <= page);
        out.extend(p.events);
        after = p.next;
        if p.end_of_shard {
            return out;
        }
    }
}

#[test]
fn round_trip_and_restart_continue_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let (a, report) = open(config(dir.path()), 2);
    assert_eq!(report.tail(0).last_sequence, None);
    a.write_batch(&batch(0, 0, 100, 40), deadline()).unwrap();
    a.write_batch(&batch(1, 0, 3, 1), deadline()).unwrap();
    a.write_batch(&batch(0, 100, 50, 0), deadline()).unwrap();
    let events = read_all(&a, 0, 1000);
    assert_eq!(events.len(), 150);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            (e.sequence, e.insertion_ts, e.shard),
            (i as u64, 1_000_000 + i as u64, 0)
        );
        assert_eq!(e.position, Position::from_sequence(i as u64));
    }
    assert_eq!(events[5].payload.len(), 40);
    assert!(events[120].payload.is_empty());
    a.shutdown(deadline()).unwrap();
    assert_eq!(
        a.write_batch(&batch(0, 150, 1, 1), deadline())
            .unwrap_err()
            .kind(),
        ErrorKind::Shutdown
    );
    drop(a);

    let (b, report) = open(config(dir.path()), 2);
    assert_eq!(report.tail(0).last_sequence, Some(149));
    assert_eq!(report.tail(0).last_insertion_ts, Some(1_000_149));
    assert_eq!(report.tail(1).last_sequence, Some(2));
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    b.write_batch(&batch(0, 150, 10, 8), deadline()).unwrap();
    assert_eq!(read_all(&b, 0, 7).len(), 160);
    // A retried batch that was already stored is acknowledged, not stored twice.
    b.write_batch(&batch(0, 150, 10, 8), deadline()).unwrap();
    assert_eq!(read_all(&b, 0, 1000).len(), 160);
    let err = b
        .write_batch(&batch(0, 155, 10, 8), deadline())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
}

#[test]
fn pagination_crosses_segment_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.segment_bytes = 4096;
    let (a, _) = open(c.clone(), 1);
    let mut seq = 0;
    for n in [7usize, 30, 1, 64, 13, 100, 2] {
        a.write_batch(&batch(0, seq, n, 100), deadline()).unwrap();
        seq += n as u64;
    }
    assert_eq!(segments(dir.path(), 0).len(), 4, "segments rolled");
    for page in [1, 2, 3, 7, 31, 64, 1000] {
        let got: Vec<u64> = read_all(&a, 0, page).iter().map(|e| e.sequence).collect();
        assert_eq!(got, (0..seq).collect::<Vec<_>>(), "page size {page}");
    }
    // Seeking into the middle of any segment.
    for after in [0u64, 6, 7, 36, 37, 100, 200, seq - 2] {
        let p = a
            .poll_shard(0, Some(Position::from_sequence(after)), 3, deadline())
            .unwrap();
        assert_eq!(p.events[0].sequence, after + 1);
    }
    let p = a
        .poll_shard(0, Some(Position::from_sequence(seq - 1)), 3, deadline())
        .unwrap();
    assert!(p.events.is_empty() && p.end_of_shard);
    drop(a);
    let (b, report) = open(c, 1);
    assert_eq!(report.tail(0).last_sequence, Some(seq - 1));
    assert_eq!(read_all(&b, 0, 50).len() as u64, seq);
}

#[test]
fn torn_tail_is_cut_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = open(config(dir.path()), 1);
    a.write_batch(&batch(0, 0, 10, 50), deadline()).unwrap();
    a.write_batch(&batch(0, 10, 10, 50), deadline()).unwrap();
    a.shutdown(deadline()).unwrap();
    drop(a);
    let seg = &segments(dir.path(), 0)[0];
    let len = fs::metadata(seg).unwrap().len();
    // Cut the last record in half, as a crash mid-write would.
    OpenOptions::new()
        .write(true)
        .open(seg)
        .unwrap()
        .set_len(len - 30)
        .unwrap();

    let (b, report) = open(config(dir.path()), 1);
    assert_eq!(report.tail(0).last_sequence, Some(18));
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(
        report.notes[0].contains("torn write"),
        "{}",
        report.notes[0]
    );
    let rec = &b.recovery()[0];
    assert_eq!(
        rec.truncated_bytes,
        74 - 30,
        "the partial record's bytes were cut"
    );
    assert_eq!(read_all(&b, 0, 100).len(), 19);
    // Appends continue right after the last whole record.
    b.write_batch(&batch(0, 19, 5, 50), deadline()).unwrap();
    let seqs: Vec<u64> = read_all(&b, 0, 100).iter().map(|e| e.sequence).collect();
    assert_eq!(seqs, (0..24).collect::<Vec<_>>());
}

#[test]
fn garbage_tail_is_cut_and_partial_header_restarts_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.segment_bytes = 4096;
    let (a, _) = open(c.clone(), 1);
    a.write_batch(&batch(0, 0, 100, 60), deadline()).unwrap();
    a.write_batch(&batch(0, 100, 5, 60), deadline()).unwrap();
    drop(a);
    let segs = segments(dir.path(), 0);
    let last = segs.last().unwrap();
    let mut bytes = fs::read(last).unwrap();
    bytes.extend_from_slice(&[0xAB; 37]);
    fs::write(last, &bytes).unwrap();
    let (b, report) = open(c.clone(), 1);
    assert_eq!(report.tail(0).last_sequence, Some(104));
    assert_eq!(b.recovery()[0].truncated_bytes, 37);
    drop(b);
    // A crash while creating a segment leaves a file shorter than its header.
    let empty = last.with_file_name(format!("{:020}.seg", 105));
    fs::write(&empty, b"CLS").unwrap();
    let (c2, report) = open(c, 1);
    assert_eq!(report.tail(0).last_sequence, Some(104));
    c2.write_batch(&batch(0, 105, 3, 10), deadline()).unwrap();
    assert_eq!(read_all(&c2, 0, 1000).len(), 108);
}

#[test]
fn flipped_byte_mid_segment_is_skipped_and_reported_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = open(config(dir.path()), 1);
    a.write_batch(&batch(0, 0, 100, 32), deadline()).unwrap();
    drop(a);
    let seg = &segments(dir.path(), 0)[0];
    let mut bytes = fs::read(seg).unwrap();
    let record = 16 + 50 * (24 + 32); // record 50
    bytes[record + 24 + 5] ^= 0x01; // a payload byte
    fs::write(seg, &bytes).unwrap();

    // Recovery sees valid records after the damage: corruption, not a torn tail.
    let (b, report) = open(config(dir.path()), 1);
    assert_eq!(report.tail(0).last_sequence, Some(99), "nothing was cut");
    assert!(
        report.notes.iter().any(|n| n.contains("checksum mismatch")),
        "{:?}",
        report.notes
    );
    assert_eq!(fs::metadata(seg).unwrap().len() as usize, bytes.len());
    // Reads before the damage work; a read across it returns the records around it
    // and names the damage (more in tests/file_damage.rs).
    let p = b.poll_shard(0, None, 50, deadline()).unwrap();
    assert_eq!(p.events.len(), 50);
    assert!(p.damaged.is_empty());
    let p = b
        .poll_shard(0, Some(Position::from_sequence(49)), 10, deadline())
        .unwrap();
    assert_eq!(p.events[0].sequence, 51);
    let d = &p.damaged[0];
    assert_eq!((d.shard, d.offset, d.len), (0, record as u64, 56));
    assert!(d.reason.contains("checksum mismatch"), "{}", d.reason);
}

#[test]
fn retention_deletes_whole_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.segment_bytes = 8192;
    c.retention_bytes = Some(32 << 10);
    let (a, _) = open(c.clone(), 1);
    for k in 0..40u64 {
        a.write_batch(&batch(0, k * 50, 50, 100), deadline())
            .unwrap();
    }
    let segs = segments(dir.path(), 0);
    let total: u64 = segs.iter().map(|p| fs::metadata(p).unwrap().len()).sum();
    assert!(
        total <= (32 << 10) + 8192 + 50 * 124,
        "{total} bytes kept in {} segments",
        segs.len()
    );
    let events = read_all(&a, 0, 500);
    let first = events[0].sequence;
    assert!(first > 0, "old segments were deleted");
    assert_eq!(events.last().unwrap().sequence, 1999);
    let seqs: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(
        seqs,
        (first..2000).collect::<Vec<_>>(),
        "what is kept is contiguous"
    );
    // A cursor from before the retained range resumes at the oldest kept event.
    let p = a
        .poll_shard(0, Some(Position::from_sequence(3)), 2, deadline())
        .unwrap();
    assert_eq!(p.events[0].sequence, first);

    let dir2 = tempfile::tempdir().unwrap();
    let mut c = config(dir2.path());
    c.segment_bytes = 4096;
    c.retention_age = Some(Duration::from_millis(50));
    let (b, _) = open(c, 1);
    b.write_batch(&batch(0, 0, 60, 100), deadline()).unwrap();
    b.write_batch(&batch(0, 60, 60, 100), deadline()).unwrap();
    std::thread::sleep(Duration::from_millis(120));
    b.write_batch(&batch(0, 120, 60, 100), deadline()).unwrap();
    let events = read_all(&b, 0, 500);
    assert_eq!(
        events.first().unwrap().sequence,
        120,
        "segments older than 50 ms went"
    );
}

#[test]
fn permissions_locking_and_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let (a, _) = open(config(&root), 1);
    a.write_batch(&batch(0, 0, 1, 1), deadline()).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("shard-0000")), 0o700);
    assert_eq!(mode(&segments(&root, 0)[0]), 0o600);

    let second = FileAdapter::open(config(&root)).unwrap();
    let err = second.init(1, deadline()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string()
            .contains("in use by another corelane process"),
        "{err}"
    );
    a.shutdown(deadline()).unwrap();
    drop(a);
    second.init(1, deadline()).unwrap();

    let mut bad = config(&root);
    bad.segment_bytes = 10;
    let err = FileAdapter::open(bad).unwrap_err();
    assert!(
        err.to_string().contains("segment_bytes: 10 is outside"),
        "{err}"
    );
    let err = FileAdapter::open_read_only(dir.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

/// A read-only reader follows a writer that appends and rolls segments meanwhile.
#[test]
fn read_only_reader_follows_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.segment_bytes = 4096;
    let (w, _) = open(c, 2);
    w.write_batch(&batch(0, 0, 5, 10), deadline()).unwrap();
    let r = FileAdapter::open_read_only(dir.path()).unwrap();
    assert_eq!(r.num_shards(), 2);
    let err = r.write_batch(&batch(0, 5, 1, 1), deadline()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let mut after = None;
    let mut seen = 0u64;
    for k in 0..30u64 {
        w.write_batch(&batch(0, 5 + k * 20, 20, 60), deadline())
            .unwrap();
        let p = r.poll_shard(0, after, 1000, deadline()).unwrap();
        for e in &p.events {
            assert_eq!(e.sequence, seen);
            seen += 1;
        }
        after = p.next;
    }
    assert_eq!(seen, 5 + 30 * 20);
    assert_eq!(
        r.last_position(0, deadline()).unwrap(),
        Some(Position::from_sequence(604))
    );
}

#[test]
fn every_fsync_policy_stores_the_same() {
    for fsync in [
        FsyncPolicy::Never,
        FsyncPolicy::EveryBatch,
        FsyncPolicy::Interval(Duration::from_millis(5)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = FileConfig::new(dir.path());
        c.fsync = fsync;
        let (a, _) = open(c.clone(), 1);
        for k in 0..20 {
            a.write_batch(&batch(0, k * 10, 10, 16), deadline())
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        a.flush(deadline()).unwrap();
        assert!(a.is_healthy());
        a.shutdown(deadline()).unwrap();
        drop(a);
        let (b, report) = open(c, 1);
        assert_eq!(report.tail(0).last_sequence, Some(199), "{fsync:?}");
        assert_eq!(read_all(&b, 0, 64).len(), 200);
    }
}
