//! The automatic scaling policy: when a bus adds a shard, when it retires one.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// When a bus scales itself ([`Config::scaling`](crate::Config::scaling)). A monitor
/// thread, started and joined by the bus, samples every active shard each `interval`:
///
/// - **hot**: some shard's fullest ring is at least `scale_up_fill` of its capacity, or
///   the shard spent at least `scale_up_busy` of the interval draining;
/// - **cold**: every shard's rings are at most `scale_down_fill` full and every shard was
///   busy at most `scale_down_busy` of the interval.
///
/// Hot for `scale_up_window` adds one shard (up to `max_shards`); cold for
/// `scale_down_window` retires one (down to `min_shards`). After any change (a manual
/// [`Bus::scale_to`](crate::Bus::scale_to) too) the monitor waits `cooldown` and starts
/// its windows over. Reading statistics never changes routing: only the monitor and
/// `scale_to` do.
///
/// In JSON: `{"min_shards": 1, "max_shards": 8, "scale_up_fill": 0.5, ...}` with
/// durations in milliseconds (`scale_up_window_ms`); absent keys keep their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScalingPolicy {
    /// Fewest shards. 1..=`max_shards`, and at most `num_shards`. Default 1.
    pub min_shards: usize,
    /// Most shards. At least `num_shards`, at most 1024. Default 8.
    pub max_shards: usize,
    /// Ring fill (0.0..=1.0) at or above which a shard is hot. Default 0.5.
    pub scale_up_fill: f64,
    /// Fraction of time spent draining (0.0..=1.0) at or above which a shard is hot.
    /// Default 0.8.
    pub scale_up_busy: f64,
    /// How long the bus must stay hot before a shard is added. Default 1 s.
    #[serde(rename = "scale_up_window_ms", with = "crate::config::millis")]
    pub scale_up_window: Duration,
    /// Ring fill at or below which a shard counts as cold. Below `scale_up_fill`.
    /// Default 0.05.
    pub scale_down_fill: f64,
    /// Busy fraction at or below which a shard counts as cold. Below `scale_up_busy`.
    /// Default 0.2.
    pub scale_down_busy: f64,
    /// How long every shard must stay cold before one is retired. At least
    /// `scale_up_window`. Default 10 s.
    #[serde(rename = "scale_down_window_ms", with = "crate::config::millis")]
    pub scale_down_window: Duration,
    /// Quiet time after any change before the monitor acts again. Default 5 s.
    #[serde(rename = "cooldown_ms", with = "crate::config::millis")]
    pub cooldown: Duration,
    /// How often the monitor samples. 1 ms..=1 min, at most `scale_up_window`.
    /// Default 100 ms.
    #[serde(rename = "interval_ms", with = "crate::config::millis")]
    pub interval: Duration,
    /// Bound on one change the monitor makes (see `Bus::scale_to`). Default 10 s.
    #[serde(rename = "change_timeout_ms", with = "crate::config::millis")]
    pub change_timeout: Duration,
}

impl Default for ScalingPolicy {
    fn default() -> Self {
        ScalingPolicy {
            min_shards: 1,
            max_shards: 8,
            scale_up_fill: 0.5,
            scale_up_busy: 0.8,
            scale_up_window: Duration::from_secs(1),
            scale_down_fill: 0.05,
            scale_down_busy: 0.2,
            scale_down_window: Duration::from_secs(10),
            cooldown: Duration::from_secs(5),
            interval: Duration::from_millis(100),
            change_timeout: Duration::from_secs(10),
        }
    }
}

impl ScalingPolicy {
    /// A policy between `min_shards` and `max_shards` with the default thresholds.
    ///
    /// # Examples
    ///
    /// ```
    /// use corelane::config::ScalingPolicy;
    ///
    /// let policy = ScalingPolicy::between(1, 4);
    /// assert_eq!((policy.min_shards, policy.max_shards), (1, 4));
    /// ```
    pub fn between(min_shards: usize, max_shards: usize) -> Self {
        ScalingPolicy {
            min_shards,
            max_shards,
            ..ScalingPolicy::default()
        }
    }

    /// Every problem with this policy for a bus starting at `num_shards` that may have
    /// at most `most` shards, as (field, message) pairs.
    pub(crate) fn problems(&self, num_shards: usize, most: usize) -> Vec<(&'static str, String)> {
        let mut p = self.bound_problems(num_shards, most);
        self.threshold_problems(&mut p);
        self.timing_problems(&mut p);
        p
    }

    fn bound_problems(&self, num_shards: usize, most: usize) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if self.min_shards == 0 || self.min_shards > num_shards {
            p.push((
                "scaling.min_shards",
                format!(
                    "{} is outside 1..=num_shards ({num_shards})",
                    self.min_shards
                ),
            ));
        }
        if self.max_shards < num_shards.max(1) || self.max_shards > most {
            p.push((
                "scaling.max_shards",
                format!(
                    "{} is outside num_shards ({num_shards})..={most}",
                    self.max_shards
                ),
            ));
        }
        p
    }

    fn threshold_problems(&self, p: &mut Vec<(&'static str, String)>) {
        for (field, v) in [
            ("scaling.scale_up_fill", self.scale_up_fill),
            ("scaling.scale_up_busy", self.scale_up_busy),
            ("scaling.scale_down_fill", self.scale_down_fill),
            ("scaling.scale_down_busy", self.scale_down_busy),
        ] {
            if !(0.0..=1.0).contains(&v) {
                p.push((field, format!("{v} is outside 0.0..=1.0")));
            }
        }
        if self.scale_down_fill >= self.scale_up_fill {
            p.push((
                "scaling.scale_down_fill",
                format!(
                    "{} is not below scale_up_fill ({})",
                    self.scale_down_fill, self.scale_up_fill
                ),
            ));
        }
        if self.scale_down_busy >= self.scale_up_busy {
            p.push((
                "scaling.scale_down_busy",
                format!(
                    "{} is not below scale_up_busy ({})",
                    self.scale_down_busy, self.scale_up_busy
                ),
            ));
        }
    }

    fn timing_problems(&self, p: &mut Vec<(&'static str, String)>) {
        let minute = Duration::from_secs(60);
        if self.interval < Duration::from_millis(1) || self.interval > minute {
            p.push((
                "scaling.interval",
                format!("{:?} is outside 1ms..=60s", self.interval),
            ));
        }
        if self.scale_up_window < self.interval || self.scale_up_window > Duration::from_secs(3600)
        {
            p.push((
                "scaling.scale_up_window",
                format!(
                    "{:?} is outside interval ({:?})..=1h",
                    self.scale_up_window, self.interval
                ),
            ));
        }
        if self.scale_down_window < self.scale_up_window
            || self.scale_down_window > Duration::from_secs(86_400)
        {
            p.push((
                "scaling.scale_down_window",
                format!(
                    "{:?} is outside scale_up_window ({:?})..=24h",
                    self.scale_down_window, self.scale_up_window
                ),
            ));
        }
        if self.cooldown > Duration::from_secs(86_400) {
            p.push((
                "scaling.cooldown",
                format!("{:?} is longer than 24h", self.cooldown),
            ));
        }
        if self.change_timeout < Duration::from_millis(1)
            || self.change_timeout > Duration::from_secs(3600)
        {
            p.push((
                "scaling.change_timeout",
                format!("{:?} is outside 1ms..=1h", self.change_timeout),
            ));
        }
    }
}
