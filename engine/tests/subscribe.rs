//! Subscriptions: new events arrive, stop works from another thread, errors are yielded.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::builder;
use corelane::adapters::MemoryAdapter;
use corelane::read::{ConsumeRequest, ConsumerError, Cursor, StartAt};

#[test]
fn sees_events_ingested_after_it_starts_and_stops_on_request() {
    let bus = Arc::new(builder(3).build(MemoryAdapter::new()).unwrap());
    for i in 0..50u32 {
        bus.ingest_raw(format!("old {i}").into_bytes()).unwrap();
    }
    bus.flush(Duration::from_secs(5)).unwrap();

    let sub = bus
        .subscribe(ConsumeRequest::new().limit(16), StartAt::End)
        .unwrap()
        .max_idle_wait(Duration::from_millis(20));
    let stop = sub.stop_handle();
    let reader = std::thread::spawn(move || {
        let mut sub = sub;
        let mut got = Vec::new();
        for event in sub.by_ref() {
            got.push(String::from_utf8(event.unwrap().payload).unwrap());
        }
        (got, sub.cursor().clone())
    });
    std::thread::sleep(Duration::from_millis(50));
    for i in 0..200u32 {
        bus.ingest_raw(format!("new {i}").into_bytes()).unwrap();
    }
    bus.flush(Duration::from_secs(5)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while bus
        .consumer()
        .poll(&ConsumeRequest::new().limit(1000))
        .unwrap()
        .events
        .len()
        < 250
    {
        assert!(Instant::now() < deadline);
    }
    // Give the reader time to drain, then stop it while it waits for more.
    std::thread::sleep(Duration::from_millis(300));
    let stopped_at = Instant::now();
    stop.stop();
    let (got, cursor) = reader.join().unwrap();
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        stopped_at.elapsed()
    );
    assert_eq!(got.len(), 200, "only the new events");
    assert!(got.iter().all(|p| p.starts_with("new ")));
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 200, "each once");

    // Resuming from the subscription's cursor finds nothing more.
    let page = bus.poll(&ConsumeRequest::new().after(cursor)).unwrap();
    assert!(page.events.is_empty());
}

#[test]
fn from_the_beginning_with_a_filter_and_resume_mid_page() {
    let bus = builder(2).build(MemoryAdapter::new()).unwrap();
    for i in 0..40u32 {
        bus.ingest_json(format!(r#"{{"i":{i},"even":{}}}"#, i % 2 == 0).as_bytes())
            .unwrap();
    }
    bus.flush(Duration::from_secs(5)).unwrap();
    let request = ConsumeRequest::new()
        .limit(7)
        .filter_json(r#"{"path":"even","value":true}"#)
        .unwrap();
    let mut sub = bus.subscribe(request.clone(), StartAt::Beginning).unwrap();
    let first: Vec<_> = (0..5).map(|_| sub.next().unwrap().unwrap()).collect();
    // Stop after 5 events (mid-page) and resume from the cursor: the next 15 follow.
    let cursor = sub.cursor().clone();
    let mut resumed = bus.subscribe(request, StartAt::Cursor(cursor)).unwrap();
    let rest: Vec<_> = (0..15).map(|_| resumed.next().unwrap().unwrap()).collect();
    let mut all: Vec<i64> = first
        .iter()
        .chain(&rest)
        .map(|e| e.json().unwrap()["i"].as_i64().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..40).step_by(2).collect::<Vec<_>>());
}

#[test]
fn invalid_input_is_yielded_once_then_the_subscription_ends() {
    let bus = builder(1).build(MemoryAdapter::new()).unwrap();
    let mut sub = bus
        .subscribe(
            ConsumeRequest::new().limit(0),
            StartAt::Cursor(Cursor::beginning()),
        )
        .unwrap();
    assert!(matches!(
        sub.next(),
        Some(Err(ConsumerError::InvalidRequest { .. }))
    ));
    assert!(sub.next().is_none());
}
