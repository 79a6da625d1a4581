//! Crash consistency of the file adapter: for a log written under each fsync policy,
//! every cut of the newest segment, every damaged record region of every segment, and
//! truncated older segments. After each fault the store is reopened read-only and then
//! writable, and must serve every intact record in order, report every damaged range,
//! keep appending, and never reuse a stored sequence.
//!
//! The expectations come from an independent reader of the format in docs/adapters.md.

mod file_common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use corelane_adapters::{FileAdapter, FsyncPolicy};
use corelane_io::Adapter;
use file_common::{
    ReadBack, batch, config, copy_store, deadline, flip_byte, open, read_all, segments, set_len,
};

const SEGMENT_BYTES: u64 = 4096;

/// A small seeded generator (xorshift64*), so every run tries the same offsets.
struct Prng(u64);

impl Prng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// A record as the format describes it: where it is and its sequence.
#[derive(Debug, Clone, Copy)]
struct Record {
    seq: u64,
    offset: u64,
    len: u64,
}

#[derive(Debug, Clone)]
struct SegmentFile {
    /// File name, relative to the shard directory.
    name: PathBuf,
    base: u64,
    len: u64,
    records: Vec<Record>,
}

/// Reads a pristine segment the way docs/adapters.md says an independent reader would.
fn parse_segment(path: &Path) -> SegmentFile {
    let bytes = fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"CLSEG\0\0\x01");
    let mut records = Vec::new();
    let mut at = 16usize;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
        records.push(Record {
            seq,
            offset: at as u64,
            len: 24 + len as u64,
        });
        at += 24 + len;
    }
    assert_eq!(at, bytes.len());
    SegmentFile {
        name: path.file_name().unwrap().into(),
        base: path.file_stem().unwrap().to_str().unwrap().parse().unwrap(),
        len: bytes.len() as u64,
        records,
    }
}

/// Writes a log of several segments under `fsync`; returns it with its segments.
fn write_log(fsync: FsyncPolicy, rng: &mut Prng) -> (tempfile::TempDir, Vec<SegmentFile>) {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = open(config(dir.path(), fsync, SEGMENT_BYTES), 1);
    let mut seq = 0;
    let mut extra = 3;
    while segments(dir.path(), 0).len() < 4 || extra > 0 {
        if segments(dir.path(), 0).len() >= 4 {
            extra -= 1;
        }
        let n = 1 + rng.below(5) as usize;
        let size = 8 + rng.below(150) as usize;
        a.write_batch(&batch(0, seq, n, size), deadline()).unwrap();
        seq += n as u64;
    }
    a.shutdown(deadline()).unwrap();
    drop(a);
    let segs = segments(dir.path(), 0)
        .iter()
        .map(|p| parse_segment(p))
        .collect();
    (dir, segs)
}

/// What a reopened store must show after a fault.
#[derive(Debug)]
struct Expect {
    intact: Vec<u64>,
    /// Sequences the reported damaged ranges must name, and how many ranges.
    lost: Vec<u64>,
    ranges: usize,
}

impl Expect {
    /// Everything intact except `gone`; `reported` says whether reads report it.
    fn without(segs: &[SegmentFile], gone: &[u64], reported: bool) -> Expect {
        let all = segs.iter().flat_map(|s| s.records.iter().map(|r| r.seq));
        Expect {
            intact: all.filter(|s| !gone.contains(s)).collect(),
            lost: if reported { gone.to_vec() } else { Vec::new() },
            ranges: usize::from(reported && !gone.is_empty()),
        }
    }
}

fn assert_reads(got: &ReadBack, expect: &Expect, case: &str) {
    assert_eq!(got.sequences(), expect.intact, "{case}: intact records");
    assert_eq!(
        got.lost(),
        expect.lost,
        "{case}: lost sequences {:?}",
        got.damaged
    );
    assert_eq!(
        got.damaged.len(),
        expect.ranges,
        "{case}: {:?}",
        got.damaged
    );
}

/// Copies the pristine log, applies `fault`, and checks a read-only and a writable open.
fn check(pristine: &Path, fsync: FsyncPolicy, case: &str, fault: impl Fn(&Path), expect: &Expect) {
    let copy = tempfile::tempdir().unwrap();
    copy_store(pristine, copy.path());
    fault(&copy.path().join("shard-0000"));

    let reader = FileAdapter::open_read_only(copy.path()).unwrap();
    assert_reads(
        &read_all(&reader, 0, 17),
        expect,
        &format!("{case} read-only"),
    );

    let (writer, report) = open(config(copy.path(), fsync, SEGMENT_BYTES), 1);
    let last = expect.intact.last().copied();
    assert_eq!(report.tail(0).last_sequence, last, "{case}: last sequence");
    assert_reads(&read_all(&writer, 0, 23), expect, case);

    // Appends continue after the highest intact sequence and read back.
    let next = last.map_or(0, |s| s + 1);
    writer
        .write_batch(&batch(0, next, 3, 40), deadline())
        .unwrap();
    let got = read_all(&writer, 0, 1000);
    let mut want = expect.intact.clone();
    want.extend(next..next + 3);
    assert_eq!(got.sequences(), want, "{case}: after appending");
    assert!(
        got.sequences().windows(2).all(|w| w[0] < w[1]),
        "{case}: reused"
    );
    writer.shutdown(deadline()).unwrap();
}

fn policies() -> [FsyncPolicy; 3] {
    [
        FsyncPolicy::Never,
        FsyncPolicy::EveryBatch,
        FsyncPolicy::Interval(Duration::from_millis(2)),
    ]
}

#[test]
fn every_cut_of_the_newest_segment_keeps_the_records_before_it() {
    let mut rng = Prng(0x9e37_79b9_7f4a_7c15);
    for fsync in policies() {
        let (dir, segs) = write_log(fsync, &mut rng);
        let newest = segs.last().unwrap();
        let mut cuts: Vec<u64> = vec![0, 10, 16];
        cuts.extend(newest.records.iter().map(|r| r.offset + r.len));
        for r in newest.records.iter().rev().take(3) {
            cuts.extend((0..4).map(|_| r.offset + 1 + rng.below(r.len - 1)));
        }
        for cut in cuts {
            let gone: Vec<u64> = newest
                .records
                .iter()
                .filter(|r| r.offset + r.len > cut)
                .map(|r| r.seq)
                .collect();
            // A torn tail is a write that never completed: cut, not reported as damage.
            let expect = Expect::without(&segs, &gone, false);
            let case = format!("{fsync:?} newest cut at {cut}");
            check(
                dir.path(),
                fsync,
                &case,
                |d| set_len(&d.join(&newest.name), cut),
                &expect,
            );
        }
    }
}

#[test]
fn a_damaged_record_anywhere_is_skipped_and_reported() {
    let mut rng = Prng(0x2545_f491_4f6c_dd1d);
    for fsync in policies() {
        let (dir, segs) = write_log(fsync, &mut rng);
        for (i, seg) in segs.iter().enumerate() {
            for (k, record) in seg.records.iter().enumerate() {
                let newest_last = i + 1 == segs.len() && k + 1 == seg.records.len();
                // Length, checksum, sequence, timestamp, payload.
                let payload_byte = 24 + rng.below(record.len - 24);
                for within in [0, 5, 9, 17, payload_byte] {
                    // The newest segment's last record, damaged, is a torn write: cut.
                    let expect = Expect::without(&segs, &[record.seq], !newest_last);
                    let at = (record.offset + within) as usize;
                    let case = format!("{fsync:?} segment {i} record {k} byte {within}");
                    check(
                        dir.path(),
                        fsync,
                        &case,
                        |d| flip_byte(&d.join(&seg.name), at),
                        &expect,
                    );
                }
            }
        }
    }
}

#[test]
fn truncated_older_segments_are_reported_as_lost() {
    let mut rng = Prng(0x5851_f42d_4c95_7f2d);
    for fsync in policies() {
        let (dir, segs) = write_log(fsync, &mut rng);
        for seg in &segs[..segs.len() - 1] {
            let mid = seg.records[seg.records.len() / 2];
            let last = seg.records.last().unwrap();
            let inside_last = last.offset + 1 + rng.below(last.len - 1);
            // Inside a record, at a record boundary short of the roll size, and through
            // the header.
            for cut in [inside_last, mid.offset, mid.offset + 3, 16, 10, 0] {
                assert!(mid.offset < SEGMENT_BYTES);
                let gone: Vec<u64> = seg
                    .records
                    .iter()
                    .filter(|r| r.offset + r.len > cut)
                    .map(|r| r.seq)
                    .collect();
                let expect = Expect::without(&segs, &gone, true);
                let case = format!("{fsync:?} segment {} cut at {cut} of {}", seg.base, seg.len);
                check(
                    dir.path(),
                    fsync,
                    &case,
                    |d| set_len(&d.join(&seg.name), cut),
                    &expect,
                );
            }
        }
    }
}

#[test]
fn a_damaged_header_of_the_newest_segment_refuses_to_start_naming_it() {
    let mut rng = Prng(7);
    let (dir, segs) = write_log(FsyncPolicy::Never, &mut rng);
    let newest = segs.last().unwrap();
    let path = dir.path().join("shard-0000").join(&newest.name);
    flip_byte(&path, 2);
    let a = FileAdapter::open(config(dir.path(), FsyncPolicy::Never, SEGMENT_BYTES)).unwrap();
    let err = a.init(1, deadline()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("offset 0"),
        "{msg}"
    );
}
