//! End-to-end throughput: P producers × S shards → noop adapter, events/s from the first
//! ingest until the bus reports every event written; in the same run, the ceiling of a
//! bare rtrb SPSC pair and of a crossbeam-channel MPSC queue moving the same 64-byte
//! events.
//!
//! Pinning: producer p on allowed core p mod n, shard s on core (P + s) mod n; the
//! baselines' producers and consumer are pinned the same way (consumer as shard 0). The
//! I/O thread is unpinned and sleeps between batches.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use corelane_benches::*;
use serde_json::json;

const EVENT: usize = 64;
/// Ring size of the bus's producers and of the bare-ring baseline.
const RING_BYTES: usize = THROUGHPUT_RING_BYTES;

fn event(i: u64) -> [u8; EVENT] {
    numbered_event(i)
}

fn corelane(producers: usize, shards: usize, total: u64, cores: &[usize]) -> f64 {
    bus_throughput(producers, shards, total, cores)
}

/// The best plain use of rtrb for the bus's job: the bus's ring size, length-framed
/// records written with one chunk each, a consumer that copies each record's payload
/// into a batch buffer, the same pinning, and a producer that yields when the ring is
/// full (as the bus's does under `Block`).
fn bare_rtrb(total: u64, cores: &[usize]) -> f64 {
    let (mut tx, rx) = rtrb::RingBuffer::<u8>::new(RING_BYTES);
    let consumer_core = core_for(cores, 1);
    let consumer = std::thread::spawn(move || {
        pin(consumer_core);
        drain_records(rx, |records| records >= total)
    });
    pin(core_for(cores, 0));
    let t0 = Instant::now();
    for i in 0..total {
        let e = event(i);
        while !push_record(&mut tx, &e) {
            std::thread::yield_now();
        }
    }
    consumer.join().expect("consumer");
    total as f64 / t0.elapsed().as_secs_f64()
}

fn crossbeam_mpsc(producers: usize, total: u64, cores: &[usize]) -> f64 {
    let (tx, rx) = crossbeam_channel::bounded::<[u8; EVENT]>(1 << 14);
    let per = total / producers as u64;
    let start = Arc::new(Barrier::new(producers + 1));
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let (tx, start, core) = (tx.clone(), Arc::clone(&start), core_for(cores, p));
            std::thread::spawn(move || {
                pin(core);
                start.wait();
                for i in 0..per {
                    tx.send(event(i)).expect("receiver alive");
                }
            })
        })
        .collect();
    drop(tx);
    let consumer_core = core_for(cores, producers);
    let consumer = std::thread::spawn(move || {
        pin(consumer_core);
        let mut sink = 0u64;
        for e in rx.iter() {
            sink = sink.wrapping_add(e[0] as u64);
        }
        sink
    });
    start.wait();
    let t0 = Instant::now();
    for h in handles {
        h.join().expect("producer");
    }
    consumer.join().expect("consumer");
    (per * producers as u64) as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let cores = cores();
    let total = scaled_count(20_000_000);
    let shapes = [(1usize, 1usize), (2, 1), (1, 2), (2, 2)];
    let rtrb_rate = bare_rtrb(total, &cores);
    let mut rows = Vec::new();
    println!("\nthroughput of 64-byte events, {total} per configuration");
    println!("  {:34} {:>14} {:>22}", "", "events/s", "ratio to baseline");
    println!(
        "  {:34} {:>14.0} {:>22}",
        "bare rtrb SPSC (1 → 1)", rtrb_rate, ""
    );
    for (p, s) in shapes {
        let mpsc_rate = crossbeam_mpsc(p, total, &cores);
        let rate = corelane(p, s, total, &cores);
        let base = if (p, s) == (1, 1) {
            rtrb_rate
        } else {
            mpsc_rate
        };
        let base_name = if (p, s) == (1, 1) {
            "rtrb"
        } else {
            "crossbeam"
        };
        println!(
            "  {:34} {:>14.0} {:>22}",
            format!("crossbeam MPSC ({p} → 1)"),
            mpsc_rate,
            ""
        );
        println!(
            "  {:34} {:>14.0} {:>22}",
            format!("corelane {p} producer(s) × {s} shard(s)"),
            rate,
            format!("{:.2} of {base_name}", rate / base)
        );
        rows.push(json!({
            "producers": p, "shards": s, "events_per_s": rate,
            "crossbeam_mpsc_events_per_s": mpsc_rate,
            "ratio_to_rtrb": rate / rtrb_rate, "ratio_to_crossbeam": rate / mpsc_rate,
        }));
    }
    write_report(
        "throughput",
        &json!({
            "bench": "throughput",
            "machine": machine(&[("producer p", core_for(&cores, 0)), ("shard s", core_for(&cores, 1)), ("io", None)]),
            "config": {"event_bytes": EVENT, "events_per_configuration": total, "adapter": "noop",
                       "wait_strategy": "SpinThenYield", "batch": "high_throughput", "ring_capacity_bytes": 1 << 20,
                       "routing": "explicit hash per event"},
            "bare_rtrb_events_per_s": rtrb_rate,
            "results": rows,
        }),
    );
}
