//! Reading every record of a shard through the adapter, and accounting for every byte.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use corelane::Adapter;
use corelane::adapter::{DamagedRange, Position};
use corelane_adapters::FileAdapter;

use crate::Failure;

/// Bytes of a segment header and of a record header, from the format in
/// docs/adapters.md: what the byte accounting adds to the payloads the reads return.
const SEGMENT_HEADER_BYTES: u64 = 16;
const RECORD_HEADER_BYTES: u64 = 24;
/// Records read per poll.
const PAGE: usize = 4096;

/// What verify found in a whole store.
#[derive(Debug)]
pub struct LogReport {
    /// The data directory.
    pub dir: PathBuf,
    /// One per shard, in shard order.
    pub shards: Vec<ShardReport>,
}

impl LogReport {
    /// No damaged range and no problem in any shard.
    pub fn is_intact(&self) -> bool {
        self.shards.iter().all(ShardReport::is_intact)
    }
}

/// What verify found in one shard.
#[derive(Debug, Default)]
pub struct ShardReport {
    /// The shard.
    pub shard: u32,
    /// Intact records read.
    pub records: u64,
    /// Sequences of the first and last intact record.
    pub sequences: Option<(u64, u64)>,
    /// Oldest and newest insertion timestamps (Unix-epoch nanoseconds).
    pub timestamps: Option<(u64, u64)>,
    /// The segment files, ascending by first sequence.
    pub segments: Vec<SegmentReport>,
    /// Damaged ranges, in shard order: those the read side reported, then bytes the
    /// accounting found after a segment's last record.
    pub damaged: Vec<DamagedRange>,
    /// Anything else that is wrong (records out of order, records outside every segment).
    pub problems: Vec<String>,
}

impl ShardReport {
    /// No damaged range and no problem.
    pub fn is_intact(&self) -> bool {
        self.damaged.is_empty() && self.problems.is_empty()
    }

    /// Bytes of all segment files.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}

/// One segment file.
#[derive(Debug)]
pub struct SegmentReport {
    /// The file.
    pub path: PathBuf,
    /// Sequence of its first record (from the file name).
    pub base_sequence: u64,
    /// File length.
    pub bytes: u64,
    /// Intact records in it.
    pub records: u64,
    /// Sequences of its first and last intact record.
    pub sequences: Option<(u64, u64)>,
    /// Bytes of those records, headers included.
    record_bytes: u64,
    /// Bytes of the damaged ranges the read side reported in it.
    damaged_bytes: u64,
}

/// Reads shard `shard` of `store` (opened read-only on `root`) from start to end.
pub fn walk_shard(store: &FileAdapter, root: &Path, shard: u32) -> Result<ShardReport, Failure> {
    let mut report = ShardReport {
        shard,
        segments: list_segments(&root.join(format!("shard-{shard:04}")))?,
        ..ShardReport::default()
    };
    let mut after: Option<Position> = None;
    loop {
        let deadline = Instant::now() + Duration::from_secs(60);
        let page = store
            .poll_shard(shard, after, PAGE, deadline)
            .map_err(|e| format!("shard {shard}: {e}"))?;
        for event in &page.events {
            report.add_record(event.sequence, event.insertion_ts, event.payload.len());
        }
        for range in page.damaged {
            if let Some(segment) = report.segment_at(&range.location) {
                segment.damaged_bytes += range.len;
            }
            report.damaged.push(range);
        }
        if page.end_of_shard {
            break;
        }
        if page.next == after {
            report.problems.push(format!(
                "reading stopped at {after:?}: the cursor did not move"
            ));
            break;
        }
        after = page.next;
    }
    report.account_bytes();
    Ok(report)
}

/// The `{sequence:020}.seg` files of a shard directory, ascending.
fn list_segments(dir: &Path) -> Result<Vec<SegmentReport>, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("list {}: {e}", dir.display()))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("list {}: {e}", dir.display()))?;
        let name = entry.file_name();
        let Some(base) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg"))
            .filter(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
        else {
            continue;
        };
        let path = entry.path();
        let bytes = std::fs::metadata(&path)
            .map_err(|e| format!("stat {}: {e}", path.display()))?
            .len();
        segments.push(SegmentReport {
            path,
            base_sequence: base,
            bytes,
            records: 0,
            sequences: None,
            record_bytes: 0,
            damaged_bytes: 0,
        });
    }
    segments.sort_unstable_by_key(|s| s.base_sequence);
    Ok(segments)
}

/// Widens `range` to take `value`.
fn widen(range: &mut Option<(u64, u64)>, value: u64) {
    *range = Some(match *range {
        Some((low, high)) => (low.min(value), high.max(value)),
        None => (value, value),
    });
}

impl ShardReport {
    fn add_record(&mut self, sequence: u64, insertion_ts: u64, payload_len: usize) {
        if let Some((_, last)) = self.sequences
            && sequence <= last
        {
            self.problems
                .push(format!("sequence {sequence} follows {last}: out of order"));
        }
        self.records += 1;
        widen(&mut self.sequences, sequence);
        widen(&mut self.timestamps, insertion_ts);
        // Segment i holds the sequences from its base up to the next segment's base.
        let holder = self
            .segments
            .partition_point(|s| s.base_sequence <= sequence);
        let Some(segment) = holder.checked_sub(1).map(|i| &mut self.segments[i]) else {
            self.problems.push(format!(
                "sequence {sequence} precedes the first segment's first sequence"
            ));
            return;
        };
        segment.records += 1;
        segment.record_bytes += RECORD_HEADER_BYTES + payload_len as u64;
        widen(&mut segment.sequences, sequence);
    }

    fn segment_at(&mut self, location: &str) -> Option<&mut SegmentReport> {
        self.segments
            .iter_mut()
            .find(|s| s.path.display().to_string() == location)
    }

    /// Header + records + damaged ranges must make up each file. The read side leaves a
    /// short or bad tail of the newest segment alone (a writer may be appending; its
    /// recovery cuts a torn one), so that tail is reported here.
    fn account_bytes(&mut self) {
        for segment in &self.segments {
            let known = SEGMENT_HEADER_BYTES + segment.record_bytes + segment.damaged_bytes;
            if known < segment.bytes {
                self.damaged.push(DamagedRange {
                    shard: self.shard,
                    location: segment.path.display().to_string(),
                    offset: known,
                    len: segment.bytes - known,
                    lost_sequences: None,
                    reason: "bytes after the last whole record: a torn write or damaged \
                             records (a writer's recovery cuts them when it opens the store)"
                        .into(),
                });
            } else if known > segment.bytes {
                self.problems.push(format!(
                    "{}: records and damage add up to {known} bytes, the file has {}",
                    segment.path.display(),
                    segment.bytes
                ));
            }
        }
    }
}
