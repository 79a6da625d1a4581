//! The `corelane` binary, run as a user would: pump → tail, bad input, Ctrl-C, network
//! stores (`bench` on its own is in bench.rs).

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{corelane, run, run_bytes, tail_lines, text};

#[test]
fn help_for_every_subcommand() {
    for sub in [
        &["--help"][..],
        &["bench", "--help"],
        &["pump", "--help"],
        &["tail", "--help"],
        &["verify", "--help"],
    ] {
        let out = run(sub, None);
        assert!(out.status.success(), "{sub:?}");
        assert!(text(&out.stdout).contains("Usage: corelane"), "{sub:?}");
    }
}

#[test]
fn pump_then_tail_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let input: String = (0..1000)
        .map(|i| {
            format!(
                "{{\"i\":{i},\"sym\":\"{}\"}}\n",
                if i % 2 == 0 { "AAPL" } else { "MSFT" }
            )
        })
        .collect();
    let out = run(
        &["pump", "--data", data.to_str().unwrap(), "--shards", "3"],
        Some(&input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ingested 1000"),
        "{}",
        text(&out.stderr)
    );

    let (events, cursor) = tail_lines(&data, &["--from-start"]);
    assert_eq!(events.len(), 1000);
    let mut is: Vec<i64> = events
        .iter()
        .map(|e| e["payload"]["i"].as_i64().unwrap())
        .collect();
    is.sort_unstable();
    assert_eq!(is, (0..1000).collect::<Vec<_>>());
    for e in &events {
        assert!(
            e["id"].is_string() && e["shard"].is_u64() && e["seq"].is_u64() && e["ts"].is_u64()
        );
    }

    // Resuming after the cursor prints nothing; more input appears after it.
    let (none, same) = tail_lines(&data, &["--after", &cursor]);
    assert!(none.is_empty());
    assert_eq!(same, cursor);
    let out = run(
        &["pump", "--data", data.to_str().unwrap()],
        Some("{\"i\":1000,\"sym\":\"AAPL\"}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (more, _) = tail_lines(&data, &["--after", &cursor]);
    assert_eq!(more.len(), 1);
    assert_eq!(more[0]["payload"]["i"], 1000);

    // Filters, limits, time order, and only-new.
    let (aapl, _) = tail_lines(&data, &["--filter", r#"{"path":"sym","value":"AAPL"}"#]);
    assert_eq!(aapl.len(), 501);
    let (few, _) = tail_lines(&data, &["--limit", "7", "--order", "time"]);
    assert_eq!(few.len(), 7);
    let ts: Vec<u64> = few.iter().map(|e| e["ts"].as_u64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    let (new, _) = tail_lines(&data, &["--from-end"]);
    assert!(new.is_empty());
}

#[test]
fn a_bad_line_is_reported_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let input = "{\"ok\":1}\n\n{\"ok\":2}\n{\"broken\": }\n{\"ok\":3}\n";
    let out = run(&["pump", "--data", data.to_str().unwrap()], Some(input));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("corelane: error: line 4: invalid JSON event"),
        "{err}"
    );
    assert!(last.contains("column 12"), "{err}");
    // Lines before the bad one were stored.
    assert_eq!(tail_lines(&data, &[]).0.len(), 2);

    let out = run(
        &["pump", "--data", data.to_str().unwrap(), "--skip-bad"],
        Some(input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("skipped line 4"), "{err}");
    assert!(err.contains("ingested 3, bad 1, blank 1"), "{err}");
    assert_eq!(tail_lines(&data, &[]).0.len(), 5);
}

/// Text a reader cannot parse — a number beyond f64, a string that is not UTF-8 — is a
/// bad line, not an event that later matches no filter.
#[test]
fn pump_refuses_json_that_readers_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let mut input = b"{\"ok\":1}\n{\"px\":1e400}\n[\"".to_vec();
    input.extend_from_slice(b"\xff\"]\n{\"ok\":2}\n");
    let out = run_bytes(
        &["pump", "--data", data.to_str().unwrap(), "--skip-bad"],
        &input,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("skipped line 2"), "{err}");
    assert!(err.contains("skipped line 3"), "{err}");
    assert!(err.contains("ingested 2, bad 2"), "{err}");
    assert_eq!(tail_lines(&data, &[]).0.len(), 2);
}

/// SIGINT while pump is reading: it stops, shuts the bus down, and everything it
/// reported as ingested is in the store.
#[test]
fn sigint_during_pump_loses_nothing_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let mut child = corelane()
        .args(["pump", "--data", data.to_str().unwrap(), "--fsync", "never"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut i = 0u64;
        // Keep the pipe busy until pump stops reading.
        loop {
            let line = format!("{{\"i\":{i}}}\n");
            if stdin.write_all(line.as_bytes()).is_err() {
                return i;
            }
            i += 1;
            if i % 1000 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: sending a signal to our own child process by its pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    let written = writer.join().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("(interrupted)"), "{err}");
    let ingested: u64 = err
        .split("ingested ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {err:?}"));
    assert!(
        ingested > 0 && ingested <= written,
        "ingested {ingested} of {written}"
    );
    let (events, _) = tail_lines(&data, &[]);
    let mut is: Vec<u64> = events
        .iter()
        .map(|e| e["payload"]["i"].as_u64().unwrap())
        .collect();
    is.sort_unstable();
    assert_eq!(
        is,
        (0..ingested).collect::<Vec<_>>(),
        "exactly the first {ingested} lines are stored"
    );
}

#[test]
fn errors_are_one_line_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let out = run(&["tail", "--data", missing.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("corelane: error: ") && err.contains("does not exist"),
        "{err}"
    );

    let out = run(&["tail", "--data", "/", "--filter", "{\"$bogus\":1}"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown operator \"$bogus\""));
    let out = run(&["tail", "--after", "not-a-cursor"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid cursor"));
    let out = run(&["bench", "--fsync", "sometimes"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected never, every-batch or interval:MS"));
    let out = run(&["bench", "--producers", "0", "--adapter", "noop"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--producers 0 is outside 1..=256"));
    let out = run(&["pump", "--adapter", "kafka://localhost"], Some(""));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("expected file, memory, noop, a redis[s]://, nats:// or tls:// URL")
    );
}

/// A pump that fails before it reads its input closes the pipe under its feeder; what
/// counts is its exit status and its message. (The input is larger than a pipe holds,
/// so the feeder is still writing when the pump exits.)
#[test]
fn a_pump_that_fails_before_reading_its_input_still_reports_why() {
    let input = "{\"i\":1}\n".repeat(64 * 1024);
    let out = run(&["pump", "--adapter", "redis://127.0.0.1:1"], Some(&input));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("adapter redis failed to initialise"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn tail_follow_prints_new_events_until_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let out = run(
        &["pump", "--data", data.to_str().unwrap(), "--shards", "2"],
        Some("{\"old\":true}\n"),
    );
    assert!(out.status.success());
    let follower = corelane()
        .args([
            "tail",
            "--data",
            data.to_str().unwrap(),
            "--from-end",
            "--follow",
            "--limit",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = run(
        &["pump", "--data", data.to_str().unwrap()],
        Some("{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines.iter().all(|l| l["payload"]["n"].is_u64()),
        "only the new events"
    );
}

/// pump → tail (in `order`) → bench through a network store at `url`.
fn pump_tail_bench_through(url: &str, events: u64, order: &str) {
    let input: String = (0..events).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    let out = run(&["pump", "--adapter", url, "--shards", "2"], Some(&input));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("ingested {events}")),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["tail", "--adapter", url, "--order", order], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut is: Vec<u64> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["payload"]["i"]
                .as_u64()
                .unwrap()
        })
        .collect();
    is.sort_unstable();
    assert_eq!(is, (0..events).collect::<Vec<_>>());
    let out = run(
        &["bench", "--adapter", url, "--duration", "300ms", "--json"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["lost"], 0);
}

/// pump → tail through Redis Streams, against a real redis-server.
#[test]
fn pump_then_tail_through_redis() {
    let Some(server) = corelane_testkit::Server::redis(&[]) else {
        return;
    };
    pump_tail_bench_through(&server.redis_url(), 300, "shard");
}

/// pump → tail through NATS JetStream, against a real nats-server.
#[test]
fn pump_then_tail_through_jetstream() {
    let Some(server) = corelane_testkit::Server::nats(&[]) else {
        return;
    };
    pump_tail_bench_through(&server.nats_url(), 200, "time");
}

/// pump → tail → bench through Redis over TLS, trusting the test's CA with --tls-ca.
#[test]
fn pump_then_tail_through_redis_over_tls() {
    let pki = corelane_testkit::TestPki::new();
    let Some(server) = corelane_testkit::Server::redis_tls(&pki, false, &[]) else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let ca = pki.ca.to_str().unwrap();
    let input: String = (0..50).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    let out = run(&["pump", "--adapter", &url, "--tls-ca", ca], Some(&input));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["tail", "--adapter", &url, "--tls-ca", ca], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 50);
    let out = run(
        &[
            "bench",
            "--adapter",
            &url,
            "--tls-ca",
            ca,
            "--duration",
            "300ms",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Without the CA the server's certificate is not trusted: a one-line refusal.
    let out = run(&["tail", "--adapter", &url], None);
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim().lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );
}

/// Passwords and tokens given in URLs never appear in anything the CLI prints, whether
/// the server accepts them or not.
#[test]
fn secrets_never_appear_in_cli_output() {
    let Some(redis) = corelane_testkit::Server::redis(&["--requirepass", "pw-R3dis-s3cret"]) else {
        return;
    };
    let Some(nats) = corelane_testkit::Server::nats(&["--auth", "tok-N4ts-s3cret"]) else {
        return;
    };
    let cases = [
        (
            format!("redis://:pw-R3dis-s3cret@127.0.0.1:{}", redis.port),
            "pw-R3dis-s3cret",
            true,
        ),
        (
            format!("redis://:wrong-Pw-s3cret@127.0.0.1:{}", redis.port),
            "wrong-Pw-s3cret",
            false,
        ),
        (
            format!("nats://tok-N4ts-s3cret@127.0.0.1:{}", nats.port),
            "tok-N4ts-s3cret",
            true,
        ),
        (
            format!("nats://wrong-T0k-s3cret@127.0.0.1:{}", nats.port),
            "wrong-T0k-s3cret",
            false,
        ),
    ];
    for (url, secret, accepted) in &cases {
        let input = "{\"i\":1}\n";
        let runs = [
            run(&["pump", "--adapter", url], Some(input)),
            run(&["tail", "--adapter", url], None),
            run(
                &["bench", "--adapter", url, "--duration", "200ms", "--json"],
                None,
            ),
            run(&["bench", "--adapter", url, "--duration", "200ms"], None),
        ];
        for out in &runs {
            assert_eq!(
                out.status.success(),
                *accepted,
                "{url}: {}",
                text(&out.stderr)
            );
            let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
    }
}

/// Key order, duplicate keys, number spellings and escapes come out as they went in.
#[test]
fn tail_prints_the_stored_payload_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let payload =
        r#"{"z":1,"a":2,"a":3,"n":123456789012345678901234567890,"f":1.50,"s":"\u00e9 ü"}"#;
    let out = run(
        &["pump", "--data", data.to_str().unwrap(), "--shards", "1"],
        Some(&format!("{payload}\n")),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["tail", "--data", data.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(
        line.contains(&format!(r#","payload":{payload}}}"#)),
        "{line}"
    );
    assert!(serde_json::from_str::<serde_json::Value>(line.trim()).is_ok());
}

/// A line over max_event_bytes stops the pump like invalid JSON does; `--skip-bad`
/// counts both and goes on, and `--json` gives the summary to scripts.
#[test]
fn pump_skips_and_counts_lines_over_max_event_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    // The default max_event_bytes of a 64 KiB ring is 16 KiB.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(20_000));
    let input = format!("{{\"ok\":1}}\n{big}\n{{\"broken\": }}\n\n{{\"ok\":2}}\n");
    let out = run(&["pump", "--data", data.to_str().unwrap()], Some(&input));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: line 2: event of 20010 bytes exceeds max_event_bytes (16384)"),
        "{err}"
    );

    let out = run(
        &["pump", "--data", data.to_str().unwrap(), "--skip-bad"],
        Some(&input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("skipped line 2: event of 20010 bytes"),
        "{err}"
    );
    assert!(err.contains("skipped line 3: invalid JSON"), "{err}");
    assert!(
        err.contains("ingested 2, bad 2, blank 1 (bad: invalid JSON 1, too large 1)"),
        "{err}"
    );
    assert!(err.contains("written 2, failed 0, retries 0"), "{err}");

    let out = run(
        &[
            "pump",
            "--data",
            data.to_str().unwrap(),
            "--skip-bad",
            "--json",
        ],
        Some(&input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["lines"]["read"], 5);
    assert_eq!(summary["lines"]["ingested"], 2);
    assert_eq!(summary["lines"]["too_large"], 1);
    assert_eq!(summary["lines"]["invalid_json"], 1);
    assert_eq!(summary["lines"]["blank"], 1);
    assert_eq!(summary["written"], 2);
    assert_eq!(summary["failed"]["total"], 0);
    assert_eq!(summary["failed"]["timeout"], 0);
    assert_eq!(summary["retries"], 0);
    assert_eq!(summary["ok"], true);
    assert_eq!(tail_lines(&data, &[]).0.len(), 5);

    // A failed run still prints its summary, with the reason.
    let out = run(
        &["pump", "--data", data.to_str().unwrap(), "--json"],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["ok"], false);
    assert!(summary["error"].as_str().unwrap().starts_with("line 2: "));
}

/// A store tail may not read is reported as such, not as a directory without shards.
#[test]
fn tail_says_why_it_cannot_read_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a store").unwrap();
    for sub in ["tail", "verify"] {
        let out = run(&[sub, "--data", file.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(1), "{sub}");
        let err = text(&out.stderr);
        assert!(err.contains("a-file: not a directory"), "{sub}: {err}");
    }

    let data = dir.path().join("store");
    let out = run(
        &["pump", "--data", data.to_str().unwrap()],
        Some("{\"ok\":1}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("skipping the permission check: running as root, which reads any directory");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = run(&["tail", "--data", data.to_str().unwrap()], None);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("store: permission denied"), "{err}");
    assert!(!err.contains("holds no shards"), "{err}");
}
