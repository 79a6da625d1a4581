//! The transaction a batch becomes: `MULTI`, one `XADD` per event, `EXEC`, packed as RESP
//! into one buffer, and the check of `EXEC`'s reply that decides whether the batch was
//! stored.

use corelane_io::{AdapterError, Batch};
use redis::Value;

use super::RedisConfig;
use super::entries::parse_id;
use super::errors::{scrub, transient_code};
use crate::record_body::{encode_record, push_decimal, push_dedup_id};

/// Buffers the writer reuses from batch to batch, so a batch costs no per-event
/// allocation on the I/O thread.
#[derive(Default)]
pub(super) struct WriteBuffers {
    /// The RESP of the whole transaction.
    packed: Vec<u8>,
    /// One event's record body or dedup id while it is packed.
    record: Vec<u8>,
    /// The stream key, followed by the `MAXLEN` bound when there is one.
    scratch: Vec<u8>,
}

impl WriteBuffers {
    /// Packs `batch` as `MULTI`, one `XADD` per event and `EXEC`; the packed commands.
    pub(super) fn pack_batch(&mut self, config: &RedisConfig, batch: &Batch) -> &[u8] {
        let WriteBuffers {
            packed,
            record,
            scratch,
        } = self;
        packed.clear();
        packed.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n");
        scratch.clear();
        scratch.extend_from_slice(config.stream_key(batch.shard()).as_bytes());
        let key_len = scratch.len();
        if let Some(max) = config.max_stream_len {
            push_decimal(scratch, max);
        }
        let (key, max_len) = scratch.split_at(key_len);
        let header: &[u8] = if config.max_stream_len.is_some() {
            b"*10\r\n"
        } else {
            b"*7\r\n"
        };
        for e in batch.events() {
            packed.extend_from_slice(header);
            pack_arg(packed, b"XADD");
            pack_arg(packed, key);
            if config.max_stream_len.is_some() {
                pack_arg(packed, b"MAXLEN");
                pack_arg(packed, b"~");
                pack_arg(packed, max_len);
            }
            pack_arg(packed, b"*");
            pack_arg(packed, b"d");
            record.clear();
            encode_record(record, e.payload, e.insertion_ts, batch.shard(), e.sequence);
            pack_arg(packed, record);
            pack_arg(packed, b"dedup_id");
            record.clear();
            push_dedup_id(record, &batch.dedup_id(e.index));
            pack_arg(packed, record);
        }
        packed.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n");
        packed
    }
}

/// Appends one RESP bulk string.
fn pack_arg(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'$');
    push_decimal(out, arg.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

/// Checks `EXEC`'s reply to a transaction of `count` XADDs.
pub(super) fn check_exec_reply(
    reply: Option<Value>,
    count: usize,
    url: &str,
) -> Result<(), AdapterError> {
    match reply {
        Some(Value::Array(ids)) if ids.len() == count => check_exec_ids(&ids, url),
        Some(Value::Array(ids)) => Err(AdapterError::fatal(format!(
            "redis EXEC returned {} entry ids for {count} XADDs",
            ids.len()
        ))),
        Some(Value::ServerError(e)) => Err(AdapterError::fatal(format!(
            "redis EXEC failed: {} {}",
            e.code(),
            e.details().unwrap_or("")
        ))),
        other => Err(AdapterError::transient(format!(
            "redis EXEC returned {other:?}"
        ))),
    }
}

/// Checks the entry ids of a batch: every element must be the entry id of its XADD. A
/// server error in place of an id (a key that is not a stream: `WRONGTYPE`) means that
/// event was not stored; when some events were stored and others not, the batch is
/// partly applied and can be neither acknowledged nor safely retried, so it fails as
/// fatal. When every XADD failed with a passing server state, nothing was stored and a
/// retry may succeed.
fn check_exec_ids(ids: &[Value], url: &str) -> Result<(), AdapterError> {
    let mut first_error: Option<(String, String)> = None;
    let mut failed = 0usize;
    for id in ids {
        let ok = match id {
            Value::BulkString(b) => std::str::from_utf8(b).ok().and_then(parse_id).is_some(),
            Value::SimpleString(s) => parse_id(s).is_some(),
            _ => false,
        };
        if ok {
            continue;
        }
        failed += 1;
        if first_error.is_none() {
            first_error = Some(match id {
                Value::ServerError(e) => {
                    (e.code().to_string(), scrub(e.details().unwrap_or(""), url))
                }
                other => ("INVALID".to_string(), format!("not an entry id: {other:?}")),
            });
        }
    }
    let Some((code, detail)) = first_error else {
        return Ok(());
    };
    let total = ids.len();
    let stored = total - failed;
    if stored == 0 && transient_code(&code) {
        return Err(AdapterError::transient(format!(
            "redis EXEC: every XADD of the batch failed with {code} {detail}; nothing stored"
        )));
    }
    let applied = if stored == 0 {
        "nothing stored".to_string()
    } else {
        format!("the batch is partly applied ({stored} of {total} events stored)")
    };
    Err(AdapterError::fatal(format!(
        "redis EXEC: {failed} of {total} XADDs failed, the first with {code} {detail}; {applied}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelane_io::ErrorKind;

    fn exec_reply(elements: &[&str]) -> Vec<Value> {
        let mut raw = format!("*{}\r\n", elements.len());
        for e in elements {
            raw.push_str(e);
            raw.push_str("\r\n");
        }
        match redis::parse_redis_value(raw.as_bytes()).unwrap() {
            Value::Array(items) => items,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exec_replies_must_hold_an_entry_id_for_every_xadd() {
        let url = "redis://h";
        let ok = exec_reply(&["$15\r\n1700000000000-0", "+1700000000000-1"]);
        check_exec_ids(&ok, url).unwrap();

        let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
        let none = exec_reply(&[wrongtype, wrongtype]);
        let err = check_exec_ids(&none, url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Fatal);
        assert!(err.to_string().contains("WRONGTYPE"), "{err}");
        assert!(err.to_string().contains("nothing stored"), "{err}");

        let partly = exec_reply(&["$15\r\n1700000000000-0", "-ERR out of memory"]);
        let err = check_exec_ids(&partly, url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Fatal);
        assert!(err.to_string().contains("partly applied (1 of 2"), "{err}");

        let loading = exec_reply(&["-LOADING loading the dataset", "-LOADING loading"]);
        assert_eq!(
            check_exec_ids(&loading, url).unwrap_err().kind(),
            ErrorKind::Transient
        );
        let garbage = exec_reply(&[":5"]);
        assert_eq!(
            check_exec_ids(&garbage, url).unwrap_err().kind(),
            ErrorKind::Fatal
        );
    }

    #[test]
    fn an_exec_reply_of_the_wrong_length_or_shape_fails() {
        let url = "redis://h";
        let one = exec_reply(&["$15\r\n1700000000000-0"]);
        check_exec_reply(Some(Value::Array(one.clone())), 1, url).unwrap();
        let short = check_exec_reply(Some(Value::Array(one)), 2, url).unwrap_err();
        assert_eq!(short.kind(), ErrorKind::Fatal);
        let nil = check_exec_reply(Some(Value::Nil), 1, url).unwrap_err();
        assert_eq!(nil.kind(), ErrorKind::Transient);
    }
}
