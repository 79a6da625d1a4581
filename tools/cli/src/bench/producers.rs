//! The producer threads of `corelane bench`, and the live progress line shown while they
//! run.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use corelane::{Bus, RefusalReason};
use hdrhistogram::Histogram;
use parking_lot::Mutex;

use super::Args;
use super::probe::{Probe, new_histogram};
use crate::Failure;
use crate::output::{fmt_count, fmt_ns};

/// What the producer threads measured once they all ended.
pub(super) struct Produced {
    /// When the first producer was started; the drain time counts from here too.
    pub(super) started: Instant,
    /// From `started` to the end of the last producer.
    pub(super) produce_time: Duration,
    /// Ingest calls refused and retried (a full ring that stayed full for 30 s).
    pub(super) full_ring_waits: u64,
    /// Ingest latency as the producers timed it.
    pub(super) ingest: Histogram<u64>,
}

/// The pace every producer keeps; the same for all of them.
#[derive(Clone, Copy)]
struct Pacing {
    /// The instant send times count from (the probe's origin).
    origin: Instant,
    /// Producers stop at this instant.
    deadline: Instant,
    /// Time between two sends of one producer; `None` at full speed.
    period: Option<Duration>,
    /// Payload size of every event.
    event_bytes: usize,
}

/// Runs `args.producers` threads until `args.duration` passes or Ctrl-C, printing the
/// progress line every 250 ms when asked to, and collects what they measured.
pub(super) fn run(args: &Args, bus: &Arc<Bus>, probe: &Arc<Probe>) -> Result<Produced, Failure> {
    let stop = stop_on_ctrl_c();
    let ingest = Arc::new(Mutex::new(new_histogram()));
    let started = Instant::now();
    let pacing = Pacing {
        origin: probe.origin(),
        deadline: started + args.duration,
        period: args
            .rate
            .map(|r| Duration::from_secs_f64(args.producers as f64 / r as f64)),
        event_bytes: args.event_bytes,
    };
    let handles: Vec<_> = (0..args.producers)
        .map(|id| spawn_producer(id, bus, &stop, &ingest, pacing))
        .collect();

    let show_progress = !args.json && (args.progress || std::io::stderr().is_terminal());
    // Look often (the drain time is measured from the last producer's end), print the
    // progress line four times a second.
    let mut last_progress = Instant::now();
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(5));
        if show_progress && last_progress.elapsed() >= Duration::from_millis(250) {
            last_progress = Instant::now();
            print_progress(bus, &ingest, probe, started, args.duration);
        }
    }
    let mut full_ring_waits = 0u64;
    let mut finished = started;
    for h in handles {
        let (waits, done) = h.join().map_err(|_| "a producer thread panicked")?;
        full_ring_waits += waits;
        finished = finished.max(done);
    }
    if show_progress {
        eprintln!();
    }
    let ingest = ingest.lock().clone();
    Ok(Produced {
        started,
        produce_time: finished - started,
        full_ring_waits,
        ingest,
    })
}

/// A flag that Ctrl-C sets; a second Ctrl-C while stopping kills the process the usual way.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    stop
}

fn spawn_producer(
    id: usize,
    bus: &Arc<Bus>,
    stop: &Arc<AtomicBool>,
    ingest: &Arc<Mutex<Histogram<u64>>>,
    pacing: Pacing,
) -> JoinHandle<(u64, Instant)> {
    let (bus, stop, ingest) = (Arc::clone(bus), Arc::clone(stop), Arc::clone(ingest));
    std::thread::Builder::new()
        .name(format!("bench-producer-{id}"))
        .spawn(move || produce(id, &bus, &stop, &ingest, pacing))
        .expect("spawn producer")
}

/// One producer's loop; returns how many times it met a full ring, and when it ended.
///
/// Payload layout: bytes 0..8 the send time (see [`Probe`]), 8..12 the producer id,
/// 12..20 the producer's event counter, then padding.
fn produce(
    id: usize,
    bus: &Bus,
    stop: &AtomicBool,
    shared: &Mutex<Histogram<u64>>,
    pacing: Pacing,
) -> (u64, Instant) {
    let mut producer = bus.producer();
    let mut local = new_histogram();
    let mut payload = vec![b'.'; pacing.event_bytes];
    payload[8..12].copy_from_slice(&(id as u32).to_le_bytes());
    let start = Instant::now();
    let mut waits = 0u64;
    let mut i = 0u64;
    let mut last_stamp = 0u64;
    loop {
        // Reading the clock and the stop flag on every call would show in the figures.
        if i % 1024 == 0 {
            if stop.load(Ordering::Relaxed) || Instant::now() >= pacing.deadline {
                break;
            }
            if i % (64 * 1024) == 0 {
                shared.lock().add(&local).expect("same bounds");
                local.reset();
            }
        }
        let intended = pacing.period.map(|p| {
            let at = start + p.mul_f64(i as f64);
            wait_until(at);
            at
        });
        let timed = pacing.period.is_some() || i % 16 == 0;
        let t0 = if timed { Some(Instant::now()) } else { None };
        // Untimed calls carry the latest clock reading (at most 15 calls old).
        if let Some(sent) = intended.or(t0) {
            last_stamp = sent.saturating_duration_since(pacing.origin).as_nanos() as u64;
        }
        payload[..8].copy_from_slice(&last_stamp.to_le_bytes());
        payload[12..20].copy_from_slice(&i.to_le_bytes());
        if let Err(e) = producer.ingest_raw(&payload[..]) {
            // Block backpressure only gives up after 30 s, or at shutdown.
            waits += 1;
            if e.reason() == RefusalReason::ShuttingDown {
                break;
            }
            continue;
        }
        if let Some(t0) = t0 {
            let from = intended.unwrap_or(t0);
            let took = Instant::now().saturating_duration_since(from);
            local.saturating_record(took.as_nanos().max(1) as u64);
        }
        i += 1;
    }
    let done = Instant::now();
    shared.lock().add(&local).expect("same bounds");
    (waits, done)
}

/// Waits for a paced send: yields while more than 20 µs remain, then spins, so that the
/// send leaves on time without burning a core for the whole period.
fn wait_until(at: Instant) {
    while Instant::now() < at {
        if at.saturating_duration_since(Instant::now()) > Duration::from_micros(20) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Rewrites the progress line on stderr: rate, p99 latencies, fullest ring, events written.
fn print_progress(
    bus: &Bus,
    ingest: &Mutex<Histogram<u64>>,
    probe: &Probe,
    started: Instant,
    total: Duration,
) {
    let stats = bus.stats();
    let elapsed = started.elapsed().as_secs_f64();
    let fill = stats
        .shards
        .iter()
        .filter(|s| s.phase == corelane::ShardPhase::Active)
        .map(|s| s.ring_fill())
        .fold(0.0f64, f64::max);
    let p99 = |value: Option<u64>| value.map_or("-".to_string(), |ns| fmt_ns(ns as f64));
    let ingest_p99 = {
        let h = ingest.lock();
        p99((!h.is_empty()).then(|| h.value_at_quantile(0.99)))
    };
    let e2e_p99 = p99(probe.end_to_end_p99());
    eprint!(
        "\r[{elapsed:5.1}s/{:.0}s] {} shard(s) | {}events/s | ingest p99 {ingest_p99} | end-to-end p99 {e2e_p99} | ring fill {:3.0}% | written {}   ",
        total.as_secs_f64(),
        bus.num_shards(),
        fmt_count(stats.accepted as f64 / elapsed.max(1e-9)),
        fill * 100.0,
        fmt_count(stats.written as f64)
    );
}
