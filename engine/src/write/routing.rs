//! Which shard an event goes to.
//!
//! By default the payload's xxh3 hash picks the shard, so identical payloads always land
//! on the same shard. A key ([`RawEvent::with_key`](crate::write::event::RawEvent::with_key)), an
//! explicit hash or an explicit shard override it. The hash maps to a shard by
//! multiply-shift (`hash × n >> 64`), which is uniform for uniform hashes and needs no
//! division.

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
}
