//! What producers ingest: validated JSON events and raw bytes.

use std::fmt;
use std::str::FromStr;

use crate::write::routing::{Route, routing_hash};

/// Anything that can be ingested: payload bytes and a [`Route`].
///
/// Implemented for byte slices, arrays, vectors, strings, [`RawEvent`] and [`Event`];
/// implement it for your own message type to ingest straight from its buffer.
pub trait AsRawEvent {
    /// The bytes to store.
    fn payload(&self) -> &[u8];

    /// How to choose the shard; by payload hash unless overridden.
    fn route(&self) -> Route {
        Route::Payload
    }
}

impl AsRawEvent for [u8] {
    fn payload(&self) -> &[u8] {
        self
    }
}

impl<const N: usize> AsRawEvent for [u8; N] {
    fn payload(&self) -> &[u8] {
        self
    }
}

impl AsRawEvent for Vec<u8> {
    fn payload(&self) -> &[u8] {
        self
    }
}

impl AsRawEvent for Box<[u8]> {
    fn payload(&self) -> &[u8] {
        self
    }
}

impl AsRawEvent for str {
    fn payload(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRawEvent for String {
    fn payload(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<T: AsRawEvent + ?Sized> AsRawEvent for &T {
    fn payload(&self) -> &[u8] {
        (**self).payload()
    }
    fn route(&self) -> Route {
        (**self).route()
    }
}

/// Bytes of any shape plus a routing choice.
///
/// # Examples
///
/// ```
/// use corelane::{RawEvent, Route};
/// use corelane::testing::routing_hash;
///
/// let by_payload = RawEvent::new(&b"tick"[..]);
/// assert_eq!(by_payload.route(), Route::Payload);
///
/// let by_key = RawEvent::new(vec![1, 2, 3]).with_key(b"AAPL");
/// assert_eq!(by_key.route(), Route::Hash(routing_hash(b"AAPL")));
/// assert_eq!(by_key.into_payload(), vec![1, 2, 3]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent<B = Vec<u8>> {
    payload: B,
    route: Route,
}

impl<B: AsRef<[u8]>> RawEvent<B> {
    /// Routed by the hash of its payload.
    pub fn new(payload: B) -> Self {
        RawEvent {
            payload,
            route: Route::Payload,
        }
    }

    /// Routed by the hash of `key`: events with the same key share a shard and its order.
    pub fn with_key(mut self, key: &[u8]) -> Self {
        self.route = Route::Hash(routing_hash(key));
        self
    }

    /// Routed by a hash the caller computed.
    pub fn with_hash(mut self, hash: u64) -> Self {
        self.route = Route::Hash(hash);
        self
    }

    /// Sent to one shard.
    pub fn to_shard(mut self, shard: u32) -> Self {
        self.route = Route::Shard(shard);
        self
    }

    /// The routing choice.
    pub fn route(&self) -> Route {
        self.route
    }

    /// The payload bytes.
    pub fn bytes(&self) -> &[u8] {
        self.payload.as_ref()
    }

    /// Gives the payload back.
    pub fn into_payload(self) -> B {
        self.payload
    }
}

impl<B: AsRef<[u8]>> AsRawEvent for RawEvent<B> {
    fn payload(&self) -> &[u8] {
        self.payload.as_ref()
    }
    fn route(&self) -> Route {
        self.route
    }
}

/// A JSON event: validated JSON text, stored byte for byte as given.
///
/// # Examples
///
/// ```
/// use corelane::Event;
///
/// let ev: Event = r#"{"sym":"AAPL","px":189.5}"#.parse().unwrap();
/// assert_eq!(ev.to_value()["sym"], "AAPL");
///
/// let err = Event::from_str("{\"sym\":\n  AAPL}").unwrap_err();
/// assert_eq!((err.line(), err.column()), (2, 3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    json: Box<[u8]>,
    route: Route,
}

impl Event {
    /// Validates `text` as one JSON value.
    #[allow(clippy::should_implement_trait)] // also implemented, as `FromStr`
    pub fn from_str(text: &str) -> Result<Event, EventError> {
        Self::from_slice(text.as_bytes())
    }

    /// Validates `bytes` as one JSON value (UTF-8).
    pub fn from_slice(bytes: &[u8]) -> Result<Event, EventError> {
        validate_json(bytes)?;
        Ok(Event {
            json: bytes.into(),
            route: Route::Payload,
        })
    }

    /// Serialises `value` compactly.
    pub fn from_value(value: &serde_json::Value) -> Event {
        Event {
            json: value.to_string().into_bytes().into_boxed_slice(),
            route: Route::Payload,
        }
    }

    /// Routed by the hash of `key` instead of the payload.
    pub fn with_key(mut self, key: &[u8]) -> Self {
        self.route = Route::Hash(routing_hash(key));
        self
    }

    /// The JSON text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.json
    }

    /// The JSON text as a string.
    pub fn as_str(&self) -> &str {
        // Validated as JSON, which serde_json only accepts as UTF-8.
        std::str::from_utf8(&self.json).expect("validated JSON is UTF-8")
    }

    /// The parsed value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.json).expect("validated JSON parses")
    }
}

impl FromStr for Event {
    type Err = EventError;
    fn from_str(s: &str) -> Result<Event, EventError> {
        Event::from_slice(s.as_bytes())
    }
}

impl AsRawEvent for Event {
    fn payload(&self) -> &[u8] {
        &self.json
    }
    fn route(&self) -> Route {
        self.route
    }
}

/// Checks that `bytes` hold exactly one JSON value.
pub(crate) fn validate_json(bytes: &[u8]) -> Result<(), EventError> {
    serde_json::from_slice::<Readable>(bytes)
        .map(|_| ())
        .map_err(|e| EventError {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
}

/// A JSON value visited the way a reader parses it into `serde_json::Value`, without
/// building it: every string is checked to be UTF-8 and every number to fit an `f64`
/// (`1e400` does not), which skipping with `IgnoredAny` would let through. What the
/// producer accepts as JSON is then exactly what filters and readers can read.
struct Readable;

impl<'de> serde::Deserialize<'de> for Readable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ReadableVisitor)
    }
}

struct ReadableVisitor;

impl<'de> serde::de::Visitor<'de> for ReadableVisitor {
    type Value = Readable;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Readable, E> {
        if v.is_finite() {
            Ok(Readable)
        } else {
            Err(E::custom("number out of range"))
        }
    }
    fn visit_str<E>(self, _: &str) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_unit<E>(self) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Readable, A::Error> {
        while seq.next_element::<Readable>()?.is_some() {}
        Ok(Readable)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Readable, A::Error> {
        while map.next_entry::<Readable, Readable>()?.is_some() {}
        Ok(Readable)
    }
}

/// Why bytes are not a JSON event, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    line: usize,
    column: usize,
    message: String,
}

impl EventError {
    /// Line of the error, from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Column of the error, from 1 (0 when the input ended early).
    pub fn column(&self) -> usize {
        self.column
    }

    /// serde_json's description.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON event: {}", self.message)
    }
}

impl std::error::Error for EventError {}
