//! The JetStream adapter over TLS and with NKey users, against a real nats-server
//! configured by the test (certificates made by the test): round trips with the right
//! settings, one-line refusals at start with wrong ones, and a server killed mid-stream.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{builder, payload};
use corelane::adapters::{JetStreamAdapter, JetStreamConfig, Secret, TlsFiles};
use corelane::read::{ConsumeRequest, Consumer};
use corelane_testkit::{CertFiles, NatsOperator, Server, TestPki};

fn tls_block(pki: &TestPki, server: &CertFiles, verify: bool) -> String {
    format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: {verify}\n  timeout: 2\n}}\n",
        server.cert.display(),
        server.key.display(),
        pki.ca.display()
    )
}

fn config(url: &str, tls: Option<TlsFiles>) -> JetStreamConfig {
    let mut c = JetStreamConfig::new(url);
    c.tls = tls;
    c.connect_timeout = Duration::from_millis(1500);
    c.request_timeout = Duration::from_secs(3);
    c
}

fn nats_url(server: &Server) -> String {
    format!("nats://127.0.0.1:{}", server.port)
}

/// Ingests `count` events, shuts down, and reads everything back.
fn round_trip(config: JetStreamConfig, count: u64) {
    let js = Arc::new(JetStreamAdapter::new(config).unwrap());
    let bus = builder(2).build_shared(js.clone()).unwrap();
    let mut producer = bus.producer();
    for i in 0..count {
        producer.ingest_raw(payload(2, i)).unwrap();
    }
    drop(producer);
    bus.shutdown().unwrap();
    let events = Consumer::new(js, 2)
        .read_all(&ConsumeRequest::new())
        .unwrap();
    let seen: HashSet<Vec<u8>> = events.iter().map(|e| e.payload.clone()).collect();
    assert!(seen.len() as u64 >= count, "every event came back");
}

fn refusal(config: JetStreamConfig) -> String {
    common::refusal(JetStreamAdapter::new(config))
}

#[test]
fn tls_round_trip_with_nats_and_tls_urls() {
    let pki = TestPki::new();
    let Some(server) = Server::nats_with_config(&tls_block(&pki, &pki.server, false)) else {
        return;
    };
    round_trip(
        config(&nats_url(&server), Some(TlsFiles::with_ca(&pki.ca))),
        300,
    );
    let tls_url = format!("tls://127.0.0.1:{}", server.port);
    round_trip(config(&tls_url, Some(TlsFiles::with_ca(&pki.ca))), 300);
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let pki = TestPki::new();
    let Some(server) = Server::nats_with_config(&tls_block(&pki, &pki.server, true)) else {
        return;
    };
    let url = nats_url(&server);
    let with_cert = TlsFiles::with_ca(&pki.ca).with_client_cert(&pki.client.cert, &pki.client.key);
    round_trip(config(&url, Some(with_cert)), 200);
    let err = refusal(config(&url, Some(TlsFiles::with_ca(&pki.ca))));
    assert!(err.contains("client certificate"), "{err}");
    let untrusted = TlsFiles::with_ca(&pki.ca)
        .with_client_cert(&pki.untrusted_client.cert, &pki.untrusted_client.key);
    let err = refusal(config(&url, Some(untrusted)));
    assert!(err.contains("TLS"), "{err}");
}

#[test]
fn certificate_problems_are_refused_at_start_with_their_cause() {
    let pki = TestPki::new();
    let Some(good) = Server::nats_with_config(&tls_block(&pki, &pki.server, false)) else {
        return;
    };
    let err = refusal(config(
        &nats_url(&good),
        Some(TlsFiles::with_ca(&pki.other_ca)),
    ));
    assert!(err.contains("not signed by a trusted CA"), "{err}");
    for (files, cause) in [
        (&pki.expired, "expired"),
        (&pki.wrong_name, "not valid for the host name"),
    ] {
        let server = Server::nats_with_config(&tls_block(&pki, files, false)).unwrap();
        let err = refusal(config(&nats_url(&server), Some(TlsFiles::with_ca(&pki.ca))));
        assert!(err.contains(cause), "{cause}: {err}");
    }
}

#[test]
fn tls_and_plaintext_never_mix() {
    let pki = TestPki::new();
    let (Some(tls_server), Some(plain_server)) = (
        Server::nats_with_config(&tls_block(&pki, &pki.server, false)),
        Server::nats(&[]),
    ) else {
        return;
    };
    let err = refusal(config(
        &plain_server.nats_url(),
        Some(TlsFiles::with_ca(&pki.ca)),
    ));
    assert!(err.contains("does not offer TLS"), "{err}");
    let tls_url = format!("tls://127.0.0.1:{}", plain_server.port);
    let err = refusal(config(&tls_url, None));
    assert!(err.contains("does not offer TLS"), "{err}");
    // The server requires TLS: the client upgrades, trusting only the bundled public
    // roots, which did not sign the test CA.
    let err = refusal(config(&nats_url(&tls_server), None));
    assert!(err.contains("not signed by a trusted CA"), "{err}");
}

#[test]
fn nkey_users_over_tls_right_and_wrong_seeds() {
    let pki = TestPki::new();
    let user = nkeys::KeyPair::new_user();
    let conf = format!(
        "{}authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n",
        tls_block(&pki, &pki.server, false),
        user.public_key()
    );
    let Some(server) = Server::nats_with_config(&conf) else {
        return;
    };
    let url = nats_url(&server);
    let seed_file = pki.dir.path().join("user.nk");
    std::fs::write(&seed_file, format!("{}\n", user.seed().unwrap())).unwrap();
    let mut good = config(&url, Some(TlsFiles::with_ca(&pki.ca)));
    good.nkey_seed = Some(Secret::File(seed_file.clone()));
    round_trip(good.clone(), 200);

    let stranger = pki.dir.path().join("stranger.nk");
    std::fs::write(&stranger, nkeys::KeyPair::new_user().seed().unwrap()).unwrap();
    let mut wrong = good.clone();
    wrong.nkey_seed = Some(Secret::File(stranger));
    let err = refusal(wrong);
    assert!(err.contains("Authorization Violation"), "{err}");

    let err = refusal(config(&url, Some(TlsFiles::with_ca(&pki.ca))));
    assert!(err.contains("Authorization Violation"), "{err}");

    let garbage = pki.dir.path().join("garbage.nk");
    std::fs::write(&garbage, "SUAXXXXnotaseed").unwrap();
    let mut bad = good;
    bad.nkey_seed = Some(Secret::File(garbage));
    let err = refusal(bad);
    assert!(err.contains("not a valid NKey seed"), "{err}");
}

/// A server in TLS handshake-first mode (nats-server 2.10) sends nothing until the
/// client's ClientHello: reached with `tls_handshake_first`, and without it when TLS is
/// configured (no INFO within half a second: start over with TLS first); a client
/// without TLS gets a clear refusal within its connect timeout, not a hang.
#[test]
fn handshake_first_servers_are_reached_and_plaintext_clients_told_why_not() {
    let pki = TestPki::new();
    let block = tls_block(&pki, &pki.server, false);
    let conf = block.replacen("tls {\n", "tls {\n  handshake_first: true\n", 1);
    let Some(server) = Server::nats_2_10_with_config(&conf) else {
        return;
    };
    let url = nats_url(&server);
    let mut first = config(&url, Some(TlsFiles::with_ca(&pki.ca)));
    first.tls_handshake_first = true;
    round_trip(first, 200);
    round_trip(config(&url, Some(TlsFiles::with_ca(&pki.ca))), 200);
    let err = refusal(config(&url, None));
    assert!(
        err.contains("sent no INFO") && err.contains("configure TLS"),
        "{err}"
    );
}

/// Decentralised authentication: a server in operator mode (an operator JWT, an account
/// JWT with JetStream in a memory resolver) and `.creds` files made for the test. The
/// user of the account gets in; a user of an account the operator never signed, and a
/// `.creds` whose seed is not the JWT's key, are refused with the server's reason.
#[test]
fn creds_files_authenticate_against_an_operator_mode_server_over_tls() {
    let pki = TestPki::new();
    let operator = NatsOperator::new();
    let conf = format!(
        "{}{}",
        tls_block(&pki, &pki.server, false),
        operator.server_config()
    );
    let Some(server) = Server::nats_with_config(&conf) else {
        return;
    };
    let url = nats_url(&server);
    let write = |name: &str, text: &str| {
        let path = pki.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        path
    };
    let mut good = config(&url, Some(TlsFiles::with_ca(&pki.ca)));
    good.creds_file = Some(write("user.creds", &operator.user_creds("corelane")));
    round_trip(good.clone(), 200);

    let mut stranger = good.clone();
    stranger.creds_file = Some(write("stranger.creds", &operator.stranger_creds("x")));
    let err = refusal(stranger);
    assert!(err.contains("Authorization Violation"), "{err}");

    // The JWT of one user with the seed of another: the nonce signature does not match.
    let theirs = operator.user_creds("a");
    let other = operator.user_creds("b");
    let jwt_block = &theirs[..theirs.find("\n\n").unwrap()];
    let seed_block = &other[other.find("-----BEGIN USER NKEY SEED").unwrap()..];
    let mut mixed = good;
    mixed.creds_file = Some(write(
        "mixed.creds",
        &format!("{jwt_block}\n\n{seed_block}"),
    ));
    let err = refusal(mixed);
    assert!(err.contains("Authorization Violation"), "{err}");
}

/// The kill -9 test of `jetstream.rs` over TLS: after the restart every connection is
/// re-established with a fresh handshake; the server drops retried duplicates.
#[test]
fn server_killed_mid_stream_delivers_exactly_once_over_tls() {
    let pki = TestPki::new();
    let Some(mut server) = Server::nats_with_config(&tls_block(&pki, &pki.server, false)) else {
        return;
    };
    let mut c = config(&nats_url(&server), Some(TlsFiles::with_ca(&pki.ca)));
    c.connect_timeout = Duration::from_millis(300);
    c.request_timeout = Duration::from_millis(600);
    let js = Arc::new(JetStreamAdapter::new(c).unwrap());
    let bus = common::outage_bus(2, js.clone());
    let accepted =
        common::ingest_through(&bus, 8, 1000, || server.outage(Duration::from_millis(700)));
    let events = Consumer::new(js, 2)
        .read_all(&ConsumeRequest::new())
        .unwrap();
    let unique: HashSet<Vec<u8>> = events.iter().map(|e| e.payload.clone()).collect();
    assert_eq!(
        unique.len() as u64,
        accepted,
        "every accepted event arrived"
    );
    assert_eq!(events.len() as u64, accepted, "exactly once");
    assert_eq!(bus.stats().written, accepted);
}
