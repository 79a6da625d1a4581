//! Every event that `flush()` acknowledged survives a SIGKILL right after, on the file
//! adapter: a child process ingests and flushes in a loop, reporting each flush; the
//! test kills it mid-stream, reopens the directory, and checks.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use corelane::adapters::{FileAdapter, FileConfig, FsyncPolicy};
use corelane::read::{ConsumeRequest, Consumer};
use corelane::{Bus, CorePlan};

const DIR_VAR: &str = "CORELANE_CRASH_DIR";
const ROUND_VAR: &str = "CORELANE_CRASH_ROUND";

/// Not a test: the process the real test kills. Runs only when asked for by name.
#[test]
#[ignore = "helper process for flushed_events_survive_sigkill"]
fn crash_child_process() {
    let dir = std::env::var(DIR_VAR).expect("run by flushed_events_survive_sigkill");
    let round: u64 = std::env::var(ROUND_VAR).unwrap().parse().unwrap();
    let mut config = FileConfig::new(dir);
    config.fsync = FsyncPolicy::Never; // SIGKILL keeps the page cache: no fsync needed
    config.segment_bytes = 64 << 10;
    let bus = Bus::builder()
        .num_shards(2)
        .cores(CorePlan::Disabled)
        .build(FileAdapter::open(config).unwrap())
        .unwrap();
    let mut producer = bus.producer();
    let mut i = 0u64;
    loop {
        for _ in 0..500 {
            let payload = format!("r{round}-{i}");
            while producer.ingest_raw(payload.as_bytes()).is_err() {
                std::thread::yield_now();
            }
            i += 1;
        }
        bus.flush(Duration::from_secs(30)).unwrap();
        println!("FLUSHED {i}");
    }
}

#[test]
fn flushed_events_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged = Vec::new();
    for round in 0..4u64 {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .env(ROUND_VAR, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut flushed = 0u64;
        let mut flushes = 0;
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("FLUSHED ") {
                flushed = n.parse().unwrap();
                flushes += 1;
                if flushes == 3 + round as usize {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(flushed > 0, "round {round}: the child never flushed");
        acknowledged.push(flushed);

        // Reopen (recovering the killed writer's tail) and read everything.
        let mut config = FileConfig::new(dir.path());
        config.fsync = FsyncPolicy::Never;
        let adapter = FileAdapter::open(config).unwrap();
        let bus = Bus::builder()
            .num_shards(2)
            .cores(CorePlan::Disabled)
            .build(adapter.clone())
            .unwrap();
        let consumer = Consumer::new(Arc::new(adapter), 2);
        let mut per_round: Vec<Vec<u64>> = vec![Vec::new(); 4];
        let mut next_seq = [0u64; 2];
        for e in &consumer.read_all(&ConsumeRequest::new()).unwrap() {
            assert_eq!(
                e.sequence, next_seq[e.shard as usize],
                "gap or reuse in shard {}",
                e.shard
            );
            next_seq[e.shard as usize] += 1;
            let text = String::from_utf8(e.payload.clone()).unwrap();
            let (r, i) = text[1..].split_once('-').unwrap();
            per_round[r.parse::<usize>().unwrap()].push(i.parse().unwrap());
        }
        for (r, acked) in acknowledged.iter().enumerate() {
            let mut got = per_round[r].clone();
            got.sort_unstable();
            got.dedup();
            assert_eq!(
                got.len(),
                per_round[r].len(),
                "round {r}: an event stored twice"
            );
            assert!(
                got.len() as u64 >= *acked
                    && got[..*acked as usize] == (0..*acked).collect::<Vec<_>>()[..],
                "round {r}: {} of the {acked} flushed events survived",
                got.iter().take_while(|&&x| x < *acked).count()
            );
        }
        bus.shutdown().unwrap();
    }
}
