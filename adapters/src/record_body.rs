//! The record body the network stores (Redis, JetStream) keep for each event: the record
//! format of the event bus corelane replaces, kept for compatibility, plus one field.
//!
//! ```text
//! {"r":<payload verbatim>,"t":<insertion_ts>,"s":<shard>,"q":<sequence>}   JSON payloads
//! {"b":"<payload base64>","t":<insertion_ts>,"s":<shard>,"q":<sequence>}   other payloads
//! ```
//!
//! `r` (or `b`), `t` and `s` are the compatible fields; `q` is corelane's sequence number,
//! which readers that do not know it ignore, and which records of older writers lack.
//! Base64 is the standard alphabet with padding.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Appends the record body of one event to `out`.
///
/// # Examples
///
/// ```
/// use corelane_adapters::record_body::{decode_record, encode_record};
///
/// let mut out = Vec::new();
/// encode_record(&mut out, br#"{"px": 1.50}"#, 17, 2, 9);
/// assert_eq!(out, br#"{"r":{"px": 1.50},"t":17,"s":2,"q":9}"#);
/// let rec = decode_record(&out).unwrap();
/// assert_eq!((rec.payload.as_slice(), rec.insertion_ts, rec.shard, rec.sequence),
///            (&br#"{"px": 1.50}"#[..], 17, 2, Some(9)));
///
/// out.clear();
/// encode_record(&mut out, b"\x00binary", 1, 0, 0);
/// assert_eq!(out, br#"{"b":"AGJpbmFyeQ==","t":1,"s":0,"q":0}"#);
/// assert_eq!(decode_record(&out).unwrap().payload, b"\x00binary");
/// ```
pub fn encode_record(
    out: &mut Vec<u8>,
    payload: &[u8],
    insertion_ts: u64,
    shard: u32,
    sequence: u64,
) {
    let is_json = serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok();
    if is_json {
        out.extend_from_slice(b"{\"r\":");
        out.extend_from_slice(payload);
    } else {
        out.extend_from_slice(b"{\"b\":\"");
        base64_encode_into(out, payload);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"t\":");
    push_decimal(out, insertion_ts);
    out.extend_from_slice(b",\"s\":");
    push_decimal(out, u64::from(shard));
    out.extend_from_slice(b",\"q\":");
    push_decimal(out, sequence);
    out.push(b'}');
}

/// A decoded record body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The payload bytes, exactly as ingested.
    pub payload: Vec<u8>,
    /// Insertion timestamp, Unix-epoch nanoseconds.
    pub insertion_ts: u64,
    /// The shard.
    pub shard: u32,
    /// The sequence number (`None` in records of writers that do not store it).
    pub sequence: Option<u64>,
}

#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(borrow)]
    r: Option<&'a RawValue>,
    b: Option<String>,
    t: u64,
    s: u32,
    q: Option<u64>,
}

/// Decodes a record body; the error says what is wrong.
pub fn decode_record(bytes: &[u8]) -> Result<Record, String> {
    let raw: RawRecord<'_> =
        serde_json::from_slice(bytes).map_err(|e| format!("record is not valid: {e}"))?;
    let payload = match (raw.r, raw.b) {
        (Some(r), None) => r.get().as_bytes().to_vec(),
        (None, Some(b)) => base64_decode(&b).ok_or("record field \"b\" is not base64")?,
        (Some(_), Some(_)) => return Err("record has both \"r\" and \"b\"".into()),
        (None, None) => return Err("record has neither \"r\" nor \"b\"".into()),
    };
    Ok(Record {
        payload,
        insertion_ts: raw.t,
        shard: raw.s,
        sequence: raw.q,
    })
}

/// Appends `n` in decimal (the formatting machinery of `write!` costs ~10× more, and
/// network adapters format several numbers per event).
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `n` in lowercase hexadecimal without leading zeros.
pub fn push_hex(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 15) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends a dedup id, `{nonce:x}:{shard}:{seq_start}:{index}`, as its `Display` does.
pub fn push_dedup_id(out: &mut Vec<u8>, id: &corelane_io::DedupId) {
    push_hex(out, id.nonce);
    out.push(b':');
    push_decimal(out, u64::from(id.shard));
    out.push(b':');
    push_decimal(out, id.seq_start);
    out.push(b':');
    push_decimal(out, u64::from(id.index));
}

/// `url` with any password or token replaced by `***` (`scheme://user:***@host`,
/// `scheme://***@host`), for logs, errors and `Debug`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The host part never holds '@'; a password may, so the userinfo ends at the last one.
    match rest.rsplit_once('@') {
        Some((userinfo, host)) if !userinfo.is_empty() => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                // A lone userinfo is a password in redis:// URLs ("redis://:pw@h" or "redis://pw@h").
                format!("{scheme}://***@{host}")
            }
        }
        _ => url.to_string(),
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, appended to `out`.
pub fn base64_encode_into(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() {
                ALPHABET[(n >> shift) as usize & 63]
            } else {
                b'='
            });
        }
    }
}

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    base64_encode_into(&mut out, bytes);
    String::from_utf8(out).expect("base64 is ASCII")
}

/// Decodes standard base64 with padding; `None` if malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (k, quad) in bytes.chunks(4).enumerate() {
        let last = k + 1 == bytes.len() / 4;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_rejects_garbage() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(raw.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), raw.as_bytes());
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)).unwrap(), all);
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Z!==", "Zm9v\n"] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn numbers_and_dedup_ids_format_like_display() {
        for n in [0u64, 7, 10, 99, 12345, u64::MAX] {
            let (mut d, mut h) = (Vec::new(), Vec::new());
            push_decimal(&mut d, n);
            push_hex(&mut h, n);
            assert_eq!(String::from_utf8(d).unwrap(), n.to_string());
            assert_eq!(String::from_utf8(h).unwrap(), format!("{n:x}"));
        }
        let id = corelane_io::DedupId {
            nonce: 0xfeed,
            shard: 3,
            seq_start: 100,
            index: 7,
        };
        let mut out = Vec::new();
        push_dedup_id(&mut out, &id);
        assert_eq!(String::from_utf8(out).unwrap(), id.to_string());
    }

    #[test]
    fn a_password_holding_at_signs_is_redacted_whole() {
        for (url, shown) in [
            ("redis://u:p@ss@h:6379/0", "redis://u:***@h:6379/0"),
            ("redis://:p@s@s@h", "redis://:***@h"),
            ("nats://u:p@ss@h:4222", "nats://u:***@h:4222"),
            ("nats://t@k@n@h", "nats://***@h"),
        ] {
            let redacted = redact_url(url);
            assert_eq!(redacted, shown);
            assert!(
                !redacted.contains("ss@") && !redacted.contains("k@"),
                "{redacted}"
            );
        }
    }

    #[test]
    fn records_reject_what_is_not_a_record() {
        assert!(decode_record(b"{}").is_err());
        assert!(
            decode_record(br#"{"r":1,"b":"AA==","t":1,"s":0}"#)
                .unwrap_err()
                .contains("both")
        );
        assert!(
            decode_record(br#"{"t":1,"s":0}"#)
                .unwrap_err()
                .contains("neither")
        );
        assert!(
            decode_record(br#"{"b":"!!","t":1,"s":0}"#)
                .unwrap_err()
                .contains("base64")
        );
        // Records of writers that do not store a sequence (no "q") decode without one.
        let r = decode_record(br#"{"r":[1,2],"t":5,"s":1}"#).unwrap();
        assert_eq!((r.payload, r.sequence), (b"[1,2]".to_vec(), None));
    }
}
