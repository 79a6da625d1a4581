//! The JSON forms of the settings that are not plain numbers: the core plan,
//! backpressure, and batch presets. `Config` derives its JSON form field by field; these
//! types serialize themselves, and the messages here name the key that was wrong.

use std::time::Duration;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::config::settings::{Backpressure, BatchConfig, CorePlan};

/// The keys of `object` must all be in `allowed`.
pub(crate) fn only_keys(
    object: &Map<String, Value>,
    field: &str,
    allowed: &[&str],
) -> Result<(), String> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{field}: unknown field `{k}`, expected one of {allowed:?}"
        )),
        None => Ok(()),
    }
}

pub(crate) fn u64_at(
    object: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<u64>, String> {
    match object.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{field}: {key}: {v} is not a non-negative integer")),
    }
}

/// `"spread"`, `"disabled"` or a list of core ids.
impl Serialize for CorePlan {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CorePlan::Spread => s.serialize_str("spread"),
            CorePlan::Disabled => s.serialize_str("disabled"),
            CorePlan::Cores(ids) => ids.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for CorePlan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CorePlan, D::Error> {
        let value = Value::deserialize(d)?;
        match &value {
            Value::String(n) if n == "spread" => Ok(CorePlan::Spread),
            Value::String(n) if n == "disabled" => Ok(CorePlan::Disabled),
            Value::Array(list) => list
                .iter()
                .map(|v| v.as_u64().map(|c| c as usize))
                .collect::<Option<Vec<_>>>()
                .map(CorePlan::Cores)
                .ok_or_else(|| {
                    D::Error::custom(format!("cores: {value} is not a list of core ids"))
                }),
            other => Err(D::Error::custom(format!(
                "cores: {other} is not \"spread\", \"disabled\" or a list of core ids"
            ))),
        }
    }
}

/// A preset name (`"low_latency"`, `"default"`, `"high_throughput"`) or
/// `{"max_events", "max_bytes", "max_delay_us"}`, each optional.
impl Serialize for BatchConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self;
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("max_events", &b.max_events)?;
        map.serialize_entry("max_bytes", &b.max_bytes)?;
        let us = b.max_delay.as_micros().min(u128::from(u64::MAX)) as u64;
        map.serialize_entry("max_delay_us", &us)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for BatchConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<BatchConfig, D::Error> {
        parse_batch(&Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

fn parse_batch(value: &Value) -> Result<BatchConfig, String> {
    let object = match value {
        Value::String(p) => {
            return match p.as_str() {
                "low_latency" => Ok(BatchConfig::low_latency()),
                "default" => Ok(BatchConfig::default()),
                "high_throughput" => Ok(BatchConfig::high_throughput()),
                other => Err(format!(
                    "batch: {other:?} is not \"low_latency\", \"default\", \
                     \"high_throughput\" or an object"
                )),
            };
        }
        Value::Object(o) => o,
        other => return Err(format!("batch: {other} is not a preset name or an object")),
    };
    only_keys(
        object,
        "batch",
        &["max_events", "max_bytes", "max_delay_us"],
    )?;
    let d = BatchConfig::default();
    Ok(BatchConfig {
        max_events: u64_at(object, "max_events", "batch")?.map_or(d.max_events, |v| v as usize),
        max_bytes: u64_at(object, "max_bytes", "batch")?.map_or(d.max_bytes, |v| v as usize),
        max_delay: u64_at(object, "max_delay_us", "batch")?
            .map_or(d.max_delay, Duration::from_micros),
    })
}

/// A mode name (`"fail"`, `"drop_newest"`) or `{"mode", "timeout_ms"}` for `block`,
/// `{"mode", "keep_one_in", "high_water_pct"}` for `sample`.
impl Serialize for Backpressure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match *self {
            Backpressure::Fail => map.serialize_entry("mode", "fail")?,
            Backpressure::DropNewest => map.serialize_entry("mode", "drop_newest")?,
            Backpressure::Block { timeout } => {
                map.serialize_entry("mode", "block")?;
                map.serialize_entry("timeout_ms", &(timeout.as_millis() as u64))?;
            }
            Backpressure::Sample {
                keep_one_in,
                high_water_pct,
            } => {
                map.serialize_entry("mode", "sample")?;
                map.serialize_entry("keep_one_in", &keep_one_in)?;
                map.serialize_entry("high_water_pct", &high_water_pct)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Backpressure {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Backpressure, D::Error> {
        parse_backpressure(Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// The parts of the JSON form: mode, then the optional numbers.
struct Parts {
    mode: String,
    timeout_ms: Option<u64>,
    keep_one_in: Option<u32>,
    high_water_pct: Option<u8>,
}

fn parts(value: Value) -> Result<Parts, String> {
    let object = match value {
        Value::String(mode) => {
            return Ok(Parts {
                mode,
                timeout_ms: None,
                keep_one_in: None,
                high_water_pct: None,
            });
        }
        Value::Object(o) => o,
        other => {
            return Err(format!(
                "backpressure: {other} is not a mode name or an object"
            ));
        }
    };
    only_keys(
        &object,
        "backpressure",
        &["mode", "timeout_ms", "keep_one_in", "high_water_pct"],
    )?;
    let mode = object
        .get("mode")
        .and_then(Value::as_str)
        .ok_or("backpressure.mode: required, a string")?
        .to_string();
    Ok(Parts {
        mode,
        timeout_ms: u64_at(&object, "timeout_ms", "backpressure")?,
        keep_one_in: u64_at(&object, "keep_one_in", "backpressure")?
            .map(|v| v.min(u64::from(u32::MAX)) as u32),
        high_water_pct: u64_at(&object, "high_water_pct", "backpressure")?
            .map(|v| v.min(255) as u8),
    })
}

fn parse_backpressure(value: Value) -> Result<Backpressure, String> {
    let p = parts(value)?;
    let mode = p.mode.as_str();
    let unexpected = |key: &str| format!("backpressure: {key:?} does not apply to mode {mode:?}");
    let sampling = p.keep_one_in.is_some() || p.high_water_pct.is_some();
    match mode {
        "fail" | "drop_newest" | "block" if sampling => {
            Err(unexpected("keep_one_in/high_water_pct"))
        }
        "fail" | "drop_newest" | "sample" if p.timeout_ms.is_some() => {
            Err(unexpected("timeout_ms"))
        }
        "fail" => Ok(Backpressure::Fail),
        "drop_newest" => Ok(Backpressure::DropNewest),
        "block" => p
            .timeout_ms
            .map(|t| Backpressure::block(Duration::from_millis(t)))
            .ok_or_else(|| "backpressure.timeout_ms: required for mode \"block\"".into()),
        "sample" => p
            .keep_one_in
            .map(|keep_one_in| Backpressure::Sample {
                keep_one_in,
                high_water_pct: p.high_water_pct.unwrap_or(50),
            })
            .ok_or_else(|| "backpressure.keep_one_in: required for mode \"sample\"".into()),
        other => Err(format!(
            "backpressure.mode: {other:?} is not \"fail\", \"drop_newest\", \"block\" or \"sample\""
        )),
    }
}
