//! Atomics and fences that loom can replace: the epoch protocol is written against these
//! so that `RUSTFLAGS="--cfg loom"` model-checks the very code the bus runs.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

/// loom has no compiler fence: it orders nothing between threads, which is exactly what
/// the model must assume of it (the real code relies on `membarrier` for the rest).
#[cfg(loom)]
pub(crate) fn compiler_fence(_order: Ordering) {}
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, compiler_fence, fence};

/// One step of a spin-wait: a CPU hint normally, a scheduling point under loom.
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
