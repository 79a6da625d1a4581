//! Where a password, token or NKey seed comes from: the configuration itself, a file, or
//! an environment variable. A [`Secret`] never shows its value: `Debug` prints where it
//! comes from, and errors about it name the file or variable, never the content.

use std::fmt;
use std::path::{Path, PathBuf};

use corelane_io::AdapterError;

/// A credential and where to find it. Read when the adapter is created.
///
/// Prefer [`Secret::File`] or [`Secret::Env`]: a value in a configuration file or a URL
/// tends to end up in shell histories, process listings and support tickets.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The value itself.
    Value(String),
    /// A file holding the value; surrounding whitespace (the final newline) is dropped.
    /// A file that others may read (mode wider than 0600) gets a warning in the log.
    File(PathBuf),
    /// An environment variable holding the value.
    Env(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Secret(***)"),
            Secret::File(path) => write!(f, "Secret(file {})", path.display()),
            Secret::Env(name) => write!(f, "Secret(env {name})"),
        }
    }
}

impl Secret {
    /// The value. `what` names the credential in errors ("redis password").
    pub fn reveal(&self, what: &str) -> Result<String, AdapterError> {
        match self {
            Secret::Value(value) => Ok(value.clone()),
            Secret::File(path) => read_secret_file(path, what),
            Secret::Env(name) => match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_string()),
                Ok(_) => Err(AdapterError::config(format!(
                    "{what}: environment variable {name} is empty"
                ))),
                Err(_) => Err(AdapterError::config(format!(
                    "{what}: environment variable {name} is not set (or not UTF-8)"
                ))),
            },
        }
    }
}

/// Reads a file holding a secret, warning when others may read it.
pub(crate) fn read_secret_file(path: &Path, what: &str) -> Result<String, AdapterError> {
    warn_if_readable_by_others(path, what);
    let text = std::fs::read_to_string(path).map_err(|e| {
        AdapterError::config(format!("{what}: cannot read {}: {e}", path.display()))
    })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(AdapterError::config(format!(
            "{what}: {} is empty",
            path.display()
        )));
    }
    Ok(value.to_string())
}

/// Logs a warning when `path` may be read or written by anyone but its owner.
pub(crate) fn warn_if_readable_by_others(path: &Path, what: &str) {
    if let Some(mode) = loose_mode(path) {
        tracing::warn!(
            "{what}: {} has mode {mode:04o}; a file holding a key or secret should be 0600",
            path.display()
        );
    }
}

/// The permission bits of `path` when they are wider than 0600 (`None` when not, or when
/// the file cannot be inspected: reading it reports that).
pub(crate) fn loose_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & !0o600 != 0).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn debug_names_the_source_never_the_value() {
        assert_eq!(
            format!("{:?}", Secret::Value("hunter2".into())),
            "Secret(***)"
        );
        assert_eq!(
            format!("{:?}", Secret::Env("REDIS_PASSWORD".into())),
            "Secret(env REDIS_PASSWORD)"
        );
    }

    #[test]
    fn files_are_trimmed_and_loose_modes_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(loose_mode(&path), Some(0o644));
        assert_eq!(Secret::File(path.clone()).reveal("pw").unwrap(), "hunter2");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(loose_mode(&path), None);

        std::fs::write(&path, "\n").unwrap();
        let err = Secret::File(path).reveal("redis password").unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
        let err = Secret::Env("CORELANE_TEST_UNSET_VARIABLE".into())
            .reveal("nats token")
            .unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");
    }
}
