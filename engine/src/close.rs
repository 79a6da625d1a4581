//! Shutdown: the stages that close a bus, run by a closer thread, and the callers that
//! wait for them each with a bound of their own.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::error::ShutdownError;
use crate::shared::{BusShared, Lifecycle};
use crate::stats::Stats;
use crate::wait::Ladder;

/// How long shutdown sleeps between looks at a producer still inside an ingest.
const LEAVE_SLEEP: Duration = Duration::from_micros(50);

/// The stages of a shutdown, in order; the closer publishes the one it is in, so that a
/// caller whose bound expires names the stage that held it up.
const STAGES: [&str; 4] = [
    "producers",
    "shard threads",
    "the I/O thread",
    "the adapter",
];

impl BusShared {
    /// Shuts the bus down, waiting at most `timeout` for the outcome.
    ///
    /// The first call starts a closer thread that runs every stage to its end; each
    /// caller (a second one too) waits with its own bound. A caller whose bound expires
    /// gets a timeout naming the stage the closer is in; the closer goes on, and a later
    /// call returns the final outcome.
    pub(crate) fn shutdown(self: &Arc<Self>, timeout: Duration) -> Result<Stats, ShutdownError> {
        let deadline = crate::clock::deadline_after(timeout);
        let mut lifecycle = self.lifecycle.lock();
        if matches!(*lifecycle, Lifecycle::Running) {
            *lifecycle = Lifecycle::Closing;
            let bus = Arc::clone(self);
            let producer_wait = self.config.shutdown_timeout;
            let spawned = std::thread::Builder::new()
                .name("corelane-close".into())
                .spawn(move || bus.run_close(producer_wait));
            if spawned.is_err() {
                // No thread to spare: close on the caller's thread.
                drop(lifecycle);
                self.run_close(producer_wait);
                lifecycle = self.lifecycle.lock();
            }
        }
        loop {
            if let Lifecycle::Closed(result) = &*lifecycle {
                return (**result).clone();
            }
            if self.closed.wait_until(&mut lifecycle, deadline).timed_out() {
                if let Lifecycle::Closed(result) = &*lifecycle {
                    return (**result).clone();
                }
                let stage = STAGES[usize::from(self.stage.load(Ordering::Acquire))];
                return Err(ShutdownError::Timeout { stage, timeout });
            }
        }
    }

    fn run_close(&self, producer_wait: Duration) {
        let result = self.close(producer_wait);
        *self.lifecycle.lock() = Lifecycle::Closed(Box::new(result));
        self.closed.notify_all();
    }

    fn enter_stage(&self, index: u8) {
        self.stage.store(index, Ordering::Release);
    }

    /// Runs the stages. Producers get `producer_wait` to leave an ingest begun before the
    /// close; every later stage runs to its end (each adapter call is bounded by its own
    /// deadline), so the adapter's flush and shutdown always run.
    fn close(&self, producer_wait: Duration) -> Result<Stats, ShutdownError> {
        // 1. Close the epoch: new ingests are refused from here on, and no scale change
        //    can publish. The scaling monitor stops.
        let (target, pins) = self.close_registry();
        self.monitor.stop_and_join();
        self.join_finisher();
        // 2. Wait for producers that are inside an ingest begun before the close. One
        //    that does not leave in time is reported; the shards are stopped anyway so
        //    that shutdown ends, and anything it pushes later shows up as in flight.
        let producers_deadline = crate::clock::deadline_after(producer_wait);
        let mut first_error = None;
        for slot in &pins {
            let mut ladder = Ladder::new(1000, 0, LEAVE_SLEEP, LEAVE_SLEEP);
            let done = slot.pin.wait_past(target, |_| {
                ladder.wait(None);
                Instant::now() > producers_deadline
            });
            if !done {
                first_error = Some(ShutdownError::Timeout {
                    stage: STAGES[0],
                    timeout: producer_wait,
                });
                break;
            }
        }
        // 3. Stop the shards: each drains its rings to empty, seals, hands off, exits. A
        //    scale change interrupted before its barrier gets it now, so the shards that
        //    hold for it let the I/O thread finish.
        self.enter_stage(1);
        self.release_pending_for_close();
        self.signals.stop.store(true, Ordering::Release);
        self.unpark_shards();
        let threads = self.threads.lock().take_all_running();
        for t in threads {
            if t.join().is_err() {
                tracing::error!("a corelane shard thread panicked");
            }
        }
        // 4. The I/O thread writes what is queued, flushes and shuts the adapter down.
        self.enter_stage(2);
        let outcome = loop {
            if let Some(outcome) = self.io.join(Instant::now() + Duration::from_secs(1)) {
                break outcome;
            }
        };
        self.enter_stage(3);
        self.finish_pending_after_close();
        if let Some(err) = first_error {
            return Err(err);
        }
        outcome.flush.map_err(|e| ShutdownError::Adapter {
            stage: "flush",
            message: e.to_string(),
        })?;
        outcome.shutdown.map_err(|e| ShutdownError::Adapter {
            stage: "shutdown",
            message: e.to_string(),
        })?;
        Ok(self.stats())
    }
}
