//! The embedded durable log: one directory per shard of append-only segment files.
//!
//! Layout, record format, recovery and what survives which fault are specified in
//! `docs/adapters.md`. The files, along the data path:
//!
//! 1. `format` — the bytes of a segment and a record; scanning, and resynchronising
//!    after damage.
//! 2. `segment` — one segment file: committed length, sparse index, damaged ranges.
//! 3. `damage` — a damaged range and how a reader's cursor passes it.
//! 4. `durability` — fsync obligations per file, directory syncs.
//! 5. `recovery` — opening a shard's segments; repairing the tail after a crash.
//! 6. `shard_log` — a shard's writer: appends, rolls, retention.
//! 7. `reader` — a shard's reads, and the read-only follower.

mod damage;
mod durability;
mod format;
#[cfg(test)]
mod fsync_tests;
mod reader;
mod recovery;
mod segment;
mod shard_log;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use corelane_io::{Adapter, AdapterError, Batch, InitReport, Position, ShardPoll};
use parking_lot::{Condvar, Mutex, RwLock};

pub use recovery::ShardRecovery;
use shard_log::{ShardLog, create_dir, shard_dir};

/// When the file adapter calls `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Never (the OS writes back on its own schedule). A process crash loses nothing
    /// written; an OS crash or power loss may lose recent batches.
    Never,
    /// After every batch, before acknowledging it.
    EveryBatch,
    /// Group commit: a background thread syncs each shard written since its last sync,
    /// at this interval, so one fsync covers every batch written in between. Also on
    /// `flush` and `shutdown`.
    Interval(Duration),
}

/// Settings of a [`FileAdapter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConfig {
    /// Root directory; created (mode 0700) if missing, with one `shard-NNNN`
    /// subdirectory per shard.
    pub dir: PathBuf,
    /// Durability policy. Default: `Interval(100 ms)`.
    pub fsync: FsyncPolicy,
    /// A segment rolls once it holds this many bytes (a batch is never split across
    /// segments, so one may exceed it by a batch). 4 KiB..=1 TiB. Default: 64 MiB.
    pub segment_bytes: u64,
    /// Delete the oldest segments while a shard holds more than this. Default: none.
    pub retention_bytes: Option<u64>,
    /// Delete segments last written longer ago than this. Default: none.
    pub retention_age: Option<Duration>,
    /// Open for reading only: no lock, no recovery, no writes; follows a writer in
    /// another process. Default: false.
    pub read_only: bool,
}

impl FileConfig {
    /// Defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileConfig {
            dir: dir.into(),
            fsync: FsyncPolicy::Interval(Duration::from_millis(100)),
            segment_bytes: 64 << 20,
            retention_bytes: None,
            retention_age: None,
            read_only: false,
        }
    }

    /// Checks the settings; the message names the field.
    pub fn validate(&self) -> Result<(), AdapterError> {
        let bad = |field: &str, msg: String| {
            Err(AdapterError::config(format!("file adapter {field}: {msg}")))
        };
        if self.dir.as_os_str().is_empty() {
            return bad("dir", "the path is empty".into());
        }
        if !(4096..=1 << 40).contains(&self.segment_bytes) {
            return bad(
                "segment_bytes",
                format!("{} is outside 4096..=1099511627776", self.segment_bytes),
            );
        }
        if let FsyncPolicy::Interval(i) = self.fsync
            && (i < Duration::from_millis(1) || i > Duration::from_secs(3600))
        {
            return bad("fsync interval", format!("{i:?} is outside 1ms..=1h"));
        }
        if self.retention_bytes == Some(0) {
            return bad("retention_bytes", "0 would delete everything".into());
        }
        if self.retention_age == Some(Duration::ZERO) {
            return bad("retention_age", "0 would delete everything".into());
        }
        Ok(())
    }
}

/// The embedded durable log: corelane's default store, no server needed.
///
/// Each shard is a directory of append-only segment files named by the sequence of
/// their first record. Records carry length, CRC32C, sequence and timestamp, so `init`
/// finds and cuts a torn tail after a crash and reports each shard's last sequence, and
/// reads step over a damaged record, returning the intact records around it and
/// reporting the damage in [`ShardPoll::damaged`]. A failed fsync makes its shard refuse
/// every later write (`Fatal`) until the store is reopened.
/// Reads seek with a sparse per-segment index and read only records the writer has
/// finished, so consumers poll while the I/O thread appends. One writer per directory
/// (an exclusive `flock` on `LOCK`); any number of read-only readers.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use corelane_adapters::{FileAdapter, FileConfig, FsyncPolicy};
/// use corelane_io::{Adapter, Batch};
///
/// let dir = tempfile::tempdir().unwrap();
/// let deadline = Instant::now() + Duration::from_secs(5);
/// let mut config = FileConfig::new(dir.path());
/// config.fsync = FsyncPolicy::EveryBatch;
/// let log = FileAdapter::open(config).unwrap();
/// log.init(1, deadline).unwrap();
///
/// let mut batch = Batch::with_capacity(2, 16);
/// batch.push(1, b"first");
/// batch.push(2, b"second");
/// log.write_batch(&batch, deadline).unwrap();
///
/// let page = log.poll_shard(0, None, 10, deadline).unwrap();
/// assert_eq!(page.events[1].payload, b"second");
/// log.shutdown(deadline).unwrap();
///
/// // A second open continues where the first stopped.
/// let again = FileAdapter::open(FileConfig::new(dir.path())).unwrap();
/// let report = again.init(1, deadline).unwrap();
/// assert_eq!(report.tail(0).last_sequence, Some(1));
/// ```
#[derive(Debug, Clone)]
pub struct FileAdapter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: FileConfig,
    shards: RwLock<Vec<Arc<ShardLog>>>,
    lock: Mutex<Option<File>>,
    syncer: Mutex<Option<JoinHandle<()>>>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    shut: AtomicBool,
    healthy: AtomicBool,
}

impl FileAdapter {
    /// Opens a store. A writable store is locked and recovered by [`Adapter::init`]; a
    /// read-only one (`config.read_only`) discovers its shards now and can be polled at
    /// once.
    pub fn open(config: FileConfig) -> Result<FileAdapter, AdapterError> {
        config.validate()?;
        let adapter = FileAdapter {
            inner: Arc::new(Inner {
                shards: RwLock::new(Vec::new()),
                lock: Mutex::new(None),
                syncer: Mutex::new(None),
                stop: Arc::new((Mutex::new(false), Condvar::new())),
                shut: AtomicBool::new(false),
                healthy: AtomicBool::new(true),
                config,
            }),
        };
        if adapter.inner.config.read_only {
            if !adapter.inner.config.dir.is_dir() {
                return Err(AdapterError::config(format!(
                    "{} is not a corelane data directory (it does not exist)",
                    adapter.inner.config.dir.display()
                )));
            }
            let count = discover_shards(&adapter.inner.config.dir)?;
            let mut shards = Vec::with_capacity(count as usize);
            for shard in 0..count {
                shards.push(Arc::new(ShardLog::open(
                    &adapter.inner.config.dir,
                    shard,
                    &adapter.inner.config,
                )?));
            }
            *adapter.inner.shards.write() = shards;
        }
        Ok(adapter)
    }

    /// Opens `dir` read-only (see [`FileConfig::read_only`]).
    pub fn open_read_only(dir: impl Into<PathBuf>) -> Result<FileAdapter, AdapterError> {
        let mut config = FileConfig::new(dir);
        config.read_only = true;
        Self::open(config)
    }

    /// The settings.
    pub fn config(&self) -> &FileConfig {
        &self.inner.config
    }

    /// Number of shards known (after `init`, or discovered read-only).
    pub fn num_shards(&self) -> u32 {
        self.inner.shards.read().len() as u32
    }

    /// What recovery found in each shard at `init`.
    pub fn recovery(&self) -> Vec<ShardRecovery> {
        self.inner
            .shards
            .read()
            .iter()
            .map(|s| s.recovery.clone())
            .collect()
    }

    fn shard(&self, shard: u32) -> Option<Arc<ShardLog>> {
        self.inner.shards.read().get(shard as usize).cloned()
    }

    fn lock_dir(&self) -> Result<(), AdapterError> {
        let path = self.inner.config.dir.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| AdapterError::from_io(format_args!("open {}", path.display()), e))?;
        // SAFETY: flock on a descriptor we own and keep open; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(AdapterError::config(format!(
                "{} is in use by another corelane process (could not lock {}: {})",
                self.inner.config.dir.display(),
                path.display(),
                std::io::Error::last_os_error()
            )));
        }
        *self.inner.lock.lock() = Some(file);
        Ok(())
    }

    fn start_syncer(&self, interval: Duration) {
        let inner = Arc::downgrade(&self.inner);
        let stop = Arc::clone(&self.inner.stop);
        let handle = std::thread::Builder::new()
            .name("corelane-file-sync".into())
            .spawn(move || {
                loop {
                    {
                        let mut stopped = stop.0.lock();
                        if !*stopped {
                            stop.1.wait_for(&mut stopped, interval);
                        }
                        if *stopped {
                            return;
                        }
                    }
                    let Some(inner) = inner.upgrade() else { return };
                    let shards = inner.shards.read().clone();
                    for shard in shards {
                        // A failed shard fails every later sync too: log it once.
                        if let Err(err) = shard.sync_if_dirty()
                            && inner.healthy.swap(false, Ordering::AcqRel)
                        {
                            tracing::error!(%err, "corelane file adapter background fsync failed");
                        }
                    }
                }
            });
        match handle {
            Ok(h) => *self.inner.syncer.lock() = Some(h),
            Err(err) => {
                tracing::error!(%err, "could not start the corelane file sync thread; syncing on flush only")
            }
        }
    }
}

/// Counts the `shard-NNNN` directories (they must be numbered from 0 without gaps).
fn discover_shards(root: &Path) -> Result<u32, AdapterError> {
    let mut count = 0u32;
    while shard_dir(root, count).is_dir() {
        count += 1;
    }
    Ok(count)
}

impl Adapter for FileAdapter {
    fn name(&self) -> &str {
        "file"
    }

    fn init(&self, num_shards: u32, _deadline: Instant) -> Result<InitReport, AdapterError> {
        let config = &self.inner.config;
        if config.read_only {
            return Err(AdapterError::config(
                "the file adapter was opened read-only",
            ));
        }
        let created = create_dir(&config.dir).map_err(|e| {
            AdapterError::from_io(format_args!("create {}", config.dir.display()), e)
        })?;
        if created
            && config.fsync != FsyncPolicy::Never
            && let Some(parent) = config.dir.parent().filter(|p| !p.as_os_str().is_empty())
        {
            durability::sync_dir(parent)
                .map_err(|e| AdapterError::from_io(format_args!("sync {}", parent.display()), e))?;
        }
        self.lock_dir()?;
        let mut report = InitReport::empty(num_shards);
        let mut shards = Vec::with_capacity(num_shards as usize);
        for shard in 0..num_shards {
            let log = ShardLog::open(&config.dir, shard, config)?;
            if let Some(reason) = &log.recovery.reason {
                report
                    .notes
                    .push(format!("file adapter recovered shard {shard}: {reason}"));
            }
            if let Some(corruption) = &log.recovery.corruption {
                report.notes.push(format!(
                    "file adapter found corruption in shard {shard}: {corruption}"
                ));
            }
            report.shards[shard as usize] = log.tail()?;
            shards.push(Arc::new(log));
        }
        let on_disk = discover_shards(&config.dir)?;
        if on_disk > num_shards {
            report.notes.push(format!(
                "file adapter: {} holds {on_disk} shards, the bus uses {num_shards}; shards {num_shards}.. are kept but not written",
                config.dir.display()
            ));
        }
        *self.inner.shards.write() = shards;
        self.inner.shut.store(false, Ordering::Release);
        if let FsyncPolicy::Interval(interval) = config.fsync {
            *self.inner.stop.0.lock() = false;
            self.start_syncer(interval);
        }
        Ok(report)
    }

    fn write_batch(&self, batch: &Batch, _deadline: Instant) -> Result<(), AdapterError> {
        if self.inner.shut.load(Ordering::Acquire) {
            return Err(AdapterError::shutdown("file adapter is shut down"));
        }
        let shard = self.shard(batch.shard()).ok_or_else(|| {
            AdapterError::config(format!(
                "batch for shard {}, but the store was initialised with {} shards",
                batch.shard(),
                self.num_shards()
            ))
        })?;
        let result = shard.append(batch, &self.inner.config);
        self.inner.healthy.store(result.is_ok(), Ordering::Release);
        result
    }

    fn flush(&self, _deadline: Instant) -> Result<(), AdapterError> {
        if self.inner.config.fsync == FsyncPolicy::Never {
            return Ok(());
        }
        let shards = self.inner.shards.read().clone();
        shards.iter().try_for_each(|s| s.sync_if_dirty())
    }

    fn shutdown(&self, _deadline: Instant) -> Result<(), AdapterError> {
        if self.inner.shut.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        {
            *self.inner.stop.0.lock() = true;
            self.inner.stop.1.notify_all();
        }
        if let Some(handle) = self.inner.syncer.lock().take() {
            let _ = handle.join();
        }
        let shards = self.inner.shards.read().clone();
        let result = shards.iter().try_for_each(|s| s.close(&self.inner.config));
        *self.inner.lock.lock() = None;
        result
    }

    fn poll_shard(
        &self,
        shard: u32,
        after: Option<Position>,
        limit: usize,
        _deadline: Instant,
    ) -> Result<ShardPoll, AdapterError> {
        match self.shard(shard) {
            Some(log) => log.poll(after, limit),
            None => Ok(ShardPoll {
                next: after,
                end_of_shard: true,
                ..ShardPoll::default()
            }),
        }
    }

    fn last_position(
        &self,
        shard: u32,
        _deadline: Instant,
    ) -> Result<Option<Position>, AdapterError> {
        match self.shard(shard) {
            Some(log) => Ok(log.tail()?.last_sequence.map(Position::from_sequence)),
            None => Ok(None),
        }
    }

    fn is_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Acquire) && !self.inner.shut.load(Ordering::Acquire)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
    }
}
