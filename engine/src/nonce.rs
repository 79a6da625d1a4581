//! The producer nonce: the first part of every dedup id.
//!
//! File format (9 bytes): version byte `1`, then the nonce as a little-endian `u64`.
//! A new file is written to a temporary sibling, fsynced, renamed into place, and the
//! directory fsynced, so a crash leaves either no file or a whole one. A file that exists
//! but is not exactly that is an error: replacing it silently would change every dedup id
//! and defeat deduplication after a restart.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

const VERSION: u8 = 1;
const FILE_LEN: usize = 9;

/// Why the nonce file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NonceError {
    /// Reading or writing the file failed.
    #[error("producer nonce file {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        error: io::Error,
    },
    /// The file exists but does not hold a valid nonce.
    #[error("producer nonce file {path} is corrupt: {reason}; refusing to replace it")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A random nonce for this process (std's randomly keyed SipHash over the time, the
/// process id and a stack address; not cryptographic, only unlikely to repeat).
pub fn random_nonce() -> u64 {
    let mut h = RandomState::new().build_hasher();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(now);
    h.write_u32(std::process::id());
    let local = 0u8;
    h.write_usize(&local as *const u8 as usize);
    match h.finish() {
        0 => 1,
        n => n,
    }
}

/// Reads the nonce stored at `path`, or creates the file with a fresh random nonce.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("nonce");
/// let first = corelane::testing::load_or_create_nonce(&path).unwrap();
/// assert_eq!(corelane::testing::load_or_create_nonce(&path).unwrap(), first);
/// ```
pub fn load_or_create_nonce(path: &Path) -> Result<u64, NonceError> {
    let io_err = |error| NonceError::Io {
        path: path.to_path_buf(),
        error,
    };
    match fs::read(path) {
        Ok(bytes) => parse(path, &bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            write_atomically(path, random_nonce()).map_err(io_err)?;
            // Read back: if another process created the file at the same moment, its
            // rename may have won, and both must use the nonce that is on disk.
            let bytes = fs::read(path).map_err(io_err)?;
            parse(path, &bytes)
        }
        Err(e) => Err(io_err(e)),
    }
}

/// Replaces the nonce stored at `path` with a fresh random one and returns it.
///
/// The bus does this when its adapter reports a shard whose numbering it cannot
/// continue (a purged stream): numbering restarts at 0, and ids made with the old nonce
/// could equal ids a server still remembers, which would make it drop new events as
/// duplicates.
pub(crate) fn rotate_nonce(path: &Path) -> Result<u64, NonceError> {
    let old = load_or_create_nonce(path)?;
    let mut fresh = random_nonce();
    while fresh == old {
        fresh = random_nonce();
    }
    write_atomically(path, fresh).map_err(|error| NonceError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(fresh)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<u64, NonceError> {
    let corrupt = |reason: String| NonceError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() != FILE_LEN {
        return Err(corrupt(format!(
            "it is {} bytes long, expected {FILE_LEN}",
            bytes.len()
        )));
    }
    if bytes[0] != VERSION {
        return Err(corrupt(format!(
            "version byte is {}, expected {VERSION}",
            bytes[0]
        )));
    }
    let nonce = u64::from_le_bytes(bytes[1..].try_into().expect("8 bytes"));
    Ok(nonce)
}

fn write_atomically(path: &Path, nonce: u64) -> io::Result<()> {
    let mut bytes = [0u8; FILE_LEN];
    bytes[0] = VERSION;
    bytes[1..].copy_from_slice(&nonce.to_le_bytes());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
