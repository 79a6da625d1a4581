//! One segment file: its committed length, and a sparse index (with the damaged ranges
//! found) built as it is read.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::damage::Damage;
use super::format::{RecordView, SEGMENT_HEADER_LEN, ScanEnd, resync, scan};

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
    /// Damaged ranges found so far, ascending by offset.
    damage: Vec<Damage>,
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
                damage: Vec::new(),
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

    fn reader(&self) -> io::Result<Arc<File>> {
        if let Some(f) = self.reader.get() {
            return Ok(Arc::clone(f));
        }
        let file = Arc::new(File::open(&self.path)?);
        Ok(Arc::clone(self.reader.get_or_init(|| file)))
    }

    /// The last intact record's sequence and timestamp, validating (and indexing) the
    /// segment up to its committed end if needed. `tail_may_tear`: as in [`SegmentPlace`].
    pub(crate) fn last_record(&self, tail_may_tear: bool) -> io::Result<Option<(u64, u64)>> {
        if let Some(last) = self.last() {
            return Ok(Some(last));
        }
        let end = self.committed_len();
        let file = self.reader()?;
        let mut index = self.index.lock();
        index.extend(&file, end, tail_may_tear)?;
        Ok((index.last_seq != NONE).then_some((index.last_seq, index.last_ts)))
    }

    /// Validates the whole segment as recovery does: the damaged ranges found before the
    /// last intact record, and the offset after that record (where a torn or garbage
    /// tail starts, if any).
    pub(crate) fn validate(&self) -> io::Result<(Vec<Damage>, u64)> {
        let end = self.committed_len();
        let file = self.reader()?;
        let mut index = self.index.lock();
        index.extend(&file, end, true)?;
        Ok((index.damage.clone(), index.indexed_len))
    }

    /// Cuts the committed length back to `len` (recovery truncated the file there).
    pub(crate) fn truncate_to(&self, len: u64) {
        self.committed_len.store(len, Ordering::Release);
        let mut index = self.index.lock();
        index.indexed_len = index.indexed_len.min(len);
    }

    /// Reads up to `limit` records with sequence ≥ `from_seq`, in order, stepping over
    /// damaged ranges and reporting those the read has not passed yet.
    pub(crate) fn read(
        &self,
        from_seq: u64,
        limit: usize,
        place: &SegmentPlace,
    ) -> io::Result<SegmentPage> {
        let end = self.committed_len();
        let file = self.reader()?;
        let mut guard = self.index.lock();
        guard.extend(&file, end, place.tail_may_tear)?;
        let index = &mut *guard;
        let mut page = SegmentPage::default();
        let missing = index.missing_tail(end, place);
        let behind = index.damage.is_empty() && index.last_seq < from_seq;
        if index.last_seq != NONE && !behind {
            let mut pos = match index.entries.partition_point(|(seq, _)| *seq <= from_seq) {
                0 => SEGMENT_HEADER_LEN,
                i => index.entries[i - 1].1,
            };
            loop {
                let outcome = scan(
                    &file,
                    pos,
                    index.indexed_len,
                    &mut index.scratch,
                    |_, rec| page.take(rec, from_seq, limit),
                )?;
                if matches!(outcome.end, ScanEnd::Clean | ScanEnd::Stopped) {
                    break;
                }
                let at = outcome.next_offset;
                let Some(damage) = index.damage.iter().find(|d| d.offset == at) else {
                    return Err(io::Error::other(format!(
                        "offset {at}: record changed after validation"
                    )));
                };
                pos = damage.offset + damage.len;
                if page.offer(damage, from_seq, limit, self.base_seq, place) {
                    break;
                }
            }
        }
        if let Some(missing) = missing
            && !page.more
        {
            page.offer(&missing, from_seq, limit, self.base_seq, place);
        }
        Ok(page)
    }
}

/// Where a segment sits in its shard, as far as reading it is concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentPlace {
    /// A short or invalid record at the committed end with nothing valid after it is a
    /// write in progress (or a torn one that the writer's recovery will cut), not damage.
    pub(crate) tail_may_tear: bool,
    /// The next segment's first sequence: it bounds the sequences lost in damage that
    /// runs to this segment's end. `None` for the newest segment.
    pub(crate) next_base: Option<u64>,
    /// The configured roll size: an older segment that ends short of it, with sequences
    /// missing before the next segment, lost its end.
    pub(crate) segment_bytes: u64,
}

/// What one segment's read found, in order.
#[derive(Debug, Default)]
pub(crate) struct SegmentPage {
    pub(crate) records: Vec<ReadRecord>,
    /// Damaged ranges between `from_seq` and the last record returned (or the end).
    pub(crate) damage: Vec<Damage>,
    /// Whether more records (or damage) follow the page.
    pub(crate) more: bool,
}

impl SegmentPage {
    /// Reports `damage` when the read has not passed it yet. True when the page is full
    /// first (the next page reports it).
    fn offer(
        &mut self,
        damage: &Damage,
        from_seq: u64,
        limit: usize,
        base_seq: u64,
        place: &SegmentPlace,
    ) -> bool {
        if !damage.is_ahead_of(from_seq, base_seq, place.next_base) {
            return false;
        }
        if self.records.len() == limit {
            self.more = true;
            return true;
        }
        self.damage.push(damage.clone());
        false
    }

    /// Takes `rec` into the page when it is wanted; false stops the scan (page full).
    fn take(&mut self, rec: RecordView<'_>, from_seq: u64, limit: usize) -> bool {
        if rec.sequence < from_seq {
            return true;
        }
        if self.records.len() == limit {
            self.more = true;
            return false;
        }
        self.records.push(ReadRecord {
            sequence: rec.sequence,
            insertion_ts: rec.insertion_ts,
            payload: rec.payload.to_vec(),
        });
        true
    }
}

impl SparseIndex {
    /// The end of an older segment that is gone without a trace in its records: the file
    /// holds no intact record, or it stops short of the roll size with sequences missing
    /// before the next segment. (A roll follows a write, and happens only at the roll
    /// size or after damage, so neither is how a writer leaves a segment.)
    fn missing_tail(&self, end: u64, place: &SegmentPlace) -> Option<Damage> {
        let next_base = place.next_base?;
        if self.damage.last().is_some_and(|d| d.seq_after.is_none()) {
            return None; // damage already runs to the end
        }
        let reason = if self.last_seq == NONE && self.damage.is_empty() {
            format!("segment is {end} bytes long and holds no intact record")
        } else if self.last_seq.saturating_add(1) < next_base
            && end < place.segment_bytes
            && self.damage.is_empty()
        {
            format!(
                "segment ends at {end} bytes, short of the roll size, and sequences {}..{next_base} are missing",
                self.last_seq + 1
            )
        } else {
            return None;
        };
        Some(Damage {
            offset: end,
            len: 0,
            reason,
            seq_before: (self.last_seq != NONE).then_some(self.last_seq),
            seq_after: None,
        })
    }

    /// Validates and indexes records from `indexed_len` up to `end`, recording damage
    /// and resuming at the next record that checks out.
    fn extend(&mut self, file: &File, end: u64, tail_may_tear: bool) -> io::Result<()> {
        while self.indexed_len < end {
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
            )?;
            let at = outcome.next_offset;
            self.indexed_len = at;
            let reason = match outcome.end {
                ScanEnd::Clean | ScanEnd::Stopped => return Ok(()),
                ScanEnd::Incomplete => format!("record cut short (the segment ends at {end})"),
                ScanEnd::Corrupt(why) => why,
            };
            let seq_before = (self.last_seq != NONE).then_some(self.last_seq);
            let resumed = resync(file, at, end, seq_before)?;
            if resumed.is_none() && tail_may_tear {
                return Ok(()); // not damage (yet): the next extend looks again
            }
            let (resume_at, seq_after) = resumed.map_or((end, None), |(o, s)| (o, Some(s)));
            self.damage.push(Damage {
                offset: at,
                len: resume_at - at,
                reason,
                seq_before,
                seq_after,
            });
            self.indexed_len = resume_at;
        }
        Ok(())
    }
}
