//! The C ABI of corelane: `libcorelane.a` / `libcorelane.so` with `include/corelane.h`
//! (and the C++17 wrapper `include/corelane.hpp`).
//!
//! # Contract
//! - Every function returns a `cl_status` (0 = `CL_OK`, stable negative codes otherwise)
//!   and sets a thread-local message on failure, read with `cl_last_error`.
//! - Out-parameters are written only when the call returns `CL_OK`.
//! - Every buffer is passed with its length; a NULL pointer with a non-zero length is
//!   `CL_ERR_NULL`, never dereferenced.
//! - Nothing unwinds into the host: every entry point catches panics (`CL_ERR_PANIC`).
//! - Handles are checked on entry: a freed handle, or a handle of another kind, is
//!   `CL_ERR_BAD_HANDLE` (see `handle.rs` for how freed handles stay detectable).
//! - Thread safety is stated per function in the header: `cl_bus` calls are thread-safe
//!   except `cl_bus_free`; a `cl_producer` is used by one thread at a time; a
//!   `cl_poll_result` is read-only after creation.

#![deny(missing_debug_implementations, unsafe_op_in_unsafe_fn)]
// The C names are the ABI: `cl_bus`, `cl_event`, ...
#![allow(non_camel_case_types, missing_docs)]

mod bus;
mod error;
mod handle;
mod poll;
mod producer;
mod stats;

use std::ffi::c_char;

pub use bus::*;
use error::{Failure, Status};
pub use poll::*;
pub use producer::*;
pub use stats::*;

/// A borrowed buffer: `len` bytes at `data`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cl_slice {
    pub data: *const u8,
    pub len: usize,
}

/// What an accepted ingest reports.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct cl_receipt {
    /// The shard the event went to.
    pub shard: u32,
    /// Events this producer sent to that shard before this one.
    pub producer_seq: u64,
}

impl From<engine::Receipt> for cl_receipt {
    fn from(r: engine::Receipt) -> Self {
        cl_receipt {
            shard: r.shard,
            producer_seq: r.producer_seq,
        }
    }
}

/// Borrows `len` bytes at `ptr` (NULL is fine when `len` is 0).
///
/// # Safety
/// `ptr` must point at `len` readable bytes for the duration of the call.
unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::new(
            Status::Null,
            format!("{what} is NULL but its length is {len}"),
        ));
    }
    if len > isize::MAX as usize {
        return Err(Failure::new(
            Status::InvalidArgument,
            format!("{what} length {len} is too large"),
        ));
    }
    // SAFETY: non-NULL, length bounded, and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows `len` bytes at `ptr` as UTF-8 text.
///
/// # Safety
/// As [`bytes`].
unsafe fn text<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    let raw = unsafe { bytes(ptr.cast(), len, what)? };
    std::str::from_utf8(raw)
        .map_err(|e| Failure::new(Status::InvalidArgument, format!("{what} is not UTF-8: {e}")))
}

/// Writes an out-parameter, refusing NULL.
///
/// # Safety
/// `out` must be NULL or point at writable memory for a `T`.
unsafe fn write_out<T>(out: *mut T, value: T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::new(Status::Null, format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and writable by the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// Checks that an out-parameter is not NULL before any work is done.
fn require<T>(out: *mut T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        Err(Failure::new(Status::Null, format!("{what} is NULL")))
    } else {
        Ok(())
    }
}

/// The library version, NUL-terminated, static.
#[unsafe(no_mangle)]
pub extern "C" fn cl_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI version: bumped when a function or struct changes incompatibly.
#[unsafe(no_mangle)]
pub extern "C" fn cl_abi_version() -> u32 {
    1
}

/// Copies this thread's last error message into `buf` (NUL-terminated, truncated to
/// `len - 1` bytes) and returns the message's full length in bytes; 0 when no call on
/// this thread has failed. `buf` may be NULL when `len` is 0 (to ask for the length).
///
/// # Safety
/// `buf` must point at `len` writable bytes, or be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_last_error(buf: *mut c_char, len: usize) -> usize {
    std::panic::catch_unwind(|| error::copy_last_error(buf.cast(), len)).unwrap_or(0)
}

/// The message of a status code, static and NUL-terminated.
#[unsafe(no_mangle)]
pub extern "C" fn cl_status_name(status: i32) -> *const c_char {
    let name: &'static str = match status {
        0 => "CL_OK\0",
        -1 => "CL_ERR_NULL\0",
        -2 => "CL_ERR_INVALID_ARGUMENT\0",
        -3 => "CL_ERR_CONFIG\0",
        -4 => "CL_ERR_BAD_HANDLE\0",
        -5 => "CL_ERR_FULL\0",
        -6 => "CL_ERR_DROPPED\0",
        -7 => "CL_ERR_SAMPLED_OUT\0",
        -8 => "CL_ERR_TIMED_OUT\0",
        -9 => "CL_ERR_SHUTTING_DOWN\0",
        -10 => "CL_ERR_TOO_LARGE\0",
        -11 => "CL_ERR_INVALID_EVENT\0",
        -12 => "CL_ERR_TIMEOUT\0",
        -13 => "CL_ERR_ADAPTER\0",
        -14 => "CL_ERR_INVALID_CURSOR\0",
        -15 => "CL_ERR_INVALID_FILTER\0",
        -16 => "CL_ERR_IO\0",
        -17 => "CL_ERR_OUT_OF_RANGE\0",
        -99 => "CL_ERR_PANIC\0",
        _ => "CL_UNKNOWN_STATUS\0",
    };
    name.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    #[test]
    fn status_names_cover_every_status() {
        use crate::error::Status::*;
        for s in [
            Ok,
            Null,
            InvalidArgument,
            Config,
            BadHandle,
            Full,
            Dropped,
            SampledOut,
            TimedOut,
            ShuttingDown,
            TooLarge,
            InvalidEvent,
            Timeout,
            Adapter,
            InvalidCursor,
            InvalidFilter,
            Io,
            OutOfRange,
            Panic,
        ] {
            // SAFETY: cl_status_name returns a static NUL-terminated string.
            let name = unsafe { std::ffi::CStr::from_ptr(super::cl_status_name(s as i32)) };
            assert_ne!(name.to_str().unwrap(), "CL_UNKNOWN_STATUS", "{s:?}");
        }
    }
}
