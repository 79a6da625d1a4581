//! `cl_producer_*`: a producer of one bus, used by one thread at a time.

use std::ffi::c_char;

use engine::Producer;

use crate::bus::{BUSES, cl_bus};
use crate::error::{Failure, from_ingest, guard};
use crate::handle::{Registry, Shell};
use crate::status::Status;
use crate::{bytes, cl_receipt, cl_slice, write_out};

/// An opaque producer handle.
pub type cl_producer = Shell<Producer>;

static PRODUCERS: Registry<Producer> = Registry::new(0x636c_5f70_726f_0002, "cl_producer");

/// Creates a producer of `bus` (one ring per shard). Thread-safe with respect to the bus.
///
/// # Safety
/// `bus` must be a handle; `out_producer` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_producer_new(
    bus: *mut cl_bus,
    out_producer: *mut *mut cl_producer,
) -> i32 {
    guard(|| {
        crate::require(out_producer, "out_producer")?;
        let bus = BUSES.get(bus, "bus")?;
        let producer = bus.producer();
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_producer, PRODUCERS.create(producer), "out_producer") }
    })
}

/// Frees a producer (what it ingested is still delivered). NULL is a no-op. The
/// producer's bus may already be freed.
///
/// # Safety
/// `producer` must be NULL or a handle not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_producer_free(producer: *mut cl_producer) -> i32 {
    guard(|| {
        drop(PRODUCERS.destroy(producer, "producer")?);
        Ok(())
    })
}

/// Ingests `len` raw bytes. The hot path: no allocation, no system call. Not
/// thread-safe: one thread at a time per producer. `out_receipt` may be NULL.
///
/// # Safety
/// `producer` must be a handle; `data` must point at `len` bytes; `out_receipt` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_producer_ingest(
    producer: *mut cl_producer,
    data: *const u8,
    len: usize,
    out_receipt: *mut cl_receipt,
) -> i32 {
    guard(|| {
        let producer = PRODUCERS.get_mut(producer, "producer")?;
        // SAFETY: caller contract.
        let payload = unsafe { bytes(data, len, "data")? };
        let receipt = producer.ingest_raw(payload).map_err(|e| from_ingest(&e))?;
        if !out_receipt.is_null() {
            // SAFETY: non-NULL and writable by contract.
            unsafe { out_receipt.write(receipt.into()) };
        }
        Ok(())
    })
}

/// Validates `json` as one JSON value and ingests it. Not thread-safe per producer.
///
/// # Safety
/// As `cl_producer_ingest`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_producer_ingest_json(
    producer: *mut cl_producer,
    json: *const c_char,
    len: usize,
    out_receipt: *mut cl_receipt,
) -> i32 {
    guard(|| {
        let producer = PRODUCERS.get_mut(producer, "producer")?;
        // SAFETY: caller contract.
        let payload = unsafe { bytes(json.cast(), len, "json")? };
        let receipt = producer.ingest_json(payload).map_err(|e| from_ingest(&e))?;
        if !out_receipt.is_null() {
            // SAFETY: non-NULL and writable by contract.
            unsafe { out_receipt.write(receipt.into()) };
        }
        Ok(())
    })
}

/// Ingests `count` events. Returns `CL_OK` when the batch was processed; each event's
/// outcome (`CL_OK` or its refusal code) goes to `statuses[i]` when `statuses` is not
/// NULL, and the number accepted to `*out_accepted` when not NULL. An event with a NULL
/// pointer and a non-zero length makes the whole call `CL_ERR_NULL` before anything is
/// ingested. Not thread-safe per producer.
///
/// # Safety
/// `events` must point at `count` `cl_slice`s whose buffers are readable; `statuses`
/// NULL or `count` writable `cl_status`; `out_accepted` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_producer_ingest_batch(
    producer: *mut cl_producer,
    events: *const cl_slice,
    count: usize,
    statuses: *mut i32,
    out_accepted: *mut usize,
) -> i32 {
    guard(|| {
        let producer = PRODUCERS.get_mut(producer, "producer")?;
        if count > 0 && events.is_null() {
            return Err(Failure::new(
                Status::Null,
                format!("events is NULL but count is {count}"),
            ));
        }
        if count > (1 << 24) {
            return Err(Failure::new(
                Status::InvalidArgument,
                format!("count {count} exceeds 16777216"),
            ));
        }
        let slices: &[cl_slice] = if count == 0 {
            &[]
        } else {
            // SAFETY: non-NULL, and the caller gives `count` readable slices.
            unsafe { std::slice::from_raw_parts(events, count) }
        };
        let payloads = slices
            .iter()
            .enumerate()
            // SAFETY: each slice's buffer is readable by the caller's contract.
            .map(|(i, s)| unsafe { bytes(s.data, s.len, &format!("events[{i}].data")) })
            .collect::<Result<Vec<&[u8]>, Failure>>()?;
        let outcome = producer.ingest_batch(payloads.iter().copied());
        if !statuses.is_null() {
            // SAFETY: `count` writable statuses by contract.
            let out = unsafe { std::slice::from_raw_parts_mut(statuses, count) };
            out.fill(Status::Ok as i32);
            for (i, err) in &outcome.refused {
                out[*i] = from_ingest(err).status as i32;
            }
        }
        if !out_accepted.is_null() {
            // SAFETY: non-NULL and writable by contract.
            unsafe { out_accepted.write(outcome.accepted) };
        }
        Ok(())
    })
}
