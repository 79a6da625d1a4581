//! How Redis errors become adapter errors: connection loss, timeouts and the server's
//! passing states are retryable; authentication, types and syntax are not. Messages never
//! show the password of the URL.

use std::time::Duration;

use corelane_io::{AdapterError, ErrorKind};
use redis::RedisError;

use crate::record_body::redact_url;

/// Longest error detail kept in a message; an aborted transaction lists every queued
/// command's error, and the first few say it.
const MAX_DETAIL_LEN: usize = 300;

/// Maps a Redis error from the command `context` to an adapter error. `client_cert`
/// says whether a TLS client certificate is configured.
pub(super) fn classify(
    context: &str,
    err: &RedisError,
    url: &str,
    client_cert: bool,
) -> AdapterError {
    let mut detail = scrub(&err.to_string(), url);
    if detail.len() > MAX_DETAIL_LEN {
        let cut = (0..=MAX_DETAIL_LEN)
            .rev()
            .find(|&i| detail.is_char_boundary(i))
            .unwrap_or(0);
        detail.truncate(cut);
        detail.push('…');
    }
    if let Some(cause) = crate::tls::explain_tls_failure(&detail, client_cert) {
        let message = format!(
            "redis {} {context}: TLS: {cause} ({detail})",
            redact_url(url)
        );
        return AdapterError::config(message);
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

/// A failed connect, with a hint where TLS and plaintext may have met: a TLS hello
/// that a plaintext server never answers (it waits for the end of a command line), or a
/// TLS server hanging up on a plaintext client.
pub(super) fn connect_failure(
    err: &RedisError,
    url: &str,
    timeout: Duration,
    client_cert: bool,
) -> AdapterError {
    let error = classify("connect", err, url, client_cert);
    let tls = url.starts_with("rediss://");
    let hint = match error.kind() {
        ErrorKind::Timeout if tls => {
            format!("no TLS answer within {timeout:?}: is TLS enabled on that port?")
        }
        ErrorKind::Transient if !tls && (err.is_connection_dropped() || is_reset(err)) => {
            "the server hung up: if it speaks TLS, use a rediss:// URL".to_string()
        }
        _ => return error,
    };
    AdapterError::new(error.kind(), format!("{} ({hint})", error.message()))
}

fn is_reset(err: &RedisError) -> bool {
    err.to_string().contains("reset by peer")
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
