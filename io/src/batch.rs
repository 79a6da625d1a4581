//! A sealed batch: consecutive events of one shard in one contiguous buffer.

use std::fmt;

/// Where one event of a [`Batch`] lives in the batch's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    /// Offset of the payload's first byte in `Batch::bytes`.
    start: u32,
    /// Payload length in bytes.
    len: u32,
    /// Insertion timestamp, Unix-epoch nanoseconds; strictly increasing within a shard.
    insertion_ts: u64,
}

/// Consecutive events of one shard, as the shard thread sealed them.
///
/// The payloads sit back to back in one buffer with an index beside it, so a batch of
/// a thousand events is two allocations, and a recycled batch (see [`Batch::reset`])
/// none at all. Event `i` has sequence number `seq_start + i`: a shard numbers its
/// events without gaps, so a batch never needs to store sequences.
///
/// A batch is written all-or-nothing and in order. When it is retried it is the same
/// value, so every event keeps its [`DedupId`].
///
/// # Examples
///
/// ```
/// use corelane_io::Batch;
///
/// let mut batch = Batch::with_capacity(4, 256);
/// batch.reset(2, 100, 0xfeed);
/// batch.push(1_700_000_000_000_000_000, br#"{"px":1}"#);
/// batch.push(1_700_000_000_000_000_001, br#"{"px":2}"#);
///
/// let second = batch.get(1).unwrap();
/// assert_eq!(second.sequence, 101);
/// assert_eq!(second.payload, br#"{"px":2}"#);
/// assert_eq!(batch.dedup_id(1).to_string(), "feed:2:100:1");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Batch {
    shard: u32,
    seq_start: u64,
    nonce: u64,
    /// Which write attempt this is, from 1; set by the I/O thread before each call.
    attempt: u32,
    bytes: Vec<u8>,
    slots: Vec<Slot>,
}

/// One event of a [`Batch`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEvent<'a> {
    /// Position in the batch, from 0.
    pub index: usize,
    /// The shard's sequence number for this event: `seq_start + index`.
    pub sequence: u64,
    /// When the shard thread took the event from its ring, Unix-epoch nanoseconds.
    pub insertion_ts: u64,
    /// The payload bytes, exactly as ingested.
    pub payload: &'a [u8],
}

/// The deduplication identity of one event: `{nonce:x}:{shard}:{seq_start}:{index}`.
///
/// It is the same for every retry of a batch and, when the producer nonce is persisted,
/// across restarts. Formatting it allocates only when turned into a `String`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DedupId {
    /// The producer nonce of the bus that wrote the event.
    pub nonce: u64,
    /// The shard.
    pub shard: u32,
    /// Sequence of the batch's first event.
    pub seq_start: u64,
    /// Position of the event in its batch.
    pub index: u32,
}

impl fmt::Display for DedupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:x}:{}:{}:{}",
            self.nonce, self.shard, self.seq_start, self.index
        )
    }
}

impl Batch {
    /// An empty batch with room for `events` events and `bytes` payload bytes.
    pub fn with_capacity(events: usize, bytes: usize) -> Self {
        Batch {
            shard: 0,
            seq_start: 0,
            nonce: 0,
            attempt: 1,
            bytes: Vec::with_capacity(bytes),
            slots: Vec::with_capacity(events),
        }
    }

    /// Empties the batch, keeping its buffers, and labels it for a new run of events.
    pub fn reset(&mut self, shard: u32, seq_start: u64, nonce: u64) {
        self.shard = shard;
        self.seq_start = seq_start;
        self.nonce = nonce;
        self.attempt = 1;
        self.bytes.clear();
        self.slots.clear();
    }

    /// Appends an event. Its sequence is `seq_start + len()` before the call.
    ///
    /// # Panics
    ///
    /// If the batch's payload bytes would exceed `u32::MAX`; the engine's configuration
    /// bounds batches far below that.
    pub fn push(&mut self, insertion_ts: u64, payload: &[u8]) {
        self.push_parts(insertion_ts, payload, &[]);
    }

    /// Appends an event whose payload arrives in two pieces (a record that wrapped
    /// around the end of a ring buffer).
    pub fn push_parts(&mut self, insertion_ts: u64, first: &[u8], second: &[u8]) {
        let start = self.bytes.len();
        let len = first.len() + second.len();
        assert!(
            start + len <= u32::MAX as usize,
            "batch payload bytes exceed u32::MAX"
        );
        self.bytes.extend_from_slice(first);
        self.bytes.extend_from_slice(second);
        self.slots.push(Slot {
            start: start as u32,
            len: len as u32,
            insertion_ts,
        });
    }

    /// The shard the events belong to.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// Sequence number of the first event.
    pub fn seq_start(&self) -> u64 {
        self.seq_start
    }

    /// Sequence number one past the last event.
    pub fn seq_end(&self) -> u64 {
        self.seq_start + self.slots.len() as u64
    }

    /// The producer nonce of the bus that sealed this batch.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// Which write attempt of this batch the adapter is serving: 1 for the first,
    /// higher for retries after a retryable error. A backend with server-side
    /// deduplication uses it to tell a retry's expected duplicates from a first
    /// attempt's, which mean the server kept an older message under the same id and
    /// did not store this one.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Sets [`Batch::attempt`]; the I/O thread calls it before every write.
    pub fn set_attempt(&mut self, attempt: u32) {
        self.attempt = attempt.max(1);
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Total payload bytes.
    pub fn payload_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Insertion timestamp of the first event, if any.
    pub fn first_ts(&self) -> Option<u64> {
        self.slots.first().map(|s| s.insertion_ts)
    }

    /// Insertion timestamp of the last event, if any.
    pub fn last_ts(&self) -> Option<u64> {
        self.slots.last().map(|s| s.insertion_ts)
    }

    /// Raises the insertion timestamps so that every one is above `floor` and they stay
    /// strictly increasing; returns the last one (`floor` for an empty batch). The engine
    /// calls it when a shard takes over keys from another shard, so that those keys'
    /// timestamps keep increasing across the change; timestamps already above the floor
    /// are left as they are.
    ///
    /// # Examples
    ///
    /// ```
    /// use corelane_io::Batch;
    ///
    /// let mut batch = Batch::with_capacity(3, 16);
    /// batch.push(10, b"a");
    /// batch.push(11, b"b");
    /// batch.push(50, b"c");
    /// assert_eq!(batch.raise_timestamps(20), 50);
    /// let ts: Vec<u64> = batch.events().map(|e| e.insertion_ts).collect();
    /// assert_eq!(ts, [21, 22, 50]);
    /// ```
    pub fn raise_timestamps(&mut self, floor: u64) -> u64 {
        let mut last = floor;
        for slot in &mut self.slots {
            if slot.insertion_ts <= last {
                slot.insertion_ts = last + 1;
            }
            last = slot.insertion_ts;
        }
        last
    }

    /// Event `index`, if the batch has that many.
    pub fn get(&self, index: usize) -> Option<BatchEvent<'_>> {
        let slot = self.slots.get(index)?;
        let start = slot.start as usize;
        Some(BatchEvent {
            index,
            sequence: self.seq_start + index as u64,
            insertion_ts: slot.insertion_ts,
            payload: &self.bytes[start..start + slot.len as usize],
        })
    }

    /// The events in order.
    pub fn events(&self) -> impl ExactSizeIterator<Item = BatchEvent<'_>> + '_ {
        (0..self.slots.len()).map(move |i| self.get(i).expect("index within len"))
    }

    /// The deduplication identity of event `index`.
    pub fn dedup_id(&self, index: usize) -> DedupId {
        DedupId {
            nonce: self.nonce,
            shard: self.shard,
            seq_start: self.seq_start,
            index: index as u32,
        }
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("shard", &self.shard)
            .field("seq_start", &self.seq_start)
            .field("nonce", &format_args!("{:x}", self.nonce))
            .field("attempt", &self.attempt)
            .field("events", &self.slots.len())
            .field("payload_bytes", &self.bytes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_order_sequence_and_bytes() {
        let mut b = Batch::with_capacity(2, 8);
        b.reset(3, 7, 1);
        b.push(10, b"ab");
        b.push_parts(11, b"cd", b"ef");
        b.push(12, b"");
        let got: Vec<_> = b
            .events()
            .map(|e| (e.sequence, e.insertion_ts, e.payload))
            .collect();
        assert_eq!(
            got,
            vec![
                (7, 10, &b"ab"[..]),
                (8, 11, &b"cdef"[..]),
                (9, 12, &b""[..])
            ]
        );
        assert_eq!(b.seq_end(), 10);
        assert_eq!(b.payload_bytes(), 6);
        assert_eq!(b.dedup_id(2).to_string(), "1:3:7:2");
        b.reset(0, 0, 0);
        assert!(b.is_empty());
        assert_eq!(b.get(0), None);
    }
}
