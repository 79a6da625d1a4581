//! One producer per thread per bus, for `Bus::ingest` on a shared `&Bus`.
//!
//! The first ingest of a thread into a bus registers a producer in a thread-local list;
//! later ingests find it with a short scan of that list (usually one entry). When the
//! thread exits, its producers are dropped, which retires them: shard threads drain what
//! they wrote and free their rings. Producers of buses that have shut down are pruned
//! the next time the thread registers a new one.

use std::cell::RefCell;
use std::sync::Arc;

use crate::shared::BusShared;
use crate::write::producer::Producer;

thread_local! {
    static PRODUCERS: RefCell<Vec<Producer>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's producer for `bus`, registering one on first use.
#[inline]
pub(crate) fn with_local_producer<R>(
    bus: &Arc<BusShared>,
    f: impl FnOnce(&mut Producer) -> R,
) -> R {
    let mut f = Some(f);
    let ran = PRODUCERS.try_with(|cell| {
        // A nested call (an ingest from inside an ingest's callback) or a call during
        // thread teardown finds the list unavailable and uses a temporary producer.
        let Ok(mut producers) = cell.try_borrow_mut() else {
            return None;
        };
        let index = match producers.iter().position(|p| p.bus_id() == bus.id) {
            Some(i) => i,
            None => {
                producers.retain(|p| !p.bus_closed());
                producers.push(Producer::register(bus));
                producers.len() - 1
            }
        };
        let f = f.take().expect("called once");
        Some(f(&mut producers[index]))
    });
    match ran {
        Ok(Some(r)) => r,
        _ => {
            let mut temporary = Producer::register(bus);
            (f.take().expect("not yet called"))(&mut temporary)
        }
    }
}
