//! The shard worker driven pass by pass, with no thread and no bus handle: what it seals
//! and when, and where flush markers go.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{ShardSetup, ShardWorker, StartedBy};
use crate::clock::Clock;
use crate::config::settings::{BatchConfig, Config};
use crate::io::ShardMsg;
use crate::shared::testing::bus_without_threads;
use crate::write::ring::{RingWriter, ring};

fn worker(batch: BatchConfig) -> (ShardWorker, RingWriter) {
    let (setup, writer) = setup(batch);
    (ShardWorker::new(setup), writer)
}

/// What a spawner hands a new shard thread, before the thread builds its worker.
fn setup(batch: BatchConfig) -> (ShardSetup, RingWriter) {
    let config = Config {
        num_shards: 1,
        batch,
        ..Config::default()
    };
    let mut parts = bus_without_threads(config);
    let (writer, reader) = ring(
        parts.bus.config.ring_capacity_bytes,
        Arc::clone(&parts.bus.wakes[0].flag),
    );
    let inbox = parts.inboxes.remove(0);
    parts.bus.inboxes[0].send(reader).unwrap();
    let setup = ShardSetup {
        shard: 0,
        link: parts.links.remove(0),
        inbox,
        next_sequence: 100,
        last_ts: 0,
        core: None,
        clock: Clock::new(),
        seen_gain: parts.bus.gains[0].load(Ordering::Acquire),
        bus: Arc::clone(&parts.bus),
        started_by_change: None,
    };
    (setup, writer)
}

/// One pass of the loop, without handing anything to the I/O thread.
fn pass(w: &mut ShardWorker) -> usize {
    w.attach_rings();
    w.check_flush();
    let moved = w.drain_pass();
    w.seal_if_due();
    w.complete_flush();
    moved
}

/// The outbox as (first sequence, events) per batch and `M(ticket)` per marker.
fn outbox(w: &ShardWorker) -> Vec<String> {
    w.outbox
        .iter()
        .map(|m| match m {
            ShardMsg::Batch(b) => format!("{}+{}", b.seq_start(), b.len()),
            ShardMsg::FlushMarker(t) => format!("M{t}"),
            ShardMsg::Closed => "closed".into(),
            ShardMsg::Await(c) => format!("A{c}"),
        })
        .collect()
}

fn push(writer: &mut RingWriter, n: usize, len: usize) {
    for _ in 0..n {
        assert!(writer.try_write(&vec![7u8; len]));
    }
}

#[test]
fn batches_seal_at_max_events_and_number_on_from_the_store() {
    let batch = BatchConfig {
        max_events: 3,
        max_bytes: 1 << 20,
        max_delay: Duration::from_secs(60),
    };
    let (mut w, mut writer) = worker(batch);
    push(&mut writer, 7, 10);
    while pass(&mut w) > 0 {}
    assert_eq!(outbox(&w), ["100+3", "103+3"], "the 7th waits for its age");
    assert_eq!(w.open.as_ref().map(|b| b.len()), Some(1));
}

#[test]
fn batches_seal_before_max_bytes_is_exceeded() {
    let batch = BatchConfig {
        max_events: 1000,
        max_bytes: 100,
        max_delay: Duration::from_secs(60),
    };
    let (mut w, mut writer) = worker(batch);
    push(&mut writer, 5, 40);
    push(&mut writer, 1, 500);
    while pass(&mut w) > 0 {}
    // 40+40 fit in 100, a third would not; the 500-byte event forms a batch alone.
    assert_eq!(outbox(&w), ["100+2", "102+2", "104+1", "105+1"]);
}

#[test]
fn a_zero_delay_seals_whatever_a_pass_found() {
    let (mut w, mut writer) = worker(BatchConfig::low_latency());
    push(&mut writer, 4, 8);
    pass(&mut w);
    assert_eq!(outbox(&w), ["100+4"]);
    push(&mut writer, 1, 8);
    pass(&mut w);
    assert_eq!(outbox(&w), ["100+4", "104+1"]);
}

#[test]
fn a_flush_seals_the_open_batch_and_queues_its_marker_after_it() {
    let batch = BatchConfig {
        max_events: 1000,
        max_bytes: 1 << 20,
        max_delay: Duration::from_secs(60),
    };
    let (mut w, mut writer) = worker(batch);
    push(&mut writer, 5, 8);
    pass(&mut w);
    assert!(outbox(&w).is_empty(), "held open: under every limit");
    w.bus.signals.flush_ticket.store(1, Ordering::SeqCst);
    pass(&mut w);
    assert_eq!(outbox(&w), ["100+5", "M1"]);
    // A later ticket with nothing new replaces the waiting marker.
    w.bus.signals.flush_ticket.store(2, Ordering::SeqCst);
    pass(&mut w);
    assert_eq!(outbox(&w), ["100+5", "M2"]);
}

#[test]
fn a_shard_that_takes_over_keys_holds_what_it_drains_after_the_change() {
    let batch = BatchConfig {
        max_events: 1000,
        max_bytes: 1 << 20,
        max_delay: Duration::from_secs(60),
    };
    let (mut w, mut writer) = worker(batch);
    push(&mut writer, 3, 8);
    pass(&mut w);
    assert!(outbox(&w).is_empty(), "held open");
    push(&mut writer, 1, 8);
    pass(&mut w);
    assert!(outbox(&w).is_empty());
    // Change 6 gives this shard keys: the events drained so far are sealed before the
    // marker, those drained after it follow it.
    w.bus.gains[0].store(6, Ordering::SeqCst);
    push(&mut writer, 2, 8);
    pass(&mut w);
    w.seal();
    assert_eq!(outbox(&w), ["100+4", "A6", "104+2"]);
    // Seen once: a later pass adds no marker.
    push(&mut writer, 1, 8);
    pass(&mut w);
    w.seal();
    assert_eq!(outbox(&w), ["100+4", "A6", "104+2", "106+1"]);
}

#[test]
fn a_thread_that_starts_after_a_later_change_gave_it_keys_still_holds_for_that_change() {
    // Change 5 starts this shard's thread, and the thread is slow to run: change 5
    // completes and change 9 publishes this shard's gain before the thread builds its
    // worker. It must hold what it drains for change 9's barrier too — it learns of the
    // gain by comparing with the word its spawner read, not with one it reads itself
    // (found by tests/scaling_rounds.rs: a key's newer event written before an older
    // one of the shard that lost it, in about one run in ten).
    let (mut setup, mut writer) = setup(BatchConfig::low_latency());
    setup.started_by_change = Some(StartedBy { hold: Some(5) });
    setup.bus.gains[0].store(9, Ordering::SeqCst);
    let mut w = ShardWorker::new(setup);
    push(&mut writer, 2, 8);
    pass(&mut w);
    assert_eq!(outbox(&w), ["A5", "A9", "100+2"]);
}
