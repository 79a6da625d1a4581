//! When a shard seals its open batch: at `max_events` events, at `max_bytes` payload
//! bytes (a lone larger event still forms a batch of one), or once its oldest event is
//! `max_delay` old at the start of a drain pass. Flush markers and shutdown seal too
//! (see `worker.rs`); these are the rules for everything else.

use std::time::{Duration, Instant};

use crate::config::BatchConfig;

/// The sealing rules of one shard, from its [`BatchConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SealRules(BatchConfig);

impl SealRules {
    pub(crate) fn new(batch: BatchConfig) -> Self {
        SealRules(batch)
    }

    /// The configured limits.
    pub(crate) fn limits(&self) -> BatchConfig {
        self.0
    }

    /// Whether an event of `len` bytes may join a batch of `events` events and `bytes`
    /// payload bytes. An empty batch takes any event, however large.
    #[inline]
    pub(crate) fn has_room(&self, events: usize, bytes: usize, len: usize) -> bool {
        events < self.0.max_events && (events == 0 || bytes + len <= self.0.max_bytes)
    }

    /// Whether a batch of `events` events and `bytes` bytes must be sealed now.
    #[inline]
    pub(crate) fn is_full(&self, events: usize, bytes: usize) -> bool {
        events >= self.0.max_events || bytes >= self.0.max_bytes
    }

    /// Whether a batch whose first event arrived at `opened` is due at `now`.
    pub(crate) fn is_due(&self, opened: Instant, now: Instant) -> bool {
        now.saturating_duration_since(opened) >= self.0.max_delay
    }

    /// How long after `now` a batch opened at `opened` becomes due (zero when it is).
    pub(crate) fn time_left(&self, opened: Instant, now: Instant) -> Duration {
        self.0
            .max_delay
            .saturating_sub(now.saturating_duration_since(opened))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(max_events: usize, max_bytes: usize, max_delay_ms: u64) -> SealRules {
        SealRules::new(BatchConfig {
            max_events,
            max_bytes,
            max_delay: Duration::from_millis(max_delay_ms),
        })
    }

    #[test]
    fn a_batch_is_full_at_max_events_or_max_bytes() {
        let r = rules(4, 100, 1);
        assert!(!r.is_full(3, 99));
        assert!(r.is_full(4, 0));
        assert!(r.is_full(1, 100));
        assert!(r.is_full(1, 5000), "one oversized event fills a batch");
    }

    #[test]
    fn an_event_joins_only_while_both_caps_hold() {
        let r = rules(4, 100, 1);
        assert!(r.has_room(0, 0, 100));
        assert!(r.has_room(3, 60, 40), "exactly max_bytes fits");
        assert!(!r.has_room(3, 60, 41));
        assert!(!r.has_room(4, 0, 1), "max_events reached");
        assert!(r.has_room(0, 0, 10_000), "an empty batch takes any event");
        assert!(!r.has_room(1, 1, 10_000));
    }

    #[test]
    fn a_batch_is_due_once_its_oldest_event_is_max_delay_old() {
        let r = rules(1024, 1 << 20, 5);
        let opened = Instant::now();
        assert!(!r.is_due(opened, opened + Duration::from_millis(4)));
        assert!(r.is_due(opened, opened + Duration::from_millis(5)));
        assert_eq!(
            r.time_left(opened, opened + Duration::from_millis(3)),
            Duration::from_millis(2)
        );
        assert_eq!(
            r.time_left(opened, opened + Duration::from_secs(1)),
            Duration::ZERO
        );
        let eager = rules(1024, 1 << 20, 0);
        assert!(
            eager.is_due(opened, opened),
            "max_delay 0 seals at every pass"
        );
    }
}
