//! Configuration: a plain struct, a builder, and validation that names every problem.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::scaling::ScalingPolicy;

/// Most shards a bus may have.
pub const MAX_SHARDS: usize = 1024;
/// Core ids must be below this (the size of a Linux CPU set).
pub(crate) const MAX_CORE_ID: usize = 1024;
/// Smallest ring a producer may have towards one shard.
pub const MIN_RING_CAPACITY_BYTES: usize = 4 * 1024;
/// Largest ring a producer may have towards one shard.
pub const MAX_RING_CAPACITY_BYTES: usize = 1 << 30;

/// Everything a bus can be told. Build one with [`Config::builder`] (which validates) or
/// start from [`Config::default`] and call [`Config::validate`].
///
/// Memory: every producer owns one ring per shard, so a bus with `P` producers holds
/// `P × num_shards × ring_capacity_bytes` bytes of rings, plus up to
/// `num_shards × max_inflight_batches` batch buffers.
///
/// Its JSON form (the C ABI's and the CLI's configuration, see [`BusJson`]) is derived
/// from this struct: the same names, durations as integers with the unit in the key
/// (`adapter_timeout_ms`), unknown keys refused, absent keys at their defaults.
///
/// [`BusJson`]: crate::config::BusJson
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Number of shards, each with its own thread. Default: the number of cores this
    /// process may run on. Range 1..=1024.
    pub num_shards: usize,
    /// Which core each shard thread is pinned to. Default: [`CorePlan::Spread`].
    pub cores: CorePlan,
    /// Core the I/O thread is pinned to (below 1024, the size of a Linux CPU set).
    /// Default: `None`, unpinned; the low-latency profile fills it with a core no shard
    /// is pinned to, when there is one.
    pub io_core: Option<usize>,
    /// Capacity of each producer→shard ring in bytes. A power of two,
    /// 4 KiB..=1 GiB. Default: 64 KiB.
    pub ring_capacity_bytes: usize,
    /// Largest event payload accepted, in bytes. 1..=`ring_capacity_bytes - 4` (each
    /// record in a ring carries a 4-byte length). Default: 16 KiB; the builder lowers
    /// that default to a quarter of `ring_capacity_bytes` for smaller rings (a value set
    /// explicitly is kept and validated).
    pub max_event_bytes: usize,
    /// What an ingest does when its ring is full. Default: [`Backpressure::Fail`].
    pub backpressure: Backpressure,
    /// When a shard seals the batch it is filling. Default: [`BatchConfig::default`].
    pub batch: BatchConfig,
    /// How shard threads wait when their rings are empty. Default:
    /// [`WaitStrategy::SpinThenYield`].
    pub wait_strategy: WaitStrategy,
    /// How long an idle shard thread under [`WaitStrategy::SpinThenYield`] keeps
    /// yielding after its last work before it parks. Events that arrive within it are
    /// taken in microseconds without a wake-up; the price is the yielding thread's CPU
    /// (up to a core per shard while events keep coming at least this often). The I/O
    /// thread uses it too when `io_wait_strategy` is `SpinThenYield`; other strategies
    /// ignore it. 0..=1 s. Default: 1 ms.
    #[serde(rename = "park_after_us", with = "crate::config::micros")]
    pub park_after: Duration,
    /// How the I/O thread waits when it has nothing to do: `BusySpin` checks without
    /// ever sleeping (yielding between checks), `SpinThenYield` yields for `park_after`
    /// and then sleeps until a shard wakes it, `Backoff` sleeps after a brief spin.
    /// A thread that is awake takes a sealed batch without a wake-up (on a VM, a
    /// wake-up costs microseconds), at the price of its CPU. Default: `None`, which
    /// is `BusySpin` when `wait_strategy` is `BusySpin` and `Backoff` otherwise; the
    /// low-latency profile fills it with `SpinThenYield` when it picks `SpinThenYield`
    /// shards.
    pub io_wait_strategy: Option<WaitStrategy>,
    /// Deadline of each adapter call. 1 ms..=1 h. Default: 5 s.
    #[serde(rename = "adapter_timeout_ms", with = "crate::config::millis")]
    pub adapter_timeout: Duration,
    /// Retries of a batch after a retryable adapter error (attempts = retries + 1).
    /// 0..=1000. Default: 5.
    pub adapter_retries: u32,
    /// Delay before the first retry; doubles per attempt, with jitter. 1 ms..=1 min.
    /// Default: 100 ms.
    #[serde(rename = "retry_backoff_initial_ms", with = "crate::config::millis")]
    pub retry_backoff_initial: Duration,
    /// Cap on the retry delay. At least `retry_backoff_initial`, at most 10 min.
    /// Default: 5 s.
    #[serde(rename = "retry_backoff_max_ms", with = "crate::config::millis")]
    pub retry_backoff_max: Duration,
    /// Batch buffers one shard may have sealed and not yet written. When all are in
    /// flight the shard stops draining its rings and producers see backpressure.
    /// 1..=65536. Default: 64.
    pub max_inflight_batches: usize,
    /// How long `shutdown()` and `Drop` wait for producers, shard threads and the
    /// adapter before giving up (threads still running are then detached).
    /// 1 ms..=1 h. Default: 30 s.
    #[serde(rename = "shutdown_timeout_ms", with = "crate::config::millis")]
    pub shutdown_timeout: Duration,
    /// File holding the producer nonce (the first part of every dedup id). `None`: a
    /// random nonce per bus. With a path, the nonce is read from the file, or created
    /// and stored there, so dedup ids survive restarts. Default: `None`.
    pub producer_nonce_path: Option<PathBuf>,
    /// Most shards [`Bus::scale_to`](crate::Bus::scale_to) may reach. Setting it (or
    /// `scaling`) makes the bus scalable: keys then map to shards through a table of
    /// 4,096 buckets, so a change moves only the keys it must. `num_shards..=1024`. Default:
    /// `None` (a static bus of `num_shards`, routed by multiply-shift).
    pub max_shards: Option<usize>,
    /// Automatic scaling ([`ScalingPolicy`]): a monitor thread adds and retires shards
    /// within the policy's bounds. Default: `None`.
    pub scaling: Option<ScalingPolicy>,
}

/// Which core each shard thread is pinned to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CorePlan {
    /// Shard `i` on the `i mod n`-th of the `n` cores this process may use.
    #[default]
    Spread,
    /// Do not pin.
    Disabled,
    /// Shard `i` on core `cores[i mod cores.len()]` (core ids as the OS numbers them,
    /// below 1024, the size of a Linux CPU set).
    Cores(Vec<usize>),
}

impl CorePlan {
    /// The core each of `num_shards` shards is pinned to (`None`: not pinned) on a
    /// machine whose allowed cores are `allowed`.
    pub(crate) fn cores_on(&self, num_shards: usize, allowed: &[usize]) -> Vec<Option<usize>> {
        match self {
            CorePlan::Disabled => vec![None; num_shards],
            CorePlan::Cores(cores) => (0..num_shards)
                .map(|i| cores.get(i % cores.len().max(1)).copied())
                .collect(),
            CorePlan::Spread if allowed.is_empty() => vec![None; num_shards],
            CorePlan::Spread => (0..num_shards)
                .map(|i| Some(allowed[i % allowed.len()]))
                .collect(),
        }
    }
}

/// What an ingest does when the ring to its shard has no room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backpressure {
    /// Refuse at once and hand the event back (`IngestError::Full`).
    #[default]
    Fail,
    /// Drop the new event, count it, and hand it back (`IngestError::Dropped`).
    DropNewest,
    /// Wait for room up to `timeout`, then refuse (`IngestError::TimedOut`).
    Block {
        /// How long to wait for room. 1 µs..=1 h.
        timeout: Duration,
    },
    /// While the ring is filled above `high_water_pct` percent, keep exactly one event
    /// in `keep_one_in` and refuse the rest as `IngestError::SampledOut`; an event that
    /// is kept but finds the ring full is refused as `Full`.
    Sample {
        /// Keep one event in this many. 2..=1_000_000.
        keep_one_in: u32,
        /// Fill level, in percent of the ring, above which sampling starts. 1..=100.
        high_water_pct: u8,
    },
}

impl Backpressure {
    /// `Sample` keeping one in `keep_one_in` above half a ring.
    pub fn sample(keep_one_in: u32) -> Self {
        Backpressure::Sample {
            keep_one_in,
            high_water_pct: 50,
        }
    }

    /// `Block` with the given timeout.
    pub fn block(timeout: Duration) -> Self {
        Backpressure::Block { timeout }
    }
}

/// When a shard seals its open batch and hands it to the I/O thread: when it holds
/// `max_events` events, when it holds `max_bytes` payload bytes, or when its oldest event
/// is `max_delay` old — whichever comes first. `max_delay` of zero seals at the end of
/// every drain pass ("whatever was waiting goes out together").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Events per batch at most. 1..=1_048_576.
    pub max_events: usize,
    /// Payload bytes per batch at most (a single larger event still forms a batch of
    /// one). 1..=1 GiB.
    pub max_bytes: usize,
    /// Age of the oldest event at which the batch is sealed. 0..=60 s.
    pub max_delay: Duration,
}

impl Default for BatchConfig {
    /// Smart batching: 1,024 events or 1 MiB at most, no delay. A batch holds what one
    /// drain pass found waiting, so it is as large as the backlog: one event when events
    /// trickle in (delivered at once), full batches under load.
    fn default() -> Self {
        BatchConfig {
            max_events: 1024,
            max_bytes: 1 << 20,
            max_delay: Duration::ZERO,
        }
    }
}

impl BatchConfig {
    /// Seal at the end of every drain pass: 256 events, 256 KiB, no delay.
    pub fn low_latency() -> Self {
        BatchConfig {
            max_events: 256,
            max_bytes: 256 << 10,
            max_delay: Duration::ZERO,
        }
    }

    /// Fill big batches: 8,192 events, 4 MiB, 5 ms.
    pub fn high_throughput() -> Self {
        BatchConfig {
            max_events: 8192,
            max_bytes: 4 << 20,
            max_delay: Duration::from_millis(5),
        }
    }
}

/// How a shard thread waits when its rings are empty. In JSON: `"busy_spin"`,
/// `"spin_then_yield"`, `"backoff"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitStrategy {
    /// Spin without pause: lowest latency; the thread burns its core. The I/O thread
    /// spins too, yielding between checks when idle (give it a core, or share one with
    /// a thread that blocks).
    BusySpin,
    /// Spin a little, then `yield` to the scheduler between checks for
    /// [`Config::park_after`] (1 ms by default), then park until a producer wakes the
    /// thread. The default: events that keep coming find the thread awake.
    #[default]
    SpinThenYield,
    /// Spin a little, yield 16 times, then park: the least CPU, but after every pause
    /// the next event pays a wake-up (tens of µs on a VM).
    Backoff,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            num_shards: available_cores(),
            cores: CorePlan::Spread,
            io_core: None,
            ring_capacity_bytes: 64 << 10,
            max_event_bytes: 16 << 10,
            backpressure: Backpressure::Fail,
            batch: BatchConfig::default(),
            wait_strategy: WaitStrategy::SpinThenYield,
            park_after: Duration::from_millis(1),
            io_wait_strategy: None,
            adapter_timeout: Duration::from_secs(5),
            adapter_retries: 5,
            retry_backoff_initial: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(5),
            max_inflight_batches: 64,
            shutdown_timeout: Duration::from_secs(30),
            producer_nonce_path: None,
            max_shards: None,
            scaling: None,
        }
    }
}

impl Config {
    /// The low-latency profile: the defaults, with batches sealed at the end of every
    /// drain pass ([`BatchConfig::low_latency`]) and shard threads that never sleep in
    /// timed steps: [`WaitStrategy::BusySpin`] when the machine has a core for every
    /// shard (up to `max_shards` on a scalable bus), the I/O thread and a producer,
    /// [`WaitStrategy::SpinThenYield`] otherwise (spinning threads that outnumber cores
    /// delay each other by whole time slices). With `SpinThenYield` shards the I/O
    /// thread lingers too: the profile fills an unset `io_wait_strategy` with
    /// `SpinThenYield`. And unless pinning is disabled, it fills an unset `io_core` with
    /// the first allowed core that no shard (up to `max_shards`) is pinned to, when
    /// there is one. Measured on a 2-vCPU VM (docs/benchmarks.md), ingest → written
    /// p50: 1.3–2.1 µs with the I/O thread lingering on the other core, 1.4–6.4 µs
    /// with it lingering unpinned, 6–8 µs with it woken from epoll for each batch.
    ///
    /// This constructor fits the profile to the default shard count, one per core,
    /// which leaves no core for the I/O thread and a producer: it always picks
    /// `SpinThenYield`. [`BusBuilder::low_latency`](crate::BusBuilder::low_latency)
    /// fits it to the shard count the builder ends with.
    ///
    /// # Examples
    ///
    /// ```
    /// use corelane::{BatchConfig, Config};
    ///
    /// let config = Config::low_latency();
    /// assert_eq!(config.batch, BatchConfig::low_latency());
    /// ```
    pub fn low_latency() -> Config {
        let mut config = Config::default();
        config.apply_low_latency();
        config
    }

    /// How the I/O thread waits: [`Config::io_wait_strategy`], or what follows from
    /// `wait_strategy` when that is unset.
    pub(crate) fn io_wait(&self) -> WaitStrategy {
        self.io_wait_strategy.unwrap_or(match self.wait_strategy {
            WaitStrategy::BusySpin => WaitStrategy::BusySpin,
            WaitStrategy::SpinThenYield | WaitStrategy::Backoff => WaitStrategy::Backoff,
        })
    }

    /// Applies the low-latency profile to the most shards this configuration may run
    /// ([`Config::shard_slots`]: a scalable bus counts its `max_shards`).
    pub(crate) fn apply_low_latency(&mut self) {
        let allowed = allowed_cores();
        let cores = if allowed.is_empty() {
            available_cores()
        } else {
            allowed.len()
        };
        self.apply_low_latency_on(cores, &allowed);
    }

    /// [`Config::apply_low_latency`] for a machine with `cores` cores, of which this
    /// process may use `allowed` (their ids).
    fn apply_low_latency_on(&mut self, cores: usize, allowed: &[usize]) {
        self.batch = BatchConfig::low_latency();
        self.wait_strategy = if cores >= self.shard_slots() + 2 {
            WaitStrategy::BusySpin
        } else {
            WaitStrategy::SpinThenYield
        };
        // A yielding shard hands its batch to an I/O thread that is still awake, rather
        // than waking one from epoll (tens of µs on a VM). An explicit choice stands.
        if self.io_wait_strategy.is_none() && self.wait_strategy == WaitStrategy::SpinThenYield {
            self.io_wait_strategy = Some(WaitStrategy::SpinThenYield);
        }
        // The I/O thread on a core no shard is pinned to: a batch then crosses to a
        // thread already running instead of waiting for the shard to yield the core.
        if self.io_core.is_none() && self.cores != CorePlan::Disabled {
            let taken = self.cores.cores_on(self.shard_slots(), allowed);
            self.io_core = allowed
                .iter()
                .copied()
                .find(|&core| core < MAX_CORE_ID && !taken.contains(&Some(core)));
        }
    }

    /// True when the bus can change its shard count (`max_shards` or `scaling` set).
    pub fn is_scalable(&self) -> bool {
        self.max_shards.is_some() || self.scaling.is_some()
    }

    /// The shard ids the bus may ever use: `num_shards`, or the largest of `max_shards`
    /// and the policy's `max_shards` on a scalable bus. The adapter is prepared for all
    /// of them and consumers read all of them.
    pub fn shard_slots(&self) -> usize {
        let policy_max = self.scaling.map_or(0, |p| p.max_shards);
        self.num_shards
            .max(self.max_shards.unwrap_or(0))
            .max(policy_max)
    }

    /// How many threads would spin without ever sleeping, and on how many cores, when
    /// that is more than the machine has: `BusySpin` shard threads (as many as the bus
    /// may run: [`Config::shard_slots`]), and the I/O thread when it spins too.
    pub(crate) fn oversubscribed_spinners(&self) -> Option<(usize, usize)> {
        let cores = available_cores();
        let spinning = |strategy| usize::from(strategy == WaitStrategy::BusySpin);
        let spinners = self.shard_slots() * spinning(self.wait_strategy) + spinning(self.io_wait());
        (self.wait_strategy == WaitStrategy::BusySpin && spinners > cores)
            .then_some((spinners, cores))
    }
}

/// Cores this process may run on (at least 1).
pub(crate) fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The ids of the cores this process may run on, as the OS numbers them (empty when
/// they cannot be read).
pub(crate) fn allowed_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scalable bus may grow to `max_shards`: the warning counts the threads it may
    /// spin then, not the ones it starts with.
    #[test]
    fn busy_spin_counts_the_shards_a_scalable_bus_may_grow_to() {
        let cores = available_cores();
        let config = Config {
            num_shards: 1,
            max_shards: Some(cores + 1),
            wait_strategy: WaitStrategy::BusySpin,
            ..Config::default()
        };
        assert_eq!(config.oversubscribed_spinners(), Some((cores + 2, cores)));
        let fixed = Config {
            max_shards: None,
            ..config.clone()
        };
        let expected = (2 > cores).then_some((2, cores));
        assert_eq!(fixed.oversubscribed_spinners(), expected);
        let yielding = Config {
            wait_strategy: WaitStrategy::SpinThenYield,
            ..config
        };
        assert_eq!(yielding.oversubscribed_spinners(), None);
    }

    /// The profile on an 8-core machine: spinning shards only when every thread that
    /// may spin has a core, counting a scalable bus at its most shards; yielding shards
    /// come with a lingering I/O thread unless one was chosen.
    #[test]
    fn the_low_latency_profile_counts_cores_against_the_most_shards() {
        let fitted = |num_shards, max_shards, io_wait_strategy| {
            let mut config = Config {
                num_shards,
                max_shards,
                io_wait_strategy,
                ..Config::default()
            };
            config.apply_low_latency_on(8, &[0, 1, 2, 3, 4, 5, 6, 7]);
            (config.wait_strategy, config.io_wait_strategy)
        };
        use WaitStrategy::*;
        assert_eq!(fitted(1, None, None), (BusySpin, None));
        assert_eq!(fitted(6, None, None), (BusySpin, None));
        assert_eq!(fitted(7, None, None), (SpinThenYield, Some(SpinThenYield)));
        assert_eq!(fitted(1, Some(6), None), (BusySpin, None));
        assert_eq!(
            fitted(1, Some(7), None),
            (SpinThenYield, Some(SpinThenYield))
        );
        assert_eq!(
            fitted(7, None, Some(Backoff)),
            (SpinThenYield, Some(Backoff))
        );
        assert_eq!(fitted(1, None, Some(Backoff)), (BusySpin, Some(Backoff)));
    }

    /// The profile puts the I/O thread on the first allowed core that no shard the bus
    /// may run is pinned to; none when every core has a shard, when pinning is off, or
    /// when the I/O core was chosen.
    #[test]
    fn the_low_latency_profile_gives_the_io_thread_a_core_of_its_own() {
        let allowed = [4, 5, 6, 7];
        let io_core = |num_shards, max_shards, cores, io_core| {
            let mut config = Config {
                num_shards,
                max_shards,
                cores,
                io_core,
                ..Config::default()
            };
            config.apply_low_latency_on(allowed.len(), &allowed);
            config.io_core
        };
        assert_eq!(io_core(1, None, CorePlan::Spread, None), Some(5));
        assert_eq!(io_core(3, None, CorePlan::Spread, None), Some(7));
        assert_eq!(io_core(1, Some(3), CorePlan::Spread, None), Some(7));
        assert_eq!(io_core(4, None, CorePlan::Spread, None), None);
        assert_eq!(io_core(1, Some(4), CorePlan::Spread, None), None);
        assert_eq!(io_core(1, None, CorePlan::Disabled, None), None);
        assert_eq!(io_core(2, None, CorePlan::Cores(vec![4, 6]), None), Some(5));
        assert_eq!(io_core(1, None, CorePlan::Spread, Some(4)), Some(4));
        // A core id a CPU set cannot hold is never chosen (it would fail validation).
        let mut config = Config {
            num_shards: 1,
            ..Config::default()
        };
        config.apply_low_latency_on(2, &[3, MAX_CORE_ID]);
        assert_eq!(config.io_core, None);
    }
}
