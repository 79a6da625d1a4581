//! Which shard an event goes to.
//!
//! By default the payload's xxh3 hash picks the shard, so identical payloads always land
//! on the same shard. A key ([`RawEvent::with_key`](crate::write::event::RawEvent::with_key)), an
//! explicit hash or an explicit shard override it. The hash maps to a shard by
//! multiply-shift (`hash × n >> 64`), which is uniform for uniform hashes and needs no
//! division.
//!
//! A scalable bus routes through a [`BucketTable`] instead: the top 12 bits of the hash
//! pick one of 4,096 buckets, and the table for `n` shards says which shard owns each
//! bucket. The table for `n + 1` is the table for `n` with ⌊4096 / (n + 1)⌋ buckets
//! handed to the new shard, taken from the shards that hold the most; so a change from
//! `n` to `n + 1` shards moves only the keys of those buckets, all to the new shard, and
//! a change back moves only the retired shard's keys. Each table depends on `n` alone,
//! never on the history of changes; shards hold ⌊4096 / n⌋ or ⌈4096 / n⌉ buckets.

use xxhash_rust::xxh3::xxh3_64;

/// The routing hash of `bytes` (xxh3, 64 bits): of the payload by default, of the key
/// with [`RawEvent::with_key`](crate::write::event::RawEvent::with_key).
#[inline]
pub fn routing_hash(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

/// The shard among `num_shards` that `hash` maps to.
///
/// # Examples
///
/// ```
/// use corelane::testing::{routing_hash, shard_for_hash};
///
/// let h = routing_hash(b"AAPL");
/// assert!(shard_for_hash(h, 8) < 8);
/// assert_eq!(shard_for_hash(h, 1), 0);
/// assert_eq!(shard_for_hash(h, 8), shard_for_hash(routing_hash(b"AAPL"), 8));
/// ```
#[inline]
pub fn shard_for_hash(hash: u64, num_shards: u32) -> u32 {
    ((u128::from(hash) * u128::from(num_shards)) >> 64) as u32
}

/// Hash buckets of a [`BucketTable`].
pub(crate) const BUCKETS: usize = 4096;
const BUCKET_SHIFT: u32 = 64 - BUCKETS.trailing_zeros();

/// Which shard owns each of the 4,096 hash buckets, for one shard count.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BucketTable {
    /// Inline, so that a lookup through the producer's `Arc` is one dependent load.
    owners: [u16; BUCKETS],
    shards: u32,
}

impl std::fmt::Debug for BucketTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketTable")
            .field("shards", &self.shards)
            .finish()
    }
}

impl BucketTable {
    /// The table for `shards` shards (1..=4096), built from the one-shard table by
    /// adding shards one at a time.
    pub(crate) fn new(shards: u32) -> BucketTable {
        let shards = shards.clamp(1, BUCKETS as u32);
        let mut owners = [0u16; BUCKETS];
        let mut counts = vec![BUCKETS; 1];
        for added in 1..shards as usize {
            counts.push(0);
            let total = added + 1;
            let share = BUCKETS / total;
            let most = BUCKETS.div_ceil(total);
            // Visit the buckets in a fixed scrambled order (an odd multiplier is a
            // permutation modulo a power of two) so that the buckets a shard gives up
            // are spread over the hash space. First take from shards above the largest
            // share, then from shards above the smallest, until the new one has its own.
            for above in [most, share] {
                for i in 0..BUCKETS {
                    if counts[added] == share {
                        break;
                    }
                    let bucket = i.wrapping_mul(2_654_435_761) % BUCKETS;
                    let owner = usize::from(owners[bucket]);
                    if owner != added && counts[owner] > above {
                        counts[owner] -= 1;
                        counts[added] += 1;
                        owners[bucket] = added as u16;
                    }
                }
            }
        }
        BucketTable { owners, shards }
    }

    /// The shard that owns `hash`'s bucket.
    #[inline(always)]
    pub(crate) fn shard(&self, hash: u64) -> u32 {
        u32::from(self.owners[(hash >> BUCKET_SHIFT) as usize])
    }

    /// Shards that hand buckets to another shard going from `self` to `next`, and
    /// shards that receive buckets.
    pub(crate) fn moves_to(&self, next: &BucketTable) -> (Vec<u32>, Vec<u32>) {
        let mut from = vec![false; BUCKETS];
        let mut to = vec![false; BUCKETS];
        for (a, b) in self.owners.iter().zip(next.owners.iter()) {
            if a != b {
                from[usize::from(*a)] = true;
                to[usize::from(*b)] = true;
            }
        }
        let ids = |marks: Vec<bool>| {
            marks
                .iter()
                .enumerate()
                .filter(|(_, m)| **m)
                .map(|(i, _)| i as u32)
                .collect()
        };
        (ids(from), ids(to))
    }
}

/// How an event chooses its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Route {
    /// By the xxh3 hash of the payload (the default).
    #[default]
    Payload,
    /// By this hash.
    Hash(u64),
    /// To this shard; an ingest to a shard the bus does not have is refused as invalid.
    Shard(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiply_shift_spreads_evenly() {
        let n = 8u32;
        let mut counts = [0u32; 8];
        for i in 0u64..80_000 {
            counts[shard_for_hash(routing_hash(&i.to_le_bytes()), n) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "uneven spread {counts:?}");
        }
        assert_eq!(shard_for_hash(u64::MAX, n), n - 1);
        assert_eq!(shard_for_hash(0, n), 0);
    }

    #[test]
    fn bucket_tables_are_balanced_and_move_only_what_they_must() {
        let mut previous = BucketTable::new(1);
        assert!(previous.owners.iter().all(|&o| o == 0));
        for n in 2..=40u32 {
            let table = BucketTable::new(n);
            let mut counts = vec![0usize; n as usize];
            for &o in table.owners.iter() {
                counts[usize::from(o)] += 1;
            }
            let (least, most) = (BUCKETS / n as usize, BUCKETS.div_ceil(n as usize));
            assert!(
                counts.iter().all(|c| (least..=most).contains(c)),
                "{n} shards: {counts:?}"
            );
            // Only buckets given to the new shard changed owner.
            let moved: Vec<usize> = (0..BUCKETS)
                .filter(|&b| previous.owners[b] != table.owners[b])
                .collect();
            assert_eq!(moved.len(), least, "{n} shards");
            assert!(moved.iter().all(|&b| u32::from(table.owners[b]) == n - 1));
            let (from, to) = previous.moves_to(&table);
            assert_eq!(to, vec![n - 1]);
            assert!(from.iter().all(|&s| s < n - 1));
            assert_eq!(table, BucketTable::new(n), "a pure function of n");
            previous = table;
        }
        // Keys spread evenly over 8 shards.
        let table = BucketTable::new(8);
        let mut counts = [0u32; 8];
        for i in 0u64..80_000 {
            counts[table.shard(routing_hash(&i.to_le_bytes())) as usize] += 1;
        }
        assert!(
            counts.iter().all(|c| (9_000..11_000).contains(c)),
            "{counts:?}"
        );
    }
}
