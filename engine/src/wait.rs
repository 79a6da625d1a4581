//! One way to wait for something another thread will do: spin, then yield, then sleep
//! in growing steps. Shard threads (their [`WaitStrategy`]), producers waiting for room in
//! a ring, the I/O thread with nothing to do, and shutdown waiting for producers all
//! climb the same [`Ladder`]; only its rungs differ.

use std::time::{Duration, Instant};

use crate::config::settings::WaitStrategy;

/// What the next idle step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A spin-loop hint: the cheapest wait, for work that arrives within nanoseconds.
    Spin,
    /// Give the CPU to another thread that shares it.
    Yield,
    /// Sleep (or park) this long at most.
    Sleep(Duration),
    /// Park until another thread unparks this one (a ladder that ends in parking).
    Park,
}

/// Escalating idle steps: `spins` spins, then `yields` yields (or, on a lingering ladder,
/// yields until `linger` has passed since the first of them), then sleeps doubling from
/// `first_sleep` up to `max_sleep`, or parks. Reset whenever the waiter finds work.
#[derive(Debug, Clone)]
pub(crate) struct Ladder {
    spins: u32,
    yields: u32,
    first_sleep: Duration,
    max_sleep: Duration,
    /// Whether the last rung parks (until unparked) instead of sleeping.
    parks: bool,
    /// Yield for this long instead of `yields` times.
    linger: Option<Duration>,
    /// When the first yield of this idle stretch was taken (lingering ladders only).
    yielding_since: Option<Instant>,
    round: u32,
}

impl Ladder {
    pub(crate) const fn new(
        spins: u32,
        yields: u32,
        first_sleep: Duration,
        max_sleep: Duration,
    ) -> Ladder {
        Ladder {
            spins,
            yields,
            first_sleep,
            max_sleep,
            parks: false,
            linger: None,
            yielding_since: None,
            round: 0,
        }
    }

    /// A ladder that spins and yields, then parks until woken.
    pub(crate) const fn parking(spins: u32, yields: u32) -> Ladder {
        let mut ladder = Ladder::new(spins, yields, Duration::ZERO, Duration::ZERO);
        ladder.parks = true;
        ladder
    }

    /// A ladder that spins, yields until `linger` has passed since its first yield, then
    /// parks until woken.
    pub(crate) const fn lingering(spins: u32, linger: Duration) -> Ladder {
        let mut ladder = Ladder::parking(spins, u32::MAX);
        ladder.linger = Some(linger);
        ladder
    }

    /// The ladder of a shard thread under `strategy`: `BusySpin` never leaves the first
    /// rung, `SpinThenYield` yields for `park_after` before it parks, `Backoff` parks soon
    /// after spinning. A parked shard costs no CPU; the producer that finds it parked
    /// wakes it.
    pub(crate) fn for_shard(strategy: WaitStrategy, park_after: Duration) -> Ladder {
        match strategy {
            WaitStrategy::BusySpin => Ladder::new(u32::MAX, 0, Duration::ZERO, Duration::ZERO),
            WaitStrategy::SpinThenYield => Ladder::lingering(64, park_after),
            WaitStrategy::Backoff => Ladder::parking(64, 16),
        }
    }

    /// The waiter found work: start from the first rung again.
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.round = 0;
        self.yielding_since = None;
    }

    /// The next step, climbing one rung.
    pub(crate) fn next_step(&mut self) -> Step {
        let round = self.round;
        self.round = self.round.saturating_add(1);
        if round < self.spins {
            return Step::Spin;
        }
        let past_spins = round - self.spins;
        if let Some(linger) = self.linger {
            // One clock read per yield: small beside the system call it precedes.
            let now = Instant::now();
            let since = *self.yielding_since.get_or_insert(now);
            if now.saturating_duration_since(since) < linger {
                return Step::Yield;
            }
        } else if past_spins < self.yields {
            return Step::Yield;
        }
        if self.parks {
            return Step::Park;
        }
        let doublings = (past_spins - self.yields).min(16);
        Step::Sleep((self.first_sleep * (1u32 << doublings)).min(self.max_sleep))
    }

    /// Takes the next step. A sleep lasts at most `cap` (the time left before something
    /// is due) and is a `park_timeout`, so `Thread::unpark` cuts it short.
    pub(crate) fn wait(&mut self, cap: Option<Duration>) {
        let step = self.next_step();
        Ladder::take(step, cap);
    }

    /// Takes `step`; a park without a cap waits for an unpark.
    pub(crate) fn take(step: Step, cap: Option<Duration>) {
        match step {
            Step::Spin => std::hint::spin_loop(),
            Step::Yield => std::thread::yield_now(),
            Step::Park if cap.is_none() => std::thread::park(),
            Step::Park => std::thread::park_timeout(cap.unwrap_or_default()),
            Step::Sleep(sleep) => {
                let sleep = cap.map_or(sleep, |cap| sleep.min(cap));
                if sleep.is_zero() {
                    std::thread::yield_now();
                } else {
                    std::thread::park_timeout(sleep);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(ladder: &mut Ladder, n: usize) -> Vec<Step> {
        (0..n).map(|_| ladder.next_step()).collect()
    }

    #[test]
    fn the_rungs_come_in_order_and_sleeps_double_up_to_the_cap() {
        let us = Duration::from_micros;
        let mut l = Ladder::new(2, 1, us(10), us(35));
        assert_eq!(
            steps(&mut l, 6),
            vec![
                Step::Spin,
                Step::Spin,
                Step::Yield,
                Step::Sleep(us(10)),
                Step::Sleep(us(20)),
                Step::Sleep(us(35)),
            ]
        );
        l.reset();
        assert_eq!(l.next_step(), Step::Spin);
    }

    #[test]
    fn shard_strategies_keep_to_their_rungs() {
        let ms = Duration::from_millis;
        let mut spin = Ladder::for_shard(WaitStrategy::BusySpin, ms(1));
        assert!(steps(&mut spin, 10_000).iter().all(|s| *s == Step::Spin));
        let mut backoff = Ladder::for_shard(WaitStrategy::Backoff, ms(1));
        let last = *steps(&mut backoff, 200).last().unwrap();
        assert_eq!(last, Step::Park);
        let mut no_linger = Ladder::for_shard(WaitStrategy::SpinThenYield, Duration::ZERO);
        assert_eq!(*steps(&mut no_linger, 65).last().unwrap(), Step::Park);
    }

    #[test]
    fn a_lingering_ladder_yields_for_its_time_then_parks_and_starts_over_on_reset() {
        let linger = Duration::from_millis(20);
        let mut ladder = Ladder::for_shard(WaitStrategy::SpinThenYield, linger);
        assert!(steps(&mut ladder, 64).iter().all(|s| *s == Step::Spin));
        let first_yield = Instant::now();
        let mut yields = 0u64;
        let parked_after = loop {
            match ladder.next_step() {
                Step::Yield => yields += 1,
                Step::Park => break first_yield.elapsed(),
                other => panic!("unexpected rung {other:?}"),
            }
        };
        // Time bounds the yielding, not a count: it lasted at least the linger, and a
        // clock read is all each yield rung costs here (no yield is taken).
        assert!(parked_after >= linger, "parked after {parked_after:?}");
        assert!(yields > 0);
        assert_eq!(ladder.next_step(), Step::Park);
        ladder.reset();
        assert!(steps(&mut ladder, 64).iter().all(|s| *s == Step::Spin));
        assert_eq!(ladder.next_step(), Step::Yield, "reset restarts the linger");
    }
}
