//! Fsync promises, through the fault seam in `durability.rs`: a failed fsync poisons the
//! shard, a roll syncs the old segment before the new one exists, and new directory
//! entries are synced.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use corelane_io::{Adapter, Batch, ErrorKind};

use super::durability::faults;
use super::{FileAdapter, FileConfig, FsyncPolicy};

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn batch(seq_start: u64, n: usize) -> Batch {
    let mut b = Batch::with_capacity(n, n * 100);
    b.reset(0, seq_start, 1);
    for seq in seq_start..seq_start + n as u64 {
        b.push(seq, &[seq as u8; 100]);
    }
    b
}

fn open(dir: &Path, fsync: FsyncPolicy) -> FileAdapter {
    let mut c = FileConfig::new(dir);
    c.fsync = fsync;
    c.segment_bytes = 4096;
    let a = FileAdapter::open(c).unwrap();
    a.init(1, deadline()).unwrap();
    a
}

fn assert_fsync_fatal(result: Result<(), corelane_io::AdapterError>) {
    let err = result.expect_err("must fail after a failed fsync");
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
    assert!(err.to_string().contains("fsync of"), "{err}");
}

#[test]
fn failed_fsync_poisons_the_shard_until_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), FsyncPolicy::EveryBatch);
    a.write_batch(&batch(0, 5), deadline()).unwrap();
    faults::fail_syncs_under(dir.path());
    assert_fsync_fatal(a.write_batch(&batch(5, 5), deadline()));
    faults::heal(dir.path());
    // The retry is not acknowledged on the strength of a second fsync ...
    assert_fsync_fatal(a.write_batch(&batch(5, 5), deadline()));
    // ... and nothing later is either, nor a flush.
    assert_fsync_fatal(a.write_batch(&batch(10, 5), deadline()));
    assert_fsync_fatal(a.flush(deadline()));
    assert!(!a.is_healthy());
    let _ = a.shutdown(deadline());
    drop(a);

    let b = open(dir.path(), FsyncPolicy::EveryBatch);
    let last = b.last_position(0, deadline()).unwrap().unwrap().sequence();
    b.write_batch(&batch(last + 1, 5), deadline()).unwrap();
}

#[test]
fn failed_fsync_at_a_roll_is_fatal_for_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    // An interval long enough that only the roll syncs.
    let a = open(dir.path(), FsyncPolicy::Interval(Duration::from_secs(3600)));
    a.write_batch(&batch(0, 40), deadline()).unwrap();
    faults::fail_syncs_under(dir.path());
    assert_fsync_fatal(a.write_batch(&batch(40, 5), deadline()));
    faults::heal(dir.path());
    assert_fsync_fatal(a.write_batch(&batch(40, 5), deadline()));
    assert_fsync_fatal(a.write_batch(&batch(45, 5), deadline()));
}

/// For each segment that a later one follows: after its last write, a sync of it comes
/// before the next segment is created.
fn assert_synced_before_next_created(events: &[(&'static str, PathBuf)], seg_dir: &Path) {
    let created: Vec<(usize, &PathBuf)> = events
        .iter()
        .enumerate()
        .filter(|(_, (kind, p))| *kind == "create" && p.parent() == Some(seg_dir))
        .map(|(i, (_, p))| (i, p))
        .collect();
    assert!(created.len() >= 3, "{created:?}");
    for pair in created.windows(2) {
        let ((_, old), (next_at, _)) = (pair[0], pair[1]);
        let before_next = &events[..next_at];
        let last_write = before_next
            .iter()
            .rposition(|(kind, p)| *kind == "write" && p == old)
            .expect("written");
        let synced = before_next[last_write..]
            .iter()
            .any(|(kind, p)| *kind == "sync" && p == old);
        assert!(
            synced,
            "{} not synced before the next segment",
            old.display()
        );
    }
}

#[test]
fn roll_syncs_the_old_segment_before_creating_the_new_one() {
    for interval in [Duration::from_secs(3600), Duration::from_millis(1)] {
        let dir = tempfile::tempdir().unwrap();
        let a = open(dir.path(), FsyncPolicy::Interval(interval));
        for k in 0..60 {
            a.write_batch(&batch(k * 5, 5), deadline()).unwrap();
        }
        a.shutdown(deadline()).unwrap();
        let events = faults::events_under(dir.path());
        assert_synced_before_next_created(&events, &dir.path().join("shard-0000"));
    }
}

#[test]
fn new_directory_entries_are_synced() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let a = open(&root, FsyncPolicy::EveryBatch);
    a.write_batch(&batch(0, 1), deadline()).unwrap();
    let events = faults::events_under(dir.path());
    let at = |kind: &str, p: &Path| {
        events
            .iter()
            .position(|(k, q)| *k == kind && q == p)
            .unwrap_or_else(|| panic!("no {kind} of {} in {events:?}", p.display()))
    };
    let shard = root.join("shard-0000");
    assert!(at("sync", &root) > at("create", &shard), "{events:?}");
    let segment = shard.join("00000000000000000000.seg");
    assert!(at("sync", &shard) > at("create", &segment), "{events:?}");
    assert!(at("sync", &segment) > at("create", &segment), "{events:?}");
}
