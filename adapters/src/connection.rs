//! The connections of a network adapter (Redis, JetStream): one for writes and one for
//! reads, so a long poll never holds up a batch. Each is opened on first use and dropped
//! after a failure that may have left it unusable, so the next call reconnects. The
//! adapter's health is the outcome of the latest call on either.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use corelane_io::AdapterError;
use parking_lot::Mutex;

/// A client connection the slots can hold.
pub(crate) trait Connection {
    /// Whether this connection may serve the next call after a call on it failed with
    /// `failure`. `false` drops it: a reply still in flight would otherwise be read as the
    /// answer to the next request.
    fn usable_after(&self, failure: &AdapterError) -> bool;
}

/// Which of an adapter's two connections a call runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Writes batches; also used by `init`, which runs before any write.
    Writer,
    /// Serves polls and the read-only queries.
    Reader,
}

/// The writer and reader connections of one adapter, with its health and shutdown flags.
pub(crate) struct ConnectionSlots<C> {
    /// Names the store in messages (`redis`, `jetstream`).
    store: &'static str,
    writer: Mutex<Option<C>>,
    reader: Mutex<Option<C>>,
    /// Whether the latest call succeeded; false until one does.
    healthy: AtomicBool,
    /// Set by `close`, cleared by `reopen`; writes are refused while set.
    shut: AtomicBool,
}

impl<C: Connection> ConnectionSlots<C> {
    /// Empty slots; nothing connects until the first call.
    pub(crate) fn new(store: &'static str) -> Self {
        ConnectionSlots {
            store,
            writer: Mutex::new(None),
            reader: Mutex::new(None),
            healthy: AtomicBool::new(false),
            shut: AtomicBool::new(false),
        }
    }

    /// Runs `call` on the connection in `slot`, opening it with `connect` first when the
    /// slot is empty.
    ///
    /// A failed `connect` or a `call` failure after which the connection is not
    /// [`usable_after`](Connection::usable_after) empties the slot and marks the adapter
    /// unhealthy; a success marks it healthy. A deadline that passed before `call` could
    /// start is a timeout that leaves the connection as it is: nothing was sent on it.
    pub(crate) fn with<T>(
        &self,
        slot: Slot,
        deadline: Instant,
        connect: impl FnOnce() -> Result<C, AdapterError>,
        call: impl FnOnce(&mut C) -> Result<T, AdapterError>,
    ) -> Result<T, AdapterError> {
        let mut guard = self.slot(slot).lock();
        if guard.is_none() {
            match connect() {
                Ok(connection) => *guard = Some(connection),
                Err(e) => {
                    self.healthy.store(false, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        // Socket timeouts below a millisecond are refused or round to "no timeout".
        if deadline.saturating_duration_since(Instant::now()) < Duration::from_millis(1) {
            return Err(AdapterError::timeout(format!(
                "{}: the deadline passed before the call was sent",
                self.store
            )));
        }
        let connection = guard.as_mut().expect("connected above");
        match call(connection) {
            Ok(value) => {
                self.healthy.store(true, Ordering::Relaxed);
                Ok(value)
            }
            Err(e) => {
                if !connection.usable_after(&e) {
                    *guard = None;
                    self.healthy.store(false, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }

    /// Accepts writes again after [`close`](Self::close) (the adapter's `init`).
    pub(crate) fn reopen(&self) {
        self.shut.store(false, Ordering::Release);
    }

    /// Drops both connections and refuses writes until [`reopen`](Self::reopen).
    pub(crate) fn close(&self) {
        self.shut.store(true, Ordering::Release);
        *self.writer.lock() = None;
        *self.reader.lock() = None;
    }

    /// `Err(Shutdown)` once [`close`](Self::close) ran and until [`reopen`](Self::reopen).
    pub(crate) fn check_open(&self) -> Result<(), AdapterError> {
        if self.shut.load(Ordering::Acquire) {
            Err(AdapterError::shutdown(format!(
                "{} adapter is shut down",
                self.store
            )))
        } else {
            Ok(())
        }
    }

    /// Whether the latest call succeeded and the adapter is not shut down.
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && !self.shut.load(Ordering::Acquire)
    }

    fn slot(&self, slot: Slot) -> &Mutex<Option<C>> {
        match slot {
            Slot::Writer => &self.writer,
            Slot::Reader => &self.reader,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelane_io::ErrorKind;

    /// A connection that survives only fatal failures, counting the calls it served.
    struct Fake {
        calls: u32,
    }

    impl Connection for Fake {
        fn usable_after(&self, failure: &AdapterError) -> bool {
            !failure.is_retryable()
        }
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    fn count(fake: &mut Fake) -> Result<u32, AdapterError> {
        fake.calls += 1;
        Ok(fake.calls)
    }

    #[test]
    fn connects_once_and_drops_the_connection_only_when_it_is_unusable() {
        let slots = ConnectionSlots::new("fake");
        let connect = || Ok(Fake { calls: 0 });
        assert!(!slots.is_healthy());
        assert_eq!(
            slots.with(Slot::Writer, later(), connect, count).unwrap(),
            1
        );
        assert_eq!(
            slots.with(Slot::Writer, later(), connect, count).unwrap(),
            2
        );
        assert!(slots.is_healthy());

        let fatal = |_: &mut Fake| Err::<u32, _>(AdapterError::fatal("bad command"));
        slots
            .with(Slot::Writer, later(), connect, fatal)
            .unwrap_err();
        assert!(
            slots.is_healthy(),
            "a kept connection does not mark unhealthy"
        );
        assert_eq!(
            slots.with(Slot::Writer, later(), connect, count).unwrap(),
            3
        );

        let lost = |_: &mut Fake| Err::<u32, _>(AdapterError::transient("reset"));
        slots
            .with(Slot::Writer, later(), connect, lost)
            .unwrap_err();
        assert!(!slots.is_healthy());
        assert_eq!(
            slots.with(Slot::Writer, later(), connect, count).unwrap(),
            1
        );
        assert_eq!(
            slots.with(Slot::Reader, later(), connect, count).unwrap(),
            1
        );
    }

    #[test]
    fn a_failed_connect_or_a_passed_deadline_fails_the_call() {
        let slots = ConnectionSlots::<Fake>::new("fake");
        let refused = || Err(AdapterError::transient("refused"));
        let err = slots
            .with(Slot::Reader, later(), refused, count)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert!(!slots.is_healthy());

        let connect = || Ok(Fake { calls: 0 });
        let err = slots
            .with(Slot::Reader, Instant::now(), connect, count)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        // The connection opened for the late call serves the next one.
        let reused = slots.with(Slot::Reader, later(), || unreachable!(), count);
        assert_eq!(reused.unwrap(), 1);
    }

    #[test]
    fn close_refuses_writes_until_reopened() {
        let slots = ConnectionSlots::new("fake");
        slots
            .with(Slot::Writer, later(), || Ok(Fake { calls: 0 }), count)
            .unwrap();
        slots.close();
        assert!(!slots.is_healthy());
        assert_eq!(slots.check_open().unwrap_err().kind(), ErrorKind::Shutdown);
        slots.reopen();
        slots.check_open().unwrap();
        // Closing dropped the connection: the next call opens a fresh one.
        let fresh = slots.with(Slot::Writer, later(), || Ok(Fake { calls: 0 }), count);
        assert_eq!(fresh.unwrap(), 1);
    }
}
