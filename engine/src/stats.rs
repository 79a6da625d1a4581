//! Counters: what producers, shard threads and the I/O thread report.
//!
//! Each counter has exactly one writer (a producer, a shard thread, or the I/O thread),
//! which bumps it with a load and a store, never a contended read-modify-write. A
//! [`Stats`] read sums them. While events move, the parts of a read are not one
//! consistent snapshot; once the bus is quiescent (after `flush` or `shutdown`),
//! `accepted == written + failed` holds exactly.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use crate::error::RefusalReason;
use crate::scale::{ScalingStats, ShardPhase};
use crate::shard::pinning::Pinning;
use corelane_io::ErrorKind;

/// A counter with a single writer.
#[inline(always)]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// A counter on a cache line of its own, so that a producer's hot counter never shares
/// a line with memory another thread writes.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct PaddedCounter(pub(crate) AtomicU64);

impl std::ops::Deref for PaddedCounter {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        &self.0
    }
}

/// One producer's counters, summed into [`Stats`].
#[derive(Debug)]
pub(crate) struct ProducerCounters {
    /// Accepted events per shard.
    pub(crate) accepted: Box<[PaddedCounter]>,
    /// Refusals by [`RefusalReason::index`].
    pub(crate) refused: [AtomicU64; 7],
}

impl ProducerCounters {
    pub(crate) fn new(num_shards: usize) -> Self {
        ProducerCounters {
            accepted: (0..num_shards).map(|_| PaddedCounter::default()).collect(),
            refused: Default::default(),
        }
    }

    /// Adds this producer's counts into `into`.
    pub(crate) fn add_to(&self, into: &mut ProducerTotals) {
        for (total, c) in into.accepted.iter_mut().zip(self.accepted.iter()) {
            *total += c.load(Ordering::Acquire);
        }
        for (total, c) in into.refused.iter_mut().zip(self.refused.iter()) {
            *total += c.load(Ordering::Acquire);
        }
    }
}

/// Percentiles of the time from ingest (the shard's insertion timestamp) to the
/// adapter's acknowledgement, recorded on the I/O thread for every written event. All
/// zero before the first event. Values are within 1 % (two significant digits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Events measured.
    pub count: u64,
    /// Median, nanoseconds.
    pub p50_ns: u64,
    /// 90th percentile, nanoseconds.
    pub p90_ns: u64,
    /// 99th percentile, nanoseconds.
    pub p99_ns: u64,
    /// 99.9th percentile, nanoseconds.
    pub p999_ns: u64,
    /// Largest, nanoseconds.
    pub max_ns: u64,
}

/// The four totals a completion poller needs, read without a lock or an allocation
/// ([`Bus::totals`](crate::Bus::totals)). At quiescence `accepted == written + failed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Events producers put into rings.
    pub accepted: u64,
    /// Events the adapter acknowledged.
    pub written: u64,
    /// Events given up on, all reasons together.
    pub failed: u64,
    /// Ingests refused, all reasons together.
    pub refused: u64,
}

impl Totals {
    /// Accepted events not yet written or counted failed.
    pub fn in_flight(&self) -> u64 {
        self.accepted
            .saturating_sub(self.written)
            .saturating_sub(self.failed)
    }
}

/// Plain sums of producer counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProducerTotals {
    pub(crate) accepted: Vec<u64>,
    pub(crate) refused: [u64; 7],
}

impl ProducerTotals {
    pub(crate) fn new(num_shards: usize) -> Self {
        ProducerTotals {
            accepted: vec![0; num_shards],
            refused: [0; 7],
        }
    }
}

/// What a shard thread publishes about itself.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct ShardState {
    pub(crate) ring_fill_bytes: AtomicU64,
    pub(crate) ring_fill_peak_bytes: AtomicU64,
    pub(crate) pinning: AtomicU64,
    pub(crate) next_sequence: AtomicU64,
    pub(crate) batches_sealed: AtomicU64,
    pub(crate) rings: AtomicU64,
    pub(crate) exited: AtomicBool,
    /// Set by a scale change: drain to empty, write, and exit.
    pub(crate) retire: AtomicBool,
    /// A [`ShardPhase`], encoded.
    pub(crate) phase: AtomicU8,
    /// Nanoseconds spent in drain passes that moved events.
    pub(crate) busy_ns: AtomicU64,
}

impl ShardState {
    pub(crate) fn new(next_sequence: u64, phase: ShardPhase) -> Self {
        ShardState {
            retire: AtomicBool::new(false),
            phase: AtomicU8::new(phase.encode()),
            busy_ns: AtomicU64::new(0),
            ring_fill_bytes: AtomicU64::new(0),
            ring_fill_peak_bytes: AtomicU64::new(0),
            pinning: AtomicU64::new(Pinning::Pending.encode()),
            next_sequence: AtomicU64::new(next_sequence),
            batches_sealed: AtomicU64::new(0),
            rings: AtomicU64::new(0),
            exited: AtomicBool::new(false),
        }
    }
}

/// Refused ingests by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refused {
    /// Ring full under `Backpressure::Fail` (or a sampled-in event that found no room).
    pub full: u64,
    /// Dropped under `Backpressure::DropNewest`.
    pub dropped: u64,
    /// Refused by `Backpressure::Sample`.
    pub sampled_out: u64,
    /// Timed out under `Backpressure::Block`.
    pub timed_out: u64,
    /// Refused because the bus was shutting down.
    pub shutting_down: u64,
    /// Larger than `max_event_bytes`.
    pub too_large: u64,
    /// Invalid JSON or a shard the bus does not have.
    pub invalid: u64,
}

impl Refused {
    fn from_counts(c: [u64; 7]) -> Self {
        let at = |r: RefusalReason| c[r.index()];
        Refused {
            full: at(RefusalReason::Full),
            dropped: at(RefusalReason::Dropped),
            sampled_out: at(RefusalReason::SampledOut),
            timed_out: at(RefusalReason::TimedOut),
            shutting_down: at(RefusalReason::ShuttingDown),
            too_large: at(RefusalReason::TooLarge),
            invalid: at(RefusalReason::Invalid),
        }
    }

    /// Each reason with its count, named as in logs and metrics (`"sampled_out"`).
    pub fn by_reason(&self) -> [(&'static str, u64); 7] {
        [
            ("full", self.full),
            ("dropped", self.dropped),
            ("sampled_out", self.sampled_out),
            ("timed_out", self.timed_out),
            ("shutting_down", self.shutting_down),
            ("too_large", self.too_large),
            ("invalid", self.invalid),
        ]
    }

    /// All refusals together.
    pub fn total(&self) -> u64 {
        self.full
            + self.dropped
            + self.sampled_out
            + self.timed_out
            + self.shutting_down
            + self.too_large
            + self.invalid
    }
}

/// Accepted events the I/O thread gave up on, by the kind of the last adapter error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failed {
    /// Retryable failures that did not pass within `adapter_retries`.
    pub transient: u64,
    /// Timeouts that did not pass within `adapter_retries`.
    pub timeout: u64,
    /// Backpressure that did not pass within `adapter_retries`.
    pub backpressure: u64,
    /// Fatal adapter errors (and adapter panics).
    pub fatal: u64,
    /// Adapter configuration errors.
    pub config: u64,
    /// The adapter was shut down.
    pub shutdown: u64,
}

impl Failed {
    fn from_counts(c: [u64; 6]) -> Self {
        let at = |k: ErrorKind| c[k.index()];
        Failed {
            transient: at(ErrorKind::Transient),
            timeout: at(ErrorKind::Timeout),
            backpressure: at(ErrorKind::Backpressure),
            fatal: at(ErrorKind::Fatal),
            config: at(ErrorKind::Config),
            shutdown: at(ErrorKind::Shutdown),
        }
    }

    /// Each reason with its count, named as the error kinds are (`"transient"`).
    pub fn by_reason(&self) -> [(&'static str, u64); 6] {
        [
            (ErrorKind::Transient.as_str(), self.transient),
            (ErrorKind::Timeout.as_str(), self.timeout),
            (ErrorKind::Backpressure.as_str(), self.backpressure),
            (ErrorKind::Fatal.as_str(), self.fatal),
            (ErrorKind::Config.as_str(), self.config),
            (ErrorKind::Shutdown.as_str(), self.shutdown),
        ]
    }

    /// All failures together.
    pub fn total(&self) -> u64 {
        self.transient + self.timeout + self.backpressure + self.fatal + self.config + self.shutdown
    }
}

/// One shard's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardStats {
    /// The shard.
    pub shard: u32,
    /// Events producers put into this shard's rings.
    pub accepted: u64,
    /// Events the adapter acknowledged.
    pub written: u64,
    /// Events given up on.
    pub failed: u64,
    /// Batches sealed.
    pub batches_sealed: u64,
    /// The sequence number the next sealed batch starts at.
    pub next_sequence: u64,
    /// Fullest ring at the shard's last drain pass, in bytes.
    pub ring_fill_bytes: u64,
    /// Fullest any ring has been at a drain pass, in bytes.
    pub ring_fill_peak_bytes: u64,
    /// Capacity of each ring, in bytes.
    pub ring_capacity_bytes: u64,
    /// Producer rings the shard drains: one per live producer, plus those of dropped
    /// producers that still hold events (freed on the pass that finds them empty).
    pub rings: u64,
    /// Where the shard thread is pinned.
    pub pinning: Pinning,
    /// Ingest → acknowledged for this shard's events.
    pub latency: Latency,
    /// Taking traffic, draining, or retired (a retired shard's counters stay).
    pub phase: ShardPhase,
    /// Time its thread spent in drain passes that moved events, nanoseconds.
    pub busy_ns: u64,
}

impl ShardStats {
    /// `ring_fill_bytes` as a fraction of capacity, 0.0..=1.0.
    pub fn ring_fill(&self) -> f64 {
        self.ring_fill_bytes as f64 / self.ring_capacity_bytes as f64
    }
}

/// A reading of every counter of a bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Ingests that returned `Ok` (the event went into a ring).
    pub accepted: u64,
    /// Ingests refused, by reason.
    pub refused: Refused,
    /// Accepted events the adapter acknowledged.
    pub written: u64,
    /// Accepted events given up on after retries, by reason.
    pub failed: Failed,
    /// Batches the adapter acknowledged.
    pub batches_written: u64,
    /// Batches given up on.
    pub batches_failed: u64,
    /// Batch write retries.
    pub retries: u64,
    /// Adapter writes that succeeded after their deadline.
    pub deadline_overruns: u64,
    /// Live producers (thread-local ones included).
    pub producers: usize,
    /// Ingest → acknowledged, all shards together, since the bus started or the last
    /// [`Bus::take_latency`](crate::Bus::take_latency).
    pub latency: Latency,
    /// Per shard id that has ever had a thread (active, draining or retired).
    pub shards: Vec<ShardStats>,
    /// The shard count and the changes made to it.
    pub scaling: ScalingStats,
}

impl Stats {
    /// Accepted events not yet written or failed (0 at quiescence).
    pub fn in_flight(&self) -> u64 {
        self.accepted
            .saturating_sub(self.written)
            .saturating_sub(self.failed.total())
    }
}

pub(crate) struct StatsParts<'a> {
    pub(crate) totals: ProducerTotals,
    pub(crate) producers: usize,
    pub(crate) shard_states: &'a [ShardState],
    pub(crate) io: &'a crate::io::IoHandle,
    pub(crate) ring_capacity_bytes: usize,
    pub(crate) scaling: ScalingStats,
}

impl StatsParts<'_> {
    pub(crate) fn assemble(self) -> Stats {
        let mut stats = Stats {
            accepted: self.totals.accepted.iter().sum(),
            refused: Refused::from_counts(self.totals.refused),
            written: 0,
            failed: Failed::default(),
            batches_written: 0,
            batches_failed: 0,
            retries: 0,
            deadline_overruns: 0,
            producers: self.producers,
            latency: Latency::default(),
            shards: Vec::with_capacity(self.shard_states.len()),
            scaling: self.scaling,
        };
        let (shard_latency, overall) = self.io.latency().summaries();
        stats.latency = overall;
        let mut failed = [0u64; 6];
        for (shard, state) in self.shard_states.iter().enumerate() {
            let io = self.io.counters(shard as u32).snapshot();
            stats.written += io.written_events;
            for (t, f) in failed.iter_mut().zip(io.failed_events) {
                *t += f;
            }
            stats.batches_written += io.written_batches;
            stats.batches_failed += io.failed_batches;
            stats.retries += io.retries;
            stats.deadline_overruns += io.deadline_overruns;
            let phase = ShardPhase::decode(state.phase.load(Ordering::Acquire));
            if phase == ShardPhase::Unused {
                continue;
            }
            stats.shards.push(ShardStats {
                phase,
                busy_ns: state.busy_ns.load(Ordering::Relaxed),
                shard: shard as u32,
                accepted: self.totals.accepted[shard],
                written: io.written_events,
                failed: io.failed_total(),
                batches_sealed: state.batches_sealed.load(Ordering::Relaxed),
                next_sequence: state.next_sequence.load(Ordering::Relaxed),
                ring_fill_bytes: state.ring_fill_bytes.load(Ordering::Relaxed),
                rings: state.rings.load(Ordering::Relaxed),
                ring_fill_peak_bytes: state.ring_fill_peak_bytes.load(Ordering::Relaxed),
                ring_capacity_bytes: self.ring_capacity_bytes as u64,
                pinning: Pinning::decode(state.pinning.load(Ordering::Relaxed)),
                latency: shard_latency.get(shard).copied().unwrap_or_default(),
            });
        }
        stats.failed = Failed::from_counts(failed);
        stats
    }
}
