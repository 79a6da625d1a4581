//! Failures and the status each maps to, the thread-local last error, and the panic guard
//! of every entry point.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use engine::read::ConsumerError;
use engine::{BuildError, FlushError, IngestError, RefusalReason, ScaleError, ShutdownError};

use crate::status::Status;

/// A failed call: its status and message.
#[derive(Debug)]
pub struct Failure {
    pub(crate) status: Status,
    pub(crate) message: String,
}

impl Failure {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: &str) {
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            e.clear();
            e.push_str(message);
        }
    });
}

/// Copies the calling thread's last error message into `buf` (NUL-terminated, truncated
/// to `len - 1` bytes); returns the message's full length.
pub fn copy_last_error(buf: *mut u8, len: usize) -> usize {
    LAST_ERROR
        .try_with(|e| {
            let e = e.borrow();
            if !buf.is_null() && len > 0 {
                let n = e.len().min(len - 1);
                // SAFETY: the caller gives `len` writable bytes at `buf`; we write n+1 ≤ len.
                unsafe {
                    std::ptr::copy_nonoverlapping(e.as_ptr(), buf, n);
                    *buf.add(n) = 0;
                }
            }
            e.len()
        })
        .unwrap_or(0)
}

/// Runs an entry point: catches panics, records the message of a failure, and turns
/// the outcome into a status code.
pub fn guard(call: impl FnOnce() -> Result<(), Failure>) -> i32 {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(())) => Status::Ok as i32,
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            failure.status as i32
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal error (panic): {msg}"));
            Status::Panic as i32
        }
    }
}

pub fn from_ingest<E>(err: &IngestError<E>) -> Failure {
    let status = match err.reason() {
        RefusalReason::Full => Status::Full,
        RefusalReason::Dropped => Status::Dropped,
        RefusalReason::SampledOut => Status::SampledOut,
        RefusalReason::TimedOut => Status::TimedOut,
        RefusalReason::ShuttingDown => Status::ShuttingDown,
        RefusalReason::TooLarge => Status::TooLarge,
        RefusalReason::Invalid => Status::InvalidEvent,
    };
    Failure::new(status, err.to_string())
}

pub fn from_build(err: BuildError) -> Failure {
    let status = match &err {
        BuildError::Config(_) => Status::Config,
        BuildError::Nonce(_) | BuildError::Spawn { .. } => Status::Io,
        BuildError::Adapter { .. } => Status::Adapter,
    };
    Failure::new(status, err.to_string())
}

pub fn from_flush(err: FlushError) -> Failure {
    let status = match &err {
        FlushError::Timeout { .. } => Status::Timeout,
        FlushError::Adapter(_) => Status::Adapter,
        FlushError::ShutDown => Status::ShuttingDown,
    };
    Failure::new(status, err.to_string())
}

pub fn from_shutdown(err: ShutdownError) -> Failure {
    let status = match &err {
        ShutdownError::Timeout { .. } => Status::Timeout,
        ShutdownError::Adapter { .. } => Status::Adapter,
    };
    Failure::new(status, err.to_string())
}

pub fn from_scale(err: ScaleError) -> Failure {
    let status = match err {
        ScaleError::NotScalable => Status::NotScalable,
        ScaleError::OutOfRange { .. } => Status::OutOfRange,
        ScaleError::InProgress { .. } => Status::Busy,
        ScaleError::Closed => Status::ShuttingDown,
        ScaleError::Timeout { .. } => Status::Timeout,
        ScaleError::Spawn { .. } => Status::Io,
    };
    Failure::new(status, err.to_string())
}

pub fn from_consumer(err: ConsumerError) -> Failure {
    let status = match &err {
        ConsumerError::InvalidCursor { .. } => Status::InvalidCursor,
        ConsumerError::InvalidFilter { .. } => Status::InvalidFilter,
        ConsumerError::InvalidRequest { .. } => Status::InvalidArgument,
        ConsumerError::Adapter { .. } | ConsumerError::ShardsFailed(_) => Status::Adapter,
    };
    Failure::new(status, err.to_string())
}
