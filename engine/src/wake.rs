//! Parking an idle shard thread and waking it, without a fence on the ingest path.
//!
//! # The protocol
//! Each shard has a flag on a cache line of its own, written only when the shard parks
//! or wakes, so producers read it from their own cache.
//!
//! Shard, when its wait strategy has spun and yielded long enough:
//! 1. store `parked = true` (relaxed),
//! 2. heavy barrier (`membarrier`, else a `SeqCst` fence),
//! 3. look for work once more (its rings, new rings, flush and stop signals); if there is
//!    any, clear the flag and go on; otherwise park until unparked,
//! 4. store `parked = false`.
//!
//! Producer, after committing a record to the shard's ring:
//! 1. light barrier (a compiler fence with `membarrier`, else a `SeqCst` fence),
//! 2. load `parked`; if set, unpark the shard (rare: only the first event after idle).
//!
//! This is the store-buffering pattern of `epoch.rs`: either the producer sees the flag
//! and wakes the shard, or the shard's last look sees the producer's record. A wake-up
//! that arrives before the shard parks leaves a token, so its park returns at once.
//! Flush, shutdown and new producers do not rely on the flag: they unpark every shard.
//! `tests/loom_epoch.rs` model-checks this with a negative control.

use crate::epoch::Barrier;
use crate::sync::{AtomicBool, Ordering};

/// One shard's "I am parked" flag, alone on its cache line.
#[derive(Debug)]
#[repr(align(128))]
pub struct ParkFlag {
    parked: AtomicBool,
}

impl Default for ParkFlag {
    fn default() -> Self {
        ParkFlag::new()
    }
}

impl ParkFlag {
    /// A flag for a running shard.
    pub fn new() -> Self {
        ParkFlag {
            parked: AtomicBool::new(false),
        }
    }

    /// Shard side, steps 1–2: announce the intent to park. The caller then looks for
    /// work once more and parks only if it finds none.
    pub fn announce(&self, barrier: Barrier) {
        self.parked.store(true, Ordering::Relaxed);
        barrier.heavy();
    }

    /// Shard side, step 4: running again (or never parked after all).
    pub fn clear(&self) {
        self.parked.store(false, Ordering::Relaxed);
    }

    /// Producer side, after publishing work: true when the shard may be parked and must
    /// be unparked.
    #[inline]
    pub fn needs_wake(&self, barrier: Barrier) -> bool {
        barrier.light();
        self.parked.load(Ordering::Relaxed)
    }
}
