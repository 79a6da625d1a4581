//! Checking a [`Config`]: every field against its valid range, every problem reported
//! together in one [`ConfigError`].

use std::fmt;
use std::time::Duration;

use crate::config::settings::{
    Backpressure, Config, CorePlan, MAX_CORE_ID, MAX_RING_CAPACITY_BYTES, MAX_SHARDS,
    MIN_RING_CAPACITY_BYTES,
};
use crate::write::ring::RECORD_HEADER_BYTES;

impl Config {
    /// Checks every field; the error lists every problem found, each with its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Problems::default();
        self.validate_threads(&mut p);
        self.validate_rings(&mut p);
        self.validate_backpressure(&mut p);
        self.validate_batch(&mut p);
        self.validate_timing(&mut p);
        self.validate_nonce(&mut p);
        self.validate_scaling(&mut p);
        p.into_result()
    }

    /// Shards and where their threads and the I/O thread run.
    fn validate_threads(&self, p: &mut Problems) {
        if self.num_shards == 0 || self.num_shards > MAX_SHARDS {
            p.add(
                "num_shards",
                format!("{} is outside 1..={MAX_SHARDS}", self.num_shards),
            );
        }
        if let CorePlan::Cores(cores) = &self.cores {
            if cores.is_empty() {
                p.add("cores", "an explicit core list must not be empty".into());
            }
            if let Some(bad) = cores.iter().find(|&&c| c >= MAX_CORE_ID) {
                p.add(
                    "cores",
                    format!("core id {bad} is outside 0..{MAX_CORE_ID} (the size of a CPU set)"),
                );
            }
        }
        if let Some(core) = self.io_core
            && core >= MAX_CORE_ID
        {
            p.add(
                "io_core",
                format!("core id {core} is outside 0..{MAX_CORE_ID} (the size of a CPU set)"),
            );
        }
    }

    /// Ring sizes and the largest event they can frame.
    fn validate_rings(&self, p: &mut Problems) {
        let ring = self.ring_capacity_bytes;
        let ring_valid = if !ring.is_power_of_two() {
            p.add(
                "ring_capacity_bytes",
                format!("{ring} is not a power of two"),
            );
            false
        } else if !(MIN_RING_CAPACITY_BYTES..=MAX_RING_CAPACITY_BYTES).contains(&ring) {
            p.add(
                "ring_capacity_bytes",
                format!("{ring} is outside {MIN_RING_CAPACITY_BYTES}..={MAX_RING_CAPACITY_BYTES}"),
            );
            false
        } else {
            true
        };
        // Against an invalid ring the bound would only repeat the ring's problem.
        let max_event = ring.saturating_sub(RECORD_HEADER_BYTES);
        if self.max_event_bytes == 0 || (ring_valid && self.max_event_bytes > max_event) {
            p.add(
                "max_event_bytes",
                format!(
                    "{} is outside 1..={max_event} (ring_capacity_bytes {ring} minus the \
                     {RECORD_HEADER_BYTES}-byte record header)",
                    self.max_event_bytes
                ),
            );
        }
    }

    /// The full-ring policy's parameters.
    fn validate_backpressure(&self, p: &mut Problems) {
        match self.backpressure {
            Backpressure::Fail | Backpressure::DropNewest => {}
            Backpressure::Block { timeout } => {
                if timeout < Duration::from_micros(1) || timeout > Duration::from_secs(3600) {
                    p.add(
                        "backpressure.timeout",
                        format!("{timeout:?} is outside 1µs..=1h"),
                    );
                }
            }
            Backpressure::Sample {
                keep_one_in,
                high_water_pct,
            } => {
                if !(2..=1_000_000).contains(&keep_one_in) {
                    p.add(
                        "backpressure.keep_one_in",
                        format!("{keep_one_in} is outside 2..=1000000"),
                    );
                }
                if !(1..=100).contains(&high_water_pct) {
                    p.add(
                        "backpressure.high_water_pct",
                        format!("{high_water_pct} is outside 1..=100"),
                    );
                }
            }
        }
    }

    /// Sealing limits.
    fn validate_batch(&self, p: &mut Problems) {
        if !(1..=1 << 20).contains(&self.batch.max_events) {
            p.add(
                "batch.max_events",
                format!("{} is outside 1..=1048576", self.batch.max_events),
            );
        }
        if !(1..=1 << 30).contains(&self.batch.max_bytes) {
            p.add(
                "batch.max_bytes",
                format!("{} is outside 1..=1073741824", self.batch.max_bytes),
            );
        }
        if self.batch.max_delay > Duration::from_secs(60) {
            p.add(
                "batch.max_delay",
                format!("{:?} is longer than 60s", self.batch.max_delay),
            );
        }
    }

    /// Adapter deadlines, retries, in-flight batches, shutdown.
    fn validate_timing(&self, p: &mut Problems) {
        check_range(
            p,
            "adapter_timeout",
            self.adapter_timeout,
            Duration::from_millis(1),
            Duration::from_secs(3600),
        );
        if self.adapter_retries > 1000 {
            p.add(
                "adapter_retries",
                format!("{} is more than 1000", self.adapter_retries),
            );
        }
        check_range(
            p,
            "retry_backoff_initial",
            self.retry_backoff_initial,
            Duration::from_millis(1),
            Duration::from_secs(60),
        );
        if self.retry_backoff_max < self.retry_backoff_initial
            || self.retry_backoff_max > Duration::from_secs(600)
        {
            p.add(
                "retry_backoff_max",
                format!(
                    "{:?} is outside retry_backoff_initial ({:?})..=600s",
                    self.retry_backoff_max, self.retry_backoff_initial
                ),
            );
        }
        if !(1..=65536).contains(&self.max_inflight_batches) {
            p.add(
                "max_inflight_batches",
                format!("{} is outside 1..=65536", self.max_inflight_batches),
            );
        }
        check_range(
            p,
            "park_after",
            self.park_after,
            Duration::ZERO,
            Duration::from_secs(1),
        );
        check_range(
            p,
            "shutdown_timeout",
            self.shutdown_timeout,
            Duration::from_millis(1),
            Duration::from_secs(3600),
        );
    }

    /// The nonce file path.
    fn validate_nonce(&self, p: &mut Problems) {
        if let Some(path) = &self.producer_nonce_path
            && path.as_os_str().is_empty()
        {
            p.add("producer_nonce_path", "the path is empty".into());
        }
    }
}

impl Config {
    /// The scaling bounds and policy.
    fn validate_scaling(&self, p: &mut Problems) {
        if let Some(max) = self.max_shards
            && (max < self.num_shards || max > MAX_SHARDS)
        {
            p.add(
                "max_shards",
                format!(
                    "{max} is outside num_shards ({})..={MAX_SHARDS}",
                    self.num_shards
                ),
            );
        }
        if let Some(policy) = &self.scaling {
            for (field, message) in policy.problems(self.num_shards, MAX_SHARDS) {
                p.add(field, message);
            }
        }
    }
}

fn check_range(p: &mut Problems, field: &'static str, v: Duration, min: Duration, max: Duration) {
    if v < min || v > max {
        p.add(field, format!("{v:?} is outside {min:?}..={max:?}"));
    }
}

#[derive(Default)]
struct Problems(Vec<FieldProblem>);

impl Problems {
    fn add(&mut self, field: &'static str, message: String) {
        self.0.push(FieldProblem { field, message });
    }

    fn into_result(self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems: self.0 })
        }
    }
}

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's name as it appears in [`Config`] (`batch.max_events`).
    pub field: &'static str,
    /// What is wrong with its value.
    pub message: String,
}

/// Every problem [`Config::validate`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<FieldProblem>,
}

impl ConfigError {
    pub(crate) fn from_problems(problems: Vec<FieldProblem>) -> Self {
        ConfigError { problems }
    }

    /// The problems, in field order.
    pub fn problems(&self) -> &[FieldProblem] {
        &self.problems
    }

    /// True when `field` is among the invalid fields.
    pub fn mentions(&self, field: &str) -> bool {
        self.problems.iter().any(|p| p.field == field)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", p.field, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
