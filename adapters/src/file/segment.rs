//! One segment file: its committed length, and a sparse index built as it is read.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::format::{SEGMENT_HEADER_LEN, ScanEnd, scan};

/// An index entry every this many bytes of records.
const INDEX_STRIDE: u64 = 4096;
const NONE: u64 = u64::MAX;

/// A segment of one shard: `{base_seq:020}.seg` in the shard's directory.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Sequence of the first record (from the file name).
    pub(crate) base_seq: u64,
    pub(crate) path: PathBuf,
    /// Bytes of whole, valid records written (readers never read past it).
    committed_len: AtomicU64,
    /// Sequence and timestamp of the last committed record (`NONE` if none or unknown).
    last_seq: AtomicU64,
    last_ts: AtomicU64,
    index: Mutex<SparseIndex>,
    reader: OnceLock<Arc<File>>,
}

#[derive(Debug)]
struct SparseIndex {
    /// (sequence, offset) of records, one per `INDEX_STRIDE` bytes, ascending.
    entries: Vec<(u64, u64)>,
    /// Bytes validated so far; records before it are indexed.
    indexed_len: u64,
    last_seq: u64,
    last_ts: u64,
    scratch: Vec<u8>,
}

/// A record read back.
#[derive(Debug)]
pub(crate) struct ReadRecord {
    pub(crate) sequence: u64,
    pub(crate) insertion_ts: u64,
    pub(crate) payload: Vec<u8>,
}

/// Parses a segment file name into its base sequence.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The file name of the segment starting at `base_seq`.
pub(crate) fn segment_name(base_seq: u64) -> String {
    format!("{base_seq:020}.seg")
}

impl Segment {
    /// A segment whose first `committed_len` bytes hold whole records.
    pub(crate) fn new(base_seq: u64, path: &Path, committed_len: u64) -> Self {
        Segment {
            base_seq,
            path: path.to_path_buf(),
            committed_len: AtomicU64::new(committed_len),
            last_seq: AtomicU64::new(NONE),
            last_ts: AtomicU64::new(NONE),
            index: Mutex::new(SparseIndex {
                entries: Vec::new(),
                indexed_len: SEGMENT_HEADER_LEN,
                last_seq: NONE,
                last_ts: NONE,
                scratch: Vec::new(),
            }),
            reader: OnceLock::new(),
        }
    }

    pub(crate) fn committed_len(&self) -> u64 {
        self.committed_len.load(Ordering::Acquire)
    }

    /// Publishes records appended by the writer up to `len`.
    pub(crate) fn commit(&self, len: u64, last_seq: u64, last_ts: u64) {
        self.last_seq.store(last_seq, Ordering::Relaxed);
        self.last_ts.store(last_ts, Ordering::Relaxed);
        self.committed_len.store(len, Ordering::Release);
    }

    /// Lets a read-only reader see a segment that another process is still appending to.
    pub(crate) fn grow_to(&self, len: u64) {
        self.committed_len.fetch_max(len, Ordering::AcqRel);
    }

    /// The last record's sequence and timestamp, when known.
    pub(crate) fn last(&self) -> Option<(u64, u64)> {
        let seq = self.last_seq.load(Ordering::Relaxed);
        (seq != NONE).then(|| (seq, self.last_ts.load(Ordering::Relaxed)))
    }

    fn reader(&self) -> std::io::Result<Arc<File>> {
        if let Some(f) = self.reader.get() {
            return Ok(Arc::clone(f));
        }
        let file = Arc::new(File::open(&self.path)?);
        Ok(Arc::clone(self.reader.get_or_init(|| file)))
    }

    /// The last record's sequence and timestamp, validating (and indexing) the segment
    /// up to its committed end if needed.
    pub(crate) fn last_record(&self, tail_may_tear: bool) -> Result<Option<(u64, u64)>, String> {
        if let Some(last) = self.last() {
            return Ok(Some(last));
        }
        let end = self.committed_len();
        let file = self.reader().map_err(|e| format!("open: {e}"))?;
        let mut index = self.index.lock();
        index.extend(&file, end, tail_may_tear)?;
        Ok((index.last_seq != NONE).then_some((index.last_seq, index.last_ts)))
    }

    /// Reads up to `limit` records with sequence ≥ `from_seq`, in order. `tail_may_tear`:
    /// an incomplete record at the committed end is a write in progress (read-only
    /// readers), not corruption. Returns the records and whether one more exists.
    pub(crate) fn read(
        &self,
        from_seq: u64,
        limit: usize,
        tail_may_tear: bool,
    ) -> Result<(Vec<ReadRecord>, bool), String> {
        let end = self.committed_len();
        let file = self.reader().map_err(|e| format!("open: {e}"))?;
        let mut index = self.index.lock();
        // Damage stops validation where it is; records before it stay readable, and the
        // error surfaces only for a read that needs to go past it.
        let damage = index.extend(&file, end, tail_may_tear).err();
        if index.last_seq == NONE || index.last_seq < from_seq {
            return match damage {
                Some(why) => Err(why),
                None => Ok((Vec::new(), false)),
            };
        }
        let start = match index.entries.partition_point(|(seq, _)| *seq <= from_seq) {
            0 => SEGMENT_HEADER_LEN,
            i => index.entries[i - 1].1,
        };
        let indexed_end = index.indexed_len;
        let mut out = Vec::new();
        let mut more = false;
        let outcome = scan(&file, start, indexed_end, &mut index.scratch, |_, rec| {
            if rec.sequence < from_seq {
                return true;
            }
            if out.len() == limit {
                more = true;
                return false;
            }
            out.push(ReadRecord {
                sequence: rec.sequence,
                insertion_ts: rec.insertion_ts,
                payload: rec.payload.to_vec(),
            });
            true
        })
        .map_err(|e| format!("read: {e}"))?;
        match outcome.end {
            ScanEnd::Stopped => Ok((out, more)),
            ScanEnd::Clean => match damage {
                // The page is full before the damage: the next read reports it.
                Some(_) if out.len() == limit => Ok((out, true)),
                Some(why) => Err(why),
                None => Ok((out, more)),
            },
            // Already validated by `extend`: the file changed underneath us.
            ScanEnd::Incomplete | ScanEnd::Corrupt(_) => Err(format!(
                "offset {}: record changed after validation",
                outcome.next_offset
            )),
        }
    }
}

impl SparseIndex {
    /// Validates and indexes records from `indexed_len` up to `end`.
    fn extend(&mut self, file: &File, end: u64, tail_may_tear: bool) -> Result<(), String> {
        if self.indexed_len >= end {
            return Ok(());
        }
        let mut last_entry = self.entries.last().map_or(0, |e| e.1);
        let entries = &mut self.entries;
        let last_seq = &mut self.last_seq;
        let last_ts = &mut self.last_ts;
        let outcome = scan(
            file,
            self.indexed_len,
            end,
            &mut self.scratch,
            |offset, rec| {
                if entries.is_empty() || offset - last_entry >= INDEX_STRIDE {
                    entries.push((rec.sequence, offset));
                    last_entry = offset;
                }
                *last_seq = rec.sequence;
                *last_ts = rec.insertion_ts;
                true
            },
        )
        .map_err(|e| format!("read: {e}"))?;
        self.indexed_len = outcome.next_offset;
        match outcome.end {
            ScanEnd::Clean | ScanEnd::Stopped => Ok(()),
            ScanEnd::Incomplete if tail_may_tear => Ok(()),
            ScanEnd::Incomplete => Err(format!(
                "offset {}: record cut short before the committed end {end}",
                outcome.next_offset
            )),
            ScanEnd::Corrupt(why) => Err(format!("offset {}: {why}", outcome.next_offset)),
        }
    }
}
