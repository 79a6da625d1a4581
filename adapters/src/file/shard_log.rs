//! One shard's directory of segments: recovery, appends, reads, retention.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use corelane_io::{AdapterError, Batch, Position, ShardPoll, ShardTail, StoredEvent};
use parking_lot::{Mutex, RwLock};

use super::format::{
    MAX_PAYLOAD, Parse, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, ScanEnd, append_record,
    check_segment_header, parse_record, scan, segment_header,
};
use super::segment::{Segment, parse_segment_name, segment_name};
use super::{FileConfig, FsyncPolicy};

/// What recovery found in a shard's last segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardRecovery {
    /// Bytes cut from the end of the last segment (a torn or corrupt tail).
    pub truncated_bytes: u64,
    /// Why they were cut, when they were.
    pub reason: Option<String>,
    /// Corruption found with valid records after it: left in place (reads of that range
    /// fail), reported here.
    pub corruption: Option<String>,
}

struct Writer {
    segment: Arc<Segment>,
    file: Arc<File>,
    len: u64,
    last: Option<(u64, u64)>,
    buf: Vec<u8>,
    /// A write landed but its fsync failed: the next attempt syncs before acknowledging.
    needs_sync: bool,
}

/// A shard's segments and its writer.
pub(crate) struct ShardLog {
    shard: u32,
    dir: PathBuf,
    segments: RwLock<Vec<Arc<Segment>>>,
    writer: Mutex<Option<Writer>>,
    /// For `FsyncPolicy::Interval`: a write since the last sync.
    pub(crate) dirty: AtomicBool,
    /// The active segment's file, for the interval syncer (fsync on any descriptor of the
    /// file syncs it).
    sync_handle: Mutex<Option<Arc<File>>>,
    read_only: bool,
    pub(crate) recovery: ShardRecovery,
}

impl std::fmt::Debug for ShardLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardLog")
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

pub(crate) fn shard_dir(root: &Path, shard: u32) -> PathBuf {
    root.join(format!("shard-{shard:04}"))
}

fn io_err(context: impl std::fmt::Display, err: io::Error) -> AdapterError {
    AdapterError::from_io(context, err)
}

pub(crate) fn create_dir(path: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_segment_name) {
            found.push((base, entry.path()));
        }
    }
    found.sort_unstable();
    Ok(found)
}

impl ShardLog {
    /// Opens (creating when writable) the shard's directory; a writer recovers the last
    /// segment's tail.
    pub(crate) fn open(
        root: &Path,
        shard: u32,
        config: &FileConfig,
    ) -> Result<ShardLog, AdapterError> {
        let dir = shard_dir(root, shard);
        if !config.read_only {
            create_dir(&dir).map_err(|e| io_err(format_args!("create {}", dir.display()), e))?;
        }
        let listed = match list_segments(&dir) {
            Ok(l) => l,
            Err(e) if config.read_only && e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(format_args!("list {}", dir.display()), e)),
        };
        let mut log = ShardLog {
            shard,
            dir,
            segments: RwLock::new(Vec::new()),
            writer: Mutex::new(None),
            dirty: AtomicBool::new(false),
            sync_handle: Mutex::new(None),
            read_only: config.read_only,
            recovery: ShardRecovery::default(),
        };
        let count = listed.len();
        let mut segments = Vec::with_capacity(count);
        for (i, (base, path)) in listed.into_iter().enumerate() {
            let len = fs::metadata(&path)
                .map_err(|e| io_err(format_args!("stat {}", path.display()), e))?
                .len();
            let segment = if i + 1 == count && !config.read_only {
                log.recover_last(base, &path, len)?
            } else {
                Segment::new(base, &path, len)
            };
            segments.push(Arc::new(segment));
        }
        *log.segments.get_mut() = segments;
        Ok(log)
    }

    /// Validates the last segment; cuts a torn or corrupt tail so appends continue from
    /// the last whole record.
    fn recover_last(&mut self, base: u64, path: &Path, len: u64) -> Result<Segment, AdapterError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io_err(format_args!("open {}", path.display()), e))?;
        if len < SEGMENT_HEADER_LEN {
            // Crashed while creating the segment: start it again.
            file.set_len(0)
                .and_then(|_| file.write_all_at(&segment_header(self.shard), 0))
                .map_err(|e| io_err(format_args!("rewrite header of {}", path.display()), e))?;
            self.recovery.truncated_bytes = len;
            self.recovery.reason = (len > 0).then(|| "partial segment header".to_string());
            return Ok(Segment::new(base, path, SEGMENT_HEADER_LEN));
        }
        let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0)
            .map_err(|e| io_err(format_args!("read {}", path.display()), e))?;
        check_segment_header(&header, self.shard)
            .map_err(|why| AdapterError::fatal(format!("segment {}: {why}", path.display())))?;
        let mut last = None;
        let mut scratch = Vec::new();
        let outcome = scan(&file, SEGMENT_HEADER_LEN, len, &mut scratch, |_, rec| {
            last = Some((rec.sequence, rec.insertion_ts));
            true
        })
        .map_err(|e| io_err(format_args!("scan {}", path.display()), e))?;
        let cut_at = outcome.next_offset;
        match outcome.end {
            ScanEnd::Clean | ScanEnd::Stopped => {}
            ScanEnd::Incomplete => self.truncate_tail(&file, path, cut_at, len, "torn write")?,
            ScanEnd::Corrupt(why) => {
                // A torn write leaves damage only at the end. Valid records after the
                // damage mean it is corruption in the middle: keep everything.
                match find_valid_record_after(&file, cut_at, len, last.map(|l| l.0))? {
                    Some(resumed) => {
                        self.recovery.corruption = Some(format!(
                            "segment {} offset {cut_at}: {why} (valid records follow; left in place)",
                            path.display()
                        ));
                        let mut tail_last = None;
                        let tail = scan(&file, resumed, len, &mut scratch, |_, rec| {
                            tail_last = Some((rec.sequence, rec.insertion_ts));
                            true
                        })
                        .map_err(|e| io_err(format_args!("scan {}", path.display()), e))?;
                        if tail.end != ScanEnd::Clean {
                            self.truncate_tail(&file, path, tail.next_offset, len, "torn write")?;
                        }
                        last = tail_last.or(last);
                        let segment = Segment::new(base, path, tail.next_offset.min(len));
                        if let Some((seq, ts)) = last {
                            segment.commit(segment.committed_len(), seq, ts);
                        }
                        return Ok(segment);
                    }
                    None => self.truncate_tail(&file, path, cut_at, len, &why)?,
                }
            }
        }
        let segment = Segment::new(base, path, cut_at);
        if let Some((seq, ts)) = last {
            segment.commit(cut_at, seq, ts);
        }
        Ok(segment)
    }

    fn truncate_tail(
        &mut self,
        file: &File,
        path: &Path,
        at: u64,
        len: u64,
        why: &str,
    ) -> Result<(), AdapterError> {
        file.set_len(at)
            .and_then(|_| file.sync_all())
            .map_err(|e| io_err(format_args!("truncate {}", path.display()), e))?;
        self.recovery.truncated_bytes += len - at;
        self.recovery.reason = Some(format!(
            "segment {} offset {at}: {why}; cut {} bytes",
            path.display(),
            len - at
        ));
        Ok(())
    }

    /// The last stored sequence and timestamp.
    pub(crate) fn tail(&self) -> Result<ShardTail, AdapterError> {
        if self.read_only {
            self.refresh()?;
        }
        let segments = self.segments.read().clone();
        let count = segments.len();
        for (i, segment) in segments.iter().enumerate().rev() {
            let last = segment
                .last_record(self.read_only && i + 1 == count)
                .map_err(|why| self.corrupt(segment, why))?;
            if let Some((seq, ts)) = last {
                return Ok(ShardTail {
                    last_sequence: Some(seq),
                    last_insertion_ts: Some(ts),
                });
            }
        }
        Ok(ShardTail::default())
    }

    fn corrupt(&self, segment: &Segment, why: String) -> AdapterError {
        AdapterError::fatal(format!(
            "shard {} segment {}: {why}",
            self.shard,
            segment.path.display()
        ))
    }

    /// Appends a batch to the active segment (rolling first if it is full).
    pub(crate) fn append(&self, batch: &Batch, config: &FileConfig) -> Result<(), AdapterError> {
        if self.read_only {
            return Err(AdapterError::config(
                "the file adapter was opened read-only",
            ));
        }
        let mut guard = self.writer.lock();
        if guard.is_none() {
            *guard = Some(self.open_writer(batch.seq_start(), config, true)?);
        }
        let writer = guard.as_mut().expect("opened above");
        if let Some((last_seq, _)) = writer.last
            && batch.seq_start() <= last_seq
        {
            // A retry of a batch that was stored (its acknowledgement was lost, or its
            // fsync failed): acknowledge it again, syncing first if owed.
            if batch.seq_end() - 1 <= last_seq {
                if writer.needs_sync {
                    writer.file.sync_data().map_err(|e| io_err("fsync", e))?;
                    writer.needs_sync = false;
                }
                return Ok(());
            }
            return Err(AdapterError::fatal(format!(
                "shard {}: batch {}..{} overlaps stored sequences up to {last_seq}",
                self.shard,
                batch.seq_start(),
                batch.seq_end()
            )));
        }
        if writer.len >= config.segment_bytes && writer.len > SEGMENT_HEADER_LEN {
            let next = self.open_writer(batch.seq_start(), config, false)?;
            let old = std::mem::replace(writer, next);
            if config.fsync != FsyncPolicy::Never && self.dirty.swap(false, Ordering::AcqRel) {
                old.file.sync_data().map_err(|e| io_err("fsync", e))?;
            }
            drop(old);
            self.apply_retention(config);
        }
        writer.buf.clear();
        for ev in batch.events() {
            append_record(&mut writer.buf, ev.sequence, ev.insertion_ts, ev.payload);
        }
        if let Err(e) = writer.file.write_all_at(&writer.buf, writer.len) {
            // Leave no partial batch behind: the retry writes the whole batch again.
            let _ = writer.file.set_len(writer.len);
            return Err(io_err(
                format_args!("write {}", writer.segment.path.display()),
                e,
            ));
        }
        writer.len += writer.buf.len() as u64;
        let last = (batch.seq_end() - 1, batch.last_ts().unwrap_or(0));
        writer.last = Some(last);
        writer.segment.commit(writer.len, last.0, last.1);
        match config.fsync {
            FsyncPolicy::Never => {}
            FsyncPolicy::Interval(_) => self.dirty.store(true, Ordering::Release),
            FsyncPolicy::EveryBatch => {
                if let Err(e) = writer.file.sync_data() {
                    writer.needs_sync = true;
                    return Err(io_err("fsync", e));
                }
            }
        }
        Ok(())
    }

    /// Opens the segment appends go to: the last existing one when `reuse_last` (at
    /// startup), else a new segment starting at `seq_start` (a roll).
    fn open_writer(
        &self,
        seq_start: u64,
        config: &FileConfig,
        reuse_last: bool,
    ) -> Result<Writer, AdapterError> {
        let mut segments = self.segments.write();
        let reuse = reuse_last && !segments.is_empty();
        if reuse {
            let segment = Arc::clone(segments.last().expect("checked"));
            let file = Arc::new(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&segment.path)
                    .map_err(|e| io_err(format_args!("open {}", segment.path.display()), e))?,
            );
            *self.sync_handle.lock() = Some(Arc::clone(&file));
            return Ok(Writer {
                len: segment.committed_len(),
                last: segment.last(),
                file,
                segment,
                buf: Vec::new(),
                needs_sync: false,
            });
        }
        let path = self.dir.join(segment_name(seq_start));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_err(format_args!("create {}", path.display()), e))?;
        file.write_all_at(&segment_header(self.shard), 0)
            .map_err(|e| io_err(format_args!("write {}", path.display()), e))?;
        if config.fsync != FsyncPolicy::Never {
            file.sync_all()
                .and_then(|_| File::open(&self.dir)?.sync_all())
                .map_err(|e| io_err(format_args!("sync {}", path.display()), e))?;
        }
        let segment = Arc::new(Segment::new(seq_start, &path, SEGMENT_HEADER_LEN));
        let last = segments.last().and_then(|s| s.last());
        segments.push(Arc::clone(&segment));
        let file = Arc::new(file);
        *self.sync_handle.lock() = Some(Arc::clone(&file));
        Ok(Writer {
            segment,
            file,
            len: SEGMENT_HEADER_LEN,
            last,
            buf: Vec::new(),
            needs_sync: false,
        })
    }

    /// Syncs the active segment if written since the last sync.
    pub(crate) fn sync_if_dirty(&self) -> Result<(), AdapterError> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            let handle = self.sync_handle.lock().clone();
            if let Some(file) = handle
                && let Err(e) = file.sync_data()
            {
                self.dirty.store(true, Ordering::Release);
                return Err(io_err(format!("fsync shard {}", self.shard), e));
            }
        }
        Ok(())
    }

    /// Deletes whole old segments beyond the retention limits (never the active one).
    fn apply_retention(&self, config: &FileConfig) {
        if config.retention_bytes.is_none() && config.retention_age.is_none() {
            return;
        }
        let mut doomed = Vec::new();
        {
            let mut segments = self.segments.write();
            let mut total: u64 = segments.iter().map(|s| s.committed_len()).sum();
            let now = SystemTime::now();
            while segments.len() > 1 {
                let oldest = &segments[0];
                let too_big = config.retention_bytes.is_some_and(|max| total > max);
                let too_old = config.retention_age.is_some_and(|age| {
                    fs::metadata(&oldest.path)
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| now.duration_since(t).unwrap_or(Duration::ZERO) > age)
                });
                if !(too_big || too_old) {
                    break;
                }
                total -= oldest.committed_len();
                doomed.push(segments.remove(0));
            }
        }
        for segment in doomed {
            // Readers holding the segment keep their open descriptor; new reads skip it.
            if let Err(e) = fs::remove_file(&segment.path) {
                tracing::warn!(path = %segment.path.display(), %e, "corelane file retention could not delete a segment");
            }
        }
    }

    /// In read-only mode, picks up segments created (or grown, or deleted) by the writer.
    fn refresh(&self) -> Result<(), AdapterError> {
        let listed = match list_segments(&self.dir) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(format_args!("list {}", self.dir.display()), e)),
        };
        let mut segments = self.segments.write();
        segments.retain(|s| listed.iter().any(|(b, _)| *b == s.base_seq));
        for (base, path) in listed {
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            match segments.iter().find(|s| s.base_seq == base) {
                Some(s) => s.grow_to(len),
                None => {
                    let pos = segments.partition_point(|s| s.base_seq < base);
                    segments.insert(pos, Arc::new(Segment::new(base, &path, len)));
                }
            }
        }
        Ok(())
    }

    /// Reads up to `limit` events after `after` (exclusive).
    pub(crate) fn poll(
        &self,
        after: Option<Position>,
        limit: usize,
    ) -> Result<ShardPoll, AdapterError> {
        if self.read_only {
            self.refresh()?;
        }
        let from_seq = after.map_or(0, |p| p.sequence().saturating_add(1));
        let segments = self.segments.read().clone();
        let first = segments
            .partition_point(|s| s.base_seq <= from_seq)
            .saturating_sub(1);
        let mut events = Vec::new();
        let mut more = false;
        let count = segments.len();
        // Only the newest segment may end in a write still in progress (read-only mode).
        let tail_may_tear = |i: usize| self.read_only && i + 1 == count;
        for (i, segment) in segments.iter().enumerate().skip(first) {
            let want = if events.len() == limit {
                1
            } else {
                limit - events.len()
            };
            let (records, seg_more) = match segment.read(from_seq, want, tail_may_tear(i)) {
                Ok(r) => r,
                Err(why) if why.starts_with("open:") && !segment.path.exists() => {
                    continue; // deleted by retention meanwhile
                }
                Err(_) if events.len() == limit => {
                    more = true; // the next poll reports it
                    break;
                }
                Err(why) => return Err(self.corrupt(segment, why)),
            };
            if events.len() == limit {
                // The page is full: this only checked whether anything remains.
                if !records.is_empty() {
                    more = true;
                    break;
                }
                continue;
            }
            events.extend(records.into_iter().map(|r| StoredEvent {
                position: Position::from_sequence(r.sequence),
                shard: self.shard,
                sequence: r.sequence,
                insertion_ts: r.insertion_ts,
                payload: r.payload,
                dedup_id: None,
            }));
            if seg_more {
                more = true;
                break;
            }
        }
        Ok(ShardPoll {
            next: events.last().map(|e| e.position).or(after),
            end_of_shard: !more,
            events,
            skipped: 0,
        })
    }

    /// Releases the writer (after a final sync when the policy asks for one).
    pub(crate) fn close(&self, config: &FileConfig) -> Result<(), AdapterError> {
        let result = if config.fsync != FsyncPolicy::Never {
            self.sync_if_dirty()
        } else {
            Ok(())
        };
        *self.writer.lock() = None;
        *self.sync_handle.lock() = None;
        result
    }
}

/// Looks for a valid record starting anywhere after `from` (a damaged record) in
/// `file[..len]`, whose sequence follows `after_seq`. Returns its offset.
fn find_valid_record_after(
    file: &File,
    from: u64,
    len: u64,
    after_seq: Option<u64>,
) -> Result<Option<u64>, AdapterError> {
    let size = (len - from) as usize;
    let mut bytes = vec![0u8; size];
    file.read_exact_at(&mut bytes, from)
        .map_err(|e| io_err("read for recovery", e))?;
    let min_seq = after_seq.map_or(0, |s| s + 1);
    for start in 1..size.saturating_sub(RECORD_HEADER_LEN - 1) {
        let window = &bytes[start..];
        let len_field = u32::from_le_bytes(window[..4].try_into().expect("4 bytes")) as usize;
        let seq = u64::from_le_bytes(window[8..16].try_into().expect("8 bytes"));
        // Cheap plausibility checks before the checksum.
        if len_field > MAX_PAYLOAD
            || RECORD_HEADER_LEN + len_field > window.len()
            || seq < min_seq
            || seq > min_seq.saturating_add(1 << 40)
        {
            continue;
        }
        if let Parse::Record(_) = parse_record(window) {
            return Ok(Some(from + start as u64));
        }
    }
    Ok(None)
}
