//! `subscribe`: a blocking iterator over events as they arrive.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::read::consumer::{ConsumeRequest, ConsumedEvent, Consumer};
use crate::read::cursor::Cursor;
use crate::read::error::ConsumerError;

/// Where a subscription starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    /// After this cursor.
    Cursor(Cursor),
    /// At the beginning of every shard.
    Beginning,
    /// After the last event stored when the subscription is created: only new events.
    End,
}

/// Stops a [`Subscription`] from another thread: its iterator ends (returns `None`)
/// at its next step, waking it if it is waiting for events.
#[derive(Debug, Clone, Default)]
pub struct StopHandle {
    state: Arc<(Mutex<bool>, Condvar)>,
}

impl StopHandle {
    /// Asks the subscription to end.
    pub fn stop(&self) {
        *self.state.0.lock() = true;
        self.state.1.notify_all();
    }

    /// True once `stop` was called.
    pub fn is_stopped(&self) -> bool {
        *self.state.0.lock()
    }

    /// Sleeps up to `timeout` unless stopped; true if stopped.
    fn wait(&self, timeout: Duration) -> bool {
        let mut stopped = self.state.0.lock();
        if !*stopped {
            self.state.1.wait_for(&mut stopped, timeout);
        }
        *stopped
    }
}

/// A blocking iterator of events: polls, yields what it got, and when nothing is new
/// waits with a bounded backoff (1 ms doubling to `max_idle_wait`, 100 ms by default)
/// before polling again. Errors are yielded, not panicked: shard failures as
/// `ConsumerError::ShardsFailed` (the subscription goes on), invalid requests once
/// (then it ends).
///
/// [`cursor`](Self::cursor) is the position after the last event yielded, to resume from.
#[derive(Debug)]
pub struct Subscription {
    consumer: Consumer,
    request: ConsumeRequest,
    cursor: Cursor,
    page: VecDeque<ConsumedEvent>,
    page_end: Option<Cursor>,
    stop: StopHandle,
    idle: Duration,
    max_idle_wait: Duration,
    finished: bool,
}

const MIN_IDLE: Duration = Duration::from_millis(1);

impl Subscription {
    /// A subscription reading `consumer` from `start`; `request` supplies the filter,
    /// ordering, shards and page size of each poll (its `after` is replaced).
    pub fn new(
        consumer: Consumer,
        request: ConsumeRequest,
        start: StartAt,
    ) -> Result<Subscription, ConsumerError> {
        let cursor = match start {
            StartAt::Cursor(c) => c,
            StartAt::Beginning => Cursor::beginning(),
            StartAt::End => {
                let deadline = crate::clock::deadline_after(request.timeout);
                let mut c = Cursor::beginning();
                for shard in 0..consumer.num_shards() {
                    let last = consumer
                        .adapter()
                        .last_position(shard, deadline)
                        .map_err(|e| ConsumerError::Adapter {
                            shard,
                            message: e.to_string(),
                        })?;
                    c.set_opt(shard, last);
                }
                c
            }
        };
        Ok(Subscription {
            consumer,
            request,
            cursor,
            page: VecDeque::new(),
            page_end: None,
            stop: StopHandle::default(),
            idle: MIN_IDLE,
            max_idle_wait: Duration::from_millis(100),
            finished: false,
        })
    }

    /// Caps the wait between polls when nothing is new.
    pub fn max_idle_wait(mut self, wait: Duration) -> Self {
        self.max_idle_wait = wait.max(MIN_IDLE);
        self
    }

    /// A handle that stops this subscription from any thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The position after the last event yielded.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    fn backoff(&mut self) -> bool {
        let stopped = self.stop.wait(self.idle);
        self.idle = (self.idle * 2).min(self.max_idle_wait);
        stopped
    }
}

impl Iterator for Subscription {
    type Item = Result<ConsumedEvent, ConsumerError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.finished || self.stop.is_stopped() {
                return None;
            }
            if let Some(event) = self.page.pop_front() {
                self.cursor.set(event.shard, event.position);
                if self.page.is_empty()
                    && let Some(end) = self.page_end.take()
                {
                    // Also past events the filter rejected at the end of the page.
                    self.cursor = end;
                }
                return Some(Ok(event));
            }
            self.request.after = Some(self.cursor.clone());
            match self.consumer.poll(&self.request) {
                Ok(response) => {
                    let failed = response.failed_shards;
                    if response.events.is_empty() {
                        self.cursor = response.next_cursor;
                        if !response.has_more && self.backoff() {
                            return None;
                        }
                    } else {
                        self.idle = MIN_IDLE;
                        self.page = response.events.into();
                        self.page_end = Some(response.next_cursor);
                    }
                    if !failed.is_empty() {
                        return Some(Err(ConsumerError::ShardsFailed(failed)));
                    }
                }
                Err(err) => {
                    // Invalid input does not get better by asking again.
                    self.finished = true;
                    return Some(Err(err));
                }
            }
        }
    }
}

impl Consumer {
    /// A blocking iterator of events from `start`; see [`Subscription`].
    pub fn subscribe(
        &self,
        request: ConsumeRequest,
        start: StartAt,
    ) -> Result<Subscription, ConsumerError> {
        Subscription::new(self.clone(), request, start)
    }
}
