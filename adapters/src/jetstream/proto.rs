//! The NATS client protocol: a pure parser of server operations and encoders of client
//! operations. No I/O here; the parser is fuzzed (`fuzz/`) and property-tested.
//!
//! Server operations (the op name is case-insensitive, fields are separated by spaces or
//! tabs, lines end with CRLF):
//!
//! ```text
//! INFO {json}
//! MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n
//! HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>\r\n<headers><payload>\r\n
//! PING | PONG | +OK | -ERR '<message>'
//! ```

use std::fmt;

/// The longest control line accepted (a longer one is an error, not a hang).
pub const MAX_CONTROL_LINE: usize = 64 * 1024;
/// The largest message payload accepted.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// A message delivered on a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// The subject it was published to.
    pub subject: String,
    /// The subscription id.
    pub sid: u64,
    /// The reply subject, if any.
    pub reply: Option<String>,
    /// The raw header block (`NATS/1.0 ...\r\nKey: value\r\n...\r\n\r\n`); empty for MSG.
    pub headers: Vec<u8>,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Msg {
    /// The status code of the header line (`NATS/1.0 503` → 503), if any.
    pub fn status(&self) -> Option<u16> {
        let first = self.headers.split(|&b| b == b'\n').next()?;
        let line = std::str::from_utf8(first).ok()?.trim();
        let rest = line.strip_prefix("NATS/1.0")?.trim();
        rest.split_whitespace().next()?.parse().ok()
    }

    /// The description after the status code (`NATS/1.0 404 Message Not Found`).
    pub fn status_description(&self) -> String {
        let first = self
            .headers
            .split(|&b| b == b'\n')
            .next()
            .unwrap_or_default();
        let line = String::from_utf8_lossy(first);
        let rest = line.trim().strip_prefix("NATS/1.0").unwrap_or("").trim();
        rest.split_once(char::is_whitespace)
            .map_or("", |(_, d)| d)
            .trim()
            .to_string()
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        let text = std::str::from_utf8(&self.headers).ok()?;
        text.split("\r\n").skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// One operation from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    /// Server information (JSON).
    Info(String),
    /// A message.
    Msg(Msg),
    /// The server pings; answer PONG.
    Ping,
    /// The answer to our PING.
    Pong,
    /// Acknowledgement in verbose mode.
    Ok,
    /// An error; the server closes the connection after most of them.
    Err(String),
}

/// Bytes that are not the NATS protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError(pub String);

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NATS protocol error: {}", self.0)
    }
}

impl std::error::Error for ProtoError {}

fn error(msg: impl Into<String>) -> ProtoError {
    ProtoError(msg.into())
}

fn number(field: &[u8], what: &str) -> Result<u64, ProtoError> {
    let text = std::str::from_utf8(field).map_err(|_| error(format!("{what} is not UTF-8")))?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 19 {
        return Err(error(format!("{what} {text:?} is not a number")));
    }
    text.parse()
        .map_err(|_| error(format!("{what} {text:?} is not a number")))
}

fn text(field: &[u8], what: &str) -> Result<String, ProtoError> {
    String::from_utf8(field.to_vec()).map_err(|_| error(format!("{what} is not UTF-8")))
}

/// Parses the operation at the start of `buf`. Returns `Ok(None)` when more bytes are
/// needed, `Ok(Some((op, consumed)))` for a whole operation.
///
/// # Examples
///
/// ```
/// use corelane_adapters::nats_proto::{parse, ServerOp};
///
/// let stream = b"PING\r\nMSG a.b 7 inbox.1 5\r\nhello\r\n";
/// let (op, used) = parse(stream).unwrap().unwrap();
/// assert_eq!((op, used), (ServerOp::Ping, 6));
/// let (op, _) = parse(&stream[used..]).unwrap().unwrap();
/// let ServerOp::Msg(msg) = op else { panic!() };
/// assert_eq!((msg.subject.as_str(), msg.sid, msg.payload.as_slice()), ("a.b", 7, &b"hello"[..]));
/// assert_eq!(parse(b"MSG a.b 7 5\r\nhel").unwrap(), None); // incomplete
/// ```
pub fn parse(buf: &[u8]) -> Result<Option<(ServerOp, usize)>, ProtoError> {
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() > MAX_CONTROL_LINE {
            return Err(error(format!(
                "control line longer than {MAX_CONTROL_LINE} bytes"
            )));
        }
        return Ok(None);
    };
    if eol > MAX_CONTROL_LINE {
        return Err(error(format!(
            "control line longer than {MAX_CONTROL_LINE} bytes"
        )));
    }
    let line = &buf[..eol];
    let after = eol + 2;
    let op_end = line
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    let name = &line[..op_end];
    let args = &line[op_end..];
    let is = |op: &str| name.eq_ignore_ascii_case(op.as_bytes());
    let op: &[u8] = if is("PING") {
        b"PING"
    } else if is("PONG") {
        b"PONG"
    } else if is("+OK") {
        b"+OK"
    } else if is("-ERR") {
        b"-ERR"
    } else if is("INFO") {
        b"INFO"
    } else if is("MSG") {
        b"MSG"
    } else if is("HMSG") {
        b"HMSG"
    } else {
        name
    };
    match op {
        b"PING" => Ok(Some((ServerOp::Ping, after))),
        b"PONG" => Ok(Some((ServerOp::Pong, after))),
        b"+OK" => Ok(Some((ServerOp::Ok, after))),
        b"-ERR" => {
            let msg = String::from_utf8_lossy(args)
                .trim()
                .trim_matches('\'')
                .to_string();
            Ok(Some((ServerOp::Err(msg), after)))
        }
        b"INFO" => Ok(Some((
            ServerOp::Info(text(args, "INFO")?.trim().to_string()),
            after,
        ))),
        b"MSG" | b"HMSG" => parse_msg(buf, args, after, op == b"HMSG"),
        _ => Err(error(format!(
            "unknown operation {:?}",
            String::from_utf8_lossy(&op[..op.len().min(16)]).to_ascii_uppercase()
        ))),
    }
}

/// Parses a `MSG` (or, with `headers`, an `HMSG`) whose control line holds `args` and
/// whose body starts at `body_start` in `buf`.
fn parse_msg(
    buf: &[u8],
    args: &[u8],
    body_start: usize,
    headers: bool,
) -> Result<Option<(ServerOp, usize)>, ProtoError> {
    // At most 5 fields (HMSG subject sid reply hdr total); more is malformed.
    let mut slots: [&[u8]; 5] = [&[]; 5];
    let mut count = 0;
    for f in args
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty())
    {
        if count == slots.len() {
            return Err(error("too many fields"));
        }
        slots[count] = f;
        count += 1;
    }
    let fields = &slots[..count];
    let fixed = if headers { 4 } else { 3 };
    if fields.len() != fixed && fields.len() != fixed + 1 {
        return Err(error(format!(
            "{} with {} fields",
            if headers { "HMSG" } else { "MSG" },
            fields.len()
        )));
    }
    let subject = text(fields[0], "subject")?;
    let sid = number(fields[1], "sid")?;
    let reply = (fields.len() == fixed + 1)
        .then(|| text(fields[2], "reply subject"))
        .transpose()?;
    let sizes = &fields[fields.len() - if headers { 2 } else { 1 }..];
    let total = number(sizes[sizes.len() - 1], "size")? as usize;
    let header_len = if headers {
        number(sizes[0], "header size")? as usize
    } else {
        0
    };
    if total > MAX_PAYLOAD {
        return Err(error(format!(
            "message of {total} bytes exceeds {MAX_PAYLOAD}"
        )));
    }
    if header_len > total {
        return Err(error(format!(
            "header size {header_len} exceeds total size {total}"
        )));
    }
    let end = body_start + total;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(error("message not followed by CRLF"));
    }
    let body = &buf[body_start..end];
    let msg = Msg {
        subject,
        sid,
        reply,
        headers: body[..header_len].to_vec(),
        payload: body[header_len..].to_vec(),
    };
    Ok(Some((ServerOp::Msg(msg), end + 2)))
}

/// Appends `CONNECT {json}\r\n`.
pub fn connect(out: &mut Vec<u8>, options_json: &str) {
    out.extend_from_slice(b"CONNECT ");
    out.extend_from_slice(options_json.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `SUB <subject> <sid>\r\n`.
pub fn sub(out: &mut Vec<u8>, subject: &str, sid: u64) {
    out.extend_from_slice(b"SUB ");
    out.extend_from_slice(subject.as_bytes());
    out.push(b' ');
    crate::record_body::push_decimal(out, sid);
    out.extend_from_slice(b"\r\n");
}

/// Appends `PUB <subject> [reply] <#bytes>\r\n<payload>\r\n`.
pub fn publish(out: &mut Vec<u8>, subject: &str, reply: Option<&[u8]>, payload: &[u8]) {
    out.extend_from_slice(b"PUB ");
    out.extend_from_slice(subject.as_bytes());
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    crate::record_body::push_decimal(out, payload.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends `HPUB <subject> [reply] <#header bytes> <#total bytes>\r\n<headers><payload>\r\n`
/// with a header block of `NATS/1.0` and the given headers.
pub fn hpublish(
    out: &mut Vec<u8>,
    subject: &str,
    reply: Option<&[u8]>,
    headers: &[(&str, &[u8])],
    payload: &[u8],
) {
    let header_len = 10
        + headers
            .iter()
            .map(|(k, v)| k.len() + 2 + v.len() + 2)
            .sum::<usize>()
        + 2;
    out.extend_from_slice(b"HPUB ");
    out.extend_from_slice(subject.as_bytes());
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    crate::record_body::push_decimal(out, header_len as u64);
    out.push(b' ');
    crate::record_body::push_decimal(out, (header_len + payload.len()) as u64);
    out.extend_from_slice(b"\r\nNATS/1.0\r\n");
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mut buf: &[u8]) -> Result<Vec<ServerOp>, ProtoError> {
        let mut ops = Vec::new();
        while let Some((op, used)) = parse(buf)? {
            ops.push(op);
            buf = &buf[used..];
        }
        assert!(buf.is_empty(), "left over {buf:?}");
        Ok(ops)
    }

    #[test]
    fn every_operation_parses() {
        let ops = all(b"INFO {\"server_id\":\"x\",\"headers\":true}\r\n+OK\r\nping\r\nPONG\r\n-ERR 'Authorization Violation'\r\nHMSG _INBOX.a 1 22 27\r\nNATS/1.0 503\r\nX: y\r\n\r\nhello\r\nMSG s\t2\t0\r\n\r\n").unwrap();
        assert_eq!(
            ops[0],
            ServerOp::Info("{\"server_id\":\"x\",\"headers\":true}".into())
        );
        assert_eq!(&ops[1..4], &[ServerOp::Ok, ServerOp::Ping, ServerOp::Pong]);
        assert_eq!(ops[4], ServerOp::Err("Authorization Violation".into()));
        let ServerOp::Msg(m) = &ops[5] else {
            panic!("{:?}", ops[5])
        };
        assert_eq!(
            (m.status(), m.header("x").as_deref(), m.payload.as_slice()),
            (Some(503), Some("y"), &b"hello"[..])
        );
        let ServerOp::Msg(m) = &ops[6] else { panic!() };
        assert!(m.payload.is_empty() && m.headers.is_empty() && m.reply.is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"WHAT\r\n"[..],
            b"MSG a\r\n",
            b"MSG a b 3\r\nabc\r\n",
            b"MSG a 1 99999999999999999999\r\n",
            b"HMSG a 1 9 3\r\nabc\r\n",
            b"MSG a 1 3\r\nabcXY",
            b"MSG a 1 100000000\r\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let long = vec![b'x'; MAX_CONTROL_LINE + 1];
        assert!(parse(&long).is_err());
    }

    #[test]
    fn encoders_produce_what_the_parser_reads() {
        let mut out = Vec::new();
        hpublish(
            &mut out,
            "s.1",
            Some(b"_INBOX.x.7"),
            &[("Nats-Msg-Id", b"abc:0:1:2")],
            b"{}",
        );
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            "HPUB s.1 _INBOX.x.7 36 38\r\nNATS/1.0\r\nNats-Msg-Id: abc:0:1:2\r\n\r\n{}\r\n"
        );
        // The same bytes, as a server would deliver them, parse back.
        let delivered = text.replacen("HPUB s.1", "HMSG s.1 9", 1);
        let ops = all(delivered.as_bytes()).unwrap();
        let ServerOp::Msg(m) = &ops[0] else { panic!() };
        assert_eq!(m.header("nats-msg-id").as_deref(), Some("abc:0:1:2"));
        out.clear();
        publish(&mut out, "a", None, b"xyz");
        assert_eq!(out, b"PUB a 3\r\nxyz\r\n");
    }
}
