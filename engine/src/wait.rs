//! One way to wait for something another thread will do: spin, then yield, then sleep
//! in growing steps. Shard threads (their [`WaitStrategy`]), producers waiting for room in
//! a ring, the I/O thread with nothing to do, and shutdown waiting for producers all
//! climb the same [`Ladder`]; only its rungs differ.

use std::time::Duration;

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
}

/// Escalating idle steps: `spins` spins, then `yields` yields, then sleeps doubling from
/// `first_sleep` up to `max_sleep`. Reset whenever the waiter finds work.
#[derive(Debug, Clone)]
pub(crate) struct Ladder {
    spins: u32,
    yields: u32,
    first_sleep: Duration,
    max_sleep: Duration,
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
            round: 0,
        }
    }

    /// The ladder of a shard thread under `strategy`: `BusySpin` never leaves the first
    /// rung, `SpinThenYield` never sleeps, `Backoff` sleeps up to 1 ms.
    pub(crate) fn for_shard(strategy: WaitStrategy) -> Ladder {
        let (first, max) = (Duration::from_micros(50), Duration::from_millis(1));
        match strategy {
            WaitStrategy::BusySpin => Ladder::new(u32::MAX, 0, first, max),
            WaitStrategy::SpinThenYield => Ladder::new(64, u32::MAX, first, max),
            WaitStrategy::Backoff => Ladder::new(64, 16, first, max),
        }
    }

    /// The waiter found work: start from the first rung again.
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.round = 0;
    }

    /// The next step, climbing one rung.
    pub(crate) fn next_step(&mut self) -> Step {
        let round = self.round;
        self.round = self.round.saturating_add(1);
        if round < self.spins {
            return Step::Spin;
        }
        let past_spins = round - self.spins;
        if past_spins < self.yields {
            return Step::Yield;
        }
        let doublings = (past_spins - self.yields).min(16);
        Step::Sleep((self.first_sleep * (1u32 << doublings)).min(self.max_sleep))
    }

    /// Takes the next step. A sleep lasts at most `cap` (the time left before something
    /// is due) and is a `park_timeout`, so `Thread::unpark` cuts it short.
    pub(crate) fn wait(&mut self, cap: Option<Duration>) {
        match self.next_step() {
            Step::Spin => std::hint::spin_loop(),
            Step::Yield => std::thread::yield_now(),
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
        let mut spin = Ladder::for_shard(WaitStrategy::BusySpin);
        assert!(steps(&mut spin, 10_000).iter().all(|s| *s == Step::Spin));
        let mut yielding = Ladder::for_shard(WaitStrategy::SpinThenYield);
        assert!(
            steps(&mut yielding, 10_000)
                .iter()
                .all(|s| !matches!(s, Step::Sleep(_)))
        );
        let mut backoff = Ladder::for_shard(WaitStrategy::Backoff);
        let last = *steps(&mut backoff, 200).last().unwrap();
        assert_eq!(last, Step::Sleep(Duration::from_millis(1)));
    }
}
