//! Choosing and opening a store from command-line options.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use corelane::Adapter;
use corelane_adapters::{
    FileAdapter, FileConfig, FsyncPolicy, JetStreamAdapter, MemoryAdapter, NoopAdapter,
    RedisAdapter, redact_url,
};

use crate::security::SecurityArgs;

/// Where events go (or come from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterKind {
    /// The embedded durable log.
    File,
    /// In memory, gone at exit.
    Memory,
    /// Counted and dropped.
    Noop,
    /// Redis Streams at this URL (`redis://` or `rediss://`).
    Redis(String),
    /// NATS JetStream at this URL (`nats://` or `tls://`).
    Nats(String),
}

impl AdapterKind {
    /// Parses `--adapter`.
    pub fn parse(text: &str) -> Result<AdapterKind, String> {
        match text {
            "file" => Ok(AdapterKind::File),
            "memory" => Ok(AdapterKind::Memory),
            "noop" => Ok(AdapterKind::Noop),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Ok(AdapterKind::Redis(url.to_string()))
            }
            url if url.starts_with("nats://") || url.starts_with("tls://") => {
                Ok(AdapterKind::Nats(url.to_string()))
            }
            other => Err(format!(
                "--adapter {:?}: expected file, memory, noop, a redis[s]://, nats:// or tls:// URL",
                redact_url(other)
            )),
        }
    }

    /// A short name.
    pub fn name(&self) -> &'static str {
        match self {
            AdapterKind::File => "file",
            AdapterKind::Memory => "memory",
            AdapterKind::Noop => "noop",
            AdapterKind::Redis(_) => "redis",
            AdapterKind::Nats(_) => "jetstream",
        }
    }
}

/// Parses `--fsync`: `never`, `every-batch`, or `interval:MS`.
pub fn parse_fsync(text: &str) -> Result<FsyncPolicy, String> {
    match text {
        "never" => Ok(FsyncPolicy::Never),
        "every-batch" => Ok(FsyncPolicy::EveryBatch),
        other => match other.strip_prefix("interval:").map(str::parse::<u64>) {
            Some(Ok(ms)) if ms > 0 => Ok(FsyncPolicy::Interval(Duration::from_millis(ms))),
            _ => Err(format!(
                "--fsync {other:?}: expected never, every-batch or interval:MS (e.g. interval:100)"
            )),
        },
    }
}

/// Describes a policy for reports.
pub fn describe_fsync(policy: FsyncPolicy) -> String {
    match policy {
        FsyncPolicy::Never => "never".into(),
        FsyncPolicy::EveryBatch => "every-batch".into(),
        FsyncPolicy::Interval(d) => format!("interval:{}", d.as_millis()),
    }
}

/// An opened writable store and what a report says about it.
pub struct Opened {
    /// The adapter.
    pub adapter: Arc<dyn Adapter>,
    /// "file adapter in /tmp/x (fsync interval:100)".
    pub description: String,
    /// The file adapter, when that is the store (for a read-back check).
    pub file: Option<FileAdapter>,
    /// The memory adapter, when that is the store.
    pub memory: Option<MemoryAdapter>,
    /// The noop adapter, when that is the store.
    pub noop: Option<Arc<NoopAdapter>>,
}

/// Opens a writable store.
pub fn open_writable(
    kind: &AdapterKind,
    dir: Option<PathBuf>,
    fsync: FsyncPolicy,
    security: &SecurityArgs,
) -> Result<Opened, String> {
    security.check_applies_to(kind)?;
    Ok(match kind {
        AdapterKind::File => {
            let dir = dir.ok_or("the file adapter needs --data DIR")?;
            let mut config = FileConfig::new(&dir);
            config.fsync = fsync;
            let file = FileAdapter::open(config).map_err(|e| e.to_string())?;
            Opened {
                adapter: Arc::new(file.clone()),
                description: format!(
                    "file adapter in {} (fsync {})",
                    dir.display(),
                    describe_fsync(fsync)
                ),
                file: Some(file),
                memory: None,
                noop: None,
            }
        }
        AdapterKind::Memory => {
            let memory = MemoryAdapter::new();
            Opened {
                adapter: Arc::new(memory.clone()),
                description: "memory adapter".into(),
                file: None,
                memory: Some(memory),
                noop: None,
            }
        }
        AdapterKind::Noop => {
            let noop = Arc::new(NoopAdapter::new());
            Opened {
                adapter: noop.clone(),
                description: "noop adapter (stores nothing)".into(),
                file: None,
                memory: None,
                noop: Some(noop),
            }
        }
        AdapterKind::Redis(url) => Opened {
            adapter: Arc::new(
                RedisAdapter::new(security.redis_config(url)).map_err(|e| e.to_string())?,
            ),
            description: format!(
                "redis adapter at {}{}",
                redact_url(url),
                security.describe()
            ),
            file: None,
            memory: None,
            noop: None,
        },
        AdapterKind::Nats(url) => Opened {
            adapter: Arc::new(
                JetStreamAdapter::new(security.jetstream_config(url)).map_err(|e| e.to_string())?,
            ),
            description: format!(
                "jetstream adapter at {}{}",
                redact_url(url),
                security.describe()
            ),
            file: None,
            memory: None,
            noop: None,
        },
    })
}

/// Opens a store for reading: the file adapter read-only, or Redis; with its shard count.
pub fn open_readable(
    kind: &AdapterKind,
    dir: &Path,
    security: &SecurityArgs,
) -> Result<(Arc<dyn Adapter>, u32), String> {
    security.check_applies_to(kind)?;
    match kind {
        AdapterKind::File => {
            readable_dir(dir)?;
            let store = FileAdapter::open_read_only(dir).map_err(|e| e.to_string())?;
            let shards = store.num_shards();
            if shards == 0 {
                return Err(format!(
                    "{} holds no shards (is it a corelane data directory?)",
                    dir.display()
                ));
            }
            Ok((Arc::new(store), shards))
        }
        AdapterKind::Redis(url) => {
            let redis = RedisAdapter::new(security.redis_config(url)).map_err(|e| e.to_string())?;
            let shards = redis
                .discover_shards(std::time::Instant::now() + Duration::from_secs(10))
                .map_err(|e| e.to_string())?;
            if shards == 0 {
                return Err(format!("{} holds no corelane streams", redact_url(url)));
            }
            Ok((Arc::new(redis), shards))
        }
        AdapterKind::Nats(url) => {
            let js =
                JetStreamAdapter::new(security.jetstream_config(url)).map_err(|e| e.to_string())?;
            let shards = js
                .discover_shards(std::time::Instant::now() + Duration::from_secs(10))
                .map_err(|e| e.to_string())?;
            if shards == 0 {
                return Err(format!("{} holds no corelane streams", redact_url(url)));
            }
            Ok((Arc::new(js), shards))
        }
        other => Err(format!(
            "tail reads a file store, redis[s]://, nats:// or tls://, not {}",
            other.name()
        )),
    }
}

/// Checks that `dir` is a directory this process may list and enter, so that a store it
/// may not read is reported as such rather than as a directory without shards (a shard
/// directory that cannot be looked up looks absent).
pub fn readable_dir(dir: &Path) -> Result<(), String> {
    let fail = |e: std::io::Error| match e.kind() {
        ErrorKind::PermissionDenied => format!("{}: permission denied", dir.display()),
        ErrorKind::NotADirectory => format!("{}: not a directory", dir.display()),
        ErrorKind::NotFound => format!("{}: does not exist", dir.display()),
        _ => format!("{}: {e}", dir.display()),
    };
    if !std::fs::metadata(dir).map_err(fail)?.is_dir() {
        return Err(format!("{}: not a directory", dir.display()));
    }
    std::fs::read_dir(dir).map_err(fail)?;
    match std::fs::symlink_metadata(dir.join("shard-0000")) {
        Err(e) if e.kind() == ErrorKind::PermissionDenied => Err(fail(e)),
        _ => Ok(()),
    }
}
