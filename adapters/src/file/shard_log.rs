//! One shard's directory of segments: its writer (appends, rolls, fsync obligations,
//! retention) and the state its readers share. Recovery is in `recovery.rs`, reads in
//! `reader.rs`.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use corelane_io::{AdapterError, Batch, ShardTail};
use parking_lot::{Mutex, RwLock};

use super::durability::{SyncedFile, note_created, sync_dir};
use super::format::{SEGMENT_HEADER_LEN, append_record, segment_header};
use super::recovery::{self, ShardRecovery};
use super::segment::{Segment, segment_name};
use super::{FileConfig, FsyncPolicy};

struct Writer {
    segment: Arc<Segment>,
    file: Arc<SyncedFile>,
    len: u64,
    last: Option<(u64, u64)>,
    buf: Vec<u8>,
}

/// A shard's segments and its writer.
pub(crate) struct ShardLog {
    pub(super) shard: u32,
    pub(super) dir: PathBuf,
    pub(super) segments: RwLock<Vec<Arc<Segment>>>,
    writer: Mutex<Option<Writer>>,
    /// The file appends go to, for the group-commit thread. Replaced under the writer
    /// lock only after the previous file was synced.
    active: Mutex<Option<Arc<SyncedFile>>>,
    /// Set by the first failed fsync: every later write of the shard fails with it.
    /// After a failed fsync the kernel may have dropped the dirty pages and a retried
    /// fsync can succeed without them, so nothing written since can be promised.
    fsync_failure: OnceLock<String>,
    /// Recovery found damage in the last segment: the writer starts a new one.
    roll_on_open: bool,
    pub(super) read_only: bool,
    /// The configured roll size (reads use it to spot an older segment cut short).
    pub(super) segment_bytes: u64,
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

pub(super) fn io_err(context: impl std::fmt::Display, err: io::Error) -> AdapterError {
    AdapterError::from_io(context, err)
}

/// Creates `path` (mode 0700) unless it exists; true when it was created.
pub(crate) fn create_dir(path: &Path) -> io::Result<bool> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

impl ShardLog {
    /// Opens (creating when writable) the shard's directory; a writer recovers the tail
    /// (see `recovery.rs`).
    pub(crate) fn open(
        root: &Path,
        shard: u32,
        config: &FileConfig,
    ) -> Result<ShardLog, AdapterError> {
        let dir = shard_dir(root, shard);
        let opened = if config.read_only {
            recovery::open_read_only(&dir)?
        } else {
            let created = create_dir(&dir)
                .map_err(|e| io_err(format_args!("create {}", dir.display()), e))?;
            if created {
                note_created(&dir);
            }
            if created && config.fsync != FsyncPolicy::Never {
                // The new directory's entry must survive before segments go in it.
                sync_dir(root).map_err(|e| io_err(format_args!("sync {}", root.display()), e))?;
            }
            recovery::recover(&dir, shard, config)?
        };
        Ok(ShardLog {
            shard,
            dir,
            segments: RwLock::new(opened.segments),
            writer: Mutex::new(None),
            active: Mutex::new(None),
            fsync_failure: OnceLock::new(),
            roll_on_open: opened.roll_on_open,
            read_only: config.read_only,
            segment_bytes: config.segment_bytes,
            recovery: opened.recovery,
        })
    }

    /// The last stored sequence and timestamp: those of the newest intact record.
    pub(crate) fn tail(&self) -> Result<ShardTail, AdapterError> {
        if self.read_only {
            self.refresh()?;
        }
        let segments = self.segments.read().clone();
        let last_with_records = self.last_with_records(&segments);
        for (i, segment) in segments.iter().enumerate().rev() {
            let last = segment
                .last_record(self.read_only && Some(i) == last_with_records)
                .map_err(|e| self.read_error(segment, e))?;
            if let Some((seq, ts)) = last {
                return Ok(ShardTail {
                    last_sequence: Some(seq),
                    last_insertion_ts: Some(ts),
                    history_unknown: false,
                });
            }
        }
        Ok(ShardTail::default())
    }

    /// The index of the last segment with bytes past its header: the one whose end a
    /// read-only reader treats as a write in progress (a writer's recovery would cut a
    /// torn tail there).
    pub(super) fn last_with_records(&self, segments: &[Arc<Segment>]) -> Option<usize> {
        segments
            .iter()
            .rposition(|s| s.committed_len() > SEGMENT_HEADER_LEN)
    }

    pub(super) fn read_error(&self, segment: &Segment, err: io::Error) -> AdapterError {
        AdapterError::fatal(format!(
            "shard {} segment {}: {err}",
            self.shard,
            segment.path.display()
        ))
    }

    /// Fails when an fsync of this shard failed earlier.
    fn check_fsync_failure(&self) -> Result<(), AdapterError> {
        match self.fsync_failure.get() {
            Some(why) => Err(AdapterError::fatal(why.clone())),
            None => Ok(()),
        }
    }

    /// Syncs `file`; a failure poisons the shard (see `fsync_failure`).
    fn sync_file(&self, file: &SyncedFile) -> Result<(), AdapterError> {
        file.sync().map_err(|e| {
            let why = format!(
                "shard {}: fsync of {} failed: {e}; the shard takes no writes until the store is reopened",
                self.shard,
                file.path.display()
            );
            let why = self.fsync_failure.get_or_init(|| why).clone();
            AdapterError::fatal(why)
        })
    }

    /// Appends a batch to the active segment (rolling first if it is full).
    pub(crate) fn append(&self, batch: &Batch, config: &FileConfig) -> Result<(), AdapterError> {
        if self.read_only {
            return Err(AdapterError::config(
                "the file adapter was opened read-only",
            ));
        }
        self.check_fsync_failure()?;
        let mut guard = self.writer.lock();
        if guard.is_none() {
            *guard = Some(self.open_writer(batch.seq_start(), config, !self.roll_on_open)?);
        }
        let writer = guard.as_mut().expect("opened above");
        if let Some((last_seq, _)) = writer.last
            && batch.seq_start() <= last_seq
        {
            // A retry of a batch that was stored (its acknowledgement was lost):
            // acknowledge it again, syncing first if owed.
            if batch.seq_end() - 1 <= last_seq {
                if config.fsync == FsyncPolicy::EveryBatch {
                    self.sync_file(&writer.file)?;
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
            if config.fsync != FsyncPolicy::Never {
                // Before the new segment exists: recovery repairs only the last segment
                // holding records, so an older one must never end in a torn write.
                self.sync_file(&writer.file)?;
            }
            let next = self.open_writer(batch.seq_start(), config, false)?;
            *writer = next;
            self.apply_retention(config);
        }
        self.write_records(writer, batch)?;
        match config.fsync {
            FsyncPolicy::EveryBatch => self.sync_file(&writer.file),
            // The group-commit thread sees the file's obligation.
            FsyncPolicy::Never | FsyncPolicy::Interval(_) => Ok(()),
        }
    }

    /// Writes the batch's records at the writer's end and publishes them to readers.
    fn write_records(&self, writer: &mut Writer, batch: &Batch) -> Result<(), AdapterError> {
        writer.buf.clear();
        for ev in batch.events() {
            append_record(&mut writer.buf, ev.sequence, ev.insertion_ts, ev.payload);
        }
        let file = &writer.file.file;
        if let Err(e) = file.write_all_at(&writer.buf, writer.len) {
            // Leave no partial batch behind: the retry writes the whole batch again.
            let _ = file.set_len(writer.len);
            return Err(io_err(
                format_args!("write {}", writer.segment.path.display()),
                e,
            ));
        }
        writer.file.note_write();
        writer.len += writer.buf.len() as u64;
        let last = (batch.seq_end() - 1, batch.last_ts().unwrap_or(0));
        writer.last = Some(last);
        writer.segment.commit(writer.len, last.0, last.1);
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
        let last = segments.last().and_then(|s| s.last());
        if reuse_last && let Some(segment) = segments.last() {
            let segment = Arc::clone(segment);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&segment.path)
                .map_err(|e| io_err(format_args!("open {}", segment.path.display()), e))?;
            let file = Arc::new(SyncedFile::new(file, &segment.path));
            *self.active.lock() = Some(Arc::clone(&file));
            return Ok(Writer {
                len: segment.committed_len(),
                last,
                file,
                segment,
                buf: Vec::new(),
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
        note_created(&path);
        file.write_all_at(&segment_header(self.shard), 0)
            .map_err(|e| io_err(format_args!("write {}", path.display()), e))?;
        let file = Arc::new(SyncedFile::new(file, &path));
        if config.fsync != FsyncPolicy::Never {
            file.note_write();
            self.sync_file(&file)?;
            sync_dir(&self.dir).map_err(|e| {
                io_err(format_args!("sync {} (new segment)", self.dir.display()), e)
            })?;
        }
        let segment = Arc::new(Segment::new(seq_start, &path, SEGMENT_HEADER_LEN));
        segments.push(Arc::clone(&segment));
        *self.active.lock() = Some(Arc::clone(&file));
        Ok(Writer {
            segment,
            file,
            len: SEGMENT_HEADER_LEN,
            last,
            buf: Vec::new(),
        })
    }

    /// Syncs the active segment if written since its last sync (group commit, `flush`).
    pub(crate) fn sync_if_dirty(&self) -> Result<(), AdapterError> {
        self.check_fsync_failure()?;
        let active = self.active.lock().clone();
        match active {
            Some(file) => self.sync_file(&file),
            None => Ok(()),
        }
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

    /// Releases the writer (after a final sync when the policy asks for one).
    pub(crate) fn close(&self, config: &FileConfig) -> Result<(), AdapterError> {
        let result = if config.fsync != FsyncPolicy::Never {
            self.sync_if_dirty()
        } else {
            Ok(())
        };
        *self.writer.lock() = None;
        *self.active.lock() = None;
        result
    }
}
