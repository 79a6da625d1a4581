//! Adapter write throughput: batches of 1,000 events of 64 bytes written straight to the
//! adapter from one thread (no bus), for the memory adapter and the file adapter with
//! each fsync policy. The file store lives under `target/corelane-bench/store` (the same
//! disk as the build), not in a memory-backed /tmp.
//!
//! When `redis-server` and `redis-benchmark` are installed, a local server is started and
//! the Redis adapter's sustained rate (one MULTI/EXEC of 1,000 XADDs per batch) is
//! reported next to `redis-benchmark` running pipelined `XADD`s (64 per round trip) of
//! records of the same size on the same server, in the same run: with as many clients
//! as the adapter has connections writing (one), which is the ratio's baseline (DESIGN
//! §4), and with redis-benchmark's default 50 clients, what the server does flat out.
//!
//! When `nats-server` is installed, a local `nats-server -js` (file storage) is started
//! and the JetStream adapter's sustained rate is reported: batches of 1,000 published
//! with a window of 1,024 unacknowledged messages, every publish acknowledged.

use std::time::{Duration, Instant};

use corelane::Adapter;
use corelane::adapter::Batch;
use corelane::adapters::{FileAdapter, FileConfig, FsyncPolicy, MemoryAdapter};
use corelane_benches::*;
use serde_json::json;

const EVENTS_PER_BATCH: usize = 1000;

fn batches(count: u64) -> impl Iterator<Item = Batch> {
    let mut payload = [0x5au8; 64];
    (0..count).map(move |k| {
        let mut b = Batch::with_capacity(EVENTS_PER_BATCH, EVENTS_PER_BATCH * 64);
        b.reset(0, k * EVENTS_PER_BATCH as u64, 7);
        for i in 0..EVENTS_PER_BATCH as u64 {
            payload[..8].copy_from_slice(&(k * 1000 + i).to_le_bytes());
            b.push(1_700_000_000_000_000_000 + k * 1000 + i, &payload);
        }
        b
    })
}

/// Writes `count` prepared batches; returns (events/s, per-batch latency summary).
fn run(adapter: &dyn Adapter, count: u64) -> (f64, Summary) {
    let deadline = Instant::now() + Duration::from_secs(600);
    adapter.init(1, deadline).expect("init");
    let prepared: Vec<Batch> = batches(count).collect();
    let mut per_batch = histogram();
    let t0 = Instant::now();
    for b in &prepared {
        let s = Instant::now();
        adapter.write_batch(b, deadline).expect("write");
        per_batch.saturating_record(s.elapsed().as_nanos().max(1) as u64);
    }
    adapter.flush(deadline).expect("flush");
    let rate = (count * EVENTS_PER_BATCH as u64) as f64 / t0.elapsed().as_secs_f64();
    adapter.shutdown(deadline).expect("shutdown");
    (rate, Summary::of(&per_batch))
}

fn main() {
    let root = std::env::current_dir()
        .unwrap_or_default()
        .join("../target/corelane-bench/store");
    let root = if root.parent().is_some_and(|p| p.exists()) {
        root
    } else {
        std::env::temp_dir().join("corelane-bench-store")
    };
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("bench store directory");
    let mut results = Vec::new();
    let mut rows = Vec::new();
    println!("\nadapter write throughput, batches of {EVENTS_PER_BATCH} × 64 B");
    println!("  {:34} {:>14}", "", "events/s");

    let (rate, lat) = run(&MemoryAdapter::new(), scaled_count(2_000));
    println!("  {:34} {:>14.0}", "memory", rate);
    results.push(json!({"adapter": "memory", "events_per_s": rate, "batch_write": lat.to_json()}));
    rows.push(("memory".to_string(), lat));

    for (name, policy, count) in [
        ("file, fsync never", FsyncPolicy::Never, 10_000),
        (
            "file, fsync interval 100ms",
            FsyncPolicy::Interval(Duration::from_millis(100)),
            10_000,
        ),
        ("file, fsync every batch", FsyncPolicy::EveryBatch, 2_000),
    ] {
        let dir = tempfile::tempdir_in(&root).expect("temp dir");
        let mut config = FileConfig::new(dir.path());
        config.fsync = policy;
        let adapter = FileAdapter::open(config).expect("open");
        let (rate, lat) = run(&adapter, scaled_count(count));
        println!("  {:34} {:>14.0}", name, rate);
        results.push(json!({"adapter": name, "events_per_s": rate, "batch_write": lat.to_json()}));
        rows.push((name.to_string(), lat));
    }
    if let Some(redis) = redis_comparison(&mut results, &mut rows) {
        println!(
            "  {:34} {:>14.0}\n  {:34} {:>14.0}   ratio {:.2}",
            "redis adapter (MULTI/EXEC of 1000)",
            redis.adapter,
            "redis-benchmark XADD -P 64 -c 1",
            redis.one_client,
            redis.adapter / redis.one_client,
        );
        if let Some(rate) = redis.fifty_clients {
            println!(
                "  {:34} {:>14.0}   ratio {:.2}",
                "redis-benchmark XADD -P 64 -c 50",
                rate,
                redis.adapter / rate
            );
        }
    }
    if let Some(rate) = jetstream_rate(&mut results, &mut rows) {
        println!(
            "  {:34} {:>14.0}   (every publish acknowledged)",
            "jetstream adapter (1000 per batch)", rate
        );
    }
    tls_rates(&mut results, &mut rows);
    print_latency_table("time per write_batch (1,000 events)", &rows);
    let _ = std::fs::remove_dir_all(&root);
    write_report(
        "adapters",
        &json!({
            "bench": "adapters",
            "machine": machine(&[("writer", None)]),
            "config": {"events_per_batch": EVENTS_PER_BATCH, "payload_bytes": 64, "store": root.display().to_string()},
            "results": results,
        }),
    );
}

/// The Redis adapter's rate and redis-benchmark's on the same server, events/s.
struct RedisRates {
    adapter: f64,
    /// One client: as many as the adapter has connections writing.
    one_client: f64,
    /// redis-benchmark's default 50 clients (`None` when that run failed).
    fifty_clients: Option<f64>,
}

/// Runs the Redis adapter and redis-benchmark against one local server, or `None` when
/// Redis is not installed.
fn redis_comparison(
    results: &mut Vec<serde_json::Value>,
    rows: &mut Vec<(String, Summary)>,
) -> Option<RedisRates> {
    if std::process::Command::new("redis-benchmark")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("  (redis-benchmark not installed: Redis comparison skipped)");
        return None;
    }
    let server = corelane_testkit::Server::redis(&["--appendonly", "no"])?;
    let mut config = corelane_adapters::RedisConfig::new(server.redis_url());
    config.prefix = "bench".into();
    let adapter = corelane_adapters::RedisAdapter::new(config).expect("redis adapter");
    let (rate, lat) = run(&adapter, scaled_count(300));
    results.push(json!({"adapter": "redis", "events_per_s": rate, "batch_write": lat.to_json()}));
    rows.push(("redis".to_string(), lat));
    // A record the size the adapter writes for a 64-byte binary payload.
    let record = format!(
        r#"{{"b":"{}","t":1700000000000000000,"s":0,"q":123456}}"#,
        "A".repeat(88)
    );
    let n = scaled_count(300_000).to_string();
    // Each run appends to a stream of its own, as the adapter does to its own.
    let benchmark = |clients: &str| -> Option<f64> {
        let key = format!("bench:rb:c{clients}");
        let out = std::process::Command::new("redis-benchmark")
            .args(["-p", &server.port.to_string(), "-n", &n, "-P", "64", "-q"])
            .args(["-c", clients])
            .args([
                "XADD",
                &key,
                "*",
                "d",
                &record,
                "dedup_id",
                "abcdef0123456789:0:123456:7",
            ])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        // "... XADD bench:rb * d {...}: 357714.28 requests per second, p50=7.815 msec"
        text.rsplit("requests per second")
            .nth(1)?
            .rsplit(|c: char| c.is_whitespace())
            .find(|t| !t.is_empty())?
            .parse()
            .ok()
    };
    let one_client = benchmark("1")?;
    results.push(json!({"adapter": "redis-benchmark XADD -P 64 -c 1", "events_per_s": one_client}));
    let fifty_clients = benchmark("50");
    if let Some(rate) = fifty_clients {
        results.push(json!({"adapter": "redis-benchmark XADD -P 64 -c 50", "events_per_s": rate}));
    }
    Some(RedisRates {
        adapter: rate,
        one_client,
        fifty_clients,
    })
}

/// The JetStream adapter against a local `nats-server -js`; `None` when not installed.
fn jetstream_rate(
    results: &mut Vec<serde_json::Value>,
    rows: &mut Vec<(String, Summary)>,
) -> Option<f64> {
    let server = corelane_testkit::Server::nats(&[])?;
    let adapter = corelane_adapters::JetStreamAdapter::new(
        corelane_adapters::JetStreamConfig::new(server.nats_url()),
    )
    .expect("jetstream adapter");
    let (rate, lat) = run(&adapter, scaled_count(300));
    results
        .push(json!({"adapter": "jetstream", "events_per_s": rate, "batch_write": lat.to_json()}));
    rows.push(("jetstream".to_string(), lat));
    Some(rate)
}

/// The Redis and JetStream adapters over TLS (certificates made for the run, the server
/// checked against its CA), next to the plaintext rows above: what encryption costs.
fn tls_rates(results: &mut Vec<serde_json::Value>, rows: &mut Vec<(String, Summary)>) {
    use corelane_adapters::TlsFiles;
    let pki = corelane_testkit::TestPki::new();
    if let Some(server) = corelane_testkit::Server::redis_tls(&pki, false, &["--appendonly", "no"])
    {
        let mut config =
            corelane_adapters::RedisConfig::new(format!("rediss://127.0.0.1:{}", server.port));
        config.prefix = "bench".into();
        config.tls = Some(TlsFiles::with_ca(&pki.ca));
        let adapter = corelane_adapters::RedisAdapter::new(config).expect("redis tls adapter");
        let (rate, lat) = run(&adapter, scaled_count(300));
        println!("  {:34} {:>14.0}", "redis adapter over TLS", rate);
        results.push(
            json!({"adapter": "redis tls", "events_per_s": rate, "batch_write": lat.to_json()}),
        );
        rows.push(("redis tls".to_string(), lat));
    }
    let conf = format!(
        "tls {{\n cert_file: \"{}\"\n key_file: \"{}\"\n ca_file: \"{}\"\n timeout: 2\n}}\n",
        pki.server.cert.display(),
        pki.server.key.display(),
        pki.ca.display()
    );
    if let Some(server) = corelane_testkit::Server::nats_with_config(&conf) {
        let mut config =
            corelane_adapters::JetStreamConfig::new(format!("tls://127.0.0.1:{}", server.port));
        config.tls = Some(TlsFiles::with_ca(&pki.ca));
        let adapter =
            corelane_adapters::JetStreamAdapter::new(config).expect("jetstream tls adapter");
        let (rate, lat) = run(&adapter, scaled_count(300));
        println!("  {:34} {:>14.0}", "jetstream adapter over TLS", rate);
        results.push(
            json!({"adapter": "jetstream tls", "events_per_s": rate, "batch_write": lat.to_json()}),
        );
        rows.push(("jetstream tls".to_string(), lat));
    }
}
