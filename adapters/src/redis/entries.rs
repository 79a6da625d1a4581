//! Stream entries as `XRANGE` and `XREVRANGE` answer them, and entry ids as positions.

use corelane_io::Position;
use redis::Value;

/// One stream entry: its id and its field-value pairs.
pub(super) type Entry = (String, Vec<(String, Vec<u8>)>);

/// Parsed stream entries, in the server's order.
pub(super) type Entries = Vec<Entry>;

/// "1700000000000-5" → `Position(1700000000000, 5)`.
pub(super) fn parse_id(id: &str) -> Option<Position> {
    let (ms, n) = id.split_once('-')?;
    Some(Position::from_parts(ms.parse().ok()?, n.parse().ok()?))
}

/// `Position(ms, n)` → "ms-n".
pub(super) fn format_id(p: Position) -> String {
    let (ms, n) = p.parts();
    format!("{ms}-{n}")
}

/// The entries of an `XRANGE` / `XREVRANGE` reply; the error says what is malformed.
pub(super) fn entries(value: Value) -> Result<Entries, String> {
    let Value::Array(items) = value else {
        return Err(format!("expected an array of entries, got {value:?}"));
    };
    items.into_iter().map(entry).collect()
}

/// One entry: `[id, [field, value, field, value, …]]`. Fields or values that are not
/// strings are skipped.
fn entry(item: Value) -> Result<Entry, String> {
    let Value::Array(mut pair) = item else {
        return Err("entry is not an array".to_string());
    };
    if pair.len() != 2 {
        return Err(format!("entry has {} parts, expected 2", pair.len()));
    }
    let fields = pair.pop().expect("two parts");
    let id = match pair.pop().expect("two parts") {
        Value::BulkString(b) => {
            String::from_utf8(b).map_err(|_| "entry id is not UTF-8".to_string())?
        }
        Value::SimpleString(s) => s,
        other => return Err(format!("entry id is {other:?}")),
    };
    let Value::Array(flat) = fields else {
        return Err("entry fields are not an array".into());
    };
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let key = match k {
            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
            Value::SimpleString(s) => s,
            _ => continue,
        };
        let val = match v {
            Value::BulkString(b) => b,
            Value::SimpleString(s) => s.into_bytes(),
            _ => continue,
        };
        out.push((key, val));
    }
    Ok((id, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_are_positions() {
        assert_eq!(
            parse_id("1700000000000-7"),
            Some(Position::from_parts(1_700_000_000_000, 7))
        );
        assert_eq!(format_id(Position::from_parts(5, 9)), "5-9");
        assert_eq!(parse_id("garbage"), None);
    }

    #[test]
    fn entries_keep_their_string_fields() {
        let raw = b"*1\r\n*2\r\n$3\r\n1-0\r\n*4\r\n$1\r\nd\r\n$2\r\n{}\r\n:5\r\n:6\r\n";
        let parsed = entries(redis::parse_redis_value(raw).unwrap()).unwrap();
        assert_eq!(
            parsed,
            vec![("1-0".to_string(), vec![("d".to_string(), b"{}".to_vec())])]
        );
        let not_entries = redis::parse_redis_value(b":1\r\n").unwrap();
        assert!(entries(not_entries).is_err());
    }
}
