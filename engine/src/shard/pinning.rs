//! Which core each shard thread runs on.

use crate::config::settings::{CorePlan, allowed_cores};

/// Where a shard thread ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinning {
    /// Pinned to this core.
    Core(usize),
    /// Pinning to this core failed (the thread runs unpinned; a warning was logged).
    Failed(usize),
    /// The plan asked for no pinning.
    Disabled,
    /// The thread has not started yet.
    Pending,
}

impl Pinning {
    pub(crate) fn encode(self) -> u64 {
        match self {
            Pinning::Core(c) => (c as u64) << 2,
            Pinning::Failed(c) => ((c as u64) << 2) | 1,
            Pinning::Disabled => 2,
            Pinning::Pending => 3,
        }
    }

    pub(crate) fn decode(v: u64) -> Self {
        match v & 3 {
            0 => Pinning::Core((v >> 2) as usize),
            1 => Pinning::Failed((v >> 2) as usize),
            2 => Pinning::Disabled,
            _ => Pinning::Pending,
        }
    }
}

/// The core each of `num_shards` shards should be pinned to, `None` for no pinning.
pub(crate) fn plan_cores(plan: &CorePlan, num_shards: usize) -> Vec<Option<usize>> {
    plan.cores_on(num_shards, &allowed_cores())
}

/// Pins the calling thread to `core`.
pub(crate) fn pin_current(core: Option<usize>, shard: u32) -> Pinning {
    match core {
        None => Pinning::Disabled,
        Some(id) => {
            // core_affinity indexes a fixed-size CPU set: larger ids would panic there.
            if id < crate::config::settings::MAX_CORE_ID
                && core_affinity::set_for_current(core_affinity::CoreId { id })
            {
                Pinning::Core(id)
            } else {
                tracing::warn!(
                    shard,
                    core = id,
                    "corelane could not pin shard thread; running unpinned"
                );
                Pinning::Failed(id)
            }
        }
    }
}
