//! Insertion timestamps: Unix-epoch nanoseconds from one monotonic reading.
//!
//! The bus reads the wall clock once, at start, and derives every later timestamp from
//! the monotonic clock: one `clock_gettime` per drain pass gives both the batch-age
//! instant and the timestamp, timestamps of all shards of a bus share one origin (so they
//! compare across shards), and a wall-clock step while the bus runs cannot make them go
//! backwards. Shards make them strictly increasing by stepping 1 ns past the previous
//! one when needed, starting above the last timestamp the adapter reported, so they also
//! increase across restarts.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A monotonic clock that reads as Unix-epoch nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
    origin_unix_ns: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let origin = Instant::now();
        let origin_unix_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Clock {
            origin,
            origin_unix_ns,
        }
    }

    /// The current instant and the Unix-epoch nanoseconds it corresponds to.
    #[inline]
    pub(crate) fn now(&self) -> (Instant, u64) {
        let now = Instant::now();
        let ns = self.origin_unix_ns + now.duration_since(self.origin).as_nanos() as u64;
        (now, ns)
    }
}

/// `timeout` from now, saturated: a caller's `Duration::MAX` ("wait as long as it
/// takes") becomes a deadline about a century away instead of an `Instant` overflow.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Instant {
    const CENTURY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + CENTURY.min(timeout))
}
