//! Per shard id: the thread running it, or what its last thread left for the next one.

use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use crate::io::ShardLink;
use crate::write::ring::RingReader;

/// What a shard thread leaves for the next thread of its shard id: its hand-off to the
/// I/O thread, its ring inbox, and where its numbering and timestamps continue.
#[derive(Debug)]
pub(crate) struct ShardRemains {
    pub(crate) link: ShardLink,
    pub(crate) inbox: Receiver<RingReader>,
    pub(crate) next_sequence: u64,
    pub(crate) last_ts: u64,
}

/// One shard id's thread.
#[derive(Debug)]
pub(crate) enum SlotThread {
    /// A thread runs the shard; joining it gives back what the next thread needs.
    Running(JoinHandle<ShardRemains>),
    /// No thread: what the next one continues from (never started, or retired).
    Dormant(ShardRemains),
    /// A thread that panicked or could not start: nothing to continue from.
    Gone,
}

/// Every shard id's thread.
#[derive(Debug)]
pub(crate) struct SlotThreads {
    slots: Vec<SlotThread>,
}

impl SlotThreads {
    pub(crate) fn new(slots: usize) -> SlotThreads {
        SlotThreads {
            slots: (0..slots).map(|_| SlotThread::Gone).collect(),
        }
    }

    pub(crate) fn set(&mut self, shard: u32, thread: SlotThread) {
        self.slots[shard as usize] = thread;
    }

    /// What a dormant shard id's next thread continues from.
    pub(crate) fn take_dormant(&mut self, shard: u32) -> Option<ShardRemains> {
        match std::mem::replace(&mut self.slots[shard as usize], SlotThread::Gone) {
            SlotThread::Dormant(remains) => Some(remains),
            other => {
                self.slots[shard as usize] = other;
                None
            }
        }
    }

    /// Takes the running thread of `shard`, if any.
    pub(crate) fn take_running(&mut self, shard: u32) -> Option<JoinHandle<ShardRemains>> {
        match std::mem::replace(&mut self.slots[shard as usize], SlotThread::Gone) {
            SlotThread::Running(handle) => Some(handle),
            other => {
                self.slots[shard as usize] = other;
                None
            }
        }
    }

    /// Takes every running thread (shutdown joins them).
    pub(crate) fn take_all_running(&mut self) -> Vec<JoinHandle<ShardRemains>> {
        (0..self.slots.len() as u32)
            .filter_map(|s| self.take_running(s))
            .collect()
    }
}
