//! What corelane's `cargo bench` targets share: durations that scale, the machine
//! description, percentile summaries, tables, and JSON reports.
//!
//! Every target prints a table and writes `target/corelane-bench/<target>.json` with the
//! machine (CPU model, cores, where threads were pinned), the configuration, and the
//! figures. Durations and counts scale with `CORELANE_BENCH_SCALE` (default 1.0; the whole
//! suite takes well under five minutes on two cores at 1.0).

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use corelane::adapters::NoopAdapter;
use corelane::{Backpressure, BatchConfig, Bus, CorePlan, RawEvent, WaitStrategy};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// The scale factor from `CORELANE_BENCH_SCALE` (default 1.0, clamped to 0.01..=100).
pub fn scale() -> f64 {
    std::env::var("CORELANE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite())
        .map_or(1.0, |s| s.clamp(0.01, 100.0))
}

/// `d` times the scale factor.
pub fn scaled(d: Duration) -> Duration {
    d.mul_f64(scale())
}

/// `n` times the scale factor (at least 1).
pub fn scaled_count(n: u64) -> u64 {
    ((n as f64 * scale()) as u64).max(1)
}

/// An environment variable parsed, or a default.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The machine a run happened on.
pub fn machine(pinning: &[(&str, Option<usize>)]) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let pins: serde_json::Map<String, Value> = pinning
        .iter()
        .map(|(who, core)| {
            (
                who.to_string(),
                core.map_or(json!("unpinned"), |c| json!(c)),
            )
        })
        .collect();
    json!({
        "cpu_model": model,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "pinning": pins,
        "scale": scale(),
    })
}

/// The cores this process may use, as the OS numbers them.
pub fn cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// Pins the calling thread to `core`, if given; returns where it ended up.
pub fn pin(core: Option<usize>) -> Option<usize> {
    let id = core?;
    core_affinity::set_for_current(core_affinity::CoreId { id }).then_some(id)
}

/// A histogram of nanoseconds, 1 ns to 100 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid bounds")
}

/// Percentiles of a histogram, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Number of values.
    pub count: u64,
}

impl Summary {
    /// Summarises `h`.
    pub fn of(h: &Histogram<u64>) -> Summary {
        Summary {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
            count: h.len(),
        }
    }

    /// As JSON (nanoseconds).
    pub fn to_json(&self) -> Value {
        json!({
            "p50_ns": self.p50, "p90_ns": self.p90, "p99_ns": self.p99,
            "p999_ns": self.p999, "max_ns": self.max, "mean_ns": self.mean, "count": self.count,
        })
    }
}

/// Formats nanoseconds with a unit that keeps three or four digits.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// Prints a table of latency summaries.
pub fn print_latency_table(title: &str, rows: &[(String, Summary)]) {
    println!("\n{title}");
    let width = rows
        .iter()
        .map(|(l, _)| l.len())
        .max()
        .unwrap_or(10)
        .max(10);
    println!(
        "  {:width$}  {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "", "p50", "p90", "p99", "p99.9", "max", "mean", "count"
    );
    for (label, s) in rows {
        println!(
            "  {label:width$}  {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            fmt_ns(s.p50 as f64),
            fmt_ns(s.p90 as f64),
            fmt_ns(s.p99 as f64),
            fmt_ns(s.p999 as f64),
            fmt_ns(s.max as f64),
            fmt_ns(s.mean),
            s.count
        );
    }
}

/// The cost of reading the clock twice around nothing, as measured now: subtract its
/// median from per-call figures timed with two `Instant::now()` reads.
pub fn clock_overhead(samples: u64) -> Summary {
    let mut h = histogram();
    for _ in 0..samples {
        let start = Instant::now();
        let end = Instant::now();
        h.saturating_record(end.duration_since(start).as_nanos().max(1) as u64);
    }
    Summary::of(&h)
}

/// CPU time the hypervisor gave to other guests while this machine's vCPUs wanted to run
/// ("steal"), since boot: of vCPU `cpu`, or summed over all of them for `None`; `None`
/// where `/proc/stat` does not say. Read it before and after a run: a stolen millisecond
/// is a millisecond in which the thread on that vCPU cannot run, pinned or not. The
/// counters tick in hundredths of a second, so a difference is good to ±10 ms.
pub fn steal_time(cpu: Option<usize>) -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let label = cpu.map_or("cpu".to_string(), |c| format!("cpu{c}"));
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(label.as_str()))?;
    // user nice system idle iowait irq softirq steal ...; in USER_HZ ticks, 100 a second
    // on the Linux architectures corelane builds for (x86-64, AArch64, RISC-V).
    let ticks: u64 = line.split_whitespace().nth(8)?.parse().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Writes `report` to `target/corelane-bench/<name>.json` and says where.
pub fn write_report(name: &str, report: &Value) {
    let dir = target_dir().join("corelane-bench");
    let path = dir.join(format!("{name}.json"));
    let written = std::fs::create_dir_all(&dir).and_then(|_| {
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(report).expect("serialisable"),
        )
    });
    match written {
        Ok(()) => println!("\nreport: {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return dir.into();
    }
    // Bench binaries live in <target>/release/deps.
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|p| p.file_name().is_some_and(|n| n == "target"))
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Waits until `at`: yields the CPU while more than 2 µs remain (so that a thread
/// sharing this core runs), then spins.
#[inline]
pub fn spin_until(at: Instant) {
    loop {
        let now = Instant::now();
        if now >= at {
            return;
        }
        if at - now > Duration::from_micros(2) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Writes one length-framed record (a 4-byte little-endian length, then the payload) with
/// one chunk, the way the bus's producer does; false when the ring lacks room.
pub fn push_record(tx: &mut rtrb::Producer<u8>, payload: &[u8]) -> bool {
    use rtrb::CopyToUninit;
    let Ok(mut chunk) = tx.write_chunk_uninit(4 + payload.len()) else {
        return false;
    };
    let header = (payload.len() as u32).to_le_bytes();
    let (first, second) = chunk.as_mut_slices();
    if second.is_empty() {
        header.copy_to_uninit(&mut first[..4]);
        payload.copy_to_uninit(&mut first[4..]);
    } else {
        let bytes = header.iter().chain(payload.iter());
        for (slot, &b) in first.iter_mut().chain(second.iter_mut()).zip(bytes) {
            slot.write(b);
        }
    }
    // SAFETY: the chunk has exactly 4 + payload.len() slots, and either branch above
    // wrote every one of them (header then payload, across both slices).
    unsafe { chunk.commit_all() };
    true
}

/// The bus's job on the consuming side, done plainly: read every complete record the
/// ring holds and copy its payload into a batch buffer (cleared when it passes 1 MiB),
/// until `done(records)`; returns the number of records moved.
pub fn drain_records(mut rx: rtrb::Consumer<u8>, done: impl Fn(u64) -> bool) -> u64 {
    let mut batch: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut records = 0u64;
    while !done(records) || rx.slots() > 0 {
        let n = rx.slots();
        if n < 4 {
            std::hint::spin_loop();
            continue;
        }
        let chunk = rx.read_chunk(n).expect("n slots");
        let (a, b) = chunk.as_slices();
        let at = |i: usize| if i < a.len() { a[i] } else { b[i - a.len()] };
        let mut pos = 0;
        while pos + 4 <= n {
            let len = u32::from_le_bytes([at(pos), at(pos + 1), at(pos + 2), at(pos + 3)]) as usize;
            if pos + 4 + len > n {
                break;
            }
            let start = pos + 4;
            if start + len <= a.len() {
                batch.extend_from_slice(&a[start..start + len]);
            } else {
                (start..start + len).for_each(|i| batch.push(at(i)));
            }
            pos = start + len;
            records += 1;
        }
        if batch.len() > 1 << 20 {
            batch.clear();
        }
        chunk.commit(pos);
    }
    records
}

/// Ring size of the throughput benches' producers and of the bare-ring baseline.
pub const THROUGHPUT_RING_BYTES: usize = 1 << 20;

/// A 64-byte event whose first eight bytes number it.
pub fn numbered_event(i: u64) -> [u8; 64] {
    let mut e = [0x5au8; 64];
    e[..8].copy_from_slice(&i.to_le_bytes());
    e
}

/// The `i`-th of `cores`, round robin; `None` when there are none.
pub fn core_for(cores: &[usize], i: usize) -> Option<usize> {
    (!cores.is_empty()).then(|| cores[i % cores.len()])
}

/// Events/s of `producers` × `shards` → noop for `total` 64-byte events: from the first
/// ingest until the bus reports every event written. Producer p on core p, shard s on
/// core (P + s) of `cores` (round robin); `SpinThenYield`, high-throughput batches,
/// `Block` backpressure, 1 MiB rings, an explicit hash per event.
pub fn bus_throughput(producers: usize, shards: usize, total: u64, cores: &[usize]) -> f64 {
    let shard_cores: Vec<usize> = (0..shards)
        .filter_map(|s| core_for(cores, producers + s))
        .collect();
    let bus = Arc::new(
        Bus::builder()
            .num_shards(shards)
            .cores(if shard_cores.is_empty() {
                CorePlan::Disabled
            } else {
                CorePlan::Cores(shard_cores)
            })
            .wait_strategy(WaitStrategy::SpinThenYield)
            // A full ring makes the producer wait (spin, then yield): on a machine with
            // fewer cores than threads, a spinning producer would starve its shard.
            .backpressure(Backpressure::block(Duration::from_secs(10)))
            .batch(BatchConfig::high_throughput())
            .ring_capacity_bytes(THROUGHPUT_RING_BYTES)
            .build(NoopAdapter::new())
            .expect("bus"),
    );
    let per = total / producers as u64;
    let start = Arc::new(Barrier::new(producers + 1));
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let (bus, start, core) = (Arc::clone(&bus), Arc::clone(&start), core_for(cores, p));
            std::thread::spawn(move || {
                pin(core);
                let mut producer = bus.producer();
                start.wait();
                for i in 0..per {
                    let e = numbered_event(i);
                    let ev = RawEvent::new(&e[..])
                        .with_hash(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ p as u64);
                    producer.ingest_raw(&ev).expect("room within 10 s");
                }
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    for h in handles {
        h.join().expect("producer");
    }
    let expected = per * producers as u64;
    while bus.stats().written < expected {
        std::thread::sleep(Duration::from_micros(50));
    }
    let elapsed = t0.elapsed();
    let stats = bus.shutdown().expect("shutdown");
    assert_eq!(
        (stats.accepted, stats.written),
        (expected, expected),
        "nothing lost"
    );
    expected as f64 / elapsed.as_secs_f64()
}
