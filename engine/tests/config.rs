//! Configuration validation: every field, with the field named and the value shown.

use std::time::Duration;

use corelane::adapters::NoopAdapter;
use corelane::{Backpressure, BatchConfig, BuildError, Bus, Config, CorePlan};

fn problem(config: Config, field: &str, needle: &str) {
    let err = config.validate().expect_err(field);
    assert!(err.mentions(field), "{field} not named in: {err}");
    let msg = err.to_string();
    assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
    assert!(msg.starts_with("invalid configuration: "));
}

fn with(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    f(&mut c);
    c
}

#[test]
fn defaults_are_valid() {
    Config::default().validate().unwrap();
    let c = Bus::builder().build_config().unwrap();
    assert_eq!(c.ring_capacity_bytes, 64 << 10);
    assert_eq!(c.max_event_bytes, 16 << 10);
    assert_eq!(c.backpressure, Backpressure::Fail);
    assert!(c.num_shards >= 1);
}

#[test]
fn every_field_is_checked() {
    problem(
        with(|c| c.num_shards = 0),
        "num_shards",
        "0 is outside 1..=1024",
    );
    problem(with(|c| c.num_shards = 5000), "num_shards", "5000");
    problem(
        with(|c| c.cores = CorePlan::Cores(vec![])),
        "cores",
        "must not be empty",
    );
    problem(
        with(|c| c.cores = CorePlan::Cores(vec![0, 5000])),
        "cores",
        "core id 5000 is outside 0..1024",
    );
    problem(
        with(|c| c.io_core = Some(4096)),
        "io_core",
        "core id 4096 is outside 0..1024",
    );
    problem(
        with(|c| c.ring_capacity_bytes = 5000),
        "ring_capacity_bytes",
        "5000 is not a power of two",
    );
    problem(
        with(|c| {
            c.ring_capacity_bytes = 2048;
            c.max_event_bytes = 100;
        }),
        "ring_capacity_bytes",
        "2048 is outside 4096..=1073741824",
    );
    problem(
        with(|c| c.max_event_bytes = 0),
        "max_event_bytes",
        "0 is outside 1..=65532",
    );
    problem(
        with(|c| c.max_event_bytes = 65533),
        "max_event_bytes",
        "65533 is outside 1..=65532",
    );
    problem(
        with(|c| c.backpressure = Backpressure::block(Duration::ZERO)),
        "backpressure.timeout",
        "0ns is outside",
    );
    problem(
        with(|c| c.backpressure = Backpressure::sample(1)),
        "backpressure.keep_one_in",
        "1 is outside 2..=1000000",
    );
    problem(
        with(|c| {
            c.backpressure = Backpressure::Sample {
                keep_one_in: 4,
                high_water_pct: 0,
            }
        }),
        "backpressure.high_water_pct",
        "0 is outside 1..=100",
    );
    problem(
        with(|c| c.batch.max_events = 0),
        "batch.max_events",
        "0 is outside 1..=1048576",
    );
    problem(
        with(|c| c.batch.max_bytes = 0),
        "batch.max_bytes",
        "0 is outside",
    );
    problem(
        with(|c| c.batch.max_delay = Duration::from_secs(61)),
        "batch.max_delay",
        "61s is longer than 60s",
    );
    problem(
        with(|c| c.adapter_timeout = Duration::ZERO),
        "adapter_timeout",
        "0ns is outside 1ms..=3600s",
    );
    problem(
        with(|c| c.adapter_retries = 1001),
        "adapter_retries",
        "1001 is more than 1000",
    );
    problem(
        with(|c| c.retry_backoff_initial = Duration::ZERO),
        "retry_backoff_initial",
        "0ns is outside",
    );
    problem(
        with(|c| c.retry_backoff_max = Duration::from_millis(10)),
        "retry_backoff_max",
        "10ms is outside retry_backoff_initial (100ms)..=600s",
    );
    problem(
        with(|c| c.max_inflight_batches = 0),
        "max_inflight_batches",
        "0 is outside 1..=65536",
    );
    problem(
        with(|c| c.park_after = Duration::from_secs(2)),
        "park_after",
        "2s is outside 0ns..=1s",
    );
    problem(
        with(|c| c.shutdown_timeout = Duration::ZERO),
        "shutdown_timeout",
        "0ns is outside",
    );
    problem(
        with(|c| c.producer_nonce_path = Some("".into())),
        "producer_nonce_path",
        "the path is empty",
    );
}

#[test]
fn all_problems_are_reported_together() {
    let err = Bus::builder()
        .num_shards(0)
        .ring_capacity_bytes(3)
        .batch(BatchConfig {
            max_events: 0,
            ..BatchConfig::default()
        })
        .build_config()
        .unwrap_err();
    let fields: Vec<_> = err.problems().iter().map(|p| p.field).collect();
    assert_eq!(
        fields,
        vec!["num_shards", "ring_capacity_bytes", "batch.max_events"]
    );
}

#[test]
fn building_a_bus_with_a_bad_config_fails_cleanly() {
    match Bus::builder()
        .max_inflight_batches(0)
        .build(NoopAdapter::new())
    {
        Err(BuildError::Config(e)) => assert!(e.mentions("max_inflight_batches")),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn small_rings_lower_the_default_event_limit_but_not_an_explicit_one() {
    let c = Bus::builder()
        .ring_capacity_bytes(4096)
        .build_config()
        .unwrap();
    assert_eq!(c.max_event_bytes, 1024);
    let err = Bus::builder()
        .ring_capacity_bytes(4096)
        .max_event_bytes(8000)
        .build_config()
        .unwrap_err();
    assert!(err.mentions("max_event_bytes"));
}

/// The low-latency profile: batches sealed every pass, and shard threads that spin
/// outright only when every spinning thread has a core of its own.
#[test]
fn the_low_latency_profile_fits_the_machine_and_every_form_agrees() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let expected_wait = |shards: usize| {
        if cores >= shards + 2 {
            corelane::WaitStrategy::BusySpin
        } else {
            corelane::WaitStrategy::SpinThenYield
        }
    };
    // The constructor fits the profile to the default shard count, one per core, which
    // leaves no core for the I/O thread: yielding shards, and an I/O thread that lingers.
    let c = corelane::Config::low_latency();
    assert_eq!(c.batch, corelane::BatchConfig::low_latency());
    assert_eq!(c.num_shards, cores);
    assert_eq!(c.wait_strategy, corelane::WaitStrategy::SpinThenYield);
    assert_eq!(
        c.io_wait_strategy,
        Some(corelane::WaitStrategy::SpinThenYield)
    );
    // The builder fits the profile to the shard count it ends with.
    let built = corelane::Config::builder()
        .low_latency()
        .num_shards(1)
        .build_config()
        .unwrap();
    assert_eq!(built.wait_strategy, expected_wait(1));
    assert_eq!(built.batch, corelane::BatchConfig::low_latency());
    // Yielding shards hand batches to an I/O thread that lingers too; spinning shards
    // have one that polls (it follows them). A strategy given for it stands.
    let expected_io = match expected_wait(1) {
        corelane::WaitStrategy::SpinThenYield => Some(corelane::WaitStrategy::SpinThenYield),
        _ => None,
    };
    assert_eq!(built.io_wait_strategy, expected_io);
    let chosen = corelane::Config::builder()
        .io_wait_strategy(corelane::WaitStrategy::Backoff)
        .low_latency()
        .num_shards(1)
        .build_config()
        .unwrap();
    assert_eq!(
        chosen.io_wait_strategy,
        Some(corelane::WaitStrategy::Backoff)
    );
    // A scalable bus is fitted to the most shards it may run.
    let scalable = corelane::Config::builder()
        .low_latency()
        .num_shards(1)
        .max_shards(cores.max(2))
        .build_config()
        .unwrap();
    assert_eq!(
        scalable.wait_strategy,
        corelane::WaitStrategy::SpinThenYield
    );
    assert_eq!(
        scalable.io_wait_strategy,
        Some(corelane::WaitStrategy::SpinThenYield)
    );
    let json = corelane::config::BusJson::from_json(
        r#"{"num_shards":1,"profile":"low_latency","adapter":{"type":"noop"}}"#,
    )
    .unwrap();
    assert_eq!(json.builder.build_config().unwrap(), built);
    let err =
        corelane::config::BusJson::from_json(r#"{"profile":"fastest","adapter":{"type":"noop"}}"#)
            .unwrap_err();
    assert!(err.to_string().contains("profile"), "{err}");
    // The default is smart batching: no delay, a batch is what one pass found.
    assert_eq!(
        corelane::BatchConfig::default().max_delay,
        std::time::Duration::ZERO
    );
}
