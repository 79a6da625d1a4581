//! The status codes of the C ABI, written once: each status's Rust name, C name, code and
//! description. The `Status` enum and `cl_status_name`'s strings come from this table, and
//! `tests/header.rs` includes this file to check `cl_status` in `corelane.h` against it.
//!
//! This file uses only `std`, so that the header test can compile it on its own.

use std::ffi::CStr;

/// Defines `Status` and its lookups from one row per status:
/// `/// description` `Variant = code => c"C_NAME",`.
macro_rules! status_table {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $code:literal => $c_name:literal, )+) => {
        /// The stable status codes of the C ABI (`cl_status` in `corelane.h`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(i32)]
        pub enum Status {
            $( $(#[doc = $doc])+ $variant = $code, )+
        }

        impl Status {
            /// Every status, in the order of the table (and of the header).
            pub const ALL: &[Status] = &[$(Status::$variant),+];

            /// The status whose code is `code`, if there is one.
            pub fn from_code(code: i32) -> Option<Status> {
                Status::ALL.iter().copied().find(|s| *s as i32 == code)
            }

            /// The C name of the constant, as `corelane.h` spells it ("CL_ERR_FULL").
            pub fn c_name(self) -> &'static CStr {
                match self {
                    $( Status::$variant => $c_name, )+
                }
            }
        }
    };
}

status_table! {
    /// Success.
    Ok = 0 => c"CL_OK",
    /// A required pointer was NULL.
    Null = -1 => c"CL_ERR_NULL",
    /// A length, count, value or UTF-8 text was invalid.
    InvalidArgument = -2 => c"CL_ERR_INVALID_ARGUMENT",
    /// The JSON configuration is invalid (bad JSON, unknown key, value out of range).
    Config = -3 => c"CL_ERR_CONFIG",
    /// The handle was freed, or is not a handle of that kind.
    BadHandle = -4 => c"CL_ERR_BAD_HANDLE",
    /// The ring was full (backpressure "fail", or a sampled-in event found no room).
    Full = -5 => c"CL_ERR_FULL",
    /// The ring was full and the event was dropped (backpressure "drop_newest").
    Dropped = -6 => c"CL_ERR_DROPPED",
    /// Refused by sampling (backpressure "sample").
    SampledOut = -7 => c"CL_ERR_SAMPLED_OUT",
    /// No room within the blocking timeout (backpressure "block").
    TimedOut = -8 => c"CL_ERR_TIMED_OUT",
    /// The bus is shutting down or shut down.
    ShuttingDown = -9 => c"CL_ERR_SHUTTING_DOWN",
    /// The event exceeds max_event_bytes.
    TooLarge = -10 => c"CL_ERR_TOO_LARGE",
    /// The event is not valid JSON, or routed to a shard that does not exist.
    InvalidEvent = -11 => c"CL_ERR_INVALID_EVENT",
    /// flush or shutdown did not finish within its timeout.
    Timeout = -12 => c"CL_ERR_TIMEOUT",
    /// The adapter failed (init, flush, shutdown, or a read).
    Adapter = -13 => c"CL_ERR_ADAPTER",
    /// The cursor text is malformed.
    InvalidCursor = -14 => c"CL_ERR_INVALID_CURSOR",
    /// The filter JSON is malformed.
    InvalidFilter = -15 => c"CL_ERR_INVALID_FILTER",
    /// An I/O error outside the adapter (nonce file, thread start).
    Io = -16 => c"CL_ERR_IO",
    /// An index past the end (of a poll result), or a shard count the bus cannot have.
    OutOfRange = -17 => c"CL_ERR_OUT_OF_RANGE",
    /// The bus was built without max_shards or a scaling policy.
    NotScalable = -18 => c"CL_ERR_NOT_SCALABLE",
    /// Another shard-count change is in progress.
    Busy = -19 => c"CL_ERR_BUSY",
    /// A bug: corelane panicked; the call had no effect the caller can rely on.
    Panic = -99 => c"CL_ERR_PANIC",
}

/// What `cl_status_name` answers for a code that is not in the table.
pub const UNKNOWN_STATUS_NAME: &CStr = c"CL_UNKNOWN_STATUS";
