//! How a bus is configured: the settings ([`Config`] and its parts), the builder, and the
//! JSON form (the C ABI's and the CLI's configuration files).
//!
//! - `settings.rs`: every field with its default and its valid range, and `validate`;
//! - `builder.rs`: [`BusBuilder`], the fluent way to set them;
//! - `json.rs`: [`BusJson`], a bus (settings and adapter) described in JSON;
//! - `scaling.rs`: [`ScalingPolicy`], when a scalable bus adds and retires shards;
//! - `json_forms.rs`: the JSON forms of durations, core plans, backpressure, batches.

pub(crate) mod builder;
pub(crate) mod json;
pub(crate) mod json_forms;
mod millis;
pub(crate) mod scaling;
pub(crate) mod settings;

pub use builder::BusBuilder;
pub use json::{AdapterJson, BusJson};
pub use scaling::ScalingPolicy;
pub use settings::{
    Backpressure, BatchConfig, Config, ConfigError, CorePlan, FieldProblem,
    MAX_RING_CAPACITY_BYTES, MAX_SHARDS, MIN_RING_CAPACITY_BYTES, WaitStrategy,
};
