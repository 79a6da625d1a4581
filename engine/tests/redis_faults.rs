//! The Redis adapter when the server misbehaves: error replies inside EXEC, foreign
//! entries on a shard's stream, data removed under the bus, paused clients. Each test
//! checks that nothing is counted written that the server does not hold.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{builder, payload};
use corelane::adapters::{RedisAdapter, RedisConfig};
use corelane::read::{ConsumeRequest, Consumer, DedupWindow};
use corelane::{Bus, RawEvent};
use corelane_testkit::Server;

fn adapter(url: &str) -> Arc<RedisAdapter> {
    let mut c = RedisConfig::new(url);
    c.connect_timeout = Duration::from_millis(500);
    c.command_timeout = Duration::from_millis(500);
    Arc::new(RedisAdapter::new(c).unwrap())
}

fn xlen(server: &Server, shard: u32) -> u64 {
    server
        .redis_cli(&["XLEN", &format!("corelane:shard:{shard}")])
        .trim()
        .parse()
        .unwrap()
}

fn stored_payloads(redis: Arc<RedisAdapter>, shards: u32) -> Vec<Vec<u8>> {
    let consumer = Consumer::new(redis, shards);
    let request = ConsumeRequest::new().dedup(DedupWindow::new(100_000));
    consumer
        .read_all(&request)
        .unwrap()
        .into_iter()
        .map(|e| e.payload)
        .collect()
}

fn ingest_to_shard0(bus: &Bus, producer: u64, range: std::ops::Range<u64>) {
    for i in range {
        bus.ingest_raw(RawEvent::new(&payload(producer, i)[..]).to_shard(0))
            .unwrap();
    }
}

/// EXEC answers an array in which each XADD's place holds its entry id or its error.
/// With the key holding a string, every place is `WRONGTYPE`: none of the batch was
/// stored, and it must be counted failed (fatal), not written.
#[test]
fn exec_error_replies_count_the_batch_failed_not_written() {
    let Some(server) = Server::redis(&[]) else {
        return;
    };
    let redis = adapter(&server.redis_url());
    let bus = builder(1).build_shared(redis.clone()).unwrap();
    ingest_to_shard0(&bus, 1, 0..5);
    bus.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(xlen(&server, 0), 5);

    server.redis_cli(&["DEL", "corelane:shard:0"]);
    server.redis_cli(&["SET", "corelane:shard:0", "not a stream"]);
    ingest_to_shard0(&bus, 1, 5..15);
    bus.flush(Duration::from_secs(30)).unwrap();
    let stats = bus.stats();
    assert_eq!(stats.written, 5, "{stats:?}");
    assert_eq!(stats.failed.fatal, 10, "{stats:?}");
    assert_eq!(stats.accepted, stats.written + stats.failed.total());

    // The key is a stream again: later batches are stored and counted.
    server.redis_cli(&["DEL", "corelane:shard:0"]);
    ingest_to_shard0(&bus, 1, 15..18);
    bus.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(bus.stats().written, 8);
    assert_eq!(xlen(&server, 0), 3);
}

/// Another client appended more entries than one look-back page after the bus's last
/// record: a restarted bus still continues the shard's numbering from that record.
#[test]
fn restart_finds_the_last_record_behind_foreign_entries() {
    let Some(server) = Server::redis(&[]) else {
        return;
    };
    let bus = builder(1)
        .build_shared(adapter(&server.redis_url()))
        .unwrap();
    ingest_to_shard0(&bus, 1, 0..7);
    bus.shutdown().unwrap();
    for i in 0..300 {
        server.redis_cli(&["XADD", "corelane:shard:0", "*", "other", &i.to_string()]);
    }
    let redis = adapter(&server.redis_url());
    let again = builder(1).build_shared(redis.clone()).unwrap();
    assert_eq!(again.stats().shards[0].next_sequence, 7);
    ingest_to_shard0(&again, 1, 7..9);
    again.flush(Duration::from_secs(30)).unwrap();
    let events = Consumer::new(redis, 1)
        .read_all(&ConsumeRequest::new())
        .unwrap();
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (0..9).collect::<Vec<_>>(), "no sequence reused");
}

/// `FLUSHALL` while the bus runs removes what was stored (the operator's act); every
/// event accepted afterwards is stored, and the counters say exactly that.
#[test]
fn flushall_mid_stream_then_every_later_event_is_stored() {
    let Some(server) = Server::redis(&[]) else {
        return;
    };
    let redis = adapter(&server.redis_url());
    let bus = builder(2).build_shared(redis.clone()).unwrap();
    for i in 0..400 {
        bus.ingest_raw(payload(1, i)).unwrap();
    }
    bus.flush(Duration::from_secs(30)).unwrap();
    server.redis_cli(&["FLUSHALL"]);
    for i in 400..1000 {
        bus.ingest_raw(payload(1, i)).unwrap();
    }
    bus.flush(Duration::from_secs(30)).unwrap();
    let stats = bus.stats();
    assert_eq!((stats.written, stats.failed.total()), (1000, 0));
    let mut stored: Vec<u64> = stored_payloads(redis, 2)
        .iter()
        .map(|p| common::parse_payload(p).1)
        .collect();
    stored.sort_unstable();
    assert_eq!(stored, (400..1000).collect::<Vec<_>>());
}

/// `CLIENT PAUSE … WRITE` holds every write: commands time out and are retried, and after
/// the pause everything is stored (copies from retried EXECs share dedup ids).
#[test]
fn client_pause_delays_but_loses_nothing() {
    let Some(server) = Server::redis(&[]) else {
        return;
    };
    let redis = adapter(&server.redis_url());
    let bus = builder(1)
        .adapter_retries(200)
        .retry_backoff_initial(Duration::from_millis(10))
        .retry_backoff_max(Duration::from_millis(100))
        .build_shared(redis.clone())
        .unwrap();
    server.redis_cli(&["CLIENT", "PAUSE", "1200", "WRITE"]);
    for i in 0..300 {
        bus.ingest_raw(payload(2, i)).unwrap();
    }
    bus.flush(Duration::from_secs(30)).unwrap();
    let stats = bus.stats();
    assert_eq!((stats.written, stats.failed.total()), (300, 0), "{stats:?}");
    assert!(stats.retries > 0, "the pause caused timeouts: {stats:?}");
    let mut stored: Vec<u64> = stored_payloads(redis, 1)
        .iter()
        .map(|p| common::parse_payload(p).1)
        .collect();
    stored.sort_unstable();
    assert_eq!(stored, (0..300).collect::<Vec<_>>());
}

/// A server without persistence is killed and restarted empty while the bus writes: what
/// it held is gone (Redis's promise, not ours), but every event from the restart on is
/// stored — each shard's store is a gap-free run of sequences up to the last one written.
#[test]
fn kill_without_persistence_loses_only_what_the_server_held() {
    let Some(mut server) = Server::redis(&["--appendonly", "no"]) else {
        return;
    };
    let redis = adapter(&server.redis_url());
    let bus = common::outage_bus(2, redis.clone());
    let accepted =
        common::ingest_through(&bus, 4, 2000, || server.outage(Duration::from_millis(500)));
    let stats = bus.stats();
    assert_eq!(
        stats.written, accepted,
        "every accepted event was acknowledged"
    );
    let events = Consumer::new(redis, 2)
        .read_all(&ConsumeRequest::new().dedup(DedupWindow::new(100_000)))
        .unwrap();
    assert!(
        (events.len() as u64) < accepted,
        "the kill lost what the server held"
    );
    for shard in 0..2u32 {
        let sequences: Vec<u64> = events
            .iter()
            .filter(|e| e.shard == shard)
            .map(|e| e.sequence)
            .collect();
        let last = stats.shards[shard as usize].next_sequence - 1;
        let Some(&first) = sequences.first() else {
            panic!("shard {shard}: nothing stored after the restart");
        };
        assert_eq!(
            sequences,
            (first..=last).collect::<Vec<_>>(),
            "shard {shard}: a gap after the restart"
        );
    }
}
