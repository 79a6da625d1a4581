//! `cl_stats` and `cl_shard_stats`: the bus counters as plain structs.

use engine::{Pinning, ShardPhase, Stats};

use crate::bus::{BUSES, cl_bus};
use crate::error::{Failure, guard};
use crate::status::Status;
use crate::write_out;

/// Every counter of a bus. At quiescence `accepted == written + failed`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct cl_stats {
    pub accepted: u64,
    pub written: u64,
    pub failed: u64,
    pub refused: u64,
    pub refused_full: u64,
    pub refused_dropped: u64,
    pub refused_sampled_out: u64,
    pub refused_timed_out: u64,
    pub refused_shutting_down: u64,
    pub refused_too_large: u64,
    pub refused_invalid: u64,
    pub failed_transient: u64,
    pub failed_timeout: u64,
    pub failed_backpressure: u64,
    pub failed_fatal: u64,
    pub failed_config: u64,
    pub failed_shutdown: u64,
    pub batches_written: u64,
    pub batches_failed: u64,
    pub retries: u64,
    pub deadline_overruns: u64,
    pub producers: u32,
    pub num_shards: u32,
    /// Ingest → acknowledged, recorded on the I/O thread: events measured and percentiles
    /// in nanoseconds (all zero before the first event).
    pub latency_count: u64,
    pub latency_p50_ns: u64,
    pub latency_p90_ns: u64,
    pub latency_p99_ns: u64,
    pub latency_p999_ns: u64,
    pub latency_max_ns: u64,
    /// Shards taking traffic now (`num_shards` says the same).
    pub active_shards: u32,
    /// The most shards the bus may have (`max_shards`, or `num_shards` when static).
    pub max_shards: u32,
    /// Shard-count changes completed.
    pub scale_changes: u64,
    /// 1 while a change has not completed.
    pub scale_changing: u32,
}

/// One shard's counters.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct cl_shard_stats {
    pub shard: u32,
    /// Core the shard thread is pinned to, or -1.
    pub pinned_core: i32,
    /// 1 when pinning was asked for and failed.
    pub pinning_failed: i32,
    pub accepted: u64,
    pub written: u64,
    pub failed: u64,
    pub batches_sealed: u64,
    pub next_sequence: u64,
    pub ring_fill_bytes: u64,
    pub ring_fill_peak_bytes: u64,
    pub ring_capacity_bytes: u64,
    /// `CL_SHARD_ACTIVE`, `CL_SHARD_DRAINING` or `CL_SHARD_RETIRED`.
    pub phase: i32,
    /// Time the shard thread spent draining, nanoseconds.
    pub busy_ns: u64,
}

pub(crate) fn fill_stats(s: &Stats, num_shards: u32) -> cl_stats {
    cl_stats {
        accepted: s.accepted,
        written: s.written,
        failed: s.failed.total(),
        refused: s.refused.total(),
        refused_full: s.refused.full,
        refused_dropped: s.refused.dropped,
        refused_sampled_out: s.refused.sampled_out,
        refused_timed_out: s.refused.timed_out,
        refused_shutting_down: s.refused.shutting_down,
        refused_too_large: s.refused.too_large,
        refused_invalid: s.refused.invalid,
        failed_transient: s.failed.transient,
        failed_timeout: s.failed.timeout,
        failed_backpressure: s.failed.backpressure,
        failed_fatal: s.failed.fatal,
        failed_config: s.failed.config,
        failed_shutdown: s.failed.shutdown,
        batches_written: s.batches_written,
        batches_failed: s.batches_failed,
        retries: s.retries,
        deadline_overruns: s.deadline_overruns,
        latency_count: s.latency.count,
        latency_p50_ns: s.latency.p50_ns,
        latency_p90_ns: s.latency.p90_ns,
        latency_p99_ns: s.latency.p99_ns,
        latency_p999_ns: s.latency.p999_ns,
        latency_max_ns: s.latency.max_ns,
        producers: s.producers as u32,
        num_shards,
        active_shards: s.scaling.active_shards,
        max_shards: s.scaling.max_shards,
        scale_changes: s.scaling.changes,
        scale_changing: u32::from(s.scaling.changing),
    }
}

/// Reads every counter of the bus. Thread-safe.
///
/// # Safety
/// `bus` must be a handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_bus_stats(bus: *const cl_bus, out: *mut cl_stats) -> i32 {
    guard(|| {
        crate::require(out, "out")?;
        let bus = BUSES.get(bus, "bus")?;
        let stats = fill_stats(&bus.stats(), bus.num_shards());
        // SAFETY: caller contract.
        unsafe { write_out(out, stats, "out") }
    })
}

/// Reads one shard's counters (`CL_ERR_OUT_OF_RANGE` for a shard id the bus has never
/// run). Retired shards keep their counters. Thread-safe.
///
/// # Safety
/// `bus` must be a handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cl_bus_shard_stats(
    bus: *const cl_bus,
    shard: u32,
    out: *mut cl_shard_stats,
) -> i32 {
    guard(|| {
        crate::require(out, "out")?;
        let bus = BUSES.get(bus, "bus")?;
        let stats = bus.stats();
        let s = stats.shards.get(shard as usize).ok_or_else(|| {
            Failure::new(
                Status::OutOfRange,
                format!("shard {shard} does not exist (0..{})", stats.shards.len()),
            )
        })?;
        let (pinned_core, pinning_failed) = match s.pinning {
            Pinning::Core(c) => (c as i32, 0),
            Pinning::Failed(_) => (-1, 1),
            Pinning::Disabled | Pinning::Pending => (-1, 0),
        };
        let value = cl_shard_stats {
            shard,
            pinned_core,
            pinning_failed,
            accepted: s.accepted,
            written: s.written,
            failed: s.failed,
            batches_sealed: s.batches_sealed,
            next_sequence: s.next_sequence,
            ring_fill_bytes: s.ring_fill_bytes,
            ring_fill_peak_bytes: s.ring_fill_peak_bytes,
            ring_capacity_bytes: s.ring_capacity_bytes,
            phase: match s.phase {
                ShardPhase::Active => 0,
                ShardPhase::Draining => 1,
                ShardPhase::Retired | ShardPhase::Unused => 2,
            },
            busy_ns: s.busy_ns,
        };
        // SAFETY: caller contract.
        unsafe { write_out(out, value, "out") }
    })
}
