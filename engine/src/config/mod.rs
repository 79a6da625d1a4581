//! How a bus is configured: the settings ([`Config`] and its parts), the builder, and the
//! JSON form (the C ABI's and the CLI's configuration files).
//!
//! - `settings.rs`: every field with its default and its valid range;
//! - `validate.rs`: `Config::validate`, every problem reported together;
//! - `builder.rs`: [`BusBuilder`], the fluent way to set them;
//! - `json.rs`: [`BusJson`], a bus (settings and adapter) described in JSON;
//! - `scaling.rs`: [`ScalingPolicy`], when a scalable bus adds and retires shards;
//! - `json_forms.rs`: the JSON forms of durations, core plans, backpressure, batches;
//! - `durations.rs`: durations as whole milliseconds or microseconds in JSON.

pub(crate) mod builder;
mod durations;
pub(crate) mod json;
pub(crate) mod json_forms;
pub(crate) mod scaling;
pub(crate) mod settings;
pub(crate) mod validate;

use durations::{micros, millis};

pub use builder::BusBuilder;
pub use json::{AdapterJson, BusJson};
pub use scaling::ScalingPolicy;
pub use settings::{
    Backpressure, BatchConfig, Config, CorePlan, MAX_RING_CAPACITY_BYTES, MAX_SHARDS,
    MIN_RING_CAPACITY_BYTES, WaitStrategy,
};
pub use validate::{ConfigError, FieldProblem};
