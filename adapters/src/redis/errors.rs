//! How Redis errors become adapter errors: connection loss, timeouts and the server's
//! passing states are retryable; authentication, types and syntax are not. Messages never
//! show the password of the URL.

use corelane_io::{AdapterError, ErrorKind};
use redis::RedisError;

use crate::record_body::redact_url;

/// Longest error detail kept in a message; an aborted transaction lists every queued
/// command's error, and the first few say it.
const MAX_DETAIL_LEN: usize = 300;

/// Maps a Redis error from the command `context` to an adapter error.
pub(super) fn classify(context: &str, err: &RedisError, url: &str) -> AdapterError {
    let mut detail = scrub(&err.to_string(), url);
    if detail.len() > MAX_DETAIL_LEN {
        let cut = (0..=MAX_DETAIL_LEN)
            .rev()
            .find(|&i| detail.is_char_boundary(i))
            .unwrap_or(0);
        detail.truncate(cut);
        detail.push('…');
    }
    let message = format!("redis {} {context}: {detail}", redact_url(url));
    AdapterError::new(error_kind(err), message)
}

fn error_kind(err: &RedisError) -> ErrorKind {
    if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
        ErrorKind::Transient
    } else if err.kind() == redis::ErrorKind::AuthenticationFailed {
        ErrorKind::Config
    } else if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort) {
        // EXECABORT: the transaction was discarded because queued commands failed; it
        // is as retryable as the reasons they failed (LOADING while the server restarts).
        let causes = err.clone().into_server_errors().unwrap_or_default();
        if !causes.is_empty() && causes.iter().all(|(_, e)| transient_code(e.code())) {
            ErrorKind::Transient
        } else {
            ErrorKind::Fatal
        }
    } else {
        match err.code() {
            Some(code) if transient_code(code) => ErrorKind::Transient,
            Some("WRONGPASS" | "NOAUTH" | "NOPERM") => ErrorKind::Config,
            _ => ErrorKind::Fatal,
        }
    }
}

/// Server error codes that describe a passing state of the server.
pub(super) fn transient_code(code: &str) -> bool {
    matches!(
        code,
        "LOADING" | "BUSY" | "TRYAGAIN" | "READONLY" | "MASTERDOWN" | "CLUSTERDOWN" | "NOREPLICAS"
    )
}

/// Removes the password of `url` from a message that might quote the URL.
pub(super) fn scrub(message: &str, url: &str) -> String {
    if url.contains('@') {
        message.replace(url, &redact_url(url))
    } else {
        message.to_string()
    }
}
