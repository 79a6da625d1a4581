//! The scaling policy's monitor: a thread the bus starts when a policy is set and joins
//! at shutdown. It reads what shard threads publish (ring fill, busy time) and calls
//! `scale_to`; reading statistics elsewhere never changes routing.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::config::ScalingPolicy;
use crate::scale::{ScaleError, ScaleReason};
use crate::shared::BusShared;

/// Starts the monitor of `bus` when its configuration has a policy.
pub(crate) fn start_monitor(bus: &Arc<BusShared>) -> std::io::Result<()> {
    let Some(policy) = bus.config.scaling else {
        return Ok(());
    };
    let monitored = Arc::clone(bus);
    let handle = std::thread::Builder::new()
        .name("corelane-scale".into())
        .spawn(move || Monitor::new(policy, &monitored).run(&monitored))?;
    bus.monitor.set(handle);
    Ok(())
}

/// What the monitor saw of every shard in one interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// The fullest ring of any active shard, 0.0..=1.0.
    pub(crate) fill: f64,
    /// The busiest active shard's busy fraction, 0.0..=1.0.
    pub(crate) busy: f64,
}

/// The policy's windows: when the bus became hot or cold, and when it may act again.
#[derive(Debug)]
pub(crate) struct Windows {
    policy: ScalingPolicy,
    hot_since: Option<Instant>,
    cold_since: Option<Instant>,
}

impl Windows {
    pub(crate) fn new(policy: ScalingPolicy) -> Windows {
        Windows {
            policy,
            hot_since: None,
            cold_since: None,
        }
    }

    /// Feeds one sample taken at `now` for a bus of `active` shards whose last change
    /// completed at `last_change`; returns the target and reason when it is time to act.
    pub(crate) fn decide(
        &mut self,
        sample: Sample,
        now: Instant,
        active: u32,
        last_change: Option<Instant>,
    ) -> Option<(u32, ScaleReason)> {
        let p = &self.policy;
        if last_change.is_some_and(|at| now.saturating_duration_since(at) < p.cooldown) {
            self.hot_since = None;
            self.cold_since = None;
            return None;
        }
        let hot = sample.fill >= p.scale_up_fill || sample.busy >= p.scale_up_busy;
        let cold = sample.fill <= p.scale_down_fill && sample.busy <= p.scale_down_busy;
        if hot {
            self.cold_since = None;
            let since = *self.hot_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= p.scale_up_window
                && (active as usize) < p.max_shards
            {
                self.hot_since = None;
                let reason = if sample.fill >= p.scale_up_fill {
                    ScaleReason::RingFill { fill: sample.fill }
                } else {
                    ScaleReason::Busy { busy: sample.busy }
                };
                return Some((active + 1, reason));
            }
        } else if cold {
            self.hot_since = None;
            let since = *self.cold_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= p.scale_down_window
                && (active as usize) > p.min_shards
            {
                self.cold_since = None;
                return Some((active - 1, ScaleReason::Idle));
            }
        } else {
            self.hot_since = None;
            self.cold_since = None;
        }
        None
    }
}

struct Monitor {
    policy: ScalingPolicy,
    windows: Windows,
    /// Per shard id, its busy total at the previous sample.
    busy_before: Vec<u64>,
    sampled_at: Instant,
}

impl Monitor {
    fn new(policy: ScalingPolicy, bus: &BusShared) -> Monitor {
        Monitor {
            policy,
            windows: Windows::new(policy),
            busy_before: bus
                .shard_states
                .iter()
                .map(|s| s.busy_ns.load(Ordering::Relaxed))
                .collect(),
            sampled_at: Instant::now(),
        }
    }

    fn run(mut self, bus: &Arc<BusShared>) {
        while !bus.monitor.sleep(self.policy.interval) && !bus.is_closing() {
            let active = bus.active.load(Ordering::Acquire);
            let sample = self.sample(bus, active);
            let last_change = bus.scaling.lock().last_change;
            let Some((target, reason)) =
                self.windows
                    .decide(sample, Instant::now(), active, last_change)
            else {
                continue;
            };
            match bus.scale_to(target, reason, self.policy.change_timeout) {
                Ok(_) | Err(ScaleError::Closed) => {}
                Err(err) => tracing::warn!(%err, target, "corelane scaling monitor"),
            }
        }
    }

    fn sample(&mut self, bus: &BusShared, active: u32) -> Sample {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.sampled_at).as_nanos() as f64;
        self.sampled_at = now;
        let capacity = bus.config.ring_capacity_bytes as f64;
        let mut sample = Sample {
            fill: 0.0,
            busy: 0.0,
        };
        for (shard, state) in bus.shard_states.iter().enumerate() {
            let busy = state.busy_ns.load(Ordering::Relaxed);
            let delta = busy.saturating_sub(self.busy_before[shard]);
            self.busy_before[shard] = busy;
            if shard as u32 >= active {
                continue;
            }
            let fill = state.ring_fill_bytes.load(Ordering::Relaxed) as f64 / capacity;
            sample.fill = sample.fill.max(fill.min(1.0));
            if elapsed > 0.0 {
                sample.busy = sample.busy.max((delta as f64 / elapsed).min(1.0));
            }
        }
        sample
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn policy() -> ScalingPolicy {
        ScalingPolicy {
            min_shards: 1,
            max_shards: 3,
            scale_up_window: Duration::from_millis(100),
            scale_down_window: Duration::from_millis(300),
            cooldown: Duration::from_millis(500),
            interval: Duration::from_millis(10),
            ..ScalingPolicy::default()
        }
    }

    const HOT: Sample = Sample {
        fill: 0.9,
        busy: 0.1,
    };
    const BUSY: Sample = Sample {
        fill: 0.1,
        busy: 0.95,
    };
    const COLD: Sample = Sample {
        fill: 0.0,
        busy: 0.0,
    };
    const WARM: Sample = Sample {
        fill: 0.2,
        busy: 0.5,
    };

    #[test]
    fn hot_for_the_window_adds_one_shard_up_to_max() {
        let mut w = Windows::new(policy());
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(w.decide(HOT, ms(0), 1, None), None);
        assert_eq!(w.decide(HOT, ms(50), 1, None), None);
        let (to, reason) = w.decide(HOT, ms(100), 1, None).unwrap();
        assert_eq!(to, 2);
        assert_eq!(reason, ScaleReason::RingFill { fill: 0.9 });
        // Busy alone counts too, with its own reason.
        assert_eq!(w.decide(BUSY, ms(110), 2, None), None);
        assert_eq!(
            w.decide(BUSY, ms(210), 2, None),
            Some((3, ScaleReason::Busy { busy: 0.95 }))
        );
        // At max_shards: nothing more.
        assert_eq!(w.decide(HOT, ms(300), 3, None), None);
        assert_eq!(w.decide(HOT, ms(900), 3, None), None);
    }

    #[test]
    fn a_warm_sample_restarts_the_windows() {
        let mut w = Windows::new(policy());
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(w.decide(HOT, ms(0), 1, None), None);
        assert_eq!(w.decide(WARM, ms(60), 1, None), None);
        assert_eq!(w.decide(HOT, ms(120), 1, None), None, "window restarted");
        assert_eq!(w.decide(HOT, ms(220), 1, None), Some((2, HOT_REASON)));
        assert_eq!(w.decide(COLD, ms(300), 2, None), None);
        assert_eq!(w.decide(WARM, ms(500), 2, None), None);
        assert_eq!(w.decide(COLD, ms(700), 2, None), None, "window restarted");
        assert_eq!(
            w.decide(COLD, ms(1000), 2, None),
            Some((1, ScaleReason::Idle))
        );
        assert_eq!(w.decide(COLD, ms(2000), 1, None), None, "at min_shards");
    }

    const HOT_REASON: ScaleReason = ScaleReason::RingFill { fill: 0.9 };

    #[test]
    fn cooldown_holds_every_decision_and_restarts_the_windows() {
        let mut w = Windows::new(policy());
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let changed = Some(ms(0));
        for t in [0, 100, 200, 499] {
            assert_eq!(w.decide(HOT, ms(t), 1, changed), None, "at {t} ms");
        }
        assert_eq!(w.decide(HOT, ms(500), 1, changed), None, "window starts");
        assert_eq!(w.decide(HOT, ms(600), 1, changed), Some((2, HOT_REASON)));
    }
}
