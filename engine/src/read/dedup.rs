//! Consumer-side deduplication for stores that may hold a batch twice.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

/// Consumer-side deduplication: a bounded set of the dedup ids seen most recently.
///
/// Backends without server-side deduplication (Redis) may store a batch twice when a
/// write's acknowledgement was lost and the batch retried; both copies carry the same
/// dedup ids. A request (or subscription) with a window skips events whose dedup id it
/// has seen among the last `capacity` ids, so each event is delivered once as long as
/// its duplicate arrives within that many events. Clones share the window, so a request
/// reused across pages keeps its memory. Events without a dedup id pass through.
///
/// # Examples
///
/// ```
/// use corelane::read::DedupWindow;
///
/// let w = DedupWindow::new(2);
/// assert!(w.first_sighting("a"));
/// assert!(!w.first_sighting("a"));
/// assert!(w.first_sighting("b"));
/// assert!(w.first_sighting("c")); // "a" falls out of the window
/// assert!(w.first_sighting("a"));
/// ```
#[derive(Debug, Clone)]
pub struct DedupWindow {
    state: Arc<Mutex<DedupState>>,
}

#[derive(Debug)]
struct DedupState {
    capacity: usize,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl DedupWindow {
    /// A window remembering the last `capacity` dedup ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        DedupWindow {
            state: Arc::new(Mutex::new(DedupState {
                capacity: capacity.max(1),
                seen: HashSet::new(),
                order: VecDeque::new(),
            })),
        }
    }

    /// True the first time `id` is seen within the window (and remembers it).
    pub fn first_sighting(&self, id: &str) -> bool {
        let mut s = self.state.lock();
        if s.seen.contains(id) {
            return false;
        }
        if s.order.len() == s.capacity
            && let Some(old) = s.order.pop_front()
        {
            s.seen.remove(&old);
        }
        s.seen.insert(id.to_string());
        s.order.push_back(id.to_string());
        true
    }

    /// Ids currently remembered.
    pub fn len(&self) -> usize {
        self.state.lock().order.len()
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
