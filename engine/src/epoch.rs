//! Epochs: how a coordinator learns that no producer is still inside an ingest that
//! started before a change it published. Two kinds of change use it: a scale change
//! (a new routing table, see `scale/`) and shutdown (the epoch closes, once).
//!
//! # The protocol
//! The bus holds one epoch word: `number << 1 | CLOSED`. Each producer owns a pin on its
//! own cache line: `seen_word << 1 | INSIDE`.
//!
//! Producer, per ingest:
//! 1. store `pin = cached_word << 1 | INSIDE` (relaxed),
//! 2. light barrier (a compiler fence when `membarrier` works, else a `SeqCst` fence),
//! 3. load the epoch word; if it moved, republish it; if `CLOSED`, refuse;
//! 4. push into its ring;
//! 5. store `pin = seen_word << 1` (release).
//!
//! Coordinator, per change:
//! 1. store the new epoch word,
//! 2. heavy barrier (`membarrier(PRIVATE_EXPEDITED)`, else a `SeqCst` fence),
//! 3. wait until every pin is outside, or inside with a seen word at least the new one.
//!
//! Steps 1–3 on both sides are the store-buffering pattern: with a full barrier between
//! each side's store and load, at least one side sees the other's store. Either the
//! producer sees the new word (and refuses), or the coordinator sees the
//! producer inside and waits for step 5, whose release store makes the ring push visible
//! to whoever acquires the pin after it. `membarrier` lets the producer's barrier be a
//! compiler fence: the kernel forces a full barrier on every running thread of the
//! process when the coordinator asks, so the fast path has no fence and no
//! read-modify-write.
//!
//! `tests/loom_epoch.rs` model-checks this module under `--cfg loom`.

use crate::sync::{AtomicU64, Ordering, compiler_fence, fence, spin_hint};

const CLOSED: u64 = 1;
const INSIDE: u64 = 1;

/// Which barrier pair the bus uses; chosen once when the bus is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Barrier {
    /// Compiler fence on producers, `membarrier` on the coordinator.
    Asymmetric,
    /// `SeqCst` fences on both sides.
    Symmetric,
}

impl Barrier {
    /// The asymmetric pair when the kernel supports it, else the symmetric fallback.
    pub fn detect() -> Barrier {
        #[cfg(loom)]
        {
            Barrier::Symmetric
        }
        #[cfg(not(loom))]
        {
            if crate::sys::membarrier::available() {
                Barrier::Asymmetric
            } else {
                Barrier::Symmetric
            }
        }
    }

    /// The producer side: cheap.
    #[inline(always)]
    pub fn light(self) {
        match self {
            Barrier::Asymmetric => compiler_fence(Ordering::SeqCst),
            Barrier::Symmetric => fence(Ordering::SeqCst),
        }
    }

    /// The coordinator side: expensive (a system call that interrupts other CPUs).
    pub fn heavy(self) {
        match self {
            Barrier::Symmetric => fence(Ordering::SeqCst),
            Barrier::Asymmetric => {
                #[cfg(not(loom))]
                if !crate::sys::membarrier::private_expedited() {
                    // Registration succeeded, so this should not happen. Store buffers
                    // drain within microseconds; wait far longer before trusting the pins.
                    tracing::error!("membarrier failed after registration; waiting instead");
                    fence(Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                #[cfg(loom)]
                fence(Ordering::SeqCst);
            }
        }
    }
}

/// The bus-wide epoch word, on a cache line of its own (read by every ingest, written
/// only when the bus changes: today, at shutdown).
#[derive(Debug)]
#[repr(align(128))]
pub struct Epoch {
    word: AtomicU64,
}

impl Default for Epoch {
    fn default() -> Self {
        Self::new()
    }
}

impl Epoch {
    /// Epoch 1, open.
    pub fn new() -> Self {
        Epoch {
            word: AtomicU64::new(1 << 1),
        }
    }

    /// The current word. Acquire (a plain load on x86): what a coordinator wrote before
    /// publishing the word — a scale change's gain words — is visible after it.
    #[inline(always)]
    pub fn load(&self) -> u64 {
        self.word.load(Ordering::Acquire)
    }

    /// The word the next [`advance`](Self::advance) without closing will publish.
    pub fn peek_next(&self) -> u64 {
        let current = self.word.load(Ordering::Relaxed);
        (((current >> 1) + 1) << 1) | (current & CLOSED)
    }

    /// True when `word` marks the bus as closed.
    #[inline(always)]
    pub fn is_closed(word: u64) -> bool {
        word & CLOSED != 0
    }

    /// Publishes the next epoch, closed or not, and returns its word. Callers serialise
    /// advances (the bus holds its registry lock) and then run the heavy barrier.
    pub fn advance(&self, close: bool) -> u64 {
        let current = self.word.load(Ordering::Relaxed);
        let next = (((current >> 1) + 1) << 1) | u64::from(close || Self::is_closed(current));
        self.word.store(next, Ordering::Release);
        next
    }
}

/// A producer's announcement of whether it is inside an ingest, and under which epoch.
#[derive(Debug)]
#[repr(align(128))]
pub struct ProducerPin {
    word: AtomicU64,
}

impl Default for ProducerPin {
    fn default() -> Self {
        Self::new()
    }
}

impl ProducerPin {
    /// Outside, having seen nothing.
    pub fn new() -> Self {
        ProducerPin {
            word: AtomicU64::new(0),
        }
    }

    /// Steps 1–3 of the producer side. `cached` is the word this producer saw last; it is
    /// updated when the epoch moved. Returns the word the ingest runs under.
    #[inline(always)]
    pub fn enter(&self, epoch: &Epoch, cached: &mut u64, barrier: Barrier) -> u64 {
        self.word.store((*cached << 1) | INSIDE, Ordering::Relaxed);
        barrier.light();
        let word = epoch.load();
        if word != *cached {
            *cached = word;
            // Publishing the newer word only lets the coordinator stop waiting sooner;
            // until it lands, the coordinator sees us inside an older epoch and waits.
            self.word.store((word << 1) | INSIDE, Ordering::Relaxed);
        }
        word
    }

    /// Step 5: leaves the ingest. Release: the ring push happens-before any acquire of
    /// this pin that sees us outside.
    #[inline(always)]
    pub fn exit(&self, word: u64) {
        self.word.store(word << 1, Ordering::Release);
    }

    /// True when this producer can no longer act on an epoch older than `target`: it is
    /// outside an ingest, or inside one that saw `target` or later.
    pub fn is_past(&self, target: u64) -> bool {
        let pin = self.word.load(Ordering::Acquire);
        pin & INSIDE == 0 || (pin >> 1) >= target
    }

    /// Spins (with `give_up` consulted between spins) until [`is_past`](Self::is_past)
    /// holds. Returns false if `give_up` returned true first.
    pub fn wait_past(&self, target: u64, mut give_up: impl FnMut(u32) -> bool) -> bool {
        let mut spins = 0u32;
        while !self.is_past(target) {
            if give_up(spins) {
                return false;
            }
            spins = spins.saturating_add(1);
            spin_hint();
        }
        true
    }
}
