//! Cursors: an opaque, versioned, printable position per shard.
//!
//! Text form (version 1): `c1` followed by `.{shard}~{position in hex}` for every shard
//! with a position, shards ascending. `c1` alone is "from the beginning". A shard absent
//! from the cursor is read from its beginning, so shards added later start there. Only
//! unreserved URL characters are used, so a cursor can travel in a query string or a
//! shell argument unquoted. Treat it as opaque: the format may change with the version.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use corelane_io::Position;

use crate::read::error::ConsumerError;

const PREFIX: &str = "c1";
const MAX_LEN: usize = 64 << 10;
const MAX_SHARD: u32 = 1 << 20;

/// Where a reader is: for each shard, the position of the last event it consumed.
///
/// # Examples
///
/// ```
/// use corelane::adapter::Position;
/// use corelane::read::Cursor;
///
/// let mut c = Cursor::beginning();
/// c.set(0, Position::from_sequence(41));
/// c.set(3, Position::from_sequence(7));
/// let text = c.to_string();
/// assert_eq!(text, "c1.0~29.3~7");
/// assert_eq!(text.parse::<Cursor>().unwrap(), c);
/// assert!("c1.0~zz".parse::<Cursor>().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Cursor {
    positions: BTreeMap<u32, Position>,
}

impl Cursor {
    /// Before every event of every shard.
    pub fn beginning() -> Self {
        Cursor::default()
    }

    /// The position consumed last in `shard`, if any.
    pub fn position(&self, shard: u32) -> Option<Position> {
        self.positions.get(&shard).copied()
    }

    /// Records that `shard` was consumed up to `position`.
    pub fn set(&mut self, shard: u32, position: Position) {
        self.positions.insert(shard, position);
    }

    /// Records `position` when there is one.
    pub(crate) fn set_opt(&mut self, shard: u32, position: Option<Position>) {
        if let Some(p) = position {
            self.set(shard, p);
        }
    }

    /// Shards that have a position, with it, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u32, Position)> + '_ {
        self.positions.iter().map(|(s, p)| (*s, *p))
    }

    /// Parses the text form, rejecting anything malformed with a reason.
    pub fn decode(text: &str) -> Result<Cursor, ConsumerError> {
        let bad = |reason: String| ConsumerError::InvalidCursor { reason };
        if text.len() > MAX_LEN {
            return Err(bad(format!(
                "cursor is {} bytes long, more than {MAX_LEN}",
                text.len()
            )));
        }
        let Some(rest) = text.strip_prefix(PREFIX) else {
            let shown: String = text.chars().take(12).collect();
            return Err(bad(format!(
                "cursor must start with {PREFIX:?} (version 1), got {shown:?}"
            )));
        };
        let mut cursor = Cursor::beginning();
        if rest.is_empty() {
            return Ok(cursor);
        }
        let Some(rest) = rest.strip_prefix('.') else {
            return Err(bad(format!("expected '.' after {PREFIX:?}, got {rest:?}")));
        };
        let mut previous: Option<u32> = None;
        for part in rest.split('.') {
            let Some((shard, hex)) = part.split_once('~') else {
                return Err(bad(format!("entry {part:?} is not shard~position")));
            };
            let shard: u32 = match shard.parse() {
                Ok(s) if s < MAX_SHARD && !shard.starts_with('+') => s,
                _ => {
                    return Err(bad(format!(
                        "shard {shard:?} is not a number below {MAX_SHARD}"
                    )));
                }
            };
            if hex.is_empty() || hex.len() > 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!(
                    "position {hex:?} of shard {shard} is not 1 to 32 hex digits"
                )));
            }
            let raw = u128::from_str_radix(hex, 16).expect("validated hex");
            if previous.is_some_and(|p| p >= shard) {
                return Err(bad(format!("shard {shard} is out of order or repeated")));
            }
            previous = Some(shard);
            cursor.set(shard, Position::from_raw(raw));
        }
        Ok(cursor)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        for (shard, pos) in &self.positions {
            write!(f, ".{shard}~{:x}", pos.raw())?;
        }
        Ok(())
    }
}

impl FromStr for Cursor {
    type Err = ConsumerError;
    fn from_str(s: &str) -> Result<Cursor, ConsumerError> {
        Cursor::decode(s)
    }
}
