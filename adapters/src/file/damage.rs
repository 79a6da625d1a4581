//! A damaged byte range of one segment, and what it means for a reader's cursor.
//!
//! Damage is found by validation (recovery, or the sparse index as a segment is first
//! read): a record whose checksum or length is wrong, followed by the next record that
//! checks out, or by the end of a segment that later segments follow. Reads step over a
//! damaged range and report it; the intact records on both sides stay readable.

use std::path::Path;

use corelane_io::DamagedRange;

/// Damaged bytes of a segment, between two intact records (or a segment edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Offset of the first damaged byte (where a record should have started).
    pub(crate) offset: u64,
    /// Damaged bytes; the next intact record (if any) starts at `offset + len`.
    pub(crate) len: u64,
    /// What validation found at `offset`.
    pub(crate) reason: String,
    /// Sequence of the intact record just before, when one exists in this segment.
    pub(crate) seq_before: Option<u64>,
    /// Sequence of the intact record just after, when one exists in this segment
    /// (`None`: the damage runs to the segment's end).
    pub(crate) seq_after: Option<u64>,
}

impl Damage {
    /// The sequences the damage swallowed, inclusive, when the intact records around it
    /// tell. `base_seq` is the segment's first sequence; `next_base` the following
    /// segment's, which bounds damage that runs to the end.
    pub(crate) fn lost_sequences(
        &self,
        base_seq: u64,
        next_base: Option<u64>,
    ) -> Option<(u64, u64)> {
        let first = self.first_lost(base_seq);
        let after = self.seq_after.or(next_base)?;
        (after > first).then(|| (first, after - 1))
    }

    fn first_lost(&self, base_seq: u64) -> u64 {
        self.seq_before.map_or(base_seq, |s| s.saturating_add(1))
    }

    /// Whether a read starting at `from_seq` has still to pass this damage (a cursor
    /// that reported it was moved past its last lost sequence).
    pub(crate) fn is_ahead_of(&self, from_seq: u64, base_seq: u64, next_base: Option<u64>) -> bool {
        match self.lost_sequences(base_seq, next_base) {
            Some((_, last)) => from_seq <= last,
            None => from_seq <= self.first_lost(base_seq),
        }
    }

    /// The public form, for `ShardPoll::damaged`.
    pub(crate) fn to_range(
        &self,
        shard: u32,
        path: &Path,
        base_seq: u64,
        next_base: Option<u64>,
    ) -> DamagedRange {
        DamagedRange {
            shard,
            location: path.display().to_string(),
            offset: self.offset,
            len: self.len,
            lost_sequences: self.lost_sequences(base_seq, next_base),
            reason: self.reason.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn damage(before: Option<u64>, after: Option<u64>) -> Damage {
        Damage {
            offset: 100,
            len: 50,
            reason: "checksum mismatch".into(),
            seq_before: before,
            seq_after: after,
        }
    }

    #[test]
    fn lost_sequences_come_from_the_neighbours() {
        assert_eq!(
            damage(Some(9), Some(13)).lost_sequences(0, None),
            Some((10, 12))
        );
        assert_eq!(
            damage(None, Some(13)).lost_sequences(5, None),
            Some((5, 12))
        );
        assert_eq!(
            damage(Some(9), None).lost_sequences(0, Some(20)),
            Some((10, 19))
        );
        assert_eq!(damage(Some(9), None).lost_sequences(0, None), None);
        // Garbage between two consecutive records swallowed no sequence.
        assert_eq!(damage(Some(9), Some(10)).lost_sequences(0, None), None);
    }

    #[test]
    fn a_cursor_past_the_lost_sequences_is_past_the_damage() {
        let d = damage(Some(9), Some(13));
        assert!(d.is_ahead_of(10, 0, None));
        assert!(d.is_ahead_of(12, 0, None));
        assert!(!d.is_ahead_of(13, 0, None));
        let garbage = damage(Some(9), Some(10));
        assert!(garbage.is_ahead_of(10, 0, None));
        assert!(!garbage.is_ahead_of(11, 0, None));
    }
}
