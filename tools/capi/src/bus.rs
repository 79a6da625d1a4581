//! `cl_bus_*`: create a bus from JSON, ingest through its thread-local producer, flush,
//! shut down, free.

use std::ffi::c_char;
use std::time::Duration;

use engine::Bus;
use engine::config::BusJson;

use crate::error::{
    Failure, from_build, from_flush, from_ingest, from_scale, from_shutdown, guard,
};
use crate::handle::{Registry, Shell};
use crate::stats::{cl_stats, fill_stats};
use crate::status::Status;
use crate::{bytes, cl_receipt, text, write_out};

/// An opaque bus handle.
pub type cl_bus = Shell<Bus>;

pub(crate) static BUSES: Registry<Bus> = Registry::new(0x636c_5f62_7573_0001, "cl_bus");

/// Creates a bus from a JSON configuration (every engine setting and the adapter; see
/// `docs/embedding-cpp.md`). Unknown keys are errors.
///
/// # Safety
/// `config_json` must point at `config_len` readable bytes; `out_bus` at a writable
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_bus_new(
    config_json: *const c_char,
    config_len: usize,
    out_bus: *mut *mut cl_bus,
) -> i32 {
    guard(|| {
        crate::require(out_bus, "out_bus")?;
        // SAFETY: caller contract.
        let json = unsafe { text(config_json, config_len, "config_json")? };
        if json.trim().is_empty() {
            return Err(Failure::new(Status::Config, "config_json is empty"));
        }
        let spec =
            BusJson::from_json(json).map_err(|e| Failure::new(Status::Config, e.to_string()))?;
        let bus = spec.build().map_err(from_build)?;
        // SAFETY: checked non-NULL above; writable by contract.
        unsafe { write_out(out_bus, BUSES.create(bus), "out_bus") }
    })
}

/// Shuts the bus down gracefully (bounded by `shutdown_timeout_ms`) and frees the
/// handle. NULL is a no-op. Must not run while another thread uses the handle.
///
/// # Safety
/// `bus` must be NULL or a handle from `cl_bus_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_bus_free(bus: *mut cl_bus) -> i32 {
    guard(|| {
        let value = BUSES.destroy(bus, "bus")?;
        drop(value); // Drop shuts the bus down.
        Ok(())
    })
}

/// Shuts the bus down gracefully: refuses new ingests, drains and writes everything,
/// flushes and shuts the adapter down. Idempotent. Writes the final statistics to
/// `out_stats` when it is not NULL. Thread-safe.
///
/// # Safety
/// `bus` must be a handle; `out_stats` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_bus_shutdown(bus: *mut cl_bus, out_stats: *mut cl_stats) -> i32 {
    guard(|| {
        let bus = BUSES.get(bus, "bus")?;
        let stats = bus.shutdown().map_err(from_shutdown)?;
        if !out_stats.is_null() {
            // SAFETY: non-NULL and writable by contract.
            unsafe { out_stats.write(fill_stats(&stats, bus.num_shards())) };
        }
        Ok(())
    })
}

/// Delivery barrier: returns `CL_OK` once every event accepted before the call is
/// written or counted failed and the adapter flushed; `CL_ERR_TIMEOUT` (naming the
/// lagging shards) after `timeout_ms`. Thread-safe.
///
/// # Safety
/// `bus` must be a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_bus_flush(bus: *mut cl_bus, timeout_ms: u64) -> i32 {
    guard(|| {
        let bus = BUSES.get(bus, "bus")?;
        bus.flush(Duration::from_millis(timeout_ms))
            .map_err(from_flush)
    })
}

/// What `cl_bus_scale_to` changed.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct cl_scale_outcome {
    pub from: u32,
    pub to: u32,
    /// From the call until the new routing was published, nanoseconds.
    pub to_traffic_ns: u64,
    /// From the call until the change was complete, nanoseconds.
    pub took_ns: u64,
}

/// Changes the number of shards taking traffic to `target`, waiting at most
/// `timeout_ms` for the change to complete. `CL_ERR_NOT_SCALABLE` for a bus built
/// without `max_shards` or `scaling`, `CL_ERR_OUT_OF_RANGE` outside 1..=max,
/// `CL_ERR_BUSY` while another change runs, `CL_ERR_TIMEOUT` when the change was
/// published but not complete in time (it completes later). `out` may be NULL.
/// Thread-safe.
///
/// # Safety
/// `bus` must be a handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_bus_scale_to(
    bus: *mut cl_bus,
    target: u32,
    timeout_ms: u64,
    out: *mut cl_scale_outcome,
) -> i32 {
    guard(|| {
        let bus = BUSES.get(bus, "bus")?;
        let outcome = bus
            .scale_to(target, Duration::from_millis(timeout_ms))
            .map_err(from_scale)?;
        if !out.is_null() {
            let value = cl_scale_outcome {
                from: outcome.from,
                to: outcome.to,
                to_traffic_ns: outcome.to_traffic.as_nanos() as u64,
                took_ns: outcome.took.as_nanos() as u64,
            };
            // SAFETY: non-NULL and writable by contract.
            unsafe { out.write(value) };
        }
        Ok(())
    })
}

/// The number of shards taking traffic now. Thread-safe.
///
/// # Safety
/// `bus` must be a handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_bus_num_shards(bus: *const cl_bus, out: *mut u32) -> i32 {
    guard(|| {
        let bus = BUSES.get(bus, "bus")?;
        // SAFETY: caller contract.
        unsafe { write_out(out, bus.num_shards(), "out") }
    })
}

/// Ingests raw bytes through the calling thread's own producer (registered on first
/// use, retired when the thread exits). Thread-safe. `out_receipt` may be NULL.
///
/// # Safety
/// `bus` must be a handle; `data` must point at `len` bytes; `out_receipt` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_bus_ingest(
    bus: *mut cl_bus,
    data: *const u8,
    len: usize,
    out_receipt: *mut cl_receipt,
) -> i32 {
    guard(|| {
        let bus = BUSES.get(bus, "bus")?;
        // SAFETY: caller contract.
        let payload = unsafe { bytes(data, len, "data")? };
        let receipt = bus.ingest_raw(payload).map_err(|e| from_ingest(&e))?;
        if !out_receipt.is_null() {
            // SAFETY: non-NULL and writable by contract.
            unsafe { out_receipt.write(receipt.into()) };
        }
        Ok(())
    })
}

/// Validates `json` as one JSON value and ingests it through the calling thread's
/// producer (`CL_ERR_INVALID_EVENT` with line and column otherwise). Thread-safe.
///
/// # Safety
/// As `cl_bus_ingest`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_bus_ingest_json(
    bus: *mut cl_bus,
    json: *const c_char,
    len: usize,
    out_receipt: *mut cl_receipt,
) -> i32 {
    guard(|| {
        let bus = BUSES.get(bus, "bus")?;
        // SAFETY: caller contract.
        let payload = unsafe { bytes(json.cast(), len, "json")? };
        let receipt = bus.ingest_json(payload).map_err(|e| from_ingest(&e))?;
        if !out_receipt.is_null() {
            // SAFETY: non-NULL and writable by contract.
            unsafe { out_receipt.write(receipt.into()) };
        }
        Ok(())
    })
}
