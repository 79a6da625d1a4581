//! The JetStream adapter when the server or other clients misbehave: purged and deleted
//! streams, foreign messages on a shard's subject, a stopped server. Each test checks
//! that nothing is counted written that the stream does not hold.

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{builder, payload};
use corelane::adapter::Batch;
use corelane::adapters::{JetStreamAdapter, JetStreamConfig};
use corelane::read::{ConsumeRequest, Consumer};
use corelane::{Adapter, Bus, ErrorKind, RawEvent};
use corelane_testkit::Server;

fn adapter(url: &str, tune: impl FnOnce(&mut JetStreamConfig)) -> Arc<JetStreamAdapter> {
    let mut c = JetStreamConfig::new(url);
    c.connect_timeout = Duration::from_millis(500);
    c.request_timeout = Duration::from_secs(2);
    tune(&mut c);
    Arc::new(JetStreamAdapter::new(c).unwrap())
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn stored(adapter: &JetStreamAdapter, shard: u32) -> u64 {
    adapter.stream_messages(shard, deadline()).unwrap()
}

fn ingest_to_shard0(bus: &Bus, range: std::ops::Range<u64>) {
    for i in range {
        bus.ingest_raw(RawEvent::new(&payload(1, i)[..]).to_shard(0))
            .unwrap();
    }
}

fn batch(seq_start: u64, nonce: u64, n: usize, bytes: usize) -> Batch {
    let mut b = Batch::with_capacity(n, n * bytes);
    b.reset(0, seq_start, nonce);
    for i in 0..n {
        b.push(1_700_000_000_000_000_000 + i as u64, &vec![b'x'; bytes]);
    }
    b
}

/// A purge leaves `first_seq = last_seq + 1` and no record to continue from, while the
/// server still remembers the old message ids. A restarted bus with a nonce file must
/// neither trip over the arithmetic nor reuse ids the server would drop as duplicates.
#[test]
fn purged_stream_and_a_nonce_file_store_every_new_event() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nonce_path = dir.path().join("nonce");
    let first = builder(1)
        .producer_nonce_path(&nonce_path)
        .build_shared(adapter(&server.nats_url(), |_| {}))
        .unwrap();
    let old_nonce = first.nonce();
    ingest_to_shard0(&first, 0..50);
    first.shutdown().unwrap();
    let reply = server.nats_request("$JS.API.STREAM.PURGE.corelane_shard_0", b"{}");
    assert!(reply.contains("\"success\":true"), "{reply}");

    let js = adapter(&server.nats_url(), |_| {});
    let second = builder(1)
        .producer_nonce_path(&nonce_path)
        .build_shared(js.clone())
        .unwrap();
    assert_ne!(second.nonce(), old_nonce, "the nonce was rotated");
    ingest_to_shard0(&second, 50..80);
    second.flush(Duration::from_secs(30)).unwrap();
    let stats = second.stats();
    assert_eq!((stats.written, stats.failed.total()), (30, 0), "{stats:?}");
    assert_eq!(stored(&js, 0), 30, "every event counted written is stored");
}

/// With the ids of a purged batch, the server acknowledges a publish as a duplicate and
/// stores nothing: on a first attempt that is a failure; on a retry it is the expected
/// answer for a copy that was stored before.
#[test]
fn duplicate_acks_on_a_first_attempt_are_failures() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    let js = adapter(&server.nats_url(), |_| {});
    js.init(1, deadline()).unwrap();
    let mut b = batch(0, 0xabc, 5, 16);
    js.write_batch(&b, deadline()).unwrap();
    server.nats_request("$JS.API.STREAM.PURGE.corelane_shard_0", b"{}");
    let err = js.write_batch(&b, deadline()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
    assert!(err.to_string().contains("duplicates"), "{err}");
    assert_eq!(stored(&js, 0), 0);
    b.set_attempt(2);
    js.write_batch(&b, deadline()).unwrap();
    assert_eq!(
        js.duplicates(),
        5,
        "a retry's duplicates are counted, not failed"
    );
}

/// Another client publishes to a shard's subject after the bus's last record — more
/// messages than one look-back page: a restarted bus still continues the numbering.
#[test]
fn foreign_messages_on_the_subject_do_not_restart_numbering() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    let first = builder(1)
        .build_shared(adapter(&server.nats_url(), |_| {}))
        .unwrap();
    ingest_to_shard0(&first, 0..10);
    first.shutdown().unwrap();
    for i in 0..300 {
        let ack = server.nats_request("corelane.shard.0", format!("foreign {i}").as_bytes());
        assert!(ack.contains("\"seq\""), "{ack}");
    }
    let js = adapter(&server.nats_url(), |_| {});
    let second = builder(1).build_shared(js.clone()).unwrap();
    assert_eq!(second.stats().shards[0].next_sequence, 10);
    ingest_to_shard0(&second, 10..15);
    second.flush(Duration::from_secs(30)).unwrap();
    let page = Consumer::new(js, 1)
        .read_all(&ConsumeRequest::new())
        .unwrap();
    let sequences: Vec<u64> = page.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (0..15).collect::<Vec<_>>(), "no sequence reused");
}

/// A stream deleted under a running bus is created again, and the batches that found it
/// missing are retried into it.
#[test]
fn stream_deleted_mid_stream_is_created_again() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    let js = adapter(&server.nats_url(), |_| {});
    let bus = builder(1)
        .adapter_retries(50)
        .build_shared(js.clone())
        .unwrap();
    ingest_to_shard0(&bus, 0..100);
    bus.flush(Duration::from_secs(30)).unwrap();
    let reply = server.nats_request("$JS.API.STREAM.DELETE.corelane_shard_0", b"");
    assert!(reply.contains("\"success\":true"), "{reply}");
    ingest_to_shard0(&bus, 100..200);
    bus.flush(Duration::from_secs(30)).unwrap();
    let stats = bus.stats();
    assert_eq!((stats.written, stats.failed.total()), (200, 0), "{stats:?}");
    assert_eq!(stored(&js, 0), 100, "the events written after the delete");
}

/// A stopped server stops reading: once the socket buffers are full, every write waits
/// at most until the call's deadline. The adapter returns a timeout instead of blocking
/// the I/O thread, and works again once the server continues.
#[test]
fn stopped_server_cannot_block_a_write_past_its_deadline() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    let js = adapter(&server.nats_url(), |c| {
        c.request_timeout = Duration::from_secs(30);
        c.max_pending_acks = 4096;
    });
    js.init(1, deadline()).unwrap();
    server.signal("STOP");
    // 64 MiB in flight: far more than the loopback socket buffers hold.
    let big = batch(0, 0xdef, 1024, 64 << 10);
    let (tx, rx) = mpsc::channel();
    let writer = {
        let js = js.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let result = js.write_batch(&big, Instant::now() + Duration::from_millis(800));
            tx.send((result, started.elapsed())).unwrap();
            big
        })
    };
    let outcome = rx.recv_timeout(Duration::from_secs(10));
    server.signal("CONT");
    let big = writer.join().unwrap();
    let (result, took) = outcome.expect("the write returned while the server was stopped");
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");

    let mut retry = big;
    retry.set_attempt(2);
    js.write_batch(&retry, Instant::now() + Duration::from_secs(60))
        .unwrap();
    assert_eq!(stored(&js, 0), 1024);
}

/// The same through a bus: while the server is stopped, flush and shutdown return their
/// timeouts on time; after SIGCONT the bus finishes, and a later shutdown reports the
/// final outcome with every event written.
#[test]
fn stopped_server_flush_and_shutdown_time_out_then_recover() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    let js = adapter(&server.nats_url(), |c| {
        c.request_timeout = Duration::from_millis(500);
    });
    let bus = builder(1)
        .adapter_retries(1000)
        .adapter_timeout(Duration::from_millis(500))
        .retry_backoff_max(Duration::from_millis(50))
        .build_shared(js.clone())
        .unwrap();
    server.signal("STOP");
    ingest_to_shard0(&bus, 0..2000);
    let started = Instant::now();
    let flushed = bus.flush(Duration::from_millis(700));
    assert!(
        flushed.is_err(),
        "flush cannot succeed against a stopped server"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "flush overran");
    let started = Instant::now();
    let shut = bus.shutdown_within(Duration::from_millis(700));
    assert!(shut.is_err(), "{shut:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown overran"
    );
    server.signal("CONT");
    let stats = bus.shutdown_within(Duration::from_secs(60)).unwrap();
    assert_eq!(
        (stats.written, stats.failed.total()),
        (2000, 0),
        "{stats:?}"
    );
    assert!(stats.retries > 0, "the stop caused timeouts and retries");
    assert_eq!(stored(&js, 0), 2000);
}

/// The server refuses event 2 of a pipelined batch (over the stream's message size
/// limit): the batch fails with that error, naming the event, while the events
/// published around it are stored — as docs/guarantees.md says a consumer sees them.
#[test]
fn an_ack_error_mid_batch_fails_the_batch_and_the_rest_is_readable() {
    let Some(server) = Server::nats(&[]) else {
        return;
    };
    let config = r#"{"name":"corelane_shard_0","subjects":["corelane.shard.0"],
        "retention":"limits","storage":"file","discard":"old","max_consumers":-1,
        "max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msg_size":200,"num_replicas":1,
        "duplicate_window":3600000000000,"allow_direct":true}"#;
    let reply = server.nats_request("$JS.API.STREAM.CREATE.corelane_shard_0", config.as_bytes());
    assert!(reply.contains("\"max_msg_size\":200"), "{reply}");
    let js = adapter(&server.nats_url(), |_| {});
    js.init(1, deadline()).unwrap();
    let mut b = Batch::with_capacity(4, 1024);
    b.reset(0, 0, 0x51);
    for len in [10, 10, 500, 10] {
        b.push(1_700_000_000_000_000_000 + len as u64, &vec![b'y'; len]);
    }
    let err = js.write_batch(&b, deadline()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
    assert!(err.to_string().contains("event 2"), "{err}");
    assert_eq!(
        stored(&js, 0),
        3,
        "the events around the refused one are stored"
    );
}
