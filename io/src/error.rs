//! The error an adapter returns, and whether a retry may help.

use std::error::Error;
use std::fmt;

/// What kind of failure an adapter reports; decides whether the I/O thread retries.
///
/// `Transient`, `Timeout` and `Backpressure` are retryable: the same call may succeed
/// later. `Fatal`, `Config` and `Shutdown` are not: retrying would fail the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// A failure that may pass: connection reset, server loading, leader election.
    Transient,
    /// The call did not complete before its deadline.
    Timeout,
    /// The backend asked the writer to slow down.
    Backpressure,
    /// The backend refused the request and will refuse it again (corrupt data, auth).
    Fatal,
    /// The adapter's configuration is wrong (bad path, bad URL, mismatched stream).
    Config,
    /// The adapter was shut down and takes no more calls.
    Shutdown,
}

impl ErrorKind {
    /// Every kind, in a fixed order (the order of counters in statistics).
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Transient,
        ErrorKind::Timeout,
        ErrorKind::Backpressure,
        ErrorKind::Fatal,
        ErrorKind::Config,
        ErrorKind::Shutdown,
    ];

    /// True when a retry of the same call may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Transient | ErrorKind::Timeout | ErrorKind::Backpressure
        )
    }

    /// Position of this kind in [`ErrorKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short lowercase name, used in logs and statistics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Backpressure => "backpressure",
            ErrorKind::Fatal => "fatal",
            ErrorKind::Config => "config",
            ErrorKind::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An adapter failure: its [`ErrorKind`], a message naming what went wrong, and the
/// underlying cause when there is one.
///
/// # Examples
///
/// ```
/// use corelane_io::{AdapterError, ErrorKind};
///
/// let err = AdapterError::transient("connection reset by peer");
/// assert_eq!(err.kind(), ErrorKind::Transient);
/// assert!(err.is_retryable());
/// assert_eq!(err.to_string(), "transient: connection reset by peer");
/// ```
#[derive(Debug)]
pub struct AdapterError {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl AdapterError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        AdapterError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// A retryable failure that may pass.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// The call ran past its deadline.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// The backend asked for less load.
    pub fn backpressure(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Backpressure, message)
    }

    /// A failure a retry would repeat.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Fatal, message)
    }

    /// A configuration problem.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// The adapter is shut down.
    pub fn shutdown(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Shutdown, message)
    }

    /// Maps an I/O error to a kind: interruptions, resets and timeouts are retryable,
    /// everything else (permissions, missing files, full disks) is fatal.
    pub fn from_io(context: impl fmt::Display, err: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            Io::TimedOut | Io::WouldBlock => ErrorKind::Timeout,
            Io::Interrupted
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::ConnectionRefused
            | Io::BrokenPipe
            | Io::NotConnected
            | Io::UnexpectedEof => ErrorKind::Transient,
            _ => ErrorKind::Fatal,
        };
        AdapterError::new(kind, format!("{context}: {err}")).with_source(err)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

impl fmt::Display for AdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl Error for AdapterError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}
