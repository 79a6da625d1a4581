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

/// The policy's windows: the samples since the last decision, judged over the
/// scale-up and scale-down windows.
///
/// Ring fill is an instant reading that swings between empty and full as a shard drains
/// in gulps, so the bus is hot when the *mean* of the samples over `scale_up_window`
/// reaches a threshold; it is cold only when *every* sample over `scale_down_window`
/// is cold (a burst means it is not idle).
#[derive(Debug)]
pub(crate) struct Windows {
    policy: ScalingPolicy,
    samples: std::collections::VecDeque<(Instant, Sample)>,
    /// The first sample since the last decision or cooldown.
    since: Option<Instant>,
}

impl Windows {
    pub(crate) fn new(policy: ScalingPolicy) -> Windows {
        Windows {
            policy,
            samples: std::collections::VecDeque::new(),
            since: None,
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
        let p = self.policy;
        if last_change.is_some_and(|at| now.saturating_duration_since(at) < p.cooldown) {
            self.reset();
            return None;
        }
        let since = *self.since.get_or_insert(now);
        self.samples.push_back((now, sample));
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > p.scale_down_window)
        {
            self.samples.pop_front();
        }
        let covered = |window| now.saturating_duration_since(since) >= window;
        let within = |window| {
            self.samples
                .iter()
                .filter(move |(at, _)| now.saturating_duration_since(*at) <= window)
                .map(|(_, s)| *s)
        };
        if covered(p.scale_up_window) && (active as usize) < p.max_shards {
            let (mut fill, mut busy, mut n) = (0.0, 0.0, 0.0);
            for s in within(p.scale_up_window) {
                fill += s.fill;
                busy += s.busy;
                n += 1.0;
            }
            let (fill, busy) = (fill / n, busy / n);
            let reason = if fill >= p.scale_up_fill {
                Some(ScaleReason::RingFill { fill })
            } else if busy >= p.scale_up_busy {
                Some(ScaleReason::Busy { busy })
            } else {
                None
            };
            if let Some(reason) = reason {
                self.reset();
                return Some((active + 1, reason));
            }
        }
        if covered(p.scale_down_window)
            && (active as usize) > p.min_shards
            && within(p.scale_down_window)
                .all(|s| s.fill <= p.scale_down_fill && s.busy <= p.scale_down_busy)
        {
            self.reset();
            return Some((active - 1, ScaleReason::Idle));
        }
        None
    }

    fn reset(&mut self) {
        self.samples.clear();
        self.since = None;
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
            if bus.changing.load(Ordering::Acquire) {
                // A change is still completing (perhaps in the background): its end
                // starts the cooldown.
                continue;
            }
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
    fn hot_on_average_over_the_window_adds_one_shard_up_to_max() {
        let mut w = Windows::new(policy());
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(w.decide(HOT, ms(0), 1, None), None);
        assert_eq!(
            w.decide(COLD, ms(50), 1, None),
            None,
            "window not covered yet"
        );
        // Mean fill of 0.9, 0.0 and 0.9 is 0.6: hot.
        let (to, reason) = w.decide(HOT, ms(100), 1, None).unwrap();
        assert_eq!(to, 2);
        assert!(matches!(reason, ScaleReason::RingFill { fill } if (fill - 0.6).abs() < 1e-9));
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
    fn a_spike_does_not_scale_up_and_a_burst_restarts_the_cold_window() {
        let mut w = Windows::new(policy());
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        for t in [0, 30, 60, 90] {
            let sample = if t == 0 { HOT } else { COLD };
            assert_eq!(w.decide(sample, ms(t), 2, None), None);
        }
        assert_eq!(w.decide(COLD, ms(100), 2, None), None, "mean fill 0.18");
        assert_eq!(w.decide(WARM, ms(250), 2, None), None);
        assert_eq!(
            w.decide(COLD, ms(400), 2, None),
            None,
            "the warm one is in the window"
        );
        assert_eq!(
            w.decide(COLD, ms(560), 2, None),
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
