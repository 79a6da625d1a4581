//! A loom model of the epoch protocol that shutdown relies on (see `src/epoch.rs`).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p corelane --test loom_epoch --profile loom`.
//! The "ring" is an atomic count of pushed records (written by the producer, read by the
//! coordinator's final drain); the property is the one shutdown promises: every ingest
//! that was accepted is visible to the drain that follows the coordinator's wait, and
//! every ingest that began after the close is refused.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use corelane::epoch::{Barrier, Epoch, ProducerPin};

/// One producer's ingest loop: returns how many ingests were accepted.
fn produce(
    epoch: &Epoch,
    pin: &ProducerPin,
    ring: &AtomicUsize,
    attempts: usize,
    barrier: Barrier,
) -> usize {
    let mut cached = epoch.load();
    let mut accepted = 0;
    for _ in 0..attempts {
        let word = pin.enter(epoch, &mut cached, barrier);
        if !Epoch::is_closed(word) {
            // The ring push: a single writer publishing with release.
            ring.store(ring.load(Ordering::Relaxed) + 1, Ordering::Release);
            accepted += 1;
        }
        pin.exit(word);
    }
    accepted
}

/// The coordinator: close, barrier, wait for every pin, then drain.
fn close_and_drain(
    epoch: &Epoch,
    pins: &[&ProducerPin],
    rings: &[&AtomicUsize],
    barrier: Barrier,
) -> Vec<usize> {
    let target = epoch.advance(true);
    barrier.heavy();
    for pin in pins {
        assert!(pin.wait_past(target, |_| false));
    }
    rings.iter().map(|r| r.load(Ordering::Acquire)).collect()
}

fn model(producers: usize, attempts: usize, barrier: Barrier) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let epoch = Arc::new(Epoch::new());
        let pins: Vec<_> = (0..producers)
            .map(|_| Arc::new(ProducerPin::new()))
            .collect();
        let rings: Vec<_> = (0..producers)
            .map(|_| Arc::new(AtomicUsize::new(0)))
            .collect();
        let handles: Vec<_> = (0..producers)
            .map(|p| {
                let (epoch, pin, ring) = (epoch.clone(), pins[p].clone(), rings[p].clone());
                thread::spawn(move || produce(&epoch, &pin, &ring, attempts, barrier))
            })
            .collect();
        let pin_refs: Vec<&ProducerPin> = pins.iter().map(|p| &**p).collect();
        let ring_refs: Vec<&AtomicUsize> = rings.iter().map(|r| &**r).collect();
        let drained = close_and_drain(&epoch, &pin_refs, &ring_refs, barrier);
        for (p, h) in handles.into_iter().enumerate() {
            let accepted = h.join().unwrap();
            assert_eq!(
                drained[p], accepted,
                "producer {p}: the final drain saw {} records, {accepted} were accepted",
                drained[p]
            );
        }
    });
}

#[test]
fn close_waits_for_every_accepted_ingest_one_producer() {
    model(1, 2, Barrier::Symmetric);
}

#[test]
fn close_waits_for_every_accepted_ingest_two_producers() {
    model(2, 1, Barrier::Symmetric);
}

/// The model is not vacuous: without a barrier on the producer side (what the
/// asymmetric pair looks like to loom, which cannot model `membarrier`), loom finds an
/// interleaving where an accepted event escapes the drain.
#[test]
#[should_panic(expected = "the final drain saw")]
fn the_model_catches_a_missing_producer_barrier() {
    model(1, 1, Barrier::Asymmetric);
}

/// The park protocol of `src/wake.rs`: a producer publishes a record and checks the
/// shard's flag; the shard announces, looks once more, and parks. If a wake-up could be
/// lost, the shard would park forever and loom reports the deadlock.
fn park_model(barrier: Barrier) {
    use corelane::wake::ParkFlag;
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let flag = Arc::new(ParkFlag::new());
        let ring = Arc::new(AtomicUsize::new(0));
        let shard = {
            let (flag, ring) = (flag.clone(), ring.clone());
            thread::spawn(move || {
                loop {
                    if ring.load(Ordering::Acquire) == 1 {
                        return;
                    }
                    flag.announce(barrier);
                    if ring.load(Ordering::Acquire) == 1 {
                        flag.clear();
                        return;
                    }
                    thread::park();
                    flag.clear();
                }
            })
        };
        ring.store(1, Ordering::Release);
        if flag.needs_wake(barrier) {
            shard.thread().unpark();
        }
        shard.join().unwrap();
    });
}

#[test]
fn a_producer_wakes_a_parking_shard() {
    park_model(Barrier::Symmetric);
}

/// The decision at the heart of the protocol, without parking (a real lost wake-up
/// would deadlock, which loom reports by aborting): the shard must not decide to park
/// having missed the record while the producer decides not to wake it.
fn park_decision_model(barrier: Barrier) {
    use corelane::wake::ParkFlag;
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let flag = Arc::new(ParkFlag::new());
        let ring = Arc::new(AtomicUsize::new(0));
        let shard = {
            let (flag, ring) = (flag.clone(), ring.clone());
            thread::spawn(move || {
                flag.announce(barrier);
                ring.load(Ordering::Acquire) == 0
            })
        };
        ring.store(1, Ordering::Release);
        let woke = flag.needs_wake(barrier);
        let parks_blind = shard.join().unwrap();
        assert!(
            !parks_blind || woke,
            "lost wake-up: the shard parks without the record and nobody wakes it"
        );
    });
}

#[test]
fn a_parking_shard_sees_the_record_or_is_woken() {
    park_decision_model(Barrier::Symmetric);
}

/// Without the producer's barrier (the asymmetric pair as loom sees it) loom finds the
/// interleaving that loses the wake-up.
#[test]
#[should_panic(expected = "lost wake-up")]
fn the_park_model_catches_a_missing_producer_barrier() {
    park_decision_model(Barrier::Asymmetric);
}

/// A scale change (see `src/scale/`): the coordinator stores the gain word of the shard taking keys over, publishes
/// the new routing with a new epoch, and waits for every pin. A producer routes each
/// ingest by the epoch it saw: to shard 0 before the change, to shard 1 (which takes the
/// key over) after it. Two properties:
///
/// - after the wait, shard 0's ring holds every record routed by the old epoch, so the
///   flush ticket the coordinator issues next covers all of them;
/// - shard 1, reading its ring index and then its gain word, never holds a record
///   routed by the new epoch without seeing the change (so its `Await` marker comes
///   before that record).
fn change_model(barrier: Barrier, gainer_reads_ring_first: bool) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let epoch = Arc::new(Epoch::new());
        let pin = Arc::new(ProducerPin::new());
        let change = Arc::new(loom::sync::atomic::AtomicU64::new(0));
        let rings = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let before = epoch.load();
        let producer = {
            let (epoch, pin, rings) = (epoch.clone(), pin.clone(), rings.clone());
            thread::spawn(move || {
                let mut cached = epoch.load();
                let mut routed_old = 0;
                for _ in 0..2 {
                    let word = pin.enter(&epoch, &mut cached, barrier);
                    let shard = usize::from(word != before);
                    let ring = &rings[shard];
                    ring.store(ring.load(Ordering::Relaxed) + 1, Ordering::Release);
                    routed_old += usize::from(shard == 0);
                    pin.exit(word);
                }
                routed_old
            })
        };
        let gainer = {
            let (change, rings) = (change.clone(), rings.clone());
            thread::spawn(move || {
                let (records, seen) = if gainer_reads_ring_first {
                    let records = rings[1].load(Ordering::Acquire);
                    (records, change.load(Ordering::Acquire))
                } else {
                    let seen = change.load(Ordering::Acquire);
                    (rings[1].load(Ordering::Acquire), seen)
                };
                assert!(
                    records == 0 || seen == 1,
                    "shard 1 drained a record routed by the new table before the change word"
                );
            })
        };
        change.store(1, Ordering::Release);
        let target = epoch.advance(false);
        barrier.heavy();
        assert!(pin.wait_past(target, |_| false));
        let drain_target = rings[0].load(Ordering::Acquire);
        let routed_old = producer.join().unwrap();
        gainer.join().unwrap();
        assert_eq!(
            drain_target, routed_old,
            "the old shard's flush target missed a record routed by the old table"
        );
    });
}

#[test]
fn a_scale_change_covers_the_old_routing_and_announces_the_new() {
    change_model(Barrier::Symmetric, true);
}

/// Without the producer's barrier, a record routed by the old table can escape the
/// old shard's flush target.
#[test]
#[should_panic(expected = "missed a record routed by the old table")]
fn the_change_model_catches_a_missing_producer_barrier() {
    change_model(Barrier::Asymmetric, true);
}

/// A shard that reads the change word before its ring index can drain a record routed
/// by the new table without having seen the change.
#[test]
#[should_panic(expected = "before the change word")]
fn the_change_model_catches_a_shard_reading_in_the_wrong_order() {
    change_model(Barrier::Symmetric, false);
}
