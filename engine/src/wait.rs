//! How an idle shard thread waits: the [`WaitStrategy`] put into steps.

use std::time::Duration;

use crate::WaitStrategy;

const SPINS: u32 = 64;
const YIELDS: u32 = 16;
const FIRST_SLEEP: Duration = Duration::from_micros(50);
const MAX_SLEEP: Duration = Duration::from_millis(1);

/// Escalating idle steps; reset whenever the thread finds work.
#[derive(Debug)]
pub(crate) struct Idler {
    strategy: WaitStrategy,
    rounds: u32,
}

impl Idler {
    pub(crate) fn new(strategy: WaitStrategy) -> Self {
        Idler {
            strategy,
            rounds: 0,
        }
    }

    /// The thread found work.
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.rounds = 0;
    }

    /// One idle step. `cap` bounds a sleep (time left before an open batch is due).
    /// Sleeps are `park_timeout`, so `Thread::unpark` (flush, shutdown) cuts them short.
    pub(crate) fn idle(&mut self, cap: Option<Duration>) {
        let round = self.rounds;
        self.rounds = self.rounds.saturating_add(1);
        match self.strategy {
            WaitStrategy::BusySpin => std::hint::spin_loop(),
            WaitStrategy::SpinThenYield => {
                if round < SPINS {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            WaitStrategy::Backoff => {
                if round < SPINS {
                    std::hint::spin_loop();
                } else if round < SPINS + YIELDS {
                    std::thread::yield_now();
                } else {
                    let step = (round - SPINS - YIELDS).min(5);
                    let mut sleep = (FIRST_SLEEP * (1 << step)).min(MAX_SLEEP);
                    if let Some(cap) = cap {
                        sleep = sleep.min(cap);
                    }
                    if sleep.is_zero() {
                        std::thread::yield_now();
                    } else {
                        std::thread::park_timeout(sleep);
                    }
                }
            }
        }
    }
}
