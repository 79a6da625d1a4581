//! Helpers shared by the file adapter's fault tests: stores, batches, reading a whole
//! shard with the damage it reports, and damaging files.

#![allow(dead_code)] // each test file uses a different subset

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use corelane_adapters::{FileAdapter, FileConfig, FsyncPolicy};
use corelane_io::{Adapter, Batch, DamagedRange, InitReport, Position, StoredEvent};

pub fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

pub fn config(dir: &Path, fsync: FsyncPolicy, segment_bytes: u64) -> FileConfig {
    let mut c = FileConfig::new(dir);
    c.fsync = fsync;
    c.segment_bytes = segment_bytes;
    c
}

pub fn open(c: FileConfig, shards: u32) -> (FileAdapter, InitReport) {
    let a = FileAdapter::open(c).unwrap();
    let report = a.init(shards, deadline()).unwrap();
    (a, report)
}

/// `n` events from `seq_start`, each `size` bytes starting with its sequence.
pub fn batch(shard: u32, seq_start: u64, n: usize, size: usize) -> Batch {
    let mut b = Batch::with_capacity(n, n * size);
    b.reset(shard, seq_start, 1);
    for i in 0..n as u64 {
        let seq = seq_start + i;
        let mut payload = vec![(seq % 251) as u8; size];
        payload[..8.min(size)].copy_from_slice(&seq.to_le_bytes()[..8.min(size)]);
        b.push(1_000_000 + seq, &payload);
    }
    b
}

/// Everything a shard yields from the start: events and damaged ranges, page by page.
#[derive(Debug, Default)]
pub struct ReadBack {
    pub events: Vec<StoredEvent>,
    pub damaged: Vec<DamagedRange>,
}

impl ReadBack {
    pub fn sequences(&self) -> Vec<u64> {
        self.events.iter().map(|e| e.sequence).collect()
    }

    /// Sequences the reported ranges say were lost.
    pub fn lost(&self) -> Vec<u64> {
        self.damaged
            .iter()
            .filter_map(|d| d.lost_sequences)
            .flat_map(|(a, b)| a..=b)
            .collect()
    }
}

pub fn read_all(a: &FileAdapter, shard: u32, page: usize) -> ReadBack {
    let mut out = ReadBack::default();
    let mut after: Option<Position> = None;
    for _ in 0..100_000 {
        let p = a.poll_shard(shard, after, page, deadline()).unwrap();
        assert!(p.events.len() <= page);
        if let (Some(prev), Some(next)) = (after, p.next) {
            assert!(next >= prev, "the cursor went back");
        }
        out.events.extend(p.events);
        out.damaged.extend(p.damaged);
        after = p.next;
        if p.end_of_shard {
            return out;
        }
    }
    panic!("the shard never ended");
}

pub fn segments(dir: &Path, shard: u32) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir.join(format!("shard-{shard:04}")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

pub fn set_len(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

pub fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset] ^= 0x5a;
    fs::write(path, &bytes).unwrap();
}

pub fn append_bytes(path: &Path, extra: &[u8]) {
    let mut bytes = fs::read(path).unwrap();
    bytes.extend_from_slice(extra);
    fs::write(path, &bytes).unwrap();
}

/// Copies a store (shard directories and segments; not the lock) to `to`.
pub fn copy_store(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_store(&entry.path(), &to.join(entry.file_name()));
        } else if entry.file_name() != "LOCK" {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
