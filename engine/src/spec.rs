//! A bus described in JSON: every [`Config`] field and the adapter choice. Unknown keys
//! are errors, never ignored. Durations carry their unit in the key (`_ms`, `_us`).
//!
//! ```json
//! {
//!   "num_shards": 4,
//!   "cores": "spread",                       // "spread" | "disabled" | [0, 2, 4]
//!   "io_core": 1,
//!   "ring_capacity_bytes": 65536,
//!   "max_event_bytes": 16384,
//!   "backpressure": {"mode": "block", "timeout_ms": 100},
//!   "batch": {"max_events": 256, "max_bytes": 262144, "max_delay_us": 0},   // or "low_latency"
//!   "wait_strategy": "backoff",              // "busy_spin" | "spin_then_yield" | "backoff"
//!   "adapter_timeout_ms": 5000,
//!   "adapter_retries": 5,
//!   "retry_backoff_initial_ms": 100,
//!   "retry_backoff_max_ms": 5000,
//!   "max_inflight_batches": 64,
//!   "shutdown_timeout_ms": 30000,
//!   "producer_nonce_path": "/var/lib/app/nonce",
//!   "adapter": {"type": "file", "dir": "/var/lib/app/events", "fsync": {"interval_ms": 100}}
//! }
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use corelane_adapters::{FileAdapter, FileConfig, FsyncPolicy, MemoryAdapter, NoopAdapter};
use corelane_io::Adapter;
use serde::Deserialize;
use serde_json::Value;

use crate::config::FieldProblem;
use crate::{
    Backpressure, BatchConfig, BuildError, Bus, BusBuilder, ConfigError, CorePlan, WaitStrategy,
};

/// A parsed JSON bus description: the configuration and the adapter to open.
#[derive(Debug, Clone)]
pub struct BusSpec {
    /// The configuration (not yet validated; [`BusSpec::build`] validates).
    pub builder: BusBuilder,
    /// The store.
    pub adapter: AdapterSpec,
}

/// The adapter part of a [`BusSpec`].
#[derive(Debug, Clone, PartialEq)]
pub enum AdapterSpec {
    /// [`NoopAdapter`].
    Noop,
    /// [`MemoryAdapter`], optionally with a per-shard retention limit.
    Memory {
        /// Events kept per shard.
        retention_events: Option<usize>,
    },
    /// [`FileAdapter`].
    File(FileConfig),
    /// `RedisAdapter` (feature `redis`).
    #[cfg(feature = "redis")]
    Redis(corelane_adapters::RedisConfig),
    /// `JetStreamAdapter` (feature `jetstream`).
    #[cfg(feature = "jetstream")]
    JetStream(corelane_adapters::JetStreamConfig),
}

impl AdapterSpec {
    /// Opens the adapter.
    pub fn open(&self) -> Result<Arc<dyn Adapter>, BuildError> {
        Ok(match self {
            AdapterSpec::Noop => Arc::new(NoopAdapter::new()),
            AdapterSpec::Memory {
                retention_events: None,
            } => Arc::new(MemoryAdapter::new()),
            AdapterSpec::Memory {
                retention_events: Some(n),
            } => Arc::new(MemoryAdapter::with_retention(*n)),
            AdapterSpec::File(config) => {
                Arc::new(FileAdapter::open(config.clone()).map_err(|error| {
                    BuildError::Adapter {
                        adapter: "file".into(),
                        error,
                    }
                })?)
            }
            #[cfg(feature = "jetstream")]
            AdapterSpec::JetStream(config) => Arc::new(
                corelane_adapters::JetStreamAdapter::new(config.clone()).map_err(|error| {
                    BuildError::Adapter {
                        adapter: "jetstream".into(),
                        error,
                    }
                })?,
            ),
            #[cfg(feature = "redis")]
            AdapterSpec::Redis(config) => Arc::new(
                corelane_adapters::RedisAdapter::new(config.clone()).map_err(|error| {
                    BuildError::Adapter {
                        adapter: "redis".into(),
                        error,
                    }
                })?,
            ),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    num_shards: Option<usize>,
    cores: Option<Value>,
    io_core: Option<usize>,
    ring_capacity_bytes: Option<usize>,
    max_event_bytes: Option<usize>,
    backpressure: Option<Value>,
    batch: Option<Value>,
    wait_strategy: Option<RawWait>,
    adapter_timeout_ms: Option<u64>,
    adapter_retries: Option<u32>,
    retry_backoff_initial_ms: Option<u64>,
    retry_backoff_max_ms: Option<u64>,
    max_inflight_batches: Option<usize>,
    shutdown_timeout_ms: Option<u64>,
    producer_nonce_path: Option<PathBuf>,
    adapter: Option<RawAdapter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawWait {
    BusySpin,
    SpinThenYield,
    Backoff,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawAdapter {
    // A struct variant: serde ignores unknown keys next to the tag of a unit variant.
    Noop {},
    Memory {
        retention_events: Option<usize>,
    },
    File {
        dir: PathBuf,
        fsync: Option<Value>,
        segment_bytes: Option<u64>,
        retention_bytes: Option<u64>,
        retention_age_ms: Option<u64>,
    },
    Redis {
        url: String,
        prefix: Option<String>,
        max_stream_len: Option<u64>,
        connect_timeout_ms: Option<u64>,
        command_timeout_ms: Option<u64>,
    },
    Jetstream(RawJetStream),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
struct RawJetStream {
    url: String,
    prefix: Option<String>,
    duplicate_window_ms: Option<u64>,
    max_msgs: Option<u64>,
    max_bytes: Option<u64>,
    max_age_ms: Option<u64>,
    replicas: Option<u32>,
    connect_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    max_pending_acks: Option<usize>,
}

fn problem(field: &'static str, message: String) -> ConfigError {
    ConfigError::from_problems(vec![FieldProblem { field, message }])
}

impl BusSpec {
    /// Parses a JSON description. Malformed JSON, unknown keys and values of the wrong
    /// shape are errors naming the key; ranges are checked by [`BusSpec::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corelane::BusSpec;
    ///
    /// let spec = BusSpec::from_json(r#"{"num_shards": 2, "adapter": {"type": "memory"}}"#).unwrap();
    /// let bus = spec.build().unwrap();
    /// assert_eq!(bus.num_shards(), 2);
    ///
    /// let err = BusSpec::from_json(r#"{"num_shard": 2}"#).unwrap_err();
    /// assert!(err.to_string().contains("unknown field `num_shard`"));
    /// ```
    pub fn from_json(text: &str) -> Result<BusSpec, ConfigError> {
        let shape: Value =
            serde_json::from_str(text).map_err(|e| problem("json", e.to_string()))?;
        if !shape.is_object() {
            return Err(problem(
                "json",
                format!("the configuration must be a JSON object, got {shape}"),
            ));
        }
        let raw: RawSpec =
            serde_json::from_str(text).map_err(|e| problem("json", e.to_string()))?;
        let mut b = BusBuilder::new();
        if let Some(n) = raw.num_shards {
            b = b.num_shards(n);
        }
        if let Some(cores) = raw.cores {
            b = b.cores(match &cores {
                Value::String(n) if n == "spread" => CorePlan::Spread,
                Value::String(n) if n == "disabled" => CorePlan::Disabled,
                Value::Array(list) => CorePlan::Cores(
                    list.iter()
                        .map(|v| v.as_u64().map(|c| c as usize))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            problem("cores", format!("{cores} is not a list of core ids"))
                        })?,
                ),
                other => {
                    return Err(problem(
                        "cores",
                        format!("{other} is not \"spread\", \"disabled\" or a list of core ids"),
                    ));
                }
            });
        }
        if let Some(core) = raw.io_core {
            b = b.io_core(Some(core));
        }
        if let Some(n) = raw.ring_capacity_bytes {
            b = b.ring_capacity_bytes(n);
        }
        if let Some(n) = raw.max_event_bytes {
            b = b.max_event_bytes(n);
        }
        if let Some(bp) = raw.backpressure {
            b = b.backpressure(parse_backpressure(bp)?);
        }
        if let Some(batch) = raw.batch {
            b = b.batch(parse_batch(&batch)?);
        }
        if let Some(w) = raw.wait_strategy {
            b = b.wait_strategy(match w {
                RawWait::BusySpin => WaitStrategy::BusySpin,
                RawWait::SpinThenYield => WaitStrategy::SpinThenYield,
                RawWait::Backoff => WaitStrategy::Backoff,
            });
        }
        let ms = Duration::from_millis;
        if let Some(v) = raw.adapter_timeout_ms {
            b = b.adapter_timeout(ms(v));
        }
        if let Some(v) = raw.adapter_retries {
            b = b.adapter_retries(v);
        }
        if let Some(v) = raw.retry_backoff_initial_ms {
            b = b.retry_backoff_initial(ms(v));
        }
        if let Some(v) = raw.retry_backoff_max_ms {
            b = b.retry_backoff_max(ms(v));
        }
        if let Some(v) = raw.max_inflight_batches {
            b = b.max_inflight_batches(v);
        }
        if let Some(v) = raw.shutdown_timeout_ms {
            b = b.shutdown_timeout(ms(v));
        }
        if let Some(p) = raw.producer_nonce_path {
            b = b.producer_nonce_path(p);
        }
        let adapter = match raw.adapter {
            None => {
                return Err(problem(
                    "adapter",
                    "missing: give {\"type\": \"file\", \"dir\": ...}, {\"type\": \"memory\"} or {\"type\": \"noop\"}".into(),
                ));
            }
            Some(RawAdapter::Noop {}) => AdapterSpec::Noop,
            Some(RawAdapter::Memory { retention_events }) => {
                if retention_events == Some(0) {
                    return Err(problem(
                        "adapter.retention_events",
                        "0 would keep nothing".into(),
                    ));
                }
                AdapterSpec::Memory { retention_events }
            }
            Some(RawAdapter::File {
                dir,
                fsync,
                segment_bytes,
                retention_bytes,
                retention_age_ms,
            }) => {
                let mut c = FileConfig::new(dir);
                if let Some(f) = fsync {
                    c.fsync = parse_fsync(&f)?;
                }
                if let Some(s) = segment_bytes {
                    c.segment_bytes = s;
                }
                c.retention_bytes = retention_bytes;
                c.retention_age = retention_age_ms.map(ms);
                c.validate()
                    .map_err(|e| problem("adapter", e.message().to_string()))?;
                AdapterSpec::File(c)
            }
            Some(RawAdapter::Redis {
                url,
                prefix,
                max_stream_len,
                connect_timeout_ms,
                command_timeout_ms,
            }) => redis_spec(
                url,
                prefix,
                max_stream_len,
                connect_timeout_ms,
                command_timeout_ms,
            )?,
            Some(RawAdapter::Jetstream(raw)) => jetstream_spec(raw)?,
        };
        Ok(BusSpec {
            builder: b,
            adapter,
        })
    }

    /// Validates the configuration, opens the adapter and starts the bus.
    pub fn build(self) -> Result<Bus, BuildError> {
        let config = self.builder.build_config()?;
        let adapter = self.adapter.open()?;
        Bus::new(config, adapter)
    }
}

#[cfg(feature = "redis")]
fn redis_spec(
    url: String,
    prefix: Option<String>,
    max_stream_len: Option<u64>,
    connect_timeout_ms: Option<u64>,
    command_timeout_ms: Option<u64>,
) -> Result<AdapterSpec, ConfigError> {
    let mut c = corelane_adapters::RedisConfig::new(url);
    if let Some(p) = prefix {
        c.prefix = p;
    }
    c.max_stream_len = max_stream_len;
    if let Some(ms) = connect_timeout_ms {
        c.connect_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = command_timeout_ms {
        c.command_timeout = Duration::from_millis(ms);
    }
    // Checks the settings now, with the password kept out of the message.
    corelane_adapters::RedisAdapter::new(c.clone())
        .map_err(|e| problem("adapter", e.message().to_string()))?;
    Ok(AdapterSpec::Redis(c))
}

#[cfg(not(feature = "redis"))]
fn redis_spec(
    _url: String,
    _prefix: Option<String>,
    _max_stream_len: Option<u64>,
    _connect_timeout_ms: Option<u64>,
    _command_timeout_ms: Option<u64>,
) -> Result<AdapterSpec, ConfigError> {
    Err(problem(
        "adapter.type",
        "\"redis\" needs corelane built with the `redis` feature".into(),
    ))
}

#[cfg(feature = "jetstream")]
fn jetstream_spec(raw: RawJetStream) -> Result<AdapterSpec, ConfigError> {
    let mut c = corelane_adapters::JetStreamConfig::new(raw.url);
    let ms = Duration::from_millis;
    if let Some(p) = raw.prefix {
        c.prefix = p;
    }
    if let Some(v) = raw.duplicate_window_ms {
        c.duplicate_window = ms(v);
    }
    c.max_msgs = raw.max_msgs;
    c.max_bytes = raw.max_bytes;
    c.max_age = raw.max_age_ms.map(ms);
    if let Some(v) = raw.replicas {
        c.replicas = v;
    }
    if let Some(v) = raw.connect_timeout_ms {
        c.connect_timeout = ms(v);
    }
    if let Some(v) = raw.request_timeout_ms {
        c.request_timeout = ms(v);
    }
    if let Some(v) = raw.max_pending_acks {
        c.max_pending_acks = v;
    }
    corelane_adapters::JetStreamAdapter::new(c.clone())
        .map_err(|e| problem("adapter", e.message().to_string()))?;
    Ok(AdapterSpec::JetStream(c))
}

#[cfg(not(feature = "jetstream"))]
fn jetstream_spec(_raw: RawJetStream) -> Result<AdapterSpec, ConfigError> {
    Err(problem(
        "adapter.type",
        "\"jetstream\" needs corelane built with the `jetstream` feature".into(),
    ))
}

/// The keys of `object` must all be in `allowed`.
fn only_keys(value: &Value, field: &'static str, allowed: &[&str]) -> Result<(), ConfigError> {
    if let Value::Object(o) = value
        && let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str()))
    {
        return Err(problem(
            field,
            format!("unknown field `{k}`, expected one of {allowed:?}"),
        ));
    }
    Ok(())
}

fn u64_at(value: &Value, key: &str, field: &'static str) -> Result<Option<u64>, ConfigError> {
    match value.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| problem(field, format!("{key}: {v} is not a non-negative integer"))),
    }
}

fn parse_batch(value: &Value) -> Result<BatchConfig, ConfigError> {
    match value {
        Value::String(p) => match p.as_str() {
            "low_latency" => Ok(BatchConfig::low_latency()),
            "default" => Ok(BatchConfig::default()),
            "high_throughput" => Ok(BatchConfig::high_throughput()),
            other => Err(problem(
                "batch",
                format!(
                    "{other:?} is not \"low_latency\", \"default\", \"high_throughput\" or an object"
                ),
            )),
        },
        Value::Object(_) => {
            only_keys(value, "batch", &["max_events", "max_bytes", "max_delay_us"])?;
            let d = BatchConfig::default();
            Ok(BatchConfig {
                max_events: u64_at(value, "max_events", "batch")?
                    .map_or(d.max_events, |v| v as usize),
                max_bytes: u64_at(value, "max_bytes", "batch")?.map_or(d.max_bytes, |v| v as usize),
                max_delay: u64_at(value, "max_delay_us", "batch")?
                    .map_or(d.max_delay, Duration::from_micros),
            })
        }
        other => Err(problem(
            "batch",
            format!("{other} is not a preset name or an object"),
        )),
    }
}

fn parse_fsync(value: &Value) -> Result<FsyncPolicy, ConfigError> {
    match value {
        Value::String(n) if n == "never" => Ok(FsyncPolicy::Never),
        Value::String(n) if n == "every_batch" => Ok(FsyncPolicy::EveryBatch),
        Value::Object(_) => {
            only_keys(value, "adapter.fsync", &["interval_ms"])?;
            let ms = u64_at(value, "interval_ms", "adapter.fsync")?
                .ok_or_else(|| problem("adapter.fsync", "interval_ms is required".into()))?;
            Ok(FsyncPolicy::Interval(Duration::from_millis(ms)))
        }
        other => Err(problem(
            "adapter.fsync",
            format!("{other} is not \"never\", \"every_batch\" or {{\"interval_ms\": N}}"),
        )),
    }
}

fn parse_backpressure(value: Value) -> Result<Backpressure, ConfigError> {
    let (mode, timeout_ms, keep_one_in, high_water_pct) = match &value {
        Value::String(mode) => (mode.clone(), None, None, None),
        Value::Object(o) => {
            only_keys(
                &value,
                "backpressure",
                &["mode", "timeout_ms", "keep_one_in", "high_water_pct"],
            )?;
            let mode = o
                .get("mode")
                .and_then(Value::as_str)
                .ok_or_else(|| problem("backpressure.mode", "required, a string".into()))?
                .to_string();
            (
                mode,
                u64_at(&value, "timeout_ms", "backpressure")?,
                u64_at(&value, "keep_one_in", "backpressure")?
                    .map(|v| v.min(u64::from(u32::MAX)) as u32),
                u64_at(&value, "high_water_pct", "backpressure")?.map(|v| v.min(255) as u8),
            )
        }
        other => {
            return Err(problem(
                "backpressure",
                format!("{other} is not a mode name or an object"),
            ));
        }
    };
    let unexpected = |key: &str| {
        problem(
            "backpressure",
            format!("{key:?} does not apply to mode {mode:?}"),
        )
    };
    match mode.as_str() {
        "fail" | "drop_newest" => {
            if timeout_ms.is_some() {
                return Err(unexpected("timeout_ms"));
            }
            if keep_one_in.is_some() || high_water_pct.is_some() {
                return Err(unexpected("keep_one_in/high_water_pct"));
            }
            Ok(if mode == "fail" {
                Backpressure::Fail
            } else {
                Backpressure::DropNewest
            })
        }
        "block" => {
            if keep_one_in.is_some() || high_water_pct.is_some() {
                return Err(unexpected("keep_one_in/high_water_pct"));
            }
            let t = timeout_ms.ok_or_else(|| {
                problem(
                    "backpressure.timeout_ms",
                    "required for mode \"block\"".into(),
                )
            })?;
            Ok(Backpressure::block(Duration::from_millis(t)))
        }
        "sample" => {
            if timeout_ms.is_some() {
                return Err(unexpected("timeout_ms"));
            }
            let keep = keep_one_in.ok_or_else(|| {
                problem(
                    "backpressure.keep_one_in",
                    "required for mode \"sample\"".into(),
                )
            })?;
            Ok(Backpressure::Sample {
                keep_one_in: keep,
                high_water_pct: high_water_pct.unwrap_or(50),
            })
        }
        other => Err(problem(
            "backpressure.mode",
            format!("{other:?} is not \"fail\", \"drop_newest\", \"block\" or \"sample\""),
        )),
    }
}
