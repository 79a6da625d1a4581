//! Retry delays: exponential backoff with jitter that decorrelates shards.

use std::time::Duration;

/// Computes the delay before each retry of one shard's batch.
///
/// The base delay doubles from `initial` with every attempt and is capped at `max`; the
/// delay actually used is drawn uniformly from `[base/2, base*3/2)` (then capped), from a
/// generator seeded per shard, so shards that failed together do not retry together.
#[derive(Debug, Clone)]
pub(crate) struct RetryBackoff {
    initial: Duration,
    max: Duration,
    rng: u64,
}

impl RetryBackoff {
    /// A backoff for one shard; `seed` should differ between shards and processes.
    pub(crate) fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        RetryBackoff {
            initial,
            max: max.max(initial),
            // splitmix64 must not start from a state that maps to itself trivially.
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// The un-jittered delay before retry number `attempt` (1 for the first retry).
    pub(crate) fn base_delay(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(30);
        self.initial
            .checked_mul(1u32 << shift)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The jittered delay before retry number `attempt` (1 for the first retry).
    pub(crate) fn delay(&mut self, attempt: u32) -> Duration {
        let base = self.base_delay(attempt).as_nanos() as u64;
        let jitter = if base == 0 { 0 } else { self.next() % base };
        Duration::from_nanos(base / 2 + jitter).min(self.max)
    }

    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_doubles_and_caps() {
        let b = RetryBackoff::new(Duration::from_millis(100), Duration::from_secs(1), 1);
        let got: Vec<_> = (1..=6).map(|a| b.base_delay(a).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.base_delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_range_and_differs_between_shards() {
        let mut a = RetryBackoff::new(Duration::from_millis(100), Duration::from_secs(10), 1);
        let mut b = RetryBackoff::new(Duration::from_millis(100), Duration::from_secs(10), 2);
        let mut differ = 0;
        for attempt in 1..=5 {
            let base = a.base_delay(attempt);
            let (da, db) = (a.delay(attempt), b.delay(attempt));
            for d in [da, db] {
                assert!(
                    d >= base / 2 && d < base * 3 / 2,
                    "{d:?} outside around {base:?}"
                );
            }
            differ += usize::from(da != db);
        }
        assert!(
            differ >= 4,
            "two shards drew the same delays {differ} times of 5"
        );
    }
}
