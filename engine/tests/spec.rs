//! The JSON bus description: every setting reaches the configuration; unknown keys and
//! wrong shapes are errors naming the key.

use std::time::Duration;

use corelane::adapters::FsyncPolicy;
use corelane::config::{AdapterJson, BusJson};
use corelane::{Backpressure, BatchConfig, CorePlan, WaitStrategy};

#[test]
fn every_setting_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let nonce = dir.path().join("nonce");
    let text = serde_json::json!({
        "num_shards": 3,
        "cores": [0, 1],
        "io_core": 1,
        "ring_capacity_bytes": 8192,
        "max_event_bytes": 1000,
        "backpressure": {"mode": "sample", "keep_one_in": 7, "high_water_pct": 80},
        "batch": {"max_events": 10, "max_bytes": 2000, "max_delay_us": 250},
        "wait_strategy": "spin_then_yield",
        "park_after_us": 250,
        "io_wait_strategy": "busy_spin",
        "adapter_timeout_ms": 1500,
        "adapter_retries": 9,
        "retry_backoff_initial_ms": 20,
        "retry_backoff_max_ms": 400,
        "max_inflight_batches": 5,
        "shutdown_timeout_ms": 7000,
        "producer_nonce_path": nonce,
        "adapter": {"type": "file", "dir": dir.path().join("data"), "fsync": {"interval_ms": 25},
                    "segment_bytes": 65536, "retention_bytes": 1048576, "retention_age_ms": 60000}
    })
    .to_string();
    let spec = BusJson::from_json(&text).unwrap();
    let c = spec.builder.clone().build_config().unwrap();
    assert_eq!(c.num_shards, 3);
    assert_eq!(c.cores, CorePlan::Cores(vec![0, 1]));
    assert_eq!(c.io_core, Some(1));
    assert_eq!((c.ring_capacity_bytes, c.max_event_bytes), (8192, 1000));
    assert_eq!(
        c.backpressure,
        Backpressure::Sample {
            keep_one_in: 7,
            high_water_pct: 80
        }
    );
    assert_eq!(
        c.batch,
        BatchConfig {
            max_events: 10,
            max_bytes: 2000,
            max_delay: Duration::from_micros(250)
        }
    );
    assert_eq!(c.wait_strategy, WaitStrategy::SpinThenYield);
    assert_eq!(c.park_after, Duration::from_micros(250));
    assert_eq!(c.io_wait_strategy, Some(WaitStrategy::BusySpin));
    assert_eq!(
        (c.adapter_timeout, c.adapter_retries),
        (Duration::from_millis(1500), 9)
    );
    assert_eq!(
        (c.retry_backoff_initial, c.retry_backoff_max),
        (Duration::from_millis(20), Duration::from_millis(400))
    );
    assert_eq!(
        (c.max_inflight_batches, c.shutdown_timeout),
        (5, Duration::from_secs(7))
    );
    assert_eq!(c.producer_nonce_path.as_deref(), Some(nonce.as_path()));
    match &spec.adapter {
        AdapterJson::File(f) => {
            assert_eq!(f.fsync, FsyncPolicy::Interval(Duration::from_millis(25)));
            assert_eq!((f.segment_bytes, f.retention_bytes), (65536, Some(1 << 20)));
            assert_eq!(f.retention_age, Some(Duration::from_secs(60)));
        }
        other => panic!("{other:?}"),
    }
    let bus = spec.build().unwrap();
    assert_eq!(bus.num_shards(), 3);
    bus.shutdown().unwrap();
    assert_eq!(std::fs::read(&nonce).unwrap().len(), 9);
}

#[test]
fn short_forms() {
    let spec = BusJson::from_json(
        r#"{"cores":"disabled","backpressure":"drop_newest","batch":"low_latency","adapter":{"type":"memory","retention_events":10}}"#,
    )
    .unwrap();
    let c = spec.builder.build_config().unwrap();
    assert_eq!(
        (c.cores, c.backpressure, c.batch),
        (
            CorePlan::Disabled,
            Backpressure::DropNewest,
            BatchConfig::low_latency()
        )
    );
    assert_eq!(
        spec.adapter,
        AdapterJson::Memory {
            retention_events: Some(10)
        }
    );
    let spec = BusJson::from_json(
        r#"{"backpressure":{"mode":"block","timeout_ms":5},"adapter":{"type":"noop"}}"#,
    )
    .unwrap();
    assert_eq!(
        spec.builder.build_config().unwrap().backpressure,
        Backpressure::block(Duration::from_millis(5))
    );
}

fn rejects(text: &str, needle: &str) {
    let err = match BusJson::from_json(text) {
        Ok(spec) => match spec.build() {
            Ok(_) => panic!("{text} was accepted"),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    assert!(err.contains(needle), "{text}: {err:?} lacks {needle:?}");
}

#[test]
fn unknown_keys_and_bad_values_are_errors() {
    rejects("{", "json: EOF while parsing");
    rejects(
        "[]",
        "json: the configuration must be a JSON object, got []",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"num_shard":2}"#,
        "unknown field `num_shard`",
    );
    rejects(
        r#"{"adapter":{"type":"noop","extra":1}}"#,
        "unknown field `extra`",
    );
    rejects(
        r#"{"adapter":{"type":"file","dir":"/tmp/x","fsynk":"never"}}"#,
        "unknown field `fsynk`",
    );
    rejects(r#"{"adapter":{"type":"kafka"}}"#, "unknown variant `kafka`");
    rejects(r#"{"num_shards":2}"#, "adapter: missing");
    rejects(
        r#"{"adapter":{"type":"noop"},"num_shards":"two"}"#,
        "invalid type: string \"two\"",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"cores":"all"}"#,
        "cores: \"all\" is not",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"batch":"fast"}"#,
        "batch: \"fast\" is not",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"batch":{"max_event":1}}"#,
        "batch: unknown field `max_event`",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"backpressure":{"mode":"block","timeout":1}}"#,
        "backpressure: unknown field `timeout`",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"cores":[0,"a"]}"#,
        "cores: [0,\"a\"] is not a list of core ids",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"wait_strategy":"spin"}"#,
        "unknown variant `spin`",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"io_wait_strategy":"sleep"}"#,
        "unknown variant `sleep`",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"park_after_us":"1ms"}"#,
        "park_after_us",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"backpressure":"wait"}"#,
        "backpressure.mode: \"wait\" is not",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"backpressure":"block"}"#,
        "backpressure.timeout_ms: required",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"backpressure":{"mode":"fail","timeout_ms":3}}"#,
        "does not apply to mode \"fail\"",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"backpressure":{"mode":"sample"}}"#,
        "keep_one_in: required",
    );
    rejects(
        r#"{"adapter":{"type":"file","dir":"/tmp/x","fsync":"sometimes"}}"#,
        "adapter.fsync",
    );
    rejects(
        r#"{"adapter":{"type":"file","dir":"/tmp/x","segment_bytes":1}}"#,
        "segment_bytes: 1 is outside",
    );
    rejects(
        r#"{"adapter":{"type":"memory","retention_events":0}}"#,
        "would keep nothing",
    );
    // Range checks happen when the bus is built, with the field named.
    rejects(
        r#"{"adapter":{"type":"noop"},"ring_capacity_bytes":1000}"#,
        "ring_capacity_bytes: 1000 is not a power of two",
    );
    rejects(
        r#"{"adapter":{"type":"noop"},"adapter_timeout_ms":0}"#,
        "adapter_timeout",
    );
}

/// The JSON form is derived from `Config`: every key it has is documented for C hosts
/// (docs/embedding-cpp.md) and in docs/configuration.md, and a configuration written out
/// reads back as the same configuration.
#[test]
fn every_json_key_of_config_is_documented_and_round_trips() {
    let config = corelane::Config::builder()
        .num_shards(3)
        .io_core(Some(1))
        .backpressure(corelane::Backpressure::sample(7))
        .batch(corelane::BatchConfig::low_latency())
        .producer_nonce_path("/tmp/nonce")
        .max_shards(6)
        .scaling(corelane::ScalingPolicy {
            scale_up_fill: 0.75,
            cooldown: std::time::Duration::from_millis(1500),
            ..corelane::ScalingPolicy::between(2, 5)
        })
        .build_config()
        .unwrap();
    let json = serde_json::to_value(&config).unwrap();
    let policy = json["scaling"].as_object().unwrap();
    let policy_keys: Vec<&String> = policy.keys().collect();
    assert_eq!(policy["cooldown_ms"], 1500);
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert!(keys.len() >= 15, "{keys:?}");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for doc in ["docs/embedding-cpp.md", "docs/configuration.md"] {
        let text = std::fs::read_to_string(format!("{root}/{doc}")).unwrap();
        for key in keys.iter().chain(&policy_keys) {
            assert!(
                text.contains(&format!("`{key}`")) || text.contains(&format!("\"{key}\"")),
                "{doc} does not document the JSON key {key}"
            );
        }
    }
    let mut object = json.as_object().unwrap().clone();
    object.insert("adapter".into(), serde_json::json!({"type": "noop"}));
    let back = BusJson::from_json(&serde_json::Value::Object(object).to_string()).unwrap();
    assert_eq!(back.builder.build_config().unwrap(), config);
}
