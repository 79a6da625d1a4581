//! The JetStream adapter against a real `nats-server -js` started for each test.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{builder, payload};
use corelane::adapter::Batch;
use corelane::adapters::{JetStreamAdapter, JetStreamConfig};
use corelane::read::{ConsumeRequest, ConsumedEvent, Consumer};
use corelane::{Adapter, BuildError, ErrorKind};
use corelane_testkit::Server;

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn adapter(url: &str, tune: impl FnOnce(&mut JetStreamConfig)) -> Arc<JetStreamAdapter> {
    let mut c = JetStreamConfig::new(url);
    c.connect_timeout = Duration::from_millis(500);
    c.request_timeout = Duration::from_secs(2);
    tune(&mut c);
    Arc::new(JetStreamAdapter::new(c).unwrap())
}

/// Everything the store holds, read through a consumer of `shards` shards.
fn read_all(adapter: Arc<JetStreamAdapter>, shards: u32) -> Vec<ConsumedEvent> {
    Consumer::new(adapter, shards)
        .read_all(&ConsumeRequest::new())
        .unwrap()
}

fn batch(shard: u32, seq_start: u64, nonce: u64, n: u64) -> Batch {
    let mut b = Batch::with_capacity(n as usize, 64);
    b.reset(shard, seq_start, nonce);
    for i in 0..n {
        b.push(
            1_700_000_000_000_000_000 + i,
            format!(r#"{{"n":{}}}"#, seq_start + i).as_bytes(),
        );
    }
    b
}

/// Runs `tests/jetstream_check.py` (nats-py) against the server; `None` when Python or
/// nats-py is missing (a failure under CI=true).
fn python_check(url: &str, stream: &str, count: u64) -> Option<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jetstream_check.py");
    let out = std::process::Command::new("python3")
        .args([script, url, stream, &count.to_string()])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            Some(serde_json::from_slice(&o.stdout).expect("the script prints JSON"))
        }
        Ok(o) if o.status.code() == Some(3) => {
            let why = String::from_utf8_lossy(&o.stderr).trim().to_string();
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("independent client unavailable under CI=true: {why}");
            }
            eprintln!("skipping the nats-py check: {why}");
            None
        }
        Ok(o) => panic!(
            "jetstream_check.py failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "python3: {e}"
            );
            eprintln!("skipping the nats-py check: python3: {e}");
            None
        }
    }
}

#[test]
fn round_trip_streams_and_headers_as_documented() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    let js = adapter(&server.nats_url(), |_| {});
    let bus = builder(2).build_shared(js.clone()).unwrap();
    let mut producer = bus.producer();
    for i in 0..400u64 {
        producer.ingest_raw(payload(5, i)).unwrap();
    }
    producer
        .ingest_json(br#"{"sym":"AAPL","px": 189.50}"#)
        .unwrap();
    bus.flush(Duration::from_secs(30)).unwrap();
    let events = read_all(js.clone(), 2);
    assert_eq!(events.len(), 401);
    let mut by_producer: Vec<u64> = events
        .iter()
        .filter(|e| e.payload.len() == 16)
        .map(|e| common::parse_payload(&e.payload).1)
        .collect();
    by_producer.sort_unstable();
    assert_eq!(by_producer, (0..400).collect::<Vec<_>>());
    for shard in 0..2u32 {
        let seqs: Vec<u64> = events
            .iter()
            .filter(|e| e.shard == shard)
            .map(|e| e.sequence)
            .collect();
        assert_eq!(
            seqs,
            (0..seqs.len() as u64).collect::<Vec<_>>(),
            "shard {shard} in order, no gaps"
        );
    }
    let json = events.iter().find(|e| e.payload.starts_with(b"{")).unwrap();
    assert_eq!(json.payload, br#"{"sym":"AAPL","px": 189.50}"#);
    let id = json.dedup_id.clone().expect("Nats-Msg-Id read back");
    assert!(
        id.starts_with(&format!("{:x}:{}:", bus.nonce(), json.shard)),
        "{id}"
    );
    assert_eq!(
        js.stream_messages(0, deadline()).unwrap(),
        bus.stats().shards[0].written
    );

    // An independent client (nats-py) sees the documented stream, subject and headers.
    let shard = json.shard;
    let count = js.stream_messages(shard, deadline()).unwrap();
    if let Some(report) = python_check(
        &server.nats_url(),
        &format!("corelane_shard_{shard}"),
        count,
    ) {
        assert_eq!(
            report["subjects"],
            serde_json::json!([format!("corelane.shard.{shard}")])
        );
        assert_eq!(report["storage"], "file");
        assert_eq!(report["messages"], count);
        assert_eq!(
            report["with_msg_id"], count,
            "every message carries Nats-Msg-Id"
        );
        assert_eq!(
            report["records"], count,
            "every body is a record with r|b, t, s, q"
        );
        assert!(
            report["msg_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == &serde_json::json!(id))
        );
    }

    // A restarted bus continues the numbering.
    bus.shutdown().unwrap();
    let again = builder(2)
        .build_shared(adapter(&server.nats_url(), |_| {}))
        .unwrap();
    let before = again.stats().shards[1].next_sequence;
    assert_eq!(
        before,
        events.iter().filter(|e| e.shard == 1).count() as u64
    );
}

/// A batch larger than the window of unacknowledged publishes is stored whole and in
/// order, and read back whole through the same pipeline.
#[test]
fn batches_larger_than_the_ack_window_are_stored_whole_and_in_order() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    // The pipeline tops its window up once half is answered; odd windows and a window
    // of one exercise the edges. Reads go through the same pipeline with the same window.
    for (round, window) in [1usize, 2, 7, 64].into_iter().enumerate() {
        let js = adapter(&server.nats_url(), |c| {
            c.max_pending_acks = window;
            c.prefix = format!("window{round}");
        });
        js.init(2, deadline()).unwrap();
        js.write_batch(&batch(0, 0, 0x77, 301), deadline()).unwrap();
        js.write_batch(&batch(1, 0, 0x77, 150), deadline()).unwrap();
        js.write_batch(&batch(0, 301, 0x77, 99), deadline())
            .unwrap();
        assert_eq!(js.stream_messages(0, deadline()).unwrap(), 400);
        assert_eq!(js.stream_messages(1, deadline()).unwrap(), 150);
        let events = read_all(js, 2);
        let of = |shard: u32| -> Vec<u64> {
            events
                .iter()
                .filter(|e| e.shard == shard)
                .map(|e| e.sequence)
                .collect()
        };
        assert_eq!(of(0), (0..400).collect::<Vec<_>>(), "window {window}");
        assert_eq!(of(1), (0..150).collect::<Vec<_>>(), "window {window}");
        for e in &events {
            let want = format!(r#"{{"n":{}}}"#, e.sequence);
            assert_eq!(e.payload, want.as_bytes(), "window {window}");
        }
    }
}

/// A batch sent again (its acknowledgement lost) is stored once: the server recognises
/// the Nats-Msg-Id of every event.
#[test]
fn a_resent_batch_is_deduplicated_by_the_server() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    let js = adapter(&server.nats_url(), |_| {});
    js.init(1, deadline()).unwrap();
    let mut b = batch(0, 0, 0xabc, 50);
    js.write_batch(&b, deadline()).unwrap();
    assert_eq!(js.stream_messages(0, deadline()).unwrap(), 50);
    // The I/O thread numbers attempts; a resend is the second.
    b.set_attempt(2);
    js.write_batch(&b, deadline()).unwrap();
    assert_eq!(
        js.stream_messages(0, deadline()).unwrap(),
        50,
        "duplicates dropped"
    );
    assert_eq!(js.duplicates(), 50);
    // Half new, half already stored.
    let mut mixed = Batch::with_capacity(50, 64);
    mixed.reset(0, 25, 0xabc);
    for i in 25..75u64 {
        mixed.push(1, format!(r#"{{"n":{i}}}"#).as_bytes());
    }
    js.write_batch(&mixed, deadline()).unwrap();
    // Ids of events 25..50 (index 0..25 of a batch starting at 25) are new ids: batch
    // identity is (nonce, shard, seq_start, index), so only an identical batch dedups.
    assert_eq!(js.stream_messages(0, deadline()).unwrap(), 100);
}

/// A bus restarted with the same nonce file re-sends the same batch (as after a crash
/// between publishing and learning the outcome): the server drops every copy.
#[test]
fn a_restarted_bus_with_the_same_nonce_file_is_deduplicated() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nonce_path = dir.path().join("nonce");
    let bus = builder(1)
        .producer_nonce_path(&nonce_path)
        .build_shared(adapter(&server.nats_url(), |_| {}))
        .unwrap();
    let payloads: Vec<Vec<u8>> = (0..20u64)
        .map(|i| format!(r#"{{"n":{i}}}"#).into_bytes())
        .collect();
    let outcome = bus.ingest_batch(payloads.iter());
    assert_eq!(outcome.accepted, 20);
    bus.flush(Duration::from_secs(30)).unwrap();
    let written = bus.stats().batches_written;
    bus.shutdown().unwrap();
    assert_eq!(
        written, 1,
        "one batch, so its dedup ids are {{nonce}}:0:0:i"
    );

    let nonce = corelane::testing::load_or_create_nonce(&nonce_path).unwrap();
    let js = adapter(&server.nats_url(), |_| {});
    js.init(1, deadline()).unwrap();
    let mut resent = Batch::with_capacity(20, 64);
    resent.reset(0, 0, nonce);
    for p in &payloads {
        resent.push(1, p);
    }
    resent.set_attempt(2);
    js.write_batch(&resent, deadline()).unwrap();
    assert_eq!(js.stream_messages(0, deadline()).unwrap(), 20);
    assert_eq!(js.duplicates(), 20);
}

/// The server is killed (SIGKILL) mid-stream and restarted on the same store: every
/// accepted event arrives exactly once (retries carry the same Nats-Msg-Id).
#[test]
fn server_killed_mid_stream_delivers_exactly_once() {
    let Some(mut server) = Server::nats(&[]) else {
        return;
    };
    let js = adapter(&server.nats_url(), |c| {
        c.connect_timeout = Duration::from_millis(200);
        c.request_timeout = Duration::from_millis(500);
    });
    let bus = common::outage_bus(2, js.clone());
    let accepted =
        common::ingest_through(&bus, 8, 1000, || server.outage(Duration::from_millis(700)));
    let stats = bus.stats();

    let events = read_all(js.clone(), 2);
    let mut copies: HashMap<Vec<u8>, usize> = HashMap::new();
    for e in &events {
        *copies.entry(e.payload.clone()).or_default() += 1;
    }
    assert_eq!(
        copies.len() as u64,
        accepted,
        "every accepted event arrived"
    );
    assert!(
        copies.values().all(|&c| c == 1),
        "exactly once: {} duplicates",
        events.len() as u64 - accepted
    );
    eprintln!(
        "kill/restart: {accepted} accepted, {} server-side duplicates dropped, {} retries",
        js.duplicates(),
        stats.retries
    );
}

#[test]
fn auth_token_right_and_wrong() {
    let Some(server) = Server::nats(&["--auth", "s3cret-token"]) else {
        return;
    };
    let good = adapter(
        &format!("nats://s3cret-token@127.0.0.1:{}", server.port),
        |_| {},
    );
    let bus = builder(1).build_shared(good.clone()).unwrap();
    bus.ingest_raw(b"\x01binary").unwrap();
    bus.flush(Duration::from_secs(10)).unwrap();
    let events = read_all(good, 1);
    assert_eq!(events[0].payload, b"\x01binary");

    let bad = adapter(
        &format!("nats://wrong-token@127.0.0.1:{}", server.port),
        |_| {},
    );
    assert!(!format!("{bad:?}").contains("wrong-token"));
    match builder(1).build_shared(bad) {
        Err(BuildError::Adapter { adapter, error }) => {
            assert_eq!(adapter, "jetstream");
            assert_eq!(error.kind(), ErrorKind::Config, "{error}");
            let msg = error.to_string();
            assert!(msg.contains("Authorization Violation"), "{msg}");
            assert!(!msg.contains("wrong-token"), "the token leaked: {msg}");
        }
        other => panic!("a wrong token was accepted: {other:?}"),
    }
}

#[test]
fn unreachable_server_fails_init_within_connect_timeout() {
    let port = corelane_testkit::free_port();
    let started = Instant::now();
    let err = adapter(&format!("nats://127.0.0.1:{port}"), |_| {})
        .init(1, deadline())
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        err.is_retryable() && err.to_string().contains("connect"),
        "{err}"
    );

    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let err = adapter(&format!("nats://127.0.0.1:{port}"), |c| {
        c.connect_timeout = Duration::from_millis(300)
    })
    .init(1, deadline())
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

#[test]
fn a_mismatched_existing_stream_is_a_clear_error() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    adapter(&server.nats_url(), |_| {})
        .init(1, deadline())
        .unwrap();
    let other = adapter(&server.nats_url(), |c| {
        c.duplicate_window = Duration::from_secs(120)
    });
    let err = other.init(1, deadline()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let msg = err.to_string();
    assert!(
        msg.contains("corelane_shard_0") && msg.contains("duplicate_window"),
        "{msg}"
    );
}
