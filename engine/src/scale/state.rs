//! What a bus keeps about scale changes: the one pending, the log, the monitor thread.
//! Data only, so that the shared bus state can hold it without depending on the code
//! that changes it.

use std::collections::VecDeque;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Condvar, Mutex};

use crate::scale::{ScaleEvent, ScaleOutcome, ScaleReason};

/// Scale events kept for [`Stats::scaling`](crate::Stats::scaling).
const EVENTS_KEPT: usize = 64;

/// Scale changes of a bus: the one in progress, the log, the next id.
#[derive(Debug)]
pub(crate) struct ScalingState {
    pub(crate) pending: Option<PendingChange>,
    /// From and to of the change published and not yet complete (for messages).
    pub(crate) publishing: Option<(u32, u32)>,
    pub(crate) events: VecDeque<ScaleEvent>,
    pub(crate) changes: u64,
    pub(crate) next_id: u64,
    /// When the last change completed (the monitor's cooldown runs from here).
    pub(crate) last_change: Option<Instant>,
}

impl Default for ScalingState {
    fn default() -> Self {
        ScalingState {
            pending: None,
            publishing: None,
            events: VecDeque::new(),
            changes: 0,
            next_id: 1,
            last_change: None,
        }
    }
}

impl ScalingState {
    pub(crate) fn record(&mut self, event: ScaleEvent) {
        if self.events.len() == EVENTS_KEPT {
            self.events.pop_front();
        }
        self.events.push_back(event);
        self.publishing = None;
        self.changes += 1;
        self.last_change = Some(Instant::now());
    }
}

/// A change published and not yet complete.
#[derive(Debug)]
pub(crate) struct PendingChange {
    pub(crate) id: u64,
    pub(crate) from: u32,
    pub(crate) to: u32,
    pub(crate) reason: ScaleReason,
    pub(crate) started: Instant,
    pub(crate) at: SystemTime,
    pub(crate) to_traffic: Duration,
    /// The epoch word the new routing was published with.
    pub(crate) word: u64,
    /// Shards that handed keys away.
    pub(crate) losers: Vec<u32>,
    /// Shards being retired (`to..from` when scaling down).
    pub(crate) retiring: Vec<u32>,
    /// The flush ticket of the barrier, once producers have all left the old routing.
    pub(crate) ticket: Option<u64>,
}

impl PendingChange {
    pub(crate) fn describe(&self) -> String {
        let stage = match self.ticket {
            None => "waiting for producers to leave the old routing",
            Some(_) => "writing the moved keys' earlier events",
        };
        format!("{} → {} shards, {stage}", self.from, self.to)
    }

    /// The log entry of this change, complete after `took`.
    pub(crate) fn event(&self, took: Duration) -> ScaleEvent {
        ScaleEvent {
            at: self.at,
            from: self.from,
            to: self.to,
            reason: self.reason,
            to_traffic: self.to_traffic,
            took,
        }
    }

    pub(crate) fn outcome(&self) -> ScaleOutcome {
        ScaleOutcome {
            from: self.from,
            to: self.to,
            added: (self.from..self.to).collect(),
            retired: self.retiring.clone(),
            to_traffic: self.to_traffic,
            took: self.started.elapsed(),
        }
    }
}

/// The monitor thread of a bus, and how to stop it.
#[derive(Debug, Default)]
pub(crate) struct MonitorSlot {
    thread: Mutex<Option<JoinHandle<()>>>,
    stop: Mutex<bool>,
    stopped: Condvar,
}

impl MonitorSlot {
    /// Stops the monitor and joins it (a no-op without one, or the second time).
    pub(crate) fn stop_and_join(&self) {
        *self.stop.lock() = true;
        self.stopped.notify_all();
        let handle = self.thread.lock().take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the corelane scaling monitor panicked");
        }
    }

    pub(crate) fn set(&self, handle: JoinHandle<()>) {
        *self.thread.lock() = Some(handle);
    }

    /// Sleeps `period` unless stopped first; true when stopped.
    pub(crate) fn sleep(&self, period: Duration) -> bool {
        let deadline = Instant::now() + period;
        let mut stop = self.stop.lock();
        while !*stop {
            if self.stopped.wait_until(&mut stop, deadline).timed_out() {
                break;
            }
        }
        *stop
    }
}
