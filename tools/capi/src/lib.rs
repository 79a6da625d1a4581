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
mod status;

use std::ffi::c_char;

pub use bus::*;
use error::Failure;
pub use poll::*;
pub use producer::*;
pub use stats::*;
use status::Status;

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
    // 2: cl_stats and cl_shard_stats grew the scaling fields; cl_bus_scale_to.
    2
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

/// The C name of a status code ("CL_ERR_FULL"), static and NUL-terminated;
/// "CL_UNKNOWN_STATUS" for a code that is not a status.
#[unsafe(no_mangle)]
pub extern "C" fn cl_status_name(status: i32) -> *const c_char {
    Status::from_code(status)
        .map_or(status::UNKNOWN_STATUS_NAME, Status::c_name)
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::ffi::CStr;

    use crate::status::{Status, UNKNOWN_STATUS_NAME};

    fn name_of(code: i32) -> &'static CStr {
        // SAFETY: cl_status_name returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(super::cl_status_name(code)) }
    }

    #[test]
    fn every_status_has_its_own_code_and_name() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for &s in Status::ALL {
            assert_eq!(Status::from_code(s as i32), Some(s));
            assert_eq!(name_of(s as i32), s.c_name(), "{s:?}");
            assert!(codes.insert(s as i32), "{s:?}: code used twice");
            assert!(names.insert(s.c_name()), "{s:?}: name used twice");
        }
        assert!(!names.contains(UNKNOWN_STATUS_NAME));
    }

    #[test]
    fn an_unknown_code_has_the_unknown_name() {
        for code in [1, -20, -98, 12345, i32::MIN] {
            assert_eq!(Status::from_code(code), None);
            assert_eq!(name_of(code), UNKNOWN_STATUS_NAME);
        }
    }
}
