//! The Redis Streams adapter over TLS (`rediss://`) against a real redis-server that
//! speaks only TLS, with certificates made by the test: round trips with and without a
//! client certificate, one-line refusals at start for every certificate problem, and a
//! server killed mid-stream.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{builder, payload};
use corelane::Bus;
use corelane::adapters::{RedisAdapter, RedisConfig, Secret, TlsFiles};
use corelane::read::{ConsumeRequest, Consumer, DedupWindow};
use corelane_testkit::{Server, TestPki};

fn tls_url(server: &Server) -> String {
    format!("rediss://127.0.0.1:{}", server.port)
}

fn config(url: &str, tls: Option<TlsFiles>) -> RedisConfig {
    let mut c = RedisConfig::new(url);
    c.tls = tls;
    c.connect_timeout = Duration::from_millis(1500);
    c.command_timeout = Duration::from_millis(1500);
    c
}

/// Ingests `count` events, shuts down, and reads everything back.
fn round_trip(adapter: Arc<RedisAdapter>, count: u64) {
    let bus = builder(2).build_shared(adapter.clone()).unwrap();
    let mut producer = bus.producer();
    for i in 0..count {
        producer.ingest_raw(payload(1, i)).unwrap();
    }
    drop(producer);
    bus.shutdown().unwrap();
    let events = Consumer::new(adapter, 2)
        .read_all(&ConsumeRequest::new())
        .unwrap();
    let seen: HashSet<Vec<u8>> = events.iter().map(|e| e.payload.clone()).collect();
    assert_eq!(seen.len() as u64, count, "every event came back over TLS");
}

fn refusal(config: RedisConfig) -> String {
    common::refusal(RedisAdapter::new(config))
}

#[test]
fn rediss_round_trip_with_the_configured_ca() {
    let pki = TestPki::new();
    let Some(server) = Server::redis_tls(&pki, false, &[]) else {
        return;
    };
    let redis = RedisAdapter::new(config(&tls_url(&server), Some(TlsFiles::with_ca(&pki.ca))));
    round_trip(Arc::new(redis.unwrap()), 500);
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let pki = TestPki::new();
    let Some(server) = Server::redis_tls(&pki, true, &[]) else {
        return;
    };
    let url = tls_url(&server);
    let with_cert = TlsFiles::with_ca(&pki.ca).with_client_cert(&pki.client.cert, &pki.client.key);
    round_trip(
        Arc::new(RedisAdapter::new(config(&url, Some(with_cert))).unwrap()),
        300,
    );

    let err = refusal(config(&url, Some(TlsFiles::with_ca(&pki.ca))));
    assert!(
        err.contains("client certificate") || err.contains("closed") || err.contains("reset"),
        "{err}"
    );
    let untrusted = TlsFiles::with_ca(&pki.ca)
        .with_client_cert(&pki.untrusted_client.cert, &pki.untrusted_client.key);
    let err = refusal(config(&url, Some(untrusted)));
    assert!(
        err.contains("TLS") || err.contains("closed") || err.contains("reset"),
        "{err}"
    );
}

#[test]
fn certificate_problems_are_refused_at_start_with_their_cause() {
    let pki = TestPki::new();
    let Some(good) = Server::redis_tls(&pki, false, &[]) else {
        return;
    };
    let err = refusal(config(
        &tls_url(&good),
        Some(TlsFiles::with_ca(&pki.other_ca)),
    ));
    assert!(err.contains("not signed by a trusted CA"), "{err}");

    for (files, cause) in [
        (&pki.expired, "expired"),
        (&pki.wrong_name, "not valid for the host name"),
    ] {
        let (cert, key) = (files.cert.to_str().unwrap(), files.key.to_str().unwrap());
        let server = Server::redis_tls(
            &pki,
            false,
            &["--tls-cert-file", cert, "--tls-key-file", key],
        )
        .unwrap();
        let err = refusal(config(&tls_url(&server), Some(TlsFiles::with_ca(&pki.ca))));
        assert!(err.contains(cause), "{cause}: {err}");
    }
}

#[test]
fn tls_and_plaintext_never_mix() {
    let pki = TestPki::new();
    let (Some(tls_server), Some(plain_server)) =
        (Server::redis_tls(&pki, false, &[]), Server::redis(&[]))
    else {
        return;
    };
    // TLS files with a redis:// URL: refused before connecting.
    let err = refusal(config(
        &plain_server.redis_url(),
        Some(TlsFiles::with_ca(&pki.ca)),
    ));
    assert!(err.contains("rediss://"), "{err}");
    // A TLS client against a plaintext server.
    let url = format!("rediss://127.0.0.1:{}", plain_server.port);
    let err = refusal(config(&url, Some(TlsFiles::with_ca(&pki.ca))));
    assert!(err.contains("TLS"), "{err}");
    // A plaintext client against the TLS port.
    let url = format!("redis://127.0.0.1:{}", tls_server.port);
    let err = refusal(config(&url, None));
    assert!(err.contains("rediss://"), "{err}");
}

#[test]
fn the_password_comes_from_a_file_and_never_shows() {
    let pki = TestPki::new();
    let Some(server) = Server::redis_tls(&pki, false, &["--requirepass", "tls-pass-w0rd"]) else {
        return;
    };
    let file = pki.dir.path().join("redis-password");
    std::fs::write(&file, "tls-pass-w0rd\n").unwrap();
    let mut c = config(&tls_url(&server), Some(TlsFiles::with_ca(&pki.ca)));
    c.password = Some(Secret::File(file.clone()));
    assert!(!format!("{c:?}").contains("tls-pass-w0rd"));
    round_trip(Arc::new(RedisAdapter::new(c.clone()).unwrap()), 100);

    std::fs::write(&file, "wrong-pass-w0rd\n").unwrap();
    let err = refusal(c);
    assert!(
        err.contains("WRONGPASS") || err.contains("uthentication"),
        "{err}"
    );
    assert!(!err.contains("wrong-pass-w0rd"), "{err}");
}

/// The kill -9 test of `redis.rs` over TLS: the connections are re-established with a
/// fresh handshake after the restart, and nothing counted written is missing.
#[test]
fn server_killed_mid_stream_loses_nothing_over_tls() {
    let pki = TestPki::new();
    let Some(mut server) = Server::redis_tls(&pki, false, &[]) else {
        return;
    };
    let mut c = config(&tls_url(&server), Some(TlsFiles::with_ca(&pki.ca)));
    c.connect_timeout = Duration::from_millis(300);
    c.command_timeout = Duration::from_millis(400);
    let redis = Arc::new(RedisAdapter::new(c).unwrap());
    let bus: Arc<Bus> = common::outage_bus(2, redis.clone());
    let accepted =
        common::ingest_through(&bus, 3, 2000, || server.outage(Duration::from_millis(700)));
    let stats = bus.stats();
    let deduped = Consumer::new(redis, 2)
        .read_all(&ConsumeRequest::new().dedup(DedupWindow::new(100_000)))
        .unwrap();
    assert_eq!(
        deduped.len() as u64,
        accepted,
        "every accepted event arrived once"
    );
    assert_eq!(stats.written, accepted);
}
