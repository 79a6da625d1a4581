//! The Redis Streams adapter against a real redis-server started for each test.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{builder, payload};
use corelane::adapters::{RedisAdapter, RedisConfig};
use corelane::read::{ConsumeRequest, ConsumedEvent, Consumer, DedupWindow};
use corelane::{Adapter, BuildError, Bus, ErrorKind};
use corelane_testkit::Server;

fn adapter(url: &str, tune: impl FnOnce(&mut RedisConfig)) -> Arc<RedisAdapter> {
    let mut c = RedisConfig::new(url);
    c.connect_timeout = Duration::from_millis(500);
    c.command_timeout = Duration::from_millis(500);
    tune(&mut c);
    Arc::new(RedisAdapter::new(c).unwrap())
}

/// Everything the store holds, read through a consumer of `shards` shards.
fn read_all(
    adapter: Arc<RedisAdapter>,
    shards: u32,
    request: ConsumeRequest,
) -> Vec<ConsumedEvent> {
    Consumer::new(adapter, shards).read_all(&request).unwrap()
}

#[test]
fn round_trip_and_the_documented_wire_format() {
    let Some(server) = Server::redis(&[]) else {
        return;
    };
    let redis = adapter(&server.redis_url(), |_| {});
    let bus = builder(2).build_shared(redis.clone()).unwrap();
    let mut producer = bus.producer();
    for i in 0..500u64 {
        producer.ingest_raw(payload(7, i)).unwrap();
    }
    producer
        .ingest_json(br#"{"sym":"AAPL","px": 189.50}"#)
        .unwrap();
    bus.flush(Duration::from_secs(30)).unwrap();
    let events = read_all(redis.clone(), 2, ConsumeRequest::new());
    assert_eq!(events.len(), 501);
    let stored = common::check_store(
        &events
            .iter()
            .filter(|e| e.payload.len() == 16)
            .map(|e| corelane::adapter::StoredEvent {
                position: e.position,
                shard: e.shard,
                sequence: e.sequence,
                insertion_ts: e.insertion_ts,
                payload: e.payload.clone(),
                dedup_id: e.dedup_id.clone(),
            })
            .collect::<Vec<_>>(),
    );
    assert_eq!(stored[&7], (0..500).collect::<Vec<_>>());
    let json = events.iter().find(|e| e.payload.starts_with(b"{")).unwrap();
    assert_eq!(
        json.payload, br#"{"sym":"AAPL","px": 189.50}"#,
        "JSON payloads verbatim"
    );
    assert!(
        json.dedup_id
            .as_ref()
            .unwrap()
            .starts_with(&format!("{:x}:", bus.nonce()))
    );

    // An independent client sees the documented key and fields.
    let shard = json.shard;
    let out = server.redis_cli(&["XRANGE", &format!("corelane:shard:{shard}"), "-", "+"]);
    assert!(
        out.contains("\nd\n") || out.starts_with("d\n") || out.contains("d\n"),
        "{out}"
    );
    assert!(out.contains("dedup_id"), "{out}");
    assert!(
        out.contains(r#"{"r":{"sym":"AAPL","px": 189.50},"t":"#),
        "{out}"
    );
    assert!(out.contains(&format!(r#","s":{shard},"q":"#)), "{out}");
    assert!(
        out.contains(r#"{"b":""#),
        "binary payloads are base64 under \"b\": {out}"
    );
    let len: u64 = server
        .redis_cli(&["XLEN", "corelane:shard:0"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(len, bus.stats().shards[0].written);

    // A restarted bus continues each shard's numbering.
    bus.shutdown().unwrap();
    let again = builder(2)
        .build_shared(adapter(&server.redis_url(), |_| {}))
        .unwrap();
    let r = again
        .producer()
        .ingest_raw(corelane::RawEvent::new(&b"next"[..]).to_shard(0))
        .unwrap();
    assert_eq!(r.shard, 0);
    again.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(again.stats().shards[0].next_sequence, len + 1);
}

#[test]
fn maxlen_trims_approximately() {
    let Some(server) = Server::redis(&[]) else {
        return;
    };
    let redis = adapter(&server.redis_url(), |c| c.max_stream_len = Some(100));
    let bus = builder(1).build_shared(redis).unwrap();
    for i in 0..5_000u64 {
        bus.ingest_raw(payload(1, i)).unwrap();
        if i % 500 == 499 {
            bus.flush(Duration::from_secs(30)).unwrap();
        }
    }
    bus.flush(Duration::from_secs(30)).unwrap();
    let len: u64 = server
        .redis_cli(&["XLEN", "corelane:shard:0"])
        .trim()
        .parse()
        .unwrap();
    assert!((100..1_000).contains(&len), "XLEN {len} after MAXLEN ~ 100");
}

/// The server is killed (SIGKILL) while producers write and started again on the same
/// data: every accepted event arrives; copies written twice (an EXEC that ran but whose
/// reply was lost) carry identical dedup ids and vanish behind a dedup window.
#[test]
fn server_killed_mid_stream_loses_nothing() {
    let Some(mut server) = Server::redis(&[]) else {
        return;
    };
    let redis = adapter(&server.redis_url(), |c| {
        c.connect_timeout = Duration::from_millis(200);
        c.command_timeout = Duration::from_millis(300);
    });
    let bus = common::outage_bus(2, redis.clone());
    let accepted =
        common::ingest_through(&bus, 3, 2000, || server.outage(Duration::from_millis(700)));
    let stats = bus.stats();

    let raw = read_all(redis.clone(), 2, ConsumeRequest::new());
    let mut copies: HashMap<Vec<u8>, Vec<&ConsumedEvent>> = HashMap::new();
    for e in &raw {
        copies.entry(e.payload.clone()).or_default().push(e);
    }
    assert_eq!(
        copies.len() as u64,
        accepted,
        "every accepted event arrived"
    );
    for (p, list) in &copies {
        assert!(
            list.iter()
                .all(|e| e.dedup_id == list[0].dedup_id && e.sequence == list[0].sequence),
            "copies of {p:?} differ: {list:?}"
        );
    }
    let deduped = read_all(
        redis,
        2,
        ConsumeRequest::new().dedup(DedupWindow::new(100_000)),
    );
    assert_eq!(
        deduped.len() as u64,
        accepted,
        "exactly once after consumer-side dedup"
    );
    eprintln!(
        "kill/restart: {accepted} accepted, {} stored copies, {} retries",
        raw.len(),
        stats.retries
    );
}

/// `DEBUG SLEEP` stalls the server: commands time out, the I/O thread retries, and
/// everything arrives.
#[test]
fn stalled_server_times_out_and_retries() {
    let Some(server) = Server::redis(&[]) else {
        return;
    };
    let redis = adapter(&server.redis_url(), |c| {
        c.command_timeout = Duration::from_millis(150);
        c.connect_timeout = Duration::from_millis(150);
    });
    let bus = builder(1)
        .adapter_retries(100)
        .retry_backoff_initial(Duration::from_millis(10))
        .retry_backoff_max(Duration::from_millis(100))
        .build_shared(redis.clone())
        .unwrap();
    for i in 0..100u64 {
        bus.ingest_raw(payload(1, i)).unwrap();
    }
    bus.flush(Duration::from_secs(30)).unwrap();
    let sleeper = {
        let port = server.port;
        std::thread::spawn(move || {
            std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string(), "DEBUG", "SLEEP", "1"])
                .output()
                .unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    for i in 100..200u64 {
        bus.ingest_raw(payload(1, i)).unwrap();
    }
    bus.flush(Duration::from_secs(30)).unwrap();
    assert!(sleeper.join().unwrap().status.success());
    let stats = bus.stats();
    assert!(
        stats.retries > 0,
        "the stall caused timeouts and retries: {stats:?}"
    );
    assert_eq!((stats.written, stats.failed.total()), (200, 0));
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the flush waited out the stall"
    );
    let events = read_all(
        redis,
        1,
        ConsumeRequest::new().dedup(DedupWindow::new(10_000)),
    );
    assert_eq!(events.len(), 200);
}

#[test]
fn requirepass_right_and_wrong_password() {
    let Some(server) = Server::redis(&["--requirepass", "s3cret-pw"]) else {
        return;
    };
    let good = adapter(
        &format!("redis://:s3cret-pw@127.0.0.1:{}", server.port),
        |_| {},
    );
    let bus = builder(1).build_shared(good.clone()).unwrap();
    bus.ingest_raw(b"authorised").unwrap();
    bus.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(read_all(good, 1, ConsumeRequest::new()).len(), 1);

    let url = format!("redis://:wrong-pw@127.0.0.1:{}", server.port);
    let bad = adapter(&url, |_| {});
    assert!(
        !format!("{bad:?}").contains("wrong-pw"),
        "Debug redacts the password"
    );
    match builder(1).build_shared(bad) {
        Err(BuildError::Adapter { adapter, error }) => {
            assert_eq!(adapter, "redis");
            assert_eq!(error.kind(), ErrorKind::Config, "{error}");
            let msg = error.to_string();
            assert!(!msg.contains("wrong-pw"), "the password leaked: {msg}");
            assert!(
                msg.contains("WRONGPASS") || msg.to_lowercase().contains("password"),
                "{msg}"
            );
        }
        other => panic!("a wrong password was accepted: {other:?}"),
    }
    let none = adapter(&server.redis_url(), |_| {});
    let err = none
        .init(1, Instant::now() + Duration::from_secs(5))
        .unwrap_err();
    assert!(!err.is_retryable(), "NOAUTH is not retryable: {err}");
}

#[test]
fn unreachable_server_fails_init_within_connect_timeout() {
    // Nothing listens on this port: refused at once.
    let port = corelane_testkit::free_port();
    let refused = adapter(&format!("redis://127.0.0.1:{port}"), |_| {});
    let started = Instant::now();
    let err = match Bus::builder().num_shards(1).build_shared(refused) {
        Err(BuildError::Adapter { error, .. }) => error,
        other => panic!("{other:?}"),
    };
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        err.is_retryable() && err.to_string().contains("connect"),
        "{err}"
    );

    // A listener that accepts but never answers: the handshake times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let quiet = adapter(&format!("redis://127.0.0.1:{port}"), |c| {
        c.connect_timeout = Duration::from_millis(300)
    });
    let started = Instant::now();
    let err = quiet
        .init(1, Instant::now() + Duration::from_secs(10))
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "init took {took:?} with a 300 ms connect timeout"
    );
    assert!(err.is_retryable(), "{err}");
    drop(silent);
}
