//! Opening a shard's segments, and the writer's crash recovery.
//!
//! Recovery repairs the last segment that holds an intact record: a torn or garbage tail
//! is cut so appends continue after the last whole record. Later segments without an
//! intact record (a crash during a roll, before or while the first batch was written)
//! are removed. Damage before the last intact record is left in place and reported;
//! appends then go to a new segment so nothing is ever written behind damage. Older
//! segments are not scanned here: reads validate them and report what they find.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use corelane_io::AdapterError;

use super::durability::sync_dir;
use super::format::{SEGMENT_HEADER_LEN, check_segment_header};
use super::segment::{Segment, parse_segment_name};
use super::{FileConfig, FsyncPolicy};

/// What recovery found and did in a shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardRecovery {
    /// Bytes cut from the end of the last segment holding records (a torn or corrupt
    /// tail), plus the size of removed segments that held no intact record.
    pub truncated_bytes: u64,
    /// What was cut or removed, and why, when anything was.
    pub reason: Option<String>,
    /// Damage found before the last intact record: left in place, skipped and reported
    /// by reads (`ShardPoll::damaged`); appends went to a new segment.
    pub corruption: Option<String>,
}

/// A shard's segments as opened.
#[derive(Debug)]
pub(crate) struct OpenedShard {
    /// Ascending by first sequence.
    pub(crate) segments: Vec<Arc<Segment>>,
    pub(crate) recovery: ShardRecovery,
    /// The last segment holds damage: the writer must start a new segment.
    pub(crate) roll_on_open: bool,
}

fn io_err(context: impl std::fmt::Display, err: io::Error) -> AdapterError {
    AdapterError::from_io(context, err)
}

/// The segment files of a shard directory, ascending by first sequence.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
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

fn file_len(path: &Path) -> Result<u64, AdapterError> {
    fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| io_err(format_args!("stat {}", path.display()), e))
}

/// Opens a shard's segments for reading only: nothing is validated or changed.
pub(crate) fn open_read_only(dir: &Path) -> Result<OpenedShard, AdapterError> {
    let listed = match list_segments(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(format_args!("list {}", dir.display()), e)),
    };
    let mut segments = Vec::with_capacity(listed.len());
    for (base, path) in listed {
        let len = file_len(&path)?;
        segments.push(Arc::new(Segment::new(base, &path, len)));
    }
    Ok(OpenedShard {
        segments,
        recovery: ShardRecovery::default(),
        roll_on_open: false,
    })
}

/// Opens a shard's segments for writing, repairing the tail (see the module docs).
pub(crate) fn recover(
    dir: &Path,
    shard: u32,
    config: &FileConfig,
) -> Result<OpenedShard, AdapterError> {
    let mut listed =
        list_segments(dir).map_err(|e| io_err(format_args!("list {}", dir.display()), e))?;
    let mut notes = Vec::new();
    let mut opened = OpenedShard {
        segments: Vec::new(),
        recovery: ShardRecovery::default(),
        roll_on_open: false,
    };
    let mut entries_changed = false;
    while let Some((base, path)) = listed.last().cloned() {
        let len = file_len(&path)?;
        if len > SEGMENT_HEADER_LEN {
            let segment = repair_tail(base, &path, len, shard, &mut opened, &mut notes)?;
            if let Some(segment) = segment {
                opened.segments.push(Arc::new(segment));
                break;
            }
        }
        // No intact record: written at a roll by a batch that never completed.
        fs::remove_file(&path).map_err(|e| io_err(format_args!("remove {}", path.display()), e))?;
        opened.recovery.truncated_bytes += len.min(SEGMENT_HEADER_LEN);
        notes.push(format!(
            "segment {} held no intact record; removed",
            path.display()
        ));
        entries_changed = true;
        listed.pop();
    }
    if entries_changed && config.fsync != FsyncPolicy::Never {
        sync_dir(dir).map_err(|e| io_err(format_args!("sync {}", dir.display()), e))?;
    }
    listed.pop(); // the repaired one, already pushed (if any)
    let mut older = Vec::with_capacity(listed.len() + 1);
    for (base, path) in listed {
        older.push(Arc::new(Segment::new(base, &path, file_len(&path)?)));
    }
    older.append(&mut opened.segments);
    opened.segments = older;
    opened.recovery.reason = (!notes.is_empty()).then(|| notes.join("; "));
    Ok(opened)
}

/// Validates the segment at `path` and cuts a torn or garbage tail. Returns `None` when
/// no intact record remains.
fn repair_tail(
    base: u64,
    path: &Path,
    len: u64,
    shard: u32,
    opened: &mut OpenedShard,
    notes: &mut Vec<String>,
) -> Result<Option<Segment>, AdapterError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_err(format_args!("open {}", path.display()), e))?;
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    file.read_exact_at(&mut header, 0)
        .map_err(|e| io_err(format_args!("read {}", path.display()), e))?;
    check_segment_header(&header, shard).map_err(|why| {
        AdapterError::fatal(format!("segment {} offset 0: {why}", path.display()))
    })?;
    let segment = Segment::new(base, path, len);
    let scan_err = |e| io_err(format_args!("scan {}", path.display()), e);
    let (damage, cut_at) = segment.validate().map_err(scan_err)?;
    if cut_at < len {
        file.set_len(cut_at)
            .and_then(|_| file.sync_all())
            .map_err(|e| io_err(format_args!("truncate {}", path.display()), e))?;
        segment.truncate_to(cut_at);
        opened.recovery.truncated_bytes += len - cut_at;
        notes.push(format!(
            "segment {} offset {cut_at}: torn write; cut {} bytes",
            path.display(),
            len - cut_at
        ));
    }
    let Some((seq, ts)) = segment.last_record(true).map_err(scan_err)? else {
        return Ok(None);
    };
    segment.commit(cut_at, seq, ts);
    if let Some(first) = damage.first() {
        opened.roll_on_open = true;
        opened.recovery.corruption = Some(format!(
            "segment {} offset {}: {} ({} damaged range(s), {} bytes; valid records follow; \
             left in place, reads skip and report it, appends go to a new segment)",
            path.display(),
            first.offset,
            first.reason,
            damage.len(),
            damage.iter().map(|d| d.len).sum::<u64>()
        ));
    }
    Ok(Some(segment))
}
