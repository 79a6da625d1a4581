//! `cl_bus_poll` and `cl_poll_result_*`: one page of stored events, freed by one call.

use std::ffi::c_char;
use std::time::Duration;

use engine::read::{ConsumeOrder, ConsumeRequest, ConsumedEvent, Cursor, Filter};

use crate::bus::{BUSES, cl_bus};
use crate::error::{Failure, from_consumer, guard};
use crate::handle::{Registry, Shell};
use crate::status::Status;
use crate::{text, write_out};

/// Shard order (shards ascending, each in sequence order).
pub const CL_ORDER_SHARD: i32 = 0;
/// Time order (insertion timestamp, then shard, then sequence).
pub const CL_ORDER_TIME: i32 = 1;

/// What to read. Zeroed fields take defaults: no cursor (from the beginning), limit
/// 100, no filter, shard order, all shards, 5000 ms.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cl_poll_request {
    pub cursor: *const c_char,
    pub cursor_len: usize,
    pub limit: u32,
    pub ordering: i32,
    pub filter_json: *const c_char,
    pub filter_len: usize,
    pub shards: *const u32,
    pub shard_count: usize,
    pub timeout_ms: u64,
}

/// One event of a poll result; pointers stay valid until `cl_poll_result_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cl_event {
    pub id: *const c_char,
    pub id_len: usize,
    pub shard: u32,
    pub sequence: u64,
    pub insertion_ts: u64,
    pub payload: *const u8,
    pub payload_len: usize,
    /// NULL (length 0) when the store keeps no dedup ids.
    pub dedup_id: *const c_char,
    pub dedup_id_len: usize,
}

/// The page as a whole; pointers stay valid until `cl_poll_result_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cl_poll_info {
    pub count: usize,
    pub has_more: i32,
    pub failed_shards: usize,
    pub next_cursor: *const c_char,
    pub next_cursor_len: usize,
    pub filtered_out: u64,
    pub not_json: u64,
}

/// A page owned by the C side until freed.
#[derive(Debug)]
pub struct PollResult {
    events: Vec<ConsumedEvent>,
    next_cursor: String,
    has_more: bool,
    failed: Vec<(u32, String)>,
    filtered_out: u64,
    not_json: u64,
}

/// An opaque poll result handle.
pub type cl_poll_result = Shell<PollResult>;

static RESULTS: Registry<PollResult> = Registry::new(0x636c_5f70_6f6c_0003, "cl_poll_result");

fn request_from(req: &cl_poll_request) -> Result<ConsumeRequest, Failure> {
    let mut request = ConsumeRequest::new();
    if req.cursor_len > 0 || !req.cursor.is_null() {
        // SAFETY: the caller gives `cursor_len` readable bytes at `cursor`.
        let cursor = unsafe { text(req.cursor, req.cursor_len, "request.cursor")? };
        if !cursor.is_empty() {
            request.after = Some(Cursor::decode(cursor).map_err(from_consumer)?);
        }
    }
    if req.limit > 0 {
        request.limit = req.limit as usize;
    }
    request.ordering = match req.ordering {
        CL_ORDER_SHARD => ConsumeOrder::Shard,
        CL_ORDER_TIME => ConsumeOrder::Time,
        other => {
            return Err(Failure::new(
                Status::InvalidArgument,
                format!("request.ordering {other} is not CL_ORDER_SHARD (0) or CL_ORDER_TIME (1)"),
            ));
        }
    };
    if req.filter_len > 0 {
        // SAFETY: as above for the filter.
        let filter = unsafe { text(req.filter_json, req.filter_len, "request.filter_json")? };
        request.filter = Some(Filter::parse(filter).map_err(from_consumer)?);
    }
    if req.shard_count > 0 {
        if req.shards.is_null() {
            return Err(Failure::new(
                Status::Null,
                format!(
                    "request.shards is NULL but shard_count is {}",
                    req.shard_count
                ),
            ));
        }
        // SAFETY: non-NULL, `shard_count` readable u32s by contract.
        let shards = unsafe { std::slice::from_raw_parts(req.shards, req.shard_count) };
        request.shards = Some(shards.to_vec());
    }
    if req.timeout_ms > 0 {
        request.timeout = Duration::from_millis(req.timeout_ms);
    }
    Ok(request)
}

/// Reads one page. Failing shards do not fail the call: see `cl_poll_info.failed_shards`
/// and `cl_poll_result_failed_shard`. Free the result with `cl_poll_result_free`.
/// Thread-safe.
///
/// # Safety
/// `bus` must be a handle; `request` readable (its buffers too); `out_result` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_bus_poll(
    bus: *mut cl_bus,
    request: *const cl_poll_request,
    out_result: *mut *mut cl_poll_result,
) -> i32 {
    guard(|| {
        crate::require(out_result, "out_result")?;
        let bus = BUSES.get(bus, "bus")?;
        if request.is_null() {
            return Err(Failure::new(Status::Null, "request is NULL"));
        }
        // SAFETY: non-NULL and readable by contract.
        let request = request_from(unsafe { &*request })?;
        let page = bus.poll(&request).map_err(from_consumer)?;
        let result = PollResult {
            next_cursor: page.next_cursor.to_string(),
            has_more: page.has_more,
            failed: page
                .failed_shards
                .into_iter()
                .map(|f| (f.shard, f.error))
                .collect(),
            filtered_out: page.filtered_out,
            not_json: page.not_json,
            events: page.events,
        };
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_result, RESULTS.create(result), "out_result") }
    })
}

/// The page's summary. Read-only; safe from several threads.
///
/// # Safety
/// `result` must be a handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_poll_result_info(
    result: *const cl_poll_result,
    out: *mut cl_poll_info,
) -> i32 {
    guard(|| {
        crate::require(out, "out")?;
        let r = RESULTS.get(result, "result")?;
        let info = cl_poll_info {
            count: r.events.len(),
            has_more: i32::from(r.has_more),
            failed_shards: r.failed.len(),
            next_cursor: r.next_cursor.as_ptr().cast(),
            next_cursor_len: r.next_cursor.len(),
            filtered_out: r.filtered_out,
            not_json: r.not_json,
        };
        // SAFETY: caller contract.
        unsafe { write_out(out, info, "out") }
    })
}

/// Event `index` of the page (`CL_ERR_OUT_OF_RANGE` past the end).
///
/// # Safety
/// `result` must be a handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_poll_result_event(
    result: *const cl_poll_result,
    index: usize,
    out: *mut cl_event,
) -> i32 {
    guard(|| {
        crate::require(out, "out")?;
        let r = RESULTS.get(result, "result")?;
        let e = r.events.get(index).ok_or_else(|| {
            Failure::new(
                Status::OutOfRange,
                format!("index {index} is past the page's {} events", r.events.len()),
            )
        })?;
        let (dedup_id, dedup_id_len) = match &e.dedup_id {
            Some(d) => (d.as_ptr().cast(), d.len()),
            None => (std::ptr::null(), 0),
        };
        let event = cl_event {
            id: e.id.as_ptr().cast(),
            id_len: e.id.len(),
            shard: e.shard,
            sequence: e.sequence,
            insertion_ts: e.insertion_ts,
            payload: e.payload.as_ptr(),
            payload_len: e.payload.len(),
            dedup_id,
            dedup_id_len,
        };
        // SAFETY: caller contract.
        unsafe { write_out(out, event, "out") }
    })
}

/// Failed shard `index` of the page: its id and the error message.
///
/// # Safety
/// `result` must be a handle; the out-pointers writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_poll_result_failed_shard(
    result: *const cl_poll_result,
    index: usize,
    out_shard: *mut u32,
    out_message: *mut *const c_char,
    out_message_len: *mut usize,
) -> i32 {
    guard(|| {
        crate::require(out_shard, "out_shard")?;
        crate::require(out_message, "out_message")?;
        crate::require(out_message_len, "out_message_len")?;
        let r = RESULTS.get(result, "result")?;
        let (shard, msg) = r.failed.get(index).ok_or_else(|| {
            Failure::new(
                Status::OutOfRange,
                format!(
                    "index {index} is past the page's {} failed shards",
                    r.failed.len()
                ),
            )
        })?;
        // SAFETY: all three checked non-NULL; writable by contract.
        unsafe {
            out_shard.write(*shard);
            out_message.write(msg.as_ptr().cast());
            out_message_len.write(msg.len());
        }
        Ok(())
    })
}

/// Frees a page and everything its pointers point at. NULL is a no-op.
///
/// # Safety
/// `result` must be NULL or a handle no other thread is reading.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_poll_result_free(result: *mut cl_poll_result) -> i32 {
    guard(|| {
        drop(RESULTS.destroy(result, "result")?);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zeroed_request_means_defaults() {
        let req = cl_poll_request {
            cursor: std::ptr::null(),
            cursor_len: 0,
            limit: 0,
            ordering: 0,
            filter_json: std::ptr::null(),
            filter_len: 0,
            shards: std::ptr::null(),
            shard_count: 0,
            timeout_ms: 0,
        };
        let r = request_from(&req).unwrap();
        assert_eq!(
            (r.limit, r.after, r.ordering),
            (100, None, ConsumeOrder::Shard)
        );
        assert!(r.filter.is_none() && r.shards.is_none());
    }
}
