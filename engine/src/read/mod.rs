//! Reading back what a bus stored: pages by cursor and filter, and subscriptions.
//!
//! A [`Consumer`] reads any store (a bus's, or one opened without a bus) through its
//! adapter. A [`ConsumeRequest`] says where to start ([`Cursor`]), how much, in which
//! [`ConsumeOrder`], and which events ([`Filter`]); a [`ConsumeResponse`] returns the page
//! and the cursor to resume from. A [`Subscription`] is a blocking iterator over new
//! events. See `docs/consuming.md`.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use corelane::Bus;
//! use corelane::adapters::MemoryAdapter;
//! use corelane::read::ConsumeRequest;
//!
//! let bus = Bus::builder().num_shards(2).build(MemoryAdapter::new()).unwrap();
//! bus.ingest_json(br#"{"sym":"AAPL","px":189.5}"#).unwrap();
//! bus.ingest_json(br#"{"sym":"MSFT","px":411.2}"#).unwrap();
//! bus.flush(Duration::from_secs(5)).unwrap();
//!
//! let request = ConsumeRequest::new().filter_json(r#"{"path":"sym","value":"AAPL"}"#).unwrap();
//! let page = bus.poll(&request).unwrap();
//! assert_eq!(page.events.len(), 1);
//! assert_eq!(page.events[0].json().unwrap()["px"], 189.5);
//! ```

pub(crate) mod consumer;
pub(crate) mod cursor;
pub(crate) mod dedup;
pub(crate) mod error;
pub(crate) mod filter;
pub(crate) mod subscribe;

pub use consumer::{
    ConsumeOrder, ConsumeRequest, ConsumeResponse, ConsumedEvent, Consumer, MAX_LIMIT,
};
pub use cursor::Cursor;
pub use dedup::DedupWindow;
pub use filter::{Filter, MAX_FILTER_DEPTH};
pub use subscribe::{StartAt, StopHandle, Subscription};

pub use error::{ConsumerError, ShardFailure};
