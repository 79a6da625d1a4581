//! The builder shared by [`Config::builder`](crate::config::settings::Config::builder) and
//! [`Bus::builder`](crate::Bus::builder).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use corelane_io::Adapter;

use crate::Bus;
use crate::config::scaling::ScalingPolicy;
use crate::config::settings::{Backpressure, BatchConfig, Config, CorePlan, WaitStrategy};
use crate::config::validate::ConfigError;
use crate::error::BuildError;

/// Collects settings, then validates them: [`build`](Self::build) starts a bus,
/// [`build_config`](Self::build_config) returns the [`Config`].
///
/// # Examples
///
/// ```
/// use corelane::{BatchConfig, Bus};
/// use corelane::adapters::MemoryAdapter;
///
/// let bus = Bus::builder()
///     .num_shards(2)
///     .batch(BatchConfig::low_latency())
///     .build(MemoryAdapter::new())
///     .unwrap();
/// assert_eq!(bus.num_shards(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct BusBuilder {
    config: Config,
    max_event_bytes_set: bool,
    low_latency: bool,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$name = value;
                self
            }
        )*
    };
}

impl BusBuilder {
    /// A builder holding [`Config::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `max_event_bytes` follow the ring size again, as when it was never set: a
    /// JSON configuration that leaves the key out gets the same default as a builder.
    pub(crate) fn default_max_event_bytes(mut self) -> Self {
        self.config.max_event_bytes = Config::default().max_event_bytes;
        self.max_event_bytes_set = false;
        self
    }

    /// A builder starting from `config`.
    pub fn from_config(config: Config) -> Self {
        BusBuilder {
            config,
            max_event_bytes_set: true,
            low_latency: false,
        }
    }

    setters! {
        /// See [`Config::num_shards`].
        num_shards: usize,
        /// See [`Config::cores`].
        cores: CorePlan,
        /// See [`Config::io_core`].
        io_core: Option<usize>,
        /// See [`Config::ring_capacity_bytes`].
        ring_capacity_bytes: usize,
        /// See [`Config::backpressure`].
        backpressure: Backpressure,
        /// See [`Config::batch`].
        batch: BatchConfig,
        /// See [`Config::wait_strategy`].
        wait_strategy: WaitStrategy,
        /// See [`Config::park_after`].
        park_after: Duration,
        /// See [`Config::adapter_timeout`].
        adapter_timeout: Duration,
        /// See [`Config::adapter_retries`].
        adapter_retries: u32,
        /// See [`Config::retry_backoff_initial`].
        retry_backoff_initial: Duration,
        /// See [`Config::retry_backoff_max`].
        retry_backoff_max: Duration,
        /// See [`Config::max_inflight_batches`].
        max_inflight_batches: usize,
        /// See [`Config::shutdown_timeout`].
        shutdown_timeout: Duration,
    }

    /// The low-latency profile ([`Config::low_latency`]), fitted to the final shard
    /// count when the bus is built. It sets `batch` and `wait_strategy`, over any value
    /// given for them, and `io_wait_strategy` and `io_core` unless they are given.
    pub fn low_latency(mut self) -> Self {
        self.low_latency = true;
        self
    }

    /// See [`Config::max_event_bytes`].
    pub fn max_event_bytes(mut self, value: usize) -> Self {
        self.config.max_event_bytes = value;
        self.max_event_bytes_set = true;
        self
    }

    /// The configuration with defaults that depend on other fields filled in: unless set
    /// explicitly, `max_event_bytes` is at most a quarter of the ring.
    fn resolved(mut self) -> Config {
        if self.low_latency {
            self.config.apply_low_latency();
        }
        if !self.max_event_bytes_set {
            self.config.max_event_bytes = self
                .config
                .max_event_bytes
                .min(self.config.ring_capacity_bytes / 4)
                .max(1);
        }
        self.config
    }

    /// See [`Config::io_wait_strategy`]: how the I/O thread waits when idle.
    pub fn io_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.config.io_wait_strategy = Some(strategy);
        self
    }

    /// See [`Config::max_shards`]: makes the bus scalable up to `max_shards`.
    pub fn max_shards(mut self, max_shards: usize) -> Self {
        self.config.max_shards = Some(max_shards);
        self
    }

    /// See [`Config::scaling`]: the bus scales itself within the policy's bounds.
    pub fn scaling(mut self, policy: ScalingPolicy) -> Self {
        self.config.scaling = Some(policy);
        self
    }

    /// See [`Config::producer_nonce_path`].
    pub fn producer_nonce_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.producer_nonce_path = Some(path.into());
        self
    }

    /// The configuration so far, validated.
    pub fn build_config(self) -> Result<Config, ConfigError> {
        let config = self.resolved();
        config.validate()?;
        Ok(config)
    }

    /// Validates the configuration and starts a bus writing to `adapter`.
    pub fn build(self, adapter: impl Adapter + 'static) -> Result<Bus, BuildError> {
        Bus::new(self.resolved(), Arc::new(adapter))
    }

    /// Like [`build`](Self::build) for an adapter already behind an `Arc`.
    pub fn build_shared(self, adapter: Arc<dyn Adapter>) -> Result<Bus, BuildError> {
        Bus::new(self.resolved(), adapter)
    }
}

impl Config {
    /// A builder starting from the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use corelane::{Config, WaitStrategy};
    ///
    /// let config = Config::builder()
    ///     .num_shards(2)
    ///     .wait_strategy(WaitStrategy::SpinThenYield)
    ///     .build_config()
    ///     .unwrap();
    /// assert_eq!(config.num_shards, 2);
    ///
    /// let err = Config::builder().ring_capacity_bytes(5000).build_config().unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid configuration: ring_capacity_bytes: 5000 is not a power of two"
    /// );
    /// ```
    pub fn builder() -> BusBuilder {
        BusBuilder::new()
    }
}
