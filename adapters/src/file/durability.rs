//! What has been made durable: the fsync obligation of each segment file, and directory
//! syncs that make new entries survive a power loss.
//!
//! Each file counts the writes that landed in it and the writes its last successful
//! fsync covered. Whoever syncs a file (the writer at a roll or after a batch, the
//! group-commit thread, `flush`) syncs exactly that file, so a roll can never leave the
//! old file's writes to a sync of the new file. Syncs of one file are serialised, so a
//! roll that finds the background thread mid-fsync waits for it before going on.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// A segment file opened for appending, with its fsync obligation.
#[derive(Debug)]
pub(crate) struct SyncedFile {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    /// Writes that landed in the file (a counter, not bytes).
    written: AtomicU64,
    /// Writes covered by the last successful fsync. The lock orders fsyncs of the file.
    synced: Mutex<u64>,
}

impl SyncedFile {
    /// Wraps a file whose current contents are already durable (or not owed).
    pub(crate) fn new(file: File, path: &Path) -> Self {
        SyncedFile {
            file,
            path: path.to_path_buf(),
            written: AtomicU64::new(0),
            synced: Mutex::new(0),
        }
    }

    /// Records that a write landed; the next [`SyncedFile::sync`] must cover it.
    pub(crate) fn note_write(&self) {
        #[cfg(test)]
        faults::log("write", &self.path);
        self.written.fetch_add(1, Ordering::AcqRel);
    }

    /// `fdatasync`s the file when a write landed since the last successful sync. On
    /// error the obligation stays (and the caller poisons the shard: on Linux a second
    /// fsync after a failed one can succeed without the lost pages being written).
    pub(crate) fn sync(&self) -> io::Result<()> {
        let mut synced = self.synced.lock();
        let target = self.written.load(Ordering::Acquire);
        if *synced >= target {
            return Ok(());
        }
        fdatasync(&self.file, &self.path)?;
        *synced = target;
        Ok(())
    }
}

/// `fdatasync` of a data file (the seam where tests inject failures).
pub(crate) fn fdatasync(file: &File, path: &Path) -> io::Result<()> {
    #[cfg(test)]
    faults::on_sync(path)?;
    let _ = path;
    file.sync_data()
}

/// Makes `dir`'s entries (files or directories created, removed or renamed in it)
/// durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(test)]
    faults::on_sync(dir)?;
    File::open(dir)?.sync_all()
}

/// Notes that `path` was created, for tests that check the order of syncs and creates.
pub(crate) fn note_created(path: &Path) {
    #[cfg(test)]
    faults::log("create", path);
    let _ = path;
}

/// Fault injection and an event log for unit tests, keyed by directory so that tests
/// running in parallel (each with its own temporary directory) do not see each other.
#[cfg(test)]
pub(crate) mod faults {
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static FAILING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    static EVENTS: Mutex<Vec<(&'static str, PathBuf)>> = Mutex::new(Vec::new());

    /// Every later sync of a path under `dir` fails with EIO.
    pub(crate) fn fail_syncs_under(dir: &Path) {
        FAILING.lock().unwrap().push(dir.to_path_buf());
    }

    /// Syncs under `dir` work again.
    pub(crate) fn heal(dir: &Path) {
        FAILING.lock().unwrap().retain(|p| p != dir);
    }

    pub(super) fn log(kind: &'static str, path: &Path) {
        EVENTS.lock().unwrap().push((kind, path.to_path_buf()));
    }

    pub(super) fn on_sync(path: &Path) -> io::Result<()> {
        if FAILING.lock().unwrap().iter().any(|d| path.starts_with(d)) {
            log("failed sync", path);
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        log("sync", path);
        Ok(())
    }

    /// The creates and syncs of paths under `dir`, in order.
    pub(crate) fn events_under(dir: &Path) -> Vec<(&'static str, PathBuf)> {
        let events = EVENTS.lock().unwrap();
        events
            .iter()
            .filter(|(_, p)| p.starts_with(dir))
            .cloned()
            .collect()
    }
}
