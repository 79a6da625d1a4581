//! `corelane bench`, run as a user would: its JSON summary, its tables, the profile it
//! ran with, and a scaling policy at work.

mod common;

use common::{run, text};

#[test]
fn bench_reports_json_and_loses_nothing() {
    for adapter in ["file", "memory", "noop"] {
        let dir = tempfile::tempdir().unwrap();
        let plot = dir.path().join("latency.svg");
        let out = run(
            &[
                "bench",
                "--adapter",
                adapter,
                "--duration",
                "300ms",
                "--producers",
                "2",
                "--shards",
                "2",
                "--json",
                "--plot",
                plot.to_str().unwrap(),
            ],
            None,
        );
        assert!(out.status.success(), "{adapter}: {}", text(&out.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
        assert_eq!(summary["lost"], 0, "{adapter}");
        let accepted = summary["stats"]["accepted"].as_u64().unwrap();
        assert!(accepted > 0);
        assert_eq!(summary["stats"]["written"].as_u64().unwrap(), accepted);
        assert_eq!(
            summary["end_to_end_latency"]["count"].as_u64().unwrap(),
            accepted
        );
        assert!(summary["ingest_latency"]["p99_ns"].as_u64().is_some());
        let svg = std::fs::read_to_string(&plot).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{adapter}: not an SVG plot"
        );
    }
    // Paced, with tables on stdout.
    let out = run(
        &[
            "bench",
            "--adapter",
            "memory",
            "--duration",
            "300ms",
            "--rate",
            "5k",
            "--batch",
            "low-latency",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ingest (from intended send)"), "{stdout}");
    assert!(stdout.contains("lost: 0"), "{stdout}");
    if cfg!(target_os = "linux") {
        assert!(stdout.contains("VM steal during the run: "), "{stdout}");
    }

    // The low-latency profile's choices are what the summary reports: spinning threads
    // only where each has a core, otherwise shard and I/O threads that linger.
    let out = run(
        &[
            "bench",
            "--adapter",
            "noop",
            "--shards",
            "1",
            "--duration",
            "200ms",
            "--rate",
            "5k",
            "--profile",
            "low-latency",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(summary["lost"], 0);
    assert_eq!(summary["batch"]["max_events"], 256);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (wait, io_wait) = if cores >= 3 {
        ("BusySpin", serde_json::Value::Null)
    } else {
        ("SpinThenYield", serde_json::json!("SpinThenYield"))
    };
    assert_eq!(summary["wait_strategy"], wait);
    assert_eq!(summary["io_wait_strategy"], io_wait);
    // Linux reports the VM's steal time, which the run measures around itself.
    if cfg!(target_os = "linux") {
        assert!(summary["steal_ms"].is_u64(), "{summary}");
    }
    // One shard, pinned to the first allowed core: the I/O thread gets another.
    if cores >= 2 {
        assert!(summary["io_core"].is_u64(), "{summary}");
    } else {
        assert!(summary["io_core"].is_null(), "{summary}");
    }
}

#[test]
fn bench_with_max_shards_runs_a_policy_and_reports_its_changes() {
    let out = run(
        &[
            "bench",
            "--adapter",
            "noop",
            "--producers",
            "2",
            "--max-shards",
            "3",
            "--duration",
            "1500ms",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(summary["lost"], 0);
    // Whether the policy acts depends on the machine; what it did is reported either way.
    let events = summary["scale_events"].as_array().expect("scale_events");
    let mut shards = 1;
    for e in events {
        assert_eq!(e["from"], shards, "{events:?}");
        shards = e["to"].as_u64().unwrap();
        assert!((1..=3).contains(&shards), "{events:?}");
        assert!(e["took_ns"].as_u64().unwrap() >= e["to_traffic_ns"].as_u64().unwrap());
    }
    assert_eq!(
        summary["shards"], shards,
        "the summary's shard count is the last one"
    );
    // The progress line shows the live shard count.
    let out = run(
        &[
            "bench",
            "--adapter",
            "noop",
            "--max-shards",
            "2",
            "--duration",
            "600ms",
            "--progress",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(" shard(s) | "),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("lost: 0"),
        "{}",
        text(&out.stdout)
    );

    let out = run(&["bench", "--shards", "2", "--max-shards", "1"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--max-shards 1 is outside --shards (2)..=1024"));
}
