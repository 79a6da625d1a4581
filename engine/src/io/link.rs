//! A shard thread's end of the hand-off to the I/O thread, and the state both ends share.

use std::sync::atomic::{AtomicBool, Ordering, fence};

use corelane_io::Batch;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::Waker;
use parking_lot::{Condvar, Mutex};

use super::latency::LatencyRecorder;
use super::{IoOutcome, ShardIoCounters, ShardMsg};

pub(crate) struct WakeSignal {
    pub(crate) sleeping: AtomicBool,
    pub(crate) waker: Waker,
}

impl WakeSignal {
    /// Called after a message was queued: wakes the thread if it sleeps or is about to.
    pub(crate) fn notify(&self) {
        // Pairs with the fence in `IoLoop::sleep`: either the I/O thread sees our message
        // when it re-checks the channels, or we see its `sleeping` flag and wake it.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) {
            self.wake();
        }
    }

    pub(crate) fn wake(&self) {
        if let Err(err) = self.waker.wake() {
            tracing::warn!(%err, "corelane I/O thread waker failed");
        }
    }
}

pub(crate) struct Shared {
    pub(crate) counters: Vec<ShardIoCounters>,
    pub(crate) wake: WakeSignal,
    pub(crate) progress: Mutex<u64>,
    pub(crate) progressed: Condvar,
    pub(crate) outcome: Mutex<Option<IoOutcome>>,
    pub(crate) done: AtomicBool,
    /// Ingest → acknowledged, per shard.
    pub(crate) latency: LatencyRecorder,
    /// The highest scale change whose barrier the I/O thread has released.
    pub(crate) released_change: std::sync::atomic::AtomicU64,
    /// Shard threads started and not yet closed (their `Closed` not yet processed).
    pub(crate) running: std::sync::atomic::AtomicU32,
}

impl Shared {
    pub(crate) fn announce_progress(&self) {
        *self.progress.lock() += 1;
        self.progressed.notify_all();
    }
}

/// A shard thread's end of the hand-off to the I/O thread.
pub(crate) struct ShardLink {
    pub(crate) shard: u32,
    pub(crate) tx: Sender<(u32, ShardMsg)>,
    pub(crate) recycled: Receiver<Batch>,
    pub(crate) shared: std::sync::Arc<Shared>,
}

impl std::fmt::Debug for ShardLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardLink")
            .field("shard", &self.shard)
            .finish()
    }
}

impl ShardLink {
    /// Hands a message over without blocking; gives it back when the channel is full
    /// (the I/O thread is behind) or the I/O thread is gone.
    pub(crate) fn try_submit(&self, msg: ShardMsg) -> Result<(), ShardMsg> {
        match self.tx.try_send((self.shard, msg)) {
            Ok(()) => {
                self.shared.wake.notify();
                Ok(())
            }
            Err(TrySendError::Full((_, msg)) | TrySendError::Disconnected((_, msg))) => Err(msg),
        }
    }

    /// An empty batch buffer the I/O thread has finished with, if one is waiting.
    pub(crate) fn recycled(&self) -> Option<Batch> {
        self.recycled.try_recv().ok()
    }

    /// True when the I/O thread has exited (nothing submitted will be written).
    pub(crate) fn io_exited(&self) -> bool {
        self.shared.done.load(Ordering::Acquire)
    }
}
