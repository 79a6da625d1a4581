//! Reads of one shard: a page of events after a cursor, stepping over damage, and the
//! read-only follower's view of a directory another process writes.

use std::fs;
use std::io;
use std::sync::Arc;

use corelane_io::{AdapterError, Position, ShardPoll, StoredEvent};

use super::recovery::list_segments;
use super::segment::{Segment, SegmentPlace};
use super::shard_log::{ShardLog, io_err};

impl ShardLog {
    /// In read-only mode, picks up segments created (or grown, or deleted) by the writer.
    pub(super) fn refresh(&self) -> Result<(), AdapterError> {
        let listed = match list_segments(&self.dir) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(format_args!("list {}", self.dir.display()), e)),
        };
        let mut segments = self.segments.write();
        segments.retain(|s| listed.iter().any(|(b, _)| *b == s.base_seq));
        for (base, path) in listed {
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            match segments.iter().find(|s| s.base_seq == base) {
                Some(s) => s.grow_to(len),
                None => {
                    let pos = segments.partition_point(|s| s.base_seq < base);
                    segments.insert(pos, Arc::new(Segment::new(base, &path, len)));
                }
            }
        }
        Ok(())
    }

    /// Reads up to `limit` events after `after` (exclusive), in order. Damaged ranges met
    /// on the way are reported in `damaged` after the events before them, and the cursor
    /// moves past them, so the next page starts with the intact events that follow.
    pub(crate) fn poll(
        &self,
        after: Option<Position>,
        limit: usize,
    ) -> Result<ShardPoll, AdapterError> {
        if self.read_only {
            self.refresh()?;
        }
        let from_seq = after.map_or(0, |p| p.sequence().saturating_add(1));
        let segments = self.segments.read().clone();
        let first = segments
            .partition_point(|s| s.base_seq <= from_seq)
            .saturating_sub(1);
        let last_with_records = self.last_with_records(&segments);
        let mut poll = ShardPoll {
            next: after,
            ..ShardPoll::default()
        };
        let mut more = false;
        for (i, segment) in segments.iter().enumerate().skip(first) {
            let place = SegmentPlace {
                tail_may_tear: self.read_only && Some(i) == last_with_records,
                next_base: segments.get(i + 1).map(|s| s.base_seq),
                segment_bytes: self.segment_bytes,
            };
            let room = limit - poll.events.len();
            let page = match segment.read(from_seq, room, &place) {
                Ok(page) => page,
                Err(_) if !segment.path.exists() => continue, // deleted by retention
                Err(e) => return Err(self.read_error(segment, e)),
            };
            for damage in &page.damage {
                let range =
                    damage.to_range(self.shard, &segment.path, segment.base_seq, place.next_base);
                // Past a reported range, so the next page does not report it again.
                if let Some((_, last_lost)) = range.lost_sequences {
                    advance(&mut poll.next, last_lost);
                }
                poll.damaged.push(range);
            }
            for r in page.records {
                advance(&mut poll.next, r.sequence);
                poll.events.push(StoredEvent {
                    position: Position::from_sequence(r.sequence),
                    shard: self.shard,
                    sequence: r.sequence,
                    insertion_ts: r.insertion_ts,
                    payload: r.payload,
                    dedup_id: None,
                });
            }
            if page.more {
                more = true;
                break;
            }
        }
        poll.end_of_shard = !more;
        Ok(poll)
    }
}

/// Moves `next` forward to `sequence` (never back).
fn advance(next: &mut Option<Position>, sequence: u64) {
    if next.is_none_or(|p| p.sequence() < sequence) {
        *next = Some(Position::from_sequence(sequence));
    }
}
