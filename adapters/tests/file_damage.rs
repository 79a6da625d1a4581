//! The file adapter around damaged stored bytes: a bad record in the middle of a
//! segment, reads that span it, torn tails seen by read-only readers, and torn tails of
//! older segments.

mod file_common;

use std::fs;

use corelane_adapters::{FileAdapter, FsyncPolicy};
use corelane_io::{Adapter, Position};
use file_common::{
    append_bytes, batch, config, deadline, flip_byte, open, read_all, segments, set_len,
};

/// Payload bytes of every record these tests write, and the encoded record size.
const PAYLOAD: usize = 32;
const RECORD: usize = 24 + PAYLOAD;

fn record_offset(k: usize) -> usize {
    16 + k * RECORD
}

/// One segment of 100 records (sequences 0..100) whose record 50 has a flipped byte at
/// `within` (0..24 header, 24.. payload).
fn store_with_damaged_record(within: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = open(config(dir.path(), FsyncPolicy::Never, 1 << 20), 1);
    a.write_batch(&batch(0, 0, 100, PAYLOAD), deadline())
        .unwrap();
    a.shutdown(deadline()).unwrap();
    drop(a);
    flip_byte(&segments(dir.path(), 0)[0], record_offset(50) + within);
    dir
}

fn without(range: std::ops::Range<u64>, hole: u64) -> Vec<u64> {
    range.filter(|s| *s != hole).collect()
}

#[test]
fn damaged_record_mid_segment_is_skipped_reported_and_appends_go_to_a_new_segment() {
    // The payload, the checksum and the length field of the record.
    for within in [24 + 5, 4, 0] {
        let dir = store_with_damaged_record(within);
        let seg = segments(dir.path(), 0)[0].clone();
        let size = fs::metadata(&seg).unwrap().len();
        let c = config(dir.path(), FsyncPolicy::EveryBatch, 1 << 20);
        let (a, report) = open(c.clone(), 1);
        assert_eq!(report.tail(0).last_sequence, Some(99), "byte {within}");
        assert!(
            report.notes.iter().any(|n| n.contains("damaged range")),
            "{:?}",
            report.notes
        );
        assert_eq!(fs::metadata(&seg).unwrap().len(), size, "nothing was cut");

        let got = read_all(&a, 0, 1000);
        assert_eq!(got.sequences(), without(0..100, 50), "byte {within}");
        assert_eq!(got.damaged.len(), 1, "{:?}", got.damaged);
        let d = &got.damaged[0];
        assert_eq!((d.shard, d.offset), (0, record_offset(50) as u64));
        assert_eq!(d.len, RECORD as u64, "{d:?}");
        assert_eq!(d.lost_sequences, Some((50, 50)));
        assert_eq!(d.location, seg.display().to_string());

        // Appends never land behind the damage: they start a new segment.
        a.write_batch(&batch(0, 100, 10, PAYLOAD), deadline())
            .unwrap();
        assert_eq!(segments(dir.path(), 0).len(), 2);
        assert_eq!(fs::metadata(&seg).unwrap().len(), size);
        let got = read_all(&a, 0, 7);
        assert_eq!(got.sequences(), without(0..110, 50));
        assert_eq!(got.damaged.len(), 1, "reported once, then passed");
        a.shutdown(deadline()).unwrap();
        drop(a);

        // And a restart still sees every intact record, and the damage.
        let (b, report) = open(c, 1);
        assert_eq!(report.tail(0).last_sequence, Some(109));
        let got = read_all(&b, 0, 1000);
        assert_eq!(got.sequences(), without(0..110, 50));
        assert_eq!(got.lost(), vec![50]);
    }
}

#[test]
fn read_spanning_damage_returns_the_records_before_it_first() {
    let dir = store_with_damaged_record(24 + 5);
    let (a, _) = open(config(dir.path(), FsyncPolicy::Never, 1 << 20), 1);
    // A window from 45 that crosses the damage.
    let p = a
        .poll_shard(0, Some(Position::from_sequence(44)), 10, deadline())
        .unwrap();
    let seqs: Vec<u64> = p.events.iter().map(|e| e.sequence).collect();
    assert_eq!(seqs, [45, 46, 47, 48, 49, 51, 52, 53, 54, 55]);
    assert_eq!(p.damaged.len(), 1);
    assert_eq!(p.damaged[0].lost_sequences, Some((50, 50)));
    assert!(!p.end_of_shard);

    // A page that fills up just before the damage reports nothing yet ...
    let p = a
        .poll_shard(0, Some(Position::from_sequence(39)), 10, deadline())
        .unwrap();
    assert_eq!(p.events.last().unwrap().sequence, 49);
    assert!(p.damaged.is_empty() && !p.end_of_shard);
    // ... and the next one starts with it.
    let p = a.poll_shard(0, p.next, 3, deadline()).unwrap();
    let seqs: Vec<u64> = p.events.iter().map(|e| e.sequence).collect();
    assert_eq!(seqs, [51, 52, 53]);
    assert_eq!(p.damaged.len(), 1);
    // A cursor already past the damage does not see it again.
    let p = a
        .poll_shard(0, Some(Position::from_sequence(50)), 3, deadline())
        .unwrap();
    assert_eq!(p.events[0].sequence, 51);
    assert!(p.damaged.is_empty());
}

#[test]
fn read_only_reader_treats_a_torn_newest_tail_as_uncommitted() {
    let zeros = [0u8; RECORD];
    let mut garbage = [0xabu8; RECORD];
    garbage[..4].copy_from_slice(&(PAYLOAD as u32).to_le_bytes());
    // A record cut short, a whole record's worth of zeros (size grew, data never
    // written), and a full-length record whose bytes are wrong.
    for (name, tail) in [
        ("cut", &zeros[..30]),
        ("zeros", &zeros[..]),
        ("garbage", &garbage[..]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = open(config(dir.path(), FsyncPolicy::Never, 4096), 1);
        let mut seq = 0;
        for _ in 0..10 {
            w.write_batch(&batch(0, seq, 20, PAYLOAD), deadline())
                .unwrap();
            seq += 20;
        }
        w.shutdown(deadline()).unwrap();
        drop(w);
        let newest = segments(dir.path(), 0).pop().unwrap();
        assert!(segments(dir.path(), 0).len() > 1);
        append_bytes(&newest, tail);

        let r = FileAdapter::open_read_only(dir.path()).unwrap();
        let got = read_all(&r, 0, 33);
        assert_eq!(got.sequences(), (0..seq).collect::<Vec<_>>(), "{name}");
        assert!(got.damaged.is_empty(), "{name}: {:?}", got.damaged);
        assert_eq!(
            r.last_position(0, deadline()).unwrap(),
            Some(Position::from_sequence(seq - 1)),
            "{name}"
        );
    }
}

/// Three segments of 4 KiB; returns the store and the sequences written.
fn three_segments() -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = open(config(dir.path(), FsyncPolicy::Never, 4096), 1);
    let mut seq = 0;
    while segments(dir.path(), 0).len() < 3 {
        a.write_batch(&batch(0, seq, 10, PAYLOAD), deadline())
            .unwrap();
        seq += 10;
    }
    a.shutdown(deadline()).unwrap();
    (dir, seq)
}

fn first_seq(path: &std::path::Path) -> u64 {
    path.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

#[test]
fn torn_tail_of_an_older_segment_followed_by_an_empty_newest_is_repaired() {
    let (dir, _) = three_segments();
    let segs = segments(dir.path(), 0);
    // A crash during a roll: the middle segment's last batch half written, the newest
    // segment created with its header only.
    let middle_len = fs::metadata(&segs[1]).unwrap().len();
    set_len(&segs[1], middle_len - 10);
    set_len(&segs[2], 16);
    let last_intact = first_seq(&segs[2]) - 2;
    for fsync in [FsyncPolicy::Never, FsyncPolicy::EveryBatch] {
        let copy = tempfile::tempdir().unwrap();
        file_common::copy_store(dir.path(), copy.path());
        let (a, report) = open(config(copy.path(), fsync, 4096), 1);
        assert_eq!(report.tail(0).last_sequence, Some(last_intact));
        let got = read_all(&a, 0, 100);
        assert_eq!(got.sequences(), (0..=last_intact).collect::<Vec<_>>());
        assert!(got.damaged.is_empty(), "{:?}", got.damaged);
        a.write_batch(&batch(0, last_intact + 1, 5, PAYLOAD), deadline())
            .unwrap();
        let got = read_all(&a, 0, 100);
        assert_eq!(got.sequences(), (0..last_intact + 6).collect::<Vec<_>>());
    }
}

#[test]
fn torn_tail_of_an_older_segment_followed_by_records_is_reported_as_damage() {
    let (dir, seq) = three_segments();
    let segs = segments(dir.path(), 0);
    let middle_len = fs::metadata(&segs[1]).unwrap().len();
    let torn_at = middle_len - RECORD as u64;
    set_len(&segs[1], torn_at + 10);
    let lost = first_seq(&segs[2]) - 1;

    let (a, report) = open(config(dir.path(), FsyncPolicy::Never, 4096), 1);
    assert_eq!(report.tail(0).last_sequence, Some(seq - 1));
    let got = read_all(&a, 0, 64);
    assert_eq!(got.sequences(), without(0..seq, lost));
    assert_eq!(got.damaged.len(), 1, "{:?}", got.damaged);
    let d = &got.damaged[0];
    assert_eq!(
        (d.offset, d.len, d.lost_sequences),
        (torn_at, 10, Some((lost, lost)))
    );
    assert_eq!(d.location, segs[1].display().to_string());
    drop(a);

    // A read-only reader sees the same: only the newest segment may be in progress.
    let r = FileAdapter::open_read_only(dir.path()).unwrap();
    let got = read_all(&r, 0, 1000);
    assert_eq!(got.sequences(), without(0..seq, lost));
    assert_eq!(got.lost(), vec![lost]);
}
