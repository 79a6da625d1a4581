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
//!   "wait_strategy": "spin_then_yield",      // "busy_spin" | "spin_then_yield" | "backoff"
//!   "park_after_us": 1000,
//!   "io_wait_strategy": "backoff",           // absent: follows wait_strategy (or the profile)
//!   "adapter_timeout_ms": 5000,
//!   "adapter_retries": 5,
//!   "retry_backoff_initial_ms": 100,
//!   "retry_backoff_max_ms": 5000,
//!   "max_inflight_batches": 64,
//!   "shutdown_timeout_ms": 30000,
//!   "producer_nonce_path": "/var/lib/app/nonce",
//!   "profile": "default",                    // or "low_latency", applied after the rest
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

use crate::Bus;
use crate::config::builder::BusBuilder;
use crate::config::json_forms;
use crate::config::settings::Config;
use crate::config::validate::{ConfigError, FieldProblem};
use crate::error::BuildError;

/// A parsed JSON bus description: the configuration and the adapter to open.
#[derive(Debug, Clone)]
pub struct BusJson {
    /// The configuration (not yet validated; [`BusJson::build`] validates).
    pub builder: BusBuilder,
    /// The store.
    pub adapter: AdapterJson,
}

/// The adapter part of a [`BusJson`].
#[derive(Debug, Clone, PartialEq)]
pub enum AdapterJson {
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

impl AdapterJson {
    /// Opens the adapter.
    pub fn open(&self) -> Result<Arc<dyn Adapter>, BuildError> {
        Ok(match self {
            AdapterJson::Noop => Arc::new(NoopAdapter::new()),
            AdapterJson::Memory {
                retention_events: None,
            } => Arc::new(MemoryAdapter::new()),
            AdapterJson::Memory {
                retention_events: Some(n),
            } => Arc::new(MemoryAdapter::with_retention(*n)),
            AdapterJson::File(config) => {
                Arc::new(FileAdapter::open(config.clone()).map_err(|error| {
                    BuildError::Adapter {
                        adapter: "file".into(),
                        error,
                    }
                })?)
            }
            #[cfg(feature = "jetstream")]
            AdapterJson::JetStream(config) => Arc::new(
                corelane_adapters::JetStreamAdapter::new(config.clone()).map_err(|error| {
                    BuildError::Adapter {
                        adapter: "jetstream".into(),
                        error,
                    }
                })?,
            ),
            #[cfg(feature = "redis")]
            AdapterJson::Redis(config) => Arc::new(
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
    Redis(RawRedis),
    Jetstream(RawJetStream),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
struct RawRedis {
    url: String,
    prefix: Option<String>,
    max_stream_len: Option<u64>,
    connect_timeout_ms: Option<u64>,
    command_timeout_ms: Option<u64>,
    tls_ca_file: Option<PathBuf>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
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
    tls_ca_file: Option<PathBuf>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    token_file: Option<PathBuf>,
    token_env: Option<String>,
    nkey_seed_file: Option<PathBuf>,
    creds_file: Option<PathBuf>,
    tls_handshake_first: Option<bool>,
}

fn problem(field: &'static str, message: String) -> ConfigError {
    ConfigError::from_problems(vec![FieldProblem { field, message }])
}

/// The error of a configuration object that did not deserialize, naming the key at
/// fault: serde's own message names the type it expected, not the key.
fn config_problem(settings: &Value, error: serde_json::Error) -> ConfigError {
    for (key, value) in settings.as_object().into_iter().flatten() {
        let alone = serde_json::Map::from_iter([(key.clone(), value.clone())]);
        if let Err(e) = serde_json::from_value::<Config>(Value::Object(alone)) {
            return problem("json", format!("{key}: {e}"));
        }
    }
    problem("json", error.to_string())
}

impl BusJson {
    /// Parses a JSON description. Malformed JSON, unknown keys and values of the wrong
    /// shape are errors naming the key; ranges are checked by [`BusJson::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corelane::config::BusJson;
    ///
    /// let spec = BusJson::from_json(r#"{"num_shards": 2, "adapter": {"type": "memory"}}"#).unwrap();
    /// let bus = spec.build().unwrap();
    /// assert_eq!(bus.num_shards(), 2);
    ///
    /// let err = BusJson::from_json(r#"{"num_shard": 2}"#).unwrap_err();
    /// assert!(err.to_string().contains("unknown field `num_shard`"));
    /// ```
    pub fn from_json(text: &str) -> Result<BusJson, ConfigError> {
        let shape: Value =
            serde_json::from_str(text).map_err(|e| problem("json", e.to_string()))?;
        let Value::Object(mut object) = shape else {
            return Err(problem(
                "json",
                format!("the configuration must be a JSON object, got {shape}"),
            ));
        };
        let adapter = object.remove("adapter");
        let low_latency = match object.remove("profile") {
            None => false,
            Some(Value::String(p)) if p == "low_latency" => true,
            Some(Value::String(p)) if p == "default" => false,
            Some(other) => {
                return Err(problem(
                    "profile",
                    format!("{other} is not \"default\" or \"low_latency\""),
                ));
            }
        };
        let max_event_bytes_given = object.contains_key("max_event_bytes");
        // Read through a reference: the object is kept for naming a bad key.
        let settings = Value::Object(object);
        let config = Config::deserialize(&settings).map_err(|e| config_problem(&settings, e))?;
        let mut builder = BusBuilder::from_config(config);
        if !max_event_bytes_given {
            builder = builder.default_max_event_bytes();
        }
        if low_latency {
            builder = builder.low_latency();
        }
        let adapter = match adapter {
            Some(value) => parse_adapter(value)?,
            None => {
                return Err(problem(
                    "adapter",
                    "missing: give {\"type\": \"file\", \"dir\": ...}, {\"type\": \"memory\"}, {\"type\": \"noop\"}, {\"type\": \"redis\", \"url\": ...} or {\"type\": \"jetstream\", \"url\": ...}".into(),
                ));
            }
        };
        Ok(BusJson { builder, adapter })
    }

    /// Validates the configuration, opens the adapter and starts the bus.
    pub fn build(self) -> Result<Bus, BuildError> {
        let config = self.builder.build_config()?;
        let adapter = self.adapter.open()?;
        Bus::new(config, adapter)
    }
}

/// The `adapter` object: which store, and its settings.
fn parse_adapter(value: Value) -> Result<AdapterJson, ConfigError> {
    let raw: RawAdapter =
        serde_json::from_value(value).map_err(|e| problem("adapter", e.to_string()))?;
    let ms = Duration::from_millis;
    Ok(match raw {
        RawAdapter::Noop {} => AdapterJson::Noop,
        RawAdapter::Memory { retention_events } => {
            if retention_events == Some(0) {
                return Err(problem(
                    "adapter.retention_events",
                    "0 would keep nothing".into(),
                ));
            }
            AdapterJson::Memory { retention_events }
        }
        RawAdapter::File {
            dir,
            fsync,
            segment_bytes,
            retention_bytes,
            retention_age_ms,
        } => {
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
            AdapterJson::File(c)
        }
        RawAdapter::Redis(raw) => redis_json(raw)?,
        RawAdapter::Jetstream(raw) => jetstream_json(raw)?,
    })
}

/// The TLS files of an adapter object: `Some` when any of the three keys is set.
#[cfg(any(feature = "redis", feature = "jetstream"))]
fn tls_files(
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
) -> Option<corelane_adapters::TlsFiles> {
    (ca_file.is_some() || cert_file.is_some() || key_file.is_some()).then_some(
        corelane_adapters::TlsFiles {
            ca_file,
            cert_file,
            key_file,
        },
    )
}

/// A secret from `{name}_file` or `{name}_env` (at most one of them).
#[cfg(any(feature = "redis", feature = "jetstream"))]
fn secret(
    field: &'static str,
    file: Option<PathBuf>,
    env: Option<String>,
) -> Result<Option<corelane_adapters::Secret>, ConfigError> {
    use corelane_adapters::Secret;
    match (file, env) {
        (Some(_), Some(_)) => Err(problem(
            field,
            "set the file or the environment variable, not both".into(),
        )),
        (Some(path), None) => Ok(Some(Secret::File(path))),
        (None, Some(name)) => Ok(Some(Secret::Env(name))),
        (None, None) => Ok(None),
    }
}

#[cfg(feature = "redis")]
fn redis_json(raw: RawRedis) -> Result<AdapterJson, ConfigError> {
    let mut c = corelane_adapters::RedisConfig::new(raw.url);
    if let Some(p) = raw.prefix {
        c.prefix = p;
    }
    c.max_stream_len = raw.max_stream_len;
    if let Some(ms) = raw.connect_timeout_ms {
        c.connect_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = raw.command_timeout_ms {
        c.command_timeout = Duration::from_millis(ms);
    }
    c.tls = tls_files(raw.tls_ca_file, raw.tls_cert_file, raw.tls_key_file);
    c.password = secret("adapter.password_file", raw.password_file, raw.password_env)?;
    // Checks the settings now, with the password kept out of the message.
    corelane_adapters::RedisAdapter::new(c.clone())
        .map_err(|e| problem("adapter", e.message().to_string()))?;
    Ok(AdapterJson::Redis(c))
}

#[cfg(not(feature = "redis"))]
fn redis_json(_raw: RawRedis) -> Result<AdapterJson, ConfigError> {
    Err(problem(
        "adapter.type",
        "\"redis\" needs corelane built with the `redis` feature".into(),
    ))
}

#[cfg(feature = "jetstream")]
fn jetstream_json(raw: RawJetStream) -> Result<AdapterJson, ConfigError> {
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
    c.tls = tls_files(raw.tls_ca_file, raw.tls_cert_file, raw.tls_key_file);
    c.user = raw.user;
    c.password = secret("adapter.password_file", raw.password_file, raw.password_env)?;
    c.token = secret("adapter.token_file", raw.token_file, raw.token_env)?;
    c.nkey_seed = raw.nkey_seed_file.map(corelane_adapters::Secret::File);
    c.creds_file = raw.creds_file;
    c.tls_handshake_first = raw.tls_handshake_first.unwrap_or(false);
    corelane_adapters::JetStreamAdapter::new(c.clone())
        .map_err(|e| problem("adapter", e.message().to_string()))?;
    Ok(AdapterJson::JetStream(c))
}

#[cfg(not(feature = "jetstream"))]
fn jetstream_json(_raw: RawJetStream) -> Result<AdapterJson, ConfigError> {
    Err(problem(
        "adapter.type",
        "\"jetstream\" needs corelane built with the `jetstream` feature".into(),
    ))
}

fn parse_fsync(value: &Value) -> Result<FsyncPolicy, ConfigError> {
    let bad = |message: String| problem("adapter.fsync", message);
    match value {
        Value::String(n) if n == "never" => Ok(FsyncPolicy::Never),
        Value::String(n) if n == "every_batch" => Ok(FsyncPolicy::EveryBatch),
        Value::Object(object) => {
            json_forms::only_keys(object, "fsync", &["interval_ms"]).map_err(bad)?;
            let ms = json_forms::u64_at(object, "interval_ms", "fsync")
                .map_err(bad)?
                .ok_or_else(|| bad("interval_ms is required".into()))?;
            Ok(FsyncPolicy::Interval(Duration::from_millis(ms)))
        }
        other => Err(bad(format!(
            "{other} is not \"never\", \"every_batch\" or {{\"interval_ms\": N}}"
        ))),
    }
}
