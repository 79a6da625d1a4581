//! The cost of one `Producer::ingest_raw` of a 64-byte event (1 producer → 1 shard, the
//! shard thread draining), next to a bare rtrb push of the same 64 bytes into a ring
//! drained by a thread that copies them out, in the same run.
//!
//! Calls are paced (`CORELANE_BENCH_RATE`, default 1,000,000/s) and timed with two clock
//! reads: "service" is end − start of the call, "from intended" is end − the time the call
//! was scheduled for (coordinated omission: a stall delays later calls and counts). The
//! clock-read overhead is measured in the same run; subtract its p50. A third figure
//! times groups of 100 back-to-back calls with one clock pair per group, so the
//! per-call cost is visible below the clock's resolution.
//!
//! Pinning: the producer (this thread) on the first allowed core, the shard thread (and
//! the baseline's drain thread) on the second; the I/O thread is not pinned and sleeps
//! (noop adapter, large batches).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use corelane::adapters::NoopAdapter;
use corelane::{BatchConfig, Bus, CorePlan, WaitStrategy};
use corelane_benches::*;
use serde_json::json;

struct Run {
    service: Summary,
    intended: Summary,
    /// Per-call time of groups of `GROUP` back-to-back calls: the clock is read once per
    /// group, so its overhead all but vanishes.
    grouped: Summary,
    refused: u64,
}

const GROUP: u64 = 100;

/// The event every call sends, in both runs.
const PAYLOAD: [u8; 64] = [0x5a; 64];

fn paced(calls: u64, period: Duration, mut op: impl FnMut() -> bool) -> Run {
    let (mut service, mut intended) = (histogram(), histogram());
    let mut refused = 0;
    // Warm-up: caches, branch predictors, the ring's pages.
    for _ in 0..calls.min(100_000) {
        while !op() {}
    }
    let start = Instant::now() + Duration::from_millis(1);
    for i in 0..calls {
        let at = start + period * i as u32;
        spin_until(at);
        let t0 = Instant::now();
        while !op() {
            refused += 1;
        }
        let t1 = Instant::now();
        service.saturating_record(t1.duration_since(t0).as_nanos().max(1) as u64);
        intended.saturating_record(t1.duration_since(at).as_nanos().max(1) as u64);
    }
    let mut grouped = histogram();
    let start = Instant::now() + Duration::from_millis(1);
    for g in 0..calls / GROUP {
        spin_until(start + period * (g * GROUP) as u32);
        let t0 = Instant::now();
        for _ in 0..GROUP {
            while !op() {
                refused += 1;
            }
        }
        let per_call = t0.elapsed().as_nanos() as u64 / GROUP;
        grouped.saturating_record(per_call.max(1));
    }
    Run {
        service: Summary::of(&service),
        intended: Summary::of(&intended),
        grouped: Summary::of(&grouped),
        refused,
    }
}

/// Everything one run of this bench measured, with the settings it ran under.
struct Results {
    rate: u64,
    calls: u64,
    producer_core: Option<usize>,
    drain_core: Option<usize>,
    overhead: Summary,
    corelane: Run,
    bare: Run,
    /// Whether the producer's fence is a compiler fence (membarrier) rather than SeqCst.
    asymmetric_barrier: bool,
}

impl Results {
    /// p50 of service time minus the clock overhead's p50.
    fn net(&self, s: &Summary) -> u64 {
        s.p50.saturating_sub(self.overhead.p50)
    }

    fn ratio_p50(&self) -> f64 {
        self.corelane.service.p50 as f64 / self.bare.service.p50.max(1) as f64
    }
}

fn main() {
    let rate: u64 = env_or("CORELANE_BENCH_RATE", 1_000_000);
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let calls = scaled_count(2_000_000);
    let cores = cores();
    let producer_core = pin(cores.first().copied());
    let drain_core = cores.get(1).or(cores.first()).copied();
    let overhead = clock_overhead(scaled_count(1_000_000));
    let (corelane, asymmetric_barrier) = run_corelane(calls, period, drain_core);
    let bare = run_bare_rtrb(calls, period, drain_core);
    let results = Results {
        rate,
        calls,
        producer_core,
        drain_core,
        overhead,
        corelane,
        bare,
        asymmetric_barrier,
    };
    print_results(&results);
    write_json(&results);
}

/// Paced `ingest_raw` calls into a one-shard bus whose shard thread runs on `drain_core`;
/// also says whether the bus used the asymmetric barrier.
fn run_corelane(calls: u64, period: Duration, drain_core: Option<usize>) -> (Run, bool) {
    let bus = Bus::builder()
        .num_shards(1)
        .cores(drain_core.map_or(CorePlan::Disabled, |c| CorePlan::Cores(vec![c])))
        .wait_strategy(WaitStrategy::SpinThenYield)
        .batch(BatchConfig::high_throughput())
        .ring_capacity_bytes(1 << 20)
        .build(NoopAdapter::new())
        .expect("bus");
    let mut producer = bus.producer();
    let run = paced(calls, period, || producer.ingest_raw(&PAYLOAD).is_ok());
    drop(producer);
    let stats = bus.shutdown().expect("shutdown");
    assert_eq!(stats.written, stats.accepted, "nothing lost");
    (run, corelane::testing::uses_asymmetric_barrier(&bus))
}

/// The same bytes into a bare rtrb byte ring drained by a thread pinned to `drain_core`.
fn run_bare_rtrb(calls: u64, period: Duration, drain_core: Option<usize>) -> Run {
    let (mut tx, rx) = rtrb::RingBuffer::<u8>::new(1 << 20);
    let done = Arc::new(AtomicBool::new(false));
    let drainer = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            pin(drain_core);
            // Copying each record out, as a shard does, makes the producer write to ring
            // lines another core has read, in both runs.
            drain_records(rx, |_| done.load(Ordering::Relaxed))
        })
    };
    // The same length-framed record, written with one chunk, that the bus writes.
    let bare = paced(calls, period, || push_record(&mut tx, &PAYLOAD));
    done.store(true, Ordering::Relaxed);
    let moved = drainer.join().expect("drain thread");
    assert!(moved >= calls);
    bare
}

fn print_results(r: &Results) {
    let (corelane, bare) = (&r.corelane, &r.bare);
    print_latency_table(
        &format!(
            "ingest of one 64-byte event, {} calls paced at {}/s (clock reads included)",
            r.calls, r.rate
        ),
        &[
            ("clock overhead (2 reads)".into(), r.overhead),
            ("corelane ingest_raw: service".into(), corelane.service),
            ("corelane: from intended".into(), corelane.intended),
            ("bare rtrb push: service".into(), bare.service),
            ("bare rtrb: from intended".into(), bare.intended),
            (
                format!("corelane: per call, groups of {GROUP}"),
                corelane.grouped,
            ),
            (
                format!("bare rtrb: per call, groups of {GROUP}"),
                bare.grouped,
            ),
        ],
    );
    println!(
        "\np50 minus clock overhead: corelane {} ns, bare rtrb {} ns; ratio corelane/rtrb (p50, raw) = {:.2}",
        r.net(&corelane.service),
        r.net(&bare.service),
        r.ratio_p50()
    );
    println!(
        "refused while full: corelane {}, rtrb {}; producer fence: {}",
        corelane.refused,
        bare.refused,
        if r.asymmetric_barrier {
            "compiler fence (membarrier)"
        } else {
            "SeqCst fence"
        }
    );
}

fn write_json(r: &Results) {
    let (corelane, bare) = (&r.corelane, &r.bare);
    write_report(
        "ingest_latency",
        &json!({
            "bench": "ingest_latency",
            "machine": machine(&[("producer", r.producer_core), ("shard", r.drain_core), ("rtrb_drain", r.drain_core), ("io", None)]),
            "config": {"payload_bytes": 64, "calls": r.calls, "rate_per_s": r.rate, "shards": 1,
                       "wait_strategy": "SpinThenYield", "batch": "high_throughput", "adapter": "noop",
                       "ring_capacity_bytes": 1 << 20, "asymmetric_barrier": r.asymmetric_barrier},
            "clock_overhead": r.overhead.to_json(),
            "corelane": {"service": corelane.service.to_json(), "from_intended": corelane.intended.to_json(),
                         "per_call_in_groups_of_100": corelane.grouped.to_json(), "refused": corelane.refused},
            "rtrb": {"service": bare.service.to_json(), "from_intended": bare.intended.to_json(),
                     "per_call_in_groups_of_100": bare.grouped.to_json(), "refused": bare.refused},
            "ratio_p50_corelane_over_rtrb": r.ratio_p50(),
            "p50_minus_clock_ns": {"corelane": r.net(&corelane.service), "rtrb": r.net(&bare.service)},
        }),
    );
}
